// One connection's outgoing queue. Control frames go before video chunks, so
// chat never waits behind a frame; video is offered a whole frame at a time
// and skipped for a viewer that is backed up, so nothing grows without bound.
// A tick's audio comes with its frame in the same call. For a viewer with
// nothing waiting, the frame is written at once (no queue entry) and the
// audio goes in its first write; for a backed-up one the audio is queued on
// its own, ahead of video.

import type { AudioPacketOut, VideoFrameOut, WireChunk } from "./ports";
import { Queue } from "./queue";

/** The part of a socket the outbox needs (net.Socket and tls.TLSSocket fit). */
export interface Sink {
  write(data: Buffer): boolean;
  readonly writableLength: number;
  cork(): void;
  uncork(): void;
}

/** A frame queued for this viewer; `next` is its first chunk not yet written. */
interface QueuedFrame {
  frame: VideoFrameOut;
  next: number;
}

export interface OutboxLimits {
  maxQueuedControlBytes: number;
  maxQueuedVideoBytes: number;
  /** Optional so older callers keep working; DEFAULT_LIMITS has it. */
  maxQueuedAudioBytes?: number;
}

/** Bytes we let the socket buffer before holding the rest in our queues. */
const SOCKET_HIGH_WATER = 64 * 1024;

export class Outbox {
  private control = new Queue<Buffer>();
  private controlBytes = 0;
  private video = new Queue<QueuedFrame>();
  private videoBytes = 0;
  // Audio packets: tiny and written before video, so a lagging viewer loses frames first.
  private audio = new Queue<AudioPacketOut>();
  private audioBytes = 0;

  constructor(
    private readonly sink: Sink,
    private readonly limits: OutboxLimits,
  ) {}

  /** False when this reader has fallen too far behind: the caller closes it. */
  sendControl(frame: Buffer): boolean {
    if (this.control.length === 0 && this.sink.writableLength < SOCKET_HIGH_WATER) {
      this.sink.write(frame);
      return true;
    }
    this.control.push(frame);
    this.controlBytes += frame.length;
    if (this.controlBytes > this.limits.maxQueuedControlBytes) return false;
    this.pump();
    return true;
  }

  /**
   * Queues a whole frame, or skips it (false) for a viewer that is backed up:
   * one that still has video queued here and would then have more than
   * maxQueuedVideoBytes not yet written. A viewer with no video queued always
   * takes the next frame, however large, so frames bigger than the bound still
   * play; a stalled viewer keeps video queued and is skipped. So what waits for
   * one viewer stays under the bound plus one frame (and the socket's high-water mark).
   *
   * `audio`, this tick's AUDIO frames ("audio" viewers), is taken whatever
   * happens to the frame, unless this viewer's audio backlog would pass
   * maxQueuedAudioBytes: a viewer that falls behind loses frames first.
   */
  offerVideo(f: VideoFrameOut, audio?: AudioPacketOut | null): boolean {
    const takeVideo = !(
      this.videoBytes > 0 && this.videoBytes + this.sink.writableLength + f.bytes > this.limits.maxQueuedVideoBytes
    );
    if (
      takeVideo &&
      this.control.length === 0 &&
      this.audio.length === 0 &&
      this.video.length === 0 &&
      this.sink.writableLength < SOCKET_HIGH_WATER
    ) {
      // Nothing waits, so write what pump would at once, without queueing: the tick's audio and
      // the first chunk header as one Buffer (built once per lane and frame variant), so a viewer
      // with sound costs the writes of a silent one.
      const c0 = f.chunks[0]!;
      this.sink.cork();
      this.sink.write(audio ? leadOf(audio, f) : c0.head);
      this.sink.write(c0.data);
      if (f.chunks.length > 1) {
        this.video.push({ frame: f, next: 1 });
        this.videoBytes += f.bytes - chunkBytes(c0);
        this.pump();
      }
      this.sink.uncork();
      return true;
    }
    if (audio) this.queueAudio(audio);
    if (takeVideo) {
      this.video.push({ frame: f, next: 0 });
      this.videoBytes += f.bytes;
    }
    if (takeVideo || audio) this.pump();
    return takeVideo;
  }

  /** Queues audio unless this viewer's audio backlog is over its bound (false: skipped). */
  private queueAudio(p: AudioPacketOut): boolean {
    const max = this.limits.maxQueuedAudioBytes ?? 64 * 1024;
    const n = p.head.length;
    if (this.audioBytes > 0 && this.audioBytes + n > max) return false;
    this.audio.push(p);
    this.audioBytes += n;
    return true;
  }

  purgeAudio(sid: number): void {
    this.audio.filter((p) => {
      if (p.sid !== sid) return true;
      this.audioBytes -= p.head.length;
      return false;
    });
  }

  purgeVideo(sid: number, keepBegun: boolean): void {
    // Only a frame with some chunks already written (next > 0) has "begun".
    this.video.filter((q) => {
      if (q.frame.sid !== sid || (keepBegun && q.next > 0)) return true;
      for (let i = q.next; i < q.frame.chunks.length; i++) this.videoBytes -= chunkBytes(q.frame.chunks[i]);
      return false;
    });
  }

  /** Writes queued frames while the socket takes them; call on 'drain'. */
  pump(): void {
    if (this.control.length === 0 && this.video.length === 0 && this.audio.length === 0) return;
    this.sink.cork();
    while (this.sink.writableLength < SOCKET_HIGH_WATER) {
      const ctl = this.control.shift();
      if (ctl) {
        this.controlBytes -= ctl.length;
        this.sink.write(ctl);
        continue;
      }
      const a = this.audio.shift();
      if (a) {
        this.audioBytes -= a.head.length;
        this.sink.write(a.head);
        continue;
      }
      const q = this.video.peek();
      if (!q) break;
      const c = q.frame.chunks[q.next++];
      this.videoBytes -= chunkBytes(c);
      this.sink.write(c.head);
      this.sink.write(c.data);
      if (q.next === q.frame.chunks.length) this.video.shift();
    }
    this.sink.uncork();
  }

  get queuedBytes(): number {
    return this.controlBytes + this.videoBytes + this.audioBytes;
  }
}

/**
 * The tick's AUDIO frames followed by the first chunk header of `f`, built on
 * first use and kept on the (per lane, shared) audio item for the other viewers
 * of the same frame variant.
 */
function leadOf(a: AudioPacketOut, f: VideoFrameOut): Buffer {
  const leads = (a.leads ??= new Map());
  let b = leads.get(f);
  if (!b) {
    b = Buffer.concat([a.head, f.chunks[0]!.head]);
    leads.set(f, b);
  }
  return b;
}

function chunkBytes(c: WireChunk): number {
  return c.head.length + c.data.length;
}
