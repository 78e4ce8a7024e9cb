// The room log id (docs/protocol.md section 2c) end to end, ClientSession over
// real TCP against the real core: a cursor kept from a log the core no longer
// has (a fresh memory store, a new SQLite file) is not resumed by seq even when
// the new log has grown past it (every entry of the new log comes, once); a
// normal SQLite restart keeps the log id and resumes by seq as before; an older
// durable client (no resumeLog) and a v1 client see what they saw before.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as pjoin } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateIdentity, makeHello, type Identity } from "../../protocol/crypto";
import type { CoreServer } from "../../server/server";
import { startCore } from "../helpers/core";
import { WirePeer } from "../helpers/wire";
import { durableMember as member, type DurableMember as Member } from "../helpers/durableMember";
import { until } from "../helpers/poll";
import { MemoryCursorStore } from "../../protocol/resume";

const cores: CoreServer[] = [];
afterAll(async () => {
  for (const c of cores) await c.stop().catch(() => {});
});

async function core(opts: Parameters<typeof startCore>[0] = {}): Promise<CoreServer> {
  const c = await startCore(opts);
  cores.push(c);
  return c;
}

const acks = (m: Member) => (m.events.ack ?? []).length;

type Replaced = "a fresh memory store" | "a new SQLite file";

describe("room log id", () => {
  it.each<Replaced>(["a fresh memory store", "a new SQLite file"])(
    "a cursor from a replaced log (%s) that the new log has grown past: every entry of the new log, once",
    async (how) => {
      const store = () =>
        how === "a new SQLite file" ? { store: { sqlite: mkdtempSync(pjoin(tmpdir(), "sealroom-logid-")) } } : {};
      let c = await core(store());
      let port = c.port;
      const room = how === "a new SQLite file" ? "replaced-sqlite" : "replaced-mem";
      const [ia, ib] = await Promise.all([generateIdentity(), generateIdentity()]);
      const a = member(() => port, "alice", room, ia);
      const bobCursors = new MemoryCursorStore();
      const b = member(() => port, "bob", room, ib, bobCursors, false);
      await until(() => b.s.state === "online" && a.s.members.size === 2, "alice and bob");
      for (const t of ["old1", "old2", "old3"]) a.s.sendText(t);
      await until(() => b.texts.length === 3, "bob has the old log's three");
      b.s.stop();
      await until(() => bobCursors.get(room)?.seq === 3, "bob's cursor saved");
      const oldLog = bobCursors.get(room)?.log;

      // The core comes back without its log; alice reconnects by herself.
      await c.stop();
      c = await core(store());
      port = c.port;
      await until(() => a.s.state === "online", "alice back by herself");
      // Bob is a member of the new log (another client of his, since gone away), so
      // the new log's entries are sealed and stored for him while his cursor is 3.
      const other = member(() => port, "bob", room, ib, new MemoryCursorStore(), false);
      await until(() => other.s.state === "online" && a.s.members.size === 2, "bob's other client");
      other.cut();
      await until(() => (a.events.presence ?? []).some((p) => p.state === "away"), "bob away");
      const sent = acks(a);
      const fresh = ["new1", "new2", "new3", "new4", "new5"];
      for (const t of fresh) a.s.sendText(t);
      await until(() => acks(a) === sent + fresh.length, "the new log has grown past bob's cursor");

      const back = member(() => port, "bob", room, ib, bobCursors, false);
      await until(() => (back.events.resumed ?? []).length === 1, "bob resumed");
      // Without the log id bob resumed after 3 and missed new1..new3.
      expect(back.texts).toEqual(fresh);
      expect(back.seqs).toEqual([1, 2, 3, 4, 5]);
      expect(oldLog).toMatch(/^[A-Za-z0-9_-]{22}$/);
      const newLog = bobCursors.get(room)?.log;
      expect(newLog).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(newLog).not.toBe(oldLog);
      expect(back.events.resumed?.[0].seq).toBe(5);
      expect(back.events.error?.[0]).toMatchObject({ code: "bad_request", ref: "resume", fatal: false });
      expect(back.events.error?.[0].message).toMatch(/replaced/);
      expect(bobCursors.get(room)).toEqual({ seq: 5, log: newLog });
      // Live after the replay: once each, and nothing of the replay again.
      a.s.sendText("live");
      await until(() => back.texts.length === 6, "live");
      expect(back.seqs).toEqual([1, 2, 3, 4, 5, 6]);
      a.s.stop();
      back.s.stop();
    },
  );

  it("a normal SQLite restart keeps the log id: the cursor resumes by seq as before, no notice", async () => {
    const dir = mkdtempSync(pjoin(tmpdir(), "sealroom-logid-same-"));
    let c = await core({ store: { sqlite: dir } });
    let port = c.port;
    const room = "kept";
    const [ia, ib] = await Promise.all([generateIdentity(), generateIdentity()]);
    const a = member(() => port, "alice", room, ia);
    const bobCursors = new MemoryCursorStore();
    const b = member(() => port, "bob", room, ib, bobCursors, false);
    await until(() => b.s.state === "online" && a.s.members.size === 2, "alice and bob");
    for (const t of ["one", "two", "three"]) a.s.sendText(t);
    await until(() => b.texts.length === 3, "three");
    b.cut();
    await until(() => (a.events.presence ?? []).some((p) => p.state === "away"), "bob away");
    await until(() => bobCursors.get(room)?.seq === 3, "bob's cursor saved");
    const log = bobCursors.get(room)?.log;
    expect(log).toMatch(/^[A-Za-z0-9_-]{22}$/);
    await c.stop();
    c = await core({ store: { sqlite: dir } });
    port = c.port;
    await until(() => a.s.state === "online", "alice back by herself");
    const sent = acks(a);
    a.s.sendText("four");
    a.s.sendText("five");
    await until(() => acks(a) === sent + 2, "two more stored");
    const back = member(() => port, "bob", room, ib, bobCursors, false);
    await until(() => (back.events.resumed ?? []).length === 1, "bob resumed");
    expect(back.texts).toEqual(["four", "five"]);
    expect(back.seqs).toEqual([4, 5]);
    expect(back.events.error ?? []).toEqual([]);
    expect(bobCursors.get(room)).toEqual({ seq: 5, log });
    a.s.stop();
    back.s.stop();
  });

  it("on the wire: welcome.log and resumed.log for durable only; no resumeLog resumes by seq; a bad one is bad_hello", async () => {
    const c = await core();
    const room = "wire";
    const [ia, iv] = await Promise.all([generateIdentity(), generateIdentity()]);
    const a = member(() => c.port, "alice", room, ia);
    await until(() => a.s.state === "online", "alice");
    const { log } = await logOf(c.port, room, iv, "probe"); // then away: x and y are stored for it
    expect(log).toMatch(/^[A-Za-z0-9_-]{22}$/);
    await until(() => a.s.members.size === 2, "probe seen");
    for (const t of ["x", "y"]) a.s.sendText(t);
    await until(() => acks(a) === 2, "two stored");

    // v1: no log anywhere.
    const v1 = await WirePeer.connect(c.port);
    const ch = await v1.nextT("challenge");
    const id1 = await generateIdentity();
    v1.send(await makeHello(id1, { nonce: ch.nonce as string, room, name: "vone" }));
    const w1 = await v1.nextT("welcome");
    expect(w1).not.toHaveProperty("log");
    v1.close();

    // An older durable client: resume without resumeLog is by seq (after 1: y only), as before.
    const old = await WirePeer.connect(c.port);
    const ch2 = await old.nextT("challenge");
    const hello = await makeHello(iv, { nonce: ch2.nonce as string, room, name: "probe", caps: ["durable"] });
    old.send({ ...hello, resume: { room, seq: 1 } });
    expect((await old.nextT("welcome")).log).toBe(log);
    expect((await old.nextT("msg")).seq).toBe(2);
    expect(await old.nextT("resumed")).toEqual({ t: "resumed", seq: 2, log });
    old.close();

    // Malformed resumeLog: bad_hello.
    const bad = await WirePeer.connect(c.port);
    const ch3 = await bad.nextT("challenge");
    const h3 = await makeHello(iv, { nonce: ch3.nonce as string, room, name: "probe", caps: ["durable"] });
    bad.send({ ...h3, resume: { room, seq: 0 }, resumeLog: "not a log id!" });
    expect(await bad.nextT("error")).toMatchObject({ code: "bad_hello", fatal: true });
    bad.close();
    a.s.stop();
  });
});

/** A durable hello without resume: the welcome's log id. */
async function logOf(port: number, room: string, id: Identity, name: string): Promise<{ log: unknown }> {
  const p = await WirePeer.connect(port);
  const ch = await p.nextT("challenge");
  p.send(await makeHello(id, { nonce: ch.nonce as string, room, name, caps: ["durable"] }));
  const w = await p.nextT("welcome");
  const r = await p.nextT("resumed");
  expect(r.log).toBe(w.log);
  p.close();
  return { log: w.log };
}
