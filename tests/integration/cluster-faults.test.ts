// Cluster faults against a real nats-server with JetStream (issue 15): kill -9
// and restart of nats-server loses nothing acked and duplicates nothing on
// retry; two cores append to one room in one contiguous order; a core cut off
// from NATS says so within natsCutoffMs; a second core with a live node name is
// refused; a dead core's members expire by TTL; the bus carries seq notes and
// orders concurrent stream control from two cores.

import { connect, type NatsConnection } from "@nats-io/transport-node";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { anchorPosition, Bus, type AnchorNote, type SeqNote } from "../../server/cluster/bus";
import { JetStreamStore } from "../../server/cluster/jetstreamStore";
import { openLink, type LinkState } from "../../server/cluster/link";
import { NodeNameTaken, Presence, type PresenceEvent } from "../../server/cluster/presence";
import type { AppendEntry } from "../../server/store/roomStore";
import { natsServerInstalled, startNats, type NatsServer } from "../helpers/nats";
import { ackedThenKilled } from "../helpers/killedWriter";

const id = (s: string) => s.padEnd(22, "x").slice(0, 22);
const A = id("alice");
const B = id("bob");
const C = id("carol");
const entry = (mid: string, from = A): AppendEntry => ({
  from,
  mid,
  to: [B, C],
  env: JSON.stringify({ ct: `ct-${mid}`, keys: {} }),
  at: Date.now(),
});

let nats: NatsServer;
const conns: NatsConnection[] = [];
const dial = async () => {
  const nc = await connect({ servers: nats.url, maxReconnectAttempts: -1, reconnectTimeWait: 100 });
  conns.push(nc);
  return nc;
};
let nsN = 0;
const ns = () => `t${++nsN}${Date.now() % 100000}`;

async function readAll(s: JetStreamStore, room: string, who: string) {
  const out: { seq: number; mid: string }[] = [];
  for (let cursor = 0; ;) {
    const page = await s.readAfter(room, who, cursor, 1_000);
    if (page.length === 0) return out;
    for (const e of page) out.push({ seq: e.seq, mid: e.mid });
    cursor = page[page.length - 1].seq;
  }
}

async function until(cond: () => boolean, ms: number, what: string): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`not within ${ms} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return Date.now() - t0;
}

describe.runIf(natsServerInstalled() || process.env.CI)("cluster on NATS JetStream: faults", () => {
  beforeAll(async () => {
    nats = await startNats();
  });
  afterAll(async () => {
    for (const c of conns) await c.close().catch(() => {});
    await nats.cleanup();
  });

  it("nats-server kill -9 mid-write and restart on the same dir: every acked append is there, retries add no duplicate", async () => {
    const space = ns();
    const nc = await dial();
    const s = new JetStreamStore({ nc, namespace: space });
    const acked = new Map<string, number>();
    for (let i = 0; i < 300; i++) acked.set(`pre${i}`, (await s.append("room", entry(`pre${i}`))).seq);
    // 8 lanes keep appending while the server is killed under them
    let stop = false;
    const tried: string[] = [];
    const lane = async (l: number) => {
      for (let i = 0; !stop; i++) {
        const mid = `l${l}-${i}`;
        tried.push(mid);
        try {
          acked.set(mid, (await s.append("room", entry(mid))).seq);
        } catch {
          return; // unacked: the client retries it below
        }
      }
    };
    const lanes = Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(lane));
    await until(() => acked.size >= 600, 20_000, "600 acks");
    const ackedBeforeKill = acked.size;
    await nats.kill9();
    stop = true;
    await lanes;
    const ackedLanes = acked.size - 300;
    await nats.restart();
    // a client that never saw its ack sends the same mid again; so does one that did
    const retry = async (mid: string) => {
      // as a client does: an error is no ack, so it sends again (the core may still be reconnecting)
      for (let t = Date.now(); ;) {
        try {
          return await s.append("room", entry(mid));
        } catch (e) {
          if (Date.now() - t > 15_000) throw e;
        }
      }
    };
    for (const mid of tried) {
      const r = await retry(mid);
      if (acked.has(mid)) expect(r, mid).toEqual({ seq: acked.get(mid), duplicate: true });
      else acked.set(mid, r.seq);
    }
    const all = await readAll(s, "room", B);
    expect(all.map((e) => e.seq)).toEqual(all.map((_e, i) => i + 1)); // contiguous from 1
    expect(new Set(all.map((e) => e.mid)).size).toBe(all.length); // no mid twice
    expect(all.length).toBe(acked.size);
    for (const e of all) expect(acked.get(e.mid)).toBe(e.seq);
    console.log(
      `nats kill -9: ${ackedBeforeKill} acked when the kill was sent, ${300 + ackedLanes} acked in all, ${tried.length - ackedLanes} unacked and sent again, ${all.length} stored after retries, 0 lost, 0 duplicated`,
    );
    expect(await s.seqRange("room")).toEqual({ oldest: 1, last: acked.size });
    await s.close();
  });

  it("a core killed -9 mid-write: every append it acked is in the log, whole, seqs contiguous", async () => {
    const space = ns();
    const { acked, signal } = await ackedThenKilled(
      ["tests/helpers/jetstream-writer.ts", nats.url, space],
      1_000,
      25_000,
    );
    expect(signal).toBe("SIGKILL");
    const s = new JetStreamStore({ nc: await dial(), namespace: space });
    const reader = "readerAAAAAAAAAAAAAAAAA".slice(0, 22);
    const range = await s.seqRange("killroom");
    expect(range.oldest).toBe(1);
    expect(range.last).toBeGreaterThanOrEqual(acked.size);
    const stored = new Map<string, number>();
    for (let cursor = 0; ;) {
      const page = await s.readAfter("killroom", reader, cursor, 1_000);
      if (page.length === 0) break;
      for (const e of page) {
        expect(e.env).toBe(JSON.stringify({ alg: "test", ct: e.mid.repeat(40), keys: {} }));
        expect(e.seq).toBe(cursor + 1);
        stored.set(e.mid, e.seq);
        cursor = e.seq;
      }
    }
    expect(stored.size).toBe(range.last);
    for (const [mid, seq] of acked) expect(stored.get(mid), mid).toBe(seq);
    await s.close();
  });

  it("two cores appending to one room get one contiguous order, and one seq for a mid both send", async () => {
    const space = ns();
    const [s1, s2] = [
      new JetStreamStore({ nc: await dial(), namespace: space }),
      new JetStreamStore({ nc: await dial(), namespace: space }),
    ];
    const res = await Promise.all(
      Array.from({ length: 200 }, (_x, i) => (i % 2 ? s1 : s2).append("shared", entry(`m${i}`))),
    );
    expect(res.map((r) => r.seq).sort((a, b) => a - b)).toEqual(res.map((_r, i) => i + 1));
    const both = await Promise.all([s1.append("shared", entry("same")), s2.append("shared", entry("same"))]);
    expect(both[0].seq).toBe(both[1].seq);
    expect(both.filter((r) => r.duplicate)).toHaveLength(1);
    expect((await s2.seqRange("shared")).last).toBe(201);
    expect(await s1.markDelivered("shared", 5, B)).toMatchObject({ delivered: 1, added: true });
    expect(await s2.markDelivered("shared", 5, C)).toMatchObject({ delivered: 2, added: true });
    await Promise.all([s1.close(), s2.close()]);
  });

  it("a core cut off from NATS (server frozen or killed) says disconnected within natsCutoffMs, and connected again after", async () => {
    const cutoff = 1_500;
    const link = await openLink({
      servers: nats.url,
      name: "cutoff-test",
      limits: { natsCutoffMs: cutoff, natsProbeMs: 250 },
    });
    const states: LinkState[] = [];
    link.events.on("state", (s: LinkState) => states.push(s));
    expect(link.state).toBe("connected");
    nats.freeze(); // a silent partition: no FIN, no answer
    const frozeIn = await until(() => link.state === "disconnected", cutoff + 2_000, "disconnected after freeze");
    expect(frozeIn).toBeLessThan(cutoff + 1_500);
    nats.thaw();
    await until(() => link.state === "connected", 10_000, "connected after thaw");
    await nats.kill9();
    const killedIn = await until(() => link.state === "disconnected", cutoff + 2_000, "disconnected after kill -9");
    expect(killedIn).toBeLessThan(cutoff + 1_500);
    await nats.restart();
    await until(() => link.state === "connected", 10_000, "connected after restart");
    // each fault is reported, each recovery too; the client's own stale-connection
    // reconnect after a thaw may add one more down/up pair, which is a true report
    expect(states[0]).toBe("disconnected");
    expect(states.at(-1)).toBe("connected");
    expect(states.filter((x) => x === "disconnected").length).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < states.length; i++) expect(states[i]).not.toBe(states[i - 1]);
    await link.close();
  });

  it("refuses a second core with a live node name; a dead core's members expire by TTL and its name is free after it", async () => {
    const space = ns();
    const limits = { presenceTtlMs: 2_000, presenceHeartbeatMs: 500 };
    const deadNc = await dial();
    const p1 = await Presence.start({ nc: deadNc, node: "core-a", namespace: space, limits });
    await expect(Presence.start({ nc: await dial(), node: "core-a", namespace: space, limits })).rejects.toBeInstanceOf(
      NodeNameTaken,
    );
    const watcher = await Presence.start({ nc: await dial(), node: "core-b", namespace: space, limits });
    const seen: PresenceEvent[] = [];
    watcher.events.on("event", (e: PresenceEvent) => seen.push(e));
    await watcher.watch();
    await p1.online("room", B);
    await watcher.online("room", C);
    await until(() => seen.some((e) => e.kind === "online" && e.id === B), 5_000, "bob online");
    expect((await watcher.onlineIn("room")).map((x) => x.id).sort()).toEqual([B, C].sort());
    // core-a dies: no close(), its connection just goes (what kill -9 leaves)
    await deadNc.close();
    const t0 = Date.now();
    await until(() => seen.some((e) => e.kind === "away" && e.id === B), 6_000, "bob away by TTL");
    const awayAfter = Date.now() - t0;
    expect(awayAfter).toBeGreaterThan(1_000); // by expiry, not by a goodbye
    expect(seen.find((e) => e.kind === "away" && e.id === B)).toMatchObject({ reason: "expired", node: "core-a" });
    expect(seen.some((e) => e.kind === "away" && e.id === C)).toBe(false); // core-b's member refreshed
    // the name is free once its claim expired
    let p3: Presence | null = null;
    for (let i = 0; i < 30 && !p3; i++) {
      p3 = await Presence.start({ nc: await dial(), node: "core-a", namespace: space, limits }).catch(() => null);
      if (!p3) await new Promise((r) => setTimeout(r, 250));
    }
    expect(p3).not.toBeNull();
    await watcher.left("room", C);
    await until(() => seen.some((e) => e.kind === "left" && e.id === C), 5_000, "carol left");
    await p3!.close();
    await watcher.close();
  });

  it("bus: core B hears core A's seq note; control from two cores is applied in order, never lost", async () => {
    const space = ns();
    const [a, b] = [
      await Bus.start({ nc: await dial(), node: "a", namespace: space }),
      await Bus.start({ nc: await dial(), node: "b", namespace: space }),
    ];
    await Promise.all([a.joinRoom("party"), b.joinRoom("party")]);
    const notes: SeqNote[] = [];
    b.events.on("seq", (n: SeqNote) => notes.push(n));
    const aNotes: SeqNote[] = [];
    a.events.on("seq", (n: SeqNote) => aNotes.push(n));
    await new Promise((r) => setTimeout(r, 100));
    a.notifySeq("party", 41);
    await until(() => notes.length === 1, 3_000, "seq note at b");
    expect(notes[0]).toMatchObject({ room: "party", seq: 41, node: "a" });
    expect(aNotes).toEqual([]); // a core does not notify itself
    const anchorsAtA: AnchorNote[] = [];
    a.events.on("anchor", (n: AnchorNote) => anchorsAtA.push(n));
    await b.control("party", () => ({ sid: 1, video: "v.mp4", by: B, state: "playing", posMs: 0, atMs: 1_000 }));
    const seek = (cur: Parameters<Parameters<Bus["control"]>[1]>[0]) =>
      cur ? { ...cur, posMs: cur.posMs + 1_000 } : null;
    await Promise.all(Array.from({ length: 10 }, (_x, i) => (i % 2 ? a : b).control("party", seek)));
    const final = await a.anchor("party");
    expect(final.anchor?.posMs).toBe(10_000);
    await until(() => anchorsAtA.at(-1)?.anchor?.posMs === 10_000, 3_000, "a sees the last seek");
    expect(anchorPosition(final.anchor!, 3_500)).toBe(12_500);
    await a.control("party", (cur) =>
      cur ? { ...cur, state: "paused", posMs: anchorPosition(cur, 2_000), atMs: 2_000 } : null,
    );
    expect(anchorPosition((await b.anchor("party")).anchor!, 99_999)).toBe(11_000);
    await b.control("party", () => null); // stop
    await until(() => anchorsAtA.at(-1)?.anchor === null, 3_000, "a sees the stop");
    a.close();
    b.close();
  });
});
