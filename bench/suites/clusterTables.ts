// The cluster suite's figures as markdown tables, its "reported" rows for the
// targets table, and the capacity-vs-nodes reading of the per-node costs: one
// rendering for docs/benchmarks.md (bench/report.ts) and the standalone CLIs
// (bench/cluster-{chat,store,party}.ts).

import type { TargetCheck } from "../report";
import type { ClusterChat, ClusterParty, ClusterResult, ClusterStore } from "./cluster";

const f1 = (x: number) => (Number.isFinite(x) ? x.toFixed(1) : "n/a");
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : "n/a");
const x2 = (x: number) => (Number.isFinite(x) ? `x${x.toFixed(2)}` : "n/a");

function table(head: string[], rows: (string | number)[][]): string {
  return [
    `| ${head.join(" | ")} |`,
    `|${head.map(() => "---").join("|")}|`,
    ...rows.map((r) => `| ${r.join(" | ")} |`),
  ].join("\n");
}

export interface NodesCost {
  nodes: number;
  /** The busiest cluster core's CPU per message sent (chatting minus idle), ms. */
  busiestMs: number;
  busiest: string;
  /** All cluster cores together per message, ms. */
  allCoresMs: number;
  natsMs: number;
  /** busiest at 1 node / busiest at this many: the chat rate a cluster with one machine per node would carry, relative to one. */
  capacity: number;
}

/** Per-node cost of chat at 1, 2 and 3 nodes, and what it projects for capacity with a machine per node. */
export function chatNodesCost(c: ClusterChat): NodesCost[] {
  const rows = c.rows.filter((r) => r.nodes > 0);
  const out = rows.map((r) => {
    const cores = r.cpu.filter((x) => /^c\d$/.test(x.name));
    const top = cores.reduce((a, b) => (b.perMessageMs > a.perMessageMs ? b : a), cores[0]!);
    return {
      nodes: r.nodes,
      busiestMs: top.perMessageMs,
      busiest: top.name,
      allCoresMs: cores.reduce((s, x) => s + x.perMessageMs, 0),
      natsMs: r.cpu.find((x) => x.name === "nats-server")?.perMessageMs ?? NaN,
      capacity: NaN,
    };
  });
  const one = out.find((x) => x.nodes === 1)?.busiestMs ?? NaN;
  for (const x of out) x.capacity = one / x.busiestMs;
  return out;
}

export function chatTables(c: ClusterChat): string[] {
  const single = c.rows.find((r) => r.nodes === 0);
  const out: string[] = [];
  out.push(
    `Chat, ${c.rate} msg/s for ${c.seconds} s from 1 sender to ${c.receivers} receivers (ClientSessions in the bench process: real sealing and opening, so one clock; sender on c0, receiver i on core i mod k). ` +
      `Latency from \`sendText\` to each recipient's \`message\` event ("per delivery") and to the last recipient of each message ("to all"); ratios to the single core in the same run.`,
    "",
  );
  out.push(
    table(
      [
        "path",
        "delivered",
        "per delivery p50",
        "p99",
        "to all p50",
        "p99",
        "p50 / single",
        "p99 / single",
        "loadgen CPU",
      ],
      c.rows.map((r) => [
        r.path,
        `${r.delivered} of ${r.expected}`,
        `${f1(r.p50)} ms`,
        `${f1(r.p99)} ms`,
        `${f1(r.allP50)} ms`,
        `${f1(r.allP99)} ms`,
        single ? x2(r.p50 / single.p50) : "",
        single ? x2(r.p99 / single.p99) : "",
        `${((r.loadgenMs / r.windowMs) * 100).toFixed(0)}%`,
      ]),
    ),
    "",
  );
  const names = ["lone core", "c0", "c1", "c2", "nats-server"];
  out.push(
    `CPU per message sent, ms (the chatting window minus the same process's idle rate, measured first), and in brackets per delivery to the receivers on that process; ` +
      `/proc counts CPU in 10 ms ticks, so ±${f2(10 / (c.rate * c.seconds))} ms per message is noise:`,
    "",
  );
  out.push(
    table(
      ["path", ...names],
      c.rows.map((r) => [
        r.path,
        ...names.map((n) => {
          const x = r.cpu.find((y) => y.name === n);
          if (!x) return "";
          return `${f2(x.perMessageMs)}${x.perDeliveryMs === null ? "" : ` (${f2(x.perDeliveryMs)}, ${x.receivers} there)`}`;
        }),
      ]),
    ),
    "",
  );
  const nc = chatNodesCost(c);
  out.push(
    `Capacity against nodes, as per-node cost: the three nodes, nats-server and the load generator share this machine's CPUs, so a bigger cluster cannot carry more here and no throughput is claimed. ` +
      `What a cluster with one machine per node would carry follows from its busiest node's CPU per message (with one sender its core also makes every append); nats-server's share does not fall with nodes.`,
    "",
  );
  out.push(
    table(
      [
        "nodes",
        "busiest node per message",
        "all cores per message",
        "nats-server per message",
        "projected chat rate vs 1 node",
      ],
      nc.map((x) => [
        x.nodes,
        `${f2(x.busiestMs)} ms (${x.busiest})`,
        `${f2(x.allCoresMs)} ms`,
        `${f2(x.natsMs)} ms`,
        x2(x.capacity),
      ]),
    ),
    "",
  );
  return out;
}

export function storeTables(s: ClusterStore): string[] {
  const mem = s.rows.find((r) => r.store === "memory");
  const sq = s.rows.find((r) => r.store === "sqlite");
  const js = s.rows.find((r) => r.store === "jetstream");
  const out: string[] = [];
  out.push(
    `Room log appends at ${s.rate}/s for ${s.seconds} s (open loop, latency from each append's scheduled time; a ${s.envelopeBytes}-byte envelope for 9 recipients; the store in the bench process, as in a core; one nats-server, R1, on loopback):`,
    "",
  );
  out.push(
    table(
      ["store", "append p50", "p99", "max", "p99 / memory", "CPU per 1k appends"],
      s.rows.map((r) => [
        r.label,
        `${f2(r.p50)} ms`,
        `${f2(r.p99)} ms`,
        `${f2(r.max)} ms`,
        mem ? f2(r.p99 / mem.p99) : "",
        `${r.cpuMsPer1k.toFixed(0)} ms`,
      ]),
    ),
    "",
  );
  out.push(
    `nats-server CPU during the JetStream run: ${s.natsCpuMsPer1k.toFixed(0)} ms per 1k appends. ` +
      (js && sq ? `JetStream / SQLite: p50 ${f2(js.p50 / sq.p50)}, p99 ${f2(js.p99 / sq.p99)}. ` : "") +
      `Resume of ${s.resume.entries} missed entries from JetStream (pages of 1,000): ${s.resume.ms.toFixed(0)} ms. ` +
      `Cross-core (A appends and notifies over core NATS, B's bus hears; ${s.crossCore.n} sequential): p50 ${f2(s.crossCore.appendP50)} ms, p99 ${f2(s.crossCore.appendP99)} ms; the note alone p50 ${f2(s.crossCore.noteP50)} ms, p99 ${f2(s.crossCore.noteP99)} ms.`,
    "",
  );
  return out;
}

export function partyTables(p: ClusterParty): string[] {
  const out: string[] = [];
  const ms = (x: number) => f1(x);
  out.push(
    `One party, ${p.clip}, ${p.viewers} raw viewers on a lone core, then the same ${p.viewers} spread over three cluster cores (the party started from c0); CPU in ms per s over the first ${p.seconds} s of the party minus the ${p.seconds} s before it (the idle rate in brackets); "decoder" is the core's ffmpeg children; ratio = this process's party CPU / the lone core's; /proc counts CPU in 10 ms ticks, so ±${f1(10 / p.seconds)} ms/s is noise.`,
    "",
  );
  const row = (x: ClusterParty["lone"]) => [
    x.name,
    x.viewers || "-",
    `${ms(x.coreMsPerS)} (${ms(x.idleCoreMsPerS)})`,
    ms(x.decodeMsPerS),
    ms(x.bothMsPerS),
    f2(x.ratio),
  ];
  out.push(
    table(
      ["process", "viewers there", "core process", "decoder (ffmpeg)", "both", "ratio to the lone core"],
      [
        row(p.lone),
        ...p.nodes.map(row),
        row(p.nats),
        ["three cores together", p.viewers, "", "", ms(p.sum.bothMsPerS), f2(p.sum.ratio)],
      ],
    ),
    "",
  );
  const fs = (x: ClusterParty["frames"]["lone"]) =>
    `${f2(x.min)} / ${f2(x.median)} (first frame index median ${x.firstMedian}, max ${x.firstMax})`;
  out.push(
    `Frames per viewer of the ${p.seconds * 30} due (worst / median): lone core ${fs(p.frames.lone)}; cluster ${fs(p.frames.cluster)}. ` +
      `Each node pays its own decode plus the fan-out to its own viewers: three machines would each pay one node's row, so the viewers a cluster carries grow with nodes at that per-node cost, with one decode per node on top.`,
    "",
  );
  return out;
}

/** The docs/benchmarks.md section. */
export function clusterMarkdown(c: ClusterResult): string[] {
  const out: string[] = [`## 8. Cluster on NATS JetStream (issue 15)`, ""];
  if (c.skipped) return [...out, `> ${c.skipped}`, ""];
  out.push(
    `A lone core (\`--store memory\`, no NATS) and three \`--cluster\` cores on one nats-server (${c.natsServer ?? "nats-server"}, JetStream file store), all processes on this machine. docs/scaling.md reads these figures for capacity planning.`,
    "",
  );
  if (c.chat) out.push(...chatTables(c.chat));
  if (c.store) out.push(...storeTables(c.store));
  if (c.party) out.push(...partyTables(c.party));
  return out;
}

/** The issue names no numeric target for these: they are reported rows. */
export function clusterTargets(c: ClusterResult): TargetCheck[] {
  if (c.skipped)
    return [{ name: "cluster suite", target: "reported", value: c.skipped.replace(/^cluster suite /, ""), met: null }];
  const out: TargetCheck[] = [];
  const single = c.chat?.rows.find((r) => r.nodes === 0);
  const three = c.chat?.rows.find((r) => r.nodes === 3);
  if (single && three)
    out.push({
      name: `chat per delivery p50 / p99, spread over 3 cores vs a single core (${c.chat!.rate} msg/s, ${c.chat!.receivers} receivers)`,
      target: "reported",
      value: `${f1(three.p50)} / ${f1(three.p99)} ms vs ${f1(single.p50)} / ${f1(single.p99)} ms (${x2(three.p50 / single.p50)} / ${x2(three.p99 / single.p99)})`,
      met: null,
    });
  if (c.party) {
    const p = c.party;
    const r = p.nodes.map((x) => x.ratio);
    out.push({
      name: `party CPU per node, 3 cores (${p.viewers / 3} viewers each) vs a lone core with ${p.viewers}`,
      target: "reported",
      value: `x${f2(Math.min(...r))}-${f2(Math.max(...r))} per node, ${x2(p.sum.ratio)} the three together`,
      met: null,
    });
  }
  if (c.chat) {
    const nc = chatNodesCost(c.chat);
    out.push({
      name: "capacity vs nodes, as per-node cost (the nodes share 2 CPUs here)",
      target: "reported",
      value: `chat: busiest node ${nc.map((x) => f2(x.busiestMs)).join(" / ")} ms per message at ${nc.map((x) => x.nodes).join(" / ")} nodes (${nc.map((x) => x2(x.capacity)).join(" / ")} the rate with a machine per node)${c.party ? `; party: each node x${f2(Math.max(...c.party.nodes.map((x) => x.ratio)))} the lone core's CPU for a third of its viewers` : ""}`,
      met: null,
    });
  }
  if (c.store) {
    const js = c.store.rows.find((r) => r.store === "jetstream");
    const sq = c.store.rows.find((r) => r.store === "sqlite");
    if (js && sq)
      out.push({
        name: `room log append p50 / p99 at ${c.store.rate}/s: JetStream vs SQLite`,
        target: "reported",
        value: `${f2(js.p50)} / ${f2(js.p99)} ms vs ${f2(sq.p50)} / ${f2(sq.p99)} ms`,
        met: null,
      });
  }
  return out;
}
