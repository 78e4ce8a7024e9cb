// `npm run bench [-- --quick] [-- --only chat,e2e,video,relay,decode,setup,durable,audio,cluster] [-- --repeats N]`
// (--repeats: the sound suite's direct levels N times each, alternating silent and
// sound; its per-viewer slope then uses each level's median, still all in one run.)
// Runs every suite against real processes on this machine, prints as it
// goes, writes bench/results/<mode>-<date>.json (and latest-<mode>.json) and
// regenerates docs/benchmarks.md and docs/benchmarks.svg from it.
//
// Over 300 lines: the suites' order, their quick and full settings and the
// targets table in one place, so one run's ratios share one baseline.

import { writeFileSync, mkdirSync, mkdtempSync } from "node:fs";
import os, { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { describeTools } from "../server/video/ffmpeg";
import { clip } from "./lib/clips";
import { describeMachine } from "./lib/machine";
import { ensureWebsockify, ROOT } from "./lib/procs";
import { chat, cryptoCost, type ChatRun, type CryptoCost } from "./suites/chat";
import { e2eCost } from "./suites/e2e";
import { cluster, type ClusterParams } from "./suites/cluster";
import { clusterTargets } from "./suites/clusterTables";
import { decodeCost, slope, type DecodeResult } from "./suites/decode";
import { relay, type RelayResult } from "./suites/relay";
import { connectionSetup, idleMemory, ttff, type IdleMemory, type SetupResult, type TtffResult } from "./suites/setup";
import { fanout, type FanoutRun } from "./suites/video";
import { durable } from "./suites/durable";
import { audioDecodeCost, firstSound, soundClip, soundLevel } from "./suites/audio";
import { writeReport, type Results, type TargetCheck } from "./report";

const { values } = parseArgs({
  options: { quick: { type: "boolean" }, only: { type: "string" }, repeats: { type: "string" } },
  allowPositionals: false,
});
const quick = values.quick === true;
const only = values.only ? new Set(values.only.split(",")) : null;
const want = (s: string) => !only || only.has(s);
const repeats = values.repeats === undefined ? 1 : Number(values.repeats);
if (!Number.isInteger(repeats) || repeats < 1 || repeats > 20) {
  process.stderr.write(`bench: --repeats must be an integer from 1 to 20, not ${values.repeats}\n`);
  process.exit(2);
}
const log = (s: string) => process.stdout.write(s + "\n");

const P = quick
  ? {
      clipS: 5,
      chat: [
        { members: 10, transport: "tcp", env: "sealed", rates: [200, 1000] },
        { members: 100, transport: "tcp", env: "sealed", rates: [20, 50, 100] },
        { members: 100, transport: "bridge", env: "sealed", rates: [20, 50] },
        { members: 100, transport: "tcp", env: "tiny", rates: [100, 500, 1000] },
      ],
      chatMs: 1500,
      chatReps: 1,
      crypto: { recipients: [9, 99], samples: 5 },
      video: [
        { w: 640, h: 360, transport: "tcp", ladder: [150, 300] },
        { w: 640, h: 360, transport: "bridge", ladder: [75, 150] },
        { w: 1280, h: 720, transport: "tcp", ladder: [100] },
      ],
      relay: { pings: 100, rounds: 1, viewers: 20 },
      decode: { reps: 1, naive: [4] },
      ttffSamples: 2,
      joins: 20,
      idle: { members: 300, roomSize: 100, reps: 1 },
      // v1 ("sealed") beside v2 at the issue's rates; a ladder stops at its first failed level.
      e2eChat: [
        { members: 10, transport: "tcp", env: "v2", rates: [200, 1000] },
        { members: 100, transport: "tcp", env: "sealed", rates: [100, 1000] },
        { members: 100, transport: "tcp", env: "v2", rates: [100, 1000] },
        { members: 100, transport: "bridge", env: "v2", rates: [100, 1000] },
        { members: 500, transport: "tcp", env: "sealed", rates: [10, 100] },
        { members: 500, transport: "tcp", env: "v2", rates: [10, 100] },
        { members: 500, transport: "bridge", env: "v2", rates: [10, 100] },
      ],
      e2eSamples: 200,
      durable: { rates: [1000], reps: 1, resumeMessages: 10_000 },
      // Sound: [direct levels, bridge levels]; two direct levels give the per-viewer slope with and without sound.
      audio: { direct: [50, 150], bridge: [75], clipS: 5, firstSamples: 3 },
    }
  : {
      clipS: 10,
      chat: [
        { members: 10, transport: "tcp", env: "sealed", rates: [100, 200, 500, 1000, 2000, 5000] },
        { members: 10, transport: "bridge", env: "sealed", rates: [100, 200, 500, 1000, 2000, 5000] },
        { members: 100, transport: "tcp", env: "sealed", rates: [5, 10, 20, 50, 100, 200, 500, 1000] },
        { members: 100, transport: "bridge", env: "sealed", rates: [5, 10, 20, 50, 100, 200, 500, 1000] },
        { members: 500, transport: "tcp", env: "sealed", rates: [1, 2, 5, 10, 20, 50] },
        { members: 500, transport: "bridge", env: "sealed", rates: [1, 2, 5, 10, 20, 50] },
        { members: 100, transport: "tcp", env: "tiny", rates: [20, 50, 100, 200, 500, 1000, 2000] },
      ],
      chatMs: 4000,
      chatReps: 3,
      crypto: { recipients: [9, 99, 499], samples: 20 },
      video: [
        { w: 640, h: 360, transport: "tcp", ladder: [100, 200, 300, 400, 500, 600, 800, 1000] },
        { w: 640, h: 360, transport: "bridge", ladder: [50, 100, 150, 200, 300, 400, 500] },
        { w: 1280, h: 720, transport: "tcp", ladder: [50, 100, 150, 200, 300, 400] },
        { w: 1280, h: 720, transport: "bridge", ladder: [25, 50, 100, 150, 200] },
      ],
      relay: { pings: 300, rounds: 3, viewers: 30 },
      decode: { reps: 3, naive: [2, 4, 8] },
      ttffSamples: 5,
      joins: 60,
      idle: { members: 1000, roomSize: 100, reps: 2 },
      e2eChat: [
        { members: 10, transport: "tcp", env: "v2", rates: [100, 200, 500, 1000, 2000, 5000] },
        { members: 100, transport: "tcp", env: "v2", rates: [50, 100, 200, 500, 1000, 2000] },
        { members: 100, transport: "bridge", env: "v2", rates: [50, 100, 200, 500, 1000, 2000] },
        { members: 500, transport: "tcp", env: "v2", rates: [10, 20, 50, 100, 200] },
        { members: 500, transport: "bridge", env: "v2", rates: [10, 20, 50, 100, 200] },
      ],
      e2eSamples: 1000,
      durable: { rates: [200, 500, 1000], reps: 3, resumeMessages: 10_000 },
      audio: { direct: [200, 1000], bridge: [500], clipS: 10, firstSamples: 5 },
    };

// The cluster suite (issue 15): quick stays under 2 minutes; needs nats-server, skipped with the reason without it.
const CLUSTER: ClusterParams = quick
  ? {
      chat: { rate: 20, seconds: 3, receivers: 6 },
      store: { rate: 1000, seconds: 1, resume: 2_000, crossSamples: 500 },
      party: { viewers: 30, seconds: 5 },
    }
  : {
      chat: { rate: 20, seconds: 10, receivers: 9 },
      store: { rate: 1000, seconds: 3, resume: 10_000, crossSamples: 2_000 },
      party: { viewers: 150, seconds: 10 },
    };

async function main(): Promise<void> {
  const started = new Date();
  const t0 = performance.now();
  const tools = await describeTools();
  const wsf = want("relay") ? ensureWebsockify() : { ok: false as const, reason: "not run (--only)" };
  const machine = describeMachine(tools[0].version, wsf.ok ? wsf.version : null);
  log(
    `sealroom bench (${quick ? "quick" : "full"}) on ${machine.cpuModel}, ${machine.cores} cores, Node ${machine.node}, load average ${machine.loadAvgAtStart.join(" ")}`,
  );
  log(`  ${machine.ffmpeg}; websockify ${machine.websockify ?? "unavailable"}; commit ${machine.gitCommit}`);
  log(
    "  core, bridge and websockify run as separate processes; the load generator is this process. All share the machine's cores.",
  );

  const c360 = await clip(640, 360, P.clipS);
  const c720 = await clip(1280, 720, P.clipS);
  const emptyLib = mkdtempSync(join(tmpdir(), "sealroom-bench-empty-"));
  const res: Results = {
    mode: quick ? "quick" : "full",
    started: started.toISOString(),
    durationS: 0,
    machine,
    loadAvg: {},
    chat: [],
    crypto: [],
    fanout: [],
    relay: null,
    decode: [],
    ttff: [],
    setup: [],
    idle: null,
    e2e: null,
    targets: [],
    commands: {},
  };
  const mark = (suite: string) => (res.loadAvg[suite] = os.loadavg().map((x) => Math.round(x * 100) / 100));

  if (want("chat")) {
    log("\n[1] chat latency");
    mark("chat");
    for (const c of P.chat) {
      res.chat.push(
        await chat({
          ...(c as { members: number; transport: "tcp" | "bridge"; env: "sealed" | "tiny"; rates: number[] }),
          durationMs: P.chatMs,
          reps: P.chatReps,
          videos: emptyLib,
          log,
        }),
      );
    }
    for (const r of P.crypto.recipients) {
      const cc = await cryptoCost(r, P.crypto.samples);
      res.crypto.push(cc);
      log(
        `    client crypto, ${r} recipients: seal ${cc.sealMs.median.toFixed(2)} ms, open ${cc.openMs.median.toFixed(2)} ms, envelope ${cc.envelopeBytes} bytes`,
      );
    }
  }
  if (want("e2e")) {
    log("\n[1b] end-to-end v2 (sender keys) beside v1");
    mark("e2e");
    for (const c of P.e2eChat) {
      res.chat.push(
        await chat({
          ...(c as { members: number; transport: "tcp" | "bridge"; env: "sealed" | "v2"; rates: number[] }),
          durationMs: P.chatMs,
          reps: P.chatReps,
          videos: emptyLib,
          log,
        }),
      );
    }
    res.e2e = await e2eCost({ samples: P.e2eSamples, log });
  }
  if (want("video")) {
    log("\n[2] video fan-out");
    mark("video");
    for (const v of P.video)
      res.fanout.push(await fanout(v.h === 360 ? c360 : c720, v.transport as "tcp" | "bridge", v.ladder, log));
  }
  if (want("relay")) {
    log("\n[3] bridge vs websockify");
    mark("relay");
    res.relay = await relay({ clip: c720, websockify: wsf, ...P.relay, log });
  }
  if (want("decode")) {
    log("\n[4] decode once vs one decoder per viewer");
    mark("decode");
    for (const c of [c360, c720]) {
      const d = await decodeCost(c, { width: c.width, height: c.height }, P.decode.reps, P.decode.naive);
      res.decode.push(d);
      log(
        `    ${d.clip}: decode ${(d.decodeCpuPerVideoS.median * 100).toFixed(1)}% of a core per second of video; naive ${d.naive.map((n) => `${n.viewers} decoders ${(n.cpuPerViewer.median * 100).toFixed(1)}%/viewer`).join(", ")}`,
      );
    }
  }
  if (want("setup")) {
    log("\n[5] time to first frame, connection setup, idle memory");
    mark("setup");
    for (const t of quick ? (["tcp"] as const) : (["tcp", "bridge"] as const)) {
      const r = await ttff(c360, t, P.ttffSamples);
      res.ttff.push(r);
      log(`    TTFF ${t}: cold ${r.coldMs.median.toFixed(1)} ms, warm ${r.warmMs.median.toFixed(1)} ms`);
    }
    for (const t of ["tcp", "bridge"] as const) {
      const s = await connectionSetup(emptyLib, t, P.joins);
      res.setup.push(s);
      log(
        `    setup ${t}: challenge->welcome ${s.setupMs.median.toFixed(1)} ms (p99 ${s.setupP99.toFixed(1)}), hello->welcome ${s.serverMs.median.toFixed(1)} ms`,
      );
    }
    res.idle = await idleMemory(emptyLib, P.idle.members, P.idle.roomSize, P.idle.reps);
    log(
      `    idle members: ${res.idle.members} in ${res.idle.rooms} rooms: ${res.idle.perMemberKiB.median.toFixed(1)} KiB each (marginal ${res.idle.marginalKiB.median.toFixed(1)}), RSS ${res.idle.baselineMiB.toFixed(0)} -> ${res.idle.afterMiB.toFixed(0)} MiB`,
    );
  }

  if (want("cluster")) {
    log("\n[8] cluster on NATS JetStream: chat across cores, room log appends, one party over three cores");
    mark("cluster");
    res.cluster = await cluster({ ...CLUSTER, log });
  }

  if (want("durable")) {
    log("\n[6] the durable room log: SQLite vs memory store, resume, store size");
    mark("durable");
    res.durable = await durable({ videos: emptyLib, durationMs: P.chatMs, ...P.durable, log });
  }
  if (want("audio")) {
    log("\n[7] sound: decode cost, viewers with sound, play to first sound");
    mark("audio");
    const sc = await soundClip(640, 360, P.audio.clipS);
    // 30 s, so ffmpeg's start-up (tens of ms of CPU) does not dominate the audio figure; a 360p and a 720p source.
    const decodes = [
      await audioDecodeCost(await soundClip(640, 360, 30)),
      await audioDecodeCost(await soundClip(1280, 720, 30), { width: 640, height: 360 }),
    ];
    for (const d of decodes)
      log(
        `    ${d.clip}: decode video ${(d.videoCpu * 100).toFixed(1)}%, audio ${(d.audioCpu * 100).toFixed(1)}% of a core per second of video (audio/video ${(d.ratio * 100).toFixed(1)}%)`,
      );
    const decode = decodes[0]!;
    const levels = [];
    for (let r = 0; r < repeats; r++)
      for (const n of P.audio.direct)
        for (const sound of [false, true]) levels.push(await soundLevel(sc, "tcp", n, sound, log));
    for (const n of P.audio.bridge) levels.push(await soundLevel(sc, "bridge", n, true, log));
    const first = await firstSound(sc, P.audio.firstSamples);
    log(
      `    play -> first sound (warm, direct): ${first.warmMs.map((x) => x.toFixed(1)).join(", ")} ms; first frame ${first.firstFrameMs.map((x) => x.toFixed(1)).join(", ")} ms; cold sound: first sound ${first.coldSoundMs?.toFixed(1)} ms, first frame ${first.coldFrameMs?.toFixed(1)} ms`,
    );
    res.audio = { decode, decodes, levels, firstSound: first };
  }

  res.targets = checkTargets(res);
  res.durationS = Math.round((performance.now() - t0) / 1000);
  log("\ntargets:");
  for (const t of res.targets)
    log(`  ${t.met === null ? "n/a " : t.met ? "MET " : "MISS"} ${t.name}: ${t.value} (target ${t.target})`);
  const dir = join(ROOT, "bench", "results");
  mkdirSync(dir, { recursive: true });
  const stamp = started.toISOString().replace(/[:.]/g, "-").slice(0, 19);
  const file = join(dir, only ? `${res.mode}-only-${[...only].join("+")}-${stamp}.json` : `${res.mode}-${stamp}.json`);
  writeFileSync(file, JSON.stringify(res, null, 1));
  if (only) {
    // A partial run does not replace the full results or the report made from them.
    log(`\nwrote ${file} (--only: latest-${res.mode}.json and docs/benchmarks.md left as they were)`);
    return;
  }
  writeFileSync(join(dir, `latest-${res.mode}.json`), JSON.stringify(res, null, 1));
  writeReport(res, file);
  log(`\nwrote ${file}, docs/benchmarks.md, docs/benchmarks.svg in ${res.durationS} s`);
}

function checkTargets(r: Results): TargetCheck[] {
  const out: TargetCheck[] = [];
  if (r.durable) {
    const sq = r.durable.chat.find((c) => c.store === "sqlite")?.run.summary.find((x) => x.rate === 1000);
    out.push({
      name: "chat 10 members 1,000 msg/s, durable SQLite store: p99",
      target: "< 20 ms",
      value: sq ? `${sq.p99.median.toFixed(1)} ms` : "n/a",
      met: sq ? sq.p99.median < 20 : null,
    });
    const rs = r.durable.resume[0];
    out.push({
      name: `resume of ${rs?.messages ?? 10_000} missed messages`,
      target: "< 1 s",
      value: rs ? `${rs.ms.toFixed(0)} ms` : "n/a",
      met: rs ? rs.ms < 1000 : null,
    });
  }
  const fan = (h: string, t: string) => r.fanout.find((f) => f.clip.startsWith(h) && f.transport === t);
  const thr = (t: string) => r.relay?.throughput.find((x) => x.transport === t);
  const lat = (t: string) => r.relay?.latency.find((x) => x.transport === t);
  if (r.relay) {
    const b = thr("bridge");
    out.push({
      name: "bridge throughput vs direct TCP",
      target: ">= 0.90",
      value: b ? b.ratioToDirect.median.toFixed(3) : "n/a",
      met: b ? b.ratioToDirect.median >= 0.9 : null,
    });
    const w = thr("websockify");
    const bl = lat("bridge");
    const wl = lat("websockify");
    out.push({
      name: "bridge ahead of websockify (throughput and ping latency)",
      target: "both better",
      value:
        b && w && bl && wl
          ? `throughput ${b.onTimeMBps.median.toFixed(1)} vs ${w.onTimeMBps.median.toFixed(1)} MB/s; added RTT ${bl.addedMs.median.toFixed(3)} vs ${wl.addedMs.median.toFixed(3)} ms`
          : "websockify not measured",
      met:
        b && w && bl && wl ? b.onTimeMBps.median >= w.onTimeMBps.median && bl.addedMs.median < wl.addedMs.median : null,
    });
  }
  const f360 = fan("640x360", "tcp");
  if (f360)
    out.push({
      name: "640x360 viewers at >= 99% on time, direct",
      target: ">= 300",
      value: `${f360.maxViewers}${f360.levels.every((l) => l.passed) ? " (every level tried passed)" : ""}`,
      met: f360.maxViewers >= 300,
    });
  const b360 = fan("640x360", "bridge");
  if (b360)
    out.push({
      name: "640x360 viewers at >= 99% on time, bridge",
      target: ">= 150",
      value: `${b360.maxViewers}${b360.levels.every((l) => l.passed) ? " (every level tried passed)" : ""}`,
      met: b360.maxViewers >= 150,
    });
  for (const t of ["tcp", "bridge"] as const) {
    const v100 = r.chat.find((c) => c.members === 100 && c.transport === t && c.env === "v2");
    const a = v100?.summary.find((s) => s.rate === 1000);
    if (v100)
      out.push({
        name: `v2 chat p99 at 1,000 msg/s to 100 members (${t === "tcp" ? "direct" : "bridge"})`,
        target: "< 20 ms",
        value: a
          ? `${a.p99.median.toFixed(1)} ms`
          : `not reached (ladder stopped at ${v100.summary.at(-1)?.rate ?? 0}/s)`,
        met: a ? a.p99.median < 20 : false,
      });
    const v500 = r.chat.find((c) => c.members === 500 && c.transport === t && c.env === "v2");
    const b = v500?.summary.find((s) => s.rate === 100);
    if (v500)
      out.push({
        name: `v2 chat p99 at 100 msg/s in a 500-member room (${t === "tcp" ? "direct" : "bridge"})`,
        target: "< 50 ms",
        value: b
          ? `${b.p99.median.toFixed(1)} ms`
          : `not reached (ladder stopped at ${v500.summary.at(-1)?.rate ?? 0}/s)`,
        met: b ? b.p99.median < 50 : false,
      });
  }
  if (r.e2e) {
    const e = r.e2e;
    const sizes = e.envelopes.map((x) => x.v2Bytes);
    out.push({
      name: "v2 envelope bytes for 10 / 100 / 500 members, 120-char text",
      target: "flat, < 1 KB + text",
      value: sizes.join(" / "),
      met: Math.max(...sizes) === Math.min(...sizes) && Math.max(...sizes) < 1024 + 120,
    });
    out.push({
      name: "v2 seal / open per message, Node",
      target: "< 1 ms",
      value: `${e.node.sealMs.median.toFixed(3)} / ${e.node.openMs.median.toFixed(3)} ms`,
      met: e.node.sealMs.median < 1 && e.node.openMs.median < 1,
    });
    const br = "error" in e.chromium ? null : e.chromium;
    out.push({
      name: "v2 seal / open per message, Chromium",
      target: "< 1 ms",
      value: br ? `${br.sealMs.median.toFixed(3)} / ${br.openMs.median.toFixed(3)} ms` : "not measured",
      met: br ? br.sealMs.median < 1 && br.openMs.median < 1 : null,
    });
    out.push({
      name: "one rotation in a 500-member room (one sender)",
      target: "reported",
      value: `${e.rotation500.wrapMs} ms, ${e.rotation500.bytes} bytes`,
      met: null,
    });
  }
  const c100 = r.chat.find((c) => c.members === 100 && c.transport === "tcp" && c.env === "sealed");
  if (c100) {
    const at = c100.summary.find((s) => s.rate === 1000);
    // A rate reached whose reps had too few deliveries for a p99 has no median (n 0): say so, not NaN.
    const p99 = at && at.p99.n > 0 ? at.p99.median : null;
    out.push({
      name: "chat p99 at 1,000 msg/s to 100 members (sealed envelopes, direct)",
      target: "< 20 ms",
      value:
        p99 !== null
          ? `${p99.toFixed(1)} ms`
          : at
            ? `not reached: too few deliveries at 1000/s for a p99 (p50 ${at.p50.median.toFixed(0)} ms); highest rate with p99 < 50 ms: ${c100.maxRateP99Under50}/s`
            : `not reached: the ladder stopped at ${c100.summary.at(-1)?.rate ?? 0}/s (p99 ${c100.summary.at(-1)?.p99.median.toFixed(0) ?? "?"} ms); highest rate with p99 < 50 ms: ${c100.maxRateP99Under50}/s`,
      met: p99 !== null ? p99 < 20 : false,
    });
  }
  const pv = perViewerRatio(r);
  if (!pv)
    out.push({
      name: "CPU of an extra viewer / CPU of decoding",
      target: "< 2%",
      value: "not measured: needs two direct 640x360 fan-out levels",
      met: null,
    });
  if (pv)
    out.push({
      name: "CPU of an extra viewer / CPU of decoding",
      target: "< 2%",
      value: `${(pv.ratio * 100).toFixed(2)}% (${(pv.perViewer * 1000).toFixed(2)} ms CPU/s per viewer vs ${(pv.decode * 1000).toFixed(1)} ms CPU/s decode)`,
      met: pv.ratio < 0.02,
    });
  const tt = r.ttff.find((t) => t.transport === "tcp");
  if (tt)
    out.push({
      name: "warm time to first frame (direct)",
      target: "< 100 ms",
      value: `${tt.warmMs.median.toFixed(1)} ms`,
      met: tt.warmMs.median < 100,
    });
  if (r.audio) out.push(...audioTargets(r.audio));
  if (r.idle)
    out.push({
      name: "core memory per idle member",
      target: "< 30 KiB",
      value: `${r.idle.perMemberKiB.median.toFixed(1)} KiB`,
      met: r.idle.perMemberKiB.median < 30,
    });
  if (r.cluster) out.push(...clusterTargets(r.cluster));
  return out;
}

/** Decode-once cost of one more viewer (slope of core CPU over the 360p direct levels) against the decode's CPU. */
export function perViewerRatio(r: Results): { perViewer: number; decode: number; ratio: number } | null {
  const f = r.fanout.find((x) => x.clip.startsWith("640x360") && x.transport === "tcp");
  const d = r.decode.find((x) => x.clip.startsWith("640x360"));
  if (!f || !d || f.levels.length < 2) return null;
  const s = slope(
    f.levels.map((l) => l.viewers),
    f.levels.map((l) => l.coreCpu),
  );
  return { perViewer: s, decode: d.decodeCpuPerVideoS.median, ratio: s / d.decodeCpuPerVideoS.median };
}

export type { ChatRun, CryptoCost, FanoutRun, RelayResult, DecodeResult, TtffResult, SetupResult, IdleMemory };

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);

/** The sound rows: decode ratio, per-viewer cost with sound, the big levels, first sound. */
export function audioTargets(a: NonNullable<Results["audio"]>): TargetCheck[] {
  const out: TargetCheck[] = [];
  for (const d of a.decodes ?? [a.decode])
    out.push({
      name: `audio decode CPU / video decode CPU, ${d.clip}`,
      target: "< 10%",
      value: `${(d.ratio * 100).toFixed(1)}% (${(d.audioCpu * 100).toFixed(2)}% vs ${(d.videoCpu * 100).toFixed(1)}% of a core)`,
      met: d.ratio < 0.1,
    });
  const direct = a.levels.filter((l) => l.transport === "tcp");
  const counts = [...new Set(direct.map((l) => l.viewers))].sort((x, y) => x - y);
  if (counts.length >= 2) {
    const [lo, hi] = [counts[0]!, counts.at(-1)!];
    // The median of a level's repeats (--repeats), else its one run.
    const cpu = (n: number, s: boolean) => {
      const xs = direct
        .filter((l) => l.viewers === n && l.sound === s)
        .map((l) => l.coreCpu)
        .sort((x, y) => x - y);
      return xs.length === 0
        ? NaN
        : xs.length % 2
          ? xs[xs.length >> 1]!
          : (xs[xs.length / 2 - 1]! + xs[xs.length / 2]!) / 2;
    };
    const slopeSound = (cpu(hi, true) - cpu(lo, true)) / (hi - lo);
    const slopeSilent = (cpu(hi, false) - cpu(lo, false)) / (hi - lo);
    const extra = (slopeSound - slopeSilent) / slopeSilent;
    out.push({
      name: "per-viewer core CPU, sound vs silent",
      target: "< +5%",
      value: `${(extra * 100).toFixed(1)}% (${(slopeSound * 1e5).toFixed(2)} vs ${(slopeSilent * 1e5).toFixed(2)} ms CPU/s per 100 viewers)`,
      met: extra < 0.05,
    });
    const decode = a.decode.videoCpu + a.decode.audioCpu;
    out.push({
      name: "CPU of an extra viewer with sound / CPU of decoding",
      target: "< 2%",
      value: `${((slopeSound / decode) * 100).toFixed(2)}%`,
      met: slopeSound / decode < 0.02,
    });
  }
  for (const l of a.levels.filter((x) => x.sound)) {
    const goal = l.transport === "tcp" ? 1000 : 500;
    if (
      l.viewers < goal &&
      l.viewers !== Math.max(...a.levels.filter((x) => x.transport === l.transport && x.sound).map((x) => x.viewers))
    )
      continue;
    out.push({
      name: `640x360 viewers with sound, frames and packets >= 99% on time, ${l.transport === "tcp" ? "direct" : "bridge"}`,
      target: `${goal}`,
      value: `${l.viewers}: frames ${l.framesAt99}/${l.viewers}, packets ${l.packetsAt99}/${l.viewers}`,
      met: l.viewers >= goal ? l.passed : null,
    });
  }
  const warm = [...a.firstSound.warmMs].sort((x, y) => x - y);
  const med = warm[warm.length >> 1] ?? NaN;
  out.push({
    name: "warm play to first sound (direct)",
    target: "< 150 ms",
    value: `${med.toFixed(1)} ms`,
    met: med < 150,
  });
  return out;
}
