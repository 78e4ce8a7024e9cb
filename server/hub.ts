// Room logic: presence, replacement, and routing of end-to-end encrypted
// messages (docs/protocol.md sections 2, 4 and 9). Transport-free: it talks to
// connections only through MemberPeer, so it is testable with plain objects.

import type { RawMessage } from "../protocol/codec";
import { knownCaps } from "../protocol/caps";
import { parseClientMessage, refOf } from "../protocol/codec";
import { ProtocolError } from "../protocol/errors";
import type { Limits } from "../protocol/limits";
import type { ClientMessageOf, LeftReason, Member, Send, ServerMessage, StreamInfo } from "../protocol/messages";
import { MidCache } from "./dedupe";
import { MemoryV2Rooms, type V2RoomRegistry } from "./admission";
import { Durable, durableMsgFrame, isDurable } from "./delivery";
import type { VerifiedHello } from "./handshake";
import { routeKeys } from "./keyRouting";
import type { Logger } from "./log";
import type { MemberPeer, Peer } from "./peer";
import { SendBudgets, type TokenBucket } from "./ratelimit";
import { Room } from "./room";
import { MemoryStore } from "./store/memoryStore";
import { effectiveAwayGraceMs, storeLimits } from "./store/limits";
import { StoreError, type RoomStore } from "./store/roomStore";
import { controlFrame, msgFrame } from "./wire";
import { ENVELOPE_V2_ALG } from "../protocol/e2e/algs";

/** The video side, as the hub sees it (server/video/streams.ts). */
export interface VideoService {
  roomStream(room: string): StreamInfo | null;
  /** After `welcome`: a late joiner starts receiving the room's stream. */
  join(peer: Peer): void;
  /** The connection is gone or replaced: end its self stream, stop sending. */
  leave(peer: Peer): void;
  roomEmpty(room: string): void;
  handle(peer: Peer, msg: ClientMessageOf<"videos" | "play" | "control" | "subtitles" | "poster">): void;
  close(): void;
  /** A room just loaded from the store after a restart (server/streamState.ts restores its stream). */
  load?(room: string): Promise<void>;
}

export class Hub {
  private rooms = new Map<string, Room>();
  private mids: MidCache;
  /** The seq of each remembered mid, for the ack of a resend to a durable client. */
  private seqs: MidCache;
  private budgets: SendBudgets;
  /** The room log and what needs it (server/delivery.ts). */
  readonly durable: Durable;

  constructor(
    private readonly limits: Limits,
    private readonly video: VideoService,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    store?: RoomStore,
    /** Room id -> verification key of v2 rooms (a durable store may stand behind it). */
    private readonly v2rooms: V2RoomRegistry = new MemoryV2Rooms(limits.maxV2Rooms),
  ) {
    this.mids = new MidCache(limits.dedupePerMember, limits.dedupeMembers);
    this.seqs = new MidCache(limits.dedupePerMember, limits.dedupeMembers);
    this.budgets = new SendBudgets(limits, limits.dedupeMembers);
    const st = store ?? new MemoryStore();
    const grace = "limits" in st ? effectiveAwayGraceMs((st as { limits: ReturnType<typeof storeLimits> }).limits) : effectiveAwayGraceMs(storeLimits());
    this.durable = new Durable({ store: st, log, now, awayGraceMs: grace, expired: (room, id) => this.expired(room, id) });
    // Online members' lastSeen is refreshed, so a restart does not expire someone who was here all along.
    setInterval(() => {
      for (const room of this.rooms.values()) for (const [id, seat] of room.seats) if (seat.peer) this.durable.wentAway(room.name, id, false);
    }, Math.max(1_000, Math.min(3_600_000, Math.floor(grace / 4)))).unref();
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
    // A v2 room's key is known from the registry or from this hello (its id is bound to the key).
    const vk = this.v2VersionCheck(hello.room, v2?.vk);
    let room = this.rooms.get(hello.room);
    if (!room) {
      // Not in memory: after a restart its members (all away) and stream come back from the store.
      const loaded = await this.durable.loadRoom(hello.room, vk);
      await this.video.load?.(hello.room);
      if (peer.isClosed) return;
      room = this.rooms.get(hello.room) ?? loaded;
      this.rooms.set(room.name, room);
    }
    if ((room.vk !== null) !== (v2 !== undefined)) this.versionMismatch(room.vk !== null);
    const owner = room.nameOwner(hello.name);
    if (owner !== undefined && owner !== id) {
      // An away member's name goes to whoever claims it while it is away (it is removed).
      if (room.seats.get(owner)?.peer) throw new ProtocolError("name_taken", `the name '${hello.name}' is taken in this room`, true, "hello");
      this.expired(room.name, owner, "closed");
    }
    if (!room.seats.has(id) && room.size >= this.limits.maxMembersPerRoom) {
      const away = room.longestAway();
      if (away === undefined) throw new ProtocolError("room_full", `room is full (${this.limits.maxMembersPerRoom} members)`, true, "hello");
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

    if (previous && !previous.peer) {
      // Back from away: v1 clients were told it left; durable ones that it is away.
      const p = previous.member;
      const same = p.name === member.name && p.agent === member.agent && p.encKey === member.encKey;
      this.tell(room, id, { t: "joined", member }, same ? { t: "presence", id, state: "online" } : { t: "joined", member });
      this.log.info({ room: room.name, id }, "member is back");
    } else if (previous?.peer) {
      this.video.leave(previous.peer);
      previous.peer.fail("replaced", "this member connected again elsewhere");
      const p = previous.member;
      if (p.name !== member.name || p.agent !== member.agent || p.encKey !== member.encKey || p.v2?.dh2 !== member.v2?.dh2) {
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
      members: durable ? [...room.seats.values()].map((s) => (s.peer ? s.member : { ...s.member, presence: "away" as const })) : room.onlineMembers(),
      limits: { maxFrame: this.limits.maxFrame, maxEnvelope: this.limits.maxEnvelope, maxRecipients: this.limits.maxRecipients },
      stream: this.video.roomStream(room.name),
    });
    this.video.join(peer);
    // Not awaited: the connection reads on (pings, sends) while the replay is paced by its queue.
    if (durable) void this.durable.resume(peer, hello.resume);
  }

  /**
   * The verification key a new room gets: a room id known as v2 stays v2 (a
   * v1 hello there is refused), and a v2 hello makes it v2. Null: a v1 room.
   */
  private v2VersionCheck(room: string, vk: string | undefined): string | null {
    const known = this.v2rooms.get(room);
    if (known !== undefined) {
      if (vk === undefined) this.versionMismatch(true);
      // roomIdFor binds the id to one key: another key cannot pass admission.
      return known;
    }
    if (vk === undefined) return null;
    this.v2rooms.remember(room, vk);
    return vk;
  }

  private versionMismatch(roomIsV2: boolean): never {
    throw new ProtocolError(
      "version",
      roomIsV2
        ? "this room is end-to-end v2: it opens only from its room link (https://host/r/ROOM#SECRET) in a client that speaks protocol v2"
        : "this room was created without a room link (protocol v1): a v2 client cannot join it with a secret",
      true,
      "hello",
    );
  }

  /** The connection of a seated member ended. */
  leave(peer: MemberPeer, reason: LeftReason): void {
    const room = this.rooms.get(peer.room);
    if (!room) return;
    const id = peer.memberId;
    if (reason === "quit") {
      if (!room.unseat(id, peer)) return;
      this.durable.left(room.name, id);
      this.broadcast(room, { t: "left", id, reason });
      this.log.info({ room: room.name, id, reason, members: room.size }, "member left");
    } else {
      // Membership outlives the connection: away until it returns, quits or the grace ends.
      if (!room.away(id, peer, this.now())) return;
      this.durable.wentAway(room.name, id);
      this.tell(room, id, { t: "left", id, reason }, { t: "presence", id, state: "away" });
      this.log.info({ room: room.name, id, reason, online: room.onlineCount }, "member away");
    }
    this.video.leave(peer);
    if (room.onlineCount === 0) this.video.roomEmpty(room.name);
    if (room.size === 0) this.rooms.delete(room.name);
  }

  /** An away member is no longer one (grace over, name or seat taken): durable clients hear it left. */
  private expired(roomName: string, id: string, reason: LeftReason = "timeout"): void {
    const room = this.rooms.get(roomName);
    if (!room || !room.unseat(id, null)) return;
    this.durable.left(roomName, id);
    this.tell(room, id, null, { t: "left", id, reason });
    this.log.info({ room: roomName, id, reason }, "away member removed");
    if (room.size === 0) this.rooms.delete(roomName);
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
        peer.sendControl({ t: "pong", ts: msg.ts });
        return;
      case "pong":
        return;
      case "send":
        this.route(peer, msg, envJson);
        return;
      case "keys": {
        const room = this.rooms.get(peer.room);
        if (room) routeKeys(room, peer, msg, this.now());
        return;
      }
      case "receipt": {
        if (!isDurable(peer)) throw new ProtocolError("bad_request", "receipt needs the durable capability", false, "receipt");
        const room = this.rooms.get(peer.room);
        void this.durable
          .receipts(peer, msg.seqs, (from) => room?.seats.get(from)?.peer ?? null)
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
      throw new ProtocolError("too_large", `env is ${size} bytes, over maxEnvelope ${this.limits.maxEnvelope}`, false, refOf(raw));
    }
    // v2 envelopes are flat (one ciphertext, one signature), so their limit is too.
    if ((env as { alg?: unknown }).alg === ENVELOPE_V2_ALG && size > this.limits.maxEnvelopeV2) {
      throw new ProtocolError("too_large", `env is ${size} bytes, over maxEnvelopeV2 ${this.limits.maxEnvelopeV2}`, false, refOf(raw));
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
    const done = this.mids.get(from, msg.mid);
    if (done !== undefined) {
      // A resend: acknowledged again, never delivered twice.
      const seq = this.seqs.get(from, msg.mid);
      peer.sendControl({ t: "ack", mid: msg.mid, delivered: done, ...(isDurable(peer) && seq !== undefined ? { seq } : {}) });
      return;
    }
    // Away members are recipients too when the sender sealed for them (a key in
    // a v1 envelope; a v1 sender does not know of them). Not in a v2 room: its
    // chain keys go to a connection's fresh key, so a member away could not read it.
    const to =
      msg.to ??
      [...room.seats]
        .filter(([id, s]) => id !== from && (s.peer !== null || (msg.env.alg !== ENVELOPE_V2_ALG && Object.hasOwn(msg.env.keys, id))))
        .map(([id]) => id);
    if (to.length > this.limits.maxRecipients) {
      throw new ProtocolError("bad_request", `more than ${this.limits.maxRecipients} recipients`, false, msg.mid);
    }
    for (const id of to) {
      if (id === from) throw new ProtocolError("bad_request", "to names the sender", false, msg.mid);
      const seat = room.seats.get(id);
      if (!seat) throw new ProtocolError("unknown_recipient", `${id} is not in this room`, false, msg.mid);
      if (msg.env.alg !== ENVELOPE_V2_ALG && !Object.hasOwn(msg.env.keys, id)) throw new ProtocolError("unknown_recipient", `env.keys has no entry for ${id}`, false, msg.mid);
    }
    const at = this.now();
    // v2 room messages stay flat: one sent to the whole room says so with an empty `to`, not 499 ids.
    const wireTo = v2env && !msg.to ? [] : to;
    const frame = msgFrame({ t: "msg", from, mid: msg.mid, to: wireTo, at }, envJson);
    // The sender pays for its fan-out, so a flood slows the flooder rather
    // than filling its recipients' queues until they are closed.
    if (!peer.chargeSend(frame.length, to.length, msg.mid)) return;
    this.store(peer, room.name, msg.mid, to, wireTo, envJson, at, frame);
  }

  /**
   * Appends to the room log, then (in log order: appends settle in the order
   * they were made) hands the message to the recipients online and acks: an
   * ack means stored. A store error is a non-fatal error instead of the ack.
   */
  private store(peer: MemberPeer, roomName: string, mid: string, to: string[], wireTo: string[], envJson: string, at: number, v1Frame: Buffer): void {
    const from = peer.memberId;
    this.durable.store.append(roomName, { from, mid, to, env: envJson, at }).then(
      (r) => {
        if (r.duplicate) {
          // Stored before a restart (the mid caches are empty again): ack, no delivery.
          peer.sendControl({ t: "ack", mid, delivered: this.mids.get(from, mid) ?? 0, ...(isDurable(peer) ? { seq: r.seq } : {}) });
          return;
        }
        const room = this.rooms.get(roomName);
        let dFrame: Buffer | null = null;
        let delivered = 0;
        for (const id of to) {
          const p = room?.seats.get(id)?.peer;
          if (!p) continue;
          if (isDurable(p)) {
            dFrame ??= durableMsgFrame({ from, mid, to: wireTo, env: envJson, at, seq: r.seq });
            if (!this.durable.hold(p, r.seq, dFrame)) p.sendFrame(dFrame);
          } else {
            p.sendFrame(v1Frame);
          }
          delivered++;
        }
        this.mids.record(from, mid, delivered);
        this.seqs.record(from, mid, r.seq);
        peer.sendControl({ t: "ack", mid, delivered, ...(isDurable(peer) ? { seq: r.seq } : {}) });
        this.log.debug({ room: roomName, from, mid, seq: r.seq, recipients: to.length, online: delivered }, "stored and routed");
      },
      (e) => {
        const code = e instanceof StoreError && e.code === "store_full" ? "store_full" : "store_failed";
        this.log.warn({ room: roomName, from, mid, err: String(e) }, "message not stored");
        peer.sendControl({ t: "error", code, message: e instanceof StoreError ? `${e.message}; not acknowledged, send it again later` : "the room log failed; send it again later", ref: mid, fatal: false });
      },
    );
  }

  private broadcast(room: Room, msg: ServerMessage, except?: string): void {
    const frame = controlFrame(msg);
    for (const [id, seat] of room.seats) if (id !== except) seat.peer?.sendFrame(frame);
  }
}
