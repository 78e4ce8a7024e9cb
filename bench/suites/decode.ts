// Decode once against the naive design. The naive per-client server runs one
// real-time decoder per viewer; here that is N concurrent `ffmpeg -re` with
// the core's own transcode arguments, and its cost per viewer is their CPU
// divided by N. Decode-once's cost per viewer is the slope of the core's CPU
// against the number of viewers in the fan-out runs.

import { spawn } from "node:child_process";
import { transcodeArgs } from "../../server/video/transcode";
import { ffmpegPath } from "../../server/video/ffmpeg";
import type { Clip } from "../lib/clips";
import { treeCpu } from "../lib/procs";
import { spread, type Spread } from "../lib/stats";

/** CPU seconds of one ffmpeg run (children of a shell are reaped into its cutime). */
function runFfmpeg(args: string[]): Promise<{ cpu: number; wall: number }> {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn("sh", ["-c", 'f="$1"; shift; "$f" "$@" > /dev/null; cat /proc/$$/stat', "sh", ...args], {
      stdio: ["ignore", "pipe", "ignore"],
    });
    let out = "";
    let lastCpu = 0;
    const poll = setInterval(() => (lastCpu = Math.max(lastCpu, treeCpu(child.pid!))), 200);
    child.stdout.on("data", (d) => (out += d));
    child.once("error", reject);
    child.once("exit", () => {
      clearInterval(poll);
      const f = out.slice(out.lastIndexOf(")") + 2).split(" ");
      const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
      resolve({ cpu: Number.isFinite(ticks) ? ticks / 100 : lastCpu, wall: (performance.now() - t0) / 1000 });
    });
  });
}

export interface DecodeResult {
  clip: string;
  /** One decode of the whole clip as the core does it: CPU seconds per second of video. */
  decodeCpuPerVideoS: Spread;
  /** Naive: N real-time decoders at once; CPU seconds per second per viewer. */
  naive: { viewers: number; cpuPerViewer: Spread }[];
}

export async function decodeCost(
  clip: Clip,
  outSize: { width: number; height: number },
  reps: number,
  naiveN: readonly number[],
): Promise<DecodeResult> {
  const ffmpeg = await ffmpegPath();
  const args = transcodeArgs(clip.path, outSize, clip.fps, 5).map((a) => (a === "pipe:1" ? "-" : a));
  const once: number[] = [];
  for (let r = 0; r < reps; r++) once.push((await runFfmpeg([ffmpeg, ...args])).cpu / clip.durationS);
  const naive: DecodeResult["naive"] = [];
  for (const n of naiveN) {
    const per: number[] = [];
    for (let r = 0; r < reps; r++) {
      const runs = await Promise.all(Array.from({ length: n }, () => runFfmpeg([ffmpeg, "-re", ...args])));
      const wall = Math.max(...runs.map((x) => x.wall));
      per.push(runs.reduce((a, x) => a + x.cpu, 0) / wall / n);
    }
    naive.push({ viewers: n, cpuPerViewer: spread(per) });
  }
  return { clip: `${clip.width}x${clip.height}@${clip.fps}`, decodeCpuPerVideoS: spread(once), naive };
}

/** Least-squares slope of y on x. */
export function slope(xs: readonly number[], ys: readonly number[]): number {
  const n = xs.length;
  if (n < 2) return NaN;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i] - mx) * (ys[i] - my);
    den += (xs[i] - mx) ** 2;
  }
  return num / den;
}
