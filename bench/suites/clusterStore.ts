// Cluster suite, the room log: append latency and CPU at a steady rate into
// the memory, SQLite and JetStream stores (this process is the core), a resume
// of missed entries from JetStream, and the cross-core note between two buses.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { connect } from "@nats-io/transport-node";
import type { NatsServer } from "../../common/nats";
import { Bus, type SeqNote } from "../../server/cluster/bus";
import { JetStreamStore } from "../../server/cluster/jetstreamStore";
import { MemoryStore } from "../../server/store/memoryStore";
import type { RoomStore } from "../../server/store/roomStore";
import { SqliteStore } from "../../server/store/sqliteStore";
import { sleep } from "../lib/stats";
import { freshNamespace, pct, treeMs } from "./clusterRig";

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
  const ns = freshNamespace("s");
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
