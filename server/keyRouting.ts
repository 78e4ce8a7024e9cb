// v2 key distributions (docs/protocol.md section 12): each chain key wrapped
// for one member is delivered to that member alone, like a direct message; one
// for a member with no connection here (away, or in a cluster online on
// another core) is kept in the room log for it, replayed with the messages
// when it resumes, and delivered by its own core in log order. The core checks
// only who sends and who receives; it cannot open them.

import { ProtocolError } from "../protocol/errors";
import { DISTRIBUTION_ALG } from "../protocol/e2e/algs";
import type { KeyDistribution } from "../protocol/e2e/distribution";
import type { ClientMessageOf } from "../protocol/messages";
import type { MemberPeer } from "./ports";
import type { Room } from "./room";
import type { AppendEntry, StoredEntry } from "./store/roomStore";
import { controlFrame } from "./wire";

/** What the hub does with a distribution for a member without a connection here: append it to the room log for that member. */
export type StashKeys = (entry: AppendEntry) => void;

/**
 * Routes each distribution to its `to`: connected here, at once; seated
 * without a connection here (away, or connected to another core of a
 * cluster, which delivers it from the log), into the log; a member gone
 * meanwhile, or not a v2 member, is skipped. Returns how many were routed.
 */
export function routeKeys(
  room: Room,
  peer: MemberPeer,
  msg: ClientMessageOf<"keys">,
  now: number,
  stashKeys: StashKeys,
): number {
  if (room.vk === null) throw new ProtocolError("bad_request", "keys: this is a v1 room", false, "keys");
  const from = peer.memberId;
  const out: Array<{ peer: MemberPeer; frame: Buffer }> = [];
  const stash: AppendEntry[] = [];
  for (const dist of msg.dists) {
    if (dist.from !== from)
      throw new ProtocolError("bad_request", "keys: a distribution from another member", false, "keys");
    if (dist.room !== room.name)
      throw new ProtocolError("bad_request", "keys: a distribution for another room", false, "keys");
    if (dist.to === from) throw new ProtocolError("bad_request", "keys: a distribution to the sender", false, "keys");
    const seat = room.seats.get(dist.to);
    if (!seat || !seat.member.v2) continue;
    if (seat.peer) out.push({ peer: seat.peer, frame: controlFrame({ t: "keys", dist, at: now }) });
    else stash.push(keyEntry(dist, now));
  }
  const n = out.length + stash.length;
  const bytes = out.reduce((b, o) => b + o.frame.length, 0) + stash.reduce((b, e) => b + e.env.length + 40, 0);
  // Charged as one fan-out of the average frame, so a rotation flood slows the flooder.
  if (n > 0 && !peer.chargeSend(Math.ceil(bytes / n), n, "keys")) return 0;
  for (const o of out) o.peer.sendFrame(o.frame);
  for (const e of stash) stashKeys(e);
  return n;
}

/**
 * A distribution as a log entry for its one recipient. Its `env` is the
 * distribution's JSON, whose alg no `send` envelope can have (messages.ts
 * AnyEnvelope), so an entry is a key entry by its env alone. The mid is unique
 * per wrap (eph is fresh each time) and fits the store's 64 characters.
 */
export function keyEntry(dist: KeyDistribution, at: number): AppendEntry {
  const mid = `k.${dist.epoch}.${dist.to}.${dist.eph.slice(0, 16)}`;
  // alg first, whatever order the fields arrived in: isKeyEntry reads the prefix.
  const { alg, ...rest } = dist;
  return { from: dist.from, mid, to: [dist.to], env: JSON.stringify({ alg, ...rest }), at };
}

const KEY_ENV_PREFIX = `{"alg":"${DISTRIBUTION_ALG}"`;

export function isKeyEntry(e: Pick<StoredEntry, "env">): boolean {
  return e.env.startsWith(KEY_ENV_PREFIX);
}

/** The `keys` frame a stored key entry is replayed as. */
export function keyEntryFrame(e: StoredEntry): Buffer {
  return controlFrame({ t: "keys", dist: JSON.parse(e.env) as KeyDistribution, at: e.at });
}
