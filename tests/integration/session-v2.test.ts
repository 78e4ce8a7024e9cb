// v2 rooms end to end over the real core: sessions joined from one room link,
// and a hostile core (tests/helpers/hostile.ts) that injects a member,
// replays, reorders and drops key distributions, tampers messages, and keeps
// a leaver seated. No wrong text is ever shown; a member the link did not
// admit never gets a key.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tcpConnector } from "../../client/tcp";
import type { RawMessage } from "../../protocol/codec";
import { generateIdentity, type Identity } from "../../protocol/crypto";
import { makeAdmissionProof } from "../../protocol/e2e/admission";
import { generateIdentity2 } from "../../protocol/e2e/identity2";
import { deriveRoomKeys, generateRoomSecret, parseRoomSecret, type RoomKeys } from "../../protocol/e2e/roomSecret";
import { GroupSession } from "../../protocol/e2e/groupSession";
import { ClientSession, type Connector, type ReceivedMessage, type SessionEvents } from "../../protocol/session";
import type { Member } from "../../protocol/messages";
import { startCore } from "../helpers/core";
import { hostileCore } from "../helpers/hostile";
import { WirePeer, join } from "../helpers/wire";
import { makeHello } from "../../protocol/crypto";
import { until } from "../helpers/poll";

let core: Awaited<ReturnType<typeof startCore>>;
const ids: Identity[] = [];

beforeAll(async () => {
  core = await startCore();
  for (let i = 0; i < 4; i++) ids.push(await generateIdentity());
});
afterAll(() => core?.stop());

async function newRoom(): Promise<RoomKeys> {
  const p = parseRoomSecret(generateRoomSecret());
  if (!p.ok) throw new Error(p.reason);
  return deriveRoomKeys(p.secret);
}

interface Member_ {
  s: ClientSession;
  got: ReceivedMessage[];
  errors: SessionEvents["error"][];
  closed: SessionEvents["closed"][];
}

function member(
  identity: Identity,
  name: string,
  keys: RoomKeys | null,
  room: string,
  connect?: Connector,
  earlyWaitMs = 10_000,
): Member_ {
  const s = new ClientSession({
    identity,
    name,
    room,
    agent: "test",
    connect: connect ?? tcpConnector({ host: "127.0.0.1", port: core.port }),
    reconnect: false,
    ...(keys ? { roomKeys: keys } : {}),
    v2Limits: { earlyWaitMs },
  });
  const m: Member_ = { s, got: [], errors: [], closed: [] };
  s.on("message", (r) => m.got.push(r));
  s.on("error", (e) => m.errors.push(e));
  s.on("closed", (c) => m.closed.push(c));
  s.start();
  return m;
}

const texts = (m: Member_) => m.got.filter((r) => r.ok).map((r) => (r as { text: string }).text);

/** A member with real v1 keys whose admission proof is made with another room's key: what a core can forge. */
async function forgedMember(keys: RoomKeys, name: string): Promise<Member> {
  const id = await generateIdentity();
  const other = await newRoom();
  const me = await generateIdentity2(id);
  const admission = await makeAdmissionProof({ ...other, room: keys.room }, me);
  return {
    id: id.id,
    name,
    encKey: id.encKey,
    sigKey: id.sigKey,
    encKeySig: id.encKeySig,
    since: Date.now(),
    v2: { sig2: me.sig2, dh2: me.dh2, link: me.link, admission },
  };
}

describe("v2 room from one link", () => {
  it("three members chat; the core routes one flat envelope per message", async () => {
    const keys = await newRoom();
    const a = member(ids[0], "alice", keys, keys.room);
    await until(() => a.s.state === "online", "alice online");
    const b = member(ids[1], "bob", keys, keys.room);
    const c = member(ids[2], "carol", keys, keys.room);
    await until(() => a.s.members.size === 3 && b.s.state === "online" && c.s.state === "online", "all three");
    for (const m of [a, b, c]) for (const e of m.s.members.values()) expect(e.admission).toEqual({ ok: true });
    a.s.sendText("hello from alice");
    b.s.sendText("hello from bob");
    await until(() => texts(c).length === 2 && texts(a).length === 1 && texts(b).length === 1, "delivery");
    expect(texts(c).sort()).toEqual(["hello from alice", "hello from bob"]);
    expect(a.got.every((r) => r.ok)).toBe(true);
    for (const m of [a, b, c]) m.s.stop();
  });

  it("wrong or missing secret: cannot join, with a clear message", async () => {
    const keys = await newRoom();
    const a = member(ids[0], "alice", keys, keys.room);
    await until(() => a.s.state === "online", "alice online");
    // A secret of another room: refused before any connection.
    const other = await newRoom();
    expect(() => member(ids[1], "bob", other, keys.room)).toThrow(/secret is for another room/);
    // No secret at all (a v1 client): the core refuses with `version`, never a silent v1 room.
    const v1 = member(ids[1], "bob", null, keys.room);
    await until(() => v1.closed.length === 1, "v1 closed");
    expect(v1.errors[0]).toMatchObject({ code: "version", fatal: true });
    expect(v1.errors[0].message).toMatch(/room link/);
    // A hello with the right room id but a proof made without the secret.
    const peer = await WirePeer.connect(core.port);
    const ch = await peer.nextT("challenge");
    const g = new GroupSession(
      ids[2],
      { ...keys, admissionPrivate: other.admissionPrivate },
      { sendKeys: () => true, retry: () => {}, log: () => {} },
    );
    peer.send(
      (await g.hello(
        await makeHello(ids[2], { nonce: ch.nonce, room: keys.room, name: "mallory" }),
        ch.nonce,
      )) as unknown as RawMessage,
    );
    const err = await peer.nextT("error");
    expect(err).toMatchObject({ code: "not_admitted", fatal: true });
    // Another room's verification key for this room id: the binding fails.
    const peer2 = await WirePeer.connect(core.port);
    const ch2 = await peer2.nextT("challenge");
    const g2 = new GroupSession(
      ids[2],
      { ...other, room: keys.room },
      { sendKeys: () => true, retry: () => {}, log: () => {} },
    );
    peer2.send(
      (await g2.hello(
        await makeHello(ids[2], { nonce: ch2.nonce, room: keys.room, name: "mallory" }),
        ch2.nonce,
      )) as unknown as RawMessage,
    );
    expect(await peer2.nextT("error")).toMatchObject({
      code: "not_admitted",
      message: expect.stringMatching(/not bound/),
    });
    expect(a.s.members.size).toBe(1);
    // And the mirror: a v2 hello for a room id already open as a v1 room.
    const squat = await newRoom();
    const plain = await join(core.port, { name: "old", room: squat.room });
    const late = member(ids[3], "new", squat, squat.room);
    await until(() => late.closed.length === 1, "v2 into v1 closed");
    expect(late.errors[0]).toMatchObject({
      code: "version",
      fatal: true,
      message: expect.stringMatching(/without a room link/),
    });
    plain.peer.close();
    a.s.stop();
  });
});

describe("hostile core", () => {
  it("an injected member is flagged everywhere and never gets a key", async () => {
    const keys = await newRoom();
    const ha = hostileCore(core.port);
    const hb = hostileCore(core.port);
    const sentKeysTo: string[] = [];
    ha.up = (raw) => {
      if (raw.t === "keys") for (const d of raw.dists as Array<{ to: string }>) sentKeysTo.push(d.to);
      return null;
    };
    const a = member(ids[0], "alice", keys, keys.room, ha.connect);
    const b = member(ids[1], "bob", keys, keys.room, hb.connect);
    await until(() => a.s.members.size === 2 && b.s.members.size === 2, "both");
    const ghost = await forgedMember(keys, "ghost");
    ha.inject({ t: "joined", member: ghost });
    hb.inject({ t: "joined", member: ghost });
    await until(() => a.s.members.has(ghost.id) && b.s.members.has(ghost.id), "ghost shown");
    for (const m of [a, b]) {
      const e = m.s.members.get(ghost.id)!;
      expect(e.admission).toEqual({ ok: false, reason: "not admitted by the room link" });
      expect(e.verified).toBe(false);
    }
    // Also a member announced without any v2 proof at all.
    const bare = { ...(await forgedMember(keys, "bare")), v2: undefined };
    ha.inject({ t: "joined", member: bare });
    await until(() => a.s.members.has(bare.id), "bare shown");
    expect(a.s.members.get(bare.id)!.admission?.ok).toBe(false);
    a.s.sendText("for bob only");
    await until(() => texts(b).includes("for bob only"), "bob reads");
    expect(sentKeysTo).toEqual([ids[1].id]);
    // Direct messages refuse it too, and what it "sends" is shown as not admitted.
    expect(() => a.s.sendText("psst", [ghost.id])).toThrow(/do not verify/);
    ha.inject({
      t: "msg",
      from: ghost.id,
      mid: "ghost1",
      to: [ids[0].id],
      at: Date.now(),
      env: { alg: "sealroom-sk-v2", epoch: "A".repeat(22), n: 0, ct: "A".repeat(32), sig: "A".repeat(86) + "==" },
    });
    await until(() => a.got.some((r) => r.mid === "ghost1"), "ghost msg");
    expect(a.got.find((r) => r.mid === "ghost1")).toMatchObject({ ok: false, reason: "not admitted by the room link" });
    a.s.stop();
    b.s.stop();
  });

  it("replayed, reordered and dropped distributions and messages: no wrong text, and the session recovers", async () => {
    const keys = await newRoom();
    const hb = hostileCore(core.port);
    const a = member(ids[0], "alice", keys, keys.room);
    const b = member(ids[1], "bob", keys, keys.room, hb.connect, 300);
    const c = member(ids[2], "carol", keys, keys.room);
    await until(() => a.s.members.size === 3 && b.s.members.size === 3 && c.s.members.size === 3, "three");
    // 1: alice's first key to bob is dropped; her message waits, then shows as "no key yet", never as text.
    let dropped = 0;
    hb.down = (raw) => (raw.t === "keys" && dropped++ === 0 ? [] : null);
    a.s.sendText("lost key");
    await until(() => texts(c).includes("lost key"), "carol reads");
    await until(() => b.got.some((r) => !r.ok), "bob gives up");
    expect(b.got.find((r) => !r.ok)).toMatchObject({ ok: false, reason: expect.stringMatching(/^no key yet/) });
    // Recovery: carol leaves, alice's next message comes under a new chain bob is given.
    c.s.stop();
    await until(() => a.s.members.size === 2, "carol gone");
    hb.down = null;
    a.s.sendText("after rotation");
    await until(() => texts(b).includes("after rotation"), "recovered");
    // 2: every distribution and message replayed three times, and pairs of them reordered.
    let held: RawMessage | null = null;
    hb.down = (raw) => {
      if (raw.t !== "keys" && raw.t !== "msg") return null;
      if (!held) {
        held = raw;
        return [];
      }
      const out = [raw, held, raw, held, held];
      held = null;
      return out;
    };
    b.s.sendText("bob 1"); // bob rotates too (carol left): alice gets his new chain
    for (let i = 0; i < 4; i++) a.s.sendText(`alice ${i}`);
    await until(() => [0, 1, 2, 3].every((i) => texts(b).includes(`alice ${i}`)), "all four, once each", 15_000);
    expect(
      texts(b)
        .filter((t) => t.startsWith("alice "))
        .sort(),
    ).toEqual(["alice 0", "alice 1", "alice 2", "alice 3"]);
    const shown = texts(b);
    expect(
      shown.every((t) => ["lost key", "after rotation", "alice 0", "alice 1", "alice 2", "alice 3"].includes(t)),
    ).toBe(true);
    expect(shown.includes("lost key")).toBe(false);
    a.s.stop();
    b.s.stop();
  });

  it("a tampered ciphertext or signature is shown as unverifiable", async () => {
    const keys = await newRoom();
    const hb = hostileCore(core.port);
    const a = member(ids[0], "alice", keys, keys.room);
    const b = member(ids[1], "bob", keys, keys.room, hb.connect);
    await until(() => a.s.members.size === 2 && b.s.members.size === 2, "both");
    a.s.sendText("genuine");
    await until(() => texts(b).includes("genuine"), "first");
    let n = 0;
    const flip = (s: string) => (s[0] === "A" ? "B" : "A") + s.slice(1);
    hb.down = (raw) => {
      if (raw.t !== "msg") return null;
      const env = raw.env as { ct: string; sig: string };
      return [{ ...raw, env: n++ === 0 ? { ...env, ct: flip(env.ct) } : { ...env, sig: flip(env.sig) } }];
    };
    a.s.sendText("tampered ct");
    a.s.sendText("tampered sig");
    await until(() => b.got.filter((r) => !r.ok).length === 2, "two refusals");
    for (const r of b.got.filter((r) => !r.ok))
      expect(r).toMatchObject({ ok: false, reason: "signature does not verify" });
    expect(texts(b)).toEqual(["genuine"]);
    a.s.stop();
    b.s.stop();
  });

  it("a leaver cannot read what is said after, even when the core keeps it seated", async () => {
    const keys = await newRoom();
    const ha = hostileCore(core.port);
    const sentKeysTo: string[] = [];
    ha.up = (raw) => {
      if (raw.t === "keys") for (const d of raw.dists as Array<{ to: string }>) sentKeysTo.push(d.to);
      // The core fans every message out to everyone it seats, whoever the sender meant.
      if (raw.t === "send") {
        const { to: _to, ...rest } = raw;
        return [rest as RawMessage];
      }
      return null;
    };
    const a = member(ids[0], "alice", keys, keys.room, ha.connect);
    const b = member(ids[1], "bob", keys, keys.room);
    const c = member(ids[2], "carol", keys, keys.room, undefined, 300);
    await until(() => a.s.members.size === 3 && b.s.members.size === 3 && c.s.members.size === 3, "three");
    a.s.sendText("before");
    await until(() => texts(c).includes("before") && texts(b).includes("before"), "carol reads before");
    // Carol is removed (alice is told she left) but the core keeps routing to her.
    ha.inject({ t: "left", id: ids[2].id, reason: "quit" });
    await until(() => a.s.members.size === 2, "alice sees carol gone");
    sentKeysTo.length = 0;
    a.s.sendText("after");
    await until(() => texts(b).includes("after"), "bob reads after");
    expect(sentKeysTo).toEqual([ids[1].id]);
    await until(() => c.got.length === 2, "carol's copy resolved");
    expect(c.got[1]).toMatchObject({ ok: false, reason: expect.stringMatching(/^no key yet/) });
    expect(texts(c)).toEqual(["before"]);
    for (const m of [a, b, c]) m.s.stop();
  });
});
