// Everything a session receives, handled one item at a time in arrival order:
// a msg is never opened before the joined that precedes it, and a close never
// overtakes the fatal error in front of it. Control frames are decoded and
// validated as they arrive; video is handled at once when nothing waits,
// queued (as a copy) while the queue is short, and shed while the session is
// busy with crypto, so memory stays bounded and video never jumps ahead.
//
// Browser-safe: no node: imports.

import { decodeRaw, parseServerMessage } from "./codec";
import { KIND_AUDIO, KIND_CONTROL, KIND_VIDEO } from "./framing";
import type { ServerMessage } from "./messages";
import type { LogLevel } from "./sessionTypes";

export interface ReceiveHandlers<C> {
  /** A valid control message, in order; `ctx` is what it arrived on. */
  message(ctx: C, msg: ServerMessage): void | Promise<void>;
  /** A video chunk, in order with the control messages around it. */
  video(body: Uint8Array): void;
  /** An AUDIO frame body (only after declaring "audio"), in order like video. */
  audio?(body: Uint8Array): void;
  /** A frame dropped because it is malformed. */
  invalid(reason: string): void;
  /** Control frames arrive faster than they are handled: the caller drops `ctx`. */
  overflow(ctx: C): void;
  log(level: LogLevel, message: string): void;
}

export interface ReceiveLimits {
  /** Queued items past which a control frame means overflow. */
  maxDepth: number;
  /** Queued items past which video chunks are shed. */
  maxVideoDepth: number;
}

export class ReceiveQueue<C> {
  private tail: Promise<void> = Promise.resolve();
  private queued = 0;

  constructor(
    private readonly h: ReceiveHandlers<C>,
    private readonly limits: ReceiveLimits,
  ) {}

  /** Items queued and not yet handled (the one running included). */
  get depth(): number {
    return this.queued;
  }

  /** Takes one frame as it came off connection `ctx`. */
  frame(ctx: C, kind: number, body: Uint8Array): void {
    if (kind === KIND_AUDIO && this.h.audio) {
      const audio = this.h.audio;
      // Like video, but a packet is tiny: always copied and queued rather than shed while busy.
      if (this.queued === 0) audio(body);
      else if (this.queued < this.limits.maxDepth) {
        const copy = body.slice();
        this.enqueue(() => audio(copy));
      }
      return;
    }
    if (kind === KIND_VIDEO) {
      if (this.queued === 0) this.h.video(body);
      else if (this.queued < this.limits.maxVideoDepth) {
        // The transport may reuse its buffer once this returns.
        const copy = body.slice();
        this.enqueue(() => this.h.video(copy));
      }
      return;
    }
    if (kind !== KIND_CONTROL) {
      this.h.invalid(`frame of unknown kind ${kind}`);
      return;
    }
    const raw = decodeRaw(body);
    if (!raw.ok) {
      this.h.invalid(raw.message);
      return;
    }
    const parsed = parseServerMessage(raw.raw);
    if (parsed.kind === "unknown") {
      // A newer server may say things this client does not know yet.
      this.h.log("debug", `ignoring unknown message type ${parsed.t}`);
      return;
    }
    if (parsed.kind === "invalid") {
      this.h.invalid(parsed.message);
      return;
    }
    if (this.queued >= this.limits.maxDepth) {
      this.h.overflow(ctx);
      return;
    }
    const msg = parsed.msg;
    this.enqueue(() => this.h.message(ctx, msg));
  }

  /** Runs `fn` after everything queued before it; a throw or rejection is logged, never stops the queue. */
  enqueue(fn: () => void | Promise<void>): void {
    this.queued++;
    this.tail = this.tail
      .then(fn)
      .catch((err: unknown) => this.h.log("warn", `handling a message failed: ${String(err)}`))
      .finally(() => {
        this.queued--;
      });
  }

  /** Resolves once everything queued so far has been handled. */
  idle(): Promise<void> {
    return this.tail;
  }
}
