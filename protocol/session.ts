// A client session, independent of the transport: the native client runs it
// over TCP, the web app over a WebSocket through the bridge. This file is the
// public API and the dispatch of each server message; the work it hands off:
// link.ts keeps one connection alive (handshake timeout, pings, dead peer,
// backoff), receiveQueue.ts orders and validates what arrives, members.ts
// verifies who is in the room, outgoing.ts seals, sends and resends, inbox.ts
// opens and deduplicates, streams.ts follows the videos being watched.
// Types and defaults: sessionTypes.ts; the transport port: transport.ts.
//
// Browser-safe: no node: imports, WebCrypto through ./crypto, timers through
// globalThis.
//
// Over 300 lines: the public API and one dispatch case per server message (16
// kinds across four capabilities); the logic of each is in link, receiveQueue,
// outgoing, inbox, members, resume, e2e/groupSession.

import { makeHello, type Identity } from "./crypto";
import { Emitter, type Listener } from "./emitter";
import { Inbox } from "./inbox";
import { MemoryKeyStore, type KeyStore } from "./keyContinuity";
import { DEFAULT_LIMITS } from "./limits";
import { Link, type Conn } from "./link";
import { continuityChange, memberEntry, Members, type MemberEntry } from "./members";
import {
  Control,
  Play,
  PosterRequest,
  SubtitlesRequest,
  type ErrorMsg,
  type LeftReason,
  type Member,
  type ServerMessage,
  type ServerMessageOf,
  type StreamEndReason,
  type StreamInfo,
  type Welcome,
} from "./messages";
import { isRoom, nameProblem } from "./names";
import { Outgoing, type OutgoingLink } from "./outgoing";
import { ReceiveQueue } from "./receiveQueue";
import { MemoryCursorStore, ResumeState } from "./resume";
import {
  NO_RETRY_CODES,
  SESSION_DEFAULTS,
  type LogLevel,
  type SessionEvents,
  type SessionLimits,
  type SessionOptions,
  type SessionState,
} from "./sessionTypes";
import { Streams } from "./watchedStreams";
import { SubtitlePages } from "./subtitlePages";
import { GROUP_SESSION_LIMITS, GroupSession } from "./e2e/groupSession";
import { SENDER_KEY_LIMITS } from "./e2e/senderKeys";
import { readAudioPacket, AUDIO_FLAG_DISCONTINUITY } from "./audioPacket";
import { fromBase64 } from "./base64";
import { ClockSync, pingIntervalMs } from "./clockSync";

// What other code imports from here, wherever it now lives.
export type { Connector, Transport, TransportHandlers } from "./transport";
export { NO_RETRY_CODES, SESSION_DEFAULTS } from "./sessionTypes";
export type {
  LogLevel,
  MemberEntry,
  ReceivedMessage,
  SessionEvents,
  SessionLimits,
  SessionOptions,
  SessionState,
} from "./sessionTypes";

export class ClientSession {
  readonly name: string;
  readonly room: string;
  private readonly identity: Identity;
  private readonly agent: string;
  private readonly caps: readonly string[];
  private readonly keyStore: KeyStore;
  private readonly log: (level: LogLevel, message: string) => void;
  private readonly events: Emitter<SessionEvents>;
  private readonly link: Link;
  private readonly queue: ReceiveQueue<Conn>;

  private readonly _members = new Members();
  private _limits: SessionLimits = {
    maxFrame: DEFAULT_LIMITS.maxFrame,
    maxEnvelope: DEFAULT_LIMITS.maxEnvelope,
    maxRecipients: DEFAULT_LIMITS.maxRecipients,
  };
  private readonly _streams = new Streams();
  private readonly outgoing: Outgoing;
  private readonly received: Inbox;
  private readonly subtitlePages = new SubtitlePages();
  /** v2 rooms (opened from a room link): sender keys and admission; null in a v1 room. */
  readonly e2e: GroupSession | null = null;
  /** Cap durable (docs/protocol.md section 2c): cursor, repeats by seq, receipts. Null for a v1 session. */
  private readonly resume: ResumeState | null;
  /** Offset to the core's clock ("clock" cap), fed by our own pings' pongs. */
  readonly clock = new ClockSync();
  private clockTimer: ReturnType<typeof globalThis.setTimeout> | null = null;

  constructor(opts: SessionOptions) {
    const problem = nameProblem(opts.name);
    if (problem) throw new Error(`bad name: ${problem}`);
    if (!isRoom(opts.room)) throw new Error("bad room: 1 to 64 characters of A-Z a-z 0-9 _ -");
    this.identity = opts.identity;
    this.name = opts.name;
    this.room = opts.room;
    this.agent = opts.agent;
    const durable = opts.cursors !== undefined || opts.durable === true;
    this.caps =
      durable && !(opts.caps ?? []).includes("durable") ? [...(opts.caps ?? []), "durable"] : (opts.caps ?? []);
    this.resume = durable
      ? new ResumeState(
          opts.cursors ?? new MemoryCursorStore(),
          opts.room,
          (seqs) => this.sendReceipt(seqs),
          (m) => (opts.log ?? (() => {}))("warn", m),
        )
      : null;
    this.keyStore = opts.keyStore ?? new MemoryKeyStore();
    const log = (this.log = opts.log ?? (() => {}));
    this.events = new Emitter<SessionEvents>((event, err) =>
      log("warn", `listener for ${event} threw: ${String(err)}`),
    );
    this.queue = new ReceiveQueue<Conn>(
      {
        message: (conn, msg) => this.onMessage(conn, msg),
        video: (body) => this.onVideo(body),
        audio: (body) => this.onAudio(body),
        invalid: (reason) => this.events.emit("invalid", { reason }),
        overflow: (conn) => this.link.drop(conn, "server sends faster than this client can process"),
        log,
      },
      { maxDepth: SESSION_DEFAULTS.maxInbox, maxVideoDepth: SESSION_DEFAULTS.maxInboxVideo },
    );
    this.link = new Link(opts, {
      frame: (conn, kind, body) => this.queue.frame(conn, kind, body),
      afterReceived: (fn) => this.queue.enqueue(fn),
      down: () => {
        for (const sid of this._streams.sids()) this.endStream(sid, "disconnected");
      },
      state: (st) => this.events.emit("state", st),
      disconnected: (d) => this.events.emit("disconnected", d),
      closed: (reason, error) => {
        this.outgoing.cancelTimer();
        this.e2e?.close();
        this.resume?.stop();
        if (this.clockTimer !== null) globalThis.clearTimeout(this.clockTimer);
        this.events.emit("closed", { reason, error });
      },
    });
    if (opts.roomKeys) {
      if (opts.roomKeys.room !== opts.room) throw new Error("bad room: the room link's secret is for another room");
      this.e2e = new GroupSession(
        this.identity,
        opts.roomKeys,
        {
          sendKeys: (dists) => {
            const conn = this.link.current;
            return !!conn?.welcomed && this.link.send(conn, { t: "keys", dists });
          },
          retry: (m) => this.queue.enqueue(() => this.onMsg(m)),
          log: (message) => log("warn", message),
        },
        SENDER_KEY_LIMITS,
        { ...GROUP_SESSION_LIMITS, ...opts.v2Limits },
        opts.v2KeyStore,
      );
    }
    const e2e = this.e2e;
    this.received = new Inbox(this.identity, this.room, opts.maxSeen ?? SESSION_DEFAULTS.maxSeen, e2e);
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
      acked: (mid, delivered, seq) =>
        this.events.emit("ack", { mid, delivered, ...(seq !== undefined ? { seq } : {}) }),
      failed: (mid, code, message) => this.events.emit("sendFailed", { mid, code, message }),
      log: (message) => log("warn", message),
      ...(e2e ? { sealRoom: (p: Parameters<GroupSession["seal"]>[0]) => e2e.seal(p) } : {}),
    });
  }

  // ---- read-only view -------------------------------------------------------------

  get state(): SessionState {
    return this.link.state;
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

  /** Opens the first connection; once only, and never after stop(). */
  start(): void {
    this.link.start();
  }

  /** Leaves cleanly (`quit`) and stays closed. Unacknowledged sends are abandoned. */
  stop(): void {
    if (this.link.state === "closed") return;
    const conn = this.link.current;
    if (conn?.alive && conn.welcomed) this.link.send(conn, { t: "quit" });
    this.link.close("stopped", null);
  }

  /** Resolves true once every send is acknowledged, false on timeout or close. */
  drain(timeoutMs: number): Promise<boolean> {
    if (this.outgoing.size === 0) return Promise.resolve(true);
    // Closed for good: nothing pending will be acknowledged any more.
    if (this.link.state === "closed") return Promise.resolve(false);
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
      const offs = [
        this.on("ack", check),
        this.on("sendFailed", check),
        this.on("closed", () => done(this.outgoing.size === 0)),
      ];
    });
  }

  // ---- incoming -------------------------------------------------------------------

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
        return this.outgoing.onAck(msg.mid, msg.delivered, msg.seq);
      case "keys":
        if (!this.e2e) return this.events.emit("invalid", { reason: "keys in a v1 room" });
        return this.e2e.onKeys(msg.dist);
      case "presence":
        this._members.setPresence(msg.id, msg.state);
        if (msg.state === "away") this.e2e?.memberAway(msg.id);
        return this.events.emit("presence", { id: msg.id, state: msg.state, entry: this._members.get(msg.id) ?? null });
      case "delivered":
        return this.events.emit("delivered", { mid: msg.mid, seq: msg.seq, delivered: msg.delivered, of: msg.of });
      case "resumed":
        this.resume?.resumed(msg.seq, msg.log);
        await this.e2e?.resumed();
        return this.events.emit("resumed", { seq: msg.seq });
      case "historyGap":
        return this.events.emit("historyGap", { from: msg.from, to: msg.to });
      case "error":
        return this.onError(conn, msg);
      case "ping":
        // Before hello only hello and ping are allowed; a pong there would be bad_hello.
        if (conn.welcomed) this.link.send(conn, { t: "pong", ts: msg.ts });
        return;
      case "pong":
        // Our clock pings carry performance.now() as ts; the link's idle pings (Date.now) fail the RTT check.
        if (msg.now !== undefined)
          this.clock.add({ sentLocal: msg.ts, core: msg.now, recvLocal: globalThis.performance.now() });
        return;
      case "audio":
        return this.events.emit("audioInfo", {
          sid: msg.sid,
          track: msg.track,
          head: msg.head !== undefined ? fromBase64(msg.head) : null,
          channels: msg.channels ?? 2,
          reason: msg.reason ?? null,
        });
      case "streamClock":
        return this.events.emit("streamClock", {
          sid: msg.sid,
          anchorCore: msg.anchorCore,
          delayMs: msg.delayMs,
          posMs: msg.posMs,
        });
      case "videos":
        return this.events.emit("videos", msg.items);
      case "stream": {
        const { t: _t, ...info } = msg;
        this._streams.watch(info);
        return this.events.emit("stream", info);
      }
      case "streamState":
        this._streams.update(msg.sid, msg.state, msg.posMs);
        return this.events.emit("streamState", { sid: msg.sid, state: msg.state, posMs: msg.posMs, by: msg.by });
      case "streamEnd":
        return this.endStream(msg.sid, msg.reason);
      case "streamStats":
        return this.events.emit("streamStats", { sid: msg.sid, sent: msg.sent, dropped: msg.dropped });
      case "subtitleCues": {
        const track = this.subtitlePages.accept(msg);
        if (track) this.events.emit("subtitles", track);
        return;
      }
      case "poster": {
        const jpeg = fromBase64(msg.data);
        if (jpeg) this.events.emit("poster", { video: msg.video, key: msg.key, mime: msg.mime, jpeg });
        return;
      }
      case "videosChanged":
        return this.events.emit("videosChanged", {});
    }
  }

  private async onChallenge(conn: Conn, c: ServerMessageOf<"challenge">): Promise<void> {
    if (conn.welcomed) return this.events.emit("invalid", { reason: "challenge after welcome" });
    let hello = await makeHello(this.identity, {
      nonce: c.nonce,
      room: this.room,
      name: this.name,
      agent: this.agent,
      caps: this.caps,
    });
    if (this.e2e) hello = await this.e2e.hello(hello, c.nonce);
    await this.resume?.load();
    const resume = this.resume?.hello();
    const resumeLog = this.resume?.helloLog();
    this.link.send(conn, resume ? { ...hello, resume, ...(resumeLog ? { resumeLog } : {}) } : hello);
  }

  private async onWelcome(conn: Conn, w: Welcome): Promise<void> {
    if (!conn.alive) return;
    if (conn.welcomed) return this.events.emit("invalid", { reason: "second welcome" });
    if (w.id !== this.identity.id || w.room !== this.room) {
      // A server that names us differently is broken or lying; sealing would
      // use the wrong AAD anyway. Retrying would meet the same server.
      const message =
        w.id !== this.identity.id
          ? "server assigned an id that is not the hash of our key"
          : "server put us in another room";
      const error: ErrorMsg = { t: "error", code: "bad_welcome", message, fatal: true };
      this.link.noRetry(error);
      this.events.emit("error", error);
      return this.link.drop(conn, message);
    }
    this.e2e?.welcomed();
    // before any replay: a replaced log sets the cursor back, so its messages are no repeats
    this.resume?.welcomed(w.log);
    const entries = await Promise.all(w.members.map((m) => this.entryOf(m)));
    if (!conn.alive || conn !== this.link.current) return;
    this._members.reset(entries);
    this._limits = w.limits;
    const reconnected = this.link.welcomed(conn);
    if (this.caps.includes("clock")) this.clockPing(conn);
    this.events.emit("welcome", {
      id: w.id,
      room: w.room,
      members: entries,
      limits: w.limits,
      stream: w.stream,
      reconnected,
    });
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

  /** A member as announced, checked; in a v2 room also against the room link (unadmitted: not verified, flagged). */
  private async entryOf(m: Member): Promise<MemberEntry> {
    const entry = await memberEntry(m, this.identity);
    if (!this.e2e) return entry;
    const admission = await this.e2e.checkMember(m);
    return { ...entry, verified: entry.verified && admission.ok, admission };
  }

  private async onJoined(m: Member): Promise<void> {
    const entry = await this.entryOf(m);
    const again = this._members.add(entry);
    this.events.emit("joined", { entry, again });
    await this.checkContinuity(entry);
    // A pending message may be waiting for this member to come back.
    void this.outgoing.kick();
  }

  private onLeft(id: string, reason: LeftReason): void {
    const entry = this._members.remove(id);
    this.e2e?.memberLeft(id);
    this.outgoing.memberLeft(id, this.link.generation);
    this.events.emit("left", { id, reason, entry });
    void this.outgoing.kick();
  }

  private async onMsg(m: ServerMessageOf<"msg">): Promise<void> {
    // Durable: a seq this client already has is a repeat (a replay overlapping what came live).
    if (m.seq !== undefined && this.resume?.has(m.seq)) return;
    const result = await this.received.open(m, this._members);
    if (result) this.events.emit("message", m.seq !== undefined ? { ...result, seq: m.seq } : result);
    if (m.seq !== undefined && this.resume) {
      this.resume.advance(m.seq);
      if (result?.ok) this.resume.opened(m.seq);
    }
  }

  /** A receipt batch on the current connection; false when offline. */
  private sendReceipt(seqs: number[]): boolean {
    const conn = this.link.current;
    if (!conn?.alive || !conn.welcomed) return false;
    return this.link.send(conn, { t: "receipt", seqs });
  }

  /** The last seq of this room this client has (cap durable), null before any. */
  get cursor(): number | null {
    return this.resume?.seq ?? null;
  }

  private onError(conn: Conn, e: ErrorMsg): void {
    this.events.emit("error", e);
    this.outgoing.onError(e, conn.gen);
    // A fatal error of a connection we already dropped (dead peer, handshake
    // timeout) says nothing about the one that replaced it.
    if (!e.fatal || !conn.alive) return;
    if (NO_RETRY_CODES.has(e.code)) this.link.noRetry(e);
    this.link.drop(conn, `${e.code}: ${e.message}`);
  }

  private onVideo(body: Uint8Array): void {
    const f = this._streams.push(body);
    if (f) this.events.emit("frame", f);
  }

  private onAudio(body: Uint8Array): void {
    const p = readAudioPacket(body);
    if (!p || !this._streams.view.has(p.header.sid)) return;
    const h = p.header;
    this.events.emit("audio", {
      sid: h.sid,
      track: h.track,
      seq: h.seq,
      ptsSamples: h.ptsSamples,
      durationSamples: h.durationSamples,
      discontinuity: (h.flags & AUDIO_FLAG_DISCONTINUITY) !== 0,
      data: p.data,
    });
  }

  /** Clock-sync pings: a quick burst after welcome, then a slow keep-up, while this connection lives. */
  private clockPing(conn: Conn): void {
    if (!conn.alive || conn !== this.link.current) return;
    this.link.send(conn, { t: "ping", ts: globalThis.performance.now() });
    this.clockTimer = globalThis.setTimeout(() => this.clockPing(conn), pingIntervalMs(this.clock.quality.samples));
  }

  private endStream(sid: number, reason: StreamEndReason | "disconnected"): void {
    this._streams.end(sid);
    this.events.emit("streamEnd", { sid, reason });
  }

  // ---- outgoing -------------------------------------------------------------------

  /** The connection pending sends may go out on: welcomed and still alive. */
  private outgoingLink(): OutgoingLink | null {
    const conn = this.link.current;
    if (!conn?.alive || !conn.welcomed || this.link.state !== "online") return null;
    return { gen: conn.gen, onlineAt: this.link.onlineAt, send: (msg) => this.link.send(conn, msg) };
  }

  /**
   * Seals `text` for every verified member but self (`to` absent) or for the
   * chosen members, and sends it when online (else when the session is back).
   * Returns its mid at once, before any `ack` or `sendFailed` with that mid
   * can be emitted; throws, with a message for people, when it cannot be sent.
   */
  sendText(text: string, to?: readonly string[]): string {
    if (this.link.state === "closed") throw new Error("session is closed");
    const mid = this.outgoing.add(text, to, this.link.everOnline);
    void this.outgoing.kick();
    return mid;
  }

  private requireOnline(): Conn {
    const conn = this.link.current;
    if (!conn?.alive || !conn.welcomed) throw new Error(`not connected (${this.link.state})`);
    return conn;
  }

  /** Asks for the catalogue; the answer comes as a `videos` event. */
  requestVideos(): void {
    this.link.send(this.requireOnline(), { t: "videos" });
  }

  /** Cap "library2": asks for the cues of one subtitle track; the answer is a `subtitles` event (or an `error` with ref "subtitles"). */
  requestSubtitles(video: string, track: string): void {
    this.link.send(this.requireOnline(), SubtitlesRequest.parse({ t: "subtitles", video, track }));
  }

  /** Cap "library2": asks for a video's poster; the answer is a `poster` event (or an `error` with ref "poster"). */
  requestPoster(video: string): void {
    this.link.send(this.requireOnline(), PosterRequest.parse({ t: "poster", video }));
  }

  play(video: string, scope: "self" | "room", fromMs?: number): void {
    const msg = Play.parse({
      t: "play",
      video,
      scope,
      ...(fromMs !== undefined ? { fromMs: Math.round(fromMs) } : {}),
    });
    this.link.send(this.requireOnline(), msg);
  }

  /** "audio" sessions: this viewer's track of a stream (null: no sound). Errors come as `error` ref audioTrack. */
  audioTrack(sid: number, track: number | null): void {
    this.link.send(this.requireOnline(), { t: "audioTrack", sid, track });
  }

  control(sid: number, action: "pause" | "resume" | "seek" | "stop", toMs?: number): void {
    const msg = Control.parse({ t: "control", sid, action, ...(toMs !== undefined ? { toMs: Math.round(toMs) } : {}) });
    this.link.send(this.requireOnline(), msg);
  }
}
