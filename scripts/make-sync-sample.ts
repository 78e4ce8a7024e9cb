// Generates the lip-sync / viewer-sync sample with ffmpeg's lavfi sources: a
// white flash frame and a beep at known times, the frame index readable from
// the pixels (tests/helpers/frameCode.ts), two audio tracks (eng 1 kHz, fra
// 2 kHz). Variants: 5.1 audio, no audio, a corrupt audio stream.
// `npm run make-sync-sample [-- DIR]` writes sync-sample*.mp4 into DIR (default: the OS temp dir).

import { execFile } from "node:child_process";
import { mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { ffmpegPath } from "../server/video/ffmpeg";

export type SyncVariant = "stereo" | "surround51" | "none" | "corrupt";

export interface SyncSampleOptions {
  durationS?: number;
  width?: number;
  height?: number;
  fps?: number;
  /** A flash and a beep every this many seconds, the first at 0. */
  periodS?: number;
  beepMs?: number;
  variant?: SyncVariant;
}

export const SYNC_DEFAULTS = { durationS: 6, width: 320, height: 180, fps: 30, periodS: 2, beepMs: 100 } as const;
/** Beep frequency per audio track, in track order. */
export const TRACK_TONES = [
  { language: "eng", hz: 1000 },
  { language: "fra", hz: 2000 },
] as const;

function run(bin: string, args: string[]): Promise<void> {
  return new Promise((res, rej) => {
    execFile(bin, args, { timeout: 120_000 }, (err, _out, stderr) => {
      if (err) rej(new Error(`ffmpeg failed: ${stderr.trim().split("\n").slice(-3).join(" | ") || err.message}`));
      else res();
    });
  });
}

/** geq luma: code row on top (16 bits of N, then white, black), a white frame on each period start, dark grey otherwise. */
function videoFilter(o: Required<Omit<SyncSampleOptions, "variant">>): string {
  const b = o.width / 20;
  const bit = `floor(X/${b})`;
  const code = `if(lt(${bit},16),255*mod(floor(N/pow(2,${bit})),2),if(eq(${bit},16),255,0))`;
  const flash = `if(lt(mod(N,${Math.round(o.periodS * o.fps)}),1),255,48)`;
  const lum = `if(lt(Y,${b}),${code},${flash})`;
  return `color=c=black:size=${o.width}x${o.height}:rate=${o.fps}:duration=${o.durationS},format=gray,geq=lum='${lum}',format=yuv420p`;
}

function tone(hz: number, o: Required<Omit<SyncSampleOptions, "variant">>, layout: "stereo" | "5.1"): string {
  const e = `if(lt(mod(t\\,${o.periodS})\\,${o.beepMs / 1000})\\,0.5*sin(2*PI*${hz}*t)\\,0)`;
  const chans = layout === "stereo" ? `${e}|${e}` : `${e}|${e}|${e}|0|${e}|${e}`;
  return `aevalsrc='${chans}':c=${layout}:s=48000:d=${o.durationS}`;
}

/** Writes one sample file and returns its path. */
export async function makeSyncSample(outPath: string, opts: SyncSampleOptions = {}): Promise<string> {
  const o = { ...SYNC_DEFAULTS, ...opts };
  const variant = opts.variant ?? "stereo";
  const bin = await ffmpegPath();
  await mkdir(dirname(outPath), { recursive: true });
  const args = ["-hide_banner", "-nostdin", "-loglevel", "error", "-y", "-f", "lavfi", "-i", videoFilter(o)];
  const tracks = variant === "none" ? [] : variant === "corrupt" ? [TRACK_TONES[0]] : TRACK_TONES;
  for (const t of tracks) args.push("-f", "lavfi", "-i", tone(t.hz, o, variant === "surround51" ? "5.1" : "stereo"));
  args.push("-map", "0:v");
  tracks.forEach((t, i) => args.push("-map", `${i + 1}:a`, `-metadata:s:a:${i}`, `language=${t.language}`));
  args.push("-c:v", "libx264", "-preset", "veryfast", "-crf", "18", "-pix_fmt", "yuv420p", "-g", String(o.fps));
  if (tracks.length > 0) args.push("-c:a", "aac", "-b:a", "128k");
  // Corrupt: every audio packet is replaced by noise, so the stream is declared but undecodable.
  if (variant === "corrupt") args.push("-bsf:a", "noise=amount=1");
  args.push("-movflags", "+faststart", outPath);
  await run(bin, args);
  return outPath;
}

async function main(): Promise<void> {
  const dir = resolve(process.argv[2] ?? join(tmpdir(), "sealroom-sync-sample"));
  for (const variant of ["stereo", "surround51", "none", "corrupt"] as const) {
    const out = join(dir, variant === "stereo" ? "sync-sample.mp4" : `sync-sample-${variant}.mp4`);
    await makeSyncSample(out, { variant });
    console.log(`wrote ${out}`);
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err: unknown) => {
    console.error(err instanceof Error ? err.message : err);
    process.exit(1);
  });
}
