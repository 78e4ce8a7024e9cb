// One video decoded once into JPEG frames, shared by every stream that plays
// it at this size. Frames appear progressively while ffmpeg runs; past a
// memory budget they go to a spill file and are read back on demand.

import type { SpillRef } from "./spill";
import { SpillFile } from "./spill";
import type { Transcode } from "./transcode";
import { startTranscode } from "./transcode";
import type { Frame, Size } from "./types";

/** Spilled frames queued for disk beyond this pause ffmpeg, so a slow disk cannot fill memory. */
const SPILL_PENDING_HIGH = 8 * 1024 * 1024;

export interface DecodedVideoParams {
  key: string;
  path: string;
  size: Size;
  fps: number;
  quality: number;
  ffmpeg: Promise<string>;
  spillPath: string;
  /** Frames beyond this many bytes in memory go to the spill file. */
  memoryBudget: number;
  hooks: DecodedVideoHooks;
}

/** How a video tells its owner (the cache) about itself; all optional for standalone use. */
export interface DecodedVideoHooks {
  spawned?(video: DecodedVideo): void;
  memory?(video: DecodedVideo, delta: number): void;
  settled?(video: DecodedVideo): void;
}

type Slot = Frame | SpillRef;

function inMemory(slot: Slot): slot is Frame {
  return "jpeg" in slot;
}

export class DecodedVideo {
  readonly key: string;
  readonly path: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;

  /** Holders that opened and have not released; only unreferenced videos are evicted. Owned by FrameCache. */
  refs = 0;

  private readonly slots: Slot[] = [];
  private readonly waiters = new Map<number, Array<(f: Frame | null) => void>>();
  private memBytes = 0;
  private spill: SpillFile | null = null;
  private transcode: Transcode | null = null;
  private finished = false;
  private failure: Error | null = null;
  private disposed = false;
  private paused = false;

  constructor(private readonly params: DecodedVideoParams) {
    this.key = params.key;
    this.path = params.path;
    this.width = params.size.width;
    this.height = params.size.height;
    this.fps = params.fps;
    void this.start();
  }

  /** Frames decoded so far. */
  get available(): number {
    return this.slots.length;
  }

  /** Known once no more frames will come (finished or failed). */
  get frameCount(): number | undefined {
    return this.done ? this.slots.length : undefined;
  }

  get done(): boolean {
    return this.finished || this.failure !== null;
  }

  get error(): Error | null {
    return this.failure;
  }

  /** Bytes held in memory: retained frames plus spilled frames not yet written. */
  get memoryBytes(): number {
    return this.memBytes + (this.spill?.pendingBytes ?? 0);
  }

  get diskBytes(): number {
    return this.spill?.bytesOnDisk ?? 0;
  }

  /** ffmpeg's pid while it runs; for diagnostics and tests. */
  get transcodePid(): number | undefined {
    return this.done ? undefined : this.transcode?.pid;
  }

  ptsOf(index: number): number {
    return Math.round((index * 1000) / this.fps);
  }

  /** The frame on screen at `ms`: the last one whose pts is not after it. */
  indexAt(ms: number): number {
    if (!(ms > 0)) return 0;
    let i = Math.floor((ms * this.fps) / 1000);
    // ptsOf rounds, so the frame after the estimate may already have started.
    if (this.ptsOf(i + 1) <= ms) i++;
    else if (i > 0 && this.ptsOf(i) > ms) i--;
    const count = this.frameCount;
    if (count !== undefined) i = Math.min(i, Math.max(0, count - 1));
    return i;
  }

  /** The frame if it is decoded and in memory; spilled frames need waitFor. */
  get(index: number): Frame | undefined {
    const slot = this.slots[index];
    return slot && inMemory(slot) ? slot : undefined;
  }

  /**
   * Resolves with frame `index` once decoded (at once if it is in memory), or
   * null when it never will be: past the end, failed, or evicted. Never rejects.
   */
  waitFor(index: number): Promise<Frame | null> {
    if (!Number.isInteger(index) || index < 0 || this.disposed) return Promise.resolve(null);
    const slot = this.slots[index];
    if (slot) return inMemory(slot) ? Promise.resolve(slot) : this.readSpilled(index, slot);
    if (this.done) return Promise.resolve(null);
    return new Promise((resolve) => {
      const list = this.waiters.get(index);
      if (list) list.push(resolve);
      else this.waiters.set(index, [resolve]);
    });
  }

  /** Kills ffmpeg, deletes the spill file and frees the frames. Waiters get null. */
  async dispose(reason: string): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.transcode?.kill(reason);
    this.failure ??= new Error(reason);
    const freed = this.memoryBytes;
    this.slots.length = 0;
    this.memBytes = 0;
    const spill = this.spill;
    this.spill = null;
    this.flushWaiters();
    if (freed !== 0) this.params.hooks.memory?.(this, -freed);
    await spill?.dispose();
  }

  private async start(): Promise<void> {
    let bin: string;
    try {
      bin = await this.params.ffmpeg;
    } catch (err) {
      this.end(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (this.disposed) return;
    this.transcode = startTranscode({
      ffmpeg: bin,
      path: this.path,
      size: { width: this.width, height: this.height },
      fps: this.fps,
      quality: this.params.quality,
      onFrame: (jpeg) => this.accept(jpeg),
      onEnd: (err) => this.end(err),
    });
    this.params.hooks.spawned?.(this);
  }

  private accept(jpeg: Buffer): void {
    if (this.disposed) return;
    const index = this.slots.length;
    const frame: Frame = { index, ptsMs: this.ptsOf(index), jpeg };
    if (this.memBytes + jpeg.length <= this.params.memoryBudget) {
      this.slots.push(frame);
      this.memBytes += jpeg.length;
    } else {
      this.spill ??= new SpillFile(
        this.params.spillPath,
        (bytes) => this.written(bytes),
        (err) => this.end(new Error(`spill file failed: ${err.message}`)),
      );
      this.slots.push(this.spill.append(jpeg));
      if (this.spill.pendingBytes > SPILL_PENDING_HIGH && !this.paused) {
        this.paused = true;
        this.transcode?.pause();
      }
    }
    this.params.hooks.memory?.(this, jpeg.length);
    const list = this.waiters.get(index);
    if (list) {
      this.waiters.delete(index);
      for (const resolve of list) resolve(frame);
    }
  }

  private written(bytes: number): void {
    if (this.disposed) return;
    this.params.hooks.memory?.(this, -bytes);
    if (this.paused && (this.spill?.pendingBytes ?? 0) <= SPILL_PENDING_HIGH / 2) {
      this.paused = false;
      this.transcode?.resume();
    }
  }

  private end(err: Error | null): void {
    if (this.done) return;
    if (err) {
      this.failure = err;
      this.transcode?.kill(err.message);
    } else {
      this.finished = true;
    }
    this.flushWaiters();
    this.params.hooks.settled?.(this);
  }

  private flushWaiters(): void {
    const all = [...this.waiters.values()];
    this.waiters.clear();
    for (const list of all) for (const resolve of list) resolve(null);
  }

  private async readSpilled(index: number, ref: SpillRef): Promise<Frame | null> {
    const spill = this.spill;
    if (!spill) return null;
    try {
      return { index, ptsMs: this.ptsOf(index), jpeg: await spill.read(ref) };
    } catch {
      // Disposed mid-read or the file failed: same as a frame that no longer exists.
      return null;
    }
  }
}
