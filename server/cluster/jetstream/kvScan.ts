// Reads the current value of every KV key matching a filter in one ordered
// stream read, ended by stream sequence, not by the consumer's pending count.
//
// Why not KV keys() or history(): they end when a message says pending 0 (or
// on the ordered consumer's idle heartbeat, 30 s). nats-server 2.9 miscounts
// that pending when a matching key is written or replaced during the read
// (measured: keys() took 30 s in 17-32% of reads racing one put), so a hello
// that loads a room while a member record is refreshed waited 30 s, past the
// client's handshake timeout. Here the read ends once it has delivered the
// last matching message that exists (checked before the read, and again while
// it is quiet, for a key removed by max_age meanwhile): nothing newer than
// what it saw is left, so it is complete as of its start.

import { DeliverPolicy, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";

export interface KvScanEntry {
  key: string;
  value: Uint8Array;
  /** The stream sequence of this value (the KV revision). */
  revision: number;
}

/** How long a read may be quiet before it asks again for the last matching sequence. */
export const KV_SCAN_RECHECK_MS = 200;

/**
 * The current PUT value of each key of `bucket` matching `filter` (KV key
 * syntax, wildcards allowed); deleted and purged keys left out.
 */
export async function scanKv(
  js: JetStreamClient,
  jsm: JetStreamManager,
  bucket: string,
  filter: string,
): Promise<Map<string, KvScanEntry>> {
  const stream = `KV_${bucket}`;
  const prefix = `$KV.${bucket}.`;
  const subject = prefix + filter;
  const out = new Map<string, KvScanEntry>();
  const lastMatching = async (): Promise<number> =>
    (await jsm.streams.getMessage(stream, { last_by_subj: subject }))?.seq ?? 0;
  let want = await lastMatching();
  if (want === 0) return out;
  const oc = await js.consumers.getPushConsumer(stream, {
    filter_subjects: subject,
    deliver_policy: DeliverPolicy.LastPerSubject,
  });
  let seen = 0;
  let checking = false;
  let failed: unknown = null;
  const msgs = await oc.consume({
    callback: (m) => {
      seen = Math.max(seen, m.seq);
      const key = m.subject.slice(prefix.length);
      const op = m.headers?.get("KV-Operation");
      if (op === "DEL" || op === "PURGE") out.delete(key);
      else out.set(key, { key, value: m.data, revision: m.seq });
      if (seen >= want) msgs.stop();
    },
  });
  // Quiet before `want`: the last matching message may be gone (max_age); what is last now?
  const recheck = setInterval(() => {
    if (checking) return;
    checking = true;
    lastMatching()
      .then((last) => {
        // lower only: what was written after the start is not waited for
        want = Math.min(want, last);
        if (seen >= want) msgs.stop();
      })
      .catch((e: unknown) => {
        failed = e;
        msgs.stop();
      })
      .finally(() => (checking = false));
  }, KV_SCAN_RECHECK_MS);
  try {
    await msgs.closed();
  } finally {
    clearInterval(recheck);
    // the ordered consumer would linger until its inactive threshold (5 min)
    oc.delete().catch(() => {});
  }
  if (failed) throw failed;
  return out;
}
