// Delivery receipts on JetStream KV: who confirmed each entry (receipts bucket) and what its sender was told (told).

import type { KV } from "@nats-io/kv";
import type { ReceiptNote, ReceiptResult } from "../../store/roomStore";
import { bucketName, dec, legacyReceiptKey, parseReceipt, receiptKey, roomToken, type Receipt } from "./layout";
import { scanKv } from "./kvScan";
import type { JsParts } from "./parts";
import type { RoomLog } from "./roomLog";

/**
 * seq -> current value of the keys of `bucket` matching `<T>.<sender>.*` (deleted ones left out).
 * Not kv.history(): it can wait 30 s when a matching key is written meanwhile (kvScan.ts).
 */
async function lastValues(x: JsParts, bucket: string, filter: string): Promise<Map<number, Uint8Array>> {
  const out = new Map<number, Uint8Array>();
  for (const e of (await scanKv(x.js, await x.jsm, bucket, filter)).values()) {
    const seq = Number(e.key.slice(e.key.lastIndexOf(".") + 1));
    if (Number.isSafeInteger(seq)) out.set(seq, e.value);
  }
  return out;
}

/** Receipts stored under the layout before (<T>.<seq> -> ids). */
async function legacyReceipt(kv: KV, room: string, seq: number): Promise<string[]> {
  const old = await kv.get(legacyReceiptKey(room, seq));
  return old && old.operation === "PUT" ? (JSON.parse(dec.decode(old.value)) as string[]) : [];
}

/** Input is checked, and errors mapped, by the facade (jetstreamStore.ts); the log says what is retained. */
export class Receipts {
  constructor(
    private readonly x: JsParts,
    private readonly log: RoomLog,
  ) {}

  async markDelivered(room: string, seq: number, recipient: string): Promise<ReceiptResult | null> {
    if (!Number.isSafeInteger(seq) || seq < 1) return null;
    // One direct get, not the range (a stream info and a walk): an entry gone by count or bytes
    // is not there, one gone by age is judged by its own `at`, as the range would.
    const e = await this.log.entryIfStream(room, seq);
    if (!e || e.at < this.x.now() - this.x.limits.retentionAgeMs || !e.to.includes(recipient)) return null;
    const kv = (await this.x.kv).receipts;
    const key = receiptKey(room, e.from, seq);
    for (let attempt = 0; ; attempt++) {
      const cur = await kv.get(key);
      const have = cur && cur.operation === "PUT" ? parseReceipt(cur.value).by : await legacyReceipt(kv, room, seq);
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
  }

  async deliveredCount(room: string, seq: number): Promise<number> {
    if (!Number.isSafeInteger(seq)) return 0;
    const r = await this.log.range(room);
    if (seq < r.oldest || seq > r.last) return 0;
    const e = await this.log.entry(room, seq);
    if (!e) return 0;
    const kv = (await this.x.kv).receipts;
    const cur = await kv.get(receiptKey(room, e.from, seq));
    return cur && cur.operation === "PUT"
      ? parseReceipt(cur.value).by.length
      : (await legacyReceipt(kv, room, seq)).length;
  }

  async markTold(room: string, sender: string, seq: number, delivered: number): Promise<void> {
    if (!Number.isSafeInteger(seq) || seq < 1) return;
    // keyed by sender: a record under another sender's key is never read for this seq's sender
    const kv = (await this.x.kv).told;
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
  }

  async receiptsFor(room: string, sender: string, limit: number): Promise<ReceiptNote[]> {
    const max = Math.min(Math.max(0, Math.floor(limit)), this.x.limits.maxReadBatch);
    if (max === 0) return [];
    const filter = `${roomToken(room)}.${sender}.*`;
    const ns = this.x.namespace;
    // One filtered read of each bucket (history 1: the current value of each key), not a get per message.
    const [counts, tolds, range] = await Promise.all([
      lastValues(this.x, bucketName(ns, "receipts"), filter),
      lastValues(this.x, bucketName(ns, "told"), filter),
      this.log.range(room),
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
  }
}
