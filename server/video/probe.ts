// Reads duration, size and frame rate of a file's first video stream with
// ffprobe. Failures are values, not exceptions: a library directory is user
// content, and one bad file must never take the catalogue down.

import { execFile } from "node:child_process";
import { stat } from "node:fs/promises";
import { ffprobePath } from "./ffmpeg";
import type { MediaInfo } from "./types";

export type ProbeFailureReason = "missing" | "empty" | "corrupt" | "no_video" | "bad_metadata";

export type ProbeResult = { ok: true; info: MediaInfo } | { ok: false; reason: ProbeFailureReason; detail: string };

const PROBE_TIMEOUT_MS = 15_000;

interface ProbeJson {
  streams?: Array<{
    codec_type?: string;
    width?: number;
    height?: number;
    avg_frame_rate?: string;
    r_frame_rate?: string;
    duration?: string;
  }>;
  format?: { duration?: string };
}

/** "30000/1001" -> 29.97; "0/0" and garbage -> NaN. */
export function parseRate(rate: string | undefined): number {
  if (!rate) return NaN;
  const [num, den = "1"] = rate.split("/");
  const value = Number(num) / Number(den);
  return Number.isFinite(value) && value > 0 ? Math.round(value * 100) / 100 : NaN;
}

function fail(reason: ProbeFailureReason, detail: string): ProbeResult {
  return { ok: false, reason, detail };
}

function runProbe(bin: string, path: string): Promise<{ stdout: string; error: string | null }> {
  const args = [
    "-v",
    "error",
    "-print_format",
    "json",
    "-show_entries",
    "format=duration:stream=codec_type,width,height,avg_frame_rate,r_frame_rate,duration",
    "-select_streams",
    "v:0",
    // "file:" stops ffprobe from reading a name like "concat:..." or "http:..." as a protocol.
    `file:${path}`,
  ];
  return new Promise((resolve) => {
    execFile(bin, args, { timeout: PROBE_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, stdout, stderr) => {
      resolve({ stdout, error: err ? (stderr.trim() || err.message).slice(0, 500) : null });
    });
  });
}

/** Interprets ffprobe's JSON; separate from the process so it is testable on its own. */
export function interpretProbe(json: ProbeJson): ProbeResult {
  const v = json.streams?.find((s) => s.codec_type === "video");
  if (!v) return fail("no_video", "no video stream");
  const width = v.width ?? 0;
  const height = v.height ?? 0;
  if (!(width > 0 && height > 0)) return fail("bad_metadata", `bad dimensions ${width}x${height}`);
  // avg_frame_rate is what players show; r_frame_rate is the fallback for streams without an average.
  let fps = parseRate(v.avg_frame_rate);
  if (Number.isNaN(fps)) fps = parseRate(v.r_frame_rate);
  if (Number.isNaN(fps)) return fail("bad_metadata", "unknown frame rate");
  const seconds = Number(json.format?.duration ?? v.duration);
  if (!(Number.isFinite(seconds) && seconds > 0)) return fail("bad_metadata", "unknown duration");
  return { ok: true, info: { durationMs: Math.round(seconds * 1000), width, height, fps } };
}

export async function probeVideo(path: string): Promise<ProbeResult> {
  try {
    const st = await stat(path);
    if (!st.isFile()) return fail("missing", "not a regular file");
    if (st.size === 0) return fail("empty", "zero-byte file");
  } catch (err) {
    return fail("missing", (err as Error).message);
  }
  const { stdout, error } = await runProbe(await ffprobePath(), path);
  if (error !== null) return fail("corrupt", error);
  let json: ProbeJson;
  try {
    json = JSON.parse(stdout) as ProbeJson;
  } catch {
    return fail("corrupt", "unreadable ffprobe output");
  }
  return interpretProbe(json);
}
