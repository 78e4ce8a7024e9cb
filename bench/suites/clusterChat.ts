// Cluster suite, chat: 1 sender to R receivers (ClientSessions in the bench
// process, so real sealing and opening and one clock) through the lone core
// and through 1, 2 and 3 cluster cores with the receivers spread over them;
// latency per delivery and to the last recipient, and each process's CPU per
// message (the chatting window minus its idle rate).

import { failoverConnector, tcpConnector } from "../../client/tcp";
import type { Identity } from "../../protocol/crypto";
import { ClientSession } from "../../protocol/session";
import { identities } from "../lib/keys";
import { selfCpu, type CoreProc } from "../lib/procs";
import { sleep } from "../lib/stats";
import { pct, treeMs, type Rig } from "./clusterRig";

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
