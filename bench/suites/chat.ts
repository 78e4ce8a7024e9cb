// Chat latency: M members in one room send to the room at a fixed total
// rate (open loop, round-robin over senders); latency runs from a message's
// scheduled send time to its receipt by each recipient, and "to everyone" is
// the last recipient's. Envelopes are sealed once, before the run, with the
// real sealEnvelope for every member of the room, and re-sent with fresh
// mids: the core sees exactly the bytes a real client sends (it verifies no
// signatures), and the measurement contains no client crypto. Crypto cost is
// measured separately (cryptoCost).
//
// Just over 300 lines: the chat ladder and its sealed/unsealed variants.

import { randomBytes } from "node:crypto";
import { openEnvelope, sealEnvelope, type Identity } from "../../protocol/crypto";
import type { AnyEnvelope } from "../../protocol/messages";
import { generateSigningKeyPair } from "../../protocol/e2e/primitives";
import { deriveRoomKeys, generateRoomSecret, parseRoomSecret } from "../../protocol/e2e/roomSecret";
import { OutboundChain } from "../../protocol/e2e/senderKeys";
import { identities } from "../lib/keys";
import type { Transport } from "../lib/link";
import { joinMany, type Member } from "../lib/member";
import { percentile, sleep, sortNum, spread, type Spread } from "../lib/stats";
import { startStack } from "./video";
import { treeRunqWait } from "../lib/procs";
import { KIND_CONTROL } from "../../protocol/framing";

/** v1 "sealed" (RSA per recipient), v1 "tiny" (routing alone), "v2" (a sender-key envelope in a v2 room). */
export type EnvKind = "sealed" | "tiny" | "v2";

export interface ChatLevel {
  rate: number;
  achievedRate: number;
  messages: number;
  /** Send -> the last recipient, ms. */
  p50: number;
  p99: number;
  /** Send -> each recipient, ms. */
  deliveryP50: number;
  deliveryP99: number;
  lost: number;
  coreCpu: number;
  relayCpu: number | null;
  loadgenCpu: number;
  /** Fan-out bytes per second the core wrote (msg frames x recipients), MB/s. */
  fanoutMBps: number;
  /** Seconds per second the core's threads waited for a CPU (other load on the machine). */
  coreRunqWait: number;
  loadgenRunqWait: number;
  passed: boolean;
}

export interface ChatRun {
  members: number;
  transport: Transport;
  env: EnvKind;
  envelopeBytes: number;
  /** Every repetition's levels. */
  reps: ChatLevel[][];
  /** Per rate: median over repetitions (min-max) of p50/p99 to the last recipient. */
  summary: { rate: number; p50: Spread; p99: Spread; passedAll: boolean }[];
  /** Highest rate whose median p99 < 50 ms with nothing lost. */
  maxRateP99Under50: number;
}

const MID_KEY = Buffer.from('"mid":"');

async function makeEnvelope(
  kind: EnvKind,
  sender: Identity,
  ids: readonly Identity[],
  room: string,
): Promise<AnyEnvelope> {
  if (kind === "v2") {
    // The real sender-key seal: one ciphertext and one signature whatever the room size.
    const signer = await generateSigningKeyPair();
    return OutboundChain.create().seal(signer.privateKey, {
      room,
      from: sender.id,
      mid: "template",
      text: "x".repeat(120),
      ts: Date.now(),
    });
  }
  if (kind === "sealed") {
    return sealEnvelope(sender, {
      room,
      mid: "template",
      text: "x".repeat(120),
      ts: Date.now(),
      recipients: ids.map((i) => ({ id: i.id, encKey: i.encKey })),
    });
  }
  // Routing cost alone: the shape the core checks, with 4-byte keys instead of 256-byte RSA blocks.
  const keys = Object.fromEntries(ids.map((i) => [i.id, "AAAA"]));
  return {
    alg: "RSA-OAEP-256+A256GCM",
    iv: randomBytes(12).toString("base64"),
    ct: randomBytes(160).toString("base64"),
    keys,
    sig: randomBytes(256).toString("base64"),
  };
}

function sendFrame(mid: string, envJson: Buffer): Buffer {
  const head = Buffer.from(`{"t":"send","mid":"${mid}","env":`);
  const len = head.length + envJson.length + 1;
  const out = Buffer.allocUnsafe(5 + len);
  out.writeUInt32BE(len + 1, 0);
  out[4] = KIND_CONTROL;
  head.copy(out, 5);
  envJson.copy(out, 5 + head.length);
  out[out.length - 1] = 0x7d; // }
  return out;
}

interface Pending {
  at: number;
  left: number;
  last: number;
}

async function runLevel(
  members: Member[],
  envJson: Buffer,
  rate: number,
  durationMs: number,
  stack: { core: { cpu(): number; runqWait(): number }; relay: { cpu(): number } | null },
  tag: string,
): Promise<ChatLevel> {
  const M = members.length;
  const pending = new Map<string, Pending>();
  const delivery: number[] = [];
  const done: number[] = [];
  const warmupMs = Math.min(500, durationMs / 4);
  let t0 = 0;
  let msgBytes = 0;
  for (const m of members) {
    m.errors.length = 0;
    m.onControl = (t, body) => {
      if (t !== "msg") return;
      const now = performance.now();
      const at = body.indexOf(MID_KEY);
      const end = body.indexOf(0x22, at + 7);
      const mid = body.toString("latin1", at + 7, end);
      const p = pending.get(mid);
      if (!p) return;
      msgBytes += body.length + 5;
      if (p.at - t0 >= warmupMs) delivery.push(now - p.at);
      p.last = now;
      if (--p.left === 0) {
        if (p.at - t0 >= warmupMs) done.push(now - p.at);
        pending.delete(mid);
      }
    };
  }
  const total = Math.round((rate * durationMs) / 1000);
  const c0 = stack.core.cpu();
  const r0 = stack.relay?.cpu() ?? 0;
  const l0 = process.cpuUsage();
  const q0 = stack.core.runqWait();
  const lq0 = treeRunqWait(process.pid);
  t0 = performance.now();
  let i = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (i < total && t0 + (i * 1000) / rate <= now) {
        const at = t0 + (i * 1000) / rate;
        const mid = `${tag}.${i}`;
        pending.set(mid, { at, left: M - 1, last: 0 });
        members[i % M].link.sendFrame(sendFrame(mid, envJson));
        i++;
      }
      if (i >= total) return resolve();
      setTimeout(tick, Math.max(0, Math.min(5, t0 + (i * 1000) / rate - performance.now())));
    };
    tick();
  });
  const sentWall = (performance.now() - t0) / 1000;
  // Let the tail arrive (bounded: a failing level is cut off).
  const deadline = performance.now() + 3000;
  while (pending.size > 0 && performance.now() < deadline) await sleep(20);
  const wall = (performance.now() - t0) / 1000;
  const lu = process.cpuUsage(l0);
  const d = sortNum(done);
  const dl = sortNum(delivery);
  const closed = members.some((m) => m.link.closed || m.errors.length > 0);
  const lost = pending.size;
  const p99 = lost > 0 ? Infinity : percentile(d, 99);
  return {
    rate,
    achievedRate: total / sentWall,
    messages: total,
    p50: percentile(d, 50),
    p99,
    deliveryP50: percentile(dl, 50),
    deliveryP99: percentile(dl, 99),
    lost,
    coreCpu: (stack.core.cpu() - c0) / wall,
    relayCpu: stack.relay ? (stack.relay.cpu() - r0) / wall : null,
    loadgenCpu: (lu.user + lu.system) / 1e6 / wall,
    fanoutMBps: msgBytes / wall / 1e6,
    coreRunqWait: (stack.core.runqWait() - q0) / wall,
    loadgenRunqWait: (treeRunqWait(process.pid) - lq0) / wall,
    passed: !closed && lost === 0 && p99 < 50,
  };
}

export async function chat(opts: {
  members: number;
  transport: Transport;
  env: EnvKind;
  rates: readonly number[];
  durationMs: number;
  reps: number;
  videos: string;
  log: (s: string) => void;
  cpuProfDir?: string;
  store?: "memory" | { sqlite: string };
}): Promise<ChatRun> {
  const run: ChatRun = {
    members: opts.members,
    transport: opts.transport,
    env: opts.env,
    envelopeBytes: 0,
    reps: [],
    summary: [],
    maxRateP99Under50: 0,
  };
  for (let rep = 0; rep < opts.reps; rep++) {
    // A fresh core per repetition: a failed level may have closed members.
    const stack = await startStack(opts.videos, opts.transport, {
      ...(opts.cpuProfDir ? { cpuProfDir: opts.cpuProfDir } : {}),
      ...(opts.store ? { store: opts.store } : {}),
    });
    let members: Member[] = [];
    try {
      const ids = await identities(opts.members);
      const keys =
        opts.env === "v2"
          ? await deriveRoomKeys((parseRoomSecret(generateRoomSecret()) as { secret: Uint8Array<ArrayBuffer> }).secret)
          : undefined;
      const room = keys?.room ?? "chat";
      members = await joinMany(stack.target, ids, room, "c", 16, 0, keys);
      const env = await makeEnvelope(opts.env, ids[0], ids, room);
      const envJson = Buffer.from(JSON.stringify(env));
      run.envelopeBytes = envJson.length;
      const levels: ChatLevel[] = [];
      for (const rate of opts.rates) {
        await sleep(300);
        const l = await runLevel(members, envJson, rate, opts.durationMs, stack, `r${rep}.${rate}`);
        levels.push(l);
        opts.log(
          `    chat ${opts.members} members ${opts.transport} ${opts.env} ${rate}/s: p50 ${l.p50.toFixed(1)} ms p99 ${l.p99.toFixed(1)} ms (per delivery ${l.deliveryP50.toFixed(1)}/${l.deliveryP99.toFixed(1)}), sent ${l.achievedRate.toFixed(0)}/s, lost ${l.lost}, core ${(l.coreCpu * 100).toFixed(0)}%` +
            (l.relayCpu !== null ? ` relay ${(l.relayCpu * 100).toFixed(0)}%` : "") +
            ` loadgen ${(l.loadgenCpu * 100).toFixed(0)}%, runq wait core ${(l.coreRunqWait * 1000).toFixed(0)} loadgen ${(l.loadgenRunqWait * 1000).toFixed(0)} ms/s, ${l.fanoutMBps.toFixed(0)} MB/s${l.passed ? "" : " FAIL"}`,
        );
        if (!l.passed) break;
      }
      run.reps.push(levels);
    } finally {
      for (const m of members) m.close();
      await stack.stop();
    }
  }
  for (const rate of opts.rates) {
    const at = run.reps.map((ls) => ls.find((l) => l.rate === rate)).filter((l): l is ChatLevel => !!l);
    if (at.length === 0) break;
    const p99 = spread(at.map((l) => l.p99));
    const passedAll = at.length === run.reps.length && at.every((l) => l.passed);
    run.summary.push({ rate, p50: spread(at.map((l) => l.p50)), p99, passedAll });
    if (at.length === run.reps.length && p99.median < 50 && at.every((l) => l.lost === 0)) run.maxRateP99Under50 = rate;
  }
  return run;
}

export interface CryptoCost {
  recipients: number;
  /** Client side, ms per message: seal for all recipients, open by one recipient. */
  sealMs: Spread;
  openMs: Spread;
  envelopeBytes: number;
}

/** Client-side crypto per message (WebCrypto in this Node process, RSA-2048). */
export async function cryptoCost(recipients: number, samples: number): Promise<CryptoCost> {
  const ids = await identities(recipients + 1);
  const sender = ids[0];
  const to = ids.slice(1).map((i) => ({ id: i.id, encKey: i.encKey }));
  const seal: number[] = [];
  const open: number[] = [];
  let bytes = 0;
  // One warm-up to fill the public-key import cache, as a running client has.
  await sealEnvelope(sender, { room: "r", mid: "w", text: "x".repeat(120), ts: 0, recipients: to });
  for (let s = 0; s < samples; s++) {
    const mid = `m${s}`;
    let t = performance.now();
    const env = await sealEnvelope(sender, { room: "r", mid, text: "x".repeat(120), ts: Date.now(), recipients: to });
    seal.push(performance.now() - t);
    bytes = JSON.stringify(env).length;
    t = performance.now();
    const r = await openEnvelope(ids[1], { room: "r", from: sender.id, mid, env, senderSigKey: sender.sigKey });
    open.push(performance.now() - t);
    if (!r.ok) throw new Error(`openEnvelope failed: ${r.reason}`);
  }
  return { recipients, sealMs: spread(seal), openMs: spread(open), envelopeBytes: bytes };
}
