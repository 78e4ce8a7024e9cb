// Which subtitle files beside the videos belong to which video, and in what
// language: "film.mp4" owns "film.srt", "film.en.srt", "film.pt-BR.forced.vtt".
// Pure: it works on directory entry names, so the rules are unit-tested
// without a file system.

import { extname } from "node:path";
import { isPlausibleEntryName } from "./library-entry";
import { normalizeLanguage } from "./language";
import type { SubtitleFormat } from "./subtitle-parse";

export const SUBTITLE_EXTENSIONS: ReadonlySet<string> = new Set(["srt", "vtt"]);

/** Infix words that describe a track rather than name its language. */
const FLAGS: Record<string, string> = {
  forced: "forced",
  sdh: "SDH",
  cc: "CC",
  signs: "signs",
  songs: "songs",
  full: "full",
  default: "default",
};

export interface Sidecar {
  /** Directory entry name of the subtitle file. */
  name: string;
  format: SubtitleFormat;
  /** BCP-47-ish, "und" when the name says none. */
  lang: string;
  /** Words such as "forced" or "SDH" from the name, for the label. */
  flags: string[];
  /** Infix words that were neither a language nor a flag ("commentary"), kept for the label. */
  extra: string[];
}

function stemOf(name: string): string {
  return name.slice(0, name.length - extname(name).length);
}

/**
 * Groups sidecar names by the video they belong to. A name goes to the video
 * with the longest matching stem, so "film.part2.srt" belongs to
 * "film.part2.mp4" when both that and "film.mp4" exist.
 */
export function matchSidecars(names: readonly string[], videoIds: readonly string[]): Map<string, Sidecar[]> {
  const out = new Map<string, Sidecar[]>();
  const videos = videoIds
    .map((id) => ({ id, stem: stemOf(id).toLowerCase() }))
    .sort((a, b) => b.stem.length - a.stem.length);
  for (const name of [...names].sort()) {
    if (!isPlausibleEntryName(name, SUBTITLE_EXTENSIONS)) continue;
    const base = stemOf(name);
    const lower = base.toLowerCase();
    const owner = videos.find((v) => lower === v.stem || lower.startsWith(`${v.stem}.`));
    if (!owner) continue;
    const infix = base.slice(owner.stem.length + 1);
    const sidecar: Sidecar = {
      name,
      format: extname(name).slice(1).toLowerCase() === "vtt" ? "vtt" : "srt",
      lang: "und",
      flags: [],
      extra: [],
    };
    for (const word of infix.split(".").filter((w) => w.length > 0)) {
      const flag = FLAGS[word.toLowerCase()];
      const lang = flag ? null : normalizeLanguage(word);
      if (flag) sidecar.flags.push(flag);
      else if (lang && sidecar.lang === "und") sidecar.lang = lang;
      else sidecar.extra.push(word);
    }
    const list = out.get(owner.id) ?? [];
    list.push(sidecar);
    out.set(owner.id, list);
  }
  return out;
}
