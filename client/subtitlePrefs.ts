// The terminal's subtitle choice across runs: language and source (or off),
// in a small JSON file beside the identity (subtitles-<name>.json). A file
// that is missing or unreadable means no choice; failing to save is a warning.

import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { SubtitleChoice } from "./subtitles";

export function subtitlePrefsPathFor(identityFile: string): string {
  const base = path
    .basename(identityFile)
    .replace(/\.json$/, "")
    .replace(/^identity-/, "");
  return path.join(path.dirname(identityFile), `subtitles-${base || "choice"}.json`);
}

export function loadSubtitleChoice(file: string): SubtitleChoice | null {
  try {
    const v = JSON.parse(readFileSync(file, "utf8")) as unknown;
    if (typeof v !== "object" || v === null) return null;
    const { lang, source } = v as { lang?: unknown; source?: unknown };
    if (typeof lang !== "string" || lang.length === 0 || lang.length > 35) return null;
    return source === "file" || source === "embedded" ? { lang, source } : null;
  } catch {
    return null;
  }
}

export function saveSubtitleChoice(file: string, choice: SubtitleChoice | null, warn: (m: string) => void): void {
  try {
    writeFileSync(file, JSON.stringify(choice) + "\n", { mode: 0o600 });
  } catch (err) {
    warn(`could not remember the subtitle choice in ${file}: ${(err as Error).message}`);
  }
}
