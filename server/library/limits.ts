// Named limits of the library side (subtitles, posters, watching the folder).
// Each is an option of the module that enforces it; the wiring phase adds them
// to `--limit NAME=N` next to protocol/limits.ts DEFAULT_LIMITS.

const MiB = 1024 * 1024;

export const LIBRARY_DEFAULTS = {
  /** A subtitle file (or an extracted stream) larger than this is refused from its size alone. */
  maxSubtitleBytes: 5 * MiB,
  /** Cues kept per track; the rest are dropped with a warning (a feature film has about 2,000). */
  maxSubtitleCues: 20_000,
  /** Characters of plain text per cue; longer text is cut with a warning. */
  maxCueTextChars: 1_000,
  /** Subtitle tracks listed per video (sidecars plus embedded streams). */
  maxSubtitleTracks: 32,
  /** One ffmpeg extracting an embedded subtitle stream is killed after this. */
  subtitleExtractTimeoutMs: 60_000,
  /** Parsed cue lists kept in memory (least recently used forgotten first). */
  maxCachedCueLists: 32,
  /** ffmpeg processes taking posters or extracting subtitle streams at once (one shared budget). */
  maxLibraryJobs: 1,
  /** One poster's ffmpeg is killed after this. */
  posterTimeoutMs: 20_000,
  /** Poster width in pixels (height follows the aspect ratio). */
  posterWidth: 320,
  /** A poster JPEG larger than this is refused (a 320 px frame is about 10-30 KB). */
  maxPosterBytes: 1 * MiB,
  /** Quiet time after the last file-system event before one "changed" is emitted. */
  watchDebounceMs: 500,
  /** Width of the frames sent to viewers with cap "smallVideo" (terminals); height follows the aspect ratio. */
  smallVideoWidth: 256,
  /** Fallback rescan period for file systems where fs.watch says nothing (network mounts). */
  watchRescanMs: 30_000,
} as const;

export type LibraryLimits = { -readonly [K in keyof typeof LIBRARY_DEFAULTS]: number };

export function libraryLimits(overrides: Partial<LibraryLimits> = {}): LibraryLimits {
  return { ...LIBRARY_DEFAULTS, ...overrides };
}

export function isLibraryLimit(name: string): name is keyof LibraryLimits {
  return Object.hasOwn(LIBRARY_DEFAULTS, name);
}
