// Cross-core delivery and presence (server/cluster/crossCore.ts) between two
// real cluster nodes on a real nats-server, each with a recording stand-in for
// its hub (the HubSide port): every stored entry reaches each core once and in
// seq order whichever core appended it (also under concurrent appends from
// both, and after notes are lost while a core is cut off); a member online on
// one core is seated on the other with its stored record, then away, then
// left; and a cut-off core is told so, and told when it is back.

import { connect } from "@nats-io/transport-node";
import { Kvm } from "@nats-io/kv";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CrossCore, type HubSide } from "../../server/cluster/crossCore";
import { openClusterNode, type ClusterNode } from "../../server/cluster/node";
import { silentLogger } from "../../server/log";
import type { AppendEntry, MemberRecord, StoredEntry } from "../../server/store/roomStore";
import { natsServerInstalled, startNats, type NatsServer } from "../helpers/nats";

const id = (s: string) => s.padEnd(22, "x").slice(0, 22);
const A = id("alice");
const B = id("bob");
const C = id("carol");

class Recorder implements HubSide {
  delivered: { room: string; seq: number; mid: string }[] = [];
  events: string[] = [];
  cuts: boolean[] = [];
  deliverLocal(room: string, e: StoredEntry): void {
    this.delivered.push({ room, seq: e.seq, mid: e.mid });
  }
  remoteOnline(room: string, m: MemberRecord): void {
    this.events.push(`online ${room} ${m.id} ${m.name}`);
  }
  remoteAway(room: string, i: string): void {
    this.events.push(`away ${room} ${i}`);
  }
  remoteLeft(room: string, i: string): void {
    this.events.push(`left ${room} ${i}`);
  }
  cutOff(down: boolean): void {
    this.cuts.push(down);
  }
  seqs(room: string): number[] {
    return this.delivered.filter((d) => d.room === room).map((d) => d.seq);
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

let nats: NatsServer;
const nodes: ClusterNode[] = [];
const crosses: CrossCore[] = [];

async function pair(
  ns: string,
  limits = {},
): Promise<
  [{ node: ClusterNode; cross: CrossCore; hub: Recorder }, { node: ClusterNode; cross: CrossCore; hub: Recorder }]
> {
  const out = [];
  for (const name of ["one", "two"]) {
    const node = await openClusterNode({
      url: nats.url,
      node: name,
      namespace: ns,
      limits: { presenceTtlMs: 2_000, presenceHeartbeatMs: 500, natsCutoffMs: 1_500, natsProbeMs: 250, ...limits },
    });
    const hub = new Recorder();
    const cross = new CrossCore(node, hub, silentLogger);
    await cross.start();
    nodes.push(node);
    crosses.push(cross);
    out.push({ node, cross, hub });
  }
  return out as never;
}

/** What the hub does after a PubAck: append, then hand it to the cross-core layer. */
async function send(
  n: { node: ClusterNode; cross: CrossCore },
  room: string,
  from: string,
  mid: string,
): Promise<number> {
  const e: AppendEntry = {
    from,
    mid,
    to: [A, B, C].filter((x) => x !== from),
    env: JSON.stringify({ ct: mid, keys: {} }),
    at: Date.now(),
  };
  const r = await n.node.store.append(room, e);
  if (!r.duplicate) n.cross.appended(room, { ...e, seq: r.seq });
  return r.seq;
}

const member = (i: string, name: string): MemberRecord => ({
  id: i,
  name,
  encKey: "e",
  sigKey: "s",
  encKeySig: "g",
  joinedAt: Date.now(),
  lastSeen: Date.now(),
});

describe.runIf(natsServerInstalled() || process.env.CI)(
  "cross-core delivery and presence on NATS",
  { timeout: 60_000 },
  () => {
    beforeAll(async () => {
      nats = await startNats();
    });
    afterAll(async () => {
      for (const c of crosses) c.close();
      for (const n of nodes) await n.close({ store: true });
      await nats?.cleanup();
    });

    it("both cores deliver every entry once, in seq order, while both append at once", async () => {
      const [one, two] = await pair("xc1");
      const room = "both-append";
      await one.cross.openRoom(room);
      await two.cross.openRoom(room);
      const N = 150;
      const lanes = [];
      for (const [n, from] of [
        [one, A],
        [two, B],
      ] as const) {
        lanes.push(
          (async () => {
            for (let i = 0; i < N; i++) await send(n, room, from, `${from.slice(0, 3)}-${i}`);
          })(),
        );
      }
      await Promise.all(lanes);
      const all = Array.from({ length: 2 * N }, (_, i) => i + 1);
      await until(
        () => one.hub.seqs(room).length === 2 * N && two.hub.seqs(room).length === 2 * N,
        15_000,
        "every entry on both cores",
      );
      expect(one.hub.seqs(room)).toEqual(all);
      expect(two.hub.seqs(room)).toEqual(all);
      // and the same mid at the same seq on both
      expect(one.hub.delivered.map((d) => d.mid)).toEqual(two.hub.delivered.map((d) => d.mid));
    });

    it("both cores see one log id for a room (protocol 2c), and so does a core started later on the namespace", async () => {
      const [one, two] = await pair("xclog");
      const room = "log-id";
      const [l1, l2] = await Promise.all([one.node.store.logId(room), two.node.store.logId(room)]);
      expect(l1).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(l2).toBe(l1);
      await send(one, room, A, "m1");
      await one.node.close({ store: true });
      const later = await openClusterNode({ url: nats.url, node: "three", namespace: "xclog" });
      nodes.push(later);
      expect(await later.store.logId(room)).toBe(l1);
      expect(await later.store.logId("another-room")).not.toBe(l1);
    });

    it("a room opened after entries were stored starts at the log's end (earlier entries are the replay's)", async () => {
      const [one, two] = await pair("xc2");
      const room = "late-open";
      await one.cross.openRoom(room);
      for (let i = 0; i < 5; i++) await send(one, room, A, `early-${i}`);
      await two.cross.openRoom(room);
      await send(one, room, A, "after-open");
      await until(() => two.hub.seqs(room).length === 1, 5_000, "the one entry after opening");
      expect(two.hub.delivered).toEqual([{ room, seq: 6, mid: "after-open" }]);
      expect(one.hub.seqs(room)).toEqual([1, 2, 3, 4, 5, 6]);
    });

    it("a member online on one core is seated on the other with its stored record, then away, then left", async () => {
      const [one, two] = await pair("xc3");
      const room = "presence-room";
      await two.cross.openRoom(room);
      await one.node.store.putMember(room, member(C, "carol"));
      one.cross.online(room, C);
      await until(() => two.hub.events.length === 1, 5_000, "online on the other core");
      expect(two.hub.events).toEqual([`online ${room} ${C} carol`]);
      expect(two.cross.onlineElsewhere(room, C)).toBe(true);
      expect(one.cross.onlineElsewhere(room, C)).toBe(false); // its own member: the hub knows it first-hand
      one.cross.away(room, C);
      await until(() => two.hub.events.length === 2, 5_000, "away");
      expect(two.hub.events[1]).toBe(`away ${room} ${C}`);
      expect(two.cross.onlineElsewhere(room, C)).toBe(false);
      one.cross.online(room, C);
      await until(() => two.hub.events.length === 3, 5_000, "online again");
      one.cross.left(room, C);
      await until(() => two.hub.events.length === 4, 5_000, "left");
      expect(two.hub.events.slice(2)).toEqual([`online ${room} ${C} carol`, `left ${room} ${C}`]);
      // a room a core does not serve brings its hub nothing, but is remembered for when it opens
      await one.node.store.putMember("elsewhere", member(A, "alice"));
      one.cross.online("elsewhere", A);
      await until(() => two.cross.onlineElsewhere("elsewhere", A), 5_000, "remembered");
      await two.cross.openRoom("elsewhere");
      await until(() => two.hub.events.includes(`online elsewhere ${A} alice`), 5_000, "seated on open");
    });

    it("a lost note costs latency only: the next note skips over the entry, and it is read from the log", async () => {
      const [one, two] = await pair("xc5");
      const room = "lost-note";
      await one.cross.openRoom(room);
      await two.cross.openRoom(room);
      await send(one, room, A, "first");
      // stored with no note (as if the note was lost on the way)
      const e: AppendEntry = { from: A, mid: "silent", to: [B, C], env: "{}", at: Date.now() };
      await one.node.store.append(room, e);
      await new Promise((r) => setTimeout(r, 300));
      expect(two.hub.seqs(room)).toEqual([1]);
      await send(one, room, A, "third");
      await until(() => two.hub.seqs(room).length === 3, 5_000, "the skipped entry read");
      expect(two.hub.delivered.map((d) => d.mid)).toEqual(["first", "silent", "third"]);
    });

    it("a core cut off from NATS is told so and told when it is back, and delivers on after it", async () => {
      const [one, two] = await pair("xc4");
      const room = "cut-room";
      await one.cross.openRoom(room);
      await two.cross.openRoom(room);
      await send(one, room, A, "before");
      await until(() => two.hub.seqs(room).length === 1, 5_000, "the first entry");
      nats.freeze();
      const cutIn = await until(() => one.hub.cuts[0] === true && two.hub.cuts[0] === true, 6_000, "both cut off");
      expect(one.cross.isCutOff).toBe(true);
      nats.thaw();
      await until(() => one.hub.cuts[1] === false && two.hub.cuts[1] === false, 15_000, "both back");
      expect(one.cross.isCutOff).toBe(false);
      await send(one, room, A, "after");
      await until(() => two.hub.seqs(room).length === 2, 5_000, "the entry after the cut");
      expect(two.hub.seqs(room)).toEqual([1, 2]);
      expect(cutIn).toBeLessThan(1_500 + 3_000);
    });

    it("a heartbeat whose CAS failed only because its own late write landed keeps the name; another core's claim loses it", async () => {
      const [one] = await pair("xc6", { presenceHeartbeatMs: 200, presenceTtlMs: 2_000 });
      let lost = 0;
      one.node.presence.events.on("lost-node", () => lost++);
      const nc = await connect({ servers: nats.url });
      try {
        const kv = await new Kvm(nc).open("sr_xc6_presence");
        // what a timed-out update that still landed looks like: our own claim, at a revision we never saw
        const cur = await kv.get("n.one");
        await kv.put("n.one", cur!.value);
        await new Promise((r) => setTimeout(r, 700));
        expect(lost).toBe(0);
        // another process's claim on the name
        await kv.put(
          "n.one",
          new TextEncoder().encode(JSON.stringify({ node: "one", since: Date.now(), inst: "someone-else" })),
        );
        await until(() => lost > 0, 3_000, "lost-node");
      } finally {
        await nc.close();
      }
    });
  },
);
