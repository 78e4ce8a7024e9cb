// Browser -> core, one direction of the relay (docs/protocol.md sections 1
// and 10): each binary WebSocket message is one frame without its length
// prefix; this writes the 4-byte length and then the message as it is (no
// copy), and pauses the WebSocket while the core's socket is not keeping up.
//
// It does not parse JSON or judge kinds: a VIDEO frame from a client is the
// core's to reject (bad_frame). It refuses only what it cannot relay: text
// messages (1003) and empty messages (1002); messages over maxFrame never get
// here (the WebSocket layer's maxPayload closes with 1009).

import { CLOSE, type CloseReason } from "./relayClose";

/** The WebSocket, as far as this direction needs it: its reading can be paused. */
export interface PausableReader {
  pause(): void;
  resume(): void;
}

/** The core socket's writable side. */
export interface CoreWriter {
  cork(): void;
  uncork(): void;
  write(chunk: Uint8Array): boolean;
  readonly writableLength: number;
  once(event: "drain", listener: () => void): unknown;
}

export interface ToCoreStats {
  frames: number;
  /** Bytes written to the core, length prefixes included. */
  bytes: number;
  /** Most bytes ever queued on the core socket. */
  peakBuffered: number;
  /** The WebSocket is paused because the core is not reading. */
  paused: boolean;
}

export class ToCore {
  private frames = 0;
  private bytes = 0;
  private peakBuffered = 0;
  private paused = false;
  private stopped = false;

  constructor(
    private readonly browser: PausableReader,
    private readonly core: CoreWriter,
  ) {}

  /**
   * Writes one WebSocket message to the core as a frame. Returns why the
   * WebSocket must close instead, if the message cannot be relayed.
   */
  relay(msg: Uint8Array, isBinary: boolean): CloseReason | null {
    if (this.stopped) return null;
    if (!isBinary) return { code: CLOSE.unsupportedData, reason: "text messages are not allowed; send binary frames" };
    if (msg.length === 0)
      return { code: CLOSE.protocolError, reason: "empty message: a frame needs at least a kind byte" };
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32BE(msg.length, 0);
    // cork + two writes = one writev: the message is not copied to prepend the length.
    this.core.cork();
    this.core.write(head);
    const ok = this.core.write(msg);
    this.core.uncork();
    this.frames++;
    this.bytes += msg.length + 4;
    this.peakBuffered = Math.max(this.peakBuffered, this.core.writableLength);
    if (!ok && !this.paused) {
      this.paused = true;
      this.browser.pause();
      this.core.once("drain", () => {
        this.paused = false;
        if (!this.stopped) this.browser.resume();
      });
    }
    return null;
  }

  /** The relay is closing: relay nothing more, and do not resume the WebSocket on 'drain'. */
  stop(): void {
    this.stopped = true;
  }

  stats(): ToCoreStats {
    return { frames: this.frames, bytes: this.bytes, peakBuffered: this.peakBuffered, paused: this.paused };
  }
}
