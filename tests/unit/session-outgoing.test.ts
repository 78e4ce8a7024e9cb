// Unit tests of protocol/outgoing.ts without a session: the test plays the
// connection (a generation and a send function) and the server's answers, so
// sealing, resending, re-sealing, retries and waiting can be checked exactly.
// Crypto is real.

import { afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateIdentity, openEnvelope, type Identity } from "../../protocol/crypto";
import { memberEntry, Members } from "../../protocol/members";
import type { ClientMessageOf, Envelope, Member } from "../../protocol/messages";
import { Outgoing, sameMembers, type OutgoingOptions } from "../../protocol/outgoing";

const ROOM = "outroom";
let alice: Identity, bob: Identity, carol: Identity;

beforeAll(async () => {
  [alice, bob, carol] = await Promise.all([0, 1, 2].map(() => generateIdentity()));
});

function memberOf(identity: Identity, name: string): Member {
  return {
    id: identity.id,
    name,
    encKey: identity.encKey,
    sigKey: identity.sigKey,
    encKeySig: identity.encKeySig,
    agent: "test/0",
    since: 1,
  };
}

const queues: Outgoing[] = [];
afterEach(() => {
  for (const q of queues.splice(0)) q.cancelTimer();
});

/** A queue with a connection the test controls, recording what it does. */
async function harness(present: Identity[], extra: Partial<OutgoingOptions> = {}) {
  const members = new Members();
  members.reset(
    await Promise.all(
      [alice, ...present].map((i) =>
        memberEntry(memberOf(i, i === alice ? "alice" : i === bob ? "bob" : "carol"), alice),
      ),
    ),
  );
  const sent: { gen: number; msg: ClientMessageOf<"send"> }[] = [];
  const acks: { mid: string; delivered: number }[] = [];
  const failures: { mid: string; code: string; message: string }[] = [];
  const h = {
    members,
    sent,
    acks,
    failures,
    /** Generation of the current connection; null while offline. */
    gen: 1 as number | null,
    onlineAt: Date.now() - 60_000,
    maxEnvelope: 65_536,
    q: null as unknown as Outgoing,
  };
  h.q = new Outgoing({
    identity: alice,
    room: ROOM,
    members,
    maxPending: 10,
    recipientWaitMs: 5_000,
    maxSendRetries: 3,
    rateLimitRetryMs: 30,
    link: () => {
      const gen = h.gen;
      return gen === null ? null : { gen, onlineAt: h.onlineAt, send: (msg) => (sent.push({ gen, msg }), true) };
    },
    maxEnvelope: () => h.maxEnvelope,
    acked: (mid, delivered) => acks.push({ mid, delivered }),
    failed: (mid, code, message) => failures.push({ mid, code, message }),
    log: (m) => {
      throw new Error(`unexpected log: ${m}`);
    },
    ...extra,
  });
  queues.push(h.q);
  return h;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("Outgoing", () => {
  it("refuses what cannot be sent, before queueing it", async () => {
    const h = await harness([bob], { maxPending: 1 });
    expect(() => h.q.add("", undefined, true)).toThrow(/empty/);
    expect(() => h.q.add("x".repeat(4001), undefined, true)).toThrow(/longer/);
    expect(() => h.q.add("x", [alice.id], true)).toThrow(/yourself/);
    expect(h.q.size).toBe(0);
    h.q.add("one", undefined, true);
    expect(() => h.q.add("two", undefined, true)).toThrow(/1 messages are still unacknowledged/);
  });

  it("seals a room message for everyone present but self, sends it once per connection, and the ack ends it", async () => {
    const h = await harness([bob, carol]);
    const mid = h.q.add("hello", undefined, true);
    await h.q.kick();
    await h.q.kick();
    expect(h.sent).toHaveLength(1);
    const { msg } = h.sent[0];
    expect(msg.mid).toBe(mid);
    expect([...(msg.to ?? [])].sort()).toEqual([bob.id, carol.id].sort());
    expect(
      await openEnvelope(carol, { room: ROOM, from: alice.id, mid, env: msg.env, senderSigKey: alice.sigKey }),
    ).toMatchObject({ ok: true, text: "hello" });
    // A new connection: the same envelope again, not a new seal.
    h.gen = 2;
    await h.q.kick();
    expect(h.sent).toHaveLength(2);
    expect(h.sent[1].msg.env).toEqual(msg.env);
    h.q.onAck(mid, 2);
    h.q.onAck(mid, 2);
    expect(h.acks).toEqual([{ mid, delivered: 2 }]);
    expect(h.q.size).toBe(0);
  });

  it("holds messages while offline and sends them in order once a connection is there", async () => {
    const h = await harness([bob]);
    h.gen = null;
    const mids = ["1", "2", "3"].map((t) => h.q.add(t, undefined, true));
    await h.q.kick();
    expect(h.sent).toHaveLength(0);
    h.gen = 5;
    await h.q.kick();
    expect(h.sent.map((s) => [s.gen, s.msg.mid])).toEqual(mids.map((m) => [5, m]));
  });

  it("a room message written before the member list is known goes to whoever is there when sent", async () => {
    const h = await harness([bob]);
    h.gen = null;
    h.q.add("early", undefined, false);
    h.members.add(await memberEntry(memberOf(carol, "carol"), alice));
    h.gen = 1;
    await h.q.kick();
    expect([...(h.sent[0].msg.to ?? [])].sort()).toEqual([bob.id, carol.id].sort());
  });

  it("acknowledges locally, with 0, a room message written while alone", async () => {
    const h = await harness([]);
    const mid = h.q.add("echo", undefined, true);
    await h.q.kick();
    expect(h.acks).toEqual([{ mid, delivered: 0 }]);
    expect(h.sent).toHaveLength(0);
  });

  it("on unknown_recipient re-seals, same mid, for those still present; gives up after maxSendRetries", async () => {
    const h = await harness([bob, carol], { maxSendRetries: 1 });
    const mid = h.q.add("both", undefined, true);
    await h.q.kick();
    h.members.remove(carol.id);
    h.q.onError({ t: "error", code: "unknown_recipient", message: "gone", ref: mid, fatal: false }, 1);
    await h.q.kick();
    expect(h.sent).toHaveLength(2);
    expect(h.sent[1].msg).toMatchObject({ mid, to: [bob.id] });
    expect(Object.keys((h.sent[1].msg.env as Envelope).keys)).toEqual([bob.id]);
    h.q.onError({ t: "error", code: "unknown_recipient", message: "gone again", ref: mid, fatal: false }, 1);
    expect(h.failures).toEqual([{ mid, code: "unknown_recipient", message: "gone again" }]);
    expect(h.q.size).toBe(0);
  });

  it("retries a rate-limited send after rateLimitRetryMs, and fails on other errors", async () => {
    const h = await harness([bob]);
    const mid = h.q.add("slow down", undefined, true);
    await h.q.kick();
    h.q.onError({ t: "error", code: "rate_limited", message: "later", ref: mid, fatal: false }, 1);
    await sleep(5);
    expect(h.sent).toHaveLength(1);
    await sleep(80);
    expect(h.sent).toHaveLength(2);
    expect(h.sent[1].msg.mid).toBe(mid);
    // A fatal error is the connection's business: the message stays for the next one.
    h.q.onError({ t: "error", code: "internal", message: "bye", ref: mid, fatal: true }, 1);
    expect(h.q.size).toBe(1);
    h.q.onError({ t: "error", code: "bad_message", message: "no", ref: mid, fatal: false }, 1);
    expect(h.failures).toEqual([{ mid, code: "bad_message", message: "no" }]);
  });

  it("on any rate_limited pauses, then resends every send unacknowledged on that connection, in order, same mid; nothing goes earlier", async () => {
    const h = await harness([bob], { rateLimitRetryMs: 200 });
    const [m1, m2, m3] = ["1", "2", "3"].map((t) => h.q.add(t, undefined, true));
    await h.q.kick();
    expect(h.sent).toHaveLength(3);
    h.q.onAck(m2, 1);
    // Names no particular send: the core drops more than it reports.
    h.q.onError({ t: "error", code: "rate_limited", message: "slow down", ref: "send", fatal: false }, 1);
    const m4 = h.q.add("4", undefined, true);
    await h.q.kick();
    await sleep(50);
    await h.q.kick();
    expect(h.sent).toHaveLength(3);
    await sleep(300);
    expect(h.sent.slice(3).map((s) => [s.gen, s.msg.mid])).toEqual([
      [1, m1],
      [1, m3],
      [1, m4],
    ]);
    expect(h.sent[3].msg.env).toEqual(h.sent[0].msg.env);
    expect(h.failures).toEqual([]);
  });

  it("a rate_limited that names one send resends the others too", async () => {
    const h = await harness([bob], { rateLimitRetryMs: 20 });
    const [m1, m2] = ["1", "2"].map((t) => h.q.add(t, undefined, true));
    await h.q.kick();
    h.q.onError({ t: "error", code: "rate_limited", message: "slow down", ref: m2, fatal: false }, 1);
    await sleep(80);
    expect(h.sent.slice(2).map((s) => s.msg.mid)).toEqual([m1, m2]);
  });

  it("fails with rate_limited a send still unacknowledged after maxSendRetries rate_limited pauses", async () => {
    const h = await harness([bob], { rateLimitRetryMs: 20, maxSendRetries: 2 });
    const mid = h.q.add("never through", undefined, true);
    await h.q.kick();
    for (let i = 1; i <= 2; i++) {
      h.q.onError({ t: "error", code: "rate_limited", message: "slow down", ref: "send", fatal: false }, 1);
      await sleep(80);
      expect(h.sent).toHaveLength(1 + i);
    }
    h.q.onError({ t: "error", code: "rate_limited", message: "still too fast", ref: "ping", fatal: false }, 1);
    expect(h.failures).toEqual([{ mid, code: "rate_limited", message: "still too fast" }]);
    expect(h.q.size).toBe(0);
  });

  it("a rate_limited of a connection already replaced holds nothing back on the new one", async () => {
    const h = await harness([bob], { rateLimitRetryMs: 5_000 });
    const mid = h.q.add("x", undefined, true);
    await h.q.kick();
    h.gen = 2;
    h.q.onError({ t: "error", code: "rate_limited", message: "slow down", ref: mid, fatal: false }, 1);
    await h.q.kick();
    expect(h.sent.map((s) => [s.gen, s.msg.mid])).toEqual([
      [1, mid],
      [2, mid],
    ]);
  });

  it("after a reconnect waits for absent recipients, holding back later messages, then sends once they are back", async () => {
    const h = await harness([bob, carol]);
    const first = h.q.add("for both", undefined, true);
    const second = h.q.add("after", undefined, true);
    h.members.remove(carol.id);
    h.onlineAt = Date.now();
    await h.q.kick();
    expect(h.sent).toHaveLength(0);
    h.members.add(await memberEntry(memberOf(carol, "carol"), alice));
    await h.q.kick();
    expect(h.sent.map((s) => s.msg.mid)).toEqual([first, second]);
    expect(h.sent[0].msg.to).toHaveLength(2);
  });

  it("stops waiting after recipientWaitMs: sends to who is here, or fails when nobody is", async () => {
    const h = await harness([bob, carol], { recipientWaitMs: 40 });
    const room = h.q.add("room", undefined, true);
    const direct = h.q.add("carol only", [carol.id], true);
    h.members.remove(carol.id);
    h.onlineAt = Date.now();
    await h.q.kick();
    expect(h.sent).toHaveLength(0);
    await sleep(100);
    await h.q.kick();
    expect(h.sent.map((s) => [s.msg.mid, s.msg.to])).toEqual([[room, [bob.id]]]);
    expect(h.failures).toEqual([{ mid: direct, code: "unknown_recipient", message: "the recipients have left" }]);
  });

  it("a member who left stops being waited for by messages not yet sent on this connection", async () => {
    const h = await harness([bob, carol]);
    const mid = h.q.add("hi", undefined, true);
    h.members.remove(carol.id);
    h.q.memberLeft(carol.id, 1);
    await h.q.kick();
    expect(h.sent[0].msg).toMatchObject({ mid, to: [bob.id] });
  });

  it("a message already sent on this connection keeps its recipients when one leaves: the server answers for it", async () => {
    const h = await harness([bob, carol]);
    const mid = h.q.add("hi", undefined, true);
    await h.q.kick();
    h.q.memberLeft(carol.id, 1);
    // The ack was lost; on the next connection carol is back.
    h.gen = 2;
    await h.q.kick();
    expect(h.sent.map((s) => [s.msg.mid, s.msg.to?.length])).toEqual([
      [mid, 2],
      [mid, 2],
    ]);
  });

  it("fails a message whose sealed envelope is over the server's limit", async () => {
    const h = await harness([bob]);
    h.maxEnvelope = 100;
    const mid = h.q.add("big", undefined, true);
    await h.q.kick();
    expect(h.sent).toHaveLength(0);
    expect(h.failures).toEqual([{ mid, code: "too_large", message: expect.stringMatching(/over the server's 100/) }]);
  });

  it("cancelTimer stops a delayed retry", async () => {
    const h = await harness([bob]);
    const mid = h.q.add("x", undefined, true);
    await h.q.kick();
    h.q.onError({ t: "error", code: "rate_limited", message: "later", ref: mid, fatal: false }, 1);
    h.q.cancelTimer();
    h.gen = 2;
    await sleep(80);
    expect(h.sent).toHaveLength(1);
  });
});

describe("sameMembers", () => {
  it("compares as sets of equal size", () => {
    expect(sameMembers(["a", "b"], ["b", "a"])).toBe(true);
    expect(sameMembers(["a"], ["a", "b"])).toBe(false);
    expect(sameMembers(null, [])).toBe(false);
  });
});
