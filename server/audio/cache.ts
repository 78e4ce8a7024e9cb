// One shared, growing packet list per (video, audio track): decoded once, read
// by every stream and viewer of that video. Packets are the demuxer's Buffers,
// never copied per reader. Idle tracks are evicted beyond a byte budget.

import { VIDEO_LIMITS } from "../video/limits";
import { decodeAudio, type AudioDecodeResult, type AudioDecodeSink } from "./decode";
import type { OpusHead, OpusPacket } from "./ogg";

/** The decode port: the real one is decodeAudio (ffmpeg); unit tests may pass a scripted one. */
export type AudioDecodeFn = (
  path: string,
  track: number,
  sink: AudioDecodeSink,
  signal: AbortSignal,
) => Promise<AudioDecodeResult>;

export type TrackState = "decoding" | "ready" | "failed";

export class AudioTrackBuffer {
  head: OpusHead | null = null;
  readonly packets: OpusPacket[] = [];
  state: TrackState = "decoding";
  failure: { reason: string; detail: string } | null = null;
  bytes = 0;
  private listeners = new Set<() => void>();

  constructor(
    readonly videoId: string,
    readonly track: number,
  ) {}

  /** Called on new packets and on the end of decoding; returns an unsubscribe. */
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

  /** @internal */ _head(h: OpusHead): void {
    this.head = h;
  }
  /** @internal */ _append(ps: OpusPacket[]): void {
    for (const p of ps) {
      this.packets.push(p);
      this.bytes += p.data.length + 64; // + object overhead, roughly
    }
    this.emit();
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
  decode?: AudioDecodeFn;
}

interface Entry {
  buf: AudioTrackBuffer;
  refs: number;
  lastUsed: number;
  abort: AbortController;
  done: Promise<void>;
}

export interface AudioLease {
  buffer: AudioTrackBuffer;
  /** Resolves when decoding has ended (ready or failed). */
  done: Promise<void>;
  release(): void;
}

/** The default of the `audioCacheBytes` limit (server/video/limits.ts). */
export const DEFAULT_AUDIO_CACHE_BYTES = VIDEO_LIMITS.audioCacheBytes;

export class AudioPacketCache {
  private entries = new Map<string, Entry>();
  private readonly maxIdle: number;
  private readonly decode: AudioDecodeFn;
  private tick = 0;

  constructor(opts: AudioCacheOptions = {}) {
    this.maxIdle = opts.maxIdleBytes ?? DEFAULT_AUDIO_CACHE_BYTES;
    this.decode = opts.decode ?? decodeAudio;
  }

  /** The shared buffer of (videoId, track), decoding it on first use. */
  acquire(videoId: string, path: string, track: number): AudioLease {
    const key = `${videoId}\u0000${track}`;
    let e = this.entries.get(key);
    // A failed decode is not kept: the file may have been fixed since.
    if (e && e.buf.state === "failed" && e.refs === 0) {
      this.entries.delete(key);
      e = undefined;
    }
    if (!e) {
      const buf = new AudioTrackBuffer(videoId, track);
      const abort = new AbortController();
      const done = this.decode(
        path,
        track,
        { onHead: (h) => buf._head(h), onPackets: (p) => buf._append(p) },
        abort.signal,
      )
        .catch((err: unknown): AudioDecodeResult => ({ ok: false, reason: "corrupt", detail: String(err) }))
        .then((r) => {
          buf._end(r);
          this.trim();
        });
      e = { buf, refs: 0, lastUsed: 0, abort, done };
      this.entries.set(key, e);
    }
    e.refs++;
    e.lastUsed = ++this.tick;
    const entry = e;
    let released = false;
    return {
      buffer: entry.buf,
      done: entry.done,
      release: () => {
        if (released) return;
        released = true;
        entry.refs--;
        entry.lastUsed = ++this.tick;
        this.trim();
      },
    };
  }

  get size(): number {
    return this.entries.size;
  }

  idleBytes(): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.refs === 0) n += e.buf.bytes;
    return n;
  }

  /** Drops least recently used idle tracks until the idle budget holds; an idle track still decoding is stopped. */
  private trim(): void {
    let idle = this.idleBytes();
    if (idle <= this.maxIdle) return;
    const victims = [...this.entries.entries()]
      .filter(([, e]) => e.refs === 0)
      .sort((a, b) => a[1].lastUsed - b[1].lastUsed);
    for (const [key, e] of victims) {
      if (idle <= this.maxIdle) break;
      e.abort.abort();
      this.entries.delete(key);
      idle -= e.buf.bytes;
    }
  }

  close(): void {
    for (const e of this.entries.values()) e.abort.abort();
    this.entries.clear();
  }
}
