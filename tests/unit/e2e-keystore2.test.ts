// A member's v2 keys between sessions (protocol/e2e/keyStore2.ts) with real
// crypto and no sockets: a new session keeps the signing key, makes a new
// agreement key, opens what was wrapped to the last one while it was away,
// and after its resume keeps only its own at rest (an older wrap then opens
// no more). The stores of both clients: the web app's (IndexedDB's
// structured clone, here a Map that clones the same way) and the terminal
// client's 0600 file.

import { mkdtempSync, statSync, writeFileSync, chmodSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { FileV2KeyStore, v2KeysPathFor } from "../../client/keyFile2";
import { generateIdentity, makeHello, type Identity } from "../../protocol/crypto";
import { admitMember } from "../../protocol/e2e/admission";
import { wrapChainKey, type KeyDistribution } from "../../protocol/e2e/distribution";
import { GroupSession } from "../../protocol/e2e/groupSession";
import { MemoryV2KeyStore, V2_KEY_LIMITS, type V2KeyStore } from "../../protocol/e2e/keyStore2";
import { generateAgreementKeyPair, generateSigningKeyPair, randomBytes, toB64Url } from "../../protocol/e2e/primitives";
import type { RoomKeys } from "../../protocol/e2e/roomSecret";
import type { Hello, Member } from "../../protocol/messages";
import { IdbV2KeyStore, type CloneKv } from "../../web/src/lib/keystore2";
import { newMember, newRoom, type TestMember } from "../helpers/e2eRoom";

type HelloV2 = Hello & { sig2: string; dh2: string; link: string; admission: { iat: number; sig: string } };

/** One session of member `v1`: its hello, and the member entry others are shown. */
async function session(v1: Identity, keys: RoomKeys, store: V2KeyStore) {
  const logs: string[] = [];
  const g = new GroupSession(
    v1,
    keys,
    { sendKeys: () => true, retry: () => {}, log: (m) => logs.push(m) },
    undefined,
    undefined,
    store,
  );
  const hello = (await g.hello(
    await makeHello(v1, { nonce: "AAAA", room: keys.room, name: "bob" }),
    "AAAA",
  )) as HelloV2;
  return { g, hello, logs };
}

function memberOf(t: TestMember): Member {
  return {
    id: t.v1.id,
    name: "alice",
    encKey: t.v1.encKey,
    sigKey: t.v1.sigKey,
    encKeySig: t.v1.encKeySig,
    since: 0,
    v2: { sig2: t.me.sig2, dh2: t.me.dh2, link: t.me.link, admission: t.proof },
  };
}

/** Alice wraps a fresh chain for bob as bob announced himself in `hello` (what she does while he is away). */
async function wrapFor(alice: TestMember, keys: RoomKeys, v1: Identity, hello: HelloV2): Promise<KeyDistribution> {
  const r = await admitMember(
    keys.verificationKey,
    keys.room,
    { id: v1.id, sigKey: v1.sigKey, sig2: hello.sig2, dh2: hello.dh2, link: hello.link },
    hello.admission,
  );
  if (!r.ok) throw new Error(r.reason);
  return wrapChainKey(alice.me, r.member, {
    room: keys.room,
    epoch: toB64Url(randomBytes(16)),
    n: 5,
    chainKey: randomBytes(32),
  });
}

describe("v2 keys across sessions", () => {
  it("a new session keeps sig2, makes a new dh2, opens what was wrapped to the last one; after resumed it no longer can", async () => {
    const { keys } = await newRoom();
    const alice = await newMember(keys);
    const bob = await generateIdentity({ modulusLength: 1024 });
    const store = new MemoryV2KeyStore();
    const run1 = await session(bob, keys, store);
    // Bob goes away; alice wraps her chain to the dh2 he announced last.
    const whileAway = await wrapFor(alice, keys, bob, run1.hello);

    const run2 = await session(bob, keys, store);
    expect(run2.hello.sig2).toBe(run1.hello.sig2);
    expect(run2.hello.dh2).not.toBe(run1.hello.dh2);
    expect((await store.load(keys.room))!.dh.map((d) => d.publicKey)).toEqual([run2.hello.dh2, run1.hello.dh2]);
    expect(await run2.g.checkMember(memberOf(alice))).toEqual({ ok: true });
    await run2.g.onKeys(whileAway);
    expect(run2.g.stats).toMatchObject({ distributionsOpened: 1, distributionsRefused: 0 });
    // A wrap to this connection's own key opens too.
    await run2.g.onKeys(await wrapFor(alice, keys, bob, run2.hello));
    expect(run2.g.stats.distributionsOpened).toBe(2);

    // The resume is complete: only this connection's key stays at rest.
    await run2.g.resumed();
    expect((await store.load(keys.room))!.dh.map((d) => d.publicKey)).toEqual([run2.hello.dh2]);
    const run3 = await session(bob, keys, store);
    expect(await run3.g.checkMember(memberOf(alice))).toEqual({ ok: true });
    await run3.g.onKeys(await wrapFor(alice, keys, bob, run1.hello));
    expect(run3.g.stats).toMatchObject({ distributionsOpened: 0, distributionsRefused: 1 });
  });

  it("at most agreementKeysKept agreement keys while resumes keep failing; a store that fails leaves the session usable", async () => {
    const { keys } = await newRoom();
    const bob = await generateIdentity({ modulusLength: 1024 });
    const store = new MemoryV2KeyStore();
    for (let i = 0; i < 5; i++) await session(bob, keys, store);
    expect((await store.load(keys.room))!.dh).toHaveLength(V2_KEY_LIMITS.agreementKeysKept);

    const broken: V2KeyStore = {
      extractable: false,
      load: () => Promise.reject(new Error("disk on fire")),
      save: () => Promise.reject(new Error("disk on fire")),
    };
    const s = await session(bob, keys, broken);
    expect(s.hello.sig2).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(s.logs.join("\n")).toMatch(/cannot load.*disk on fire[\s\S]*cannot save/);
  });
});

/** IndexedDB keeps values by structured clone: so does this. */
class CloneMap implements CloneKv {
  readonly map = new Map<string, unknown>();
  async get(key: string): Promise<unknown> {
    return structuredClone(this.map.get(key));
  }
  async put(key: string, value: unknown): Promise<void> {
    this.map.set(key, structuredClone(value));
  }
}

async function record(extractable: boolean) {
  const [s, d] = await Promise.all([
    generateSigningKeyPair({ extractable }),
    generateAgreementKeyPair({ extractable }),
  ]);
  const b64 = (b: Uint8Array) => Buffer.from(b).toString("base64");
  return {
    sig: { privateKey: s.privateKey, publicKey: b64(s.publicKey) },
    dh: [{ privateKey: d.privateKey, publicKey: b64(d.publicKey) }],
  };
}

describe("web app: IdbV2KeyStore", () => {
  it("keeps non-extractable CryptoKeys per identity and room; anything else loads as nothing", async () => {
    const kv = new CloneMap();
    const a = new IdbV2KeyStore("selfA".padEnd(22, "A"), kv);
    expect(a.extractable).toBe(false);
    const rec = await record(false);
    await a.save("room1", rec);
    const back = (await a.load("room1"))!;
    expect(back.sig.publicKey).toBe(rec.sig.publicKey);
    expect(back.sig.privateKey.extractable).toBe(false);
    expect(back.dh[0].privateKey.algorithm.name).toBe("X25519");
    expect(await a.load("room2")).toBeNull();
    expect(await new IdbV2KeyStore("selfB".padEnd(22, "B"), kv).load("room1")).toBeNull();
    kv.map.set(`v2:${"selfA".padEnd(22, "A")}:room3`, { sig: "not a key", dh: [] });
    expect(await a.load("room3")).toBeNull();
  });

  it("a GroupSession on it keeps its signing key across sessions", async () => {
    const { keys } = await newRoom();
    const bob = await generateIdentity({ modulusLength: 1024 });
    const store = new IdbV2KeyStore(bob.id, new CloneMap());
    const one = await session(bob, keys, store);
    const two = await session(bob, keys, store);
    expect(two.hello.sig2).toBe(one.hello.sig2);
    expect(two.hello.dh2).not.toBe(one.hello.dh2);
  });
});

describe("terminal client: FileV2KeyStore", () => {
  it("keeps the keys in a 0600 file beside the identity, readable by a new process", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sealroom-v2keys-"));
    const file = v2KeysPathFor(join(dir, "identity-bob.json"));
    expect(file).toBe(join(dir, "v2keys-bob.json"));
    const rec = await record(true);
    await new FileV2KeyStore(file).save("room1", rec);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const back = (await new FileV2KeyStore(file).load("room1"))!;
    expect(back.sig.publicKey).toBe(rec.sig.publicKey);
    expect(back.dh.map((d) => d.publicKey)).toEqual(rec.dh.map((d) => d.publicKey));
    expect(await new FileV2KeyStore(file).load("other")).toBeNull();
  });

  it("refuses a file others can read (and never overwrites it); keys that do not match their public halves are unusable", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sealroom-v2keys-"));
    const file = join(dir, "v2keys-bob.json");
    await new FileV2KeyStore(file).save("room1", await record(true));
    chmodSync(file, 0o644);
    const before = readFileSync(file, "utf8");
    const warnings: string[] = [];
    const s = new FileV2KeyStore(file, (m) => warnings.push(m));
    await expect(s.load("room1")).rejects.toThrow(/accessible by other users.*chmod 600/);
    await expect(s.save("room1", await record(true))).rejects.toThrow(/chmod 600/);
    expect(readFileSync(file, "utf8")).toBe(before);
    expect(warnings[0]).toMatch(/chmod 600/);

    // Another key's public half under this private key: refused, new keys are made.
    chmodSync(file, 0o600);
    const j = JSON.parse(before) as { rooms: Record<string, { sig: { pub: string } }> };
    j.rooms.room1.sig.pub = (await record(true)).sig.publicKey;
    writeFileSync(file, JSON.stringify(j), { mode: 0o600 });
    const w2: string[] = [];
    expect(await new FileV2KeyStore(file, (m) => w2.push(m)).load("room1")).toBeNull();
    expect(w2[0]).toMatch(/unusable/);
    writeFileSync(file, "{not json", { mode: 0o600 });
    await expect(new FileV2KeyStore(file, () => {}).load("room1")).rejects.toThrow();
  });
});
