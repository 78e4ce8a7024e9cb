// Parses SRT and WebVTT text into sorted cues. Lenient where real files are
// sloppy (missing indexes, dots for commas, one-digit hours, no blank line
// before the next cue) and strict where it matters: a cue whose timing cannot
// be read is skipped and counted, never guessed.

import { reduceMarkup, type CueSpan } from "./cue-markup";
import { LIBRARY_DEFAULTS } from "./limits";

export interface Cue {
  startMs: number;
  endMs: number;
  /** Plain text, never markup; lines joined by "\n". */
  text: string;
  spans?: CueSpan[];
  top?: true;
}

export type SubtitleFormat = "srt" | "vtt";

export interface ParseOptions {
  maxCues?: number;
  maxCueTextChars?: number;
}

export interface ParseCounts {
  /** Cues whose timing line could not be read, or that end before they start. */
  malformed: number;
  /** Cues with no text left after markup was removed. */
  empty: number;
  /** Cues past maxCues, dropped. */
  overLimit: number;
  /** Cues whose text was cut to maxCueTextChars. */
  truncated: number;
}

export interface ParsedSubtitles {
  format: SubtitleFormat;
  cues: Cue[];
  counts: ParseCounts;
  /** One line each, for the log and for the viewer who chose the track. */
  warnings: string[];
}

// hh:mm:ss,mmm or mm:ss.mmm (WebVTT allows no hours); 1-3 fraction digits.
const TIME = String.raw`(?:(\d{1,3}):)?(\d{1,2}):(\d{1,2})[,.](\d{1,3})`;
const TIMING = new RegExp(String.raw`^\s*${TIME}\s*-->\s*${TIME}(?:\s.*)?$`);
// Anything that tries to be a timing line, so a broken one is counted rather than read as text.
const TIMING_LIKE = /-->/;

function toMs(h: string | undefined, m: string, s: string, frac: string): number | null {
  const mm = Number(m);
  const ss = Number(s);
  if (mm > 59 || ss > 59) return null;
  // "5" after the comma is 500 ms, as players read it.
  const ms = Number(frac.padEnd(3, "0"));
  return ((Number(h ?? 0) * 60 + mm) * 60 + ss) * 1000 + ms;
}

export function parseTiming(line: string): { startMs: number; endMs: number } | null {
  const m = TIMING.exec(line);
  if (!m) return null;
  const startMs = toMs(m[1], m[2], m[3], m[4]);
  const endMs = toMs(m[5], m[6], m[7], m[8]);
  if (startMs === null || endMs === null || endMs <= startMs) return null;
  return { startMs, endMs };
}

export function detectFormat(text: string): SubtitleFormat {
  return /^\uFEFF?WEBVTT(?:[ \t\r\n]|$)/.test(text) ? "vtt" : "srt";
}

export function parseSubtitles(
  input: string,
  opts: ParseOptions = {},
  format: SubtitleFormat = detectFormat(input),
): ParsedSubtitles {
  const maxCues = opts.maxCues ?? LIBRARY_DEFAULTS.maxSubtitleCues;
  const maxChars = opts.maxCueTextChars ?? LIBRARY_DEFAULTS.maxCueTextChars;
  const counts: ParseCounts = { malformed: 0, empty: 0, overLimit: 0, truncated: 0 };
  const warnings: string[] = [];
  const lines = input
    .replace(/^\uFEFF/, "")
    .replace(/\r\n?/g, "\n")
    .split("\n");
  const cues: Cue[] = [];

  let i = 0;
  if (format === "vtt") i = 1; // the WEBVTT line; its header block ends at the first blank line
  // (A file that forgot that blank line still gets its first cue.)
  if (format === "vtt") while (i < lines.length && lines[i].trim() !== "" && !TIMING_LIKE.test(lines[i])) i++;

  while (i < lines.length) {
    const line = lines[i];
    if (line.trim() === "") {
      i++;
      continue;
    }
    // WebVTT blocks that are not cues.
    if (format === "vtt" && /^(NOTE|STYLE|REGION)(?:[ \t]|$)/.test(line)) {
      while (i < lines.length && lines[i].trim() !== "") i++;
      continue;
    }
    // Optional cue identifier (SRT index, WebVTT id) before the timing line.
    let timingAt = i;
    if (!TIMING_LIKE.test(line) && i + 1 < lines.length && TIMING_LIKE.test(lines[i + 1])) timingAt = i + 1;
    if (!TIMING_LIKE.test(lines[timingAt])) {
      // Stray text outside any cue: skip the block. An SRT index with no
      // timing line after it is a cue whose timing is unreadable.
      if (format === "srt" && /^\d+\s*$/.test(line)) counts.malformed++;
      while (i < lines.length && lines[i].trim() !== "") i++;
      continue;
    }
    const timing = parseTiming(lines[timingAt]);
    // Text runs to a blank line, or to the next cue when a file forgot the blank line.
    let j = timingAt + 1;
    const text: string[] = [];
    while (j < lines.length && lines[j].trim() !== "") {
      if (TIMING_LIKE.test(lines[j])) break;
      if (format === "srt" && /^\d+\s*$/.test(lines[j]) && j + 1 < lines.length && TIMING_LIKE.test(lines[j + 1]))
        break;
      text.push(lines[j]);
      j++;
    }
    i = j;
    if (!timing) {
      counts.malformed++;
      continue;
    }
    if (cues.length >= maxCues) {
      counts.overLimit++;
      continue;
    }
    const markup = reduceMarkup(text.join("\n"), { entities: format === "vtt" });
    if (markup.text.length === 0) {
      counts.empty++;
      continue;
    }
    const cue: Cue = { startMs: timing.startMs, endMs: timing.endMs, text: markup.text };
    if (markup.spans) cue.spans = markup.spans;
    if (markup.top) cue.top = true;
    if (cue.text.length > maxChars) {
      counts.truncated++;
      cutCue(cue, maxChars);
    }
    cues.push(cue);
  }
  // Stable sort: cues that start together keep file order.
  cues.sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs);

  if (counts.malformed > 0)
    warnings.push(`${counts.malformed} cue${counts.malformed === 1 ? "" : "s"} skipped: unreadable timing`);
  if (counts.overLimit > 0)
    warnings.push(`only the first ${maxCues} cues kept (maxSubtitleCues); ${counts.overLimit} dropped`);
  if (counts.truncated > 0)
    warnings.push(
      `${counts.truncated} cue text${counts.truncated === 1 ? "" : "s"} cut to ${maxChars} characters (maxCueTextChars)`,
    );
  return { format, cues, counts, warnings };
}

function cutCue(cue: Cue, max: number): void {
  cue.text = `${cue.text.slice(0, max - 1)}\u2026`;
  if (!cue.spans) return;
  let left = max - 1;
  const kept: CueSpan[] = [];
  for (const s of cue.spans) {
    if (left <= 0) break;
    kept.push({ ...s, text: s.text.slice(0, left) });
    left -= s.text.length;
  }
  kept[kept.length - 1].text += "\u2026";
  cue.spans = kept;
}
