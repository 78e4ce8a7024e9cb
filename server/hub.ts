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
import type { VerifiedHello } from "./handshake";
import { routeKeys } from "./keyRouting";
import type { Logger } from "./log";
import type { MemberPeer, Peer } from "./peer";
import { SendBudgets, type TokenBucket } from "./ratelimit";
import { Room } from "./room";
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
}

export class Hub {
  private rooms = new Map<string, Room>();
  private mids: MidCache;
  private budgets: SendBudgets;

  constructor(
    private readonly limits: Limits,
    private readonly video: VideoService,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
    /** Room id -> verification key of v2 rooms (a durable store may stand behind it). */
    private readonly v2rooms: V2RoomRegistry = new MemoryV2Rooms(limits.maxV2Rooms),
  ) {
    this.mids = new MidCache(limits.dedupePerMember, limits.dedupeMembers);
    this.budgets = new SendBudgets(limits, limits.dedupeMembers);
  }

  /** A member's send buckets, the same for each of its connections (server/ratelimit.ts). */
  sendBucketsOf(id: string): readonly TokenBucket[] {
    return this.budgets.of(id, this.now());
  }

  get roomCount(): number {
    return this.rooms.size;
  }

  /** Seats a verified member; throws a fatal ProtocolError when the room refuses. */
  join(peer: MemberPeer, { hello, id, v2 }: VerifiedHello): void {
    const room = this.rooms.get(hello.room) ?? new Room(hello.room, this.v2VersionCheck(hello.room, v2?.vk));
    if ((room.vk !== null) !== (v2 !== undefined)) this.versionMismatch(room.vk !== null);
    const owner = room.nameOwner(hello.name);
    if (owner !== undefined && owner !== id) {
      throw new ProtocolError("name_taken", `the name '${hello.name}' is taken in this room`, true, "hello");
    }
    const previous = room.seats.get(id);
    if (!previous && room.size >= this.limits.maxMembersPerRoom) {
      throw new ProtocolError("room_full", `room is full (${this.limits.maxMembersPerRoom} members)`, true, "hello");
    }
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

    if (previous) {
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
    peer.sendControl({
      t: "welcome",
      id,
      room: room.name,
      members: room.members(),
      limits: { maxFrame: this.limits.maxFrame, maxEnvelope: this.limits.maxEnvelope, maxRecipients: this.limits.maxRecipients },
      stream: this.video.roomStream(room.name),
    });
    this.video.join(peer);
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
    if (!room || !room.unseat(peer.memberId, peer)) return;
    this.video.leave(peer);
    this.broadcast(room, { t: "left", id: peer.memberId, reason });
    this.log.info({ room: room.name, id: peer.memberId, reason, members: room.size }, "member left");
    if (room.size === 0) {
      this.rooms.delete(room.name);
      this.video.roomEmpty(room.name);
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
    const done = this.mids.get(from, msg.mid);
    if (done !== undefined) {
      peer.sendControl({ t: "ack", mid: msg.mid, delivered: done });
      return;
    }
    const room = this.rooms.get(peer.room);
    if (!room) return;
    const v2env = msg.env.alg === ENVELOPE_V2_ALG;
    if (v2env && room.vk === null) throw new ProtocolError("bad_request", "a v2 envelope in a v1 room", false, msg.mid);
    const to = msg.to ?? [...room.seats.keys()].filter((id) => id !== from);
    if (to.length > this.limits.maxRecipients) {
      throw new ProtocolError("bad_request", `more than ${this.limits.maxRecipients} recipients`, false, msg.mid);
    }
    const targets: MemberPeer[] = [];
    for (const id of to) {
      if (id === from) throw new ProtocolError("bad_request", "to names the sender", false, msg.mid);
      const seat = room.seats.get(id);
      if (!seat) throw new ProtocolError("unknown_recipient", `${id} is not in this room`, false, msg.mid);
      if (msg.env.alg !== ENVELOPE_V2_ALG && !Object.hasOwn(msg.env.keys, id)) throw new ProtocolError("unknown_recipient", `env.keys has no entry for ${id}`, false, msg.mid);
      targets.push(seat.peer);
    }
    // v2 room messages stay flat: one sent to the whole room says so with an empty `to`, not 499 ids.
    const frame = msgFrame({ t: "msg", from, mid: msg.mid, to: v2env && !msg.to ? [] : to, at: this.now() }, envJson);
    // The sender pays for its fan-out, so a flood slows the flooder rather
    // than filling its recipients' queues until they are closed.
    if (!peer.chargeSend(frame.length, targets.length, msg.mid)) return;
    for (const t of targets) t.sendFrame(frame);
    this.mids.record(from, msg.mid, targets.length);
    peer.sendControl({ t: "ack", mid: msg.mid, delivered: targets.length });
    this.log.debug({ room: room.name, from, mid: msg.mid, recipients: targets.length, bytes: frame.length }, "routed");
  }

  private broadcast(room: Room, msg: ServerMessage, except?: string): void {
    const frame = controlFrame(msg);
    for (const [id, seat] of room.seats) if (id !== except) seat.peer.sendFrame(frame);
  }
}
