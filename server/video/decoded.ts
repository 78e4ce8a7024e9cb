// One video decoded into JPEG frames at one output size, shared by every
// stream that plays it at this size. Decoding follows the viewers: each
// ffmpeg runs only a bounded window ahead of the furthest viewer it serves
// and then waits; frames far behind every viewer are dropped; a seek outside
// the decoded frames restarts ffmpeg at that point. Past a memory budget
// frames go to spill files and are read back on demand.
//
// Over 300 lines: one decoder's window (ahead, behind, head), its restarts for
// far seeks and its spill segments are one state machine over the same frames.

import type { FrameSource } from "./pacer";
import type { StoreRef } from "./spill";
import { SpillStore } from "./spill";
import type { Transcode } from "./transcode";
import { startTranscode } from "./transcode";
import type { VideoFrame, Size } from "./types";

/** Spilled frames queued for disk beyond this pause ffmpeg, so a slow disk cannot fill memory. */
const SPILL_PENDING_HIGH = 8 * 1024 * 1024;
/** Default spill segment size: small enough to give space back soon, big enough to be few files. */
const SEGMENT_BYTES = 16 * 1024 * 1024;
/**
 * A decoder this close behind a viewer's next frame serves it: decoding runs
 * several times faster than real time, so it gets there sooner than a new
 * ffmpeg would start and find its keyframe.
 */
const NEAR_SEC = 1;
/** Kept past a viewer's ahead window: what a paused decoder may still have produced (a pipe's worth). */
const SLACK_SEC = 2;
/** A viewer moves this far before retention is worked out again (it is a scan of the frames). */
const PRUNE_EVERY_SEC = 0.5;

export interface DecodeWindow {
  /** Decoding pauses this far ahead of the furthest viewer a decoder serves. */
  aheadSec: number;
  /** Frames kept behind each viewer. */
  behindSec: number;
  /** The first seconds always kept (warm replay from the start). */
  headSec: number;
}

export const DEFAULT_WINDOW: DecodeWindow = { aheadSec: 20, behindSec: 30, headSec: 10 };

export interface DecodedVideoParams {
  key: string;
  path: string;
  size: Size;
  fps: number;
  quality: number;
  ffmpeg: Promise<string>;
  /** Spill segment 0's path; later segments add `.1`, `.2`... */
  spillPath: string;
  /** Frames beyond this many bytes in memory go to spill files. */
  memoryBudget: number;
  /** Spill segment size, the unit in which disk space is given back. Default 16 MiB. */
  segmentBytes?: number;
  window?: DecodeWindow;
  hooks: DecodedVideoHooks;
}

/** How a video tells its owner (the cache) about itself; all optional for standalone use. */
export interface DecodedVideoHooks {
  spawned?(video: DecodedVideo): void;
  memory?(video: DecodedVideo, delta: number): void;
  settled?(video: DecodedVideo): void;
  /** An ffmpeg started (+1) or ended (-1), charged to the member whose viewer needed it. */
  decoders?(video: DecodedVideo, owner: string | null, delta: 1 | -1): void;
  /** May `bytes` more go to disk now? Absent: yes. No: the frame stays in memory. */
  mayDisk?(video: DecodedVideo, bytes: number): boolean;
}

type Slot = VideoFrame | StoreRef;

function inMemory(slot: Slot): slot is VideoFrame {
  return "jpeg" in slot;
}

/** Where one viewer (one stream's pacer) is: the next frame it will ask for. */
interface Cursor {
  pos: number;
  /** Frames [pos, hint) are known decoded; saves rescanning them on every frame. */
  hint: number;
  owner: string | null;
  prunedAt: number;
  closed: boolean;
}

interface Decoder {
  start: number;
  /** Index of the next frame it will output. */
  next: number;
  /** Runs while next < want; recomputed by plan(). */
  want: number;
  owner: string | null;
  transcode: Transcode | null;
  paused: boolean;
  stopped: boolean;
  /** Cursors it served at the last plan(); null stands for direct (whole-video) demand. */
  serves: Set<Cursor | null>;
}

export class DecodedVideo {
  readonly key: string;
  readonly path: string;
  readonly width: number;
  readonly height: number;
  readonly fps: number;

  /** Holders that opened and have not released; only unreferenced videos are evicted. Owned by FrameCache. */
  refs = 0;

  private readonly slots = new Map<number, Slot>();
  private readonly waiters = new Map<number, Array<(f: VideoFrame | null) => void>>();
  private readonly cursors = new Set<Cursor>();
  private readonly decoders = new Set<Decoder>();
  private readonly win: DecodeWindow;
  private memBytes = 0;
  private store: SpillStore | null = null;
  private bin: string | null = null;
  /** Exact frame count, once a decoder reached the end. */
  private count: number | undefined = undefined;
  /** No frame at or after this (a decoder started here found nothing). */
  private endBound = Infinity;
  private failure: Error | null = null;
  private disposed = false;
  /** Highest index asked for through this object's own waitFor (whole-video readers: tests, tools). */
  private demand = -1;
  private demandHint = 0;
  private spawnCount = 0;
  private planning = false;

  constructor(private readonly params: DecodedVideoParams) {
    this.key = params.key;
    this.path = params.path;
    this.width = params.size.width;
    this.height = params.size.height;
    this.fps = params.fps;
    this.win = params.window ?? DEFAULT_WINDOW;
    params.ffmpeg.then(
      (bin) => {
        this.bin = bin;
        this.plan();
      },
      (err: unknown) => this.fail(err instanceof Error ? err : new Error(String(err))),
    );
  }

  /** Frames held now (in memory or spilled). */
  get available(): number {
    return this.slots.size;
  }

  /** Known once a decoder reached the end (or, after a failure, the frames there are). */
  get frameCount(): number | undefined {
    if (this.failure) return this.count ?? this.slots.size;
    return this.count;
  }

  /** No ffmpeg will run again unless a viewer asks for frames that are gone. */
  get done(): boolean {
    return this.failure !== null || (this.count !== undefined && this.decoders.size === 0);
  }

  get error(): Error | null {
    return this.failure;
  }

  /** Bytes held in memory: retained frames plus spilled frames not yet written. */
  get memoryBytes(): number {
    return this.memBytes + (this.store?.pendingBytes ?? 0);
  }

  /** Bytes written to spill files. */
  get diskBytes(): number {
    return this.store?.bytesOnDisk ?? 0;
  }

  /** Disk this video has claimed: written plus queued for writing. */
  get diskCommitted(): number {
    return (this.store?.bytesOnDisk ?? 0) + (this.store?.pendingBytes ?? 0);
  }

  /** ffmpeg's pid while one runs; for diagnostics and tests. */
  get transcodePid(): number | undefined {
    for (const d of this.decoders) return d.transcode?.pid;
    return undefined;
  }

  /** ffmpeg processes running (or paused) for this video now. */
  get decoderCount(): number {
    return this.decoders.size;
  }

  /** ffmpeg processes started for this video so far. */
  get spawns(): number {
    return this.spawnCount;
  }

  /** For tests and diagnostics: each running decoder's next frame and whether it is paused. */
  get decoderStates(): Array<{ start: number; next: number; paused: boolean }> {
    return [...this.decoders].map((d) => ({ start: d.start, next: d.next, paused: d.paused }));
  }

  /** Indices of the frames held, ascending; for tests. */
  heldIndices(): number[] {
    return [...this.slots.keys()].sort((a, b) => a - b);
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
  get(index: number): VideoFrame | undefined {
    const slot = this.slots.get(index);
    return slot && inMemory(slot) ? slot : undefined;
  }

  /**
   * Resolves with frame `index` once decoded (at once if it is in memory), or
   * null when it never will be: past the end, failed, or evicted. Never rejects.
   * Asking through the video itself (not a reader) decodes sequentially from
   * the start up to what was asked for: for whole-video consumers.
   */
  waitFor(index: number): Promise<VideoFrame | null> {
    if (Number.isInteger(index) && index > this.demand && !this.disposed) {
      this.demand = index;
      this.plan();
    }
    return this.frame(index);
  }

  /**
   * A viewer that plays the video (one per stream): decoding follows where it
   * reads, a bounded window ahead, and a far jump restarts ffmpeg there.
   * `owner` is charged for the decoders it needs. Close it when done.
   */
  reader(owner: string | null): VideoReader {
    const cursor: Cursor = { pos: -1, hint: 0, owner, prunedAt: -Infinity, closed: false };
    this.cursors.add(cursor);
    return new VideoReader(this, cursor);
  }

  /** Would a viewer starting at `index` need an ffmpeg that is not running now? */
  needsDecoder(index: number, cursor?: Cursor): boolean {
    if (this.failure || this.disposed) return false;
    const want = index + this.aheadFrames();
    let m = Math.max(0, index);
    while (m < want && m < this.endIndex() && this.slots.has(m)) m++;
    if (m >= want || m >= this.endIndex()) return false;
    const near = this.nearFrames();
    for (const d of this.decoders) {
      if (d.next <= m && d.next >= m - near) return false;
      // The viewer's own decoder, serving nobody else, is moved rather than added.
      if (cursor && d.serves.size === 1 && d.serves.has(cursor)) return false;
    }
    return true;
  }

  /** Does this cursor alone use a running decoder (which would end with it)? */
  holdsDecoder(cursor: Cursor): boolean {
    for (const d of this.decoders) if (d.serves.size === 1 && d.serves.has(cursor)) return true;
    return false;
  }

  /** Kills ffmpeg, deletes the spill files and frees the frames. Waiters get null. */
  async dispose(reason: string): Promise<void> {
    if (this.disposed) return;
    this.disposed = true;
    this.failure ??= new Error(reason);
    for (const d of [...this.decoders]) this.stopDecoder(d, reason);
    this.cursors.clear();
    const freed = this.memoryBytes;
    this.slots.clear();
    this.memBytes = 0;
    const store = this.store;
    this.store = null;
    this.flushWaiters(() => true);
    if (freed !== 0) this.params.hooks.memory?.(this, -freed);
    await store?.dispose();
  }

  // ---- readers (used by VideoReader) ---------------------------------------------------

  /** @internal */
  frame(index: number): Promise<VideoFrame | null> {
    if (!Number.isInteger(index) || index < 0 || this.disposed) return Promise.resolve(null);
    const slot = this.slots.get(index);
    if (slot) return inMemory(slot) ? Promise.resolve(slot) : this.readSpilled(index, slot);
    if (this.failure || index >= this.endIndex()) return Promise.resolve(null);
    return new Promise((resolve) => {
      const list = this.waiters.get(index);
      if (list) list.push(resolve);
      else this.waiters.set(index, [resolve]);
    });
  }

  /** @internal */
  moveCursor(c: Cursor, index: number): void {
    if (c.closed || this.disposed || !Number.isInteger(index) || index < 0 || index === c.pos) return;
    const back = index < c.pos;
    c.pos = index;
    if (back || index > c.hint) c.hint = index;
    if (Math.abs(index - c.prunedAt) >= this.fps * PRUNE_EVERY_SEC) {
      c.prunedAt = index;
      this.prune();
    }
    this.plan();
  }

  /** @internal */
  closeCursor(c: Cursor): void {
    if (c.closed) return;
    c.closed = true;
    this.cursors.delete(c);
    this.plan();
  }

  // ---- planning ---------------------------------------------------------------------------

  private aheadFrames(): number {
    return Math.max(1, Math.ceil(this.win.aheadSec * this.fps));
  }

  private slackFrames(): number {
    return Math.ceil(SLACK_SEC * this.fps);
  }

  private nearFrames(): number {
    return Math.ceil(NEAR_SEC * this.fps);
  }

  private endIndex(): number {
    return this.count ?? this.endBound;
  }

  /** First frame at or after `from` (below `want`) not held; advances the cursor's hint. */
  private scan(c: Cursor | null, from: number, want: number): number {
    const end = Math.min(want, this.endIndex());
    let i = Math.max(from, c ? c.hint : this.demandHint);
    while (i < end && this.slots.has(i)) i++;
    if (c) c.hint = i;
    else this.demandHint = i;
    return i;
  }

  /**
   * Decides which ffmpeg runs where: every viewer whose next `aheadSec` are
   * not all decoded is served by a decoder at (or just behind) its first
   * missing frame, started there if there is none; a decoder past the window
   * of everyone it serves waits; one that serves nobody is stopped.
   */
  private plan(): void {
    if (this.disposed || this.failure || this.bin === null || this.planning) return;
    this.planning = true;
    try {
      const wanted = new Map<Decoder, number>();
      for (const d of this.decoders) d.serves.clear();
      const needs: Array<{ at: number; want: number; owner: string | null; cursor: Cursor | null; near: number }> = [];
      const visit = (c: Cursor | null, from: number, want: number, near: number, owner: string | null) => {
        // Scanned a little past the window: a paused decoder may have overshot it.
        const m = this.scan(c, from, want + this.slackFrames());
        // The decoder at the edge of what is decoded serves this viewer even
        // when its window is full (it waits there), so it is not stopped.
        const d = this.decoderNear(m, near);
        if (d) {
          wanted.set(d, Math.max(wanted.get(d) ?? 0, want));
          d.serves.add(c);
        } else if (m < want && m < this.endIndex()) {
          needs.push({ at: m, want, owner, cursor: c, near });
        }
      };
      const ahead = this.aheadFrames();
      for (const c of this.cursors) if (c.pos >= 0) visit(c, c.pos, c.pos + ahead, this.nearFrames(), c.owner);
      // Direct demand never jumps: it decodes on from the start.
      if (this.demand >= 0) visit(null, 0, this.demand + ahead, 0, null);
      // A decoder nobody needs stops now: paused, it would still hold its memory and a decoder slot.
      for (const d of [...this.decoders]) if (!wanted.has(d)) this.stopDecoder(d, "no viewer needs it");
      for (const n of needs) {
        // Two viewers at the same place need one decoder.
        const d = this.decoderNear(n.at, n.near) ?? this.spawn(n.at, n.owner);
        wanted.set(d, Math.max(wanted.get(d) ?? 0, n.want));
        d.serves.add(n.cursor);
      }
      const backlog = (this.store?.pendingBytes ?? 0) > SPILL_PENDING_HIGH;
      for (const [d, want] of wanted) {
        this.recharge(d);
        d.want = want;
        this.setPaused(d, backlog || d.next >= want);
      }
    } finally {
      this.planning = false;
    }
  }

  /** A decoder counts against a member it serves: once its starter has left, against one still watching. */
  private recharge(d: Decoder): void {
    let next: string | null | undefined;
    for (const c of d.serves) {
      if (c && c.owner === d.owner) return;
      if (c && next === undefined) next = c.owner;
    }
    if (next === undefined || next === d.owner) return;
    this.params.hooks.decoders?.(this, d.owner, -1);
    d.owner = next;
    this.params.hooks.decoders?.(this, d.owner, 1);
  }

  private decoderNear(m: number, near: number): Decoder | null {
    let best: Decoder | null = null;
    for (const d of this.decoders) if (d.next <= m && d.next >= m - near && (!best || d.next > best.next)) best = d;
    return best;
  }

  private setPaused(d: Decoder, paused: boolean): void {
    if (d.paused === paused || d.stopped) return;
    d.paused = paused;
    if (paused) d.transcode?.pause();
    else d.transcode?.resume();
  }

  private spawn(at: number, owner: string | null): Decoder {
    const d: Decoder = {
      start: at,
      next: at,
      want: at,
      owner,
      transcode: null,
      paused: false,
      stopped: false,
      serves: new Set(),
    };
    this.decoders.add(d);
    this.spawnCount++;
    this.params.hooks.decoders?.(this, owner, 1);
    d.transcode = startTranscode({
      ffmpeg: this.bin as string,
      path: this.path,
      size: { width: this.width, height: this.height },
      fps: this.fps,
      quality: this.params.quality,
      startSec: at / this.fps,
      onFrame: (jpeg) => this.accept(d, jpeg),
      onEnd: (err) => this.decoderEnded(d, err),
    });
    this.params.hooks.spawned?.(this);
    return d;
  }

  private stopDecoder(d: Decoder, reason: string): void {
    if (d.stopped) return;
    d.stopped = true;
    this.decoders.delete(d);
    d.transcode?.kill(reason);
    this.params.hooks.decoders?.(this, d.owner, -1);
  }

  private decoderEnded(d: Decoder, err: Error | null): void {
    if (d.stopped) return; // we stopped it
    d.stopped = true;
    this.decoders.delete(d);
    this.params.hooks.decoders?.(this, d.owner, -1);
    if (err) {
      this.fail(err);
      return;
    }
    const firstTime = this.count === undefined;
    if (d.next > d.start) this.count = d.next;
    else this.endBound = Math.min(this.endBound, d.start);
    const end = this.endIndex();
    this.flushWaiters((i) => i >= end);
    if (firstTime && this.count !== undefined) this.params.hooks.settled?.(this);
    this.plan();
  }

  private fail(err: Error): void {
    if (this.failure) return;
    this.failure = err;
    for (const d of [...this.decoders]) this.stopDecoder(d, err.message);
    this.flushWaiters(() => true);
    this.params.hooks.settled?.(this);
  }

  // ---- frames -------------------------------------------------------------------------------

  private accept(d: Decoder, jpeg: Buffer): void {
    if (this.disposed || d.stopped) return;
    const index = d.next++;
    if (this.slots.has(index)) {
      // Ran into frames decoded earlier: the rest would be duplicates.
      this.stopDecoder(d, "reached decoded frames");
      this.plan();
      return;
    }
    const frame: VideoFrame = { index, ptsMs: this.ptsOf(index), jpeg };
    const spill =
      this.memBytes + jpeg.length > this.params.memoryBudget &&
      (this.params.hooks.mayDisk?.(this, jpeg.length) ?? true);
    if (!spill) {
      // Within the budget, or the disk is refused: memory then, bounded by the windows.
      this.slots.set(index, frame);
      this.memBytes += jpeg.length;
    } else {
      this.store ??= new SpillStore(
        (seg) => (seg === 0 ? this.params.spillPath : `${this.params.spillPath}.${seg}`),
        this.params.segmentBytes ?? SEGMENT_BYTES,
        (bytes) => this.written(bytes),
        (err) => this.fail(new Error(`spill file failed: ${err.message}`)),
      );
      this.slots.set(index, this.store.append(jpeg));
    }
    this.params.hooks.memory?.(this, jpeg.length);
    const list = this.waiters.get(index);
    if (list) {
      this.waiters.delete(index);
      for (const resolve of list) resolve(frame);
    }
    if (d.next >= d.want || (this.store?.pendingBytes ?? 0) > SPILL_PENDING_HIGH) this.setPaused(d, true);
  }

  private written(bytes: number): void {
    if (this.disposed) return;
    this.params.hooks.memory?.(this, -bytes);
    if ((this.store?.pendingBytes ?? 0) <= SPILL_PENDING_HIGH / 2) {
      for (const d of this.decoders) if (d.paused && d.next < d.want) this.setPaused(d, false);
    }
  }

  /**
   * Drops what no viewer needs: outside the head and every viewer's window
   * [pos - behind, pos + ahead + slack]. Only while someone plays the video:
   * an idle video keeps what it has until the cache evicts it.
   */
  private prune(): void {
    if (this.cursors.size === 0) return;
    const head = this.win.headSec * this.fps;
    const behind = this.win.behindSec * this.fps;
    const ahead = this.aheadFrames() + this.slackFrames();
    const live = [...this.cursors].filter((c) => c.pos >= 0);
    const keep = (i: number) =>
      i < head || i <= this.demand || live.some((c) => i >= c.pos - behind && i <= c.pos + ahead);
    let freed = 0;
    for (const [i, slot] of this.slots) {
      if (keep(i)) continue;
      this.slots.delete(i);
      if (inMemory(slot)) {
        this.memBytes -= slot.jpeg.length;
        freed += slot.jpeg.length;
      } else {
        this.store?.free(slot);
      }
    }
    if (freed > 0) this.params.hooks.memory?.(this, -freed);
    // Waits for frames nobody will ask for again (a pacer that moved on) end now.
    this.flushWaiters((i) => !(i <= this.demand || live.some((c) => i >= c.pos && i <= c.pos + ahead)));
  }

  private flushWaiters(which: (index: number) => boolean): void {
    const out: Array<(f: VideoFrame | null) => void> = [];
    for (const [i, list] of this.waiters) {
      if (!which(i)) continue;
      this.waiters.delete(i);
      out.push(...list);
    }
    for (const resolve of out) resolve(null);
  }

  private async readSpilled(index: number, ref: StoreRef): Promise<VideoFrame | null> {
    const store = this.store;
    if (!store) return null;
    try {
      return { index, ptsMs: this.ptsOf(index), jpeg: await store.read(ref) };
    } catch {
      // Disposed or freed mid-read, or the file failed: same as a frame that no longer exists.
      return null;
    }
  }
}

/**
 * One viewer's view of a DecodedVideo, as a pacer's FrameSource: every frame
 * it asks for tells the video where this viewer is.
 */
export class VideoReader implements FrameSource {
  constructor(
    private readonly video: DecodedVideo,
    private readonly cursor: Cursor,
  ) {}

  get frameCount(): number | undefined {
    return this.video.frameCount;
  }

  get error(): Error | null {
    return this.video.error;
  }

  /** The next frame this viewer asked for (-1 before the first). */
  get position(): number {
    return this.cursor.pos;
  }

  ptsOf(index: number): number {
    return this.video.ptsOf(index);
  }

  indexAt(ms: number): number {
    return this.video.indexAt(ms);
  }

  get(index: number): VideoFrame | undefined {
    this.video.moveCursor(this.cursor, index);
    return this.video.get(index);
  }

  waitFor(index: number): Promise<VideoFrame | null> {
    if (this.cursor.closed) return Promise.resolve(null);
    this.video.moveCursor(this.cursor, index);
    return this.video.frame(index);
  }

  /** Would moving this viewer to `index` need another ffmpeg (its own, if only it uses one, is moved)? */
  needsDecoder(index: number): boolean {
    return this.video.needsDecoder(index, this.cursor);
  }

  /** True when a running ffmpeg serves only this viewer (and so ends when it closes or moves). */
  get holdsDecoder(): boolean {
    return this.video.holdsDecoder(this.cursor);
  }

  close(): void {
    this.video.closeCursor(this.cursor);
  }
}
