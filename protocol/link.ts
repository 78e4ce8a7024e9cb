// One connection to the core at a time, and the session's life across them:
// open through the connector, give up a handshake that does not reach
// `welcome` in time, ping when idle, drop a peer gone silent, reconnect after
// a backoff delay unless the last fatal error would only repeat, and the
// states connecting -> online -> reconnecting -> closed. What the frames mean
// is the session's business (session.ts).
//
// Browser-safe: no node: imports, timers through globalThis.

import { backoffDelay, type BackoffOptions } from "./backoff";
import { encodeJson } from "./codec";
import { KIND_CONTROL } from "./framing";
import type { ClientMessage, ErrorMsg } from "./messages";
import {
  SESSION_DEFAULTS,
  type LogLevel,
  type SessionEvents,
  type SessionOptions,
  type SessionState,
} from "./sessionTypes";
import type { Connector, Transport } from "./transport";

/** One connection attempt, the same object from open to close. */
export interface Conn {
  transport: Transport | null;
  /** False once closed by either side: nothing more goes out on it or is handled from it. */
  alive: boolean;
  /** Reached `welcome`. */
  welcomed: boolean;
  /** Tells connections apart: 1, 2, ... */
  gen: number;
}

/** The session's options that concern the connection; absent ones take SESSION_DEFAULTS. */
export type LinkOptions = Pick<
  SessionOptions,
  "connect" | "reconnect" | "pingMs" | "deadMs" | "handshakeMs" | "random" | "log"
>;

export interface LinkHandlers {
  /** A frame received on a live connection. */
  frame(conn: Conn, kind: number, body: Uint8Array): void;
  /** Runs `fn` behind everything received before it: a fatal error still queued decides whether to reconnect. */
  afterReceived(fn: () => void): void;
  /** No connection any more (lost, or closing for good): what belonged to it ends, before the state changes. */
  down(): void;
  state(s: SessionState): void;
  disconnected(d: SessionEvents["disconnected"]): void;
  /** Closed for good; the state is already `closed`. */
  closed(reason: string, error: ErrorMsg | null): void;
}

type Timer = ReturnType<typeof globalThis.setTimeout>;

export class Link {
  private readonly connect: Connector;
  private readonly reconnect: BackoffOptions | false;
  private readonly pingMs: number;
  private readonly deadMs: number;
  private readonly handshakeMs: number;
  private readonly random: () => number;
  private readonly log: (level: LogLevel, message: string) => void;

  private _state: SessionState = "connecting";
  private conn: Conn | null = null;
  private gen = 0;
  private attempt = 0;
  private started = false;
  private wasOnline = false;
  /** A fatal error that would only repeat: closes for good instead of reconnecting. */
  private fatal: ErrorMsg | null = null;
  private welcomedAt = 0;
  private lastSentAt = 0;
  private lastRecvAt = 0;
  private reconnectTimer: Timer | null = null;
  private handshakeTimer: Timer | null = null;
  private tickTimer: ReturnType<typeof globalThis.setInterval> | null = null;

  constructor(
    o: LinkOptions,
    private readonly h: LinkHandlers,
  ) {
    this.connect = o.connect;
    this.reconnect = o.reconnect === undefined ? SESSION_DEFAULTS.reconnect : o.reconnect;
    this.pingMs = o.pingMs ?? SESSION_DEFAULTS.pingMs;
    this.deadMs = o.deadMs ?? SESSION_DEFAULTS.deadMs;
    this.handshakeMs = o.handshakeMs ?? SESSION_DEFAULTS.handshakeMs;
    this.random = o.random ?? Math.random;
    this.log = o.log ?? (() => {});
  }

  get state(): SessionState {
    return this._state;
  }

  /** Some connection has reached `welcome` before. */
  get everOnline(): boolean {
    return this.wasOnline;
  }

  /** The connection being opened or open; null between attempts and once closed. */
  get current(): Conn | null {
    return this.conn;
  }

  /** Generation of the newest connection (0 before the first). */
  get generation(): number {
    return this.gen;
  }

  /** When the current connection was welcomed (ms epoch). */
  get onlineAt(): number {
    return this.welcomedAt;
  }

  /** Opens the first connection; once only, and never once closed. */
  start(): void {
    if (this.started) return;
    this.started = true;
    if (this._state === "closed") return;
    this.tickTimer = globalThis.setInterval(() => this.tick(), Math.max(50, Math.min(this.pingMs, this.deadMs) / 4));
    this.open();
  }

  /** `conn` reached `welcome`: online, and the backoff starts over. True when it is a reconnection. */
  welcomed(conn: Conn): boolean {
    conn.welcomed = true;
    this.clearTimer("handshakeTimer");
    this.attempt = 0;
    this.welcomedAt = Date.now();
    const reconnected = this.wasOnline;
    this.wasOnline = true;
    this.setState("online");
    return reconnected;
  }

  /** Remembers a fatal error that would only repeat: the next loss closes for good. */
  noRetry(e: ErrorMsg): void {
    this.fatal = e;
  }

  /** Sends one control message; false when the connection is gone or the send threw. */
  send(conn: Conn, msg: ClientMessage): boolean {
    if (!conn.alive || !conn.transport) return false;
    try {
      conn.transport.send(KIND_CONTROL, encodeJson(msg));
    } catch (err) {
      this.log("warn", `send failed: ${(err as Error).message}`);
      return false;
    }
    this.lastSentAt = Date.now();
    return true;
  }

  /** Closes a connection on our side and handles it as lost. */
  drop(conn: Conn, reason: string): void {
    if (!conn.alive) return;
    try {
      conn.transport?.close();
    } catch {
      // Already gone.
    }
    this.closed(conn, reason);
  }

  /** Closes for good: the current connection without reporting it, every timer, no reconnect. */
  close(reason: string, error: ErrorMsg | null): void {
    const conn = this.conn;
    this.conn = null;
    if (conn?.alive) {
      conn.alive = false;
      try {
        conn.transport?.close();
      } catch {
        // Already gone.
      }
    }
    this.clearTimer("reconnectTimer");
    this.clearTimer("handshakeTimer");
    if (this.tickTimer !== null) globalThis.clearInterval(this.tickTimer);
    this.tickTimer = null;
    if (this._state === "closed") return;
    this.h.down();
    this.setState("closed");
    this.h.closed(reason, error);
  }

  private open(): void {
    this.reconnectTimer = null;
    if (this._state === "closed") return;
    const conn: Conn = { transport: null, alive: true, welcomed: false, gen: ++this.gen };
    this.conn = conn;
    this.lastRecvAt = Date.now();
    this.handshakeTimer = globalThis.setTimeout(
      () => this.drop(conn, `no welcome within ${this.handshakeMs} ms`),
      this.handshakeMs,
    );
    try {
      conn.transport = this.connect({
        onOpen: () => {
          if (conn === this.conn) this.log("debug", "transport open");
        },
        onFrame: (kind, body) => {
          if (!conn.alive) return;
          this.lastRecvAt = Date.now();
          this.h.frame(conn, kind, body);
        },
        onClose: (reason) => this.h.afterReceived(() => this.closed(conn, reason)),
      });
    } catch (err) {
      // A connector that fails synchronously is just a failed attempt.
      queueMicrotask(() => this.closed(conn, `cannot connect: ${(err as Error).message}`));
    }
  }

  /** A connection ended: close for good after a fatal error, else reconnect if allowed. */
  private closed(conn: Conn, reason: string): void {
    if (!conn.alive) return;
    conn.alive = false;
    if (conn !== this.conn) return;
    this.conn = null;
    this.clearTimer("handshakeTimer");
    this.h.down();
    if (this._state === "closed") return;
    if (this.fatal) return this.close(`${this.fatal.code}: ${this.fatal.message}`, this.fatal);
    if (this.reconnect === false) {
      this.h.disconnected({ reason, retryInMs: null, attempt: this.attempt, everOnline: this.wasOnline });
      return this.close(reason, null);
    }
    const delay = backoffDelay(this.attempt, this.reconnect, this.random);
    const attempt = this.attempt++;
    this.setState("reconnecting");
    this.log("info", `disconnected (${reason}); reconnecting in ${delay} ms`);
    this.h.disconnected({ reason, retryInMs: delay, attempt, everOnline: this.wasOnline });
    // A listener may have closed the session.
    if (this._state === "reconnecting") this.reconnectTimer = globalThis.setTimeout(() => this.open(), delay);
  }

  /** Pings when idle and drops a connection the server has gone silent on. */
  private tick(): void {
    const conn = this.conn;
    if (!conn?.alive) return;
    const now = Date.now();
    if (now - this.lastRecvAt >= this.deadMs) {
      this.drop(conn, `nothing received for ${this.deadMs} ms`);
      return;
    }
    if (conn.welcomed && now - this.lastSentAt >= this.pingMs) this.send(conn, { t: "ping", ts: now });
  }

  private setState(s: SessionState): void {
    if (this._state === s) return;
    this._state = s;
    this.h.state(s);
  }

  private clearTimer(name: "reconnectTimer" | "handshakeTimer"): void {
    const t = this[name];
    if (t !== null) globalThis.clearTimeout(t);
    this[name] = null;
  }
}
