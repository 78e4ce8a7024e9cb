// A client session, independent of the transport: the native client runs it
// over TCP, the web app over a WebSocket through the bridge. It answers the
// challenge, keeps one connection alive (handshake timeout, pings, dead-peer
// detection, reconnect with backoff, fatal vs retryable errors), and turns the
// wire into typed events. The work it hands off: members.ts verifies who is in
// the room, outgoing.ts seals and sends and resends, inbox.ts opens and
// deduplicates, streams.ts follows the videos being watched.
//
// Browser-safe: no node: imports, WebCrypto through ./crypto, timers through
// globalThis.

import { backoffDelay, type BackoffOptions } from "./backoff";
import { decodeRaw, encodeJson, parseServerMessage } from "./codec";
import { makeHello, type Identity } from "./crypto";
import { Emitter, type Listener } from "./emitter";
import { KIND_CONTROL, KIND_VIDEO } from "./framing";
import { Inbox, type ReceivedMessage } from "./inbox";
import { MemoryKeyStore, type KeyChange, type KeyStore } from "./keyContinuity";
import { CLIENT_PING_MS, DEFAULT_LIMITS } from "./limits";
import { continuityChange, memberEntry, Members, type MemberEntry } from "./members";
import {
  Control,
  Play,
  type ClientMessage,
  type ErrorMsg,
  type LeftReason,
  type Member,
  type ServerMessage,
  type ServerMessageOf,
  type StreamEndReason,
  type StreamInfo,
  type VideoItem,
  type Welcome,
} from "./messages";
import { isRoom, nameProblem } from "./names";
import { Outgoing, type OutgoingLink } from "./outgoing";
import { Streams } from "./streams";

// ---- transport ------------------------------------------------------------------

/** One connection to the core: frames without the length prefix. */
export interface Transport {
  send(kind: number, body: Uint8Array): void;
  /** Ends the connection; the session ignores any onClose that follows. */
  close(): void;
}

export interface TransportHandlers {
  onOpen(): void;
  onFrame(kind: number, body: Uint8Array): void;
  onClose(reason: string): void;
}

/** Opens a connection (TCP/TLS in Node, WebSocket in a browser). */
export type Connector = (handlers: TransportHandlers) => Transport;

// ---- public types ---------------------------------------------------------------

export type SessionState = "connecting" | "online" | "reconnecting" | "closed";

export type SessionLimits = Welcome["limits"];

export type { MemberEntry } from "./members";
export type { ReceivedMessage } from "./inbox";

export interface SessionEvents {
  state: SessionState;
  welcome: { id: string; room: string; members: MemberEntry[]; limits: SessionLimits; stream: StreamInfo | null; reconnected: boolean };
  /** `again`: a member already known came back with a new name or agent (replacement). */
  joined: { entry: MemberEntry; again: boolean };
  left: { id: string; reason: LeftReason; entry: MemberEntry | null };
  message: ReceivedMessage;
  ack: { mid: string; delivered: number };
  /** A send given up on: it will not be delivered. */
  sendFailed: { mid: string; code: string; message: string };
  /** Every `error` from the server, as received. */
  error: ErrorMsg;
  /** An incoming frame that was dropped because it is malformed. */
  invalid: { reason: string };
  disconnected: { reason: string; retryInMs: number | null; attempt: number; everOnline: boolean };
  /** The session ended for good: after stop(), a fatal error that would repeat, or `replaced`. */
  closed: { reason: string; error: ErrorMsg | null };
  keyChanged: KeyChange;
  videos: VideoItem[];
  stream: StreamInfo;
  streamState: { sid: number; state: "playing" | "paused"; posMs: number; by: string };
  streamEnd: { sid: number; reason: StreamEndReason | "disconnected" };
  streamStats: { sid: number; sent: number; dropped: number };
  frame: { sid: number; frame: number; ptsMs: number; jpeg: Uint8Array };
}

export type LogLevel = "debug" | "info" | "warn";

export interface SessionOptions {
  identity: Identity;
  /** Already canonical (trimmed, NFC); the constructor throws otherwise. */
  name: string;
  room: string;
  agent: string;
  connect: Connector;
  /** Backoff bounds; false: never reconnect. Default 250 ms .. 15 s. */
  reconnect?: BackoffOptions | false;
  log?: (level: LogLevel, message: string) => void;
  keyStore?: KeyStore;
  /** Ping after this long without sending anything. */
  pingMs?: number;
  /** Drop the connection after this long without receiving anything. */
  deadMs?: number;
  /** Give up a connection attempt that has not reached `welcome` after this long. */
  handshakeMs?: number;
  /** Unacknowledged sends kept for resending. */
  maxPending?: number;
  /** After a reconnect, how long a pending message waits for its recipients to come back. */
  recipientWaitMs?: number;
  /** (from, mid) pairs remembered to drop repeats. */
  maxSeen?: number;
  random?: () => number;
}

/** Hello rejections and other fatal errors that would only repeat on reconnect. */
export const NO_RETRY_CODES: ReadonlySet<string> = new Set([
  "bad_name",
  "name_taken",
  "bad_room",
  "bad_key",
  "bad_proof",
  "unsupported_version",
  "bad_hello",
  "replaced",
]);

export const SESSION_DEFAULTS = {
  reconnect: { minMs: 250, maxMs: 15_000 },
  pingMs: CLIENT_PING_MS,
  deadMs: 3 * CLIENT_PING_MS,
  handshakeMs: 15_000,
  maxPending: 1_000,
  recipientWaitMs: 5_000,
  maxSeen: 10_000,
  /** Queued incoming frames past which video is dropped and control floods close the connection. */
  maxInbox: 10_000,
  maxInboxVideo: 256,
  maxSendRetries: 3,
  rateLimitRetryMs: 1_000,
} as const;

// ---- internals ------------------------------------------------------------------

interface Conn {
  transport: Transport | null;
  alive: boolean;
  welcomed: boolean;
  gen: number;
}

type Timer = ReturnType<typeof globalThis.setTimeout>;

export class ClientSession {
  readonly name: string;
  readonly room: string;
  private readonly identity: Identity;
  private readonly agent: string;
  private readonly connector: Connector;
  private readonly reconnectOpts: BackoffOptions | false;
  private readonly keyStore: KeyStore;
  private readonly log: (level: LogLevel, message: string) => void;
  private readonly cfg: {
    pingMs: number;
    deadMs: number;
    handshakeMs: number;
  };
  private readonly random: () => number;
  private readonly events: Emitter<SessionEvents>;

  private _state: SessionState = "connecting";
  private started = false;
  private conn: Conn | null = null;
  private gen = 0;
  private attempt = 0;
  private everOnline = false;
  private fatal: ErrorMsg | null = null;
  private onlineAt = 0;
  private lastSentAt = 0;
  private lastRecvAt = 0;

  private readonly _members = new Members();
  private _limits: SessionLimits = {
    maxFrame: DEFAULT_LIMITS.maxFrame,
    maxEnvelope: DEFAULT_LIMITS.maxEnvelope,
    maxRecipients: DEFAULT_LIMITS.maxRecipients,
  };
  private readonly _streams = new Streams();

  private readonly outgoing: Outgoing;
  private readonly received: Inbox;

  private inbox: Promise<void> = Promise.resolve();
  private inboxDepth = 0;

  private reconnectTimer: Timer | null = null;
  private handshakeTimer: Timer | null = null;
  private tickTimer: ReturnType<typeof globalThis.setInterval> | null = null;

  constructor(opts: SessionOptions) {
    const problem = nameProblem(opts.name);
    if (problem) throw new Error(`bad name: ${problem}`);
    if (!isRoom(opts.room)) throw new Error("bad room: 1 to 64 characters of A-Z a-z 0-9 _ -");
    this.identity = opts.identity;
    this.name = opts.name;
    this.room = opts.room;
    this.agent = opts.agent;
    this.connector = opts.connect;
    this.reconnectOpts = opts.reconnect === undefined ? SESSION_DEFAULTS.reconnect : opts.reconnect;
    this.keyStore = opts.keyStore ?? new MemoryKeyStore();
    this.log = opts.log ?? (() => {});
    this.random = opts.random ?? Math.random;
    this.cfg = {
      pingMs: opts.pingMs ?? SESSION_DEFAULTS.pingMs,
      deadMs: opts.deadMs ?? SESSION_DEFAULTS.deadMs,
      handshakeMs: opts.handshakeMs ?? SESSION_DEFAULTS.handshakeMs,
    };
    this.received = new Inbox(this.identity, this.room, opts.maxSeen ?? SESSION_DEFAULTS.maxSeen);
    this.outgoing = new Outgoing({
      identity: this.identity,
      room: this.room,
      members: this._members,
      maxPending: opts.maxPending ?? SESSION_DEFAULTS.maxPending,
      recipientWaitMs: opts.recipientWaitMs ?? SESSION_DEFAULTS.recipientWaitMs,
      maxSendRetries: SESSION_DEFAULTS.maxSendRetries,
      rateLimitRetryMs: SESSION_DEFAULTS.rateLimitRetryMs,
      link: () => this.outgoingLink(),
      maxEnvelope: () => this._limits.maxEnvelope,
      acked: (mid, delivered) => this.events.emit("ack", { mid, delivered }),
      failed: (mid, code, message) => this.events.emit("sendFailed", { mid, code, message }),
      log: (message) => this.log("warn", message),
    });
    this.events = new Emitter<SessionEvents>((event, err) => this.log("warn", `listener for ${event} threw: ${String(err)}`));
  }

  // ---- read-only view -------------------------------------------------------------

  get state(): SessionState {
    return this._state;
  }

  /** This member's id (known before the first welcome: it is the hash of our key). */
  get selfId(): string {
    return this.identity.id;
  }

  get members(): ReadonlyMap<string, MemberEntry> {
    return this._members.view;
  }

  get limits(): SessionLimits {
    return this._limits;
  }

  /** Streams this connection is watching, by sid. */
  get streams(): ReadonlyMap<number, StreamInfo> {
    return this._streams.view;
  }

  /** Sends not yet acknowledged by the server. */
  get pendingCount(): number {
    return this.outgoing.size;
  }

  on<E extends keyof SessionEvents>(event: E, listener: Listener<SessionEvents[E]>): () => void {
    return this.events.on(event, listener);
  }

  off<E extends keyof SessionEvents>(event: E, listener: Listener<SessionEvents[E]>): void {
    this.events.off(event, listener);
  }

  // ---- lifecycle ------------------------------------------------------------------

  start(): void {
    if (this.started) return;
    this.started = true;
    this.tickTimer = globalThis.setInterval(() => this.tick(), Math.max(50, Math.min(this.cfg.pingMs, this.cfg.deadMs) / 4));
    this.open();
  }

  /** Leaves cleanly (`quit`) and stays closed. Unacknowledged sends are abandoned. */
  stop(): void {
    if (this._state === "closed") return;
    const conn = this.conn;
    if (conn?.alive && conn.welcomed) this.sendOn(conn, { t: "quit" });
    this.finish("stopped", null);
  }

  /** Resolves true once every send is acknowledged, false on timeout or close. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.outgoing.size === 0) return Promise.resolve(true);
    // Closed for good: nothing pending will be acknowledged any more.
    if (this._state === "closed") return Promise.resolve(false);
    return new Promise((resolve) => {
      const done = (v: boolean) => {
        globalThis.clearTimeout(timer);
        offs.forEach((off) => off());
        resolve(v);
      };
      const check = () => {
        if (this.outgoing.size === 0) done(true);
      };
      const timer = globalThis.setTimeout(() => done(this.outgoing.size === 0), timeoutMs);
      const offs = [this.on("ack", check), this.on("sendFailed", check), this.on("closed", () => done(this.outgoing.size === 0))];
    });
  }

  private open(): void {
    this.reconnectTimer = null;
    if (this._state === "closed") return;
    const conn: Conn = { transport: null, alive: true, welcomed: false, gen: ++this.gen };
    this.conn = conn;
    this.lastRecvAt = Date.now();
    this.handshakeTimer = globalThis.setTimeout(
      () => this.dropConn(conn, `no welcome within ${this.cfg.handshakeMs} ms`),
      this.cfg.handshakeMs,
    );
    try {
      conn.transport = this.connector({
        onOpen: () => {
          if (conn === this.conn) this.log("debug", "transport open");
        },
        onFrame: (kind, body) => this.onFrame(conn, kind, body),
        // Behind the frames that came before it: a fatal error among them,
        // still waiting in the queue, decides whether to reconnect.
        onClose: (reason) => this.enqueue(() => this.onConnClosed(conn, reason)),
      });
    } catch (err) {
      // A connector that fails synchronously is just a failed attempt.
      queueMicrotask(() => this.onConnClosed(conn, `cannot connect: ${(err as Error).message}`));
    }
  }

  /** Closes a connection on our side and handles it as closed. */
  private dropConn(conn: Conn, reason: string): void {
    if (!conn.alive) return;
    try {
      conn.transport?.close();
    } catch {
      // Already gone.
    }
    this.onConnClosed(conn, reason);
  }

  private onConnClosed(conn: Conn, reason: string): void {
    if (!conn.alive) return;
    conn.alive = false;
    if (conn !== this.conn) return;
    this.conn = null;
    this.clearTimer("handshakeTimer");
    for (const sid of this._streams.sids()) this.endStream(sid, "disconnected");
    if (this._state === "closed") return;
    if (this.fatal) {
      this.finish(`${this.fatal.code}: ${this.fatal.message}`, this.fatal);
      return;
    }
    if (this.reconnectOpts === false) {
      this.events.emit("disconnected", { reason, retryInMs: null, attempt: this.attempt, everOnline: this.everOnline });
      this.finish(reason, null);
      return;
    }
    const delay = backoffDelay(this.attempt, this.reconnectOpts, this.random);
    const attempt = this.attempt++;
    this.setState("reconnecting");
    this.log("info", `disconnected (${reason}); reconnecting in ${delay} ms`);
    this.events.emit("disconnected", { reason, retryInMs: delay, attempt, everOnline: this.everOnline });
    // A listener may have stopped us.
    if (this._state === "reconnecting") this.reconnectTimer = globalThis.setTimeout(() => this.open(), delay);
  }

  private finish(reason: string, error: ErrorMsg | null): void {
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
    for (const name of ["reconnectTimer", "handshakeTimer"] as const) this.clearTimer(name);
    this.outgoing.cancelTimer();
    if (this.tickTimer !== null) globalThis.clearInterval(this.tickTimer);
    this.tickTimer = null;
    if (this._state === "closed") return;
    for (const sid of this._streams.sids()) this.endStream(sid, "disconnected");
    this.setState("closed");
    this.events.emit("closed", { reason, error });
  }

  private clearTimer(name: "reconnectTimer" | "handshakeTimer"): void {
    const t = this[name];
    if (t !== null) globalThis.clearTimeout(t);
    this[name] = null;
  }

  private setState(s: SessionState): void {
    if (this._state === s) return;
    this._state = s;
    this.events.emit("state", s);
  }

  /** Pings when idle and drops a connection the server has gone silent on. */
  private tick(): void {
    const conn = this.conn;
    if (!conn?.alive) return;
    const now = Date.now();
    if (now - this.lastRecvAt >= this.cfg.deadMs) {
      this.dropConn(conn, `nothing received for ${this.cfg.deadMs} ms`);
      return;
    }
    if (conn.welcomed && now - this.lastSentAt >= this.cfg.pingMs) this.sendOn(conn, { t: "ping", ts: now });
  }

  private sendOn(conn: Conn, msg: ClientMessage): boolean {
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

  // ---- incoming -------------------------------------------------------------------

  private onFrame(conn: Conn, kind: number, body: Uint8Array): void {
    if (!conn.alive) return;
    this.lastRecvAt = Date.now();
    if (kind === KIND_VIDEO) {
      // Frames keep their order relative to control messages, but a session
      // busy with crypto sheds video rather than queueing it without bound.
      if (this.inboxDepth === 0) this.onVideo(body);
      else if (this.inboxDepth < SESSION_DEFAULTS.maxInboxVideo) {
        const copy = body.slice();
        this.enqueue(() => this.onVideo(copy));
      }
      return;
    }
    if (kind !== KIND_CONTROL) {
      this.events.emit("invalid", { reason: `frame of unknown kind ${kind}` });
      return;
    }
    const raw = decodeRaw(body);
    if (!raw.ok) {
      this.events.emit("invalid", { reason: raw.message });
      return;
    }
    const parsed = parseServerMessage(raw.raw);
    if (parsed.kind === "unknown") {
      // A newer server may say things this client does not know yet.
      this.log("debug", `ignoring unknown message type ${parsed.t}`);
      return;
    }
    if (parsed.kind === "invalid") {
      this.events.emit("invalid", { reason: parsed.message });
      return;
    }
    if (this.inboxDepth >= SESSION_DEFAULTS.maxInbox) {
      this.dropConn(conn, "server sends faster than this client can process");
      return;
    }
    const msg = parsed.msg;
    this.enqueue(() => this.onMessage(conn, msg));
  }

  /** One queue for everything received, so a msg is never handled before the joined that precedes it. */
  private enqueue(fn: () => void | Promise<void>): void {
    this.inboxDepth++;
    this.inbox = this.inbox
      .then(fn)
      .catch((err: unknown) => this.log("warn", `handling a message failed: ${String(err)}`))
      .finally(() => {
        this.inboxDepth--;
      });
  }

  private async onMessage(conn: Conn, msg: ServerMessage): Promise<void> {
    switch (msg.t) {
      case "challenge":
        return this.onChallenge(conn, msg);
      case "welcome":
        return this.onWelcome(conn, msg);
      case "joined":
        return this.onJoined(msg.member);
      case "left":
        return this.onLeft(msg.id, msg.reason);
      case "msg":
        return this.onMsg(msg);
      case "ack":
        return this.outgoing.onAck(msg.mid, msg.delivered);
      case "error":
        return this.onError(conn, msg);
      case "ping":
        // Before hello only hello and ping are allowed; a pong there would be bad_hello.
        if (conn.welcomed) this.sendOn(conn, { t: "pong", ts: msg.ts });
        return;
      case "pong":
        return;
      case "videos":
        this.events.emit("videos", msg.items);
        return;
      case "stream": {
        const { t: _t, ...info } = msg;
        this._streams.watch(info);
        this.events.emit("stream", info);
        return;
      }
      case "streamState": {
        this._streams.update(msg.sid, msg.state, msg.posMs);
        this.events.emit("streamState", { sid: msg.sid, state: msg.state, posMs: msg.posMs, by: msg.by });
        return;
      }
      case "streamEnd":
        this.endStream(msg.sid, msg.reason);
        return;
      case "streamStats":
        this.events.emit("streamStats", { sid: msg.sid, sent: msg.sent, dropped: msg.dropped });
        return;
    }
  }

  private async onChallenge(conn: Conn, c: ServerMessageOf<"challenge">): Promise<void> {
    if (conn.welcomed) {
      this.events.emit("invalid", { reason: "challenge after welcome" });
      return;
    }
    const hello = await makeHello(this.identity, { nonce: c.nonce, room: this.room, name: this.name, agent: this.agent });
    this.sendOn(conn, hello);
  }

  private async onWelcome(conn: Conn, w: Welcome): Promise<void> {
    if (!conn.alive) return;
    if (conn.welcomed) {
      this.events.emit("invalid", { reason: "second welcome" });
      return;
    }
    if (w.id !== this.identity.id || w.room !== this.room) {
      // A server that names us differently is broken or lying; sealing would
      // use the wrong AAD anyway. Retrying would meet the same server.
      this.fatal = {
        t: "error",
        code: "bad_welcome",
        message: w.id !== this.identity.id ? "server assigned an id that is not the hash of our key" : "server put us in another room",
        fatal: true,
      };
      this.events.emit("error", this.fatal);
      this.dropConn(conn, this.fatal.message);
      return;
    }
    const entries = await Promise.all(w.members.map((m) => memberEntry(m, this.identity)));
    if (!conn.alive || conn !== this.conn) return;
    conn.welcomed = true;
    this.clearTimer("handshakeTimer");
    this._members.reset(entries);
    this._limits = w.limits;
    this.attempt = 0;
    this.onlineAt = Date.now();
    const reconnected = this.everOnline;
    this.everOnline = true;
    this.setState("online");
    this.events.emit("welcome", { id: w.id, room: w.room, members: entries, limits: w.limits, stream: w.stream, reconnected });
    if (w.stream) {
      this._streams.watch(w.stream);
      this.events.emit("stream", w.stream);
    }
    for (const e of entries) await this.checkContinuity(e);
    void this.outgoing.kick();
  }

  private async checkContinuity(e: MemberEntry): Promise<void> {
    try {
      const change = await continuityChange(this.keyStore, this.room, e);
      if (change) this.events.emit("keyChanged", change);
    } catch (err) {
      this.log("warn", `key store failed: ${String(err)}`);
    }
  }

  private async onJoined(m: Member): Promise<void> {
    const entry = await memberEntry(m, this.identity);
    const again = this._members.add(entry);
    this.events.emit("joined", { entry, again });
    await this.checkContinuity(entry);
    // A pending message may be waiting for this member to come back.
    void this.outgoing.kick();
  }

  private onLeft(id: string, reason: LeftReason): void {
    const entry = this._members.remove(id);
    this.outgoing.memberLeft(id, this.gen);
    this.events.emit("left", { id, reason, entry });
    void this.outgoing.kick();
  }

  private async onMsg(m: ServerMessageOf<"msg">): Promise<void> {
    const result = await this.received.open(m, this._members);
    if (result) this.events.emit("message", result);
  }

  private onError(conn: Conn, e: ErrorMsg): void {
    this.events.emit("error", e);
    this.outgoing.onError(e, conn.gen);
    // A fatal error of a connection we already dropped (dead peer, handshake
    // timeout) says nothing about the one that replaced it.
    if (!e.fatal || !conn.alive) return;
    if (NO_RETRY_CODES.has(e.code)) this.fatal = e;
    this.dropConn(conn, `${e.code}: ${e.message}`);
  }

  private onVideo(body: Uint8Array): void {
    const f = this._streams.push(body);
    if (!f) return;
    this.events.emit("frame", f);
  }

  private endStream(sid: number, reason: StreamEndReason | "disconnected"): void {
    this._streams.end(sid);
    this.events.emit("streamEnd", { sid, reason });
  }

  // ---- outgoing -------------------------------------------------------------------

  /** The connection pending sends may go out on: welcomed and still alive. */
  private outgoingLink(): OutgoingLink | null {
    const conn = this.conn;
    if (!conn?.alive || !conn.welcomed || this._state !== "online") return null;
    return { gen: conn.gen, onlineAt: this.onlineAt, send: (msg) => this.sendOn(conn, msg) };
  }

  /**
   * Seals `text` for every verified member but self (`to` absent) or for the
   * chosen members, and sends it when online (else when the session is back).
   * Resolves with the mid once the send is on the wire or queued; `ack` or
   * `sendFailed` with that mid follows.
   */
  async sendText(text: string, to?: readonly string[]): Promise<string> {
    if (this._state === "closed") throw new Error("session is closed");
    const mid = this.outgoing.add(text, to, this.everOnline);
    await this.outgoing.kick();
    return mid;
  }

  private requireOnline(): Conn {
    const conn = this.conn;
    if (!conn?.alive || !conn.welcomed) throw new Error(`not connected (${this._state})`);
    return conn;
  }

  /** Asks for the catalogue; the answer comes as a `videos` event. */
  requestVideos(): void {
    this.sendOn(this.requireOnline(), { t: "videos" });
  }

  play(video: string, scope: "self" | "room", fromMs?: number): void {
    const msg = Play.parse({ t: "play", video, scope, ...(fromMs !== undefined ? { fromMs: Math.round(fromMs) } : {}) });
    this.sendOn(this.requireOnline(), msg);
  }

  control(sid: number, action: "pause" | "resume" | "seek" | "stop", toMs?: number): void {
    const msg = Control.parse({ t: "control", sid, action, ...(toMs !== undefined ? { toMs: Math.round(toMs) } : {}) });
    this.sendOn(this.requireOnline(), msg);
  }
}
