// The cluster suite (issue 15, Performance; `npm run bench -- --only cluster`):
// chat latency through a lone core and through 1, 2 and 3 cores of a cluster
// on one nats-server in the same run (members spread over the cores), the
// JetStream room log's append cost beside the memory and SQLite stores, and
// the per-node CPU of one watch party over three cores against a lone core
// with the same viewers. bench/cluster-{chat,store,party}.ts are CLIs over
// these functions. On this 2-core machine the nodes, nats-server and the load
// generator share the CPUs, so the figures are per-node costs, not capacity.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import { failoverConnector, tcpConnector } from "../../client/tcp";
import { findNatsServer, NATS_MISSING, startNats, type NatsServer } from "../../common/nats";
import type { Identity } from "../../protocol/crypto";
import { ClientSession } from "../../protocol/session";
import { Bus, type SeqNote } from "../../server/cluster/bus";
import { JetStreamStore } from "../../server/cluster/jetstreamStore";
import { MemoryStore } from "../../server/store/memoryStore";
import type { RoomStore } from "../../server/store/roomStore";
import { SqliteStore } from "../../server/store/sqliteStore";
import { cpuMsOf } from "../../tests/helpers/security-support";
import { clip } from "../lib/clips";
import { identities } from "../lib/keys";
import { joinMany, parseBody, type Member } from "../lib/member";
import { selfCpu, startCoreProc, treeCpu, type CoreProc } from "../lib/procs";
import { percentile, sleep, sortNum } from "../lib/stats";

/** nats-server found (PATH, /usr/sbin, $NATS_SERVER), or the one-line reason the suite is skipped. */
export function natsCheck(): { ok: true; bin: string } | { ok: false; reason: string } {
  const bin = findNatsServer();
  return bin ? { ok: true, bin } : { ok: false, reason: NATS_MISSING };
}

const pct = (xs: readonly number[], p: number) => percentile(sortNum(xs), p);

// ---- the rig: one nats-server, a lone core, three cluster cores ----------------------------

export interface Rig {
  nats: NatsServer;
  /** `sealroom server --store memory`, no NATS. */
  lone: CoreProc;
  /** Three `--cluster` nodes c0, c1, c2 on `nats`. */
  cores: CoreProc[];
  videos: string;
  stop(): Promise<void>;
}

let rigs = 0;

/** Starts nats-server and the four cores (in parallel); `limits` go to every core. */
export async function startRig(opts: { videos: string; limits?: Record<string, number> }): Promise<Rig> {
  const nats = await startNats();
  const cacheDirs: string[] = [];
  const cache = () => {
    const d = mkdtempSync(join(tmpdir(), "sealroom-bench-cluster-cache-"));
    cacheDirs.push(d);
    return d;
  };
  const namespace = `b${process.pid}n${rigs++}`;
  const started: CoreProc[] = [];
  const stop = async () => {
    await Promise.all(started.map((p) => p.stop()));
    await nats.cleanup();
    for (const d of cacheDirs) rmSync(d, { recursive: true, force: true });
  };
  try {
    const all = await Promise.all([
      startCoreProc({ videos: opts.videos, cacheDir: cache(), limits: opts.limits, store: "memory" }).then((p) => {
        started.push(p);
        return p;
      }),
      ...[0, 1, 2].map((i) =>
        startCoreProc({
          videos: opts.videos,
          cacheDir: cache(),
          limits: opts.limits,
          cluster: { url: nats.url, node: `c${i}`, namespace },
        }).then((p) => {
          started.push(p);
          return p;
        }),
      ),
    ]);
    return { nats, lone: all[0]!, cores: all.slice(1), videos: opts.videos, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}

/** CPU ms so far of a process itself (no children) or of its whole tree. */
const treeMs = (pid: number) => treeCpu(pid) * 1000;

// ---- chat -------------------------------------------------------------------------------

export interface NodeCpu {
  /** c0, c1, c2, "lone core" or "nats-server". */
  name: string;
  /** Receivers connected to it (for nats-server: all of them). */
  receivers: number;
  /** CPU ms over the chatting window. */
  ms: number;
  /** CPU ms the same process used idle, scaled to the window's length. */
  idleMs: number;
  /** (ms - idleMs) / messages sent. */
  perMessageMs: number;
  /** (ms - idleMs) / deliveries to its receivers; null with none there. */
  perDeliveryMs: number | null;
}

export interface ChatRow {
  path: string;
  /** 0: the lone core; else how many cluster cores the members were spread over. */
  nodes: number;
  sent: number;
  delivered: number;
  expected: number;
  /** Per delivery, sendText -> the recipient's `message` event, ms. */
  p50: number;
  p99: number;
  /** Per message, to its last recipient, ms. */
  allP50: number;
  allP99: number;
  cpu: NodeCpu[];
  /** The load generator (this process: sealing and opening every message), CPU ms over the window. */
  loadgenMs: number;
  windowMs: number;
}

export interface ClusterChat {
  rate: number;
  seconds: number;
  receivers: number;
  rows: ChatRow[];
}

async function session(identity: Identity, name: string, room: string, port: number): Promise<ClientSession> {
  const s = new ClientSession({
    identity,
    name,
    room,
    agent: "bench",
    durable: true,
    connect: failoverConnector([tcpConnector({ host: "127.0.0.1", port })]),
    recipientWaitMs: 0,
  });
  s.start();
  return s;
}

async function until(cond: () => boolean, ms: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error(`bench: timed out waiting for ${what}`);
    await sleep(20);
  }
}

/** One sender on nodes[0], receiver i on nodes[i % nodes.length]; `watch` are the processes whose CPU is read. */
async function chatRow(
  o: { rate: number; seconds: number; ids: Identity[]; log: (s: string) => void },
  path: string,
  room: string,
  nodes: CoreProc[],
  watch: { name: string; pid: number; receivers: number; idleMsPerS: number }[],
  nodeCount: number,
): Promise<ChatRow> {
  const receiverIds = o.ids.slice(1);
  const sender = await session(o.ids[0]!, "sender", room, nodes[0]!.port);
  const receivers = await Promise.all(
    receiverIds.map((id, i) => session(id, `r${i}`, room, nodes[i % nodes.length]!.port)),
  );
  const all = [sender, ...receivers];
  try {
    await until(
      () => all.every((s) => s.state === "online" && s.members.size === all.length),
      60_000,
      `${path}: everyone in the room`,
    );
    const sentAt = new Map<string, number>();
    const lat: number[] = [];
    const last = new Map<string, { n: number; at: number }>();
    for (const r of receivers)
      r.on("message", (e) => {
        const t = e.ok ? sentAt.get(e.text) : undefined;
        if (t === undefined || !e.ok) return;
        const now = performance.now();
        lat.push(now - t);
        const l = last.get(e.text) ?? { n: 0, at: 0 };
        last.set(e.text, { n: l.n + 1, at: now });
      });
    // warm up (JIT, the room's stream, subscriptions)
    for (let i = 0; i < 20; i++) {
      sender.sendText(`warm${i}`);
      await sleep(20);
    }
    await sleep(500);
    const c0 = watch.map((w) => treeMs(w.pid));
    const l0 = selfCpu();
    const n = o.rate * o.seconds;
    const t0 = performance.now();
    for (let i = 0; i < n; i++) {
      const wait = t0 + (i * 1000) / o.rate - performance.now();
      if (wait > 1) await sleep(wait);
      const text = `m${i}`;
      sentAt.set(text, performance.now());
      sender.sendText(text);
    }
    const expected = n * receivers.length;
    await until(() => lat.length >= expected, 30_000, `${path}: every delivery`).catch(() => {});
    const windowMs = performance.now() - t0;
    const loadgenMs = (selfCpu() - l0) * 1000;
    const cpu = watch.map((w, i): NodeCpu => {
      const ms = treeMs(w.pid) - c0[i]!;
      const idleMs = (w.idleMsPerS * windowMs) / 1000;
      const net = ms - idleMs;
      return {
        name: w.name,
        receivers: w.receivers,
        ms,
        idleMs,
        perMessageMs: net / n,
        perDeliveryMs: w.receivers > 0 ? net / (n * w.receivers) : null,
      };
    });
    const toAll = [...sentAt].flatMap(([text, at]) => {
      const l = last.get(text);
      return l && l.n === receivers.length ? [l.at - at] : [];
    });
    const row: ChatRow = {
      path,
      nodes: nodeCount,
      sent: n,
      delivered: lat.length,
      expected,
      p50: pct(lat, 50),
      p99: pct(lat, 99),
      allP50: pct(toAll, 50),
      allP99: pct(toAll, 99),
      cpu,
      loadgenMs,
      windowMs,
    };
    o.log(
      `    ${path}: ${row.delivered} of ${expected} deliveries, p50 ${row.p50.toFixed(1)} ms, p99 ${row.p99.toFixed(1)} ms; to all p50 ${row.allP50.toFixed(1)}, p99 ${row.allP99.toFixed(1)} ms`,
    );
    return row;
  } finally {
    for (const s of all) s.stop();
    await sleep(300);
  }
}

/**
 * Chat at `rate` msg/s for `seconds` from 1 sender to `receivers` members: a lone
 * core, then the cluster with the members on 1, 2 and 3 of its cores (sender on
 * c0, receiver i on core i % k). CPU per node is the chatting window minus the
 * same process's idle rate (heartbeats, link probes), measured first.
 */
export async function clusterChat(
  rig: Rig,
  o: { rate: number; seconds: number; receivers: number; log: (s: string) => void },
): Promise<ClusterChat> {
  const ids = await identities(o.receivers + 1);
  const nats = { name: "nats-server", pid: rig.nats.pid() };
  const procs = [
    ...rig.cores.map((c, i) => ({ name: `c${i}`, pid: c.pid })),
    nats,
    { name: "lone core", pid: rig.lone.pid },
  ];
  const i0 = procs.map((p) => treeMs(p.pid));
  const idleS = Math.max(2, Math.min(5, o.seconds));
  await sleep(idleS * 1000);
  const idleMsPerS = new Map(procs.map((p, i) => [p.name, (treeMs(p.pid) - i0[i]!) / idleS]));
  const idle = (name: string) => idleMsPerS.get(name) ?? 0;
  const rows: ChatRow[] = [];
  const m = { rate: o.rate, seconds: o.seconds, ids, log: o.log };
  rows.push(
    await chatRow(
      m,
      "single core (memory store, no NATS)",
      "bench-lone",
      [rig.lone],
      [{ name: "lone core", pid: rig.lone.pid, receivers: o.receivers, idleMsPerS: idle("lone core") }],
      0,
    ),
  );
  for (const k of [1, 2, 3]) {
    const on = rig.cores.slice(0, k);
    const there = (i: number) =>
      i < k ? Array.from({ length: o.receivers }, (_x, j) => j % k).filter((x) => x === i).length : 0;
    rows.push(
      await chatRow(
        m,
        k === 1 ? "cluster, 1 core (JetStream append)" : `cluster, spread over ${k} cores`,
        `bench-k${k}`,
        on,
        [
          ...rig.cores.map((c, i) => ({ name: `c${i}`, pid: c.pid, receivers: there(i), idleMsPerS: idle(`c${i}`) })),
          { ...nats, receivers: o.receivers, idleMsPerS: idle("nats-server") },
        ],
        k,
      ),
    );
  }
  return { rate: o.rate, seconds: o.seconds, receivers: o.receivers, rows };
}

// ---- the room log: memory vs SQLite vs JetStream -----------------------------------------

export interface StoreRow {
  store: "memory" | "sqlite" | "jetstream";
  label: string;
  p50: number;
  p99: number;
  max: number;
  /** CPU of this process (where the store runs, as in a core) per 1,000 appends, ms. */
  cpuMsPer1k: number;
  n: number;
}

export interface ClusterStore {
  rate: number;
  seconds: number;
  envelopeBytes: number;
  rows: StoreRow[];
  /** nats-server's CPU per 1,000 appends during the JetStream run, ms. */
  natsCpuMsPer1k: number;
  resume: { entries: number; ms: number };
  /** A appends and notifies over core NATS, B's bus hears: from the append's start, and the note alone. */
  crossCore: { n: number; appendP50: number; appendP99: number; noteP50: number; noteP99: number };
}

const sid = (s: string) => s.padEnd(22, "x").slice(0, 22);
const FROM = sid("sender");
const TO = Array.from({ length: 9 }, (_x, i) => sid(`member${i}`));
// about the size of a sealed 10-member chat envelope
const ENV = JSON.stringify({
  alg: "RSA-OAEP-256+A256GCM",
  iv: "A".repeat(16),
  ct: "c".repeat(200),
  keys: Object.fromEntries(TO.map((t) => [t, "k".repeat(342)])),
  sig: "s".repeat(342),
});

/** Open loop: one append every 1/rate s, latency from its scheduled time (no coordinated omission). */
async function appendRun(
  store: RoomStore,
  room: string,
  rate: number,
  seconds: number,
): Promise<Omit<StoreRow, "store" | "label">> {
  const n = rate * seconds;
  const lat: number[] = [];
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const from = Math.min(due, performance.now()); // a late issue counts its lateness; an early one counts from its issue
    pending.push(
      store.append(room, { from: FROM, mid: `m${i}`, to: TO, env: ENV, at: Date.now() }).then(() => {
        lat.push(performance.now() - from);
      }),
    );
  }
  await Promise.all(pending);
  const c = process.cpuUsage(c0);
  return { p50: pct(lat, 50), p99: pct(lat, 99), max: Math.max(...lat), cpuMsPer1k: (c.user + c.system) / n, n };
}

/**
 * Append latency at `rate`/s for `seconds` into memory, SQLite and JetStream
 * (this process is the core), a `resume`-entry read from JetStream in pages of
 * 1,000, and `crossSamples` sequential cross-core notes between two buses.
 */
export async function clusterStore(
  nats: NatsServer,
  o: { rate: number; seconds: number; resume: number; crossSamples: number; log: (s: string) => void },
): Promise<ClusterStore> {
  const dir = mkdtempSync(join(tmpdir(), "sealroom-bench-cluster-store-"));
  const ns = `s${process.pid}n${rigs++}`;
  const ncA = await connect({ servers: nats.url });
  const ncB = await connect({ servers: nats.url });
  const js = new JetStreamStore({ nc: ncA, namespace: ns });
  try {
    const rows: StoreRow[] = [];
    rows.push({
      store: "memory",
      label: "memory",
      ...(await appendRun(new MemoryStore(), "bench", o.rate, o.seconds)),
    });
    const sq = new SqliteStore(join(dir, "sqlite"));
    rows.push({
      store: "sqlite",
      label: "SQLite (WAL, synchronous=FULL, group commit)",
      ...(await appendRun(sq, "bench", o.rate, o.seconds)),
    });
    await sq.close();
    await js.append("warm", { from: FROM, mid: "w", to: TO, env: ENV, at: Date.now() });
    const n0 = treeMs(nats.pid());
    const jet = await appendRun(js, "bench", o.rate, o.seconds);
    const natsCpuMsPer1k = ((treeMs(nats.pid()) - n0) * 1000) / jet.n;
    rows.push({ store: "jetstream", label: "JetStream (file store, R1, loopback)", ...jet });
    for (const r of rows)
      o.log(
        `    append ${r.label}: p50 ${r.p50.toFixed(2)} ms, p99 ${r.p99.toFixed(2)} ms, CPU ${r.cpuMsPer1k.toFixed(0)} ms per 1k`,
      );
    o.log(`    nats-server CPU during the JetStream run: ${natsCpuMsPer1k.toFixed(0)} ms per 1k appends`);

    // resume: a member reads the missed entries in pages of 1,000
    for (let i = 0; i < o.resume; i += 1_000)
      await Promise.all(
        Array.from({ length: Math.min(1_000, o.resume - i) }, (_x, k) =>
          js.append("resume", { from: FROM, mid: `r${i + k}`, to: TO, env: ENV, at: Date.now() }),
        ),
      );
    const tr = performance.now();
    let got = 0;
    for (let cursor = 0; ;) {
      const page = await js.readAfter("resume", TO[0]!, cursor, 1_000);
      if (page.length === 0) break;
      got += page.length;
      cursor = page[page.length - 1]!.seq;
    }
    const resume = { entries: got, ms: performance.now() - tr };
    o.log(`    JetStream resume of ${got} missed entries (pages of 1,000): ${resume.ms.toFixed(0)} ms`);

    // cross-core: A appends and notifies; B hears the note (what wakes B's members)
    const a = await Bus.start({ nc: ncA, node: "a", namespace: ns });
    const b = await Bus.start({ nc: ncB, node: "b", namespace: ns });
    try {
      await a.joinRoom("xcore");
      await b.joinRoom("xcore");
      await sleep(200);
      const noteLat: number[] = [];
      const appendLat: number[] = [];
      for (let i = 0; i < o.crossSamples; i++) {
        const t = performance.now();
        const r = await js.append("xcore", { from: FROM, mid: `x${i}`, to: TO, env: ENV, at: Date.now() });
        const tn = performance.now();
        const heard = new Promise<void>((res) => {
          const on = (note: SeqNote) => {
            if (note.seq !== r.seq) return;
            b.events.off("seq", on);
            const now = performance.now();
            noteLat.push(now - tn);
            appendLat.push(now - t);
            res();
          };
          b.events.on("seq", on);
        });
        a.notifySeq("xcore", r.seq);
        await heard;
      }
      const crossCore = {
        n: o.crossSamples,
        appendP50: pct(appendLat, 50),
        appendP99: pct(appendLat, 99),
        noteP50: pct(noteLat, 50),
        noteP99: pct(noteLat, 99),
      };
      o.log(
        `    cross-core (append, note, the other bus hears): p50 ${crossCore.appendP50.toFixed(2)} ms, p99 ${crossCore.appendP99.toFixed(2)} ms; the note alone p50 ${crossCore.noteP50.toFixed(2)}, p99 ${crossCore.noteP99.toFixed(2)} ms`,
      );
      return { rate: o.rate, seconds: o.seconds, envelopeBytes: ENV.length, rows, natsCpuMsPer1k, resume, crossCore };
    } finally {
      a.close();
      b.close();
    }
  } finally {
    await js.close();
    await ncA.close();
    await ncB.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---- one watch party over three cores ----------------------------------------------------

export interface PartyNode {
  name: string;
  viewers: number;
  /** The core process itself (fan-out, pacing, control), ms CPU per s, party minus idle. */
  coreMsPerS: number;
  /** Its ffmpeg children (decoding), ms CPU per s, party minus idle. */
  decodeMsPerS: number;
  /** The core process's idle rate before the party, ms per s. */
  idleCoreMsPerS: number;
  bothMsPerS: number;
  /** bothMsPerS / the lone core's. */
  ratio: number;
}

export interface FrameShare {
  /** Whole frames got / due: the worst viewer and the median one. */
  min: number;
  median: number;
  /** Index of each viewer's first frame: median and max (0 = the party's first). */
  firstMedian: number;
  firstMax: number;
}

export interface ClusterParty {
  clip: string;
  viewers: number;
  seconds: number;
  lone: PartyNode;
  nodes: PartyNode[];
  nats: PartyNode;
  /** The three nodes together. */
  sum: { bothMsPerS: number; ratio: number };
  frames: { lone: FrameShare; cluster: FrameShare };
}

interface Usage {
  core: number;
  decode: number;
}

const usage = (pid: number): Usage => {
  const core = cpuMsOf(pid);
  return { core, decode: Math.max(0, treeMs(pid) - core) };
};
const minus = (a: Usage, b: Usage): Usage => ({ core: a.core - b.core, decode: a.decode - b.decode });

/** Whole frames each viewer got (first chunk of each frame of its own stream's sid). */
function countFrames(members: Member[]): () => { counts: number[]; first: number[] } {
  const counts = members.map(() => 0);
  const first = members.map(() => -1);
  members.forEach((m, i) => {
    let streamId = -1;
    m.onControl = (t, body) => {
      if (t === "stream") streamId = parseBody<{ sid: number }>(body).sid;
    };
    m.onVideo = (b) => {
      if (b.readUInt32BE(0) !== streamId || b.readUInt16BE(12) !== 0) return;
      counts[i]!++;
      if (first[i] === -1) first[i] = b.readUInt32BE(4);
    };
  });
  return () => ({ counts: [...counts], first: [...first] });
}

async function party(
  label: string,
  pids: number[],
  ports: number[],
  room: string,
  videoId: string,
  viewers: number,
  seconds: number,
): Promise<{ cpu: Usage[]; idle: Usage[]; counts: number[]; first: number[]; per: number[] }> {
  const ids = await identities(viewers);
  const members: Member[] = [];
  const per: number[] = [];
  for (let k = 0; k < ports.length; k++) {
    const mine = ids.filter((_x, i) => i % ports.length === k);
    per.push(mine.length);
    members.push(
      ...(await joinMany({ transport: "tcp", host: "127.0.0.1", port: ports[k]! }, mine, room, `${label}${k}-`)),
    );
  }
  try {
    const frames = countFrames(members);
    await sleep(1_000); // joins settle (every join goes to everyone)
    const idle0 = pids.map(usage);
    await sleep(seconds * 1000);
    const idle = pids.map((p, i) => minus(usage(p), idle0[i]!));
    const c0 = pids.map(usage);
    members[0]!.send({ t: "play", video: videoId, scope: "room" });
    await sleep(seconds * 1000);
    const cpu = pids.map((p, i) => minus(usage(p), c0[i]!));
    return { cpu, idle, per, ...frames() };
  } finally {
    for (const m of members) m.close();
    await sleep(500);
  }
}

/** The party's clip: 640x360@30 by default, long enough for `seconds` of party. */
export function partyClip(seconds: number, width = 640, height = 360) {
  return clip(width, height, Math.max(20, seconds + 10), 30);
}

/**
 * N raw viewers of one room party on the lone core, then the same N spread over
 * the three cluster cores (N/3 each, the party started from c0): CPU per node
 * over the first `seconds` of the party minus the `seconds` before it. The rig's
 * videos dir must hold `videoId` and its cores allow N members per room.
 */
export async function clusterParty(
  rig: Rig,
  o: { viewers: number; seconds: number; videoId: string; clipName: string; log: (s: string) => void },
): Promise<ClusterParty> {
  const { viewers: n, seconds } = o;
  const one = await party("s", [rig.lone.pid], [rig.lone.port], "bench-party-lone", o.videoId, n, seconds);
  const three = await party(
    "c",
    [...rig.cores.map((c) => c.pid), rig.nats.pid()],
    rig.cores.map((c) => c.port),
    "bench-party-cluster",
    o.videoId,
    n,
    seconds,
  );
  const node = (name: string, viewers: number, u: Usage, idle: Usage, base: number): PartyNode => {
    const core = (u.core - idle.core) / seconds;
    const decode = (u.decode - idle.decode) / seconds;
    return {
      name,
      viewers,
      coreMsPerS: core,
      decodeMsPerS: decode,
      idleCoreMsPerS: idle.core / seconds,
      bothMsPerS: core + decode,
      ratio: base ? (core + decode) / base : NaN,
    };
  };
  const lone = node("lone core (memory store, no NATS)", n, one.cpu[0]!, one.idle[0]!, 0);
  const base = lone.bothMsPerS;
  lone.ratio = 1;
  const nodes = [0, 1, 2].map((i) =>
    node(`cluster core c${i}${i === 0 ? " (started it)" : ""}`, three.per[i]!, three.cpu[i]!, three.idle[i]!, base),
  );
  const nats = node("nats-server", 0, three.cpu[3]!, three.idle[3]!, base);
  const sumBoth = nodes.reduce((s, x) => s + x.bothMsPerS, 0);
  const due = seconds * 30;
  const share = (r: { counts: number[]; first: number[] }): FrameShare => {
    const c = sortNum(r.counts);
    const f = sortNum(r.first);
    return {
      min: (c[0] ?? 0) / due,
      median: (c[c.length >> 1] ?? 0) / due,
      firstMedian: f[f.length >> 1] ?? -1,
      firstMax: f.at(-1) ?? -1,
    };
  };
  const res: ClusterParty = {
    clip: o.clipName,
    viewers: n,
    seconds,
    lone,
    nodes,
    nats,
    sum: { bothMsPerS: sumBoth, ratio: sumBoth / base },
    frames: { lone: share(one), cluster: share(three) },
  };
  o.log(
    `    party, ${n} viewers: lone core ${base.toFixed(0)} ms/s; per cluster node ${nodes.map((x) => `${x.bothMsPerS.toFixed(0)} (x${x.ratio.toFixed(2)})`).join(", ")}; three together x${res.sum.ratio.toFixed(2)}; nats-server ${nats.bothMsPerS.toFixed(1)} ms/s`,
  );
  return res;
}

// ---- the suite ----------------------------------------------------------------------------

export interface ClusterResult {
  /** Set when the suite did not run (nats-server missing); the rest is then absent. */
  skipped?: string;
  natsServer?: string;
  chat?: ClusterChat;
  store?: ClusterStore;
  party?: ClusterParty;
}

export interface ClusterParams {
  chat: { rate: number; seconds: number; receivers: number };
  store: { rate: number; seconds: number; resume: number; crossSamples: number };
  party: { viewers: number; seconds: number };
}

/** The whole suite on one rig; skipped with its reason when nats-server is not installed. */
export async function cluster(p: ClusterParams & { log: (s: string) => void }): Promise<ClusterResult> {
  const nc = natsCheck();
  if (!nc.ok) {
    const skipped = `cluster suite skipped: ${nc.reason}`;
    p.log(`    ${skipped}`);
    return { skipped };
  }
  const c = await partyClip(p.party.seconds);
  const rig = await startRig({ videos: c.dir, limits: { maxMembersPerRoom: Math.max(256, p.party.viewers + 8) } });
  try {
    p.log(`    chat, ${p.chat.rate} msg/s for ${p.chat.seconds} s, 1 sender -> ${p.chat.receivers} receivers`);
    const chat = await clusterChat(rig, { ...p.chat, log: p.log });
    p.log(`    room log appends at ${p.store.rate}/s for ${p.store.seconds} s`);
    const store = await clusterStore(rig.nats, { ...p.store, log: p.log });
    p.log(`    one party, ${c.width}x${c.height}@${c.fps}, ${p.party.viewers} viewers, ${p.party.seconds} s`);
    const party = await clusterParty(rig, {
      ...p.party,
      videoId: c.id,
      clipName: `${c.width}x${c.height}@${c.fps}`,
      log: p.log,
    });
    return { natsServer: nc.bin, chat, store, party };
  } finally {
    await rig.stop();
  }
}
