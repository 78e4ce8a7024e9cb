// The core's side of v2 rooms (docs/protocol.md section 12): checks a v2
// hello's room binding, admission proof and key possession with the room's
// verification key alone (the secret never reaches the core), and remembers
// which room ids are v2 so a v1 client is refused there, never downgraded.

import { fromBase64 } from "../protocol/base64";
import { checkAdmissionProof } from "../protocol/e2e/admission";
import { verifyIdentity2 } from "../protocol/e2e/identity2";
import { ed25519Verify, utf8 } from "../protocol/e2e/primitives";
import { roomIdFor } from "../protocol/e2e/roomSecret";
import { HelloV2Fields, helloV2ProofString, type MemberV2Wire } from "../protocol/e2e/wire";
import type { RawMessage } from "../protocol/codec";
import { ProtocolError } from "../protocol/errors";
import type { Hello } from "../protocol/messages";

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
 * Which room ids are v2, and under which verification key. The version of a
 * room is fixed when it is created; a durable store can stand behind this
 * port (the in-memory one forgets on restart, which only lets a v1 client
 * open an empty, forgotten v2 id as a v1 room no v2 member can enter).
 */
export interface V2RoomRegistry {
  /** The base64 verification key of a v2 room id, undefined for one not known as v2. */
  get(room: string): string | undefined;
  remember(room: string, vk: string): void;
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
