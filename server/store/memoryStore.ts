// The memory driver of the room store (`--store memory`): the same contract as
// SQLite without a disk, for tests. Each room is bounded by the same retention
// limits; nothing survives the process. A room kept for its v2 key alone is
// about 100 bytes: each one is a v2 hello that passed admission.
//
// Just over 300 lines: one driver of the whole RoomStore port (log, receipts,
// members, streams, log ids, room keys), kept in one file like the other drivers.

import { effectiveAwayGraceMs, storeLimits, type StoreLimits } from "./limits";
import {
  checkCount,
  checkEntry,
  checkId,
  checkMember,
  checkRoom,
  checkStream,
  checkVk,
  entryBytes,
  memberRecordOf,
  newLogId,
  StoreError,
  type AppendEntry,
  type AppendResult,
  type MemberRecord,
  type ReceiptNote,
  type ReceiptResult,
  type RoomStore,
  type RoomStreamRecord,
  type SeqRange,
  type StoredEntry,
} from "./roomStore";

export interface StoreOptions {
  limits?: Partial<StoreLimits>;
  /** The clock for retentionAgeMs and awayGraceMs (a port, so tests can move time). */
  now?: () => number;
}

interface Held {
  entry: StoredEntry;
  bytes: number;
  delivered: Set<string>;
  /** The highest delivered count its sender was told (markTold). */
  told: number;
}

interface MemRoom {
  /** This process's log of the room: a restart makes a new one (protocol 2c, log id). */
  logId: string;
  last: number;
  log: Held[]; // log[head..] are retained, seq ascending and contiguous
  head: number;
  bytes: number;
  mids: Map<string, number>; // from + " " + mid -> seq
  members: Map<string, MemberRecord>;
  stream: RoomStreamRecord | null;
  /** A v2 room's verification key, set once (createRoomVk). */
  vk: string | null;
}

export class MemoryStore implements RoomStore {
  readonly limits: StoreLimits;
  private readonly now: () => number;
  private rooms = new Map<string, MemRoom>();
  private closed = false;
  private timer: NodeJS.Timeout;

  constructor(opts: StoreOptions = {}) {
    this.limits = storeLimits(opts.limits);
    this.now = opts.now ?? Date.now;
    this.timer = setInterval(() => this.sweepNow(), this.limits.sweepIntervalMs).unref();
  }

  async logId(room: string): Promise<string> {
    this.open();
    checkRoom(room);
    return this.room(room).logId;
  }

  async append(room: string, e: AppendEntry): Promise<AppendResult> {
    this.open();
    checkEntry(room, e);
    const r = this.room(room);
    this.expire(r);
    const key = `${e.from} ${e.mid}`;
    const had = r.mids.get(key);
    if (had !== undefined) return { seq: had, duplicate: true };
    const entry: StoredEntry = Object.freeze({
      seq: ++r.last,
      from: e.from,
      mid: e.mid,
      to: Object.freeze([...e.to]),
      env: e.env,
      at: e.at,
    });
    const bytes = entryBytes(e);
    r.log.push({ entry, bytes, delivered: new Set(), told: 0 });
    r.bytes += bytes;
    r.mids.set(key, entry.seq);
    const l = this.limits;
    while (this.size(r) > 1 && (this.size(r) > l.retentionMessages || r.bytes > l.retentionBytes)) this.drop(r);
    return { seq: entry.seq, duplicate: false };
  }

  async readAfter(room: string, recipient: string, cursor: number, limit: number): Promise<StoredEntry[]> {
    this.open();
    checkRoom(room);
    checkId(recipient, "recipient");
    const r = this.rooms.get(room);
    if (!r) return [];
    this.expire(r);
    const max = Math.min(Math.max(0, Math.floor(limit)), this.limits.maxReadBatch);
    const out: StoredEntry[] = [];
    const first = r.log.length > r.head ? r.log[r.head].entry.seq : r.last + 1;
    for (let i = Math.max(r.head, r.head + Math.floor(cursor) + 1 - first); i < r.log.length && out.length < max; i++) {
      const e = r.log[i].entry;
      if (e.to.includes(recipient)) out.push(e);
    }
    return out;
  }

  async seqRange(room: string): Promise<SeqRange> {
    this.open();
    checkRoom(room);
    const r = this.rooms.get(room);
    if (!r) return { oldest: 1, last: 0 };
    this.expire(r);
    return { oldest: r.log.length > r.head ? r.log[r.head].entry.seq : r.last + 1, last: r.last };
  }

  async markDelivered(room: string, seq: number, recipient: string): Promise<ReceiptResult | null> {
    this.open();
    checkRoom(room);
    checkId(recipient, "recipient");
    const h = this.held(room, seq);
    if (!h || !h.entry.to.includes(recipient)) return null;
    const added = !h.delivered.has(recipient);
    h.delivered.add(recipient);
    return { from: h.entry.from, mid: h.entry.mid, recipients: h.entry.to.length, delivered: h.delivered.size, added };
  }

  async deliveredCount(room: string, seq: number): Promise<number> {
    this.open();
    checkRoom(room);
    return this.held(room, seq)?.delivered.size ?? 0;
  }

  async markTold(room: string, sender: string, seq: number, delivered: number): Promise<void> {
    this.open();
    checkRoom(room);
    checkId(sender, "sender");
    checkCount(delivered);
    const h = this.held(room, seq);
    if (h && h.entry.from === sender) h.told = Math.max(h.told, delivered);
  }

  async receiptsFor(room: string, sender: string, limit: number): Promise<ReceiptNote[]> {
    this.open();
    checkRoom(room);
    checkId(sender, "sender");
    const r = this.rooms.get(room);
    if (!r) return [];
    this.expire(r);
    const max = Math.min(Math.max(0, Math.floor(limit)), this.limits.maxReadBatch);
    const out: ReceiptNote[] = [];
    for (let i = r.log.length - 1; i >= r.head && out.length < max; i--) {
      const h = r.log[i];
      if (h.entry.from !== sender || h.delivered.size <= h.told) continue;
      out.push({ seq: h.entry.seq, mid: h.entry.mid, delivered: h.delivered.size, recipients: h.entry.to.length });
    }
    return out.reverse();
  }

  async putMember(room: string, m: MemberRecord): Promise<void> {
    this.open();
    checkMember(room, m);
    this.room(room).members.set(m.id, memberRecordOf(m));
  }

  async memberSeen(room: string, id: string, at: number): Promise<void> {
    this.open();
    checkRoom(room);
    checkId(id, "member id");
    const m = this.rooms.get(room)?.members.get(id);
    if (m) m.lastSeen = Math.max(m.lastSeen, at);
  }

  async memberLeft(room: string, id: string): Promise<void> {
    this.open();
    checkRoom(room);
    checkId(id, "member id");
    this.rooms.get(room)?.members.delete(id);
  }

  async members(room: string): Promise<MemberRecord[]> {
    this.open();
    checkRoom(room);
    const r = this.rooms.get(room);
    if (!r) return [];
    const since = this.now() - effectiveAwayGraceMs(this.limits);
    return [...r.members.values()].filter((m) => m.lastSeen >= since).map((m) => memberRecordOf(m));
  }

  async roomVk(room: string): Promise<string | null> {
    this.open();
    checkRoom(room);
    return this.rooms.get(room)?.vk ?? null;
  }

  async createRoomVk(room: string, vk: string): Promise<string> {
    this.open();
    checkVk(room, vk);
    const r = this.room(room);
    r.vk ??= vk;
    return r.vk;
  }

  async setStream(room: string, s: RoomStreamRecord | null): Promise<void> {
    this.open();
    checkStream(room, s);
    this.room(room).stream = s && {
      sid: s.sid,
      video: s.video,
      by: s.by,
      state: s.state,
      posMs: s.posMs,
      atMs: s.atMs,
    };
  }

  async stream(room: string): Promise<RoomStreamRecord | null> {
    this.open();
    checkRoom(room);
    const s = this.rooms.get(room)?.stream;
    return s ? { ...s } : null;
  }

  async sweep(): Promise<void> {
    this.open();
    this.sweepNow();
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
  }

  private sweepNow(): void {
    const since = this.now() - effectiveAwayGraceMs(this.limits);
    for (const [name, r] of this.rooms) {
      this.expire(r);
      for (const [id, m] of r.members) if (m.lastSeen < since) r.members.delete(id);
      if (r.log.length === r.head && r.members.size === 0 && !r.stream) {
        // keep `last` so seqs are never reused: only the counter survives an empty room
        r.log = [];
        r.head = 0;
        r.mids.clear();
        // a room that never had an entry goes: its next log id is new, but no cursor can point into it;
        // a v2 room's key stays (else a v1 hello could open the id as a v1 room no v2 member can enter)
        if (r.last === 0 && r.vk === null) this.rooms.delete(name);
      }
    }
  }

  private open(): void {
    if (this.closed) throw new StoreError("store_closed", "the room store is closed");
  }

  private room(name: string): MemRoom {
    let r = this.rooms.get(name);
    if (!r) {
      r = {
        logId: newLogId(),
        last: 0,
        log: [],
        head: 0,
        bytes: 0,
        mids: new Map(),
        members: new Map(),
        stream: null,
        vk: null,
      };
      this.rooms.set(name, r);
    }
    return r;
  }

  private size(r: MemRoom): number {
    return r.log.length - r.head;
  }

  private held(room: string, seq: number): Held | undefined {
    const r = this.rooms.get(room);
    if (!r || r.log.length === r.head || !Number.isSafeInteger(seq)) return undefined;
    this.expire(r);
    const first = r.log[r.head]?.entry.seq;
    if (first === undefined) return undefined;
    return seq >= first ? r.log[r.head + seq - first] : undefined;
  }

  /** Age retention: the prefix up to the first entry young enough goes. */
  private expire(r: MemRoom): void {
    const cutoff = this.now() - this.limits.retentionAgeMs;
    while (r.head < r.log.length && r.log[r.head].entry.at < cutoff) this.drop(r);
  }

  private drop(r: MemRoom): void {
    const h = r.log[r.head++];
    r.bytes -= h.bytes;
    r.mids.delete(`${h.entry.from} ${h.entry.mid}`);
    if (r.head > 1024 && r.head * 2 > r.log.length) {
      r.log = r.log.slice(r.head);
      r.head = 0;
    }
  }
}
