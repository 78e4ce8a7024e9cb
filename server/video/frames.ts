// The frame cache: decode each (video, output size) once, share the result
// with every stream, keep total memory and disk under caps by evicting the
// least recently used videos that nobody is playing, never spill below a
// free-space floor, and count the ffmpeg decoders against their caps.
//
// Over 300 lines: the cache's caps (memory, disk, free space, decoders) are one
// accounting; the decoding itself is decoded.ts.

import { randomBytes } from "node:crypto";
import { readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { DecodedVideo } from "./decoded";
import type { DecodedVideoHooks } from "./decoded";
import { FreeSpace } from "./diskspace";
import { ffmpegPath } from "./ffmpeg";
import { VIDEO_LIMITS, type VideoLimits } from "./limits";
import type { Size, VideoInfo } from "./types";
import type { Logger } from "../log";

export { DecodedVideo, VideoReader } from "./decoded";

export interface FrameCacheOptions {
  logger: Logger;
  /** The video limits (server/video/limits.ts); missing ones take their defaults. */
  limits?: Partial<VideoLimits>;
  /** Memory cap over all cached videos, bytes (overrides limits.frameCacheBytes). Default 512 MiB. */
  maxBytes?: number;
  /** Memory one video may hold before further frames spill to disk (overrides limits.frameCacheVideoBytes). Default 64 MiB. */
  perVideoBytes?: number;
  /** Spill segment size (tests make it small to see space given back). Default 16 MiB. */
  spillSegmentBytes?: number;
  /** Where spill files go. Default os.tmpdir()/sealroom-cache. */
  cacheDir?: string;
  /** Output width cap; height follows the aspect ratio. Default 1280. */
  maxWidth?: number;
  /** Output frame rate cap. Default 60. */
  maxFps?: number;
  /** mjpeg -q:v (2 best .. 31 worst). Default 5. */
  quality?: number;
  /** ffmpeg binary; resolved with ffmpegPath() when absent. */
  ffmpeg?: string;
}

export interface FrameCacheStats {
  videos: number;
  bytes: number;
  diskBytes: number;
  /** ffmpeg processes started since the cache was created. */
  spawns: number;
  /** ffmpeg processes running (or paused) now. */
  decoders: number;
}

/** Source size capped to maxWidth, aspect kept, both sides even (yuv420p needs it). */
export function outputSize(source: Size, maxWidth: number): Size {
  const scale = Math.min(1, maxWidth / source.width);
  const even = (n: number) => Math.max(2, 2 * Math.round(n / 2));
  const width = even(source.width * scale);
  return { width: Math.min(width, 2 * Math.floor(maxWidth / 2)), height: even(source.height * scale) };
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class FrameCache {
  private readonly logger: Logger;
  private readonly maxBytes: number;
  private readonly perVideoBytes: number;
  private readonly limits: VideoLimits;
  private readonly segmentBytes: number | undefined;
  private readonly freeSpace: FreeSpace;
  /** Running decoders, in total and per member that needed them. */
  private decoderTotal = 0;
  private readonly decodersBy = new Map<string, number>();
  private warnedDiskCap = false;
  private readonly maxWidth: number;
  private readonly maxFps: number;
  private readonly quality: number;
  private readonly cacheDir: string;
  /** This process's own subdirectory, so concurrent servers never share files. */
  private readonly spillDir: string;
  private readonly ffmpeg: Promise<string>;
  /** Map order is recency: first entry is the least recently used. */
  private readonly entries = new Map<string, DecodedVideo>();
  /** Every undisposed video, including ones dropped from `entries` but still held. */
  private readonly live = new Set<DecodedVideo>();
  private readonly hooks: DecodedVideoHooks;
  private bytes = 0;
  private spawns = 0;
  private spillSeq = 0;
  private closed = false;
  private warnedFull = false;

  constructor(opts: FrameCacheOptions) {
    this.logger = opts.logger;
    this.limits = { ...VIDEO_LIMITS, ...opts.limits };
    this.segmentBytes = opts.spillSegmentBytes;
    this.maxBytes = opts.maxBytes ?? this.limits.frameCacheBytes;
    this.perVideoBytes = opts.perVideoBytes ?? this.limits.frameCacheVideoBytes;
    this.maxWidth = opts.maxWidth ?? 1280;
    this.maxFps = opts.maxFps ?? 60;
    this.quality = opts.quality ?? 5;
    this.cacheDir = opts.cacheDir ?? join(tmpdir(), "sealroom-cache");
    this.spillDir = join(this.cacheDir, `${process.pid}-${randomBytes(4).toString("hex")}`);
    this.freeSpace = new FreeSpace(this.cacheDir, this.limits.minFreeDiskBytes, this.logger);
    // No decoder starts before the first free-space figure: a spill decision needs it.
    const bin = opts.ffmpeg !== undefined ? Promise.resolve(opts.ffmpeg) : ffmpegPath();
    this.ffmpeg = Promise.all([bin, this.freeSpace.check()]).then(([b]) => b);
    // Callers see a failure through the video's error; this only stops an unhandled rejection.
    this.ffmpeg.catch(() => {});
    this.hooks = {
      spawned: () => {
        this.spawns++;
      },
      memory: (_v, delta) => this.memoryChanged(delta),
      settled: (v) => this.settled(v),
      decoders: (_v, owner, delta) => this.decodersChanged(owner, delta),
      mayDisk: (_v, bytes) => this.mayDisk(bytes),
    };
    void this.sweepStale();
  }

  /** The size open() should be asked for, given the source's size. */
  outputSize(source: Size): Size {
    return outputSize(source, this.maxWidth);
  }

  /** The frame rate frames are produced at, given the source's. */
  outputFps(sourceFps: number): number {
    return Number.isFinite(sourceFps) && sourceFps > 0 ? Math.min(sourceFps, this.maxFps) : 30;
  }

  /**
   * Acquires the decoded video for (key, size): the same object for every
   * caller until it is evicted. Call release() once per open().
   * `key` must change when the file does (Catalogue's ResolvedVideo.key).
   */
  open(path: string, key: string, size: Size, sourceFps: number): DecodedVideo {
    if (this.closed) throw new Error("frame cache is closed");
    const fps = this.outputFps(sourceFps);
    const even = (n: number) => Math.max(2, 2 * Math.round(n / 2));
    const out = { width: even(size.width), height: even(size.height) };
    const id = `${key}|${out.width}x${out.height}@${fps}`;
    const cached = this.entries.get(id);
    if (cached && cached.error === null) {
      cached.refs++;
      this.touch(id, cached);
      return cached;
    }
    if (cached) this.entries.delete(id);
    const video = new DecodedVideo({
      key: id,
      path,
      size: out,
      fps,
      quality: this.quality,
      ffmpeg: this.ffmpeg,
      spillPath: join(this.spillDir, `${++this.spillSeq}.frames`),
      memoryBudget: this.perVideoBytes,
      ...(this.segmentBytes !== undefined ? { segmentBytes: this.segmentBytes } : {}),
      window: {
        aheadSec: this.limits.decodeAheadSec,
        behindSec: this.limits.decodeBehindSec,
        headSec: this.limits.decodeHeadSec,
      },
      hooks: this.hooks,
    });
    video.refs = 1;
    this.entries.set(id, video);
    this.live.add(video);
    this.logSize("video added", { key: id });
    return video;
  }

  /** open() for a catalogue entry: right key, output size and rate in one call. */
  openVideo(video: { path: string; key: string; info: VideoInfo }): DecodedVideo {
    return this.open(video.path, video.key, this.outputSize(video.info), video.info.fps);
  }

  release(video: DecodedVideo): void {
    if (video.refs === 0) {
      this.logger.warn({ key: video.key }, "frame cache: release without open");
      return;
    }
    video.refs--;
    if (video.refs > 0) return;
    // An unreferenced video keeps decoding, so replaying it is warm; eviction kills it.
    if (this.entries.get(video.key) === video) {
      this.touch(video.key, video);
      this.enforceCap();
    } else {
      // Failed or replaced while held: nobody can reach it any more.
      this.drop(video, "released after removal");
    }
    this.logSize("video released", { key: video.key });
  }

  has(key: string): boolean {
    for (const v of this.entries.values()) if (v.key.startsWith(`${key}|`)) return true;
    return false;
  }

  get stats(): FrameCacheStats {
    let diskBytes = 0;
    for (const v of this.live) diskBytes += v.diskBytes;
    return {
      videos: this.entries.size,
      bytes: this.bytes,
      diskBytes,
      spawns: this.spawns,
      decoders: this.decoderTotal,
    };
  }

  /**
   * Why `owner` may not start another decoder now, or null when it may.
   * `freeing`: a decoder of this owner that the same request ends (a replaced stream's).
   */
  decoderRefusal(owner: string, freeing = false): string | null {
    const credit = freeing ? 1 : 0;
    if (this.decoderTotal - credit >= this.limits.maxDecoders) {
      return `the server is at its limit of ${this.limits.maxDecoders} video decoders; join a stream already playing or try later`;
    }
    if ((this.decodersBy.get(owner) ?? 0) - credit >= this.limits.maxDecodersPerMember) {
      return `you already have ${this.limits.maxDecodersPerMember} videos decoding (the limit); stop one first`;
    }
    return null;
  }

  /** Kills every ffmpeg, deletes spill files. Videos already handed out resolve waits with null. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.live];
    this.entries.clear();
    this.live.clear();
    await Promise.all(all.map((v) => v.dispose("frame cache closed")));
    await rm(this.spillDir, { recursive: true, force: true }).catch(() => {});
  }

  private touch(id: string, video: DecodedVideo): void {
    this.entries.delete(id);
    this.entries.set(id, video);
  }

  private decodersChanged(owner: string | null, delta: 1 | -1): void {
    this.decoderTotal += delta;
    if (owner === null) return;
    const n = (this.decodersBy.get(owner) ?? 0) + delta;
    if (n > 0) this.decodersBy.set(owner, n);
    else this.decodersBy.delete(owner);
  }

  /** Disk for one more spilled frame: under the disk cap (evicting idle videos) and above the free-space floor. */
  private mayDisk(bytes: number): boolean {
    const cap = this.limits.frameCacheDiskBytes;
    let used = this.diskCommitted();
    if (used + bytes > cap) {
      this.evictWhile(() => this.diskCommitted() + bytes > cap, "evicted for disk");
      used = this.diskCommitted();
    }
    if (used + bytes > cap) {
      if (!this.warnedDiskCap) {
        this.warnedDiskCap = true;
        this.logger.warn(
          { diskBytes: used, frameCacheDiskBytes: cap },
          "frame cache: disk cap reached, frames stay in memory (bounded by the decode window)",
        );
      }
      return false;
    }
    // Warn again only after usage fell well below the cap, not at every frame that fits again.
    if (used < cap * 0.9) this.warnedDiskCap = false;
    return this.freeSpace.allows(bytes);
  }

  private diskCommitted(): number {
    let n = 0;
    for (const v of this.live) n += v.diskCommitted;
    return n;
  }

  private memoryChanged(delta: number): void {
    this.bytes += delta;
    if (delta > 0 && this.bytes > this.maxBytes) this.enforceCap();
  }

  private settled(video: DecodedVideo): void {
    if (video.error && this.entries.get(video.key) === video) {
      // Not reusable: the next open() starts a fresh transcode.
      this.entries.delete(video.key);
      if (!this.closed) this.logger.warn({ key: video.key, err: video.error.message }, "transcode failed");
      if (video.refs === 0) this.drop(video, "failed");
    }
    if (video.error === null) {
      this.logSize("transcode done", { key: video.key, frames: video.frameCount });
    }
  }

  private enforceCap(): void {
    if (this.bytes <= this.maxBytes) {
      this.warnedFull = false;
      return;
    }
    this.evictWhile(() => this.bytes > this.maxBytes, "evicted");
    if (this.bytes > this.maxBytes && !this.warnedFull) {
      // Every video over the cap is being played; per-video budgets still bound each one.
      this.warnedFull = true;
      this.logger.warn(
        { bytes: this.bytes, maxBytes: this.maxBytes, videos: this.entries.size },
        "frame cache over cap, all in use",
      );
    }
  }

  /** Evicts unreferenced videos, least recently used first, while `over` holds. */
  private evictWhile(over: () => boolean, reason: string): void {
    for (const [id, video] of this.entries) {
      if (!over()) break;
      if (video.refs > 0) continue;
      this.entries.delete(id);
      const freed = video.memoryBytes;
      const freedDisk = video.diskCommitted;
      this.drop(video, reason);
      this.logger.info(
        { key: id, freed, freedDisk, bytes: this.bytes, videos: this.entries.size, maxBytes: this.maxBytes },
        `frame cache: ${reason}`,
      );
    }
  }

  private drop(video: DecodedVideo, reason: string): void {
    this.live.delete(video);
    void video.dispose(reason);
  }

  private logSize(msg: string, extra: object): void {
    this.logger.debug(
      { ...extra, bytes: this.bytes, videos: this.entries.size, spawns: this.spawns },
      `frame cache: ${msg}`,
    );
  }

  /** Removes spill dirs left by processes that died without close(). */
  private async sweepStale(): Promise<void> {
    let names: string[];
    try {
      names = await readdir(this.cacheDir);
    } catch {
      return;
    }
    for (const name of names) {
      const m = /^(\d+)-[0-9a-f]{8}$/.exec(name);
      if (!m || Number(m[1]) === process.pid || pidAlive(Number(m[1]))) continue;
      await rm(join(this.cacheDir, name), { recursive: true, force: true }).catch(() => {});
      this.logger.info({ dir: name }, "frame cache: removed stale spill dir");
    }
  }
}
