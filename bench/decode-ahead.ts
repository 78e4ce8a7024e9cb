// Decode just ahead of need, measured on a two-hour 1280x720 film: CPU of the
// core (with its ffmpeg) over the first 60 s of one room stream against the
// cost of decoding in real time, disk used by the frame cache, time from a
// seek anywhere in the film to its first picture, and first-frame times cold
// and warm. The film is made here (a 60 s testsrc2 clip looped 120 times
// without re-encoding, a few seconds) and kept in the OS temp dir. Run:
//   node --import tsx bench/decode-ahead.ts
// Environment: BENCH_GOP=frames between keyframes (default 60, i.e. 2 s; 250
// is x264's default), BENCH_PLAY_S=seconds of play to measure (default 60),
// BENCH_CORE_ROOT=another checkout to measure instead (e.g. the code before
// this change: `git archive <commit> | tar -x -C DIR`, node_modules linked),
// BENCH_LIMITS="NAME=N ..." extra `--limit`s for the core (e.g.
// frameCacheVideoBytes=1048576 to see the disk hold the window), BENCH_SEEKS=0
// to skip the seeks (first-frame times only, with a short BENCH_PLAY_S).

import { execFile, spawn } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ffmpegPath } from "../server/video/ffmpeg";
import { transcodeArgs } from "../server/video/transcode";
import { CLIP_DIR } from "./lib/clips";
import { identities } from "./lib/keys";
import { joinMember, keepAlive, parseBody } from "./lib/member";
import { ROOT, spawnProc, treeCpu } from "./lib/procs";
import { SERVER_NODE_FLAGS } from "../common/nodeFlags";

const GOP = Number(process.env.BENCH_GOP ?? 60);
const PLAY_S = Number(process.env.BENCH_PLAY_S ?? 60);
const CORE_ROOT = process.env.BENCH_CORE_ROOT ?? ROOT;
const FILM_S = 7200;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function run(bin: string, args: string[]): Promise<void> {
  return new Promise((res, rej) =>
    execFile(bin, args, { timeout: 600_000 }, (err, _o, e) => (err ? rej(new Error(e || err.message)) : res())),
  );
}

async function film(bin: string): Promise<{ dir: string; id: string; path: string }> {
  const dir = join(CLIP_DIR, `film-720p-2h-g${GOP}`);
  mkdirSync(dir, { recursive: true });
  const base = join(CLIP_DIR, `base-720p-60s-g${GOP}.mp4`);
  const id = "film.mp4";
  const path = join(dir, id);
  if (!existsSync(base)) {
    await run(bin, [
      "-hide_banner",
      "-loglevel",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      "testsrc2=size=1280x720:rate=30:duration=60",
      "-c:v",
      "libx264",
      "-preset",
      "veryfast",
      "-crf",
      "28",
      "-g",
      String(GOP),
      "-pix_fmt",
      "yuv420p",
      base,
    ]);
  }
  if (!existsSync(path)) {
    await run(bin, [
      "-hide_banner",
      "-loglevel",
      "error",
      "-y",
      "-stream_loop",
      String(FILM_S / 60 - 1),
      "-i",
      base,
      "-c",
      "copy",
      "-movflags",
      "+faststart",
      path,
    ]);
  }
  return { dir, id, path };
}

/** CPU seconds ffmpeg needs to make `seconds` of 720p frames the way the core does, as fast as it can. */
async function realTimeCost(bin: string, path: string, seconds: number): Promise<number> {
  const args = transcodeArgs(path, { width: 1280, height: 720 }, 30, 5);
  args.splice(args.indexOf("-f"), 0, "-frames:v", String(seconds * 30));
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "ignore"] });
  child.stdout.resume();
  let cpu = 0;
  const poll = setInterval(() => {
    cpu = Math.max(cpu, treeCpu(child.pid as number));
  }, 50);
  await new Promise((r) => child.once("exit", r));
  clearInterval(poll);
  return cpu;
}

function diskUsage(dir: string): number {
  let bytes = 0;
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const p = join(d, e.name);
      try {
        if (e.isDirectory()) walk(p);
        else bytes += statSync(p).blocks * 512;
      } catch {
        // deleted meanwhile
      }
    }
  };
  try {
    walk(dir);
  } catch {
    // not created yet
  }
  return bytes;
}

const bin = await ffmpegPath();
const f = await film(bin);
const cost60 = await realTimeCost(bin, f.path, 60);
const cacheDir = mkdtempSync(join(tmpdir(), "sealroom-ahead-"));
const extraLimits = (process.env.BENCH_LIMITS ?? "")
  .split(/\s+/)
  .filter(Boolean)
  .flatMap((l) => ["--limit", l]);
const args = [
  ...SERVER_NODE_FLAGS,
  join(CORE_ROOT, "bin/sealroom"),
  "server",
  "--host",
  "127.0.0.1",
  "--port",
  "0",
  "--videos",
  f.dir,
  "--cache-dir",
  cacheDir,
  "--log-level",
  "warn",
  ...extraLimits,
];
const { proc: core, match } = await spawnProc("core", process.execPath, args, /core listening on ([\d.]+):(\d+)/);
const port = Number(match[2]);
const [id] = await identities(1);
const m = await joinMember({ transport: "tcp", host: "127.0.0.1", port } as never, id, "film", "viewer");
// Past the core's 45 s idle timeout, as a real client does.
const stopPings = keepAlive(() => [m]);

let sid = 0;
let frames = 0;
let onFrame: ((frame: number, ptsMs: number) => void) | null = null;
m.onVideo = (b) => {
  if (b.readUInt32BE(0) !== sid || b.readUInt16BE(12) !== b.readUInt16BE(14) - 1) return;
  frames++;
  onFrame?.(b.readUInt32BE(4), b.readUInt32BE(8));
};
let started: ((s: number) => void) | null = null;
let lastStats = { sent: 0, dropped: 0 };
m.onControl = (t, body) => {
  if (t === "streamStats") {
    const st = parseBody<{ sid: number; sent: number; dropped: number }>(body);
    if (st.sid === sid) lastStats = { sent: st.sent, dropped: st.dropped };
  }
  if (process.env.BENCH_DEBUG) console.error("control", t, Buffer.from(body).toString().slice(0, 200));
  if (t === "stream") started?.(parseBody<{ sid: number }>(body).sid);
};

/** play (or seek), then ms until a frame at or after `ptsFrom` arrives. */
async function firstFrame(send: () => void, ptsFrom: number, timeoutMs = 15_000): Promise<number> {
  const t0 = performance.now();
  return new Promise((resolve) => {
    const timer = setTimeout(() => {
      onFrame = null;
      resolve(Infinity);
    }, timeoutMs);
    onFrame = (_frame, pts) => {
      if (pts + 50 < ptsFrom || pts > ptsFrom + 2000) return;
      clearTimeout(timer);
      onFrame = null;
      resolve(performance.now() - t0);
    };
    send();
  });
}

async function play(fromMs: number): Promise<number> {
  const got = new Promise<number>((r) => (started = r));
  const ms = firstFrame(() => m.send({ t: "play", video: f.id, scope: "room", fromMs }), fromMs);
  sid = await got;
  return ms;
}

const idle0 = core.cpu();
await sleep(1000);
const idle = core.cpu() - idle0;

// (a) one 720p room stream: CPU, second by second, and disk.
const cpu0 = core.cpu();
const coldMs = await play(0);
const perSec: number[] = [];
let maxDisk = 0;
let last = cpu0;
for (let s = 0; s < PLAY_S; s++) {
  await sleep(1000);
  const now = core.cpu();
  perSec.push(now - last);
  last = now;
  maxDisk = Math.max(maxDisk, diskUsage(cacheDir));
}
const cpuPlay = last - cpu0;
const framesPlayed = frames;
const statsPlayed = lastStats;
const windows5 = perSec
  .map((_, i) => perSec.slice(i, i + 5))
  .filter((w) => w.length === 5)
  .map((w) => w.reduce((a, b) => a + b, 0) / 5);

// (c) seeks anywhere in the film.
const seekTargets =
  process.env.BENCH_SEEKS === "0" ? [] : [3_600_000, 600_000, 7_150_000, 1_800_000, 5_400_000, 30_000, 4_321_000];
const seeks: Array<{ toMs: number; ms: number | string }> = [];
for (const toMs of seekTargets) {
  const ms = await firstFrame(() => m.send({ t: "control", sid, action: "seek", toMs }), toMs);
  seeks.push({ toMs, ms: Number.isFinite(ms) ? +ms.toFixed(0) : "no picture in 15 s" });
  await sleep(1500);
  maxDisk = Math.max(maxDisk, diskUsage(cacheDir));
}
const diskAfterSeeks = diskUsage(cacheDir);

// (d) warm first frame: the start of the film is still cached.
m.send({ t: "control", sid, action: "stop" });
await sleep(500);
const warmMs = await play(0);
m.send({ t: "control", sid, action: "stop" });
await sleep(300);

stopPings();
m.close();
await core.stop();
rmSync(cacheDir, { recursive: true, force: true });

const MiB = 1024 * 1024;
const result = {
  code: CORE_ROOT === ROOT ? "this checkout" : CORE_ROOT,
  limits: process.env.BENCH_LIMITS ?? "defaults",
  film: `1280x720 30 fps, ${FILM_S / 3600} h, keyframe every ${GOP} frames, ${(statSync(f.path).size / MiB).toFixed(0)} MiB`,
  realTimeDecodeCoresPerStream: +(cost60 / 60).toFixed(3),
  idleCores: +idle.toFixed(3),
  playSeconds: PLAY_S,
  framesReceived: framesPlayed,
  coreSentDropped: statsPlayed,
  cpuCoresOverPlay: +(cpuPlay / PLAY_S).toFixed(3),
  cpuCoresFirst5s: +(windows5[0] ?? 0).toFixed(3),
  cpuCoresMax5s: +Math.max(...windows5).toFixed(3),
  cpuCoresLast5s: +(windows5.at(-1) ?? 0).toFixed(3),
  diskMaxMiB: +(maxDisk / MiB).toFixed(1),
  diskAfterSeeksMiB: +(diskAfterSeeks / MiB).toFixed(1),
  coldFirstFrameMs: +coldMs.toFixed(0),
  warmFirstFrameMs: Number.isFinite(warmMs) ? +warmMs.toFixed(0) : "no picture in 15 s",
  seeks,
};
console.log(JSON.stringify(result, null, 2));
