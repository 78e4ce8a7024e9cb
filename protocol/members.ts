// Who is in the room, as this client sees it: every member the server
// announces, checked against its own keys before it may receive anything, with
// the safety code people compare out of band and the key-continuity check that
// warns when a known name comes back with another key.
//
// Browser-safe: no node: imports.

import { safetyCode, verifyMember, type Identity } from "./crypto";
import { noteKey, type KeyChange, type KeyStore } from "./keyContinuity";
import type { Member } from "./messages";

export interface MemberEntry {
  member: Member;
  /** Id is the hash of sigKey and encKey is signed by it. Unverified members never receive anything. */
  verified: boolean;
  safetyCode: string;
  self: boolean;
  /** v2 rooms only: whether the member's admission proof checked out, and why not ("not admitted by the room link"). Unadmitted members are not `verified`. */
  admission?: { ok: true } | { ok: false; reason: string };
}

/** Verifies an announced member; `self` is our own identity. */
export async function memberEntry(m: Member, self: Pick<Identity, "id" | "sigKey">): Promise<MemberEntry> {
  let verified = false;
  try {
    verified = await verifyMember(m);
  } catch {
    verified = false;
  }
  // A member with our id but another key verifies on its own, yet it is not us.
  if (verified && m.id === self.id && m.sigKey !== self.sigKey) verified = false;
  return { member: m, verified, safetyCode: safetyCode(m.id), self: m.id === self.id };
}

/**
 * Records the entry's id under its name; the change when the name had another
 * id. Unverified members and self are skipped: their ids prove nothing. Throws
 * when the store does.
 */
export async function continuityChange(store: KeyStore, room: string, e: MemberEntry): Promise<KeyChange | null> {
  if (!e.verified || e.self) return null;
  return noteKey(store, room, e.member.name, e.member.id);
}

/** The members present, by id. */
export class Members {
  private map = new Map<string, MemberEntry>();

  get view(): ReadonlyMap<string, MemberEntry> {
    return this.map;
  }

  get(id: string): MemberEntry | undefined {
    return this.map.get(id);
  }

  /**
   * Replaces everyone (a welcome). A fresh map rather than clearing the old
   * one, so a view taken before keeps what it showed.
   */
  reset(entries: readonly MemberEntry[]): void {
    this.map = new Map(entries.map((e) => [e.member.id, e]));
  }

  /** Adds or replaces; true when the id was already present. */
  add(entry: MemberEntry): boolean {
    const again = this.map.has(entry.member.id);
    this.map.set(entry.member.id, entry);
    return again;
  }

  /** Cap durable: a member's connection came or went (it stays a member). */
  setPresence(id: string, state: "online" | "away"): void {
    const e = this.map.get(id);
    if (!e) return;
    const member = { ...e.member };
    if (state === "away") member.presence = "away";
    else delete member.presence;
    this.map.set(id, { ...e, member });
  }

  /** The entry that was removed, null when the id was not present. */
  remove(id: string): MemberEntry | null {
    const entry = this.map.get(id) ?? null;
    this.map.delete(id);
    return entry;
  }

  /** Verified members present, self excluded: who may receive. */
  recipientIds(): Set<string> {
    const out = new Set<string>();
    for (const e of this.map.values()) if (e.verified && !e.self) out.add(e.member.id);
    return out;
  }

  /** True when `to` leaves out some verified member present other than the sender. */
  isDirect(from: string, to: readonly string[]): boolean {
    const toSet = new Set(to);
    for (const e of this.map.values()) {
      if (e.verified && e.member.id !== from && !toSet.has(e.member.id)) return true;
    }
    return false;
  }

  /** Throws, with a message for people, unless every id may receive a direct message. */
  checkRecipients(to: readonly string[]): void {
    if (to.length === 0) throw new Error("no recipient");
    if (new Set(to).size !== to.length) throw new Error("duplicate recipient");
    for (const id of to) {
      const e = this.map.get(id);
      if (!e) throw new Error(`${id} is not in the room`);
      if (e.self) throw new Error("cannot send a message to yourself");
      if (!e.verified) throw new Error(`${e.member.name}'s keys do not verify; not sending to them`);
    }
  }
}
