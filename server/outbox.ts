// One connection's outgoing queue. Control frames go before video chunks, so
// chat never waits behind a frame; video is offered a whole frame at a time
// and skipped for a viewer that is backed up, so nothing grows without bound.

import type { VideoFrameOut } from "./peer";
import { Queue } from "./queue";

/** The part of a socket the outbox needs (net.Socket and tls.TLSSocket fit). */
export interface Sink {
  write(data: Buffer): boolean;
  readonly writableLength: number;
  cork(): void;
  uncork(): void;
}

interface Chunk {
  sid: number;
  frame: number;
  last: boolean;
  head: Buffer;
  data: Buffer;
}

export interface OutboxLimits {
  maxQueuedControlBytes: number;
  maxQueuedVideoBytes: number;
}

/** Bytes we let the socket buffer before holding the rest in our queues. */
const SOCKET_HIGH_WATER = 64 * 1024;

export class Outbox {
  private control = new Queue<Buffer>();
  private controlBytes = 0;
  private video = new Queue<Chunk>();
  private videoBytes = 0;
  /** sid -> frame whose first chunk is on the wire but not its last. */
  private begun = new Map<number, number>();

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

  offerVideo(f: VideoFrameOut): boolean {
    if (this.videoBytes + this.sink.writableLength + f.bytes > this.limits.maxQueuedVideoBytes) return false;
    const n = f.chunks.length;
    for (let i = 0; i < n; i++) {
      const c = f.chunks[i];
      this.video.push({ sid: f.sid, frame: f.frame, last: i === n - 1, head: c.head, data: c.data });
      this.videoBytes += c.head.length + c.data.length;
    }
    this.pump();
    return true;
  }

  purgeVideo(sid: number, keepBegun: boolean): void {
    const begunFrame = keepBegun ? this.begun.get(sid) : undefined;
    this.video.filter((c) => {
      if (c.sid !== sid || c.frame === begunFrame) return true;
      this.videoBytes -= c.head.length + c.data.length;
      return false;
    });
    if (begunFrame === undefined) this.begun.delete(sid);
  }

  /** Writes queued frames while the socket takes them; call on 'drain'. */
  pump(): void {
    if (this.control.length === 0 && this.video.length === 0) return;
    this.sink.cork();
    while (this.sink.writableLength < SOCKET_HIGH_WATER) {
      const ctl = this.control.shift();
      if (ctl) {
        this.controlBytes -= ctl.length;
        this.sink.write(ctl);
        continue;
      }
      const c = this.video.shift();
      if (!c) break;
      this.videoBytes -= c.head.length + c.data.length;
      this.sink.write(c.head);
      this.sink.write(c.data);
      if (c.last) this.begun.delete(c.sid);
      else this.begun.set(c.sid, c.frame);
    }
    this.sink.uncork();
  }

  get queuedBytes(): number {
    return this.controlBytes + this.videoBytes;
  }
}
