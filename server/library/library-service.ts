// The library side of a core for clients with cap "library2" (docs/protocol.md
// section 2b): catalogue items gain their subtitle tracks and a poster key,
// `subtitles` is answered with subtitleCues pages, `poster` with the JPEG, and
// a change of the library folder becomes one videosChanged per burst. One
// JobLimiter is shared by subtitle extraction and posters, so the library never
// runs more than maxLibraryJobs ffmpeg at once; posters are made in the
// background after a listing, never on the path of a `videos` answer.

import { createHash } from "node:crypto";
import type { ServerMessage, VideoItem } from "../../protocol/messages";
import type { Peer } from "../ports";
import type { Catalogue, ResolvedVideo } from "../video/catalogue";
import type { Logger } from "../log";
import { cuePages } from "./cue-pages";
import { JobLimiter } from "./job-limiter";
import { LibraryWatcher } from "./library-watcher";
import { libraryLimits, type LibraryLimits } from "./limits";
import { PosterCache } from "./posters";
import { SubtitleLibrary } from "./subtitles";

export interface LibraryServiceOptions {
  catalogue: Catalogue;
  dir: string;
  cacheDir: string;
  logger: Logger;
  limits?: Partial<LibraryLimits>;
  /** The core's frame limit: a subtitle page or a poster never exceeds it. */
  maxFrame: number;
  /** false in tests that want no fs.watch (the rescan still runs). */
  watch?: boolean;
}

/** A page of cues is at most this many bytes of JSON (smaller when maxFrame is). */
export const CUE_PAGE_BYTES = 256 * 1024;
/** Room left in a frame for the message around a page or a poster's base64. */
const FRAME_SLACK = 4096;

type Request = { t: "subtitles"; video: string; track: string } | { t: "poster"; video: string };

export class LibraryService {
  readonly subs: SubtitleLibrary;
  readonly posters: PosterCache;
  private readonly watcher: LibraryWatcher;
  private readonly limits: LibraryLimits;
  private listeners: Array<() => void> = [];
  private background: Promise<void> | null = null;
  private backgroundAgain = false;
  private closed = false;

  constructor(private readonly o: LibraryServiceOptions) {
    this.limits = libraryLimits(o.limits);
    const jobs = new JobLimiter(this.limits.maxLibraryJobs);
    this.subs = new SubtitleLibrary({ dir: o.dir, logger: o.logger, limits: this.limits, jobs });
    this.posters = new PosterCache({ cacheDir: o.cacheDir, logger: o.logger, limits: this.limits, jobs });
    this.watcher = new LibraryWatcher({
      dir: o.dir,
      logger: o.logger,
      debounceMs: this.limits.watchDebounceMs,
      rescanMs: this.limits.watchRescanMs,
      useFsWatch: o.watch ?? true,
      onChanged: () => {
        for (const fn of this.listeners) fn();
        this.makePosters();
      },
    });
    void this.watcher.start();
  }

  /** Called once per burst of library changes. */
  onChanged(fn: () => void): void {
    this.listeners.push(fn);
  }

  /** The catalogue as a library2 client sees it: every item with `subtitles` and `poster`. */
  async items(): Promise<VideoItem[]> {
    const resolved = await this.o.catalogue.listResolved();
    const tracks = await this.subs.tracksForAll(resolved.map(ref));
    this.makePosters();
    return resolved.map((r) => ({ ...r.info, subtitles: tracks.get(r.info.id) ?? [], poster: posterKey(r) }));
  }

  handle(peer: Peer, msg: Request): void {
    const work = msg.t === "subtitles" ? this.sendCues(peer, msg.video, msg.track) : this.sendPoster(peer, msg.video);
    work.catch((err: unknown) => {
      this.o.logger.warn({ err: (err as Error).message, ref: msg.t }, "library request failed");
      peer.sendControl({
        t: "error",
        code: "internal",
        message: "the library request failed",
        ref: msg.t,
        fatal: false,
      });
    });
  }

  close(): void {
    this.closed = true;
    this.watcher.close();
  }

  private async sendCues(peer: Peer, video: string, track: string): Promise<void> {
    const r = await this.o.catalogue.resolve(video);
    if (!r) return refuse(peer, "unknown_video", `no video '${video}' in the library`, "subtitles");
    const load = await this.subs.cues(ref(r), track);
    if (!load.ok) {
      const code = load.reason === "unknown_track" ? "unknown_track" : "bad_subtitles";
      return refuse(peer, code, load.message, "subtitles");
    }
    const pages = cuePages(load.cues, Math.min(CUE_PAGE_BYTES, this.o.maxFrame - FRAME_SLACK));
    if (pages.length === 0) pages.push([]);
    const warnings = load.warnings.slice(0, 16).map((w) => w.slice(0, 500));
    pages.forEach((cues, page) => {
      const msg: ServerMessage = { t: "subtitleCues", video, track, page, pages: pages.length, cues };
      if (page === 0 && warnings.length > 0) msg.warnings = warnings;
      peer.sendControl(msg);
    });
  }

  private async sendPoster(peer: Peer, video: string): Promise<void> {
    const r = await this.o.catalogue.resolve(video);
    if (!r) return refuse(peer, "unknown_video", `no video '${video}' in the library`, "poster");
    const p = await this.posters.jpeg(posterSource(r));
    if (!p.ok) return refuse(peer, "no_poster", `no poster for '${video}': ${p.reason}`, "poster");
    // base64 grows 4/3; a poster that would not fit one frame is not sent (320 px ones are ~20 KB).
    if (Math.ceil(p.jpeg.length / 3) * 4 > this.o.maxFrame - FRAME_SLACK) {
      return refuse(peer, "no_poster", `the poster of '${video}' is larger than a frame`, "poster");
    }
    peer.sendControl({ t: "poster", video, key: posterKey(r), mime: "image/jpeg", data: p.jpeg.toString("base64") });
  }

  /** Takes missing posters one after another in the background, then prunes old ones. */
  private makePosters(): void {
    if (this.closed) return;
    if (this.background) {
      this.backgroundAgain = true;
      return;
    }
    this.background = (async () => {
      do {
        this.backgroundAgain = false;
        const all = await this.o.catalogue.listResolved();
        for (const r of all) {
          if (this.closed) return;
          await this.posters.poster(posterSource(r));
        }
        await this.posters.prune(all.map(posterSource));
      } while (this.backgroundAgain && !this.closed);
    })()
      .catch((err: unknown) => this.o.logger.warn({ err: (err as Error).message }, "posters failed"))
      .finally(() => {
        this.background = null;
      });
  }
}

function ref(r: ResolvedVideo): { id: string; path: string; key: string } {
  return { id: r.info.id, path: r.path, key: r.key };
}

function posterSource(r: ResolvedVideo): { path: string; durationMs: number; width: number } {
  return { path: r.path, durationMs: r.info.durationMs, width: r.info.width };
}

/** Opaque and short; changes with the file, so a client may cache posters by it. */
export function posterKey(r: ResolvedVideo): string {
  return createHash("sha256").update(r.key).digest("hex").slice(0, 16);
}

function refuse(peer: Peer, code: string, message: string, ref: string): void {
  peer.sendControl({ t: "error", code, message, ref, fatal: false });
}
