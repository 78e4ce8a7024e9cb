// Room logic: presence, replacement, and routing of end-to-end encrypted
// messages (docs/protocol.md sections 2, 4 and 9). Transport-free: it talks to
// connections only through MemberPeer, so it is testable with plain objects.
//
// Over 300 lines: join and route, the two things every message passes through,
// with the durable (delivery.ts), v2 (admission.ts, keyRouting.ts) and cluster
// (cluster/*) hooks small; next to split: join's branches into a seat module.

import type { RawMessage } from "../protocol/codec";
import { knownCaps } from "../protocol/caps";
import { parseClientMessage, refOf } from "../protocol/codec";
import { ProtocolError } from "../protocol/errors";
import type { Limits } from "../protocol/limits";
import type { LeftReason, Member, Send, ServerMessage } from "../protocol/messages";
import { MidCache } from "./dedupe";
import { MemoryV2Rooms, roomVersion, versionError, type V2RoomRegistry } from "./admission";
import { Durable, durableMsgFrame, isDurable, type SenderNote } from "./delivery";
import type { VerifiedHello } from "./handshake";
import { isKeyEntry, keyEntryFrame, routeKeys } from "./keyRouting";
import type { Logger } from "./log";
import type { MemberPeer, VideoService } from "./ports";
import { SendBudgets, type TokenBucket } from "./ratelimit";
import { Room } from "./room";
import { MemoryStore } from "./store/memoryStore";
import { effectiveAwayGraceMs, storeLimits } from "./store/limits";
import { StoreError, type AppendEntry, type MemberRecord, type RoomStore, type StoredEntry } from "./store/roomStore";
import type { CrossCore, HubSide } from "./cluster/crossCore";
import { controlFrame, msgFrame } from "./wire";
import { ENVELOPE_V2_ALG } from "../protocol/e2e/algs";

export class Hub implements HubSide {
  private rooms = new Map<string, Room>();
  private mids: MidCache;
  /** The seq of each remembered mid, for the ack of a resend to a durable client. */
  private seqs: MidCache;
  private budgets: SendBudgets;
  /** The room log and what needs it (server/delivery.ts). */
  readonly durable: Durable;
  /** In a cluster (server/cluster/crossCore.ts): rooms span cores; null alone. */
  private cluster: CrossCore | null = null;
  /** Per connection, sends appended but not yet acked by JetStream (bounded by clusterAckPending). */
  private awaitingAck = new WeakMap<MemberPeer, number>();
  /** The `to` on the wire of an own append when it differs from the stored recipients (flat v2). */
  private wireTo = new WeakMap<StoredEntry, string[]>();

  constructor(
    private readonly limits: Limits,
    private readonly video: VideoService,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    store?: RoomStore,
    /** Room id -> verification key of v2 rooms: a cache in front of the store's (maxV2Rooms). */
    private readonly v2rooms: V2RoomRegistry = new MemoryV2Rooms(limits.maxV2Rooms),
  ) {
    this.mids = new MidCache(limits.dedupePerMember, limits.dedupeMembers);
    this.seqs = new MidCache(limits.dedupePerMember, limits.dedupeMembers);
    this.budgets = new SendBudgets(limits, limits.dedupeMembers);
    const st = store ?? new MemoryStore();
    const sl = "limits" in st ? (st as { limits: ReturnType<typeof storeLimits> }).limits : storeLimits();
    const grace = effectiveAwayGraceMs(sl);
    this.durable = new Durable({
      store: st,
      log,
      now,
      awayGraceMs: grace,
      resumeReceipts: sl.resumeReceipts,
      expired: (room, id) => this.expired(room, id),
    });
    // Online members' lastSeen is refreshed, so a restart does not expire someone who was here all along.
    setInterval(
      () => {
        for (const room of this.rooms.values())
          for (const [id, seat] of room.seats) if (seat.peer) this.durable.wentAway(room.name, id, false);
      },
      Math.max(1_000, Math.min(3_600_000, Math.floor(grace / 4))),
    ).unref();
  }

  /** Joins a cluster: before the core listens (server.ts). */
  attachCluster(c: CrossCore): void {
    this.cluster = c;
  }

  /** Online on this core or (in a cluster) on another. */
  private isOnline(room: string, id: string, seat: { peer: MemberPeer | null }): boolean {
    return seat.peer !== null || (this.cluster?.onlineElsewhere(room, id) ?? false);
  }

  /** A member's send buckets, the same for each of its connections (server/ratelimit.ts). */
  sendBucketsOf(id: string): readonly TokenBucket[] {
    return this.budgets.of(id, this.now());
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  /** Seats a verified member; throws a fatal ProtocolError when the room refuses. */
  async join(peer: MemberPeer, { hello, id, v2 }: VerifiedHello): Promise<void> {
    // Cap durable: the room's log id goes in the welcome, before any replay (protocol 2c).
    const logId = knownCaps(hello.caps).has("durable") ? await this.durable.logId(hello.room) : undefined;
    if (peer.isClosed) return;
    // A v2 room's key: from the room here, the cache, the store, or this hello (its id is bound to the key).
    const vk = await this.roomVersion(hello.room, v2?.vk);
    if (peer.isClosed) return;
    let room = this.rooms.get(hello.room);
    if (!room) {
      // Not in memory: after a restart its members (all away) and stream come back from the store.
      const loaded = await this.durable.loadRoom(hello.room, vk);
      await this.video.load?.(hello.room);
      if (peer.isClosed) return;
      room = this.rooms.get(hello.room) ?? loaded;
      this.rooms.set(room.name, room);
      // In a cluster: hear the room's seq notes, seat members online on other cores.
      if (this.cluster) await this.cluster.openRoom(room.name);
      if (peer.isClosed) return;
    }
    // Loaded meanwhile by a hello of the other version (the first load decides).
    if ((room.vk !== null) !== (v2 !== undefined)) throw versionError(room.vk !== null);
    const owner = room.nameOwner(hello.name);
    if (owner !== undefined && owner !== id) {
      // An away member's name goes to whoever claims it while it is away (it is removed).
      const ownerSeat = room.seats.get(owner);
      if (ownerSeat && this.isOnline(room.name, owner, ownerSeat))
        throw new ProtocolError("name_taken", `the name '${hello.name}' is taken in this room`, true, "hello");
      this.expired(room.name, owner, "closed");
    }
    if (!room.seats.has(id) && room.size >= this.limits.maxMembersPerRoom) {
      const away = room.longestAway();
      // a seat without a connection here may be a member online on another core: not away, not evicted
      if (away === undefined || this.cluster?.onlineElsewhere(room.name, away))
        throw new ProtocolError("room_full", `room is full (${this.limits.maxMembersPerRoom} members)`, true, "hello");
      this.expired(room.name, away, "closed");
    }
    const previous = room.seats.get(id);
    const member: Member = {
      id,
      name: hello.name,
      encKey: hello.encKey,
      sigKey: hello.sigKey,
      encKeySig: hello.encKeySig,
      ...(hello.agent !== undefined ? { agent: hello.agent } : {}),
      since: previous?.member.since ?? this.now(),
      ...(v2 ? { v2: v2.member } : {}),
    };
    this.rooms.set(room.name, room);
    room.seat(member, peer);
    peer.admit(id, room.name, knownCaps(hello.caps));
    this.durable.seated(room.name, member);
    this.cluster?.online(room.name, id);

    if (previous && !previous.peer) {
      // Back from away: v1 clients were told it left; durable ones that it is away.
      // A v2 member has a fresh agreement key on every connection: the others
      // need it (joined) to give it their chain keys.
      const p = previous.member;
      const same =
        p.name === member.name &&
        p.agent === member.agent &&
        p.encKey === member.encKey &&
        p.v2?.dh2 === member.v2?.dh2;
      this.tell(
        room,
        id,
        { t: "joined", member },
        same ? { t: "presence", id, state: "online" } : { t: "joined", member },
      );
      this.log.info({ room: room.name, id }, "member is back");
    } else if (previous?.peer) {
      this.video.leave(previous.peer);
      previous.peer.fail("replaced", "this member connected again elsewhere");
      const p = previous.member;
      if (
        p.name !== member.name ||
        p.agent !== member.agent ||
        p.encKey !== member.encKey ||
        p.v2?.dh2 !== member.v2?.dh2
      ) {
        this.broadcast(room, { t: "joined", member }, id);
      }
      this.log.info({ room: room.name, id }, "member replaced its connection");
    } else {
      this.broadcast(room, { t: "joined", member }, id);
      this.log.info({ room: room.name, id, members: room.size }, "member joined");
    }
    const durable = isDurable(peer);
    peer.sendControl({
      t: "welcome",
      id,
      room: room.name,
      members: durable
        ? [...room.seats.values()].map((s) =>
            this.isOnline(room.name, s.member.id, s) ? s.member : { ...s.member, presence: "away" as const },
          )
        : [...room.seats.values()].filter((s) => this.isOnline(room.name, s.member.id, s)).map((s) => s.member),
      limits: {
        maxFrame: this.limits.maxFrame,
        maxEnvelope: this.limits.maxEnvelope,
        maxRecipients: this.limits.maxRecipients,
      },
      stream: this.video.roomStream(room.name),
      ...(durable && logId !== undefined ? { log: logId } : {}),
    });
    this.video.join(peer);
    // Not awaited: the connection reads on (pings, sends) while the replay is paced by its queue.
    if (durable) void this.durable.resume(peer, hello.resume, logId, hello.resumeLog);
  }

  /**
   * A room id known as v2 stays v2, on every core and across restarts (its key
   * is in the store); a v1 room stays v1 (server/admission.ts roomVersion).
   * Null: a v1 room. A store that cannot tell refuses the hello (retryable).
   */
  private async roomVersion(room: string, vk: string | undefined): Promise<string | null> {
    try {
      return await roomVersion(room, vk, this.rooms.get(room), this.v2rooms, this.durable.store);
    } catch (e) {
      if (e instanceof ProtocolError) throw e;
      this.log.error({ room, err: String(e) }, "room store: cannot read or store the room's version");
      throw new ProtocolError("internal", "the room store failed; try again", true, "hello");
    }
  }

  /** The connection of a seated member ended. */
  leave(peer: MemberPeer, reason: LeftReason): void {
    const room = this.rooms.get(peer.room);
    if (!room) return;
    const id = peer.memberId;
    if (reason === "quit") {
      if (!room.unseat(id, peer)) return;
      this.durable.left(room.name, id);
      this.cluster?.left(room.name, id);
      this.broadcast(room, { t: "left", id, reason });
      this.log.info({ room: room.name, id, reason, members: room.size }, "member left");
    } else {
      // Membership outlives the connection: away until it returns, quits or the grace ends.
      if (!room.away(id, peer, this.now())) return;
      this.durable.wentAway(room.name, id);
      this.cluster?.away(room.name, id);
      this.tell(room, id, { t: "left", id, reason }, { t: "presence", id, state: "away" });
      this.log.info({ room: room.name, id, reason, online: room.onlineCount }, "member away");
    }
    this.video.leave(peer);
    if (room.onlineCount === 0) this.video.roomEmpty(room.name);
    this.dropIfIdle(room);
  }

  /** Alone: a room without members goes. In a cluster: one without members on this core (the store and the other cores keep it). */
  private dropIfIdle(room: Room): void {
    if (room.size === 0 || (this.cluster && room.onlineCount === 0)) {
      this.rooms.delete(room.name);
      this.cluster?.closeRoom(room.name);
    }
  }

  /** An away member is no longer one (grace over, name or seat taken): durable clients hear it left. */
  private expired(roomName: string, id: string, reason: LeftReason = "timeout"): void {
    const room = this.rooms.get(roomName);
    if (!room || !room.unseat(id, null)) return;
    this.durable.left(roomName, id);
    this.tell(room, id, null, { t: "left", id, reason });
    this.log.info({ room: roomName, id, reason }, "away member removed");
    this.dropIfIdle(room);
  }

  /** To every other online member: `v1` to clients without cap durable, `durable` to those with it (null: nothing). */
  private tell(room: Room, except: string, v1: ServerMessage | null, durable: ServerMessage | null): void {
    const f1 = v1 && controlFrame(v1);
    const fd = durable && (durable === v1 ? f1 : controlFrame(durable));
    for (const [id, seat] of room.seats) {
      if (id === except || !seat.peer) continue;
      const f = isDurable(seat.peer) ? fd : f1;
      if (f) seat.peer.sendFrame(f);
    }
  }

  /** A control message from a seated member. Request errors are thrown as ProtocolError. */
  handle(peer: MemberPeer, raw: RawMessage): void {
    const envJson = raw.t === "send" ? this.envelopeJson(raw) : "";
    const parsed = parseClientMessage(raw);
    // Cap "library2" messages do not exist for a v1 client, valid or not.
    const v1Unknown = (raw.t === "subtitles" || raw.t === "poster") && !peer.caps.has("library2");
    if (parsed.kind === "unknown" || v1Unknown) {
      throw new ProtocolError("unknown_type", `unknown message type '${raw.t}'`, false, raw.t);
    }
    if (parsed.kind === "invalid") {
      if (raw.t === "hello") throw new ProtocolError("bad_hello", "a second hello on this connection", true, "hello");
      throw new ProtocolError("bad_request", parsed.message, false, refOf(raw));
    }
    const msg = parsed.msg;
    switch (msg.t) {
      case "hello":
        throw new ProtocolError("bad_hello", "a second hello on this connection", true, "hello");
      case "ping":
        // "clock": the core's time (the Pacer's clock, performance.now) for the client's offset estimate.
        peer.sendControl(
          peer.caps.has("clock") ? { t: "pong", ts: msg.ts, now: performance.now() } : { t: "pong", ts: msg.ts },
        );
        return;
      case "pong":
        return;
      case "audioTrack":
        // Beyond v1: a client that did not declare "audio" gets what v1 gives an unknown type.
        if (!peer.caps.has("audio"))
          throw new ProtocolError("unknown_type", `unknown message type '${msg.t}'`, false, msg.t);
        this.video.handle(peer, msg);
        return;
      case "send":
        this.route(peer, msg, envJson);
        return;
      case "keys": {
        const room = this.rooms.get(peer.room);
        if (!room) return;
        routeKeys(room, peer, msg, this.now(), (e) => this.stashKeys(peer, room.name, e));
        return;
      }
      case "receipt": {
        if (!isDurable(peer))
          throw new ProtocolError("bad_request", "receipt needs the durable capability", false, "receipt");
        const room = this.rooms.get(peer.room);
        // a sender connected to another core hears it through the cluster (fire and forget)
        const cluster = this.cluster;
        void this.durable
          .receipts(
            peer,
            msg.seqs,
            (from) => room?.seats.get(from)?.peer ?? null,
            cluster && ((r, n) => cluster.delivered(r, n)),
          )
          .catch((e) => this.log.warn({ id: peer.memberId, err: String(e) }, "receipt not stored"));
        return;
      }
      case "subtitles":
      case "poster":
      case "videos":
      case "play":
      case "control":
        this.video.handle(peer, msg);
        return;
      case "quit":
        return; // the connection handles quit before the hub sees it
    }
  }

  /** The envelope as compact JSON, after checking its size against maxEnvelope. */
  private envelopeJson(raw: RawMessage): string {
    const env = raw.env;
    if (typeof env !== "object" || env === null) return ""; // the schema refuses it next
    let json: string;
    try {
      json = JSON.stringify(env);
    } catch {
      // JSON.parse takes nesting deeper than JSON.stringify can recurse (found by
      // tests/fuzz/fuzz-socket.test.ts); no valid envelope is nested more than two levels.
      throw new ProtocolError("bad_request", "env is nested too deeply", false, refOf(raw));
    }
    const size = Buffer.byteLength(json);
    if (size > this.limits.maxEnvelope) {
      throw new ProtocolError(
        "too_large",
        `env is ${size} bytes, over maxEnvelope ${this.limits.maxEnvelope}`,
        false,
        refOf(raw),
      );
    }
    // v2 envelopes are flat (one ciphertext, one signature), so their limit is too.
    if ((env as { alg?: unknown }).alg === ENVELOPE_V2_ALG && size > this.limits.maxEnvelopeV2) {
      throw new ProtocolError(
        "too_large",
        `env is ${size} bytes, over maxEnvelopeV2 ${this.limits.maxEnvelopeV2}`,
        false,
        refOf(raw),
      );
    }
    return json;
  }

  /** `envJson` is `msg.env` as it arrived (validated): forwarded as is, fields this version does not know included. */
  private route(peer: MemberPeer, msg: Send, envJson: string): void {
    const from = peer.memberId;
    const room = this.rooms.get(peer.room);
    if (!room) return;
    const v2env = msg.env.alg === ENVELOPE_V2_ALG;
    if (v2env && room.vk === null) throw new ProtocolError("bad_request", "a v2 envelope in a v1 room", false, msg.mid);
    if (this.cluster?.isCutOff) {
      // Not into the void: nothing is stored while the log is out of reach, so there is no ack.
      throw new ProtocolError(
        "store_failed",
        "this core is cut off from the cluster's room log; not acknowledged, send it again when it is back",
        false,
        msg.mid,
      );
    }
    const done = this.mids.get(from, msg.mid);
    if (done !== undefined) {
      // A resend: acknowledged again, never delivered twice.
      const seq = this.seqs.get(from, msg.mid);
      peer.sendControl({
        t: "ack",
        mid: msg.mid,
        delivered: done,
        ...(isDurable(peer) && seq !== undefined ? { seq } : {}),
      });
      return;
    }
    // Away members are recipients too: in a v1 room when the sender sealed for
    // them (a key in the envelope; a v1 sender does not know of them), in a v2
    // room always (one ciphertext for all; the chain key reaches them when they
    // are back, and the session holds a message until its key arrives).
    const to =
      msg.to ??
      [...room.seats]
        .filter(
          ([id, s]) =>
            id !== from && (s.peer !== null || msg.env.alg === ENVELOPE_V2_ALG || Object.hasOwn(msg.env.keys, id)),
        )
        .map(([id]) => id);
    if (to.length > this.limits.maxRecipients) {
      throw new ProtocolError("bad_request", `more than ${this.limits.maxRecipients} recipients`, false, msg.mid);
    }
    for (const id of to) {
      if (id === from) throw new ProtocolError("bad_request", "to names the sender", false, msg.mid);
      const seat = room.seats.get(id);
      if (!seat) throw new ProtocolError("unknown_recipient", `${id} is not in this room`, false, msg.mid);
      if (msg.env.alg !== ENVELOPE_V2_ALG && !Object.hasOwn(msg.env.keys, id))
        throw new ProtocolError("unknown_recipient", `env.keys has no entry for ${id}`, false, msg.mid);
    }
    const at = this.now();
    // v2 room messages stay flat: one sent to the whole room says so with an empty `to`, not 499 ids.
    const wireTo = v2env && !msg.to ? [] : to;
    const frame = msgFrame({ t: "msg", from, mid: msg.mid, to: wireTo, at }, envJson);
    // The sender pays for its fan-out, so a flood slows the flooder rather
    // than filling its recipients' queues until they are closed.
    if (this.cluster) {
      const n = this.awaitingAck.get(peer) ?? 0;
      if (n >= this.cluster.ackPendingMax) {
        // Memory per connection stays bounded while JetStream is slow: not stored, the client sends it again.
        throw new ProtocolError(
          "store_failed",
          `${n} sends already wait for the cluster's room log (clusterAckPending); not acknowledged, send it again`,
          false,
          msg.mid,
        );
      }
    }
    if (!peer.chargeSend(frame.length, to.length, msg.mid)) return;
    this.store(peer, room.name, msg.mid, to, wireTo, envJson, at, frame);
  }

  /**
   * Appends to the room log, then (in log order: appends settle in the order
   * they were made) hands the message to the recipients online and acks: an
   * ack means stored. A store error is a non-fatal error instead of the ack.
   */
  private store(
    peer: MemberPeer,
    roomName: string,
    mid: string,
    to: string[],
    wireTo: string[],
    envJson: string,
    at: number,
    v1Frame: Buffer,
  ): void {
    const from = peer.memberId;
    if (this.cluster) this.awaitingAck.set(peer, (this.awaitingAck.get(peer) ?? 0) + 1);
    const settled = () => {
      if (this.cluster) this.awaitingAck.set(peer, (this.awaitingAck.get(peer) ?? 1) - 1);
    };
    this.durable.store.append(roomName, { from, mid, to, env: envJson, at }).then(
      (r) => {
        settled();
        if (r.duplicate) {
          // In a cluster the first copy may have come through a core that died before its note: read up to it.
          this.cluster?.seen(roomName, r.seq);
          // Stored before a restart (the mid caches are empty again): ack, no delivery.
          peer.sendControl({
            t: "ack",
            mid,
            delivered: this.mids.get(from, mid) ?? 0,
            ...(isDurable(peer) ? { seq: r.seq } : {}),
          });
          return;
        }
        const entry: StoredEntry = { from, mid, to, env: envJson, at, seq: r.seq };
        // v2 room messages without `to` go out flat (to []), also when delivered through the cluster's order
        if (wireTo !== to) this.wireTo.set(entry, wireTo);
        let delivered: number;
        if (this.cluster) {
          // In seq order with what other cores stored; handed to recipients online on any core.
          this.cluster.appended(roomName, entry);
          const room = this.rooms.get(roomName);
          delivered = room
            ? to.filter((id) => {
                const s = room.seats.get(id);
                return s !== undefined && this.isOnline(roomName, id, s);
              }).length
            : 0;
        } else {
          delivered = this.deliverLocal(roomName, entry, v1Frame);
        }
        this.mids.record(from, mid, delivered);
        this.seqs.record(from, mid, r.seq);
        peer.sendControl({ t: "ack", mid, delivered, ...(isDurable(peer) ? { seq: r.seq } : {}) });
        this.log.debug(
          { room: roomName, from, mid, seq: r.seq, recipients: to.length, online: delivered },
          "stored and routed",
        );
      },
      (e) => {
        settled();
        const code = e instanceof StoreError && e.code === "store_full" ? "store_full" : "store_failed";
        this.log.warn({ room: roomName, from, mid, err: String(e) }, "message not stored");
        peer.sendControl({
          t: "error",
          code,
          message:
            e instanceof StoreError
              ? `${e.message}; not acknowledged, send it again later`
              : "the room log failed; send it again later",
          ref: mid,
          fatal: false,
        });
      },
    );
  }

  /**
   * A key distribution for a member without a connection here, into the room
   * log: replayed as `keys` before the messages it opens when an away member
   * resumes; in a cluster delivered by the core it is connected to, in log
   * order (the sender sends the key before the message, so it is appended
   * first). Not acknowledged to the sender: a store error is logged, and that
   * member's copy shows "no key yet".
   */
  private stashKeys(peer: MemberPeer, roomName: string, e: AppendEntry): void {
    this.durable.store.append(roomName, e).then(
      (r) => {
        if (r.duplicate) return;
        const entry: StoredEntry = { ...e, seq: r.seq };
        // Back meanwhile (its replay may already be past this seq): handed over live too.
        if (this.cluster) this.cluster.appended(roomName, entry);
        else this.deliverLocal(roomName, entry);
      },
      (err) =>
        this.log.warn(
          { room: roomName, from: peer.memberId, to: e.to[0], err: String(err) },
          "key for an away member not stored",
        ),
    );
  }

  /** A stored entry to this core's online recipients (durable clients: held while their replay runs). */
  deliverLocal(roomName: string, e: StoredEntry, v1Frame?: Buffer): number {
    const room = this.rooms.get(roomName);
    if (!room) return 0;
    let dFrame: Buffer | null = null;
    // A key entry is `keys` for every client (only v2 clients are in a v2 room).
    let v1: Buffer | null = v1Frame ?? (isKeyEntry(e) ? keyEntryFrame(e) : null);
    let delivered = 0;
    for (const id of e.to) {
      const p = room.seats.get(id)?.peer;
      if (!p) continue;
      if (isDurable(p)) {
        dFrame ??= durableMsgFrame({ ...e, to: this.wireTo.get(e) ?? e.to });
        if (!this.durable.hold(p, e.seq, dFrame)) p.sendFrame(dFrame);
      } else {
        v1 ??= msgFrame({ t: "msg", from: e.from, mid: e.mid, to: [...e.to], at: e.at }, e.env);
        p.sendFrame(v1);
      }
      delivered++;
    }
    return delivered;
  }

  // ---- a cluster's other cores (server/cluster/crossCore.ts HubSide) ----------------

  /** Online on another core: seated here without a connection; this core's members hear joined / online. */
  remoteOnline(roomName: string, r: MemberRecord): void {
    const room = this.rooms.get(roomName);
    if (!room) return;
    const seat = room.seats.get(r.id);
    if (seat?.peer) return; // connected here too: whichever connection closes goes away, the other stays
    const member: Member = {
      id: r.id,
      name: r.name,
      encKey: r.encKey,
      sigKey: r.sigKey,
      encKeySig: r.encKeySig,
      ...(r.agent !== undefined ? { agent: r.agent } : {}),
      since: r.joinedAt,
      // As the member's own core checked and stored them; every client checks them again (docs/security.md).
      ...(r.v2 !== undefined && room.vk !== null ? { v2: r.v2 } : {}),
    };
    const owner = room.nameOwner(member.name);
    if (owner !== undefined && owner !== r.id && !room.seats.get(owner)?.peer) this.expired(roomName, owner, "closed");
    room.seat(member, null, this.now());
    this.durable.keep(roomName, r.id);
    if (!seat) {
      this.broadcast(room, { t: "joined", member }, r.id);
    } else {
      const p = seat.member;
      const same =
        p.name === member.name &&
        p.agent === member.agent &&
        p.encKey === member.encKey &&
        p.v2?.dh2 === member.v2?.dh2;
      this.tell(
        room,
        r.id,
        { t: "joined", member },
        same ? { t: "presence", id: r.id, state: "online" } : { t: "joined", member },
      );
    }
  }

  /** A receipt on another core counted a message whose sender may be connected here. */
  remoteDelivered(roomName: string, n: SenderNote): void {
    const p = this.rooms.get(roomName)?.seats.get(n.from)?.peer;
    if (p) this.durable.tellSender(p, n);
  }

  /** Its last connection anywhere closed: v1 clients hear it left, durable ones that it is away. */
  remoteAway(roomName: string, id: string): void {
    const room = this.rooms.get(roomName);
    const seat = room?.seats.get(id);
    if (!room || !seat || seat.peer) return;
    seat.awaySince = this.now();
    this.durable.wentAway(roomName, id);
    this.tell(room, id, { t: "left", id, reason: "closed" }, { t: "presence", id, state: "away" });
  }

  /** It quit on another core. */
  remoteLeft(roomName: string, id: string): void {
    const room = this.rooms.get(roomName);
    if (!room || !room.unseat(id, null)) return;
    this.durable.keep(roomName, id);
    this.broadcast(room, { t: "left", id, reason: "quit" });
    this.dropIfIdle(room);
  }

  /** Cut off from NATS (or back): every member here is told; sends are refused meanwhile (route). */
  cutOff(down: boolean): void {
    const msg: ServerMessage = down
      ? {
          t: "error",
          code: "store_failed",
          message: "this core is cut off from the cluster: messages are not accepted until it is back",
          ref: "cluster",
          fatal: false,
        }
      : {
          t: "error",
          code: "store_failed",
          message: "this core is back in the cluster: messages are accepted again; resend what was refused",
          ref: "cluster",
          fatal: false,
        };
    const frame = controlFrame(msg);
    for (const room of this.rooms.values()) for (const seat of room.seats.values()) seat.peer?.sendFrame(frame);
  }

  private broadcast(room: Room, msg: ServerMessage, except?: string): void {
    const frame = controlFrame(msg);
    for (const [id, seat] of room.seats) if (id !== except) seat.peer?.sendFrame(frame);
  }
}
