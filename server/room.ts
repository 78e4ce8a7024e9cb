// One room's membership: who is in it, under which name, on which connection.
// No I/O: the hub decides what to tell whom.

import type { Member } from "../protocol/messages";
import { nameKey } from "../protocol/names";
import type { MemberPeer } from "./peer";

export interface Seat {
  member: Member;
  peer: MemberPeer;
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
  seat(member: Member, peer: MemberPeer): Seat | undefined {
    const old = this.seats.get(member.id);
    if (old) this.names.delete(nameKey(old.member.name));
    this.seats.set(member.id, { member, peer });
    this.names.set(nameKey(member.name), member.id);
    return old;
  }

  /** Removes the member if `peer` is still its connection. */
  unseat(id: string, peer: MemberPeer): boolean {
    const s = this.seats.get(id);
    if (!s || s.peer !== peer) return false;
    this.seats.delete(id);
    this.names.delete(nameKey(s.member.name));
    return true;
  }

  members(): Member[] {
    return [...this.seats.values()].map((s) => s.member);
  }
}
