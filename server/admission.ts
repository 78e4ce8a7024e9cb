// The core's side of v2 rooms (docs/protocol.md section 12): checks a v2
// hello's room binding, admission proof and key possession with the room's
// verification key alone (the secret never reaches the core), and decides a
// room's version: a room id bound to a key in the store stays v2 (across
// restarts and cores), so a v1 client is refused there, never downgraded.

import { fromBase64 } from "../protocol/base64";
import { checkAdmissionProof } from "../protocol/e2e/admission";
import { verifyIdentity2 } from "../protocol/e2e/identity2";
import { ed25519Verify, utf8 } from "../protocol/e2e/primitives";
import { roomIdFor } from "../protocol/e2e/roomSecret";
import { HelloV2Fields, helloV2ProofString, type MemberV2Wire } from "../protocol/e2e/wire";
import type { RawMessage } from "../protocol/codec";
import { ProtocolError } from "../protocol/errors";
import type { Hello } from "../protocol/messages";
import type { MemberRecord } from "./store/roomStore";

/** What a verified v2 hello adds: the room's key and what every member is shown. */
export interface HelloV2 {
  vk: string;
  member: MemberV2Wire;
}

const fatal = (code: "bad_hello" | "not_admitted", message: string) => new ProtocolError(code, message, true, "hello");

/** Throws a fatal `not_admitted` (or `bad_hello` for a malformed one) unless the v2 fields hold. */
export async function verifyHelloV2(
  raw: RawMessage,
  hello: Hello,
  id: string,
  nonce: string,
  maxAgeMs: number,
  now = Date.now(),
): Promise<HelloV2> {
  const parsed = HelloV2Fields.safeParse(raw);
  if (!parsed.success) {
    const i = parsed.error.issues[0];
    throw fatal("bad_hello", `hello v2: ${i.path.join(".") || "message"}: ${i.message}`);
  }
  const f = parsed.data;
  const vk = fromBase64(f.vk)!;
  if ((await roomIdFor(vk)) !== hello.room)
    throw fatal("not_admitted", "this room id is not bound to the verification key given (wrong room link)");
  const pub = { id, sigKey: hello.sigKey, sig2: f.sig2, dh2: f.dh2, link: f.link };
  if (!(await verifyIdentity2(pub))) throw fatal("not_admitted", "v2 keys are not signed by sigKey");
  const check = await checkAdmissionProof(vk, hello.room, pub, f.admission, { now, maxAgeMs });
  if (!check.ok) throw fatal("not_admitted", `${check.reason}: open the room from its link (the secret after #)`);
  if (
    !(await ed25519Verify(
      fromBase64(f.sig2)!,
      fromBase64(f.proof2)!,
      utf8(helloV2ProofString(nonce, hello.room, hello.name)),
    ))
  ) {
    throw fatal("not_admitted", "proof2 does not verify with sig2");
  }
  return { vk: f.vk, member: { sig2: f.sig2, dh2: f.dh2, link: f.link, admission: f.admission } };
}

/**
 * Which room ids are v2, and under which verification key: the cache in front
 * of the store (RoomStore.roomVk / createRoomVk), which is the truth. A room's
 * version is fixed when it is created.
 */
export interface V2RoomRegistry {
  /** The base64 verification key of a v2 room id, undefined for one not known here as v2. */
  get(room: string): string | undefined;
  remember(room: string, vk: string): void;
}

/** What the version check needs of the room store. */
export interface V2RoomStore {
  roomVk(room: string): Promise<string | null>;
  createRoomVk(room: string, vk: string): Promise<string>;
  members(room: string): Promise<MemberRecord[]>;
}

/** The fatal `version` error (docs/protocol.md section 12), saying which way the hello was wrong. */
export function versionError(roomIsV2: boolean): ProtocolError {
  return new ProtocolError(
    "version",
    roomIsV2
      ? "this room is end-to-end v2: it opens only from its room link (https://host/r/ROOM#SECRET) in a client that speaks protocol v2"
      : "this room was created without a room link (protocol v1): a v2 client cannot join it with a secret",
    true,
    "hello",
  );
}

/**
 * The version of the room a verified hello opens: its verification key (v2)
 * or null (v1). Throws `version` for a hello of the other version. In order:
 * the room as seated on this core (`seated`), the cache, the store's key; a
 * room with no key there is v1 when it has members and none is a v2 member
 * (so a v2 hello cannot take over a v1 room), v2 when a member record carries
 * v2 keys (a room made before keys were stored), else new: a v2 hello binds
 * the id to its key, once (the store's create decides between racing cores).
 * `vk` is admission-checked: roomIdFor(vk) is the room id, so any other key
 * in the store means it is corrupt or the hash collided; the hello is refused.
 */
export async function roomVersion(
  room: string,
  helloVk: string | undefined,
  seated: { vk: string | null } | undefined,
  cache: V2RoomRegistry,
  store: V2RoomStore,
): Promise<string | null> {
  // one spelling per key, as stored and compared (base64 with stray bits in the last character decodes alike)
  const vk = helloVk === undefined ? undefined : Buffer.from(helloVk, "base64").toString("base64");
  const known = (k: string): string => {
    cache.remember(room, k);
    if (vk === undefined) throw versionError(true);
    if (vk !== k) throw fatal("not_admitted", "this room id is bound to another verification key");
    return k;
  };
  if (seated) {
    if (seated.vk !== null) return known(seated.vk);
    if (vk !== undefined) throw versionError(false);
    return null;
  }
  const cached = cache.get(room);
  if (cached !== undefined) return known(cached);
  const stored = await store.roomVk(room);
  if (stored !== null) return known(stored);
  const members = await store.members(room);
  const v2Members = members.some((m) => m.v2 !== undefined);
  if (vk === undefined) {
    if (v2Members) throw versionError(true);
    return null;
  }
  if (members.length > 0 && !v2Members) throw versionError(false);
  return known(await store.createRoomVk(room, vk));
}

/** Bounded in memory: the least recently used id is forgotten first. */
export class MemoryV2Rooms implements V2RoomRegistry {
  private map = new Map<string, string>();

  constructor(private readonly max: number) {}

  get(room: string): string | undefined {
    const vk = this.map.get(room);
    if (vk !== undefined) {
      this.map.delete(room);
      this.map.set(room, vk);
    }
    return vk;
  }

  remember(room: string, vk: string): void {
    this.map.delete(room);
    this.map.set(room, vk);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
  }
}
