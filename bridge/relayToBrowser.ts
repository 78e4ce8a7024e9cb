// Core -> browser, one direction of the relay (docs/protocol.md sections 1
// and 10): the TCP stream is cut into frames by FrameDecoder and each frame's
// kind + body goes out as one binary WebSocket message, as a view into the
// received bytes (no copy). While the WebSocket has more than highWaterMark
// bytes queued, the core socket is paused (the core then sees a slow reader
// and applies its own limits); it resumes once the queue is down to half.

import { FrameDecoder, FrameError, KIND_AUDIO, KIND_CONTROL, KIND_VIDEO, type WireFrame } from "../protocol/framing";

/** The WebSocket, as far as this direction needs it. */
export interface BrowserSender {
  readonly readyState: number;
  readonly OPEN: number;
  readonly bufferedAmount: number;
  send(data: Uint8Array, options: { binary: boolean }): void;
}

/** The core socket's readable side: its reading can be paused. */
export interface PausableCore {
  pause(): void;
  resume(): void;
}

/** The socket the WebSocket runs on: its 'drain' event, and corking to send a chunk's frames in one write. */
export interface DrainEvents {
  on(event: "drain", listener: () => void): unknown;
  removeListener(event: "drain", listener: () => void): unknown;
  cork(): void;
  uncork(): void;
}

export interface ToBrowserOptions {
  maxFrame: number;
  /** Bytes queued on the WebSocket before the core socket is paused. */
  highWaterMark: number;
  /** Fallback check while paused, in case no 'drain' comes. */
  pollMs?: number;
}

export interface ToBrowserStats {
  frames: number;
  /** Bytes sent to the browser: kind byte and body of each frame. */
  bytes: number;
  /** Most bytes ever queued on the WebSocket. */
  peakBuffered: number;
  /** The core socket is paused because the browser is not reading. */
  paused: boolean;
}

// AUDIO reaches only a browser whose hello declared "audio": the core never sends it otherwise.
const KINDS: ReadonlySet<number> = new Set([KIND_CONTROL, KIND_VIDEO, KIND_AUDIO]);
const DRAIN_POLL_MS = 50;

export class ToBrowser {
  private readonly decoder: FrameDecoder;
  private frames = 0;
  private bytes = 0;
  private peakBuffered = 0;
  private paused = false;
  private stopped = false;
  /** While paused: the check run on 'drain' and by the poll timer. */
  private waiting: { check: () => void; poll: NodeJS.Timeout } | null = null;

  constructor(
    private readonly ws: BrowserSender,
    private readonly core: PausableCore,
    private readonly raw: DrainEvents,
    private readonly opts: ToBrowserOptions,
  ) {
    this.decoder = new FrameDecoder({ maxFrame: opts.maxFrame, kinds: KINDS });
  }

  /** True while part of a frame is buffered (the core must not end here). */
  get pending(): boolean {
    return this.decoder.pending;
  }

  /**
   * Feeds bytes from the core and sends every complete frame. Returns the
   * FrameError if the core broke the framing (nothing after it is sent).
   */
  push(chunk: Uint8Array): FrameError | null {
    if (this.stopped) return null;
    // Corked, the messages of one chunk from the core (a tick's audio and
    // picture, which the core wrote at once) leave in one write, not one each.
    this.raw.cork();
    try {
      this.decoder.push(chunk, this.send);
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      return e;
    } finally {
      this.raw.uncork();
    }
    const buffered = this.ws.bufferedAmount;
    this.peakBuffered = Math.max(this.peakBuffered, buffered);
    if (buffered > this.opts.highWaterMark && !this.paused) this.pauseCore();
    return null;
  }

  /** The relay is closing: send nothing more and stop waiting to resume the core. */
  stop(): void {
    this.stopped = true;
    this.stopWaiting();
  }

  stats(): ToBrowserStats {
    return { frames: this.frames, bytes: this.bytes, peakBuffered: this.peakBuffered, paused: this.paused };
  }

  // A field, not a method: handed to every decoder.push without a new closure.
  private readonly send = (frame: WireFrame): void => {
    if (this.ws.readyState !== this.ws.OPEN) return;
    this.ws.send(withKind(frame), { binary: true });
    this.frames++;
    this.bytes += frame.body.length + 1;
  };

  private pauseCore(): void {
    this.paused = true;
    this.core.pause();
    const check = () => {
      // A closed WebSocket will never drain; the relay is closing anyway.
      if (this.ws.readyState !== this.ws.OPEN) return this.stopWaiting();
      if (this.ws.bufferedAmount > this.opts.highWaterMark / 2) return;
      this.stopWaiting();
      this.paused = false;
      this.core.resume();
    };
    this.raw.on("drain", check);
    this.waiting = { check, poll: setInterval(check, this.opts.pollMs ?? DRAIN_POLL_MS) };
  }

  private stopWaiting(): void {
    if (!this.waiting) return;
    this.raw.removeListener("drain", this.waiting.check);
    clearInterval(this.waiting.poll);
    this.waiting = null;
  }
}

/**
 * The frame's kind byte and body as one view. FrameDecoder hands out the body
 * as a view just past the kind byte of the same buffer, so this is free; the
 * check keeps it correct if that ever changes.
 */
export function withKind(frame: WireFrame): Uint8Array {
  const { body, kind } = frame;
  if (body.byteOffset > 0) {
    const view = new Uint8Array(body.buffer, body.byteOffset - 1, body.length + 1);
    if (view[0] === kind) return view;
  }
  const out = new Uint8Array(body.length + 1);
  out[0] = kind;
  out.set(body, 1);
  return out;
}
