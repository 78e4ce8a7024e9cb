// The room store port: an ordered, per-room log of ciphertext-only entries,
// receipts, membership that outlives connections, and room-stream state. One
// small async interface with two drivers here (memory, SQLite) and, later, a
// NATS JetStream one (issue 15): per-room seq and (from, mid) dedupe map onto a
// stream per room with `Nats-Msg-Id`, members and streams onto KV.

import { randomBytes } from "node:crypto";
import { ID_RE } from "../../protocol/names";
import { MemberV2Wire } from "../../protocol/e2e/wire";

/** What the hub stores per accepted `send`: routing data and the envelope, never plaintext. */
export interface AppendEntry {
  from: string;
  mid: string;
  /** The resolved recipients (the `to` of the relayed `msg`). */
  to: readonly string[];
  /** The envelope JSON exactly as relayed (Hub.envelopeJson). */
  env: string;
  /** The core's acceptance time (ms since the epoch). */
  at: number;
}

export interface StoredEntry extends AppendEntry {
  seq: number;
}

export interface AppendResult {
  seq: number;
  /** (room, from, mid) was already stored: `seq` is the original's, nothing was added. */
  duplicate: boolean;
}

/**
 * Seqs in a room start at 1 and grow by exactly 1 per new entry, never reused
 * (not after retention, not after a restart). The retained log is always the
 * contiguous run oldest..last; an empty log has oldest = last + 1.
 */
export interface SeqRange {
  oldest: number;
  last: number;
}

export interface ReceiptResult {
  from: string;
  mid: string;
  recipients: number;
  delivered: number;
  /** False when this recipient had already confirmed it. */
  added: boolean;
}

/** A sender's own message whose delivered count is above what its sender was last told (receiptsFor). */
export interface ReceiptNote {
  seq: number;
  mid: string;
  delivered: number;
  recipients: number;
}

/** A member as the room knows it, online or away. Leaving deletes the record. */
export interface MemberRecord {
  id: string;
  name: string;
  encKey: string;
  sigKey: string;
  encKeySig: string;
  agent?: string;
  joinedAt: number;
  /** Last time the member had a connection (the hub refreshes it while online and on close). */
  lastSeen: number;
  /**
   * v2 rooms only: the public v2 keys and admission proof the member's hello
   * carried (checked by the core it connected to), as every member is shown
   * them. Absent in v1 rooms and in records written before this field.
   */
  v2?: MemberV2Wire;
}

/** A room stream, enough to restart it where it was: position `posMs` held at time `atMs`. */
export interface RoomStreamRecord {
  sid: number;
  video: string;
  by: string;
  state: "playing" | "paused";
  posMs: number;
  atMs: number;
}

export type StoreErrorCode =
  | "bad_input" // a caller bug: refused before anything is written
  | "store_full" // disk full: nothing of this write is stored; later writes work when space returns
  | "store_failed" // any other I/O or database error for this write
  | "store_closed"
  | "locked" // open: another core holds this data dir
  | "corrupt" // open: the file is not a readable Sealroom store
  | "unknown_schema"; // open: written by another version

export class StoreError extends Error {
  constructor(
    readonly code: StoreErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "StoreError";
  }
}

export interface RoomStore {
  /**
   * The room's log id (docs/protocol.md section 2c; unrelated to sender-key
   * epochs): random, made with the room's log and kept with it, the same on
   * every core sharing the log. A replaced log (a restarted memory store, a new
   * SQLite file, a recreated JetStream namespace) has another, so a client's
   * cursor into the old one is never taken as a place in the new one.
   */
  logId(room: string): Promise<string>;
  /** Resolves once the entry is stored (for SQLite: committed), so `ack` can mean stored. */
  append(room: string, entry: AppendEntry): Promise<AppendResult>;
  /** Entries after `cursor` that name `recipient` in `to`, in seq order, at most `limit` (capped by maxReadBatch). */
  readAfter(room: string, recipient: string, cursor: number, limit: number): Promise<StoredEntry[]>;
  seqRange(room: string): Promise<SeqRange>;
  /** Null when seq is not retained or `recipient` is not one of its recipients (a receipt nobody can forge for others). */
  markDelivered(room: string, seq: number, recipient: string): Promise<ReceiptResult | null>;
  deliveredCount(room: string, seq: number): Promise<number>;
  /**
   * Records that `sender`, the sender of `seq`, has been sent `delivered` (kept
   * as the highest so far), so receiptsFor leaves it out until the count grows
   * again. Nothing happens when `seq` is not retained or is not `sender`'s.
   */
  markTold(room: string, sender: string, seq: number, delivered: number): Promise<void>;
  /**
   * The retained entries sent by `sender` whose delivered count is above what
   * markTold last recorded for them: the `limit` newest (capped by
   * maxReadBatch), in seq order. What a resuming sender missed while away.
   */
  receiptsFor(room: string, sender: string, limit: number): Promise<ReceiptNote[]>;
  /** Adds or replaces a member (join, reconnect, new keys). */
  putMember(room: string, member: MemberRecord): Promise<void>;
  memberSeen(room: string, id: string, at: number): Promise<void>;
  memberLeft(room: string, id: string): Promise<void>;
  /** Members not left and not away longer than the grace period. */
  members(room: string): Promise<MemberRecord[]>;
  /**
   * A v2 room's verification key (docs/protocol.md section 12), null for a
   * room id not bound to one (a v1 room, or one never opened). Public: the
   * room's id is a hash of it, and every v2 hello carries it.
   */
  roomVk(room: string): Promise<string | null>;
  /**
   * Binds a v2 room id to its verification key, once: the first call for a
   * room stores `vk` (atomically, also between cores sharing the store), every
   * later one stores nothing and returns the key stored first, so a second,
   * different key for the id is refused by the caller seeing another answer.
   * Kept as long as the room's log id (the sweep does not forget it).
   */
  createRoomVk(room: string, vk: string): Promise<string>;
  setStream(room: string, stream: RoomStreamRecord | null): Promise<void>;
  stream(room: string): Promise<RoomStreamRecord | null>;
  /** Removes expired entries and members now (drivers also do it every sweepIntervalMs). */
  sweep(): Promise<void>;
  /** Finishes pending writes, then releases the store (and its lock). */
  close(): Promise<void>;
}

/** A new log id: 16 random bytes, base64url (22 characters, protocol LOG_ID_RE). */
export function newLogId(): string {
  return randomBytes(16).toString("base64url");
}

export type ResumeCheck = "ok" | "gap" | "future";

/** A resume cursor against the room's range: "gap" when entries after it are already gone. */
export function resumeCheck(cursor: number, range: SeqRange): ResumeCheck {
  if (cursor > range.last) return "future";
  return cursor + 1 < range.oldest ? "gap" : "ok";
}

/** What an entry counts against retentionBytes: the same in every driver. */
export function entryBytes(e: AppendEntry): number {
  let n = 32 + Buffer.byteLength(e.env) + e.from.length + e.mid.length;
  for (const t of e.to) n += t.length + 3;
  return n;
}

const MID_RE = /^[\x21-\x7e]{1,64}$/;
const MAX_ROOM = 256;

export function checkRoom(room: unknown): asserts room is string {
  if (typeof room !== "string" || room.length === 0 || room.length > MAX_ROOM)
    throw new StoreError("bad_input", "room must be a string of 1-256 characters");
}

export function checkId(id: unknown, what: string): asserts id is string {
  if (typeof id !== "string" || !ID_RE.test(id)) throw new StoreError("bad_input", `${what} is not a member id`);
}

export function checkCount(n: unknown): asserts n is number {
  if (typeof n !== "number" || !Number.isSafeInteger(n) || n < 0)
    throw new StoreError("bad_input", "a delivered count must be an integer >= 0");
}

/** Refuses what could never have come from a validated `send`, before it reaches a driver's queue. */
export function checkEntry(room: string, e: AppendEntry): void {
  checkRoom(room);
  checkId(e.from, "from");
  if (typeof e.mid !== "string" || !MID_RE.test(e.mid))
    throw new StoreError("bad_input", "mid must be 1-64 visible ASCII characters");
  if (!Array.isArray(e.to)) throw new StoreError("bad_input", "to must be an array");
  for (const t of e.to) checkId(t, "a recipient");
  if (typeof e.env !== "string" || e.env.length === 0)
    throw new StoreError("bad_input", "env must be the envelope JSON");
  if (!Number.isFinite(e.at)) throw new StoreError("bad_input", "at must be a finite time");
}

/** A v2 verification key as a hello carries it: 32 bytes, padded standard base64. */
const VK_RE = /^[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]=$/;

export function checkVk(room: string, vk: unknown): asserts vk is string {
  checkRoom(room);
  if (typeof vk !== "string" || !VK_RE.test(vk))
    throw new StoreError("bad_input", "a room's verification key must be 32 bytes of base64");
}

export function checkMember(room: string, m: MemberRecord): void {
  checkRoom(room);
  checkId(m.id, "member id");
  for (const k of ["name", "encKey", "sigKey", "encKeySig"] as const) {
    if (typeof m[k] !== "string") throw new StoreError("bad_input", `member ${k} must be a string`);
  }
  if (m.agent !== undefined && typeof m.agent !== "string")
    throw new StoreError("bad_input", "member agent must be a string");
  if (!Number.isFinite(m.joinedAt) || !Number.isFinite(m.lastSeen))
    throw new StoreError("bad_input", "member times must be finite");
  if (m.v2 !== undefined && !MemberV2Wire.safeParse(m.v2).success)
    throw new StoreError("bad_input", "member v2 must be {sig2, dh2, link, admission: {iat, sig}}");
}

/** The v2 fields of a stored record, exactly (null: absent or not well formed, so the member shows as not admitted). */
export function memberV2Of(v: unknown): MemberV2Wire | null {
  const p = MemberV2Wire.safeParse(v);
  if (!p.success) return null;
  const { sig2, dh2, link, admission } = p.data;
  return { sig2, dh2, link, admission: { iat: admission.iat, sig: admission.sig } };
}

export function checkStream(room: string, s: RoomStreamRecord | null): void {
  checkRoom(room);
  if (s === null) return;
  if (!Number.isSafeInteger(s.sid) || s.sid < 0)
    throw new StoreError("bad_input", "stream sid must be an integer >= 0");
  if (typeof s.video !== "string") throw new StoreError("bad_input", "stream video must be a string");
  checkId(s.by, "stream by");
  if (s.state !== "playing" && s.state !== "paused")
    throw new StoreError("bad_input", "stream state must be playing or paused");
  if (!Number.isFinite(s.posMs) || s.posMs < 0 || !Number.isFinite(s.atMs))
    throw new StoreError("bad_input", "stream posMs/atMs must be finite");
}

/** A member record with exactly its own fields (what a caller's object carries beyond them is not stored). */
export function memberRecordOf(m: MemberRecord): MemberRecord {
  const copy: MemberRecord = {
    id: m.id,
    name: m.name,
    encKey: m.encKey,
    sigKey: m.sigKey,
    encKeySig: m.encKeySig,
    joinedAt: m.joinedAt,
    lastSeen: m.lastSeen,
  };
  if (m.agent !== undefined) copy.agent = m.agent;
  const v2 = m.v2 === undefined ? null : memberV2Of(m.v2);
  if (v2) copy.v2 = v2;
  return copy;
}
