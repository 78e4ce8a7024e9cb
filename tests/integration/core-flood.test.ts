// One member floods its room (issue 9, part 3), against a real core process
// over real sockets: envelopes padded to 200 KiB at the 50 messages a second
// the frame limit allows, to 6 honest members who each read at about 2 MB/s
// (their sockets paused and resumed to hold that rate). The send budget must
// throttle or close the flooder, never the readers, and chat in another room
// must go on as before. Without the budget the readers were closed within 8 s.
//
// Reproduce: npx vitest run tests/integration/core-flood.test.ts
// (SEALROOM_LONG=1: a 30 s flood.)

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sealEnvelope, type Identity } from "../../protocol/crypto";
import { KIND_CONTROL, encodeFrame } from "../../protocol/framing";
import { DEFAULT_LIMITS } from "../../protocol/limits";
import {
  LONG,
  MiB,
  VIDEOS,
  cpuMsOf,
  mib,
  rssOf,
  sleep,
  spawnCore,
  stopProc,
  type Spawned,
} from "../helpers/security-support";
import { identity, join, type WirePeer } from "../helpers/wire";

const HONEST = 6;
const ENV_BYTES = 200 * 1024;
const FLOOD_PER_SEC = 50;
const FLOOD_MS = LONG ? 30_000 : 10_000;
const BASELINE_MS = 2_000;

let core: Spawned;
beforeAll(async () => {
  core = await spawnCore(["--port", "0", "--videos", VIDEOS]);
}, 60_000);
afterAll(() => stopProc(core));

/**
 * Holds a peer's reading to `bps`: a token bucket with 64 KiB of burst (so
 * quiet time earns no credit); the socket is paused while it is in debt.
 */
function throttle(peer: WirePeer, bps: number): void {
  const BURST = 64 * 1024;
  let credit = BURST;
  let last = Date.now();
  let seen = peer.bytesIn;
  let timer: ReturnType<typeof setTimeout> | null = null;
  peer.onData(() => {
    const now = Date.now();
    credit = Math.min(BURST, credit + ((now - last) * bps) / 1000) - (peer.bytesIn - seen);
    last = now;
    seen = peer.bytesIn;
    if (credit >= 0 || timer || peer.closed) return;
    peer.pause();
    timer = setTimeout(
      () => {
        timer = null;
        peer.resume();
      },
      (-credit / bps) * 1000,
    );
  });
}

const p99 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * 0.99))];

/** Alice messages Bob in their own room, one at a time; each delivery time is recorded under the current phase. */
function bystanders(a: { peer: WirePeer }, bob: { peer: WirePeer; identity: Identity }, env: object, tag: string) {
  const samples = new Map<string, number[]>();
  let phase = "quiet";
  let running = true;
  let n = 0;
  const loop = (async () => {
    while (running) {
      const mid = `${tag}b${n++}`;
      const at = Date.now();
      a.peer.send({ t: "send", mid, to: [bob.identity.id], env });
      await bob.peer.next((m) => m.t === "msg" && m.mid === mid, 10_000, Math.max(0, bob.peer.messages.length - 50));
      const list = samples.get(phase) ?? [];
      list.push(Date.now() - at);
      samples.set(phase, list);
      if (n % 50 === 0) bob.peer.send({ t: "ping", ts: n }); // keeps bob from idling out
      await sleep(20);
    }
  })();
  return {
    samples,
    set phase(p: string) {
      phase = p;
    },
    async stop() {
      running = false;
      await loop;
    },
  };
}

interface Scenario {
  name: string;
  /** What each honest member can read, bytes a second. */
  readBps: number;
  /** Whether the flooder pauses after each rate_limited, as a v1 client does (then it is throttled, never closed). */
  backsOff: boolean;
  /** Starts every mid: the core remembers a member's mids, and the scenarios share identities. */
  tag: string;
}

async function flood(sc: Scenario): Promise<void> {
  // The bystanders' room.
  const alice = await join(core.port, { name: "alice", room: `calm-${sc.name}`, id: await identity(0) });
  const bob = await join(core.port, { name: "bob", room: `calm-${sc.name}`, id: await identity(1) });
  const small = await sealEnvelope(alice.identity, {
    room: `calm-${sc.name}`,
    mid: "x",
    text: "hi",
    ts: 0,
    recipients: [bob.identity],
  });
  const by = bystanders(alice, bob, small, sc.tag);

  // The flooded room: 6 honest members reading at sc.readBps, and the flooder.
  const honest: Awaited<ReturnType<typeof join>>[] = [];
  for (let i = 0; i < HONEST; i++) {
    const m = await join(core.port, { name: `honest${i}`, room: `flooded-${sc.name}`, id: await identity(2 + i) });
    throttle(m.peer, sc.readBps);
    honest.push(m);
  }
  const flooder = await join(core.port, {
    name: "flooder",
    room: `flooded-${sc.name}`,
    id: await identity(2 + HONEST),
  });

  // A room message (no `to`: everyone else in the room), a real envelope for
  // the 6 with its ciphertext padded (valid base64) to 200 KiB.
  const sealed = await sealEnvelope(flooder.identity, {
    room: `flooded-${sc.name}`,
    mid: "x",
    text: "x",
    ts: 0,
    recipients: honest.map((m) => m.identity),
  });
  const pad = Math.floor((ENV_BYTES - JSON.stringify({ ...sealed, ct: "" }).length) / 4) * 4;
  const env = { ...sealed, ct: "A".repeat(pad) };
  const template = Buffer.from(
    encodeFrame(KIND_CONTROL, new TextEncoder().encode(JSON.stringify({ t: "send", mid: `${sc.tag}0000000`, env }))),
  );
  const midAt = template.indexOf(`${sc.tag}0000000`);
  const frameBytes = template.length;

  await sleep(BASELINE_MS);
  by.phase = "flood";
  const cpu0 = cpuMsOf(core.pid);
  const rss0 = rssOf(core.pid);
  let peakRss = rss0;
  const honestBytes0 = honest.map((m) => m.peer.bytesIn);
  const honestClosedAt: (number | null)[] = honest.map(() => null);
  let flooderClosedAt: number | null = null;
  let sent = 0;
  const t0 = Date.now();
  let seenErrors = 0;
  let holdUntil = 0;
  /** Time spent holding back: it earns no sends. */
  let heldMs = 0;
  let lastTick = 0;
  // 50 a second on average: each tick sends what the clock says is due (at most 2, so no burst).
  const ticker = setInterval(() => {
    const now = Date.now() - t0;
    const tick = now - lastTick;
    lastTick = now;
    if (flooder.peer.closed) flooderClosedAt ??= now;
    honest.forEach((m, i) => m.peer.closed && (honestClosedAt[i] ??= now));
    peakRss = Math.max(peakRss, rssOf(core.pid));
    if (sc.backsOff) {
      const errorsNow = flooder.peer.messages.filter((m) => m.t === "error").length;
      if (errorsNow > seenErrors) holdUntil = now + 1_100; // a v1 client waits rateLimitRetryMs (1 s)
      seenErrors = errorsNow;
      if (now < holdUntil) {
        heldMs += tick;
        return;
      }
    }
    for (let k = 0; k < 2 && !flooder.peer.closed && sent < Math.floor(((now - heldMs) * FLOOD_PER_SEC) / 1000); k++) {
      const frame = Buffer.from(template);
      frame.write(`${sc.tag}${String(sent++).padStart(7, "0")}`, midAt, "latin1");
      flooder.peer.sendRaw(frame);
    }
  }, 10);
  await sleep(FLOOD_MS);
  clearInterval(ticker);
  const elapsed = Date.now() - t0;
  const cpuShare = (cpuMsOf(core.pid) - cpu0) / elapsed;
  by.phase = "after";
  await sleep(300);
  await by.stop();

  const acks = flooder.peer.messages.filter((m) => m.t === "ack").length;
  const errors = flooder.peer.messages.filter((m) => m.t === "error");
  const told = errors.filter((e) => e.code === "rate_limited" && e.fatal === false);
  const byCode = new Map<string, number>();
  for (const e of errors)
    byCode.set(
      `${String(e.code)}${e.fatal ? " (fatal)" : ""}`,
      (byCode.get(`${String(e.code)}${e.fatal ? " (fatal)" : ""}`) ?? 0) + 1,
    );
  const codes = [...byCode].map(([c, n]) => `${c} x${n}`);
  const fatal = errors.find((e) => e.fatal === true);
  // While connected: bytes over the time until it was closed, or the whole run.
  const readRates = honest.map((m, i) => ((m.peer.bytesIn - honestBytes0[i]) / (honestClosedAt[i] ?? elapsed)) * 1000);
  const quiet = by.samples.get("quiet") ?? [];
  const flooded = by.samples.get("flood") ?? [];
  const sentSeconds = (flooderClosedAt ?? elapsed) / 1000;
  console.log(
    `[flood ${sc.name}] offered: ${sent} sends of ${frameBytes} bytes in ${sentSeconds.toFixed(1)} s = ${mib((sent * frameBytes) / sentSeconds)}/s in, ` +
      `${mib((sent * frameBytes * HONEST) / sentSeconds)}/s of fan-out to ${HONEST} members; ` +
      `flooder: ${acks} accepted, ${told.length} rate_limited (non-fatal)${fatal ? `, closed with fatal ${String(fatal.code)} at ${flooderClosedAt ?? "?"} ms` : ", not closed"} (errors: ${codes.join(", ") || "none"}); ` +
      `honest: ${honest.filter((m) => !m.peer.closed).length} of ${HONEST} connected for the whole ${elapsed} ms, ` +
      `read ${readRates.map((r) => (r / 1e6).toFixed(2)).join("/")} MB/s while connected (able to read ${sc.readBps / 1e6} MB/s), closed at ${JSON.stringify(honestClosedAt)}; ` +
      `bystanders p99 ${p99(quiet)} ms quiet (${quiet.length} msgs) -> ${p99(flooded)} ms during (${flooded.length} msgs), worst ${Math.max(...flooded)} ms; ` +
      `core CPU ${(cpuShare * 100).toFixed(0)}% of a core, RSS ${mib(rss0)} -> peak ${mib(peakRss)}`,
  );

  // The honest members stayed for the whole run and still answer.
  expect(honestClosedAt).toEqual(honest.map(() => null));
  for (const m of honest) {
    expect(m.peer.messages.some((x) => x.t === "error")).toBe(false);
    m.peer.send({ t: "ping", ts: 42 });
    await m.peer.next((x) => x.t === "pong" && x.ts === 42, 10_000);
  }
  // The flooder heard rate_limited the way v1 says it: non-fatal, ref a mid
  // it sent, at most one a second, nothing v1 does not define.
  expect(told.length).toBeGreaterThan(0);
  expect(told.length).toBeLessThanOrEqual(Math.ceil(sentSeconds) + 1);
  for (const e of errors) {
    expect(Object.keys(e).sort()).toEqual(["code", "fatal", "message", "ref", "t"]);
    expect(e).toMatchObject({
      t: "error",
      code: "rate_limited",
      message: expect.any(String),
      ref: expect.stringMatching(new RegExp(`^${sc.tag}\\d{7}$`)),
    });
  }
  // Throttled: what got through is what the per-recipient budget allows,
  // far below what was offered; a flood that goes on is closed.
  const allowed = (DEFAULT_LIMITS.recipientBurstBytes + DEFAULT_LIMITS.recipientBytesPerSec * sentSeconds) / frameBytes;
  expect(acks).toBeLessThanOrEqual(Math.ceil(allowed) + 2);
  if (!sc.backsOff) expect(acks).toBeLessThan(sent / 2);
  // Pausing as told, it still gets through most of what the budget allows.
  else expect(acks).toBeGreaterThan(0.6 * allowed);
  if (fatal) expect(errors.at(-1)).toBe(fatal);
  // One that keeps flooding is closed; one that pauses when told is only slowed.
  if (sc.backsOff) expect(flooder.peer.closed).toBe(false);
  else if (FLOOD_MS > DEFAULT_LIMITS.rateLimitFatalMs + 3_000) expect(flooder.peer.closed).toBe(true);
  // The honest members got what was accepted (the pongs came after it).
  const accepted = flooder.peer.messages.filter((m) => m.t === "ack").length;
  for (const m of honest)
    expect(m.peer.messages.filter((x) => x.t === "msg" && x.from === flooder.identity.id).length).toBe(accepted);

  // Another room's chat: p99 within a generous bound of its quiet p99.
  expect(quiet.length).toBeGreaterThan(20);
  expect(flooded.length).toBeGreaterThan(100);
  expect(p99(flooded)).toBeLessThan(2 * p99(quiet) + 500);
  expect(peakRss - rss0).toBeLessThan(256 * MiB);

  for (const m of [...honest, flooder, alice, bob]) m.peer.close();
}

describe("a member flooding its room with 200 KiB envelopes at 50 a second", () => {
  it(
    "that keeps at it is closed; the 6 members reading at 2 MB/s stay connected; another room's chat is unaffected",
    () => flood({ name: "blind", readBps: 2_000_000, backsOff: false, tag: "f" }),
    60_000,
  );

  it(
    "that pauses when told is throttled to its budget for the whole run; members reading at only 1 MB/s stay connected",
    () => flood({ name: "backs-off", readBps: 1_000_000, backsOff: true, tag: "g" }),
    60_000,
  );
});
