// One poster frame per video file version: taken once with ffmpeg (a frame at
// 10% of the duration or 5 s, whichever is earlier, scaled to posterWidth),
// kept on disk under the cache dir keyed by (path, size, mtime) so a replaced
// file gets a new poster and a restart costs nothing. Failures are values:
// a corrupt file has no poster and a reason, and never takes the core down.

import { createHash, randomBytes } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { ffmpegPath } from "../video/ffmpeg";
import type { Logger } from "../log";
import { JobLimiter } from "./job-limiter";
import { libraryLimits, type LibraryLimits } from "./limits";
import { runTool } from "./run-tool";

export interface PosterSource {
  /** Real path of the video (the catalogue's ResolvedVideo.path). */
  path: string;
  durationMs: number;
  /** Source width, so a small video is not scaled up. */
  width?: number;
}

export type PosterFailure = "missing" | "corrupt" | "no_frame" | "timeout" | "too_large" | "no_ffmpeg" | "io";

export type PosterResult =
  { ok: true; file: string; bytes: number; cached: boolean } | { ok: false; reason: PosterFailure; detail: string };

export interface PosterCacheOptions {
  /** The core's cache dir; posters go to <cacheDir>/posters. */
  cacheDir: string;
  logger: Logger;
  limits?: Partial<LibraryLimits>;
  ffmpeg?: string;
  /** Shared with the subtitle library for one ffmpeg budget. */
  jobs?: JobLimiter;
}

const SEEK_CAP_MS = 5_000;
const MAX_REMEMBERED_FAILURES = 4_096;

/** Where in the video the poster frame is taken. */
export function posterSeekMs(durationMs: number): number {
  if (!(Number.isFinite(durationMs) && durationMs > 0)) return 0;
  return Math.min(Math.floor(durationMs * 0.1), SEEK_CAP_MS);
}

export function posterArgs(path: string, seekMs: number, width: number): string[] {
  return [
    "-hide_banner",
    "-nostdin",
    "-loglevel",
    "error",
    // -ss before -i: a keyframe seek in the demuxer, not decoding everything up to it.
    "-ss",
    (seekMs / 1000).toFixed(3),
    "-i",
    `file:${path}`,
    "-an",
    "-sn",
    "-frames:v",
    "1",
    "-vf",
    `scale=${width}:-2`,
    "-q:v",
    "4",
    "-f",
    "image2pipe",
    "-c:v",
    "mjpeg",
    "-",
  ];
}

export class PosterCache {
  readonly dir: string;
  readonly jobs: JobLimiter;
  private readonly logger: Logger;
  private readonly limits: LibraryLimits;
  private readonly ffmpeg: string | undefined;
  private readonly inflight = new Map<string, Promise<PosterResult>>();
  /** Failures per file version, so a corrupt file costs one ffmpeg, not one per listing. */
  private readonly failures = new Map<string, PosterResult>();
  /** ffmpeg processes this cache started. */
  spawns = 0;

  constructor(o: PosterCacheOptions) {
    this.dir = join(o.cacheDir, "posters");
    this.logger = o.logger;
    this.limits = libraryLimits(o.limits);
    this.ffmpeg = o.ffmpeg;
    this.jobs = o.jobs ?? new JobLimiter(this.limits.maxLibraryJobs);
  }

  /** The poster file of this video's current version, made if needed. */
  async poster(src: PosterSource): Promise<PosterResult> {
    let st;
    try {
      st = await stat(src.path);
    } catch (err) {
      return { ok: false, reason: "missing", detail: (err as NodeJS.ErrnoException).code ?? "unreadable" };
    }
    if (!st.isFile()) return { ok: false, reason: "missing", detail: "not a regular file" };
    const width = this.width(src);
    const key = createHash("sha256")
      .update(`${src.path}\n${st.size}\n${Math.trunc(st.mtimeMs)}\n${width}`)
      .digest("hex")
      .slice(0, 40);
    const failed = this.failures.get(key);
    if (failed) return failed;
    const file = join(this.dir, `${key}.jpg`);
    const onDisk = await stat(file).catch(() => null);
    if (onDisk && onDisk.size > 0) return { ok: true, file, bytes: onDisk.size, cached: true };
    let p = this.inflight.get(key);
    if (!p) {
      p = this.make(src, width, file).then((r) => {
        this.inflight.delete(key);
        if (!r.ok) {
          // Facts about the file are remembered; a missing ffmpeg, a full disk or a timeout on a busy machine are not.
          if (r.reason === "corrupt" || r.reason === "no_frame" || r.reason === "too_large") {
            this.failures.set(key, r);
            if (this.failures.size > MAX_REMEMBERED_FAILURES)
              this.failures.delete(this.failures.keys().next().value as string);
          }
          this.logger.warn({ path: src.path, reason: r.reason, detail: r.detail }, "no poster");
        }
        return r;
      });
      this.inflight.set(key, p);
    }
    return p;
  }

  /** The poster's bytes, for sending over the protocol. */
  async jpeg(
    src: PosterSource,
  ): Promise<{ ok: true; jpeg: Buffer } | { ok: false; reason: PosterFailure; detail: string }> {
    const r = await this.poster(src);
    if (!r.ok) return r;
    try {
      return { ok: true, jpeg: await readFile(r.file) };
    } catch (err) {
      return { ok: false, reason: "io", detail: (err as Error).message };
    }
  }

  /** Removes poster files not of `keep` (the current catalogue), so old versions do not pile up. */
  async prune(keep: readonly PosterSource[]): Promise<number> {
    const live = new Set<string>();
    for (const src of keep) {
      const st = await stat(src.path).catch(() => null);
      if (st)
        live.add(
          createHash("sha256")
            .update(`${src.path}\n${st.size}\n${Math.trunc(st.mtimeMs)}\n${this.width(src)}`)
            .digest("hex")
            .slice(0, 40),
        );
    }
    let removed = 0;
    for (const name of await readdir(this.dir).catch(() => [] as string[])) {
      const m = /^([0-9a-f]{40})\.jpg$/.exec(name);
      if (m && live.has(m[1])) continue;
      // Temp files of a write in progress are only left behind by a crash; any other name is not ours either way.
      if (!m && !name.endsWith(".tmp")) continue;
      if (!m && [...this.inflight.keys()].some((k) => name.startsWith(k))) continue;
      await rm(join(this.dir, name), { force: true }).catch(() => {});
      removed++;
    }
    return removed;
  }

  private width(src: PosterSource): number {
    const w = src.width && src.width > 0 ? Math.min(src.width, this.limits.posterWidth) : this.limits.posterWidth;
    return Math.max(2, 2 * Math.round(w / 2));
  }

  private async make(src: PosterSource, width: number, file: string): Promise<PosterResult> {
    let bin = this.ffmpeg;
    if (!bin) {
      try {
        bin = await ffmpegPath();
      } catch (err) {
        return { ok: false, reason: "no_ffmpeg", detail: (err as Error).message };
      }
    }
    const ffmpeg = bin;
    const seek = posterSeekMs(src.durationMs);
    let jpeg = await this.grab(ffmpeg, src.path, seek, width);
    // A seek past the last keyframe of a very short or oddly cut file yields nothing: try the start.
    if (jpeg.ok && jpeg.bytes.length === 0 && seek > 0) jpeg = await this.grab(ffmpeg, src.path, 0, width);
    if (!jpeg.ok) return jpeg;
    if (jpeg.bytes.length < 4 || jpeg.bytes[0] !== 0xff || jpeg.bytes[1] !== 0xd8) {
      return { ok: false, reason: "no_frame", detail: "ffmpeg produced no picture" };
    }
    try {
      await mkdir(this.dir, { recursive: true });
      // Write then rename: a reader never sees half a poster, even across a crash.
      const tmp = `${file.slice(0, -4)}.${process.pid}-${randomBytes(4).toString("hex")}.tmp`;
      await writeFile(tmp, jpeg.bytes);
      await rename(tmp, file);
    } catch (err) {
      return { ok: false, reason: "io", detail: (err as Error).message };
    }
    return { ok: true, file, bytes: jpeg.bytes.length, cached: false };
  }

  private async grab(
    bin: string,
    path: string,
    seekMs: number,
    width: number,
  ): Promise<{ ok: true; bytes: Buffer } | { ok: false; reason: PosterFailure; detail: string }> {
    const r = await this.jobs.run(() => {
      this.spawns++;
      return runTool(bin, posterArgs(path, seekMs, width), {
        timeoutMs: this.limits.posterTimeoutMs,
        maxStdoutBytes: this.limits.maxPosterBytes,
      });
    });
    if (r.ok) return { ok: true, bytes: r.stdout };
    if (r.why === "timeout") return { ok: false, reason: "timeout", detail: r.detail };
    if (r.why === "too_large")
      return { ok: false, reason: "too_large", detail: `poster over maxPosterBytes (${this.limits.maxPosterBytes})` };
    if (r.why === "spawn") return { ok: false, reason: "no_ffmpeg", detail: r.detail };
    return { ok: false, reason: "corrupt", detail: r.detail };
  }
}
