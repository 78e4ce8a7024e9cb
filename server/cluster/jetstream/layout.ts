// Where the JetStream room store keeps what (names, keys, record shapes), and the NATS API errors it tells apart.
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

import { createHash } from "node:crypto";
import { StoreError, type StoredEntry } from "../../store/roomStore";

export const NS_RE = /^[A-Za-z0-9]{1,16}$/;
export const ms2ns = (ms: number) => Math.round(ms * 1_000_000);
export const enc = new TextEncoder();
export const dec = new TextDecoder();

/** A subject-, stream- and key-safe token for any room name. */
export function roomToken(room: string): string {
  return createHash("sha256").update(room, "utf8").digest("base64url").slice(0, 32);
}

const b64 = (s: string) => Buffer.from(s, "utf8").toString("base64url");

/** The prefix of every room stream's name in namespace `ns` (the sweep lists streams by it). */
export const streamPrefix = (ns: string) => `SR_${ns}_`;
export const streamName = (ns: string, room: string) => `${streamPrefix(ns)}${roomToken(room)}`;
export const logSubject = (ns: string, room: string) => `sealroom.${ns}.log.${roomToken(room)}`;

/** The stream's description names its room: a token cannot be turned back into one, and the sweep needs it. */
export const streamDescription = (room: string) => `sealroom room log: ${room.slice(0, 200)}`;
export const roomOfDescription = (d: string | undefined) => d?.replace(/^sealroom room log: /, "");

export const bucketName = (ns: string, what: string) => `sr_${ns}_${what}`;
export const midKey = (room: string, from: string, mid: string) => `${roomToken(room)}.${from}.${b64(mid)}`;
export const memberKey = (room: string, id: string) => `${roomToken(room)}.${id}`;
export const receiptKey = (room: string, sender: string, seq: number) => `${roomToken(room)}.${sender}.${seq}`;
/** The receipts key of the layout before (<T>.<seq> -> ids). */
export const legacyReceiptKey = (room: string, seq: number) => `${roomToken(room)}.${seq}`;

/** One log entry as stored in the stream (its seq is the stream sequence, not in the payload). */
export interface Payload {
  from: string;
  mid: string;
  to: string[];
  env: string;
  at: number;
}

export function parsePayload(data: Uint8Array, seq: number): StoredEntry {
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

/** One receipts record: the entry's mid, its recipient count and who confirmed it. */
export interface Receipt {
  mid: string;
  of: number;
  by: string[];
}

export function parseReceipt(v: Uint8Array): Receipt {
  const r = JSON.parse(dec.decode(v)) as Partial<Receipt>;
  if (typeof r.mid !== "string" || typeof r.of !== "number" || !Array.isArray(r.by))
    throw new StoreError("corrupt", "a receipt record is not a Sealroom receipt");
  return { mid: r.mid, of: r.of, by: r.by.map(String) };
}

/** The JetStream API error code of a failed request (0 when it has none), across client versions. */
export function apiCode(e: unknown): number {
  const x = e as { api_error?: { err_code?: number }; code?: number | string; apiError?: () => { err_code?: number } };
  if (typeof x?.apiError === "function") return x.apiError()?.err_code ?? 0;
  return x?.api_error?.err_code ?? 0;
}
export const NOT_FOUND_STREAM = 10059;
export const NOT_FOUND_MSG = 10037;
/** More than JetStream adds to a payload when storing it (subject, Msg-Id header, record framing). */
export const STORED_OVERHEAD = 256;
