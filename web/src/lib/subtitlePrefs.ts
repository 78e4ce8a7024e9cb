// The subtitle choice a viewer made last (language and source, or off), kept in
// localStorage so it holds across films and reloads. Storage may be disabled:
// then the choice lasts as long as the tab.

export interface SubtitleChoice {
  lang: string;
  source: "file" | "embedded";
}

import type { SubtitleTrackInfo } from "../../../protocol/messages";

const KEY = "sealroom.subtitles";
let memory: SubtitleChoice | null = null;

export const subtitlePrefs = {
  get(): SubtitleChoice | null {
    try {
      const raw = globalThis.localStorage?.getItem(KEY);
      if (raw === null || raw === undefined) return memory;
      const v = JSON.parse(raw) as unknown;
      if (
        typeof v === "object" &&
        v !== null &&
        typeof (v as SubtitleChoice).lang === "string" &&
        ((v as SubtitleChoice).source === "file" || (v as SubtitleChoice).source === "embedded")
      ) {
        return { lang: (v as SubtitleChoice).lang, source: (v as SubtitleChoice).source };
      }
      return null;
    } catch {
      return memory;
    }
  },
  set(v: SubtitleChoice | null): void {
    memory = v;
    try {
      if (v === null) globalThis.localStorage?.setItem(KEY, "null");
      else globalThis.localStorage?.setItem(KEY, JSON.stringify(v));
    } catch {
      /* storage unavailable */
    }
  },
};

/** The track matching a remembered choice: same language and source, else same language; forced tracks last. */
export function pick(tracks: readonly SubtitleTrackInfo[], choice: SubtitleChoice | null): SubtitleTrackInfo | null {
  if (!choice) return null;
  const byLang = tracks
    .filter((t) => t.lang === choice.lang)
    .sort((a, b) => Number(a.forced ?? false) - Number(b.forced ?? false));
  return byLang.find((t) => t.source === choice.source) ?? byLang[0] ?? null;
}
