// Text subtitle streams inside a video file: listed with ffprobe, extracted
// one at a time with ffmpeg as WebVTT and parsed like a sidecar file. Bitmap
// subtitles (PGS, DVD, DVB) are images, not text, and are not listed.

import { ffprobePath } from "../video/ffmpeg";
import { normalizeLanguage } from "./language";
import { runTool } from "./run-tool";

export const TEXT_SUBTITLE_CODECS: ReadonlySet<string> = new Set([
  "subrip",
  "srt",
  "ass",
  "ssa",
  "mov_text",
  "webvtt",
  "text",
]);

export interface EmbeddedStream {
  /** Position among the file's subtitle streams: the N of `-map 0:s:N`. */
  n: number;
  codec: string;
  lang: string;
  title: string | null;
  default: boolean;
  forced: boolean;
}

const PROBE_TIMEOUT_MS = 15_000;
const PROBE_OUTPUT_BYTES = 1 << 20;

interface ProbeStreams {
  streams?: Array<{
    codec_name?: unknown;
    disposition?: { default?: unknown; forced?: unknown };
    tags?: { language?: unknown; title?: unknown };
  }>;
}

/** Interprets ffprobe's JSON for `-select_streams s`; separate so it is testable on its own. */
export function interpretSubtitleStreams(json: unknown): EmbeddedStream[] {
  const streams = (json as ProbeStreams | null)?.streams;
  if (!Array.isArray(streams)) return [];
  const out: EmbeddedStream[] = [];
  streams.forEach((s, n) => {
    const codec = typeof s?.codec_name === "string" ? s.codec_name : "";
    if (!TEXT_SUBTITLE_CODECS.has(codec)) return;
    const tag = typeof s.tags?.language === "string" ? s.tags.language : "";
    const title = typeof s.tags?.title === "string" && s.tags.title.trim() ? s.tags.title.trim().slice(0, 100) : null;
    out.push({
      n,
      codec,
      lang: normalizeLanguage(tag) ?? "und",
      title,
      default: s.disposition?.default === 1,
      forced: s.disposition?.forced === 1,
    });
  });
  return out;
}

export type StreamsResult = { ok: true; streams: EmbeddedStream[] } | { ok: false; detail: string };

export async function probeSubtitleStreams(path: string, ffprobe?: string): Promise<StreamsResult> {
  let bin: string;
  try {
    bin = ffprobe ?? (await ffprobePath());
  } catch (err) {
    return { ok: false, detail: (err as Error).message };
  }
  const args = [
    "-v",
    "error",
    "-print_format",
    "json",
    "-show_entries",
    "stream=index,codec_name:stream_tags=language,title:stream_disposition=default,forced",
    "-select_streams",
    "s",
    // "file:" so a name is never read as a protocol ("concat:", "http:").
    `file:${path}`,
  ];
  const r = await runTool(bin, args, { timeoutMs: PROBE_TIMEOUT_MS, maxStdoutBytes: PROBE_OUTPUT_BYTES });
  if (!r.ok) return { ok: false, detail: r.detail };
  try {
    return { ok: true, streams: interpretSubtitleStreams(JSON.parse(r.stdout.toString("utf8"))) };
  } catch {
    return { ok: false, detail: "unreadable ffprobe output" };
  }
}

/** ffmpeg arguments that write subtitle stream `n` of `path` to stdout as WebVTT. */
export function extractArgs(path: string, n: number): string[] {
  return [
    "-hide_banner",
    "-nostdin",
    "-loglevel",
    "error",
    "-i",
    `file:${path}`,
    "-map",
    `0:s:${n}`,
    "-f",
    "webvtt",
    "-",
  ];
}
