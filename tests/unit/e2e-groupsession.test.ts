// GroupSession's own rules, with real crypto and no sockets: the early queue
// is bounded and ends in "no key yet", a distribution releases what waited
// for it, a replayed one is ignored, a leave rotates, and nobody unadmitted is
// ever given a key.

import { describe, expect, it } from "vitest";
import { generateIdentity, makeHello } from "../../protocol/crypto";
import type { KeyDistribution } from "../../protocol/e2e/distribution";
import { GroupSession, NO_KEY_YET } from "../../protocol/e2e/groupSession";
import { deriveRoomKeys, generateRoomSecret, parseRoomSecret, type RoomKeys } from "../../protocol/e2e/roomSecret";
import type { Hello, Member, ServerMessageOf } from "../../protocol/messages";

async function room(): Promise<RoomKeys> {
  const p = parseRoomSecret(generateRoomSecret());
  if (!p.ok) throw new Error(p.reason);
  return deriveRoomKeys(p.secret);
}

type Msg = ServerMessageOf<"msg">;

async function party(keys: RoomKeys, name: string, maxEarly = 256) {
  const v1 = await generateIdentity();
  const sent: KeyDistribution[][] = [];
  const retried: Msg[] = [];
  const g = new GroupSession(
    v1,
    keys,
    { sendKeys: (d) => (sent.push(d), true), retry: (m) => retried.push(m), log: () => {} },
    undefined,
    { maxEarly, earlyWaitMs: 60_000, retiredPerSender: 64 },
  );
  const hello = (await g.hello(await makeHello(v1, { nonce: "AAAA", room: keys.room, name }), "AAAA")) as Hello & {
    sig2: string;
    dh2: string;
    link: string;
    admission: { iat: number; sig: string };
  };
  const member: Member = {
    id: v1.id,
    name,
    encKey: v1.encKey,
    sigKey: v1.sigKey,
    encKeySig: v1.encKeySig,
    since: 0,
    v2: { sig2: hello.sig2, dh2: hello.dh2, link: hello.link, admission: hello.admission },
  };
  return { g, v1, member, sent, retried };
}

describe("GroupSession", () => {
  it("holds early messages (bounded), releases them when the key comes, ignores replays, rotates on a leave", async () => {
    const keys = await room();
    const a = await party(keys, "a");
    const b = await party(keys, "b", 2);
    const c = await party(keys, "c");
    for (const p of [a, b, c]) for (const q of [a, b, c]) expect(await p.g.checkMember(q.member)).toEqual({ ok: true });
    const msgs: Msg[] = [];
    for (let i = 0; i < 3; i++) {
      const env = await a.g.seal({ mid: `m${i}`, text: `t${i}`, ts: i, recipients: [b.v1.id, c.v1.id] });
      msgs.push({ t: "msg", from: a.v1.id, mid: `m${i}`, to: [], at: 0, env });
    }
    // One distribution per recipient, once for the chain.
    expect(
      a.sent
        .flat()
        .map((d) => d.to)
        .sort(),
    ).toEqual([b.v1.id, c.v1.id].sort());
    const toB = a.sent.flat().find((d) => d.to === b.v1.id)!;
    // Before the key: held; the third pushes the first out as "no key yet".
    expect(await b.g.open(msgs[0])).toBeNull();
    expect(await b.g.open(msgs[1])).toBeNull();
    expect(await b.g.open(msgs[2])).toBeNull();
    expect(b.retried.map((m) => m.mid)).toEqual(["m0"]);
    expect(await b.g.open(msgs[0])).toMatchObject({
      ok: false,
      reason: expect.stringMatching(new RegExp(`^${NO_KEY_YET}`)),
    });
    await b.g.onKeys(toB);
    expect(b.retried.map((m) => m.mid)).toEqual(["m0", "m1", "m2"]);
    expect(await b.g.open(msgs[1])).toEqual({ ok: true, text: "t1", ts: 1 });
    expect(await b.g.open(msgs[2])).toEqual({ ok: true, text: "t2", ts: 2 });
    // A replayed message key and a replayed distribution change nothing.
    expect(await b.g.open(msgs[2])).toMatchObject({ ok: false });
    await b.g.onKeys(toB);
    expect(b.g.stats.distributionsOpened).toBe(1);
    // A distribution for c (same chain) changes nothing for b either.
    await b.g.onKeys(a.sent.flat().find((d) => d.to === c.v1.id)!);
    expect(b.g.stats.distributionsOpened).toBe(1);
    // c leaves: a's next message is under a new chain, given to b alone.
    const before = a.g.epoch;
    a.g.memberLeft(c.v1.id);
    a.sent.length = 0;
    await a.g.seal({ mid: "m9", text: "after", ts: 9, recipients: [b.v1.id] });
    expect(a.g.epoch).not.toBe(before);
    expect(a.sent.flat().map((d) => d.to)).toEqual([b.v1.id]);
    // A new chain's key meant for someone else is refused, not opened.
    const forB = a.sent.flat()[0];
    await c.g.onKeys({ ...forB, to: c.v1.id });
    expect(c.g.stats.distributionsRefused).toBe(1);
    expect(c.g.stats.distributionsOpened).toBe(0);
  });

  it("never gives a key to a member the link did not admit", async () => {
    const keys = await room();
    const other = await room();
    const a = await party(keys, "a");
    const ghost = await party({ ...other, room: keys.room }, "ghost");
    expect(await a.g.checkMember(ghost.member)).toEqual({ ok: false, reason: "not admitted by the room link" });
    await a.g.seal({ mid: "m", text: "x", ts: 0, recipients: [ghost.v1.id] });
    expect(a.sent.flat()).toHaveLength(0);
    // Announced under our own id with keys that are not ours.
    expect(await a.g.checkMember({ ...ghost.member, id: a.v1.id })).toMatchObject({ ok: false });
  });
});
