// One connection object per socket (after hocuspocus): framing, timeouts,
// rate limiting and the outgoing queue. Validated messages go to the hub;
// room state lives there, not here.
//
// Over 300 lines: the socket's whole life (states hello, verifying, member,
// closed) in one object, as hocuspocus keeps it; budgets, framing and the
// outbox are their own modules.

import { randomBytes } from "node:crypto";
import type { Socket } from "node:net";
import type { Cap } from "../protocol/caps";
import { decodeRaw, refOf, type RawMessage } from "../protocol/codec";
import { ProtocolError, type ErrorCode } from "../protocol/errors";
import { FrameDecoder, FrameError, KIND_CONTROL, type WireFrame } from "../protocol/framing";
import { PROTOCOL_VERSION, type Limits } from "../protocol/limits";
import { Ping, type LeftReason, type ServerMessage } from "../protocol/messages";
import { verifyHello } from "./handshake";
import type { Hub } from "./hub";
import type { Logger } from "./log";
import { Outbox } from "./outbox";
import type { AudioPacketOut, MemberPeer, VideoFrameOut } from "./ports";
import { connectionLimiters, sendCosts, type RateLimiter } from "./ratelimit";
import { controlFrame } from "./wire";

const CONTROL_ONLY: ReadonlySet<number> = new Set([KIND_CONTROL]);
/** How long a closing socket may take to flush its last frames before it is destroyed. */
const LINGER_MS = 2_000;

type State = "hello" | "verifying" | "member" | "closed";

export interface ConnectionDeps {
  limits: Limits;
  hub: Hub;
  log: Logger;
  server: string;
  onClosed(conn: Connection): void;
  now?: () => number;
}

export class Connection implements MemberPeer {
  memberId = "";
  room = "";
  caps: ReadonlySet<Cap> = new Set();
  private state: State = "hello";
  private readonly nonce = randomBytes(32).toString("base64");
  private readonly decoder: FrameDecoder;
  private readonly rate: RateLimiter;
  private readonly limiters: ReturnType<typeof connectionLimiters>;
  /** Set by admit(): this member's send budget, with this connection's flood watch. */
  private sendBudget: RateLimiter | null = null;
  private readonly outbox: Outbox;
  private readonly openedAt: number;
  private lastByteAt: number;
  private partialSince = 0;
  /** Frames that arrived while the hello was being verified. */
  private held: WireFrame[] | null = null;
  private readonly now: () => number;

  constructor(
    readonly connId: number,
    private readonly socket: Socket,
    readonly address: string,
    private readonly deps: ConnectionDeps,
  ) {
    this.now = deps.now ?? Date.now;
    const { limits } = deps;
    this.openedAt = this.lastByteAt = this.now();
    this.decoder = new FrameDecoder({ maxFrame: limits.maxFrame, kinds: CONTROL_ONLY });
    this.limiters = connectionLimiters(limits, this.openedAt);
    this.rate = this.limiters.frames;
    this.outbox = new Outbox(socket, limits);
    socket.setNoDelay(true);
    socket.on("data", (d: Buffer) => this.onData(d));
    socket.on("drain", () => this.outbox.pump());
    socket.on("error", () => {}); // 'close' follows; nothing to add
    socket.on("close", () => this.closed("closed"));
  }

  start(): void {
    this.sendControl({ t: "challenge", v: PROTOCOL_VERSION, nonce: this.nonce, server: this.deps.server });
  }

  /** Refuse before the challenge (connection caps). */
  refuse(code: ErrorCode, message: string): void {
    this.closeWith(code, message, undefined, "error");
  }

  // ---- MemberPeer ---------------------------------------------------------------

  sendControl(msg: ServerMessage): void {
    this.sendFrame(controlFrame(msg));
  }

  sendFrame(frame: Buffer): void {
    if (this.state === "closed") return;
    if (!this.outbox.sendControl(frame)) {
      this.deps.log.warn(
        { conn: this.connId, id: this.memberId, queued: this.outbox.queuedBytes },
        "reader too slow, closing",
      );
      this.closed("closed");
      this.socket.destroy();
    }
  }

  /*
   * Why a member that reads at 1 MB/s is never closed for another member's
   * flood. A reader is closed only when more than maxQueuedControlBytes (8 MiB)
   * of control frames wait in its outbox. Control goes out before video, so a
   * reader taking 1 MB/s drains its control queue at 1 MB/s (0.95 MiB/s) at
   * least. One sender can add to that queue, over any span of T seconds, at
   * most recipientBurstBytes + recipientBytesPerSec x T (4 MiB + 0.5 MiB/s x T
   * by default) plus one frame (256 KiB envelope, 12 KiB of `to`): whatever the
   * sender does with `to`, each recipient receives each of its messages once,
   * and the buckets belong to the member id, not the connection, so
   * reconnecting buys no new burst. (Many identities are many members: this
   * bounds what each of them can do, not what a crowd of them can.)
   * Since 0.5 < 0.95, the flooder's share of the queue never passes 4.3 MiB,
   * leaving 3.7 MiB and 0.45 MiB/s of the reader's rate for everyone else. The
   * fan-out budget (bytes x recipients) does not protect the reader (to one
   * recipient it is just bytes, and it must pass a 56 MB message to a full
   * room); it caps what one sender makes the core write in all.
   * Raising recipientBytesPerSec towards 1 MB/s or recipientBurstBytes towards
   * maxQueuedControlBytes gives this up.
   */
  chargeSend(bytes: number, recipients: number, mid: string): boolean {
    if (this.state !== "member" || !this.sendBudget) return false;
    const verdict = this.sendBudget.take(this.now(), sendCosts(bytes, recipients));
    if (verdict === "ok") return true;
    if (verdict === "fatal") {
      this.closeWith("rate_limited", "over the send budget for too long", mid, "error");
    } else if (verdict === "drop_and_tell") {
      this.error(
        new ProtocolError(
          "rate_limited",
          "messages too large for this room at this rate; some were dropped",
          false,
          mid,
        ),
      );
    }
    return false;
  }

  offerVideo(frame: VideoFrameOut, audio?: AudioPacketOut | null): boolean {
    return this.state === "member" && this.outbox.offerVideo(frame, audio);
  }

  purgeAudio(sid: number): void {
    this.outbox.purgeAudio(sid);
  }

  purgeVideo(sid: number, keepBegun: boolean): void {
    this.outbox.purgeVideo(sid, keepBegun);
  }

  admit(memberId: string, room: string, caps: ReadonlySet<Cap>): void {
    this.memberId = memberId;
    this.room = room;
    this.caps = caps;
    this.state = "member";
    this.sendBudget = this.limiters.sends(this.deps.hub.sendBucketsOf(memberId));
  }

  fail(code: "replaced" | "internal", message: string): void {
    this.closeWith(code, message, undefined, "closed");
  }

  // ---- incoming -------------------------------------------------------------------

  private onData(data: Buffer): void {
    if (this.state === "closed") return;
    const now = this.now();
    this.lastByteAt = now;
    const wasPending = this.decoder.pending;
    let completed = 0;
    try {
      this.decoder.push(data, (f) => {
        completed++;
        this.onFrame(f, now);
      });
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      this.closeWith(e.code, e.message, undefined, "error");
      return;
    }
    if (!this.decoder.pending) this.partialSince = 0;
    else if (!wasPending || completed > 0) this.partialSince = now;
  }

  private onFrame(frame: WireFrame, now: number): void {
    if (this.state === "closed") return;
    if (this.held) {
      // Bounded: the socket is paused while verifying, so only the rest of
      // one read can arrive here.
      this.held.push({ kind: frame.kind, body: frame.body.slice() });
      return;
    }
    const verdict = this.rate.take(now);
    if (verdict === "fatal") {
      this.closeWith("rate_limited", "over the rate limit for too long", undefined, "error");
      return;
    }
    if (verdict !== "ok") {
      // At most once a second, so decoding the dropped frame for its ref is cheap.
      if (verdict === "drop_and_tell")
        this.error(
          new ProtocolError("rate_limited", "too many frames; some were dropped", false, refOfBody(frame.body)),
        );
      return;
    }
    const r = decodeRaw(frame.body);
    if (!r.ok) {
      this.closeWith("bad_json", r.message, undefined, "error");
      return;
    }
    const raw = r.raw;
    if (this.state === "member") {
      if (raw.t === "quit") {
        this.closed("quit");
        this.socket.end();
        return;
      }
      try {
        this.deps.hub.handle(this, raw);
      } catch (e) {
        this.error(e);
      }
      return;
    }
    // The same schema as after hello (a finite ts: 1e999 parses as Infinity).
    const ping = raw.t === "ping" ? Ping.safeParse(raw) : null;
    if (ping?.success) {
      this.sendControl({ t: "pong", ts: ping.data.ts });
    } else if (raw.t === "hello" && this.state === "hello") {
      this.verify(raw);
    } else {
      this.closeWith("bad_hello", `'${raw.t}' before a completed hello`, raw.t, "error");
    }
  }

  private verify(raw: RawMessage): void {
    this.state = "verifying";
    this.held = [];
    this.socket.pause();
    verifyHello(raw, this.nonce, { admissionMaxAgeMs: this.deps.limits.admissionMaxAgeMs })
      .then((v) => {
        if (this.state === "closed") return;
        return this.deps.hub.join(this, v);
      })
      .catch((e) => this.error(e))
      .finally(() => {
        const held = this.held ?? [];
        this.held = null;
        if (this.state === "closed") return;
        this.socket.resume();
        const now = this.now();
        for (const f of held) this.onFrame(f, now);
      });
  }

  /** Sends an error; closes for a fatal one. Unexpected exceptions become `internal`. */
  private error(e: unknown): void {
    if (!(e instanceof ProtocolError)) {
      this.deps.log.error({ conn: this.connId, err: e }, "internal error handling a message");
      e = new ProtocolError("internal", "internal server error", false);
    }
    const pe = e as ProtocolError;
    if (pe.fatal) {
      this.closeWith(pe.code, pe.message, pe.ref, "error");
    } else {
      this.sendControl({
        t: "error",
        code: pe.code,
        message: pe.message,
        ...(pe.ref !== undefined ? { ref: pe.ref } : {}),
        fatal: false,
      });
    }
  }

  // ---- timers (driven by the server's one sweep) -----------------------------------

  check(now: number): void {
    const l = this.deps.limits;
    if (this.state === "hello" || this.state === "verifying") {
      if (now - this.openedAt > l.helloTimeoutMs) this.closeWith("timeout", "no hello in time", undefined, "timeout");
    } else if (this.state === "member" && now - this.lastByteAt > l.idleTimeoutMs) {
      this.closeWith("timeout", `nothing received for ${l.idleTimeoutMs / 1000} s`, undefined, "timeout");
    }
    if (this.partialSince && now - this.partialSince > l.partialFrameTimeoutMs) {
      this.closeWith("timeout", "frame incomplete for too long", undefined, "timeout");
    }
  }

  // ---- closing ----------------------------------------------------------------------

  /** Sends a fatal error, then closes; `reason` is what the room hears. */
  closeWith(code: ErrorCode, message: string, ref: string | undefined, reason: LeftReason): void {
    if (this.state === "closed") return;
    const frame = controlFrame({ t: "error", code, message, ...(ref !== undefined ? { ref } : {}), fatal: true });
    this.deps.log.info({ conn: this.connId, id: this.memberId || undefined, code, reason }, "closing with fatal error");
    this.closed(reason);
    // The error jumps the queue: whatever else was pending no longer matters.
    this.socket.write(frame);
    this.socket.end();
    setTimeout(() => this.socket.destroy(), LINGER_MS).unref();
  }

  private closed(reason: LeftReason): void {
    if (this.state === "closed") return;
    const wasMember = this.state === "member";
    this.state = "closed";
    this.held = null;
    if (wasMember) this.deps.hub.leave(this, reason);
    this.deps.onClosed(this);
  }

  get queuedBytes(): number {
    return this.outbox.queuedBytes;
  }

  get isClosed(): boolean {
    return this.state === "closed";
  }
}

/** `ref` for an error about a frame we did not otherwise read. */
function refOfBody(body: Uint8Array): string | undefined {
  const r = decodeRaw(body);
  return r.ok ? refOf(r.raw) : undefined;
}
