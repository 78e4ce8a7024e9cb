// Receipts reach the sender wherever it is (docs/protocol.md 2c): a sender
// away while its messages are opened gets the counts once when it resumes
// (real core on a real SQLite file, also after a core restart), and in a
// cluster (two in-process cores on a real nats-server) a receipt sent on core B
// reaches the sender on core A within a bound, with the cross-core latency
// measured over 200 messages; nothing is ever told twice for the same (seq, D).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as pjoin } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateIdentity, type Identity } from "../../protocol/crypto";
import { MemoryCursorStore } from "../../protocol/resume";
import { ClientSession } from "../../protocol/session";
import type { ClusterNode } from "../../server/cluster/node";
import type { CoreServer } from "../../server/server";
import { createLogger } from "../../server/log";
import { startCore } from "../helpers/core";
import { durableMember } from "../helpers/durableMember";
import { clusterCores, natsServerInstalled, startNats, type NatsServer } from "../helpers/nats";
import { join, type Received } from "../helpers/wire";

const cores: CoreServer[] = [];
const nodes: ClusterNode[] = [];
const dirs: string[] = [];
let nats: NatsServer | null = null;
afterAll(async () => {
  for (const c of cores) await c.stop().catch(() => {});
  for (const n of nodes) await n.close({ store: true }).catch(() => {});
  await nats?.cleanup();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

async function until(
  cond: () => boolean,
  what: string,
  timeoutMs = 10_000,
  seen: () => string[] = () => [],
): Promise<number> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > timeoutMs)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; seen:\n${seen().join("\n")}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return Date.now() - t0;
}

/** The trails' clock: one for every member, so a timeout's trail reads in order. */
const T0 = Date.now();

/** Every member's trail, in time order. */
function seen(...ms: Member[]): () => string[] {
  const at = (l: string) => Number(l.slice(1, l.indexOf("ms")));
  return () => ms.flatMap((m) => m.trail).sort((x, y) => at(x) - at(y));
}

interface Delivered {
  mid: string;
  seq: number;
  delivered: number;
  of: number;
}

interface Member {
  s: ClientSession;
  texts: string[];
  readonly delivered: readonly Delivered[];
  readonly acks: readonly { mid: string; seq?: number }[];
  readonly resumed: number;
  /** What this member saw (state, errors, resumed, delivered...), for a timeout's message. */
  trail: string[];
  /** Cuts the connection without quit (a lid closed). */
  cut(): void;
}

/** A durable member (helpers/durableMember.ts, no reconnect) that also keeps a timed trail of what it saw. */
function member(
  port: () => number,
  name: string,
  room: string,
  identity: Identity,
  cursors: MemoryCursorStore,
): Member {
  const d = durableMember(port, name, room, identity, cursors, false);
  const trail: string[] = [];
  const note = (what: string) => trail.push(`+${Date.now() - T0}ms ${name}: ${what}`);
  const s = d.s;
  s.on("delivered", (x) => note(`delivered seq ${x.seq} ${x.delivered}/${x.of}`));
  s.on("ack", (x) => note(`ack seq ${x.seq}`));
  s.on("resumed", (x) => note(`resumed seq ${x.seq}`));
  s.on("message", (e) => note(`message ok=${e.ok}`));
  s.on("state", (st) => note(`state ${st}`));
  s.on("welcome", (w) => note(`welcome members ${w.members.length}`));
  s.on("error", (e) => note(`error ${e.code}: ${e.message}`));
  s.on("invalid", (e) => note(`invalid ${e.reason}`));
  s.on("disconnected", (x) => note(`disconnected ${x.reason}`));
  s.on("closed", (c) => note(`closed ${c.reason} ${c.error ? `${c.error.code}: ${c.error.message}` : ""}`));
  return {
    s,
    texts: d.texts,
    trail,
    cut: d.cut,
    get delivered() {
      return d.events.delivered ?? [];
    },
    get acks() {
      return d.events.ack ?? [];
    },
    get resumed() {
      return d.events.resumed?.length ?? 0;
    },
  };
}

/** Every (seq, D) at most once: the "nothing shown twice" rule. */
function expectNoRepeat(d: Delivered[]): void {
  const keys = d.map((x) => `${x.seq}/${x.delivered}`);
  expect(new Set(keys).size).toBe(keys.length);
}

/**
 * The away-sender story on any pair of ports: alice sends three messages to
 * bob and carol, bob opens the first while alice is here (1 of 2, live), then
 * alice goes away, bob and carol (away meanwhile) come back and open the rest.
 * Alice resumes: one `delivered` per message with its current count, none for
 * what she was told live, and a second resume brings nothing.
 */
async function awaySenderStory(portA: () => number, portB: () => number, room: string): Promise<void> {
  const [ia, ib, ic] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
  const [ca, cb, cc] = [new MemoryCursorStore(), new MemoryCursorStore(), new MemoryCursorStore()];
  const all: Member[] = [];
  const wait = (cond: () => boolean, what: string, ms = 10_000) => until(cond, what, ms, seen(...all));
  const a = member(portA, "alice", room, ia, ca);
  all.push(a);
  await wait(() => a.s.state === "online", "alice online");
  const b = member(portB, "bob", room, ib, cb);
  all.push(b);
  const c = member(portB, "carol", room, ic, cc);
  all.push(c);
  await wait(() => a.s.members.size === 3 && b.s.members.size === 3 && c.s.members.size === 3, "all three seated");
  c.cut();
  await wait(() => a.s.members.get(ic.id)?.member.presence === "away", "carol away for alice");
  a.s.sendText("one");
  await wait(() => b.texts.length === 1, "bob has one");
  await wait(() => a.delivered.some((d) => d.delivered === 1), "alice told 1 of 2 live");
  const first = a.delivered[0];
  expect(first).toMatchObject({ delivered: 1, of: 2 });
  b.cut();
  await wait(() => a.s.members.get(ib.id)?.member.presence === "away", "bob away for alice");
  a.s.sendText("two");
  a.s.sendText("three");
  await wait(() => a.acks.length === 3, "alice's three acked");
  a.cut();
  a.s.stop();

  // Alice is away while both recipients come back and open everything.
  const b2 = member(portB, "bob", room, ib, cb);
  all.push(b2);
  const c2 = member(portB, "carol", room, ic, cc);
  all.push(c2);
  await wait(() => b2.texts.length === 2 && c2.texts.length === 3, "bob and carol caught up");
  await new Promise((r) => setTimeout(r, 400)); // their receipts (batched by 100 ms) stored

  const a2 = member(portA, "alice", room, ia, ca);
  all.push(a2);
  await wait(() => a2.resumed === 1, "alice resumed");
  await wait(() => a2.delivered.length >= 3, "alice told the three counts she missed", 5_000);
  await new Promise((r) => setTimeout(r, 500)); // and nothing more comes
  const seqs = a.acks.map((x) => x.seq!);
  expect(a2.delivered.map((d) => [d.seq, d.delivered, d.of])).toEqual(seqs.map((s) => [s, 2, 2]));
  expectNoRepeat([...a.delivered, ...a2.delivered]);
  a2.cut();
  a2.s.stop();

  // Told is recorded: the next resume brings no count again.
  const a3 = member(portA, "alice", room, ia, ca);
  all.push(a3);
  await wait(() => a3.resumed === 1, "alice resumed again");
  await new Promise((r) => setTimeout(r, 500));
  expect(a3.delivered).toEqual([]);
  for (const x of [a3, b2, c2, b, c]) x.s.stop();
}

describe("receipts for an away sender (one core, SQLite)", () => {
  it("a sender away while its messages are opened gets each count once on resume, and none again", async () => {
    const dir = mkdtempSync(pjoin(tmpdir(), "sealroom-receipts-"));
    dirs.push(dir);
    const core = await startCore({ store: { sqlite: dir } });
    cores.push(core);
    await awaySenderStory(
      () => core.port,
      () => core.port,
      "rcpt1",
    );
  });

  it("what the sender was told survives a restart of the core: after it, only the count that grew is told", async () => {
    const dir = mkdtempSync(pjoin(tmpdir(), "sealroom-receipts-"));
    dirs.push(dir);
    let core = await startCore({ store: { sqlite: dir } });
    const room = "rcpt2";
    const [ia, ib, ic] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
    const [ca, cb, cc] = [new MemoryCursorStore(), new MemoryCursorStore(), new MemoryCursorStore()];
    const a = member(() => core.port, "alice", room, ia, ca);
    await until(() => a.s.state === "online", "alice online");
    const b = member(() => core.port, "bob", room, ib, cb);
    const c = member(() => core.port, "carol", room, ic, cc);
    await until(() => a.s.members.size === 3 && c.s.members.size === 3, "all three");
    c.cut();
    await until(() => a.s.members.get(ic.id)?.member.presence === "away", "carol away");
    a.s.sendText("to both");
    a.s.sendText("to bob", [ib.id]);
    await until(() => a.delivered.length === 2, "both told live: 1 of 2, 1 of 1");
    expect(a.delivered.map((d) => [d.delivered, d.of])).toEqual([
      [1, 2],
      [1, 1],
    ]);
    for (const x of [a, b]) {
      x.cut();
      x.s.stop();
    }
    c.s.stop();
    await core.stop();
    core = await startCore({ store: { sqlite: dir } });
    cores.push(core);
    const c2 = member(() => core.port, "carol", room, ic, cc);
    await until(() => c2.texts.length === 1, "carol opened what she missed");
    await new Promise((r) => setTimeout(r, 400));
    const a2 = member(() => core.port, "alice", room, ia, ca);
    await until(() => a2.resumed === 1, "alice resumed after the restart");
    await until(() => a2.delivered.length >= 1, "the grown count", 5_000);
    await new Promise((r) => setTimeout(r, 400));
    expect(a2.delivered.map((d) => [d.seq, d.delivered, d.of])).toEqual([[a.delivered[0].seq, 2, 2]]);
    a2.s.stop();
    c2.s.stop();
  });
});

describe.runIf(natsServerInstalled() || process.env.CI)("receipts across cores", { timeout: 90_000 }, () => {
  const pair = async (ns: string): Promise<[CoreServer, CoreServer]> => {
    nats ??= await startNats();
    const c = await clusterCores(nats.url, ns, ["a", "b"], (name) => ({
      // 200 sends and receipts back to back: past the default 50 frames/s per connection
      limits: { rateLimitPerSec: 5_000, rateLimitBurst: 5_000 },
      ...(process.env.RX_LOG ? { log: createLogger("warn", name) } : {}),
    }));
    nodes.push(...c.nodes);
    cores.push(...c.cores);
    return c.cores as [CoreServer, CoreServer];
  };

  it("a receipt on core B reaches the sender on core A within a bound, each (seq, D) once; latency over 200 messages", async () => {
    const [A, B] = await pair(`rx${process.pid % 10_000}`);
    const room = "xreceipts";
    const a = await join(A.port, { name: "alice", room, caps: ["durable"] });
    await a.peer.nextT("resumed");
    const b = await join(B.port, { name: "bob", room, caps: ["durable"] });
    await b.peer.nextT("resumed");
    const bid = b.welcome.id;
    await a.peer.next((m) => m.t === "joined" && (m.member as { id: string }).id === bid, 10_000);
    const env = {
      alg: "RSA-OAEP-256+A256GCM",
      iv: "AAAAAAAAAAAAAAAA",
      ct: "A".repeat(32),
      keys: { [bid]: "AAAA" },
      sig: "c2ln",
    };
    const N = 200;
    const lat: number[] = [];
    for (let i = 0; i < N; i++) {
      const mid = `x${i}`;
      a.peer.send({ t: "send", mid, to: [bid], env });
      const msg = await b.peer.next((m) => m.t === "msg" && m.mid === mid, 10_000);
      const seq = msg.seq as number;
      const t0 = performance.now();
      b.peer.send({ t: "receipt", seqs: [seq] });
      await a.peer
        .next((m) => m.t === "delivered" && m.seq === seq, i === 0 ? 5_000 : 3_000)
        .catch((e) => {
          throw new Error(`message ${i} seq ${seq}: ${String(e).slice(0, 80)}`);
        });
      lat.push(performance.now() - t0);
    }
    const told = a.peer.messages.filter((m): m is Received & Delivered => m.t === "delivered");
    expect(told).toHaveLength(N);
    for (const d of told) expect(d).toMatchObject({ delivered: 1, of: 1 });
    expectNoRepeat(told);
    // a repeated receipt counts nothing and tells nothing
    b.peer.send({ t: "receipt", seqs: [told[0].seq] });
    await new Promise((r) => setTimeout(r, 300));
    expect(a.peer.messages.filter((m) => m.t === "delivered")).toHaveLength(N);
    lat.sort((x, y) => x - y);
    const q = (p: number) => lat[Math.min(lat.length - 1, Math.floor(p * lat.length))];
    console.log(
      `cross-core delivered (receipt on core B -> delivered on core A), ${N} messages: p50 ${q(0.5).toFixed(1)} ms, p99 ${q(0.99).toFixed(1)} ms, max ${lat[lat.length - 1].toFixed(1)} ms`,
    );
    expect(q(0.99)).toBeLessThan(1_000);
    a.peer.close();
    b.peer.close();
  });

  it("a sender on core A away while recipients on core B open its messages gets the counts once on resume", async () => {
    const [A, B] = await pair(`ry${process.pid % 10_000}`);
    await awaySenderStory(
      () => A.port,
      () => B.port,
      "xaway",
    );
  });
});
