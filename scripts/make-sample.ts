// Generates test clips with ffmpeg's lavfi sources, so the repository needs no
// third-party footage. `npm run make-sample` writes videos/sample.mp4 (and
// videos/sound-and-sync.mp4, the library's video with sound); tests
// import makeClip() to build their own small clips in a temp dir.

import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { dirname, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { ffmpegPath } from "../server/video/ffmpeg";
import { makeSyncSample } from "./make-sync-sample";

export interface ClipOptions {
  durationS: number;
  width: number;
  height: number;
  fps: number;
  /** Draw a running timestamp and frame number (needs drawtext and a font). Default true. */
  label?: boolean;
  /** x264 CRF; higher is smaller. Default 28. */
  crf?: number;
}

function run(bin: string, args: string[]): Promise<void> {
  return new Promise((res, rej) => {
    execFile(bin, args, { timeout: 120_000 }, (err, _out, stderr) => {
      if (err) rej(new Error(`ffmpeg failed: ${stderr.trim().split("\n").slice(-3).join(" | ") || err.message}`));
      else res();
    });
  });
}

// testsrc2 already moves (scrolling bars, a rotating pattern); the drawtext
// label makes the position readable in a screenshot, which helps debug sync.
function filter(o: ClipOptions, label: boolean): string {
  const src = `testsrc2=size=${o.width}x${o.height}:rate=${o.fps}:duration=${o.durationS}`;
  if (!label) return `${src},format=yuv420p`;
  const size = Math.max(10, Math.round(o.height / 12));
  const text = "t=%{pts\\:hms} frame %{n}";
  const box = `drawtext=text='${text}':fontsize=${size}:fontcolor=white:box=1:boxcolor=black@0.6:x=8:y=h-th-8`;
  return `${src},${box},format=yuv420p`;
}

/** Writes an H.264 yuv420p MP4; falls back to an unlabelled clip when drawtext cannot run here. */
export async function makeClip(outPath: string, opts: ClipOptions): Promise<void> {
  const bin = await ffmpegPath();
  await mkdir(dirname(outPath), { recursive: true });
  const args = (label: boolean) => [
    "-hide_banner",
    "-nostdin",
    "-loglevel",
    "error",
    "-y",
    "-f",
    "lavfi",
    "-i",
    filter(opts, label),
    "-c:v",
    "libx264",
    "-preset",
    "medium",
    "-crf",
    String(opts.crf ?? 28),
    "-pix_fmt",
    "yuv420p",
    // Keyframe every second so seeking and partial files behave like real media.
    "-g",
    String(Math.round(opts.fps)),
    // moov up front: a browser or a truncated copy can still read the file.
    "-movflags",
    "+faststart",
    outPath,
  ];
  if (opts.label !== false) {
    try {
      await run(bin, args(true));
      return;
    } catch {
      // No freetype/fontconfig in this ffmpeg build: testsrc2 alone still moves.
    }
  }
  await run(bin, args(false));
}

export const SAMPLE = { durationS: 10, width: 640, height: 360, fps: 30 } as const;

/** The library's video with sound: a flash and a beep every 2 s, two audio tracks (scripts/make-sync-sample.ts). */
export const SOUND_SAMPLE = { durationS: 30, width: 640, height: 360 } as const;

async function main(): Promise<void> {
  const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");
  const out = resolve(root, "videos", "sample.mp4");
  const t0 = performance.now();
  await makeClip(out, { ...SAMPLE });
  console.log(`wrote ${out} in ${Math.round(performance.now() - t0)} ms`);
  const sound = resolve(root, "videos", "sound-and-sync.mp4");
  const t1 = performance.now();
  await makeSyncSample(sound, { ...SOUND_SAMPLE });
  console.log(`wrote ${sound} in ${Math.round(performance.now() - t1)} ms`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
