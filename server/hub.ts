// Room logic: presence, replacement, and routing of end-to-end encrypted
// messages (PROTOCOL.md sections 2, 4 and 9). Transport-free: it talks to
// connections only through MemberPeer, so it is testable with plain objects.

import type { RawMessage } from "../protocol/codec";
import { knownCaps } from "../protocol/caps";
import { parseClientMessage, refOf } from "../protocol/codec";
import { ProtocolError } from "../protocol/errors";
import type { Limits } from "../protocol/limits";
import type { ClientMessageOf, LeftReason, Member, Send, ServerMessage, StreamInfo } from "../protocol/messages";
import { MidCache } from "./dedupe";
import type { VerifiedHello } from "./handshake";
import type { Logger } from "./log";
import type { MemberPeer, Peer } from "./peer";
import { SendBudgets, type TokenBucket } from "./ratelimit";
import { Room } from "./room";
import { controlFrame, msgFrame } from "./wire";

/** The video side, as the hub sees it (server/video/streams.ts). */
export interface VideoService {
  roomStream(room: string): StreamInfo | null;
  /** After `welcome`: a late joiner starts receiving the room's stream. */
  join(peer: Peer): void;
  /** The connection is gone or replaced: end its self stream, stop sending. */
  leave(peer: Peer): void;
  roomEmpty(room: string): void;
  handle(peer: Peer, msg: ClientMessageOf<"videos" | "play" | "control" | "audioTrack">): void;
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
  join(peer: MemberPeer, { hello, id }: VerifiedHello): void {
    const room = this.rooms.get(hello.room) ?? new Room(hello.room);
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
    };
    this.rooms.set(room.name, room);
    room.seat(member, peer);
    peer.admit(id, room.name, knownCaps(hello.caps));

    if (previous) {
      this.video.leave(previous.peer);
      previous.peer.fail("replaced", "this member connected again elsewhere");
      const p = previous.member;
      if (p.name !== member.name || p.agent !== member.agent || p.encKey !== member.encKey) {
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
    if (parsed.kind === "unknown") {
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
        peer.sendControl(peer.caps.has("clock") ? { t: "pong", ts: msg.ts, now: performance.now() } : { t: "pong", ts: msg.ts });
        return;
      case "pong":
        return;
      case "audioTrack":
        // Beyond v1: a client that did not declare "audio" gets what v1 gives an unknown type.
        if (!peer.caps.has("audio")) throw new ProtocolError("unknown_type", `unknown message type '${msg.t}'`, false, msg.t);
        this.video.handle(peer, msg);
        return;
      case "send":
        this.route(peer, msg, envJson);
        return;
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
    const to = msg.to ?? [...room.seats.keys()].filter((id) => id !== from);
    if (to.length > this.limits.maxRecipients) {
      throw new ProtocolError("bad_request", `more than ${this.limits.maxRecipients} recipients`, false, msg.mid);
    }
    const targets: MemberPeer[] = [];
    for (const id of to) {
      if (id === from) throw new ProtocolError("bad_request", "to names the sender", false, msg.mid);
      const seat = room.seats.get(id);
      if (!seat) throw new ProtocolError("unknown_recipient", `${id} is not in this room`, false, msg.mid);
      if (!Object.hasOwn(msg.env.keys, id)) throw new ProtocolError("unknown_recipient", `env.keys has no entry for ${id}`, false, msg.mid);
      targets.push(seat.peer);
    }
    const frame = msgFrame({ t: "msg", from, mid: msg.mid, to, at: this.now() }, envJson);
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
