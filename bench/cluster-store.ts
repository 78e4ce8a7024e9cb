// `node --import tsx bench/cluster-store.ts [--rate 1000] [--seconds 3]`
// Append latency (p50/p99) at a steady rate for the memory, SQLite and
// JetStream room stores in one run (ratios to memory), CPU of this process and
// of nats-server per 1,000 appends, a 10,000-entry resume from JetStream, and
// cross-core notify latency: core A appends and notifies, core B's bus
// receives (two NATS connections).

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { connect } from "@nats-io/transport-node";
import { Bus, type SeqNote } from "../server/cluster/bus";
import { JetStreamStore } from "../server/cluster/jetstreamStore";
import { MemoryStore } from "../server/store/memoryStore";
import type { RoomStore } from "../server/store/roomStore";
import { SqliteStore } from "../server/store/sqliteStore";
import { startNats } from "../tests/helpers/nats";

const { values } = parseArgs({
  options: { rate: { type: "string", default: "1000" }, seconds: { type: "string", default: "3" } },
});
const RATE = Number(values.rate);
const SECONDS = Number(values.seconds);
const id = (s: string) => s.padEnd(22, "x").slice(0, 22);
const FROM = id("sender");
const TO = Array.from({ length: 9 }, (_x, i) => id(`member${i}`));
// about the size of a sealed 10-member chat envelope
const ENV = JSON.stringify({
  alg: "RSA-OAEP-256+A256GCM",
  iv: "A".repeat(16),
  ct: "c".repeat(200),
  keys: Object.fromEntries(TO.map((t) => [t, "k".repeat(342)])),
  sig: "s".repeat(342),
});

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const cpuTicks = (pid: number) => {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1].split(" ");
  return Number(f[11]) + Number(f[12]); // utime + stime, clock ticks (100/s)
};

/** Open loop: one append every 1/RATE s, latency from its scheduled time (no coordinated omission). */
async function run(
  store: RoomStore,
  room: string,
  after?: (seq: number) => void,
): Promise<{ p50: number; p99: number; max: number; cpuMsPer1k: number; n: number }> {
  const n = RATE * SECONDS;
  const lat: number[] = [];
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  const pending: Promise<void>[] = [];
  for (let i = 0; i < n; i++) {
    const due = t0 + (i * 1000) / RATE;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    const from = Math.min(due, performance.now()); // a late issue counts its lateness; an early one counts from its issue
    pending.push(
      store.append(room, { from: FROM, mid: `m${i}`, to: TO, env: ENV, at: Date.now() }).then((r) => {
        lat.push(performance.now() - from);
        after?.(r.seq);
      }),
    );
  }
  await Promise.all(pending);
  const c = process.cpuUsage(c0);
  return {
    p50: pct(lat, 50),
    p99: pct(lat, 99),
    max: Math.max(...lat),
    cpuMsPer1k: ((c.user + c.system) / 1000 / n) * 1000,
    n,
  };
}

const f = (x: number) => x.toFixed(2);
async function main(): Promise<void> {
  const log = (s: string) => process.stdout.write(s + "\n");
  log(
    `append at ${RATE} msg/s for ${SECONDS} s, envelope ${ENV.length} B, 9 recipients (open loop, latency from the scheduled time)`,
  );
  const dir = mkdtempSync(join(tmpdir(), "sealroom-bench-cluster-"));
  const nats = await startNats();
  try {
    const mem = await run(new MemoryStore(), "bench");
    const sq = new SqliteStore(join(dir, "sqlite"));
    const sql = await run(sq, "bench");
    await sq.close();
    const ncA = await connect({ servers: nats.url });
    const ncB = await connect({ servers: nats.url });
    const js = new JetStreamStore({ nc: ncA, namespace: "bench" });
    await js.append("warm", { from: FROM, mid: "w", to: TO, env: ENV, at: Date.now() });
    const n0 = cpuTicks(nats.pid());
    const jet = await run(js, "bench");
    const natsCpuMsPer1k = ((cpuTicks(nats.pid()) - n0) * 10 * 1000) / jet.n;
    const rows = [
      ["memory", mem],
      ["sqlite (WAL, synchronous=FULL, group commit 2 ms)", sql],
      ["jetstream (file store, R1, loopback)", jet],
    ] as const;
    for (const [name, r] of rows)
      log(
        `${name.padEnd(52)} p50 ${f(r.p50)} ms  p99 ${f(r.p99)} ms  max ${f(r.max)} ms  p99/memory ${f(r.p99 / mem.p99)}  core CPU ${f(r.cpuMsPer1k)} ms/1k appends`,
      );
    log(`nats-server CPU during the jetstream run: ${f(natsCpuMsPer1k)} ms per 1k appends`);
    log(`p50 ratio jetstream/sqlite ${f(jet.p50 / sql.p50)}, p99 ratio jetstream/sqlite ${f(jet.p99 / sql.p99)}`);

    // resume: a member reads 10,000 missed entries in pages of maxReadBatch
    const R = 10_000;
    await Promise.all(
      Array.from({ length: R }, (_x, i) =>
        js.append("resume", { from: FROM, mid: `r${i}`, to: TO, env: ENV, at: Date.now() }),
      ),
    );
    const tr = performance.now();
    let got = 0;
    for (let cursor = 0; ;) {
      const page = await js.readAfter("resume", TO[0], cursor, 1_000);
      if (page.length === 0) break;
      got += page.length;
      cursor = page[page.length - 1].seq;
    }
    log(`jetstream resume of ${got} missed entries (pages of 1,000): ${f(performance.now() - tr)} ms`);

    // cross-core: A appends and notifies; B hears the note (what wakes B's members)
    const a = await Bus.start({ nc: ncA, node: "a", namespace: "bench" });
    const b = await Bus.start({ nc: ncB, node: "b", namespace: "bench" });
    await a.joinRoom("xcore");
    await b.joinRoom("xcore");
    await new Promise((r) => setTimeout(r, 200));
    const started = new Map<number, number>();
    const notifyLat: number[] = [];
    const appendToB: number[] = [];
    b.events.on("seq", (n: SeqNote) => {
      const t = performance.now();
      const s = started.get(n.seq);
      if (s !== undefined) appendToB.push(t - s);
    });
    const N = 2_000;
    for (let i = 0; i < N; i++) {
      const t = performance.now();
      const r = await js.append("xcore", { from: FROM, mid: `x${i}`, to: TO, env: ENV, at: Date.now() });
      started.set(r.seq, t);
      const tn = performance.now();
      const heard = new Promise<void>((res) => {
        const on = (n: SeqNote) => {
          if (n.seq === r.seq) {
            b.events.off("seq", on);
            notifyLat.push(performance.now() - tn);
            res();
          }
        };
        b.events.on("seq", on);
      });
      a.notifySeq("xcore", r.seq);
      await heard;
    }
    log(
      `cross-core (A appends to JetStream, notifies; B's bus hears) p50 ${f(pct(appendToB, 50))} ms  p99 ${f(pct(appendToB, 99))} ms; the note alone p50 ${f(pct(notifyLat, 50))} ms  p99 ${f(pct(notifyLat, 99))} ms (${N} sequential)`,
    );
    a.close();
    b.close();
    await js.close();
    await ncA.close();
    await ncB.close();
  } finally {
    await nats.cleanup();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
