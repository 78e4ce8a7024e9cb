// The subtitle side of the library: which tracks a video has (sidecar files
// and embedded text streams) and the cues of the one a viewer picks. A track
// id is only ever looked up in the listing it came from, never turned into a
// path, exactly like a video id in the catalogue.

import type { Dirent } from "node:fs";
import { readdir, realpath } from "node:fs/promises";
import { ffmpegPath } from "../video/ffmpeg";
import type { Logger } from "../log";
import { extractArgs, probeSubtitleStreams, type EmbeddedStream } from "./embedded-subs";
import { JobLimiter } from "./job-limiter";
import { languageLabel } from "./language";
import { libraryLimits, type LibraryLimits } from "./limits";
import { checkLibraryEntry } from "./library-entry";
import { runTool } from "./run-tool";
import { matchSidecars, type Sidecar } from "./sidecars";
import { loadSubtitleBytes, readSubtitleFile, type SubtitleLoad } from "./subtitle-file";

/** One entry of a catalogue item's `subtitles` list. */
export interface SubtitleTrack {
  /** "file:<entry name>" or "embedded:<n>"; opaque to clients. */
  id: string;
  lang: string;
  label: string;
  source: "file" | "embedded";
  default?: true;
  forced?: true;
}

/** What the catalogue knows of a video; server/video/catalogue.ts ResolvedVideo plus its id satisfies it. */
export interface VideoRef {
  id: string;
  /** Real path inside the library. */
  path: string;
  /** Changes when the file may have changed (catalogue's `key`). */
  key: string;
}

export interface SubtitleLibraryOptions {
  dir: string;
  logger: Logger;
  limits?: Partial<LibraryLimits>;
  /** Binaries; resolved with server/video/ffmpeg.ts when absent. */
  ffmpeg?: string;
  ffprobe?: string;
  /** Shared with the poster cache when one ffmpeg budget should cover both. */
  jobs?: JobLimiter;
}

const TRACK_ID_MAX = 300;
const MAX_PROBED_VIDEOS = 4_096;

export class SubtitleLibrary {
  readonly jobs: JobLimiter;
  private readonly dir: string;
  private readonly logger: Logger;
  private readonly limits: LibraryLimits;
  private readonly ffprobe: string | undefined;
  private readonly ffmpeg: Promise<string> | null;
  private readonly embedded = new Map<string, Promise<EmbeddedStream[]>>();
  /** Map order is recency: first is the least recently used. */
  private readonly cueCache = new Map<string, Promise<SubtitleLoad>>();
  private rootReal: Promise<string> | null = null;

  constructor(o: SubtitleLibraryOptions) {
    this.dir = o.dir;
    this.logger = o.logger;
    this.limits = libraryLimits(o.limits);
    this.ffprobe = o.ffprobe;
    this.ffmpeg = o.ffmpeg ? Promise.resolve(o.ffmpeg) : null;
    this.jobs = o.jobs ?? new JobLimiter(this.limits.maxLibraryJobs);
  }

  /** Tracks of one video. */
  async tracks(video: VideoRef): Promise<SubtitleTrack[]> {
    return (await this.tracksForAll([video])).get(video.id) ?? [];
  }

  /** Tracks of many videos with one directory read: what a catalogue listing wants. */
  async tracksForAll(videos: readonly VideoRef[]): Promise<Map<string, SubtitleTrack[]>> {
    const names = await this.readNames();
    const sidecars = matchSidecars(
      names,
      videos.map((v) => v.id),
    );
    const out = new Map<string, SubtitleTrack[]>();
    for (const v of videos) {
      const tracks = [
        ...(sidecars.get(v.id) ?? []).map(fileTrack),
        ...(await this.embeddedStreams(v)).map(embeddedTrack),
      ];
      out.set(v.id, disambiguate(tracks.slice(0, this.limits.maxSubtitleTracks)));
    }
    // Forget probes of file versions no longer listed, so the map follows the library.
    if (videos.length > 1) {
      const live = new Set(videos.map((v) => v.key));
      for (const key of this.embedded.keys()) if (!live.has(key)) this.embedded.delete(key);
    }
    return out;
  }

  /** The cues of track `trackId` of `video`; any id not in the current listing is `unknown_track`. */
  async cues(video: VideoRef, trackId: unknown): Promise<SubtitleLoad> {
    if (typeof trackId !== "string" || trackId.length === 0 || trackId.length > TRACK_ID_MAX) {
      return { ok: false, reason: "unknown_track", message: "no such subtitle track" };
    }
    const tracks = await this.tracks(video);
    if (!tracks.some((t) => t.id === trackId))
      return { ok: false, reason: "unknown_track", message: "no such subtitle track" };
    if (trackId.startsWith("file:")) return this.fileCues(trackId.slice(5));
    return this.embeddedCues(video, Number(trackId.slice("embedded:".length)));
  }

  private async fileCues(name: string): Promise<SubtitleLoad> {
    const checked = await checkLibraryEntry(this.dir, await this.libraryRoot(), name);
    if (!checked.ok) return { ok: false, reason: "unreadable", message: `subtitle file refused: ${checked.why}` };
    const f = checked.file;
    return this.cached(`file\n${f.path}\n${f.size}\n${Math.trunc(f.mtimeMs)}`, () =>
      readSubtitleFile(f.path, { ...this.limits, format: name.toLowerCase().endsWith(".vtt") ? "vtt" : "srt" }),
    );
  }

  private embeddedCues(video: VideoRef, n: number): Promise<SubtitleLoad> {
    return this.cached(`embedded\n${video.key}\n${n}`, async () => {
      const ffmpeg = await (this.ffmpeg ?? ffmpegPath().catch(() => null));
      if (!ffmpeg) return { ok: false, reason: "extract_failed", message: "no working ffmpeg" };
      const r = await this.jobs.run(() =>
        runTool(ffmpeg, extractArgs(video.path, n), {
          timeoutMs: this.limits.subtitleExtractTimeoutMs,
          maxStdoutBytes: this.limits.maxSubtitleBytes,
        }),
      );
      if (!r.ok) {
        if (r.why === "too_large")
          return {
            ok: false,
            reason: "too_large",
            message: `subtitle stream is over maxSubtitleBytes (${this.limits.maxSubtitleBytes})`,
          };
        if (r.why === "timeout")
          return {
            ok: false,
            reason: "timeout",
            message: `extracting the subtitle stream took over ${this.limits.subtitleExtractTimeoutMs} ms`,
          };
        return {
          ok: false,
          reason: "extract_failed",
          message: `ffmpeg could not extract the subtitle stream: ${r.detail}`,
        };
      }
      return loadSubtitleBytes(r.stdout, { ...this.limits, format: "vtt" });
    });
  }

  private cached(key: string, load: () => Promise<SubtitleLoad>): Promise<SubtitleLoad> {
    const hit = this.cueCache.get(key);
    if (hit) {
      this.cueCache.delete(key);
      this.cueCache.set(key, hit);
      return hit;
    }
    const p = load().then((r) => {
      // A timeout or a failed ffmpeg may be the machine's state, not the file's: ask again next time.
      if (!r.ok && (r.reason === "timeout" || r.reason === "extract_failed") && this.cueCache.get(key) === p)
        this.cueCache.delete(key);
      if (!r.ok) this.logger.warn({ reason: r.reason, detail: r.message }, "subtitle track unreadable");
      else if (r.warnings.length > 0) this.logger.info({ warnings: r.warnings }, "subtitle track read with warnings");
      return r;
    });
    this.cueCache.set(key, p);
    while (this.cueCache.size > this.limits.maxCachedCueLists) {
      const oldest = this.cueCache.keys().next().value;
      if (oldest === undefined) break;
      this.cueCache.delete(oldest);
    }
    return p;
  }

  private embeddedStreams(video: VideoRef): Promise<EmbeddedStream[]> {
    let p = this.embedded.get(video.key);
    if (!p) {
      p = probeSubtitleStreams(video.path, this.ffprobe).then((r) => {
        if (r.ok) return r.streams;
        // A broken prober is not a fact about the file: try again next listing.
        this.embedded.delete(video.key);
        this.logger.debug({ id: video.id, detail: r.detail }, "subtitle streams not probed");
        return [];
      });
      this.embedded.set(video.key, p);
      if (this.embedded.size > MAX_PROBED_VIDEOS) {
        const oldest = this.embedded.keys().next().value;
        if (oldest !== undefined) this.embedded.delete(oldest);
      }
    }
    return p;
  }

  private async readNames(): Promise<string[]> {
    let entries: Dirent[];
    try {
      entries = await readdir(this.dir, { withFileTypes: true });
    } catch (err) {
      this.logger.warn({ dir: this.dir, err: (err as Error).message }, "video library unreadable");
      return [];
    }
    return entries.filter((e) => e.isFile() || e.isSymbolicLink()).map((e) => e.name);
  }

  private libraryRoot(): Promise<string> {
    this.rootReal ??= realpath(this.dir).catch((err: unknown) => {
      this.rootReal = null;
      throw err;
    });
    return this.rootReal;
  }
}

function withFlags(base: string, flags: string[]): string {
  return flags.length > 0 ? `${base} (${flags.join(", ")})` : base;
}

function fileTrack(s: Sidecar): SubtitleTrack {
  const t: SubtitleTrack = {
    id: `file:${s.name}`,
    lang: s.lang,
    label: withFlags(languageLabel(s.lang), [...s.flags, ...s.extra]),
    source: "file",
  };
  if (s.flags.includes("forced")) t.forced = true;
  return t;
}

function embeddedTrack(s: EmbeddedStream): SubtitleTrack {
  const base = languageLabel(s.lang);
  const t: SubtitleTrack = {
    id: `embedded:${s.n}`,
    lang: s.lang,
    label: s.title ? `${base} \u2014 ${s.title}` : base,
    source: "embedded",
  };
  if (s.default) t.default = true;
  if (s.forced) t.forced = true;
  return t;
}

/** Two tracks called "English" get "English" and "English 2", so a viewer can tell them apart. */
function disambiguate(tracks: SubtitleTrack[]): SubtitleTrack[] {
  const seen = new Map<string, number>();
  return tracks.map((t) => {
    const n = (seen.get(t.label) ?? 0) + 1;
    seen.set(t.label, n);
    return n === 1 ? t : { ...t, label: `${t.label} ${n}` };
  });
}
