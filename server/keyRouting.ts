// v2 key distributions (docs/protocol.md section 12): each chain key wrapped
// for one member is delivered to that member alone, like a direct message.
// The core checks only who sends and who receives; it cannot open them.

import { ProtocolError } from "../protocol/errors";
import type { ClientMessageOf } from "../protocol/messages";
import type { MemberPeer } from "./ports";
import type { Room } from "./room";
import { controlFrame } from "./wire";

/** Routes each distribution to its `to`; returns how many were delivered (a member gone meanwhile is skipped). */
export function routeKeys(room: Room, peer: MemberPeer, msg: ClientMessageOf<"keys">, now: number): number {
  if (room.vk === null) throw new ProtocolError("bad_request", "keys: this is a v1 room", false, "keys");
  const from = peer.memberId;
  const out: Array<{ peer: MemberPeer; frame: Buffer }> = [];
  for (const dist of msg.dists) {
    if (dist.from !== from)
      throw new ProtocolError("bad_request", "keys: a distribution from another member", false, "keys");
    if (dist.room !== room.name)
      throw new ProtocolError("bad_request", "keys: a distribution for another room", false, "keys");
    if (dist.to === from) throw new ProtocolError("bad_request", "keys: a distribution to the sender", false, "keys");
    const seat = room.seats.get(dist.to);
    // An away member (no connection) has no agreement key to wrap for: skipped.
    if (!seat || !seat.member.v2 || !seat.peer) continue;
    out.push({ peer: seat.peer, frame: controlFrame({ t: "keys", dist, at: now }) });
  }
  const bytes = out.reduce((n, o) => n + o.frame.length, 0);
  // Charged as one fan-out of the average frame, so a rotation flood slows the flooder.
  if (out.length > 0 && !peer.chargeSend(Math.ceil(bytes / out.length), out.length, "keys")) return 0;
  for (const o of out) o.peer.sendFrame(o.frame);
  return out.length;
}
