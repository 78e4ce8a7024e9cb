// Reads one subtitle file into cues, bounded: the size is judged from fstat
// before a byte is read, and the read itself stops at the limit, so a 50 MB
// file (or one that grows while being read) costs one stat, not 50 MB.

import { open, type FileHandle } from "node:fs/promises";
import { LIBRARY_DEFAULTS } from "./limits";
import { parseSubtitles, type Cue, type ParseCounts, type SubtitleFormat } from "./subtitle-parse";
import { decodeSubtitleBytes } from "./text-encoding";

export type SubtitleFailure =
  "too_large" | "unreadable" | "not_text" | "no_cues" | "extract_failed" | "timeout" | "unknown_track";

export type SubtitleLoad =
  | { ok: true; cues: Cue[]; encoding: string; format: SubtitleFormat; counts: ParseCounts; warnings: string[] }
  | { ok: false; reason: SubtitleFailure; message: string };

export interface SubtitleReadOptions {
  maxSubtitleBytes?: number;
  maxSubtitleCues?: number;
  maxCueTextChars?: number;
  /** The format the file's name claims; the content decides when it says WEBVTT. */
  format?: SubtitleFormat;
  /** Port for tests that want to see what is read; defaults to fs.promises.open. */
  openFile?: (path: string) => Promise<FileHandle>;
}

function fail(reason: SubtitleFailure, message: string): SubtitleLoad {
  return { ok: false, reason, message };
}

/** Decodes and parses subtitle bytes already in memory (a file, or ffmpeg's output). */
export function loadSubtitleBytes(bytes: Uint8Array, opts: SubtitleReadOptions = {}): SubtitleLoad {
  const decoded = decodeSubtitleBytes(bytes);
  if (!decoded.ok) return fail("not_text", decoded.warning);
  const text = decoded.text;
  const looksVtt = /^\uFEFF?WEBVTT(?:[ \t\r\n]|$)/.test(text);
  const parsed = parseSubtitles(
    text,
    {
      maxCues: opts.maxSubtitleCues ?? LIBRARY_DEFAULTS.maxSubtitleCues,
      maxCueTextChars: opts.maxCueTextChars ?? LIBRARY_DEFAULTS.maxCueTextChars,
    },
    looksVtt ? "vtt" : "srt",
  );
  const warnings = [...(decoded.warning ? [decoded.warning] : []), ...parsed.warnings];
  if (opts.format === "vtt" && !looksVtt) warnings.push("no WEBVTT header; read as SRT");
  if (parsed.cues.length === 0) {
    return fail("no_cues", ["no readable cues", ...warnings].join("; "));
  }
  return {
    ok: true,
    cues: parsed.cues,
    encoding: decoded.encoding,
    format: parsed.format,
    counts: parsed.counts,
    warnings,
  };
}

export async function readSubtitleFile(path: string, opts: SubtitleReadOptions = {}): Promise<SubtitleLoad> {
  const max = opts.maxSubtitleBytes ?? LIBRARY_DEFAULTS.maxSubtitleBytes;
  let fh: FileHandle;
  try {
    fh = await (opts.openFile ?? open)(path);
  } catch (err) {
    return fail(
      "unreadable",
      `cannot open the subtitle file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
  try {
    // fstat on the open handle: the file judged is the file read.
    const st = await fh.stat();
    if (!st.isFile()) return fail("unreadable", "not a regular file");
    if (st.size > max) return fail("too_large", `subtitle file is ${st.size} bytes, over maxSubtitleBytes (${max})`);
    // One byte more than allowed, so a file that grew since the stat is caught too.
    const buf = Buffer.alloc(Math.min(st.size, max) + 1);
    let got = 0;
    while (got < buf.length) {
      const { bytesRead } = await fh.read(buf, got, buf.length - got, got);
      if (bytesRead === 0) break;
      got += bytesRead;
    }
    if (got > max) return fail("too_large", `subtitle file grew past maxSubtitleBytes (${max}) while being read`);
    return loadSubtitleBytes(buf.subarray(0, got), opts);
  } catch (err) {
    return fail(
      "unreadable",
      `cannot read the subtitle file: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  } finally {
    await fh.close().catch(() => {});
  }
}
