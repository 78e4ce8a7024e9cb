// `node --import tsx bench/cluster-chat.ts [--rate 20] [--seconds 10] [--receivers 9]`
// Chat latency through real cores (p50/p99, from sendText to the recipient's
// `message` event, both ClientSessions in this process, so one clock):
//   single core   a lone `sealroom server --store memory` (no NATS)
//   same core     both on core c0 of a three-core cluster on JetStream
//   cross core    sender on c0, receivers on c1 and c2
// plus each cluster core's CPU per 1,000 messages while `receivers` members
// spread over the three cores get every message (per-node cost: on this
// 2-core machine the three nodes and nats-server share the CPUs).

import { parseArgs } from "node:util";
import { failoverConnector, tcpConnector } from "../client/tcp";
import { generateIdentity, type Identity } from "../protocol/crypto";
import { ClientSession } from "../protocol/session";
import { startNats } from "../common/nats";
import { cpuMsOf, sleep, spawnCore, stopProc, type Spawned } from "../tests/helpers/security-support";

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "20" },
    seconds: { type: "string", default: "10" },
    receivers: { type: "string", default: "9" },
  },
});
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const RECEIVERS = Number(values.receivers);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};
const f = (ms: number) => `${ms.toFixed(1)} ms`;

async function session(identity: Identity, name: string, room: string, ports: number[]): Promise<ClientSession> {
  const s = new ClientSession({
    identity,
    name,
    room,
    agent: "bench",
    durable: true,
    connect: failoverConnector(ports.map((port) => tcpConnector({ host: "127.0.0.1", port }))),
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

/** One sender, receivers on the given cores; returns latencies (ms) over all deliveries and CPU ms per core. */
async function measure(
  label: string,
  room: string,
  senderPort: number,
  receiverPorts: number[],
  ids: Identity[],
  procs: Spawned[],
): Promise<{ lat: number[]; cpu: number[]; sent: number }> {
  const sender = await session(ids[0], "sender", room, [senderPort]);
  const receivers = await Promise.all(receiverPorts.map((p, i) => session(ids[i + 1], `r${i}`, room, [p])));
  const all = [sender, ...receivers];
  await until(
    () => all.every((s) => s.state === "online" && s.members.size === all.length),
    60_000,
    `${label}: everyone in the room`,
  );
  const sentAt = new Map<string, number>();
  const lat: number[] = [];
  for (const r of receivers) {
    r.on("message", (e) => {
      const t = e.ok ? sentAt.get(e.text) : undefined;
      if (t !== undefined) lat.push(performance.now() - t);
    });
  }
  // warm up (JIT, stream creation, subscriptions)
  for (let i = 0; i < 20; i++) {
    sender.sendText(`warm${i}`);
    await sleep(20);
  }
  await sleep(500);
  const c0 = procs.map((p) => cpuMsOf(p.pid));
  const n = RATE * SECONDS;
  const t0 = performance.now();
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await sleep(wait);
    const text = `m${i}`;
    sentAt.set(text, performance.now());
    sender.sendText(text);
  }
  await until(() => lat.length >= n * receivers.length, 30_000, `${label}: every delivery`).catch(() => {});
  const cpu = procs.map((p, i) => cpuMsOf(p.pid) - c0[i]);
  for (const s of all) s.stop();
  return { lat, cpu, sent: n };
}

const ids = await Promise.all(Array.from({ length: RECEIVERS + 1 }, () => generateIdentity({ modulusLength: 2048 })));
const nats = await startNats();
const single = await spawnCore(["--port", "0", "--store", "memory"]);
const cores: Spawned[] = [];
for (let i = 0; i < 3; i++)
  cores.push(
    await spawnCore([
      "--port",
      "0",
      "--cluster",
      nats.url,
      "--node",
      `b${i}`,
      "--cluster-namespace",
      `bench${process.pid}`,
    ]),
  );
try {
  const rows: string[] = [];
  const one = await measure("single core", "bench-single", single.port, [single.port], ids, [single]);
  const same = await measure("same core", "bench-same", cores[0].port, [cores[0].port], ids, cores);
  const cross = await measure("cross core", "bench-cross", cores[0].port, [cores[1].port], ids, cores);
  for (const [name, r] of [
    ["single core (memory store, no NATS)", one],
    ["cluster, same core", same],
    ["cluster, cross core", cross],
  ] as const) {
    rows.push(`| ${name} | ${r.lat.length} of ${r.sent} | ${f(pct(r.lat, 50))} | ${f(pct(r.lat, 99))} |`);
  }
  // fan-out: receivers spread over the three cores, sender on c0
  const spread = Array.from({ length: RECEIVERS }, (_, i) => cores[i % 3].port);
  const all = [...cores, { pid: nats.pid(), port: nats.port, proc: undefined as never }];
  // the idle cost over the same time (heartbeats, link probes, receipts' upkeep), to subtract
  const i0 = all.map((p) => cpuMsOf(p.pid));
  await sleep(SECONDS * 1000);
  const idle = all.map((p, i) => cpuMsOf(p.pid) - i0[i]);
  const fan = await measure("fan-out", "bench-fanout", cores[0].port, spread, ids, all);
  console.log(`\nchat latency, ${RATE} msg/s for ${SECONDS} s, 1 sender -> 1 receiver (sendText to message event):\n`);
  console.log("| path | delivered | p50 | p99 |\n|---|---|---|---|");
  for (const r of rows) console.log(r);
  console.log(
    `\nfan-out: 1 sender on c0, ${RECEIVERS} receivers spread over c0, c1, c2 (${RECEIVERS / 3} each), ${RATE} msg/s for ${SECONDS} s: ${fan.lat.length} of ${fan.sent * RECEIVERS} deliveries, p50 ${f(pct(fan.lat, 50))}, p99 ${f(pct(fan.lat, 99))}`,
  );
  console.log(
    `\n| process | CPU ms while chatting | CPU ms idle, same ${SECONDS} s | (chatting - idle) per message sent | per delivery |\n|---|---|---|---|---|`,
  );
  ["c0 (sender's core, 3 receivers)", "c1 (3 receivers)", "c2 (3 receivers)", "nats-server"].forEach((name, i) =>
    console.log(
      `| ${name} | ${fan.cpu[i]} | ${idle[i]} | ${((fan.cpu[i] - idle[i]) / fan.sent).toFixed(2)} ms | ${((fan.cpu[i] - idle[i]) / fan.sent / (i < 3 ? RECEIVERS / 3 : RECEIVERS)).toFixed(2)} ms |`,
    ),
  );
} finally {
  await stopProc(single);
  for (const c of cores) await stopProc(c);
  await nats.cleanup();
}
process.exit(0);
