// The NATS JetStream driver of the room store port (issue 15): the same
// contract as memory and SQLite, shared by every core of a cluster.
//
// Layout (namespace NS, room token T = base64url(sha256(room)), 32 chars):
//   stream  SR_<NS>_<T>, subject sealroom.<NS>.log.<T>: one stream per room, so
//           the stream sequence IS the room seq: it starts at 1, grows by exactly
//           1 per stored message, is never reused, and limits only remove from
//           the head, so the retained log is always contiguous. A shared stream
//           would interleave rooms and need a home-made seq (a header plus an
//           expected-last-subject-sequence retry loop on every append, no
//           pipelining); the cost of a stream per room is a file-store dir per
//           room (and, with replicas, a Raft group per room): see docs/scaling.md.
//   KV sr_<NS>_mids      <T>.<from>.<b64url(mid)> -> seq: dedupe past the duplicate window
//   KV sr_<NS>_receipts  <T>.<sender>.<seq> -> {mid, of, by: recipient ids that confirmed}
//                        (CAS updates; keyed by sender so receiptsFor is one filtered read;
//                        <T>.<seq> -> ids is the layout before, read when the new key is absent)
//   KV sr_<NS>_told      <T>.<sender>.<seq> -> the highest count the sender was told (markTold)
//   KV sr_<NS>_members   <T>.<id> -> MemberRecord JSON
//   KV sr_<NS>_streams   <T> -> RoomStreamRecord JSON
//   KV sr_<NS>_logs      <T> -> the room's log id (protocol 2c), made once by whichever
//                        core asks first (KV create: the others read it); a recreated
//                        namespace has new ones. (Stream metadata would tie it to the
//                        stream itself, but needs nats-server 2.10.)
//   KV sr_<NS>_vks       <T> -> a v2 room's verification key, set once by KV create (the
//                        first core wins, the others read it), so every core knows the room
//                        as v2, also one that never saw a v2 hello for it.
//
// Dedupe: every publish carries Nats-Msg-Id "<from>.<mid>.<gen>"; within the
// stream's duplicate window JetStream itself answers a repeat with the original
// seq (duplicate: true), also for two racing cores. Older repeats are caught by
// the mids bucket, checked before publishing; when the entry it names is no
// longer retained the mid is new again, and gen (the gone entry's seq) gives the
// new one a fresh Msg-Id the window does not know.
//
// Retention: retentionMessages is the stream's max_msgs (exact, applied by the
// server atomically with the append); retentionBytes is max_bytes (JetStream's
// own size of a stored message, a little more than entryBytes; an entry larger than
// the limit on its own is refused with store_full rather than stored and then
// dropped by the server); retentionAgeMs is
// max_age (real time, the physical backstop) and is also applied logically by
// the store's clock to `at`, as in the other drivers.
//
// Acked means stored: append resolves after JetStream's PubAck, which the server
// sends after writing the file store (and, with replicas, after a quorum has it).
//
// Over 300 lines: one driver of the RoomStore port over JetStream resources
// (the log stream per room and the KV buckets above).

import { createHash } from "node:crypto";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  DeliverPolicy,
  DiscardPolicy,
  jetstream,
  jetstreamManager,
  RetentionPolicy,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
  type StreamConfig,
} from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import { LOG_ID_RE } from "../../protocol/messages";
import { effectiveAwayGraceMs, storeLimits, type StoreLimits } from "../store/limits";
import type { StoreOptions } from "../store/memoryStore";
import {
  checkCount,
  checkEntry,
  checkId,
  checkMember,
  checkRoom,
  checkStream,
  checkVk,
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
} from "../store/roomStore";

export interface JetStreamStoreOptions extends StoreOptions {
  nc: NatsConnection;
  /** Separates clusters (or tests) sharing one NATS: [A-Za-z0-9]{1,16}. */
  namespace?: string;
  /** Stream and bucket replicas (1 on one nats-server, 3 in a NATS cluster). */
  replicas?: number;
  /** JetStream's own duplicate window (capped by retentionAgeMs). */
  duplicateWindowMs?: number;
}

const NS_RE = /^[A-Za-z0-9]{1,16}$/;
const ms2ns = (ms: number) => Math.round(ms * 1_000_000);
const enc = new TextEncoder();
const dec = new TextDecoder();

/** A subject-, stream- and key-safe token for any room name. */
export function roomToken(room: string): string {
  return createHash("sha256").update(room, "utf8").digest("base64url").slice(0, 32);
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64url");

interface Payload {
  from: string;
  mid: string;
  to: string[];
  env: string;
  at: number;
}

function parsePayload(data: Uint8Array, seq: number): StoredEntry {
  const p = JSON.parse(dec.decode(data)) as Partial<Payload>;
  if (
    typeof p.from !== "string" ||
    typeof p.mid !== "string" ||
    !Array.isArray(p.to) ||
    typeof p.env !== "string" ||
    typeof p.at !== "number"
  ) {
    throw new StoreError("corrupt", `room log entry ${seq} is not a Sealroom entry`);
  }
  return { seq, from: p.from, mid: p.mid, to: p.to.map(String), env: p.env, at: p.at };
}

interface Receipt {
  mid: string;
  of: number;
  by: string[];
}

function parseReceipt(v: Uint8Array): Receipt {
  const r = JSON.parse(dec.decode(v)) as Partial<Receipt>;
  if (typeof r.mid !== "string" || typeof r.of !== "number" || !Array.isArray(r.by))
    throw new StoreError("corrupt", "a receipt record is not a Sealroom receipt");
  return { mid: r.mid, of: r.of, by: r.by.map(String) };
}

const receiptKey = (room: string, sender: string, seq: number) => `${roomToken(room)}.${sender}.${seq}`;

/** seq -> current value of the keys matching `<T>.<sender>.*` (deleted ones left out). */
async function lastValues(kv: KV, filter: string): Promise<Map<number, Uint8Array>> {
  const out = new Map<number, Uint8Array>();
  for await (const e of await kv.history({ key: filter })) {
    const seq = Number(e.key.slice(e.key.lastIndexOf(".") + 1));
    if (!Number.isSafeInteger(seq)) continue;
    if (e.operation === "PUT") out.set(seq, e.value);
    else out.delete(seq);
  }
  return out;
}

function apiCode(e: unknown): number {
  const x = e as { api_error?: { err_code?: number }; code?: number | string; apiError?: () => { err_code?: number } };
  if (typeof x?.apiError === "function") return x.apiError()?.err_code ?? 0;
  return x?.api_error?.err_code ?? 0;
}
const NOT_FOUND_STREAM = 10059;
/** More than JetStream adds to a payload when storing it (subject, Msg-Id header, record framing). */
const STORED_OVERHEAD = 256;
const NOT_FOUND_MSG = 10037;

export class JetStreamStore implements RoomStore {
  readonly limits: StoreLimits;
  readonly namespace: string;
  private readonly now: () => number;
  private readonly nc: NatsConnection;
  private readonly replicas: number;
  private readonly dupWindowMs: number;
  private js: JetStreamClient;
  private jsmP: Promise<JetStreamManager>;
  private kvP: Promise<{ mids: KV; receipts: KV; told: KV; members: KV; streams: KV; logs: KV; vks: KV }>;
  /** Room -> its log id as read from (or made in) the logs bucket: it never changes there. */
  private logIds = new Map<string, string>();
  /** Room -> its v2 verification key as read from (or made in) the vks bucket: it never changes there. */
  private vks = new Map<string, string>();
  private made = new Map<string, Promise<void>>();
  /** Streams known to exist (read, not made, by this core). */
  private seen = new Set<string>();
  private closed = false;
  private inflight = new Set<Promise<unknown>>();
  private sweepTimer: NodeJS.Timeout;

  constructor(opts: JetStreamStoreOptions) {
    this.limits = storeLimits(opts.limits);
    this.now = opts.now ?? Date.now;
    this.nc = opts.nc;
    this.namespace = opts.namespace ?? "main";
    if (!NS_RE.test(this.namespace)) throw new RangeError("namespace must be 1-16 letters or digits");
    this.replicas = opts.replicas ?? 1;
    this.dupWindowMs = Math.min(opts.duplicateWindowMs ?? 120_000, this.limits.retentionAgeMs);
    this.js = jetstream(this.nc);
    this.jsmP = jetstreamManager(this.nc);
    this.kvP = this.openBuckets();
    this.jsmP.catch(() => {});
    this.kvP.catch(() => {});
    this.sweepTimer = setInterval(() => void this.sweep().catch(() => {}), this.limits.sweepIntervalMs).unref();
  }

  private async openBuckets() {
    const kvm = new Kvm(this.nc);
    const ns = this.namespace;
    const age = this.limits.retentionAgeMs;
    const opt = { history: 1, replicas: this.replicas, storage: StorageType.File };
    const [mids, receipts, told, members, streams, logs, vks] = await Promise.all([
      kvm.create(`sr_${ns}_mids`, { ...opt, ttl: age }),
      kvm.create(`sr_${ns}_receipts`, { ...opt, ttl: age }),
      kvm.create(`sr_${ns}_told`, { ...opt, ttl: age }),
      kvm.create(`sr_${ns}_members`, opt),
      kvm.create(`sr_${ns}_streams`, opt),
      kvm.create(`sr_${ns}_logs`, opt),
      kvm.create(`sr_${ns}_vks`, opt),
    ]);
    return { mids, receipts, told, members, streams, logs, vks };
  }

  private streamName(room: string): string {
    return `SR_${this.namespace}_${roomToken(room)}`;
  }

  private subject(room: string): string {
    return `sealroom.${this.namespace}.log.${roomToken(room)}`;
  }

  private streamConfig(room: string): Partial<StreamConfig> & { name: string } {
    const l = this.limits;
    return {
      name: this.streamName(room),
      subjects: [this.subject(room)],
      description: `sealroom room log: ${room.slice(0, 200)}`,
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      num_replicas: this.replicas,
      max_msgs: l.retentionMessages,
      max_bytes: l.retentionBytes,
      max_age: ms2ns(l.retentionAgeMs),
      duplicate_window: ms2ns(this.dupWindowMs),
      allow_direct: true,
    };
  }

  /** Creates the room's stream once per core (idempotent across cores); applies changed limits. */
  private ensureStream(room: string): Promise<void> {
    const name = this.streamName(room);
    let p = this.made.get(name);
    if (!p) {
      p = (async () => {
        const jsm = await this.jsmP;
        const cfg = this.streamConfig(room);
        try {
          await jsm.streams.add(cfg);
        } catch (e) {
          const info = await jsm.streams.info(name).catch(() => null);
          if (!info) throw e;
          const c = info.config;
          if (
            c.max_msgs !== cfg.max_msgs ||
            c.max_bytes !== cfg.max_bytes ||
            c.max_age !== cfg.max_age ||
            c.duplicate_window !== cfg.duplicate_window
          ) {
            await jsm.streams.update(name, { ...c, ...cfg });
          }
        }
      })();
      p.catch(() => this.made.delete(name));
      this.made.set(name, p);
    }
    return p;
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

  // ---- the log ------------------------------------------------------------------

  logId(room: string): Promise<string> {
    return this.op(
      () => checkRoom(room),
      async () => {
        const known = this.logIds.get(room);
        if (known !== undefined) return known;
        const kv = (await this.kvP).logs;
        const key = roomToken(room);
        for (let attempt = 0; attempt < 20; attempt++) {
          const cur = await kv.get(key);
          if (cur && cur.operation === "PUT") {
            const log = dec.decode(cur.value);
            if (!LOG_ID_RE.test(log)) throw new StoreError("corrupt", `the log id of room ${room} is not a log id`);
            this.logIds.set(room, log);
            return log;
          }
          try {
            const log = newLogId();
            await kv.create(key, log);
            this.logIds.set(room, log);
            return log;
          } catch {
            // another core made it at the same moment: read theirs
          }
        }
        throw new StoreError("store_failed", `the log id of room ${room} could not be read or made`);
      },
    );
  }

  roomVk(room: string): Promise<string | null> {
    return this.op(
      () => checkRoom(room),
      async () => this.vks.get(room) ?? (await this.readVk(room)),
    );
  }

  createRoomVk(room: string, vk: string): Promise<string> {
    return this.op(
      () => checkVk(room, vk),
      async () => {
        const known = this.vks.get(room);
        if (known !== undefined) return known;
        const kv = (await this.kvP).vks;
        for (let attempt = 0; attempt < 20; attempt++) {
          const had = await this.readVk(room);
          if (had !== null) return had;
          try {
            await kv.create(roomToken(room), vk);
            this.vks.set(room, vk);
            return vk;
          } catch {
            // another core bound it at the same moment: read theirs
          }
        }
        throw new StoreError("store_failed", `the verification key of room ${room} could not be read or stored`);
      },
    );
  }

  private async readVk(room: string): Promise<string | null> {
    const cur = await (await this.kvP).vks.get(roomToken(room));
    if (!cur || cur.operation !== "PUT") return null;
    const vk = dec.decode(cur.value);
    try {
      checkVk(room, vk);
    } catch {
      throw new StoreError("corrupt", `the verification key of room ${room} is not a verification key`);
    }
    this.vks.set(room, vk);
    return vk;
  }

  append(room: string, e: AppendEntry): Promise<AppendResult> {
    return this.op(
      () => checkEntry(room, e),
      async () => {
        const kv = await this.kvP;
        await this.ensureStream(room);
        const key = `${roomToken(room)}.${e.from}.${b64(e.mid)}`;
        let gen = 0;
        const had = await kv.mids.get(key);
        if (had && had.operation === "PUT") {
          const seq = Number(dec.decode(had.value));
          if (Number.isSafeInteger(seq) && seq >= (await this.range(room)).oldest) return { seq, duplicate: true };
          gen = seq;
        }
        const payload: Payload = { from: e.from, mid: e.mid, to: [...e.to], env: e.env, at: e.at };
        const data = enc.encode(JSON.stringify(payload));
        // max_bytes with DiscardOld would drop a single entry larger than the limit (and all
        // before it) right after acking it: refuse it instead, nothing stored, nothing lost
        if (data.length + STORED_OVERHEAD > this.limits.retentionBytes) {
          throw new StoreError(
            "store_full",
            `entry of ${data.length} bytes does not fit retentionBytes ${this.limits.retentionBytes} of the JetStream room log: not stored`,
          );
        }
        const ack = await this.js.publish(this.subject(room), data, {
          msgID: `${e.from}.${e.mid}.${gen}`,
          expect: { streamName: this.streamName(room) },
        });
        if (ack.duplicate) return { seq: ack.seq, duplicate: true };
        // not awaited: until it lands (or if this core dies first) the duplicate window covers
        // the mid, which is far longer than a KV put; close() waits for it
        this.track(kv.mids.put(key, String(ack.seq)).catch(() => {}));
        return { seq: ack.seq, duplicate: false };
      },
    );
  }

  readAfter(room: string, recipient: string, cursor: number, limit: number): Promise<StoredEntry[]> {
    return this.op(
      () => {
        checkRoom(room);
        checkId(recipient, "recipient");
      },
      async () => {
        const max = Math.min(Math.max(0, Math.floor(limit)), this.limits.maxReadBatch);
        if (max === 0) return [];
        const r = await this.range(room);
        const out: StoredEntry[] = [];
        let next = Math.max(Number.isFinite(cursor) ? Math.floor(cursor) + 1 : 1, r.oldest);
        if (next > r.last) return out;
        const js = this.js;
        const consumer = await js.consumers.get(this.streamName(room), {
          opt_start_seq: next,
          deliver_policy: DeliverPolicy.StartSequence,
        });
        try {
          while (next <= r.last && out.length < max) {
            const batch = await consumer.fetch({ max_messages: Math.min(256, r.last - next + 1), expires: 2_000 });
            let got = 0;
            for await (const m of batch) {
              got++;
              const seq = m.seq;
              if (seq > r.last) break;
              next = seq + 1;
              const entry = parsePayload(m.data, seq);
              if (entry.to.includes(recipient) && out.length < max) out.push(entry);
            }
            if (got === 0) break;
          }
        } finally {
          await consumer.delete().catch(() => {});
        }
        return out;
      },
    );
  }

  /**
   * Cluster only (not the port): the entries with seq in (after, upTo] for any
   * recipient, in order, at most maxReadBatch; seqs no longer retained are
   * skipped. Cross-core delivery reads this after a seq note; a short run is
   * direct gets by seq (one request each, in parallel), a long one a consumer.
   */
  readRoom(room: string, after: number, upTo: number): Promise<StoredEntry[]> {
    return this.op(
      () => checkRoom(room),
      async () => {
        const from = Math.max(1, Math.floor(after) + 1);
        const to = Math.min(Math.floor(upTo), from + this.limits.maxReadBatch - 1);
        if (to < from) return [];
        if (to - from < 64) {
          const got = await Promise.all(Array.from({ length: to - from + 1 }, (_, i) => this.entry(room, from + i)));
          return got.filter((e): e is StoredEntry => e !== null);
        }
        const out: StoredEntry[] = [];
        const consumer = await this.js.consumers.get(this.streamName(room), {
          opt_start_seq: from,
          deliver_policy: DeliverPolicy.StartSequence,
        });
        try {
          let next = from;
          while (next <= to) {
            const batch = await consumer.fetch({ max_messages: Math.min(256, to - next + 1), expires: 2_000 });
            let got = 0;
            for await (const m of batch) {
              got++;
              if (m.seq > to) break;
              next = m.seq + 1;
              out.push(parsePayload(m.data, m.seq));
            }
            if (got === 0) break;
          }
        } finally {
          await consumer.delete().catch(() => {});
        }
        return out;
      },
    );
  }

  /** Cluster only: one member's record (a member that came online on another core), or null. */
  member(room: string, id: string): Promise<MemberRecord | null> {
    return this.op(
      () => {
        checkRoom(room);
        checkId(id, "member id");
      },
      async () => {
        const g = await (await this.kvP).members.get(`${roomToken(room)}.${id}`);
        if (!g || g.operation !== "PUT") return null;
        // through memberRecordOf: a malformed v2 from another core is dropped (shown as not admitted), never relayed
        const m = memberRecordOf(JSON.parse(dec.decode(g.value)) as MemberRecord);
        return m.lastSeen >= this.now() - effectiveAwayGraceMs(this.limits) ? m : null;
      },
    );
  }

  seqRange(room: string): Promise<SeqRange> {
    return this.op(
      () => checkRoom(room),
      () => this.range(room),
    );
  }

  /** The retained range, age retention applied by the store's clock. */
  private async range(room: string): Promise<SeqRange> {
    const jsm = await this.jsmP;
    let info;
    try {
      info = await jsm.streams.info(this.streamName(room));
    } catch (e) {
      if (apiCode(e) === NOT_FOUND_STREAM || /not found/i.test(String(e))) return { oldest: 1, last: 0 };
      throw e;
    }
    const last = info.state.last_seq;
    let oldest = info.state.messages === 0 ? last + 1 : info.state.first_seq;
    const cutoff = this.now() - this.limits.retentionAgeMs;
    // max_age trims in real time; this walks the (normally empty) prefix the store's clock says is gone
    while (oldest <= last) {
      const m = await this.entry(room, oldest);
      if (m && m.at >= cutoff) break;
      oldest++;
    }
    return { oldest, last };
  }

  private async entry(room: string, seq: number): Promise<StoredEntry | null> {
    const jsm = await this.jsmP;
    try {
      const m = await jsm.direct.getMessage(this.streamName(room), { seq });
      if (!m) return null;
      return parsePayload(m.data, m.seq);
    } catch (e) {
      if (apiCode(e) === NOT_FOUND_MSG || /not found|no message/i.test(String(e))) return null;
      throw e;
    }
  }

  /** What the room's log occupies as JetStream counts it (what retentionBytes / max_bytes limits). */
  async logBytes(room: string): Promise<number> {
    checkRoom(room);
    const jsm = await this.jsmP;
    const info = await jsm.streams.info(this.streamName(room)).catch(() => null);
    return info?.state.bytes ?? 0;
  }

  // ---- receipts -----------------------------------------------------------------

  markDelivered(room: string, seq: number, recipient: string): Promise<ReceiptResult | null> {
    return this.op(
      () => {
        checkRoom(room);
        checkId(recipient, "recipient");
      },
      async () => {
        if (!Number.isSafeInteger(seq) || seq < 1) return null;
        // One direct get, not the range (a stream info and a walk): an entry gone by count or bytes
        // is not there, one gone by age is judged by its own `at`, as the range would. A direct get
        // on a stream that does not exist finds no responder and waits out its timeout: ask once.
        const name = this.streamName(room);
        if (!this.made.has(name) && !this.seen.has(name)) {
          const r = await this.range(room);
          if (r.last === 0 || seq > r.last) return null;
          this.seen.add(name);
        }
        const e = await this.entry(room, seq);
        if (!e || e.at < this.now() - this.limits.retentionAgeMs || !e.to.includes(recipient)) return null;
        const kv = (await this.kvP).receipts;
        const key = receiptKey(room, e.from, seq);
        for (let attempt = 0; ; attempt++) {
          const cur = await kv.get(key);
          const have =
            cur && cur.operation === "PUT" ? parseReceipt(cur.value).by : await this.legacyReceipt(kv, room, seq);
          if (have.includes(recipient))
            return { from: e.from, mid: e.mid, recipients: e.to.length, delivered: have.length, added: false };
          const next = JSON.stringify({ mid: e.mid, of: e.to.length, by: [...have, recipient] } satisfies Receipt);
          try {
            if (cur) await kv.update(key, next, cur.revision);
            else await kv.create(key, next);
            return { from: e.from, mid: e.mid, recipients: e.to.length, delivered: have.length + 1, added: true };
          } catch (err) {
            if (attempt >= 20) throw err; // another core confirmed at the same moment: read again
          }
        }
      },
    );
  }

  /** Receipts stored under the layout before (<T>.<seq> -> ids). */
  private async legacyReceipt(kv: KV, room: string, seq: number): Promise<string[]> {
    const old = await kv.get(`${roomToken(room)}.${seq}`);
    return old && old.operation === "PUT" ? (JSON.parse(dec.decode(old.value)) as string[]) : [];
  }

  deliveredCount(room: string, seq: number): Promise<number> {
    return this.op(
      () => checkRoom(room),
      async () => {
        if (!Number.isSafeInteger(seq)) return 0;
        const r = await this.range(room);
        if (seq < r.oldest || seq > r.last) return 0;
        const e = await this.entry(room, seq);
        if (!e) return 0;
        const kv = (await this.kvP).receipts;
        const cur = await kv.get(receiptKey(room, e.from, seq));
        return cur && cur.operation === "PUT"
          ? parseReceipt(cur.value).by.length
          : (await this.legacyReceipt(kv, room, seq)).length;
      },
    );
  }

  markTold(room: string, sender: string, seq: number, delivered: number): Promise<void> {
    return this.op(
      () => {
        checkRoom(room);
        checkId(sender, "sender");
        checkCount(delivered);
      },
      async () => {
        if (!Number.isSafeInteger(seq) || seq < 1) return;
        // keyed by sender: a record under another sender's key is never read for this seq's sender
        const kv = (await this.kvP).told;
        const key = receiptKey(room, sender, seq);
        // Only the sender's core writes this, in the order it told; CAS keeps the highest anyway.
        for (let attempt = 0; attempt < 20; attempt++) {
          const cur = await kv.get(key);
          const had = cur && cur.operation === "PUT" ? Number(dec.decode(cur.value)) : 0;
          if (had >= delivered) return;
          try {
            if (cur) await kv.update(key, String(delivered), cur.revision);
            else await kv.create(key, String(delivered));
            return;
          } catch {
            // raced with another write of it: read again
          }
        }
      },
    );
  }

  receiptsFor(room: string, sender: string, limit: number): Promise<ReceiptNote[]> {
    return this.op(
      () => {
        checkRoom(room);
        checkId(sender, "sender");
      },
      async () => {
        const max = Math.min(Math.max(0, Math.floor(limit)), this.limits.maxReadBatch);
        if (max === 0) return [];
        const { receipts, told } = await this.kvP;
        const filter = `${roomToken(room)}.${sender}.*`;
        // One filtered read of each bucket (history 1: the current value of each key), not a get per message.
        const [counts, tolds, range] = await Promise.all([
          lastValues(receipts, filter),
          lastValues(told, filter),
          this.range(room),
        ]);
        const out: ReceiptNote[] = [];
        for (const [seq, v] of counts) {
          if (seq < range.oldest || seq > range.last) continue;
          const r = parseReceipt(v);
          const t = tolds.get(seq);
          if (r.by.length > (t ? Number(dec.decode(t)) || 0 : 0))
            out.push({ seq, mid: r.mid, delivered: r.by.length, recipients: r.of });
        }
        out.sort((a, b) => a.seq - b.seq);
        return out.slice(-max);
      },
    );
  }

  // ---- members and streams ------------------------------------------------------

  putMember(room: string, m: MemberRecord): Promise<void> {
    return this.op(
      () => checkMember(room, m),
      async () => {
        await (await this.kvP).members.put(`${roomToken(room)}.${m.id}`, JSON.stringify(memberRecordOf(m)));
      },
    );
  }

  memberSeen(room: string, id: string, at: number): Promise<void> {
    return this.op(
      () => {
        checkRoom(room);
        checkId(id, "member id");
        if (!Number.isFinite(at)) throw new StoreError("bad_input", "at must be finite");
      },
      async () => {
        const kv = (await this.kvP).members;
        const key = `${roomToken(room)}.${id}`;
        for (let attempt = 0; attempt < 20; attempt++) {
          const cur = await kv.get(key);
          if (!cur || cur.operation !== "PUT") return;
          const m = JSON.parse(dec.decode(cur.value)) as MemberRecord;
          if (m.lastSeen >= at) return;
          m.lastSeen = at;
          try {
            await kv.update(key, JSON.stringify(m), cur.revision);
            return;
          } catch {
            // raced with another write of this member: read again
          }
        }
      },
    );
  }

  memberLeft(room: string, id: string): Promise<void> {
    return this.op(
      () => {
        checkRoom(room);
        checkId(id, "member id");
      },
      async () => {
        await (await this.kvP).members.purge(`${roomToken(room)}.${id}`);
      },
    );
  }

  members(room: string): Promise<MemberRecord[]> {
    return this.op(
      () => checkRoom(room),
      async () => {
        const since = this.now() - effectiveAwayGraceMs(this.limits);
        return (await this.allMembers(roomToken(room)))
          .filter((m) => m.lastSeen >= since)
          .sort((a, b) => a.joinedAt - b.joinedAt || (a.id < b.id ? -1 : 1))
          .map(({ key: _key, ...m }) => memberRecordOf(m));
      },
    );
  }

  private async allMembers(token: string | "*"): Promise<(MemberRecord & { key: string })[]> {
    const kv = (await this.kvP).members;
    const out: (MemberRecord & { key: string })[] = [];
    const keys: string[] = [];
    for await (const k of await kv.keys(`${token}.*`)) keys.push(k);
    const got = await Promise.all(keys.map((k) => kv.get(k)));
    for (let i = 0; i < keys.length; i++) {
      const g = got[i];
      if (g && g.operation === "PUT") out.push({ ...(JSON.parse(dec.decode(g.value)) as MemberRecord), key: keys[i] });
    }
    return out;
  }

  setStream(room: string, s: RoomStreamRecord | null): Promise<void> {
    return this.op(
      () => checkStream(room, s),
      async () => {
        const kv = (await this.kvP).streams;
        if (s === null) await kv.purge(roomToken(room));
        else
          await kv.put(
            roomToken(room),
            JSON.stringify({ sid: s.sid, video: s.video, by: s.by, state: s.state, posMs: s.posMs, atMs: s.atMs }),
          );
      },
    );
  }

  stream(room: string): Promise<RoomStreamRecord | null> {
    return this.op(
      () => checkRoom(room),
      async () => {
        const cur = await (await this.kvP).streams.get(roomToken(room));
        return cur && cur.operation === "PUT" ? (JSON.parse(dec.decode(cur.value)) as RoomStreamRecord) : null;
      },
    );
  }

  // ---- upkeep -------------------------------------------------------------------

  sweep(): Promise<void> {
    return this.op(
      () => {},
      async () => {
        const since = this.now() - effectiveAwayGraceMs(this.limits);
        const kv = (await this.kvP).members;
        for (const m of await this.allMembers("*")) if (m.lastSeen < since) await kv.purge(m.key);
        // the prefix the store's clock says is gone goes physically (max_age does it in real time)
        const jsm = await this.jsmP;
        const prefix = `SR_${this.namespace}_`;
        for await (const name of jsm.streams.names()) {
          if (!name.startsWith(prefix)) continue;
          const info = await jsm.streams.info(name);
          const room = info.config.description?.replace(/^sealroom room log: /, "");
          if (room === undefined || this.streamName(room) !== name) continue;
          const r = await this.range(room);
          if (r.oldest > info.state.first_seq && info.state.messages > 0)
            await jsm.streams.purge(name, { seq: r.oldest });
        }
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
