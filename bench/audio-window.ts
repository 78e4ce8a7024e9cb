// Sound decoded just ahead of need, on a two-hour film (the bench's 30 s
// 640x360 clip with a continuous tone, looped 240 times without re-encoding):
// memory held and ffmpeg CPU after BENCH_PLAY_S (default 60) s of one reader
// moving in real time, with the window (the default limits) and without it
// (decodeAheadSec and audioBehindSec huge: the whole-file decode sound had
// before), and the time from a seek anywhere in the film to its first packet.
//   node --import tsx bench/audio-window.ts

import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { AudioPacketCache } from "../server/audio/cache";
import { ffmpegPath } from "../server/video/ffmpeg";
import { VIDEO_LIMITS } from "../server/video/limits";
import { processTree } from "./lib/procs";
import { soundClip } from "./suites/audio";

const PLAY_S = Number(process.env.BENCH_PLAY_S ?? 60);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function film(): Promise<string> {
  const clip = await soundClip(640, 360, 30);
  const out = join(clip.dir, "film-2h-sound.mp4");
  if (!existsSync(out)) {
    const bin = await ffmpegPath();
    await new Promise<void>((res, rej) =>
      execFile(
        bin,
        ["-v", "error", "-y", "-stream_loop", "239", "-i", clip.path, "-c", "copy", out],
        { timeout: 300_000 },
        (e) => (e ? rej(e) : res()),
      ),
    );
  }
  return out;
}

/** CPU seconds of the live ffmpeg children (not tsx's esbuild service, which also runs under this process). */
function ffmpegCpu(): number {
  let sum = 0;
  for (const pid of processTree(process.pid)) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, "utf8").trim() !== "ffmpeg") continue;
      const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
      sum += (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks
    } catch {
      // gone
    }
  }
  return sum;
}

async function play(path: string, windowed: boolean): Promise<string> {
  const cache = new AudioPacketCache(windowed ? {} : { aheadSec: 1e9, behindSec: 1e9 });
  const lease = cache.acquire("film", path, 0, 0);
  const t0 = performance.now();
  let cursor = 0;
  let cpu = 0;
  while (performance.now() - t0 < PLAY_S * 1000) {
    cursor = lease.need(performance.now() - t0, cursor);
    cpu = Math.max(cpu, ffmpegCpu());
    await sleep(100);
  }
  const held = cache.heldBytes("film", 0);
  const b = lease.buffer;
  const line = `${windowed ? "window" : "whole file"}: after ${PLAY_S} s, ${(held / 2 ** 20).toFixed(2)} MiB held, audio ${(b.firstMs / 1000).toFixed(1)}-${(b.endMs / 1000).toFixed(1)} s kept, ffmpeg CPU ${cpu.toFixed(2)} s`;
  lease.release();
  cache.close();
  return line;
}

async function seeks(path: string): Promise<string> {
  const cache = new AudioPacketCache();
  const lease = cache.acquire("film", path, 0, 0);
  await sleep(1000);
  const times: number[] = [];
  for (const min of [5, 95, 30, 118, 60, 12, 80, 45, 105, 2]) {
    const pos = min * 60_000 + 1234;
    const t0 = performance.now();
    lease.need(pos, 0);
    while (lease.buffer.indexAt(pos) >= lease.buffer.packets.length && performance.now() - t0 < 10_000) await sleep(1);
    times.push(performance.now() - t0);
    await sleep(300);
  }
  lease.release();
  cache.close();
  const s = [...times].sort((a, b) => a - b);
  return `seek -> first packet at the target (${times.length} seeks): median ${s[s.length >> 1]!.toFixed(1)} ms, max ${s.at(-1)!.toFixed(1)} ms`;
}

async function main(): Promise<void> {
  const path = await film();
  console.log(
    `film: ${path} (2 h), limits decodeAheadSec=${VIDEO_LIMITS.decodeAheadSec} audioBehindSec=${VIDEO_LIMITS.audioBehindSec}`,
  );
  console.log(await play(path, true));
  console.log(await play(path, false));
  console.log(await seeks(path));
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
