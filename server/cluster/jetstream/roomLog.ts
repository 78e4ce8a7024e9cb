// The room log on JetStream: a stream per room, append with dedupe, reads, the retained range and its trimming.

import { DeliverPolicy, DiscardPolicy, RetentionPolicy, StorageType, type StreamConfig } from "@nats-io/jetstream";
import {
  StoreError,
  type AppendEntry,
  type AppendResult,
  type SeqRange,
  type StoredEntry,
} from "../../store/roomStore";
import {
  apiCode,
  dec,
  enc,
  logSubject,
  midKey,
  ms2ns,
  NOT_FOUND_MSG,
  NOT_FOUND_STREAM,
  parsePayload,
  roomOfDescription,
  STORED_OVERHEAD,
  streamDescription,
  streamName,
  streamPrefix,
  type Payload,
} from "./layout";
import type { JsParts } from "./parts";

/** Input is checked, and errors mapped, by the facade (jetstreamStore.ts). */
export class RoomLog {
  private made = new Map<string, Promise<void>>();
  /** Streams known to exist (read, not made, by this core). */
  private seen = new Set<string>();

  constructor(private readonly x: JsParts) {}

  private streamName(room: string): string {
    return streamName(this.x.namespace, room);
  }

  private streamConfig(room: string): Partial<StreamConfig> & { name: string } {
    const l = this.x.limits;
    return {
      name: this.streamName(room),
      subjects: [logSubject(this.x.namespace, room)],
      description: streamDescription(room),
      retention: RetentionPolicy.Limits,
      storage: StorageType.File,
      discard: DiscardPolicy.Old,
      num_replicas: this.x.replicas,
      max_msgs: l.retentionMessages,
      max_bytes: l.retentionBytes,
      max_age: ms2ns(l.retentionAgeMs),
      duplicate_window: ms2ns(this.x.dupWindowMs),
      allow_direct: true,
    };
  }

  /** Creates the room's stream once per core (idempotent across cores); applies changed limits. */
  private ensureStream(room: string): Promise<void> {
    const name = this.streamName(room);
    let p = this.made.get(name);
    if (!p) {
      p = (async () => {
        const jsm = await this.x.jsm;
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

  async append(room: string, e: AppendEntry): Promise<AppendResult> {
    const kv = await this.x.kv;
    await this.ensureStream(room);
    const key = midKey(room, e.from, e.mid);
    let gen = 0;
    const had = await kv.mids.get(key);
    if (had && had.operation === "PUT") {
      const seq = Number(dec.decode(had.value));
      if (Number.isSafeInteger(seq) && seq >= (await this.range(room)).oldest) return { seq, duplicate: true };
      gen = seq;
    }
    const payload: Payload = { from: e.from, mid: e.mid, to: [...e.to], env: e.env, at: e.at };
    const data = enc.encode(JSON.stringify(payload));
    const limits = this.x.limits;
    // max_bytes with DiscardOld would drop a single entry larger than the limit (and all
    // before it) right after acking it: refuse it instead, nothing stored, nothing lost
    if (data.length + STORED_OVERHEAD > limits.retentionBytes) {
      throw new StoreError(
        "store_full",
        `entry of ${data.length} bytes does not fit retentionBytes ${limits.retentionBytes} of the JetStream room log: not stored`,
      );
    }
    const ack = await this.x.js.publish(logSubject(this.x.namespace, room), data, {
      msgID: `${e.from}.${e.mid}.${gen}`,
      expect: { streamName: this.streamName(room) },
    });
    if (ack.duplicate) return { seq: ack.seq, duplicate: true };
    // not awaited: until it lands (or if this core dies first) the duplicate window covers
    // the mid, which is far longer than a KV put; close() waits for it
    this.x.track(kv.mids.put(key, String(ack.seq)).catch(() => {}));
    return { seq: ack.seq, duplicate: false };
  }

  async readAfter(room: string, recipient: string, cursor: number, limit: number): Promise<StoredEntry[]> {
    const max = Math.min(Math.max(0, Math.floor(limit)), this.x.limits.maxReadBatch);
    if (max === 0) return [];
    const r = await this.range(room);
    const out: StoredEntry[] = [];
    let next = Math.max(Number.isFinite(cursor) ? Math.floor(cursor) + 1 : 1, r.oldest);
    if (next > r.last) return out;
    const consumer = await this.x.js.consumers.get(this.streamName(room), {
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
  }

  /**
   * Cluster only (not the port): the entries with seq in (after, upTo] for any
   * recipient, in order, at most maxReadBatch; seqs no longer retained are
   * skipped. Cross-core delivery reads this after a seq note; a short run is
   * direct gets by seq (one request each, in parallel), a long one a consumer.
   */
  async readRoom(room: string, after: number, upTo: number): Promise<StoredEntry[]> {
    const from = Math.max(1, Math.floor(after) + 1);
    const to = Math.min(Math.floor(upTo), from + this.x.limits.maxReadBatch - 1);
    if (to < from) return [];
    if (to - from < 64) {
      const got = await Promise.all(Array.from({ length: to - from + 1 }, (_, i) => this.entry(room, from + i)));
      return got.filter((e): e is StoredEntry => e !== null);
    }
    const out: StoredEntry[] = [];
    const consumer = await this.x.js.consumers.get(this.streamName(room), {
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
  }

  /** The retained range, age retention applied by the store's clock. */
  async range(room: string): Promise<SeqRange> {
    const jsm = await this.x.jsm;
    let info;
    try {
      info = await jsm.streams.info(this.streamName(room));
    } catch (e) {
      if (apiCode(e) === NOT_FOUND_STREAM || /not found/i.test(String(e))) return { oldest: 1, last: 0 };
      throw e;
    }
    const last = info.state.last_seq;
    let oldest = info.state.messages === 0 ? last + 1 : info.state.first_seq;
    const cutoff = this.x.now() - this.x.limits.retentionAgeMs;
    // max_age trims in real time; this walks the (normally empty) prefix the store's clock says is gone
    while (oldest <= last) {
      const m = await this.entry(room, oldest);
      if (m && m.at >= cutoff) break;
      oldest++;
    }
    return { oldest, last };
  }

  /** The entry stored at seq (null when not there), by one direct get; age retention is the caller's. */
  async entry(room: string, seq: number): Promise<StoredEntry | null> {
    const jsm = await this.x.jsm;
    try {
      const m = await jsm.direct.getMessage(this.streamName(room), { seq });
      if (!m) return null;
      return parsePayload(m.data, m.seq);
    } catch (e) {
      if (apiCode(e) === NOT_FOUND_MSG || /not found|no message/i.test(String(e))) return null;
      throw e;
    }
  }

  /**
   * As entry, for a room whose stream may not exist: a direct get on a stream
   * that does not exist finds no responder and waits out its timeout, so a
   * stream this core neither made nor saw is asked about once first.
   */
  async entryIfStream(room: string, seq: number): Promise<StoredEntry | null> {
    const name = this.streamName(room);
    if (!this.made.has(name) && !this.seen.has(name)) {
      const r = await this.range(room);
      if (r.last === 0 || seq > r.last) return null;
      this.seen.add(name);
    }
    return this.entry(room, seq);
  }

  /** What the room's log occupies as JetStream counts it (what retentionBytes / max_bytes limits). */
  async bytes(room: string): Promise<number> {
    const jsm = await this.x.jsm;
    const info = await jsm.streams.info(this.streamName(room)).catch(() => null);
    return info?.state.bytes ?? 0;
  }

  /** Removes physically the prefix the store's clock says is gone (max_age does it in real time). */
  async sweep(): Promise<void> {
    const jsm = await this.x.jsm;
    const prefix = streamPrefix(this.x.namespace);
    for await (const name of jsm.streams.names()) {
      if (!name.startsWith(prefix)) continue;
      const info = await jsm.streams.info(name);
      const room = roomOfDescription(info.config.description);
      if (room === undefined || this.streamName(room) !== name) continue;
      const r = await this.range(room);
      if (r.oldest > info.state.first_seq && info.state.messages > 0) await jsm.streams.purge(name, { seq: r.oldest });
    }
  }
}
