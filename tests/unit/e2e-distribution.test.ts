// Key distribution (protocol/e2e/distribution.ts) and the v2 wire schemas:
// a chain key opens only for its admitted recipient, from an admitted sender;
// replays and reordering break nothing; a sealed message has one size in any room.

import { beforeAll, describe, expect, it } from "vitest";
import { fromBase64, toBase64 } from "../../protocol/base64";
import { generateIdentity } from "../../protocol/crypto";
import { admitMember, makeAdmissionProof, type AdmittedMember } from "../../protocol/e2e/admission";
import { openDistribution, wrapChainKey, type KeyDistribution } from "../../protocol/e2e/distribution";
import { generateIdentity2, publicIdentity2 } from "../../protocol/e2e/identity2";
import { OutboundChain, SenderKeyRing } from "../../protocol/e2e/senderKeys";
import { AdmissionProofWire, EnvelopeV2Wire, HelloV2Fields, KeyDistributionWire } from "../../protocol/e2e/wire";
import type { RoomKeys } from "../../protocol/e2e/roomSecret";
import { newMember, newRoom, type TestMember } from "../helpers/e2eRoom";

let keys: RoomKeys;
let alice: TestMember;
let bob: TestMember;
let carol: TestMember;

beforeAll(async () => {
  keys = (await newRoom()).keys;
  [alice, bob, carol] = await Promise.all([newMember(keys), newMember(keys), newMember(keys)]);
});

const wrapFor = (to: AdmittedMember, chain: OutboundChain) =>
  wrapChainKey(alice.me, to, { room: keys.room, ...chain.snapshot() });

describe("key distribution", () => {
  it("the recipient opens the chain key; a message sealed under it then opens", async () => {
    const chain = OutboundChain.create();
    const d = await wrapFor(bob.admitted, chain);
    expect(KeyDistributionWire.safeParse(d).success).toBe(true);
    const r = await openDistribution(bob.me, alice.admitted, d, keys.room);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const ring = new SenderKeyRing();
    ring.addInbound(alice.me.id, r.epoch, r.chainKey, r.n);
    const env = await chain.seal(alice.me.sigPrivate2, {
      room: keys.room,
      from: alice.me.id,
      mid: "1",
      text: "hi bob",
      ts: 5,
    });
    expect(EnvelopeV2Wire.safeParse(env).success).toBe(true);
    expect(await ring.open(alice.me.sig2Bytes, { room: keys.room, from: alice.me.id, mid: "1", env })).toEqual({
      ok: true,
      text: "hi bob",
      ts: 5,
    });
  });

  it("another member cannot open it, even with the 'to' rewritten to itself", async () => {
    const d = await wrapFor(bob.admitted, OutboundChain.create());
    expect(await openDistribution(carol.me, alice.admitted, d, keys.room)).toEqual({
      ok: false,
      reason: "distribution for another member",
    });
    expect(await openDistribution(carol.me, alice.admitted, { ...d, to: carol.me.id }, keys.room)).toEqual({
      ok: false,
      reason: "signature does not verify",
    });
  });

  it("a tampered ciphertext, a wrong sender or another room is refused", async () => {
    const d = await wrapFor(bob.admitted, OutboundChain.create());
    const ct = fromBase64(d.ct)!;
    ct[3] ^= 1;
    expect((await openDistribution(bob.me, alice.admitted, { ...d, ct: toBase64(ct) }, keys.room)).ok).toBe(false);
    expect(await openDistribution(bob.me, carol.admitted, d, keys.room)).toEqual({
      ok: false,
      reason: "distribution from another sender",
    });
    expect(await openDistribution(bob.me, carol.admitted, { ...d, from: carol.me.id }, keys.room)).toEqual({
      ok: false,
      reason: "signature does not verify",
    });
    expect((await openDistribution(bob.me, alice.admitted, d, "otherRoom")).ok).toBe(false);
  });

  it("refuses to wrap for, or accept from, a member without a valid admission proof", async () => {
    const v1 = await generateIdentity({ modulusLength: 1024 });
    const ghost = await generateIdentity2(v1);
    // A core-injected member: v2 keys linked to its v1 key, but no proof from the link's secret.
    const otherRoom = (await newRoom()).keys;
    const wrongProof = await makeAdmissionProof({ ...otherRoom, room: keys.room }, ghost);
    expect((await admitMember(keys.verificationKey, keys.room, publicIdentity2(ghost), wrongProof)).ok).toBe(false);
    const unchecked = {
      ...publicIdentity2(ghost),
      room: keys.room,
      sig2Bytes: ghost.sig2Bytes,
      dh2Bytes: ghost.dh2Bytes,
    };
    await expect(
      wrapChainKey(alice.me, unchecked, { room: keys.room, ...OutboundChain.create().snapshot() }),
    ).rejects.toThrow("not admitted by the room link");
    const fromGhost = await wrapChainKey(ghost, bob.admitted, {
      room: keys.room,
      ...OutboundChain.create().snapshot(),
    });
    expect(await openDistribution(bob.me, unchecked, fromGhost, keys.room)).toEqual({
      ok: false,
      reason: "sender not admitted by the room link",
    });
    // Admitted to another room: refused too.
    const elsewhere = await newMember(otherRoom);
    await expect(
      wrapChainKey(alice.me, elsewhere.admitted, { room: keys.room, ...OutboundChain.create().snapshot() }),
    ).rejects.toThrow("another room");
  });

  it("replayed and reordered distributions do not break the chain or rewind it", async () => {
    const c1 = OutboundChain.create();
    const d1 = await wrapFor(bob.admitted, c1);
    const m1 = await c1.seal(alice.me.sigPrivate2, {
      room: keys.room,
      from: alice.me.id,
      mid: "a",
      text: "one",
      ts: 1,
    });
    const c2 = OutboundChain.create();
    const d2 = await wrapFor(bob.admitted, c2);
    const m2 = await c2.seal(alice.me.sigPrivate2, {
      room: keys.room,
      from: alice.me.id,
      mid: "b",
      text: "two",
      ts: 2,
    });
    const ring = new SenderKeyRing();
    const deliver = async (d: KeyDistribution) => {
      const r = await openDistribution(bob.me, alice.admitted, d, keys.room);
      return r.ok && ring.addInbound(alice.me.id, r.epoch, r.chainKey, r.n);
    };
    const open = (mid: string, env: typeof m1) =>
      ring.open(alice.me.sig2Bytes, { room: keys.room, from: alice.me.id, mid, env });
    // Newer chain first, then the older; then both again.
    expect(await deliver(d2)).toBe(true);
    expect(await open("b", m2)).toMatchObject({ ok: true, text: "two" });
    expect(await deliver(d1)).toBe(true);
    expect(await open("a", m1)).toMatchObject({ ok: true, text: "one" });
    expect(await deliver(d2)).toBe(false);
    expect(await deliver(d1)).toBe(false);
    // The replays did not reset the chains: the messages cannot be shown twice.
    expect((await open("b", m2)).ok).toBe(false);
    expect((await open("a", m1)).ok).toBe(false);
    const m3 = await c2.seal(alice.me.sigPrivate2, {
      room: keys.room,
      from: alice.me.id,
      mid: "c",
      text: "three",
      ts: 3,
    });
    expect(await open("c", m3)).toMatchObject({ ok: true, text: "three" });
  });
});

describe("sizes", () => {
  it("a sealed message has the same size in rooms of 10, 100 and 500, under 1 KB plus the text", async () => {
    // Recipients: distinct v2 keys, linked to a few v1 identities (RSA generation is the slow part).
    const v1s = await Promise.all([0, 1, 2, 3].map(() => generateIdentity({ modulusLength: 1024 })));
    const text = "x".repeat(200);
    const sizes: number[] = [];
    for (const n of [10, 100, 500]) {
      const chain = OutboundChain.create();
      let distBytes = 0;
      for (let i = 0; i < n; i++) {
        const me = await generateIdentity2(v1s[i % v1s.length]);
        const r = await admitMember(
          keys.verificationKey,
          keys.room,
          publicIdentity2(me),
          await makeAdmissionProof(keys, me),
        );
        if (!r.ok) throw new Error(r.reason);
        distBytes += JSON.stringify(await wrapFor(r.member, chain)).length;
      }
      // Distributions do grow with the room (once per chain), the messages do not.
      expect(distBytes).toBeGreaterThan(n * 300);
      const env = await chain.seal(alice.me.sigPrivate2, {
        room: keys.room,
        from: alice.me.id,
        mid: "m1",
        text,
        ts: Date.now(),
      });
      sizes.push(JSON.stringify(env).length);
    }
    expect(new Set(sizes).size).toBe(1);
    expect(sizes[0]).toBeLessThan(1024 + 200);
  });
});

describe("wire schemas", () => {
  it("accept what the code makes, reject wrong lengths and algorithms", async () => {
    const chain = OutboundChain.create();
    const d = await wrapFor(bob.admitted, chain);
    expect(KeyDistributionWire.safeParse({ ...d, ct: toBase64(new Uint8Array(40)) }).success).toBe(false);
    expect(KeyDistributionWire.safeParse({ ...d, alg: "x" }).success).toBe(false);
    expect(KeyDistributionWire.safeParse({ ...d, n: -1 }).success).toBe(false);
    const env = await chain.seal(alice.me.sigPrivate2, {
      room: keys.room,
      from: alice.me.id,
      mid: "1",
      text: "",
      ts: 0,
    });
    expect(EnvelopeV2Wire.safeParse({ ...env, sig: toBase64(new Uint8Array(63)) }).success).toBe(false);
    expect(EnvelopeV2Wire.safeParse({ ...env, epoch: "short" }).success).toBe(false);
    expect(AdmissionProofWire.safeParse(alice.proof).success).toBe(true);
    const hello = {
      v: 2,
      sig2: alice.me.sig2,
      dh2: alice.me.dh2,
      link: alice.me.link,
      admission: alice.proof,
      vk: toBase64(keys.verificationKey),
      proof2: env.sig,
    };
    expect(HelloV2Fields.safeParse(hello).success).toBe(true);
    expect(HelloV2Fields.safeParse({ ...hello, proof2: undefined }).success).toBe(false);
    expect(HelloV2Fields.safeParse({ ...hello, v: 1 }).success).toBe(false);
    expect(HelloV2Fields.safeParse({ ...hello, admission: undefined }).success).toBe(false);
    expect(HelloV2Fields.safeParse({ ...hello, vk: undefined }).success).toBe(false);
  });
});
