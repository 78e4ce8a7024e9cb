// One room's membership: who is in it, under which name, on which connection.
// No I/O: the hub decides what to tell whom.

import type { Member } from "../protocol/messages";
import { nameKey } from "../protocol/names";
import type { MemberPeer } from "./ports";

export interface Seat {
  member: Member;
  /** Null while the member is away: still a member (messages are stored for it), no connection. */
  peer: MemberPeer | null;
  /** When the member went away (ms epoch); 0 while online. */
  awaySince: number;
}

export class Room {
  readonly seats = new Map<string, Seat>();
  private names = new Map<string, string>();

  /** v2 rooms (opened from a room link) carry their verification key; fixed at creation. */
  constructor(
    readonly name: string,
    readonly vk: string | null = null,
  ) {}

  get size(): number {
    return this.seats.size;
  }

  /** Id of the member holding this name (case-insensitively), if any. */
  nameOwner(name: string): string | undefined {
    return this.names.get(nameKey(name));
  }

  /** Adds or, for a known id, replaces; returns the seat it replaced. */
  seat(member: Member, peer: MemberPeer | null, awaySince = 0): Seat | undefined {
    const old = this.seats.get(member.id);
    if (old) this.names.delete(nameKey(old.member.name));
    this.seats.set(member.id, { member, peer, awaySince: peer ? 0 : awaySince || 1 });
    this.names.set(nameKey(member.name), member.id);
    return old;
  }

  /** Removes the member if `peer` is still its connection (null: if it is away). */
  unseat(id: string, peer: MemberPeer | null): boolean {
    const s = this.seats.get(id);
    if (!s || s.peer !== peer) return false;
    this.seats.delete(id);
    this.names.delete(nameKey(s.member.name));
    return true;
  }

  /** Keeps the seat, without its connection, if `peer` is still its connection. */
  away(id: string, peer: MemberPeer, at: number): boolean {
    const s = this.seats.get(id);
    if (!s || s.peer !== peer) return false;
    s.peer = null;
    s.awaySince = at;
    return true;
  }

  get onlineCount(): number {
    let n = 0;
    for (const s of this.seats.values()) if (s.peer) n++;
    return n;
  }

  /** The member away the longest, if any (evicted first when the room is full). */
  longestAway(): string | undefined {
    let best: Seat | undefined;
    for (const s of this.seats.values()) if (!s.peer && (!best || s.awaySince < best.awaySince)) best = s;
    return best?.member.id;
  }

  members(): Member[] {
    return [...this.seats.values()].map((s) => s.member);
  }

  /** Members with a connection (what a v1 client is told is in the room). */
  onlineMembers(): Member[] {
    return [...this.seats.values()].filter((s) => s.peer).map((s) => s.member);
  }
}
