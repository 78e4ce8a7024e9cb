// The NATS JetStream driver of the room store port (issue 15): the same
// contract as memory and SQLite, shared by every core of a cluster.
//
// This file is the facade: it checks each call's input, tracks it for close()
// and maps NATS errors to StoreError; the work is in jetstream/: layout.ts
// (what is stored where, and why: the layout, dedupe and retention notes),
// roomLog.ts (the log stream per room), receipts.ts, roomKv.ts (members, room
// stream, log id, verification key) and parts.ts (what they share).

import type { NatsConnection } from "@nats-io/transport-node";
import { jetstream, jetstreamManager } from "@nats-io/jetstream";
import { storeLimits, type StoreLimits } from "../store/limits";
import type { StoreOptions } from "../store/memoryStore";
import {
  checkCount,
  checkEntry,
  checkId,
  checkMember,
  checkRoom,
  checkStream,
  checkVk,
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
} from "../store/roomStore";
import { NS_RE } from "./jetstream/layout";
import { openBuckets, type JsParts } from "./jetstream/parts";
import { Receipts } from "./jetstream/receipts";
import { RoomKv } from "./jetstream/roomKv";
import { RoomLog } from "./jetstream/roomLog";

export { roomToken } from "./jetstream/layout";

export interface JetStreamStoreOptions extends StoreOptions {
  nc: NatsConnection;
  /** Separates clusters (or tests) sharing one NATS: [A-Za-z0-9]{1,16}. */
  namespace?: string;
  /** Stream and bucket replicas (1 on one nats-server, 3 in a NATS cluster). */
  replicas?: number;
  /** JetStream's own duplicate window (capped by retentionAgeMs). */
  duplicateWindowMs?: number;
}

export class JetStreamStore implements RoomStore {
  readonly limits: StoreLimits;
  readonly namespace: string;
  private readonly log: RoomLog;
  private readonly receipts: Receipts;
  private readonly kv: RoomKv;
  private closed = false;
  private inflight = new Set<Promise<unknown>>();
  private sweepTimer: NodeJS.Timeout;

  constructor(opts: JetStreamStoreOptions) {
    this.limits = storeLimits(opts.limits);
    const nc = opts.nc;
    this.namespace = opts.namespace ?? "main";
    if (!NS_RE.test(this.namespace)) throw new RangeError("namespace must be 1-16 letters or digits");
    const replicas = opts.replicas ?? 1;
    const parts: JsParts = {
      limits: this.limits,
      now: opts.now ?? Date.now,
      namespace: this.namespace,
      replicas,
      dupWindowMs: Math.min(opts.duplicateWindowMs ?? 120_000, this.limits.retentionAgeMs),
      js: jetstream(nc),
      jsm: jetstreamManager(nc),
      kv: openBuckets(nc, this.namespace, replicas, this.limits.retentionAgeMs),
      track: (p) => this.track(p),
    };
    parts.jsm.catch(() => {});
    parts.kv.catch(() => {});
    this.log = new RoomLog(parts);
    this.receipts = new Receipts(parts, this.log);
    this.kv = new RoomKv(parts);
    this.sweepTimer = setInterval(() => void this.sweep().catch(() => {}), this.limits.sweepIntervalMs).unref();
  }

  /** Runs a store operation, tracks it for close(), maps NATS errors to StoreError. */
  private op<T>(check: () => void, run: () => Promise<T>): Promise<T> {
    if (this.closed) return Promise.reject(new StoreError("store_closed", "the room store is closed"));
    try {
      check();
    } catch (e) {
      return Promise.reject(e);
    }
    const p = run().catch((e: unknown) => {
      if (e instanceof StoreError) throw e;
      throw new StoreError(
        "store_failed",
        `the JetStream room store failed: ${e instanceof Error ? e.message : String(e)}`,
      );
    });
    this.track(p);
    return p;
  }

  private track(p: Promise<unknown>): void {
    this.inflight.add(p);
    const done = () => this.inflight.delete(p);
    p.then(done, done);
  }

  // ---- the log (jetstream/roomLog.ts, the log id in jetstream/roomKv.ts) -----------

  logId(room: string): Promise<string> {
    return this.op(
      () => checkRoom(room),
      () => this.kv.logId(room),
    );
  }

  roomVk(room: string): Promise<string | null> {
    return this.op(
      () => checkRoom(room),
      () => this.kv.roomVk(room),
    );
  }

  createRoomVk(room: string, vk: string): Promise<string> {
    return this.op(
      () => checkVk(room, vk),
      () => this.kv.createRoomVk(room, vk),
    );
  }

  append(room: string, e: AppendEntry): Promise<AppendResult> {
    return this.op(
      () => checkEntry(room, e),
      () => this.log.append(room, e),
    );
  }

  readAfter(room: string, recipient: string, cursor: number, limit: number): Promise<StoredEntry[]> {
    return this.op(
      () => {
        checkRoom(room);
        checkId(recipient, "recipient");
      },
      () => this.log.readAfter(room, recipient, cursor, limit),
    );
  }

  /** Cluster only (not the port): the entries with seq in (after, upTo] for any recipient (see RoomLog.readRoom). */
  readRoom(room: string, after: number, upTo: number): Promise<StoredEntry[]> {
    return this.op(
      () => checkRoom(room),
      () => this.log.readRoom(room, after, upTo),
    );
  }

  /** Cluster only: one member's record (a member that came online on another core), or null. */
  member(room: string, id: string): Promise<MemberRecord | null> {
    return this.op(
      () => {
        checkRoom(room);
        checkId(id, "member id");
      },
      () => this.kv.member(room, id),
    );
  }

  seqRange(room: string): Promise<SeqRange> {
    return this.op(
      () => checkRoom(room),
      () => this.log.range(room),
    );
  }

  /** What the room's log occupies as JetStream counts it (what retentionBytes / max_bytes limits). */
  async logBytes(room: string): Promise<number> {
    checkRoom(room);
    return this.log.bytes(room);
  }

  // ---- receipts (jetstream/receipts.ts) ------------------------------------------

  markDelivered(room: string, seq: number, recipient: string): Promise<ReceiptResult | null> {
    return this.op(
      () => {
        checkRoom(room);
        checkId(recipient, "recipient");
      },
      () => this.receipts.markDelivered(room, seq, recipient),
    );
  }

  deliveredCount(room: string, seq: number): Promise<number> {
    return this.op(
      () => checkRoom(room),
      () => this.receipts.deliveredCount(room, seq),
    );
  }

  markTold(room: string, sender: string, seq: number, delivered: number): Promise<void> {
    return this.op(
      () => {
        checkRoom(room);
        checkId(sender, "sender");
        checkCount(delivered);
      },
      () => this.receipts.markTold(room, sender, seq, delivered),
    );
  }

  receiptsFor(room: string, sender: string, limit: number): Promise<ReceiptNote[]> {
    return this.op(
      () => {
        checkRoom(room);
        checkId(sender, "sender");
      },
      () => this.receipts.receiptsFor(room, sender, limit),
    );
  }

  // ---- members and streams (jetstream/roomKv.ts) ---------------------------------

  putMember(room: string, m: MemberRecord): Promise<void> {
    return this.op(
      () => checkMember(room, m),
      () => this.kv.putMember(room, m),
    );
  }

  memberSeen(room: string, id: string, at: number): Promise<void> {
    return this.op(
      () => {
        checkRoom(room);
        checkId(id, "member id");
        if (!Number.isFinite(at)) throw new StoreError("bad_input", "at must be finite");
      },
      () => this.kv.memberSeen(room, id, at),
    );
  }

  memberLeft(room: string, id: string): Promise<void> {
    return this.op(
      () => {
        checkRoom(room);
        checkId(id, "member id");
      },
      () => this.kv.memberLeft(room, id),
    );
  }

  members(room: string): Promise<MemberRecord[]> {
    return this.op(
      () => checkRoom(room),
      () => this.kv.members(room),
    );
  }

  setStream(room: string, s: RoomStreamRecord | null): Promise<void> {
    return this.op(
      () => checkStream(room, s),
      () => this.kv.setStream(room, s),
    );
  }

  stream(room: string): Promise<RoomStreamRecord | null> {
    return this.op(
      () => checkRoom(room),
      () => this.kv.stream(room),
    );
  }

  // ---- upkeep --------------------------------------------------------------------

  sweep(): Promise<void> {
    return this.op(
      () => {},
      async () => {
        await this.kv.sweepMembers();
        await this.log.sweep();
      },
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    clearInterval(this.sweepTimer);
    await Promise.allSettled([...this.inflight]);
  }
}
