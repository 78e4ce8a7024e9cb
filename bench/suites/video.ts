// Video fan-out: how many viewers of one room stream each get >= 99% of the
// frames on time, direct and through the bridge; CPU and RSS of the core
// (and bridge) while the stream plays. Viewers are raw protocol members that
// only count frames, many per process.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Clip } from "../lib/clips";
import { identities } from "../lib/keys";
import type { Target, Transport } from "../lib/link";
import { joinMany, joinMember, keepAlive, parseBody, type Member } from "../lib/member";
import { startBridgeProc, startCoreProc, startWebsockify, type CoreProc, type RelayProc } from "../lib/procs";
import { sleep } from "../lib/stats";
import { attachLogs, judge, type FanoutVerdict } from "../lib/viewers";

export interface FanoutLevel extends FanoutVerdict {
  /** CPU seconds per wall second while the stream played (1.0 = one core). */
  coreCpu: number;
  coreRssMiB: number;
  relayCpu: number | null;
  relayRssMiB: number | null;
  loadgenCpu: number;
  /** Delivered video bytes per second over all viewers, MB/s. */
  deliveredMBps: number;
  closedViewers: number;
  /** Seconds per second the core's threads waited for a CPU (other load on the machine). */
  coreRunqWait: number;
}

export interface FanoutRun {
  clip: string;
  transport: Transport;
  levels: FanoutLevel[];
  /** Largest level that passed; 0 if none. */
  maxViewers: number;
  /** Decode done (warm cache) before measuring: ms for the warm-up decode. */
  warmupDecodeMs: number;
}

export const CORE_LIMITS = {
  maxMembersPerRoom: 5000,
  maxConnections: 20000,
  maxRecipients: 5000,
  maxEnvelope: 1_048_576,
  rateLimitPerSec: 1_000_000,
  rateLimitBurst: 1_000_000,
  // The send budget too: the chat bench's load generator sends far faster per connection than a person.
  fanoutBytesPerSec: 1e12,
  fanoutBurstBytes: 1e12,
  recipientBytesPerSec: 1e12,
  recipientBurstBytes: 1e12,
};

export interface Stack {
  core: CoreProc;
  relay: RelayProc | null;
  target: Target;
  stop(): Promise<void>;
}

/** A fresh core (with its own cache dir) and, for relayed transports, the relay in front of it. */
export async function startStack(
  videos: string,
  transport: Transport,
  extra: { limits?: Record<string, number>; cpuProfDir?: string; store?: "memory" | { sqlite: string } } = {},
): Promise<Stack> {
  const cacheDir = mkdtempSync(join(tmpdir(), "sealroom-bench-cache-"));
  const core = await startCoreProc({
    videos,
    cacheDir,
    limits: { ...CORE_LIMITS, ...extra.limits },
    ...(extra.cpuProfDir ? { cpuProfDir: extra.cpuProfDir } : {}),
    ...(extra.store ? { store: extra.store } : {}),
  });
  let relay: RelayProc | null = null;
  if (transport === "bridge") relay = await startBridgeProc(core);
  if (transport === "websockify") relay = await startWebsockify(core);
  const target: Target = relay ? { transport, url: relay.url } : { transport: "tcp", host: core.host, port: core.port };
  return {
    core,
    relay,
    target,
    async stop() {
      await Promise.all([relay?.stop(), core.stop()]);
      rmSync(cacheDir, { recursive: true, force: true });
    },
  };
}

export function waitControl(m: Member, t: string, timeoutMs = 60_000): Promise<Record<string, unknown>> {
  return new Promise((resolve, reject) => {
    const prev = m.onControl;
    const timer = setTimeout(() => {
      m.onControl = prev;
      reject(new Error(`no ${t} in ${timeoutMs} ms`));
    }, timeoutMs);
    m.onControl = (tt, body) => {
      if (tt === t) {
        clearTimeout(timer);
        m.onControl = prev;
        resolve(parseBody(body));
      } else if (tt === "error") {
        clearTimeout(timer);
        m.onControl = prev;
        reject(new Error(`error instead of ${t}: ${Buffer.from(body).toString()}`));
      }
    };
  });
}

/** Decodes the whole clip into the core's frame cache: a self stream from the very end waits for the last frame. */
export async function warmCache(m: Member, clip: Clip): Promise<number> {
  const t0 = performance.now();
  const ended = waitControl(m, "streamEnd", 120_000);
  m.send({ t: "play", video: clip.id, scope: "self", fromMs: clip.durationS * 1000 - 1 });
  await ended;
  return performance.now() - t0;
}

export async function fanout(
  clip: Clip,
  transport: Transport,
  ladder: readonly number[],
  log: (s: string) => void,
): Promise<FanoutRun> {
  const stack = await startStack(clip.dir, transport);
  const members: Member[] = [];
  const stopPing = keepAlive(() => members);
  const run: FanoutRun = {
    clip: `${clip.width}x${clip.height}@${clip.fps}`,
    transport,
    levels: [],
    maxViewers: 0,
    warmupDecodeMs: 0,
  };
  try {
    const ids = await identities(Math.max(...ladder));
    const room = "fanout";
    members.push(await joinMember(stack.target, ids[0], room, "v0"));
    run.warmupDecodeMs = await warmCache(members[0], clip);
    const frames = Math.ceil(clip.durationS * clip.fps);
    for (const n of ladder) {
      if (members.length < n)
        members.push(...(await joinMany(stack.target, ids.slice(members.length, n), room, "v", 16, members.length)));
      await sleep(500);
      const { logs, streamEnded } = attachLogs(members, frames);
      const c0 = stack.core.cpu();
      const r0 = stack.relay?.cpu() ?? 0;
      const l0 = process.cpuUsage();
      const q0 = stack.core.runqWait();
      const t0 = performance.now();
      let rss = 0;
      let relayRss = 0;
      const sampler = setInterval(() => {
        rss = Math.max(rss, stack.core.rss());
        if (stack.relay) relayRss = Math.max(relayRss, stack.relay.rss());
      }, 500);
      members[0].send({ t: "play", video: clip.id, scope: "room", fromMs: 0 });
      const reason = await Promise.race([streamEnded, sleep(clip.durationS * 1000 + 30_000).then(() => "timeout")]);
      const wall = (performance.now() - t0) / 1000;
      const c1 = stack.core.cpu();
      const q1 = stack.core.runqWait();
      const r1 = stack.relay?.cpu() ?? 0;
      const lu = process.cpuUsage(l0);
      clearInterval(sampler);
      // Stragglers: frames still in flight to slow viewers.
      await sleep(1000);
      const v = judge(logs, frames);
      const closed = members.filter((m) => m.link.closed).length;
      const bytes = logs.reduce((a, l) => a + l.bytes, 0);
      delete v.perViewer;
      const level: FanoutLevel = {
        ...v,
        passed: v.passed && closed === 0 && reason === "finished",
        coreCpu: (c1 - c0) / wall,
        coreRssMiB: rss / 1024,
        relayCpu: stack.relay ? (r1 - r0) / wall : null,
        relayRssMiB: stack.relay ? relayRss / 1024 : null,
        loadgenCpu: (lu.user + lu.system) / 1e6 / wall,
        deliveredMBps: bytes / wall / 1e6,
        closedViewers: closed,
        coreRunqWait: (q1 - q0) / wall,
      };
      run.levels.push(level);
      log(
        `    ${run.clip} ${transport} ${n} viewers: ${level.viewersAt99}/${n} at >=99% on time (min ${(level.minOnTime * 100).toFixed(1)}%), late p99 ${level.latenessP99.toFixed(0)} ms, core ${(level.coreCpu * 100).toFixed(0)}% CPU ${level.coreRssMiB.toFixed(0)} MiB` +
          (level.relayCpu !== null ? `, relay ${(level.relayCpu * 100).toFixed(0)}% CPU` : "") +
          `, loadgen ${(level.loadgenCpu * 100).toFixed(0)}%, core runq wait ${(level.coreRunqWait * 1000).toFixed(0)} ms/s, ${level.deliveredMBps.toFixed(1)} MB/s${level.passed ? "" : " FAIL"}`,
      );
      if (!level.passed) break;
      run.maxViewers = n;
    }
  } finally {
    stopPing();
    for (const m of members) m.close();
    await stack.stop();
  }
  return run;
}

export { startWebsockify, startBridgeProc };
