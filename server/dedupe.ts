// Remembers accepted mids per member so a resent `send` is acknowledged again
// but never delivered twice (docs/protocol.md section 4). Bounded twice: the last
// `perMember` mids of each member, and the caches of at most `members`
// members, least recently active dropped first.

export class MidCache {
  private byMember = new Map<string, Map<string, number>>();

  constructor(
    private readonly perMember: number,
    private readonly members: number,
  ) {}

  /** The delivered count recorded for this mid, or undefined if new. */
  get(memberId: string, mid: string): number | undefined {
    return this.byMember.get(memberId)?.get(mid);
  }

  record(memberId: string, mid: string, delivered: number): void {
    let mids = this.byMember.get(memberId);
    if (mids) {
      this.byMember.delete(memberId);
    } else {
      mids = new Map();
      if (this.byMember.size >= this.members) {
        const oldest = this.byMember.keys().next().value as string;
        this.byMember.delete(oldest);
      }
    }
    this.byMember.set(memberId, mids);
    mids.set(mid, delivered);
    if (mids.size > this.perMember) mids.delete(mids.keys().next().value as string);
  }

  get size(): number {
    return this.byMember.size;
  }
}
