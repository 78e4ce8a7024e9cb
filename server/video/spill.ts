// An append-only file of frames for one decoded video, so a long video costs
// disk instead of memory. Writes are queued in order; a frame whose write is
// still pending is served from memory, so readers never see a gap.

import { mkdir, open, unlink } from "node:fs/promises";
import { dirname } from "node:path";
import type { FileHandle } from "node:fs/promises";

export interface SpillRef {
  offset: number;
  length: number;
}

const WRITE_BATCH = 256;

export class SpillFile {
  private fh: Promise<FileHandle> | null = null;
  private size = 0;
  /** Frames not yet handed to a write, in file order. */
  private queue: Buffer[] = [];
  private writer: Promise<void> | null = null;
  /** File offset where the next batch goes (everything before it is on disk). */
  private writtenTo = 0;
  private readonly pending = new Map<number, Buffer>();
  private pendingTotal = 0;
  private failure: Error | null = null;
  private closed = false;

  /**
   * @param onWritten called as each queued frame reaches the file (memory freed, producer may resume)
   * @param onError called once if a write fails; the file is unusable after that
   */
  constructor(
    readonly path: string,
    private readonly onWritten: (bytes: number) => void,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Bytes accepted but not yet on disk; counts against memory. */
  get pendingBytes(): number {
    return this.pendingTotal;
  }

  get bytesOnDisk(): number {
    return this.size - this.pendingTotal;
  }

  append(buf: Buffer): SpillRef {
    if (this.failure) throw this.failure;
    const ref = { offset: this.size, length: buf.length };
    this.size += buf.length;
    this.pending.set(ref.offset, buf);
    this.pendingTotal += buf.length;
    this.queue.push(buf);
    this.writer ??= this.drain().finally(() => {
      this.writer = null;
    });
    return ref;
  }

  /**
   * Writes queued frames in order. Frames queued while a write is in flight go
   * out together in one writev: during the initial transcode ffmpeg produces
   * hundreds of frames a second, and one syscall per frame would lag behind.
   */
  private async drain(): Promise<void> {
    while (this.queue.length > 0 && !this.failure && !this.closed) {
      const batch = this.queue.splice(0, WRITE_BATCH);
      const offset = this.writtenTo;
      const bytes = batch.reduce((n, b) => n + b.length, 0);
      try {
        const fh = await this.handle();
        const { bytesWritten } = await fh.writev(batch, offset);
        if (bytesWritten !== bytes) throw new Error(`short write to spill file: ${bytesWritten}/${bytes}`);
      } catch (err) {
        this.fail(err);
        return;
      }
      if (this.closed) return;
      this.writtenTo += bytes;
      let at = offset;
      for (const buf of batch) {
        this.pending.delete(at);
        this.pendingTotal -= buf.length;
        at += buf.length;
        this.onWritten(buf.length);
      }
    }
  }

  async read(ref: SpillRef): Promise<Buffer> {
    const mem = this.pending.get(ref.offset);
    if (mem) return mem;
    if (this.failure) throw this.failure;
    const fh = await this.handle();
    const buf = Buffer.allocUnsafe(ref.length);
    const { bytesRead } = await fh.read(buf, 0, ref.length, ref.offset);
    if (bytesRead !== ref.length) throw new Error(`short read from spill file: ${bytesRead}/${ref.length}`);
    return buf;
  }

  /** Closes and deletes the file; pending writes are abandoned. */
  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.pending.clear();
    this.pendingTotal = 0;
    this.queue = [];
    await this.writer;
    if (this.fh) {
      const fh = await this.fh.catch(() => null);
      await fh?.close().catch(() => {});
      await unlink(this.path).catch(() => {});
    }
  }

  private handle(): Promise<FileHandle> {
    // "w+": created on first use and truncated, so a stale file never leaks old frames.
    this.fh ??= mkdir(dirname(this.path), { recursive: true, mode: 0o700 }).then(() => open(this.path, "w+", 0o600));
    return this.fh;
  }

  private fail(err: unknown): void {
    if (this.failure) return;
    this.failure = err instanceof Error ? err : new Error(String(err));
    this.onError(this.failure);
  }
}

/** Where a frame lives in a SpillStore: which segment file, and where in it. */
export interface StoreRef extends SpillRef {
  segment: number;
}

interface Segment {
  file: SpillFile;
  /** Bytes of frames in it that are still wanted; 0 once every one was freed. */
  live: number;
}

/**
 * Spilled frames of one video in a series of segment files, so space can be
 * given back: a segment is deleted as soon as every frame in it was freed.
 * Frames are appended roughly in play order and freed as the viewers move
 * on, so old segments empty out and the disk holds about the decode window,
 * not the film.
 */
export class SpillStore {
  private readonly segments = new Map<number, Segment>();
  private active: { id: number; seg: Segment; bytes: number } | null = null;
  private nextId = 0;
  private pending = 0;
  private disk = 0;
  private closed = false;

  constructor(
    private readonly pathOf: (segment: number) => string,
    private readonly segmentBytes: number,
    private readonly onWritten: (bytes: number) => void,
    private readonly onError: (err: Error) => void,
  ) {}

  /** Bytes accepted but not yet on disk; counts against memory. */
  get pendingBytes(): number {
    return this.pending;
  }

  /** Bytes in segment files right now (including freed frames of segments not yet emptied). */
  get bytesOnDisk(): number {
    return this.disk;
  }

  get segmentCount(): number {
    return this.segments.size;
  }

  append(buf: Buffer): StoreRef {
    if (!this.active || this.active.bytes >= this.segmentBytes) {
      const prev = this.active;
      const id = this.nextId++;
      const seg: Segment = {
        file: new SpillFile(
          this.pathOf(id),
          (bytes) => {
            this.pending -= bytes;
            this.disk += bytes;
            this.onWritten(bytes);
          },
          this.onError,
        ),
        live: 0,
      };
      this.segments.set(id, seg);
      this.active = { id, seg, bytes: 0 };
      // A full segment whose frames were all freed while it was active goes now.
      // drop() never rejects (dispose swallows close/unlink errors of a spill file).
      if (prev && prev.seg.live === 0) void this.drop(prev.id);
    }
    const { id, seg } = this.active;
    const ref = { segment: id, ...seg.file.append(buf) };
    seg.live += buf.length;
    this.active.bytes += buf.length;
    this.pending += buf.length;
    return ref;
  }

  read(ref: StoreRef): Promise<Buffer> {
    const seg = this.segments.get(ref.segment);
    if (!seg) return Promise.reject(new Error("spilled frame was freed"));
    return seg.file.read(ref);
  }

  /** The frame is no longer wanted; its segment is deleted once it holds no wanted frame. */
  free(ref: StoreRef): void {
    const seg = this.segments.get(ref.segment);
    if (!seg) return;
    seg.live -= ref.length;
    if (seg.live <= 0 && this.active?.id !== ref.segment) void this.drop(ref.segment);
  }

  async dispose(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const all = [...this.segments.keys()];
    this.active = null;
    await Promise.all(all.map((id) => this.drop(id)));
  }

  private drop(id: number): Promise<void> {
    const seg = this.segments.get(id);
    if (!seg) return Promise.resolve();
    this.segments.delete(id);
    const unwritten = seg.file.pendingBytes;
    this.pending -= unwritten;
    this.disk -= seg.file.bytesOnDisk;
    // Not-yet-written bytes are memory the owner counted: hand them back.
    if (unwritten > 0 && !this.closed) this.onWritten(unwritten);
    return seg.file.dispose();
  }
}
