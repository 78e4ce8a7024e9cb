// `node --import tsx bench/store.ts [--seconds 5] [--rate 1000] [--growth 30000]`
// The room store on its own: append-to-resolved latency at a paced rate with
// 10 recipients per message (a real sealed envelope), SQLite beside memory in
// the same run; a resume read of 10,000 missed messages; the store's size on
// disk and how it grows once retention is reached.

import { mkdtempSync, rmSync, statSync, existsSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { generateIdentity, sealEnvelope } from "../protocol/crypto";
import { MemoryStore } from "../server/store/memoryStore";
import type { RoomStore } from "../server/store/roomStore";
import { DEFAULT_STORE_LIMITS } from "../server/store/limits";
import { SqliteStore } from "../server/store/sqliteStore";
import { percentile, sortNum } from "./lib/stats";

const { values } = parseArgs({
  options: { seconds: { type: "string" }, rate: { type: "string" }, growth: { type: "string" } },
});
const SECONDS = Number(values.seconds ?? 5);
const RATE = Number(values.rate ?? 1000);
const GROWTH = Number(values.growth ?? 30_000);
const RESUME = 10_000;
const log = (s: string) => process.stdout.write(s + "\n");

const dirs: string[] = [];
const tmp = () => {
  const d = mkdtempSync(join(tmpdir(), "sealroom-bench-store-"));
  dirs.push(d);
  return d;
};
const sizeOf = (dir: string) =>
  ["rooms.db", "rooms.db-wal", "rooms.db-shm"]
    .map((f) => join(dir, f))
    .filter(existsSync)
    .reduce((n, f) => n + statSync(f).size, 0);
const mib = (n: number) => (n / 1_048_576).toFixed(1);

/** Appends at RATE for SECONDS, paced by the clock; returns each append-to-resolved latency in ms. */
async function paced(store: RoomStore, from: string, to: string[], env: string): Promise<number[]> {
  const lat: number[] = [];
  const pending: Promise<void>[] = [];
  const total = RATE * SECONDS;
  const t0 = performance.now();
  let sent = 0;
  while (sent < total) {
    const due = Math.min(total, Math.floor(((performance.now() - t0) / 1000) * RATE) + 1);
    for (; sent < due; sent++) {
      const start = performance.now();
      pending.push(
        store
          .append("bench", { from, mid: `p${sent}`, to, env, at: Date.now() })
          .then(() => void lat.push(performance.now() - start)),
      );
    }
    await new Promise((r) => setTimeout(r, 1));
  }
  await Promise.all(pending);
  return lat;
}

async function main(): Promise<void> {
  log(
    `store bench: ${RATE} msg/s for ${SECONDS} s, 10 recipients; resume of ${RESUME}; growth over ${GROWTH} appends (retention ${DEFAULT_STORE_LIMITS.retentionMessages} messages)`,
  );
  const ids = await Promise.all(Array.from({ length: 11 }, () => generateIdentity()));
  const [sender, ...rcpt] = ids;
  const env = JSON.stringify(
    await sealEnvelope(sender, {
      room: "bench",
      mid: "x",
      text: "a chat line of about sixty characters, typical for a room",
      ts: Date.now(),
      recipients: rcpt.map((r) => ({ id: r.id, encKey: r.encKey })),
    }),
  );
  const to = rcpt.map((r) => r.id);
  log(`envelope ${env.length} bytes`);

  const rows: Record<string, Record<string, number>> = {};
  for (const kind of ["memory", "sqlite", "sqlite-normal"] as const) {
    const dir = tmp();
    const open = () =>
      kind === "memory"
        ? new MemoryStore()
        : new SqliteStore(dir, { synchronous: kind === "sqlite" ? "FULL" : "NORMAL" });
    let store: RoomStore = open();
    // the driver is synchronous underneath (better-sqlite3): how long it holds the event loop matters to everything else the core does
    const lag = monitorEventLoopDelay({ resolution: 1 });
    lag.enable();
    const lat = sortNum(await paced(store, sender.id, to, env));
    lag.disable();
    const lagP99 = lag.percentile(99) / 1e6;
    const lagMax = lag.max / 1e6;
    const p50 = percentile(lat, 50);
    const p99 = percentile(lat, 99);
    // resume: RESUME messages for one recipient after cursor 0, in pages of maxReadBatch
    for (let i = 0; i < RESUME; i++)
      void store.append("bench", { from: sender.id, mid: `r${i}`, to, env, at: Date.now() });
    if (kind !== "memory") {
      await store.close(); // resume from a freshly opened file, as after a restart
      store = open();
    }
    const t0 = performance.now();
    let cursor = 0;
    let n = 0;
    for (;;) {
      const page = await store.readAfter("bench", to[3], cursor, DEFAULT_STORE_LIMITS.maxReadBatch);
      if (page.length === 0) break;
      n += page.length;
      cursor = page[page.length - 1].seq;
      if (n >= RESUME) break;
    }
    const resumeMs = performance.now() - t0;
    // growth: keep appending past retention, sample the size on disk
    const sizes: number[] = [];
    const base = (await store.seqRange("bench")).last;
    const step = Math.max(1, Math.floor(GROWTH / 3));
    for (let i = 0; i < GROWTH; i++) {
      void store.append("bench", { from: sender.id, mid: `g${base + i}`, to, env, at: Date.now() });
      if (i % 500 === 499) await store.seqRange("bench");
      if ((i + 1) % step === 0 && kind !== "memory") sizes.push(sizeOf(dir));
    }
    const range = await store.seqRange("bench");
    await store.close();
    const row: Record<string, number> = {
      p50Ms: p50,
      p99Ms: p99,
      appends: lat.length,
      resumeMs,
      resumed: n,
      loopLagP99Ms: lagP99,
      loopLagMaxMs: lagMax,
      retained: range.last - range.oldest + 1,
    };
    sizes.forEach((s, i) => (row[`sizeMiB@${(i + 1) * step + base}`] = Number(mib(s))));
    if (kind !== "memory") row.sizeAfterCloseMiB = Number(mib(sizeOf(dir)));
    rows[kind] = row;
    log(
      `${kind.padEnd(6)} append p50 ${p50.toFixed(2)} ms p99 ${p99.toFixed(2)} ms (${lat.length} appends), event-loop lag p99 ${lagP99.toFixed(1)} ms max ${lagMax.toFixed(1)} ms; resume ${n} in ${resumeMs.toFixed(0)} ms; retained ${row.retained}` +
        (sizes.length
          ? `; on disk ${sizes.map(mib).join(" -> ")} MiB while appending, ${row.sizeAfterCloseMiB} MiB after close`
          : ""),
    );
  }
  log(
    `sqlite (FULL)/memory: p50 x${(rows.sqlite.p50Ms / rows.memory.p50Ms).toFixed(1)}, p99 x${(rows.sqlite.p99Ms / rows.memory.p99Ms).toFixed(1)}, resume x${(rows.sqlite.resumeMs / rows.memory.resumeMs).toFixed(1)}`,
  );
  log(JSON.stringify(rows));
}

main()
  .catch((e) => {
    process.stderr.write(`${e instanceof Error ? e.stack : e}\n`);
    process.exitCode = 1;
  })
  .finally(() => {
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });
