// The bridge against websockify, both relaying the same core, each as a
// ratio to a direct TCP connection: added latency of a ping (sequential
// ping/pong round trips, the three paths interleaved so they share the
// machine's noise), and throughput of a 720p video stream to K viewers.

import type { Clip } from "../lib/clips";
import { identities } from "../lib/keys";
import type { Target, Transport } from "../lib/link";
import { joinMany, joinMember, keepAlive, type Member } from "../lib/member";
import { startBridgeProc, startWebsockify, type RelayProc } from "../lib/procs";
import { percentile, sleep, sortNum, spread, type Spread } from "../lib/stats";
import { attachLogs, judge } from "../lib/viewers";
import { startStack, warmCache } from "./video";

export interface PathLatency {
  transport: Transport;
  /** Median RTT per round, then median (min-max) over rounds, ms. */
  rttMedian: Spread;
  rttP99: Spread;
  /** Median RTT minus direct's, ms (per round, then spread). */
  addedMs: Spread;
  ratioToDirect: Spread;
}

export interface PathThroughput {
  transport: Transport;
  viewers: number;
  /** On-time frame bytes delivered per second, MB/s, median over rounds. */
  onTimeMBps: Spread;
  ratioToDirect: Spread;
  minOnTime: Spread;
  relayCpu: Spread;
  /** Relay CPU seconds per GB relayed. */
  relayCpuPerGB: Spread;
}

export interface RelayResult {
  websockify: string | null;
  skipped?: string;
  latency: PathLatency[];
  throughput: PathThroughput[];
}

async function rtt(m: Member): Promise<number> {
  const t = performance.now();
  await new Promise<void>((resolve) => {
    m.onControl = (tt) => {
      if (tt === "pong") resolve();
    };
    m.send({ t: "ping", ts: t });
  });
  return performance.now() - t;
}

export async function relay(opts: {
  clip: Clip;
  websockify: { ok: true; version: string } | { ok: false; reason: string };
  pings: number;
  rounds: number;
  viewers: number;
  log: (s: string) => void;
}): Promise<RelayResult> {
  const stack = await startStack(opts.clip.dir, "tcp");
  const relays: { transport: Transport; proc: RelayProc | null; target: Target }[] = [
    { transport: "tcp", proc: null, target: stack.target },
  ];
  const result: RelayResult = {
    websockify: opts.websockify.ok ? opts.websockify.version : null,
    latency: [],
    throughput: [],
  };
  if (!opts.websockify.ok) {
    result.skipped = `websockify comparison skipped: ${opts.websockify.reason}`;
    opts.log(`    ${result.skipped}`);
  }
  const members: Member[] = [];
  const stopPing = keepAlive(() => members);
  try {
    const b = await startBridgeProc(stack.core);
    relays.push({ transport: "bridge", proc: b, target: { transport: "bridge", url: b.url } });
    if (opts.websockify.ok) {
      const w = await startWebsockify(stack.core);
      relays.push({ transport: "websockify", proc: w, target: { transport: "websockify", url: w.url } });
    }
    const ids = await identities(relays.length * (opts.viewers + 1));

    // ---- ping latency --------------------------------------------------------------
    const pingers = await Promise.all(relays.map((r, i) => joinMember(r.target, ids[i], "ping", `p${i}`)));
    members.push(...pingers);
    const perRound: number[][][] = relays.map(() => []);
    for (let round = 0; round < opts.rounds; round++) {
      const samples: number[][] = relays.map(() => []);
      for (let k = 0; k < 10; k++) for (const p of pingers) await rtt(p); // warm-up
      for (let k = 0; k < opts.pings; k++)
        for (let i = 0; i < pingers.length; i++) samples[i].push(await rtt(pingers[i]));
      samples.forEach((s, i) => perRound[i].push(sortNum(s)));
    }
    const directMedians = perRound[0].map((s) => percentile(s, 50));
    relays.forEach((r, i) => {
      const med = perRound[i].map((s) => percentile(s, 50));
      const lat: PathLatency = {
        transport: r.transport,
        rttMedian: spread(med),
        rttP99: spread(perRound[i].map((s) => percentile(s, 99))),
        addedMs: spread(med.map((m, k) => m - directMedians[k])),
        ratioToDirect: spread(med.map((m, k) => m / directMedians[k])),
      };
      result.latency.push(lat);
      opts.log(
        `    ping via ${r.transport}: RTT median ${lat.rttMedian.median.toFixed(3)} ms, p99 ${lat.rttP99.median.toFixed(3)} ms, added ${lat.addedMs.median.toFixed(3)} ms, x${lat.ratioToDirect.median.toFixed(2)} of direct`,
      );
    });
    for (const p of pingers) p.close();

    // ---- video throughput ------------------------------------------------------------
    const ctl = await joinMember(stack.target, ids[relays.length], "warm", "w");
    members.push(ctl);
    await warmCache(ctl, opts.clip);
    const frames = Math.ceil(opts.clip.durationS * opts.clip.fps);
    const rows: { onTime: number[]; minOnTime: number[]; cpu: number[]; perGB: number[] }[] = relays.map(() => ({
      onTime: [],
      minOnTime: [],
      cpu: [],
      perGB: [],
    }));
    const groups: Member[][] = [];
    for (let i = 0; i < relays.length; i++) {
      const slice = ids.slice(relays.length + 1 + i * opts.viewers, relays.length + 1 + (i + 1) * opts.viewers);
      const g = await joinMany(relays[i].target, slice, `tp${i}`, "t", 8);
      groups.push(g);
      members.push(...g);
    }
    for (let round = 0; round < opts.rounds; round++) {
      // One path at a time, so each gets the machine to itself.
      for (let i = 0; i < relays.length; i++) {
        const g = groups[i];
        const { logs, streamEnded } = attachLogs(g, frames);
        const proc = relays[i].proc;
        const c0 = proc?.cpu() ?? stack.core.cpu();
        const t0 = performance.now();
        g[0].send({ t: "play", video: opts.clip.id, scope: "room", fromMs: 0 });
        await Promise.race([streamEnded, sleep(opts.clip.durationS * 1000 + 20_000)]);
        const wall = (performance.now() - t0) / 1000;
        const cpu = ((proc?.cpu() ?? stack.core.cpu()) - c0) / wall;
        await sleep(800);
        const v = judge(logs, frames);
        // On-time bytes: each viewer's received bytes scaled by its on-time share of what it received.
        let onTimeBytes = 0;
        logs.forEach((l, k) => {
          const pv = v.perViewer![k];
          if (pv.received > 0) onTimeBytes += (l.bytes * pv.onTime) / pv.received;
        });
        const relayed = logs.reduce((a, l) => a + l.bytes, 0);
        rows[i].onTime.push(onTimeBytes / opts.clip.durationS / 1e6);
        rows[i].minOnTime.push(v.minOnTime);
        rows[i].cpu.push(cpu);
        rows[i].perGB.push(proc ? (cpu * wall) / (relayed / 1e9) : NaN);
        opts.log(
          `    ${opts.viewers} viewers of ${opts.clip.width}x${opts.clip.height} via ${relays[i].transport}: ${(onTimeBytes / opts.clip.durationS / 1e6).toFixed(1)} MB/s on time, min viewer ${(v.minOnTime * 100).toFixed(1)}%, ${proc ? "relay" : "core"} CPU ${(cpu * 100).toFixed(0)}%`,
        );
        await sleep(300);
      }
    }
    relays.forEach((r, i) => {
      result.throughput.push({
        transport: r.transport,
        viewers: opts.viewers,
        onTimeMBps: spread(rows[i].onTime),
        ratioToDirect: spread(rows[i].onTime.map((x, k) => x / rows[0].onTime[k])),
        minOnTime: spread(rows[i].minOnTime),
        relayCpu: spread(rows[i].cpu),
        relayCpuPerGB: spread(rows[i].perGB),
      });
    });
  } finally {
    stopPing();
    for (const m of members) m.close();
    await Promise.all(relays.map((r) => r.proc?.stop() ?? Promise.resolve()));
    await stack.stop();
  }
  return result;
}
