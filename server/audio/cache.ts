// Decoded Opus packets per (video, audio track), shared by every stream and
// viewer of that video: packets are the demuxer's Buffers, never copied per
// reader. Decoding follows the readers like the video's frames do: each
// ffmpeg runs only `aheadSec` past the furthest reader it serves and then
// waits (its pipe is no longer read); packets `behindSec` behind the slowest
// reader are dropped; a reader that seeks outside what is decoded starts a new
// ffmpeg at its position (a segment). Idle tracks are kept, decoders stopped,
// within a byte budget.

import { VIDEO_LIMITS } from "../video/limits";
import { AudioGate, decodeAudio, type AudioDecodeFrom, type AudioDecodeResult, type AudioDecodeSink } from "./decode";
import type { OpusHead, OpusPacket } from "./ogg";

/** The decode port: the real one is decodeAudio (ffmpeg); unit tests may pass a scripted one. */
export type AudioDecodeFn = (
  path: string,
  track: number,
  sink: AudioDecodeSink,
  signal: AbortSignal,
  from?: AudioDecodeFrom,
) => Promise<AudioDecodeResult>;

export type TrackState = "decoding" | "ready" | "failed";

/**
 * A reader this far past the end of a live segment is still served by it:
 * decoding runs a hundred times faster than real time, so it gets there long
 * before a new ffmpeg would have started and seeked.
 */
export const NEAR_MS = 5000;
/** Packets behind the window are dropped in batches of at least this many (a splice of the array). */
const TRIM_BATCH = 50;

/**
 * One contiguous run of packets from one ffmpeg (started at startMs): what a
 * reader reads. Packet times are the file's timeline whatever the start.
 */
export class AudioTrackBuffer {
  head: OpusHead | null = null;
  /** The kept packets, oldest first; the front is dropped as readers move on (see `dropped`). */
  packets: OpusPacket[] = [];
  state: TrackState = "decoding";
  failure: { reason: string; detail: string } | null = null;
  bytes = 0;
  /** Packets dropped from the front so far: a reader's index into `packets` moves back by as many. */
  dropped = 0;
  /** End of the decoded audio (ms, exclusive); startMs before the first packet. */
  endMs: number;

  constructor(
    readonly videoId: string,
    readonly track: number,
    readonly startMs = 0,
    private readonly listeners: Set<() => void> = new Set(),
  ) {
    this.endMs = startMs;
  }

  /** Called on new packets and on the end of decoding (of any segment of the track); returns an unsubscribe. */
  subscribe(fn: () => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Index of the first packet that is still audible at ptsMs (for a seek or a late joiner); packets.length if none yet. */
  indexAt(ptsMs: number): number {
    const target = ptsMs * 48;
    let lo = 0;
    let hi = this.packets.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      const p = this.packets[mid]!;
      if (p.ptsSamples + p.durationSamples <= target) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /** Start (ms) of the oldest packet kept, or of the segment when none is. */
  get firstMs(): number {
    const p = this.packets[0];
    return p && this.dropped > 0 ? p.ptsSamples / 48 : this.startMs;
  }

  /** @internal */ _head(h: OpusHead): void {
    if (this.head) return;
    this.head = h;
    this.emit();
  }
  /** @internal */ _append(ps: OpusPacket[]): void {
    for (const p of ps) {
      this.packets.push(p);
      this.bytes += p.data.length + 64; // + object overhead, roughly
    }
    const last = ps[ps.length - 1];
    if (last) this.endMs = Math.max(this.endMs, (last.ptsSamples + last.durationSamples) / 48);
    this.emit();
  }
  /** @internal Drops packets that end at or before ptsMs, when there are at least `batch` of them. */
  _trim(ptsMs: number, batch = TRIM_BATCH): void {
    const n = this.indexAt(ptsMs);
    if (n < batch || n === 0) return;
    for (let i = 0; i < n; i++) this.bytes -= this.packets[i]!.data.length + 64;
    this.packets.splice(0, n);
    this.dropped += n;
  }
  /** @internal */ _end(r: AudioDecodeResult): void {
    if (r.ok) this.state = "ready";
    else {
      this.state = "failed";
      this.failure = { reason: r.reason, detail: r.detail };
    }
    this.emit();
  }
  private emit(): void {
    for (const fn of [...this.listeners]) fn();
  }
}

export interface AudioCacheOptions {
  /** Total bytes of idle (unreferenced) tracks kept; 96 kbit/s is ~43 MB per hour of audio. */
  maxIdleBytes?: number;
  /** A decoder waits once it is this far past the furthest reader it serves (VIDEO_LIMITS.decodeAheadSec). */
  aheadSec?: number;
  /** Packets kept behind the slowest reader of a segment (VIDEO_LIMITS.audioBehindSec). */
  behindSec?: number;
  decode?: AudioDecodeFn;
}

interface Segment {
  buf: AudioTrackBuffer;
  abort: AbortController;
  gate: AudioGate;
  done: Promise<void>;
  /** Its ffmpeg still runs (or waits at the window). */
  live: boolean;
}

interface Reader {
  seg: Segment;
  posMs: number;
  seenDropped: number;
}

interface Entry {
  videoId: string;
  path: string;
  track: number;
  segments: Segment[];
  readers: Set<Reader>;
  listeners: Set<() => void>;
  head: OpusHead | null;
  refs: number;
  lastUsed: number;
}

export interface AudioLease {
  /** The segment that serves this reader now: it changes after a far seek (see need). */
  readonly buffer: AudioTrackBuffer;
  /** Resolves when the decoding of the segment first given to this lease has ended (ready, failed or stopped). */
  done: Promise<void>;
  /**
   * The reader plays from posMs next: decoding follows (window ahead, far
   * seek). Returns `cursor` (an index into buffer.packets) re-based onto the
   * buffer as it is now: moved back by the packets dropped since the last
   * call, or the index of posMs when a seek switched segments.
   */
  need(posMs: number, cursor: number): number;
  release(): void;
}

/** The default of the `audioCacheBytes` limit (server/video/limits.ts). */
export const DEFAULT_AUDIO_CACHE_BYTES = VIDEO_LIMITS.audioCacheBytes;

export class AudioPacketCache {
  private entries = new Map<string, Entry>();
  private readonly maxIdle: number;
  private readonly aheadMs: number;
  private readonly behindMs: number;
  private readonly decode: AudioDecodeFn;
  private tick = 0;
  /** ffmpeg runs started, for tests and stats. */
  spawned = 0;

  constructor(opts: AudioCacheOptions = {}) {
    this.maxIdle = opts.maxIdleBytes ?? DEFAULT_AUDIO_CACHE_BYTES;
    this.aheadMs = (opts.aheadSec ?? VIDEO_LIMITS.decodeAheadSec) * 1000;
    this.behindMs = (opts.behindSec ?? VIDEO_LIMITS.audioBehindSec) * 1000;
    this.decode = opts.decode ?? decodeAudio;
  }

  /** A reader of (videoId, track) starting at fromMs; decoding starts (or resumes) as it needs. */
  acquire(videoId: string, path: string, track: number, fromMs = 0): AudioLease {
    const key = `${videoId}\u0000${track}`;
    let e = this.entries.get(key);
    // A failed decode is not kept: the file may have been fixed since.
    if (e && e.refs === 0 && e.segments.some(isBroken)) {
      this.drop(key, e);
      e = undefined;
    }
    if (!e) {
      e = {
        videoId,
        path,
        track,
        segments: [],
        readers: new Set(),
        listeners: new Set(),
        head: null,
        refs: 0,
        lastUsed: 0,
      };
      this.entries.set(key, e);
    }
    e.refs++;
    e.lastUsed = ++this.tick;
    const entry = e;
    const seg = this.segmentFor(entry, fromMs);
    const reader: Reader = { seg, posMs: fromMs, seenDropped: seg.buf.dropped };
    entry.readers.add(reader);
    this.plan(entry);
    let released = false;
    return {
      get buffer() {
        return reader.seg.buf;
      },
      done: seg.done,
      need: (posMs, cursor) => {
        if (released) return cursor;
        reader.posMs = posMs;
        const before = reader.seg;
        const shift = (): number => before.buf.dropped - reader.seenDropped;
        reader.seg = this.segmentFor(entry, posMs);
        this.plan(entry);
        if (reader.seg === before) {
          const at = Math.max(0, cursor - shift());
          reader.seenDropped = before.buf.dropped;
          return at;
        }
        // Another segment: go on after what the old one had sent (its next packet), never before posMs.
        const next = before.buf.packets[cursor - shift()];
        const buf = reader.seg.buf;
        reader.seenDropped = buf.dropped;
        return buf.indexAt(Math.max(posMs, next ? next.ptsMs + 1 : before.buf.endMs));
      },
      release: () => {
        if (released) return;
        released = true;
        entry.readers.delete(reader);
        entry.refs--;
        entry.lastUsed = ++this.tick;
        this.plan(entry);
        this.trim();
      },
    };
  }

  get size(): number {
    return this.entries.size;
  }

  idleBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.refs === 0) n += entryBytes(e);
    return n;
  }

  /** Packet bytes held for (videoId, track) over its segments, for tests and stats. */
  heldBytes(videoId: string, track: number): number {
    const e = this.entries.get(`${videoId}\u0000${track}`);
    return e ? entryBytes(e) : 0;
  }

  /** The segment that serves a reader at posMs, started at posMs if none does. */
  private segmentFor(e: Entry, posMs: number): Segment {
    let best: Segment | null = null;
    for (const s of e.segments) {
      const b = s.buf;
      if (posMs < b.firstMs) continue;
      // A segment that ended (end of file, or a failure that would recur) serves everything after it.
      const reach = b.state !== "decoding" ? Infinity : s.live ? b.endMs + NEAR_MS : b.endMs - 1;
      if (posMs > reach) continue;
      if (!best || b.startMs > best.buf.startMs) best = s;
    }
    return best ?? this.start(e, Math.max(0, Math.floor(posMs)));
  }

  private start(e: Entry, startMs: number): Segment {
    const buf = new AudioTrackBuffer(e.videoId, e.track, startMs, e.listeners);
    if (e.head) buf.head = e.head;
    const abort = new AbortController();
    const gate = new AudioGate();
    const seg: Segment = { buf, abort, gate, live: true, done: Promise.resolve() };
    this.spawned++;
    seg.done = this.decode(
      e.path,
      e.track,
      {
        onHead: (h) => {
          e.head ??= h;
          buf._head(h);
        },
        onPackets: (p) => {
          buf._append(p);
          this.gateOf(e, seg);
        },
      },
      abort.signal,
      { startMs, gate },
    )
      .catch((err: unknown): AudioDecodeResult => ({ ok: false, reason: "corrupt", detail: String(err) }))
      .then((r) => {
        seg.live = false;
        // A decoder we stopped leaves its packets usable; only a real end or failure changes the state.
        if (r.ok || r.reason !== "aborted") buf._end(r);
        this.trim();
      });
    e.segments.push(seg);
    return seg;
  }

  /** Opens or closes a segment's gate: it decodes while it is less than `ahead` past its furthest reader. */
  private gateOf(e: Entry, seg: Segment): void {
    if (!seg.live) return;
    let far = -Infinity;
    for (const r of e.readers) if (r.seg === seg) far = Math.max(far, r.posMs);
    seg.gate.set(far !== -Infinity && seg.buf.endMs < far + this.aheadMs);
  }

  /**
   * Works out every segment of a track after a reader moved: segments nobody
   * reads are stopped (and dropped while the track is in use), the others
   * decode up to their window and drop what is behind it.
   */
  private plan(e: Entry): void {
    for (const seg of [...e.segments]) {
      let slow = Infinity;
      for (const r of e.readers) if (r.seg === seg) slow = Math.min(slow, r.posMs);
      if (slow === Infinity) {
        this.stop(seg);
        // In use by readers elsewhere in the file: what nobody reads goes. Idle: kept for a warm replay.
        if (e.refs > 0) {
          e.segments.splice(e.segments.indexOf(seg), 1);
          continue;
        }
        if (seg.buf.packets.length === 0 && seg.buf.state === "decoding") e.segments.splice(e.segments.indexOf(seg), 1);
        continue;
      }
      this.gateOf(e, seg);
      seg.buf._trim(slow - this.behindMs);
    }
  }

  private stop(seg: Segment): void {
    if (!seg.live) return;
    seg.live = false;
    seg.abort.abort();
  }

  private drop(key: string, e: Entry): void {
    for (const s of e.segments) this.stop(s);
    this.entries.delete(key);
  }

  /** Drops least recently used idle tracks until the idle budget holds. */
  private trim(): void {
    let idle = this.idleBytes();
    if (idle <= this.maxIdle) return;
    const victims = [...this.entries.entries()]
      .filter(([, e]) => e.refs === 0)
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [key, e] of victims) {
      if (idle <= this.maxIdle) break;
      idle -= entryBytes(e);
      this.drop(key, e);
    }
  }

  close(): void {
    for (const [key, e] of [...this.entries]) this.drop(key, e);
  }
}

function entryBytes(e: Entry): number {
  let n = 0;
  for (const s of e.segments) n += s.buf.bytes;
  return n;
}

function isBroken(s: Segment): boolean {
  return s.buf.state === "failed" && s.buf.failure?.reason !== "aborted";
}
