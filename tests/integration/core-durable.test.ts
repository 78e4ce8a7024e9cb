// The durable room log end to end (docs/protocol.md section 2c), ClientSession
// over real TCP against the real core: away members get what they missed on
// resume, in order, once; receipts reach the sender; a v1 client still sees
// `left`/`joined`; bad cursors; a history gap; a full store; a restart of a
// core on SQLite; a second core on the same data dir.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as pjoin } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateIdentity } from "../../protocol/crypto";
import type { CoreServer } from "../../server/server";
import { MemoryStore } from "../../server/store/memoryStore";
import { StoreError, type AppendEntry, type AppendResult } from "../../server/store/roomStore";
import { startCore } from "../helpers/core";
import { runSealroom } from "../helpers/proc";
import { join, WirePeer } from "../helpers/wire";
import { durableMember as member } from "../helpers/durableMember";
import { until } from "../helpers/poll";
import { MemoryCursorStore } from "../../protocol/resume";

const cores: CoreServer[] = [];
afterAll(async () => {
  for (const c of cores) await c.stop();
});

async function core(opts: Parameters<typeof startCore>[0] = {}): Promise<CoreServer> {
  const c = await startCore(opts);
  cores.push(c);
  return c;
}

describe("durable room log", () => {
  it("an away member gets what it missed on resume, in order, once; the sender sees presence and receipts", async () => {
    const c = await core();
    const room = "away1";
    const [ia, ib, ic] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
    const a = member(() => c.port, "alice", room, ia);
    await until(() => a.s.state === "online", "alice online");
    const b = member(() => c.port, "bob", room, ib);
    const cursors = new MemoryCursorStore();
    const cm = member(() => c.port, "carol", room, ic, cursors, false);
    await until(() => b.s.state === "online" && cm.s.state === "online" && a.s.members.size === 3, "all three");

    a.s.sendText("before");
    await until(() => cm.texts.length === 1 && b.texts.length === 1, "before delivered");
    // Both recipients opened it: the sender hears 1 of 2, then 2 of 2.
    await until(() => (a.events.delivered ?? []).some((d) => d.delivered === 2 && d.of === 2), "delivered 2 of 2");

    cm.cut();
    await until(() => (a.events.presence ?? []).some((p) => p.id === ic.id && p.state === "away"), "carol away");
    expect(a.s.members.get(ic.id)?.member.presence).toBe("away");
    for (let i = 0; i < 5; i++) a.s.sendText(`while away ${i}`);
    await until(() => (a.events.ack ?? []).length === 6, "acks");
    for (const ack of a.events.ack!) expect(ack.seq).toBeGreaterThan(0);
    await until(() => b.texts.length === 6, "bob has them");

    const back = member(() => c.port, "carol", room, ic, cursors);
    await until(() => (back.events.resumed ?? []).length === 1, "resumed");
    expect(back.texts).toEqual([0, 1, 2, 3, 4].map((i) => `while away ${i}`));
    expect(new Set(back.seqs).size).toBe(back.seqs.length);
    await until(
      () => (a.events.presence ?? []).some((p) => p.id === ic.id && p.state === "online"),
      "carol online again",
    );
    await until(
      () => (a.events.delivered ?? []).filter((d) => d.delivered === 2).length === 6,
      "all 6 delivered to both",
    );
    for (const x of [a, b, back]) x.s.stop();
  });

  it("a v1 client still sees left on close and joined on return; a durable sender seals for away members", async () => {
    const c = await core();
    const room = "v1view";
    const [ia, ic] = await Promise.all([generateIdentity(), generateIdentity()]);
    const v1 = await join(c.port, { name: "old", room });
    const a = member(() => c.port, "alice", room, ia);
    const cursors = new MemoryCursorStore();
    const cm = member(() => c.port, "carol", room, ic, cursors, false);
    await until(() => cm.s.state === "online" && a.s.members.size === 3, "three");
    await v1.peer.nextT("joined");
    await v1.peer.nextT("joined");
    cm.cut();
    const left = await v1.peer.nextT("left");
    expect(left).toEqual({ t: "left", id: ic.id, reason: "closed" });
    a.s.sendText("for carol and old");
    const got = await v1.peer.nextT("msg");
    expect(got.seq).toBeUndefined(); // no field a v1 client did not ask for
    expect((got.to as string[]).sort()).toEqual([ic.id, v1.identity.id].sort());
    const mark = v1.peer.messages.length;
    const back = member(() => c.port, "carol", room, ic, cursors);
    const joined = await v1.peer.next<{ t: string; member: Record<string, unknown> }>(
      (m) => m.t === "joined",
      5000,
      mark,
    );
    expect(joined.member).toMatchObject({ id: ic.id, name: "carol" });
    expect(joined.member.presence).toBeUndefined();
    await until(() => back.texts.includes("for carol and old"), "carol got it on resume");
    v1.peer.close();
    a.s.stop();
    back.s.stop();
  });

  it("resume cursors: from the future or another room -> bad_request and a fresh cursor; malformed -> bad_hello", async () => {
    const c = await core();
    const room = "cursors";
    const future = new MemoryCursorStore();
    future.set(room, { seq: 999 });
    const f = member(() => c.port, "fut", room, await generateIdentity(), future, false);
    await until(() => (f.events.resumed ?? []).length === 1, "resumed after a future cursor");
    expect(f.events.error?.[0]).toMatchObject({ code: "bad_request", ref: "resume", fatal: false });
    expect(f.events.resumed?.[0].seq).toBe(0);
    f.s.stop();

    const p = await WirePeer.connect(c.port);
    const ch = await p.nextT("challenge");
    const id = await generateIdentity();
    const { makeHello } = await import("../../protocol/crypto");
    const hello = await makeHello(id, { nonce: ch.nonce as string, room, name: "other", caps: ["durable"] });
    p.send({ ...hello, resume: { room: "elsewhere", seq: 0 } });
    await p.nextT("welcome");
    expect(await p.nextT("error")).toMatchObject({ code: "bad_request", ref: "resume", fatal: false });
    expect(await p.nextT("resumed")).toMatchObject({ t: "resumed", seq: 0 });
    p.close();

    const q = await WirePeer.connect(c.port);
    const ch2 = await q.nextT("challenge");
    const hello2 = await makeHello(id, { nonce: ch2.nonce as string, room, name: "other", caps: ["durable"] });
    q.send({ ...hello2, resume: { room, seq: -1 } });
    expect(await q.nextT("error")).toMatchObject({ code: "bad_hello", fatal: true });
    q.close();
  });

  it("a cursor older than retention gets a historyGap marker before what is kept", async () => {
    const c = await core({ storeLimits: { retentionMessages: 3 } });
    const room = "gap";
    const [ia, ic] = await Promise.all([generateIdentity(), generateIdentity()]);
    const a = member(() => c.port, "alice", room, ia);
    const cursors = new MemoryCursorStore();
    const cm = member(() => c.port, "carol", room, ic, cursors, false);
    await until(() => cm.s.state === "online" && a.s.members.size === 2, "two");
    a.s.sendText("seen");
    await until(() => cm.texts.length === 1, "seen");
    await until(() => cursors.get(room)?.seq === 1, "cursor saved");
    cm.cut();
    await until(() => (a.events.presence ?? []).length > 0, "away");
    for (let i = 0; i < 6; i++) a.s.sendText(`m${i}`);
    await until(() => (a.events.ack ?? []).length === 7, "acks");
    const back = member(() => c.port, "carol", room, ic, cursors);
    await until(() => (back.events.resumed ?? []).length === 1, "resumed");
    expect(back.events.historyGap).toEqual([{ from: 2, to: 4 }]);
    expect(back.texts).toEqual(["m3", "m4", "m5"]);
    a.s.stop();
    back.s.stop();
  });

  it("a full store: an error instead of the ack, the message stays pending and is stored once space returns", async () => {
    let full = true;
    class FullStore extends MemoryStore {
      override append(room: string, e: AppendEntry): Promise<AppendResult> {
        if (full)
          return Promise.reject(
            new StoreError("store_full", "the room store is full (disk full): the message was not stored"),
          );
        return super.append(room, e);
      }
    }
    const c = await core({ store: new FullStore() });
    const room = "full";
    const [ia, ib] = await Promise.all([generateIdentity(), generateIdentity()]);
    const a = member(() => c.port, "alice", room, ia);
    const b = member(() => c.port, "bob", room, ib);
    await until(() => a.s.members.size === 2 && b.s.state === "online", "two");
    a.s.sendText("wait for space");
    await until(() => (a.events.error ?? []).some((e) => e.code === "store_full"), "store_full");
    expect(a.events.ack ?? []).toEqual([]);
    expect(a.s.pendingCount).toBe(1);
    expect(b.texts).toEqual([]);
    full = false;
    await until(() => (a.events.ack ?? []).length === 1, "acked after space returned", 15_000);
    await until(() => b.texts.length === 1, "delivered");
    expect(b.texts).toEqual(["wait for space"]);
    a.s.stop();
    b.s.stop();
  });

  it("a core on SQLite restarts with its log: resume after restart loses nothing, a resent mid is not delivered again", async () => {
    const dir = mkdtempSync(pjoin(tmpdir(), "sealroom-durable-"));
    let c = await core({ store: { sqlite: dir } });
    const room = "restart";
    const [ia, ic] = await Promise.all([generateIdentity(), generateIdentity()]);
    let port = c.port;
    const a = member(() => port, "alice", room, ia);
    const cursors = new MemoryCursorStore();
    const cm = member(() => port, "carol", room, ic, cursors, false);
    await until(() => cm.s.state === "online" && a.s.members.size === 2, "two");
    a.s.sendText("one");
    await until(() => cm.texts.length === 1, "one");
    cm.cut();
    await until(() => (a.events.presence ?? []).length > 0, "away");
    a.s.sendText("two");
    await until(() => (a.events.ack ?? []).length === 2, "two acked");
    await c.stop();
    await expect(startCore({ store: { sqlite: dir } }).then((x) => x.stop())).resolves.toBeUndefined(); // the lock went with stop()
    c = await core({ store: { sqlite: dir } });
    port = c.port;
    await until(() => a.s.state === "online", "alice back by herself");
    const back = member(() => port, "carol", room, ic, cursors);
    await until(() => (back.events.resumed ?? []).length === 1, "resumed");
    expect(back.texts).toEqual(["two"]);
    // Alice, still welcomed before carol came back, saw her as away (loaded from the store).
    const w = a.events.welcome!.at(-1)!;
    expect(w.members.find((m) => m.member.id === ic.id)?.member.presence).toBe("away");
    a.s.stop();
    back.s.stop();
  });

  it("two cores on one data dir: the second refuses with one line and exit 73", async () => {
    const dir = mkdtempSync(pjoin(tmpdir(), "sealroom-lock-"));
    const c = await core({ store: { sqlite: dir } });
    expect(c.port).toBeGreaterThan(0);
    const p = runSealroom(["server", "--port", "0", "--data-dir", dir, "--videos", tmpdir()]);
    const { code } = await p.exited;
    expect(code).toBe(73);
    expect(p.stderr().trim().split("\n")).toHaveLength(1);
    expect(p.stderr()).toMatch(/rooms\.db is in use by another Sealroom core/);
  });
});
