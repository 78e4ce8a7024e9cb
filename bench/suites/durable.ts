// The durable room log (issue 14): chat latency with the SQLite store on
// against the memory store, in the same run; the time a real core takes to
// replay 10,000 missed messages to a resuming member (hello -> `resumed`); and
// the store file's size and growth, with and without retention biting.

import { mkdtempSync, readdirSync, rmSync, statSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeHello, generateIdentity, type Identity } from "../../protocol/crypto";
import { decodeRaw } from "../../protocol/codec";
import { FrameDecoder, KIND_CONTROL, encodeFrame } from "../../protocol/framing";
import { SqliteStore } from "../../server/store/sqliteStore";
import { startCoreProc } from "../lib/procs";
import { chat, type ChatRun } from "./chat";

export interface DurableResult {
  chat: { store: "memory" | "sqlite"; run: ChatRun }[];
  resume: { store: "memory" | "sqlite"; messages: number; ms: number; perMessageUs: number }[];
  size: {
    messages: number;
    envelopeBytes: number;
    retentionMessages: number;
    fileBytes: number;
    bytesPerMessage: number;
  }[];
}

function dirBytes(dir: string): number {
  let n = 0;
  for (const f of readdirSync(dir)) n += statSync(join(dir, f)).size;
  return n;
}

/** An envelope-sized JSON string: what the store keeps per message (the core never parses it again). */
function fakeEnv(recipients: readonly string[], bytes: number): string {
  const keys = Object.fromEntries(recipients.map((r) => [r, "k".repeat(344)]));
  const base = JSON.stringify({
    alg: "RSA-OAEP-256+A256GCM",
    iv: "AAAAAAAAAAAAAAAA",
    ct: "",
    keys,
    sig: "s".repeat(344),
  });
  return base.replace('"ct":""', `"ct":"${"c".repeat(Math.max(24, bytes - base.length))}"`);
}

async function fill(
  dir: string,
  room: string,
  who: Identity,
  sender: Identity,
  n: number,
  limits: { retentionMessages?: number } = {},
): Promise<number> {
  const store = new SqliteStore(dir, {
    limits: { retentionMessages: Math.max(n, limits.retentionMessages ?? 10_000), ...limits },
  });
  const now = Date.now();
  const member = (i: Identity, name: string) => ({
    id: i.id,
    name,
    encKey: i.encKey,
    sigKey: i.sigKey,
    encKeySig: i.encKeySig,
    joinedAt: now,
    lastSeen: now,
  });
  await store.putMember(room, member(who, "resumer"));
  await store.putMember(room, member(sender, "sender"));
  const env = fakeEnv([who.id], 1_000);
  const batch: Promise<unknown>[] = [];
  for (let i = 0; i < n; i++) {
    batch.push(store.append(room, { from: sender.id, mid: `m${i}`, to: [who.id], env, at: now }));
    if (batch.length >= 1_000) await Promise.all(batch.splice(0));
  }
  await Promise.all(batch);
  await store.close();
  return env.length;
}

/** Hello with cap durable and resume {seq: 0}; resolves with ms from hello to `resumed` and the msgs counted. */
async function resumeOnce(port: number, room: string, who: Identity): Promise<{ ms: number; msgs: number }> {
  const sock = net.connect(port, "127.0.0.1");
  return new Promise((resolve, reject) => {
    let sentAt = 0;
    let msgs = 0;
    const dec = new FrameDecoder({ maxFrame: 1 << 24, kinds: new Set([KIND_CONTROL, 2]) });
    sock.on("error", reject);
    sock.on("data", (d) =>
      dec.push(d, (f) => {
        if (f.kind !== KIND_CONTROL) return;
        const r = decodeRaw(f.body);
        if (!r.ok) return;
        const m = r.raw;
        if (m.t === "challenge") {
          void makeHello(who, { nonce: String(m.nonce), room, name: "resumer", caps: ["durable"] }).then((h) => {
            sentAt = performance.now();
            sock.write(
              encodeFrame(KIND_CONTROL, new TextEncoder().encode(JSON.stringify({ ...h, resume: { room, seq: 0 } }))),
            );
          });
        } else if (m.t === "msg") msgs++;
        else if (m.t === "resumed") {
          const ms = performance.now() - sentAt;
          sock.destroy();
          resolve({ ms, msgs });
        } else if (m.t === "error" && m.fatal === true) reject(new Error(String(m.message)));
      }),
    );
  });
}

export async function durable(opts: {
  videos: string;
  durationMs: number;
  reps: number;
  rates: readonly number[];
  resumeMessages: number;
  log: (s: string) => void;
}): Promise<DurableResult> {
  const res: DurableResult = { chat: [], resume: [], size: [] };
  for (const store of ["memory", "sqlite"] as const) {
    const dir = mkdtempSync(join(tmpdir(), "sealroom-bench-store-"));
    opts.log(`  durable: chat 10 members tcp sealed, store ${store}`);
    const run = await chat({
      members: 10,
      transport: "tcp",
      env: "sealed",
      rates: opts.rates,
      durationMs: opts.durationMs,
      reps: opts.reps,
      videos: opts.videos,
      log: opts.log,
      store: store === "memory" ? "memory" : { sqlite: dir },
    });
    res.chat.push({ store, run });
    rmSync(dir, { recursive: true, force: true });
  }

  const [who, sender] = await Promise.all([generateIdentity(), generateIdentity()]);
  const room = "resume";
  {
    const dir = mkdtempSync(join(tmpdir(), "sealroom-bench-resume-"));
    await fill(dir, room, who, sender, opts.resumeMessages);
    const cacheDir = mkdtempSync(join(tmpdir(), "sealroom-bench-cache-"));
    const core = await startCoreProc({ videos: opts.videos, cacheDir, store: { sqlite: dir } });
    try {
      const times: number[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await resumeOnce(core.port, room, who);
        if (r.msgs !== opts.resumeMessages) throw new Error(`resume replayed ${r.msgs} of ${opts.resumeMessages}`);
        times.push(r.ms);
      }
      times.sort((a, b) => a - b);
      const ms = times[1];
      res.resume.push({
        store: "sqlite",
        messages: opts.resumeMessages,
        ms,
        perMessageUs: (ms * 1000) / opts.resumeMessages,
      });
      opts.log(
        `  durable: resume of ${opts.resumeMessages} missed messages (SQLite, real core): ${ms.toFixed(0)} ms (median of 3)`,
      );
    } finally {
      await core.stop();
      rmSync(dir, { recursive: true, force: true });
      rmSync(cacheDir, { recursive: true, force: true });
    }
  }

  for (const [n, retention] of [
    [1_000, 10_000],
    [10_000, 10_000],
    [20_000, 10_000],
  ] as const) {
    const dir = mkdtempSync(join(tmpdir(), "sealroom-bench-size-"));
    const envBytes = await fill(dir, room, who, sender, n, { retentionMessages: retention });
    const fileBytes = dirBytes(dir);
    res.size.push({
      messages: n,
      envelopeBytes: envBytes,
      retentionMessages: retention,
      fileBytes,
      bytesPerMessage: fileBytes / Math.min(n, retention),
    });
    opts.log(
      `  durable: store after ${n} messages of ${envBytes} B (retention ${retention}): ${(fileBytes / 1_048_576).toFixed(1)} MiB, ${(fileBytes / Math.min(n, retention)).toFixed(0)} B per kept message`,
    );
    rmSync(dir, { recursive: true, force: true });
  }
  return res;
}
