// Sender-key chains (protocol/e2e/senderKeys.ts): order, skipped keys within
// a bounded window, replay, tampering, rotation, and a leaver locked out.

import { beforeAll, describe, expect, it } from "vitest";
import { fromBase64, toBase64 } from "../../protocol/base64";
import {
  InboundChain,
  OutboundChain,
  SENDER_KEY_LIMITS,
  SenderKeyRing,
  type EnvelopeV2,
} from "../../protocol/e2e/senderKeys";
import { newMember, newRoom, type TestMember } from "../helpers/e2eRoom";

let room: string;
let alice: TestMember;
let bob: TestMember;

beforeAll(async () => {
  const r = await newRoom();
  room = r.keys.room;
  alice = await newMember(r.keys);
  bob = await newMember(r.keys);
});

async function sealMany(chain: OutboundChain, count: number, tag = "m"): Promise<{ mid: string; env: EnvelopeV2 }[]> {
  const out = [];
  for (let i = 0; i < count; i++) {
    const mid = `${tag}${i}`;
    out.push({
      mid,
      env: await chain.seal(alice.me.sigPrivate2, { room, from: alice.me.id, mid, text: `hello ${i}`, ts: 1000 + i }),
    });
  }
  return out;
}

function receiverOf(chain: OutboundChain, limits = SENDER_KEY_LIMITS): InboundChain {
  const s = chain.snapshot();
  return new InboundChain(s.epoch, s.chainKey, s.n, limits);
}

const open = (inb: InboundChain, m: { mid: string; env: EnvelopeV2 }) =>
  inb.open(alice.me.sig2Bytes, { room, from: alice.me.id, mid: m.mid, env: m.env });

describe("sender-key chain", () => {
  it("opens messages in order, with the sender's text and timestamp", async () => {
    const out = OutboundChain.create();
    const inb = receiverOf(out);
    const msgs = await sealMany(out, 5);
    for (const [i, m] of msgs.entries()) {
      expect(m.env.n).toBe(i);
      expect(await open(inb, m)).toEqual({ ok: true, text: `hello ${i}`, ts: 1000 + i });
    }
    expect(inb.skippedCount).toBe(0);
  });

  it("opens out of order within the window, and keeps only the keys still missing", async () => {
    const out = OutboundChain.create();
    const inb = receiverOf(out);
    const msgs = await sealMany(out, 6);
    for (const i of [5, 0, 3, 1, 4, 2])
      expect(await open(inb, msgs[i])).toMatchObject({ ok: true, text: `hello ${i}` });
    expect(inb.skippedCount).toBe(0);
  });

  it("a message beyond the skip window is a clear error, and does not move the chain", async () => {
    const limits = { ...SENDER_KEY_LIMITS, maxSkip: 10 };
    const out = OutboundChain.create();
    const inb = receiverOf(out, limits);
    const msgs = await sealMany(out, 13);
    expect(await open(inb, msgs[12])).toEqual({
      ok: false,
      reason: "message is 12 ahead in its chain (more than 10 missing)",
    });
    expect(inb.position).toBe(0);
    expect(await open(inb, msgs[10])).toMatchObject({ ok: true, text: "hello 10" });
    expect(await open(inb, msgs[12])).toMatchObject({ ok: true, text: "hello 12" });
  });

  it("the default window is the named limit of 2,000", () => {
    expect(SENDER_KEY_LIMITS.maxSkip).toBe(2000);
    expect(SENDER_KEY_LIMITS.rotateAfterMessages).toBe(100);
    expect(SENDER_KEY_LIMITS.rotateAfterMs).toBe(7 * 24 * 3600_000);
  });

  it("a replayed message is rejected, in order or out of order", async () => {
    const out = OutboundChain.create();
    const inb = receiverOf(out);
    const msgs = await sealMany(out, 3);
    expect((await open(inb, msgs[2])).ok).toBe(true);
    expect(await open(inb, msgs[2])).toEqual({
      ok: false,
      reason: "message key already used or expired (replay or too old)",
    });
    expect((await open(inb, msgs[0])).ok).toBe(true);
    expect((await open(inb, msgs[0])).ok).toBe(false);
  });

  it("a tampered ciphertext, signature, index or mid is unverifiable and leaves the chain usable", async () => {
    const out = OutboundChain.create();
    const inb = receiverOf(out);
    const [m] = await sealMany(out, 1);
    const ct = fromBase64(m.env.ct)!;
    ct[0] ^= 1;
    const sig = fromBase64(m.env.sig)!;
    sig[10] ^= 1;
    const bad = [
      { mid: m.mid, env: { ...m.env, ct: toBase64(ct) } },
      { mid: m.mid, env: { ...m.env, sig: toBase64(sig) } },
      { mid: m.mid, env: { ...m.env, n: 1 } },
      { mid: "other", env: m.env },
    ];
    for (const b of bad) expect(await open(inb, b)).toEqual({ ok: false, reason: "signature does not verify" });
    // Signed by someone else (bob's key): unverifiable too.
    expect(await inb.open(bob.me.sig2Bytes, { room, from: alice.me.id, mid: m.mid, env: m.env })).toEqual({
      ok: false,
      reason: "signature does not verify",
    });
    expect(await open(inb, m)).toMatchObject({ ok: true, text: "hello 0" });
  });

  it("a chain key handed out at index n opens n and later, never earlier messages (forward secrecy)", async () => {
    const out = OutboundChain.create();
    const early = await sealMany(out, 3, "e");
    const inb = receiverOf(out);
    const later = await sealMany(out, 1, "l");
    expect((await open(inb, early[2])).ok).toBe(false);
    expect((await open(inb, later[0])).ok).toBe(true);
  });

  it("needs rotation after 100 messages or 7 days", async () => {
    const t0 = 1_000_000;
    const out = OutboundChain.create(t0);
    expect(out.needsRotation(t0)).toBe(false);
    expect(out.needsRotation(t0 + 7 * 24 * 3600_000)).toBe(true);
    await sealMany(out, 99);
    expect(out.needsRotation(t0)).toBe(false);
    await sealMany(out, 1, "x");
    expect(out.needsRotation(t0)).toBe(true);
  });

  it("a leaver who kept the old chain cannot open messages of the new chain", async () => {
    const old = OutboundChain.create();
    const leaver = new SenderKeyRing();
    const stayer = new SenderKeyRing();
    const s = old.snapshot();
    leaver.addInbound(alice.me.id, s.epoch, s.chainKey, s.n);
    stayer.addInbound(alice.me.id, s.epoch, s.chainKey, s.n);
    const [before] = await sealMany(old, 1, "b");
    const p = { room, from: alice.me.id, mid: before.mid, env: before.env };
    expect((await leaver.open(alice.me.sig2Bytes, p)).ok).toBe(true);
    // The leaver is gone: alice rotates and distributes the new chain to the stayer only.
    const fresh = OutboundChain.create();
    const f = fresh.snapshot();
    stayer.addInbound(alice.me.id, f.epoch, f.chainKey, f.n);
    const [after] = await sealMany(fresh, 1, "a");
    const q = { room, from: alice.me.id, mid: after.mid, env: after.env };
    expect(await leaver.open(alice.me.sig2Bytes, q)).toEqual({
      ok: false,
      reason: "no key for this chain (not distributed to this member)",
    });
    expect(await stayer.open(alice.me.sig2Bytes, q)).toMatchObject({ ok: true, text: "hello 0" });
    // Even forcing the old chain onto the new epoch id does not help: the keys differ.
    const forced = new InboundChain(after.env.epoch, s.chainKey, 0);
    expect(await forced.open(alice.me.sig2Bytes, q)).toEqual({ ok: false, reason: "decryption failed" });
  });

  it("a ring accepts a chain once: a replayed distribution does not rewind it", async () => {
    const ring = new SenderKeyRing();
    const out = OutboundChain.create();
    const s = out.snapshot();
    expect(ring.addInbound(alice.me.id, s.epoch, s.chainKey, s.n)).toBe(true);
    const [m] = await sealMany(out, 1);
    const p = { room, from: alice.me.id, mid: m.mid, env: m.env };
    expect((await ring.open(alice.me.sig2Bytes, p)).ok).toBe(true);
    expect(ring.addInbound(alice.me.id, s.epoch, s.chainKey, s.n)).toBe(false);
    expect((await ring.open(alice.me.sig2Bytes, p)).ok).toBe(false);
  });

  it("keeps at most chainsPerSender chains per sender", async () => {
    const ring = new SenderKeyRing({ ...SENDER_KEY_LIMITS, chainsPerSender: 2 });
    const chains = [OutboundChain.create(), OutboundChain.create(), OutboundChain.create()];
    for (const c of chains) {
      const s = c.snapshot();
      ring.addInbound(alice.me.id, s.epoch, s.chainKey, s.n);
    }
    expect(ring.has(alice.me.id, chains[0].epoch)).toBe(false);
    expect(ring.has(alice.me.id, chains[1].epoch)).toBe(true);
    expect(ring.has(alice.me.id, chains[2].epoch)).toBe(true);
  });
});
