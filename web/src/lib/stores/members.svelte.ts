// Who is in the room, for the member list and for addressing: the verified
// entries the session keeps, sorted (self first, then by arrival), the names
// of everyone seen so far, and the members selected to write to.

import { SvelteSet } from "svelte/reactivity";
import { agentName, compareMembers, displayName } from "../../../../protocol/describe";
import type { ClientSession, MemberEntry } from "../../../../protocol/session";

export interface MemberView {
  id: string;
  name: string;
  agent: string;
  sigKey: string;
  safety: string;
  since: number;
  self: boolean;
  verified: boolean;
  /** v2 rooms: why the room link did not admit this member (never given a key); null when admitted or in a v1 room. */
  notAdmitted: string | null;
  /** Cap durable: still a member without a connection (messages are kept for it). */
  away: boolean;
}

/** The part of the session this store listens to and reads. */
export type MembersSession = Pick<ClientSession, "on" | "members" | "selfId">;

export class MembersStore {
  readonly selfId: string;
  members = $state<MemberView[]>([]);
  selected = new SvelteSet<string>();
  /** Everyone seen in this session, gone or not, so old messages keep their sender's name. */
  private names = new Map<string, string>();

  constructor(session: MembersSession) {
    this.selfId = session.selfId;
    session.on("welcome", (w) => this.setMembers(w.members));
    session.on("joined", () => this.setMembers(session.members.values()));
    session.on("left", () => this.setMembers(session.members.values()));
    session.on("presence", () => this.setMembers(session.members.values()));
  }

  nameOf(id: string): string {
    if (id === this.selfId) return "you";
    return displayName(this.names.get(id), id);
  }

  get others(): MemberView[] {
    return this.members.filter((m) => !m.self);
  }

  toggleSelected(id: string): void {
    if (this.selected.has(id)) this.selected.delete(id);
    else this.selected.add(id);
  }

  clearSelection(): void {
    this.selected.clear();
  }

  private setMembers(entries: Iterable<MemberEntry>): void {
    const list: MemberView[] = [];
    for (const e of entries) {
      this.names.set(e.member.id, e.member.name);
      list.push(toView(e));
    }
    list.sort(compareMembers);
    this.members = list;
    // Someone selected who is gone can no longer be written to.
    for (const id of [...this.selected]) if (!list.some((m) => m.id === id && !m.self)) this.selected.delete(id);
  }
}

function toView(e: MemberEntry): MemberView {
  return {
    id: e.member.id,
    name: e.member.name,
    agent: agentName(e.member.agent),
    sigKey: e.member.sigKey,
    safety: e.safetyCode,
    since: e.member.since,
    self: e.self,
    verified: e.verified,
    notAdmitted: e.admission?.ok === false ? e.admission.reason : null,
    away: e.member.presence === "away",
  };
}
