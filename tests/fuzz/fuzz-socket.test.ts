// Socket-level fuzzing: random and mutated frames (mutations of valid hellos,
// sends, plays and controls) thrown at a running core process over many TCP
// connections, and through a running bridge process over many WebSockets.
// Every connection must end in an answer (a pong to a final ping, or a close)
// within a bounded time: no crash, no hang, never an `internal` error. Then a
// legitimate client completes a full session over each path, and both
// processes' memory is back near where it started.
//
// CI: 10,000 frames at the core and 10,000 through the bridge. SEALROOM_LONG=1:
// ten times as many. SEALROOM_FUZZ_SEED replays a run.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as pathJoin } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { encodeJson } from "../../protocol/codec";
import { makeHello, sealEnvelope, type Identity } from "../../protocol/crypto";
import { KIND_CONTROL, encodeFrame } from "../../protocol/framing";
import { ClientSession } from "../../protocol/session";
import { tcpConnector } from "../../client/tcp";
import { makeClip } from "../../scripts/make-sample";
import { Fuzz, concat, frameOf } from "../helpers/fuzz-mutate";
import {
  LONG,
  MiB,
  mib,
  rssOf,
  sleep,
  spawnBridge,
  spawnCore,
  stopProc,
  wsConnector,
  type Spawned,
} from "../helpers/security-support";
import { identity, join, WirePeer, type Received } from "../helpers/wire";

const SEED = Number(process.env.SEALROOM_FUZZ_SEED ?? Date.now() % 1_000_000);
const CORE_FRAMES = LONG ? 100_000 : 10_000;
const BRIDGE_FRAMES = LONG ? 100_000 : 10_000;
const LANES = 6;
/** Every connection ends (pong or close) within this; longer is a hang. */
const ANSWER_MS = 10_000;
/** RSS may sit this far above its warmed-up baseline after the storm (V8 keeps some heap it grew). */
const RSS_SLACK = 96 * MiB;
const ROOM = "fuzz";

const lib = mkdtempSync(pathJoin(tmpdir(), "sealroom-fuzz-"));
let core: Spawned;
let bridge: Spawned;
let ids: Identity[];
let victimId: Identity;
const baseline = { core: 0, bridge: 0 };

interface Tally {
  frames: number;
  /** Frames on connections that answered the final ping: each was handled. */
  handled: number;
  connections: number;
  closedByServer: number;
  answeredByPong: number;
  codes: Map<string, number>;
  worstAnswerMs: number;
}
const tally = (): Tally => ({
  frames: 0,
  handled: 0,
  connections: 0,
  closedByServer: 0,
  answeredByPong: 0,
  codes: new Map(),
  worstAnswerMs: 0,
});

function countCodes(t: Tally, messages: Received[]): void {
  for (const m of messages) if (m.t === "error") t.codes.set(String(m.code), (t.codes.get(String(m.code)) ?? 0) + 1);
}

/** Valid messages of every client type, the raw material for mutations. */
async function templates(id: Identity, victim: Identity, lane: number): Promise<Record<string, unknown>[]> {
  const mid = `m${lane}-${SEED}`;
  const env = await sealEnvelope(id, {
    room: ROOM,
    mid,
    text: "fuzz",
    ts: Date.now(),
    recipients: [{ id: victim.id, encKey: victim.encKey }],
  });
  return [
    { t: "send", mid, env },
    { t: "send", mid: `${mid}b`, to: [victim.id], env },
    { t: "play", video: "clip.mp4", scope: "self", fromMs: 0 },
    { t: "play", video: "clip.mp4", scope: "room", fromMs: 500 },
    { t: "control", sid: 1, action: "seek", toMs: 300 },
    { t: "control", sid: 2, action: "pause" },
    { t: "ping", ts: 1 },
    { t: "videos" },
  ];
}

/** The core's or the bridge's side of one fuzz connection. */
interface Link {
  /** Whether several frames may go in one write (TCP) or each is its own message (WebSocket). */
  stream: boolean;
  messages: Received[];
  closed: boolean;
  write(frame: Uint8Array): void;
  next(pred: (m: Received) => boolean, timeoutMs: number): Promise<Received>;
  kill(): void;
}

const tcpLink = async (port: number): Promise<Link> => {
  const p = await WirePeer.connect(port);
  return {
    stream: true,
    messages: p.messages,
    get closed() {
      return p.closed;
    },
    write: (f) => p.sendRaw(f),
    next: (pred, ms) => p.next(pred, ms),
    kill: () => p.close(),
  };
};

const wsLink = async (url: string): Promise<Link> => {
  const p = await WirePeer.connectWs(url);
  return {
    stream: false,
    messages: p.messages,
    get closed() {
      return p.closed;
    },
    // A WebSocket message is one frame without its length: byte mutations of
    // the length field do not survive, everything after it does.
    write: (f) => (f.length >= 5 ? p.sendRaw(f) : p.sendWsMessage(f)),
    next: (pred, ms) => p.next(pred, ms),
    kill: () => p.close(),
  };
};

/**
 * One fuzz connection. Modes: a member that sends mutated requests after a
 * real hello (most frames, since request errors are not fatal); a mutated
 * hello; or byte-level garbage. Ends with a ping whose pong proves every
 * frame before it was handled.
 */
async function fuzzConnection(
  link: Link,
  f: Fuzz,
  lane: number,
  tpl: Record<string, unknown>[],
  t: Tally,
  budget: number,
): Promise<number> {
  t.connections++;
  const started = Date.now();
  const marker = 1e9 + t.connections;
  const challenge = await link.next((m) => m.t === "challenge", ANSWER_MS);
  const mode = f.int(10);
  const frames: Uint8Array[] = [];
  if (mode < 6) {
    link.write(
      frameOf(
        JSON.stringify(await makeHello(ids[lane], { nonce: String(challenge.nonce), room: ROOM, name: `f${lane}` })),
      ),
    );
    await link.next((m) => m.t === "welcome" || m.t === "error", ANSWER_MS).catch(() => null);
    const n = Math.min(budget, 20 + f.int(60));
    for (let i = 0; i < n; i++) {
      const base = f.pick(tpl);
      const last = i === n - 1;
      // A fatal mutation only as the last frame, so the ones before it are all handled.
      const body = f.chance(0.1) ? JSON.stringify(base) : f.mutateMessage(base, !(last && f.chance(0.3)));
      frames.push(last && f.chance(0.05) ? f.mutateBytes(frameOf(body)) : frameOf(body));
    }
  } else if (mode < 8) {
    const hello = await makeHello(ids[lane], { nonce: String(challenge.nonce), room: ROOM, name: `h${lane}` });
    frames.push(frameOf(f.mutateMessage(hello as unknown as Record<string, unknown>)));
    for (let i = f.int(3); i > 0; i--) frames.push(frameOf(f.mutateMessage(f.pick(tpl))));
  } else {
    for (let i = 1 + f.int(3); i > 0; i--) frames.push(f.mutateBytes(frameOf(f.mutateMessage(f.pick(tpl)))));
  }
  t.frames += frames.length;
  // Sometimes all at once, sometimes frame by frame.
  if (link.stream && f.chance(0.5)) link.write(concat(frames));
  else for (const fr of frames) link.write(fr);
  link.write(encodeFrame(KIND_CONTROL, encodeJson({ t: "ping", ts: marker })));

  try {
    await link.next((m) => m.t === "pong" && m.ts === marker, mode < 8 ? ANSWER_MS : 1_500);
    t.answeredByPong++;
    t.handled += frames.length;
  } catch (e) {
    if (!link.closed) {
      // Byte garbage may leave a frame incomplete: the core waits for the rest
      // (partialFrameTimeoutMs) and that is not a hang. Anything else is.
      if (mode < 8)
        throw new Error(`no answer within ${ANSWER_MS} ms (seed ${SEED}, lane ${lane}): ${(e as Error).message}`);
    } else {
      t.closedByServer++;
    }
  }
  t.worstAnswerMs = Math.max(t.worstAnswerMs, Date.now() - started);
  countCodes(t, link.messages);
  link.kill();
  return frames.length;
}

async function storm(open: () => Promise<Link>, total: number, seedOffset: number): Promise<Tally> {
  const t = tally();
  await Promise.all(
    Array.from({ length: LANES }, async (_, lane) => {
      const f = new Fuzz(SEED * 31 + seedOffset + lane);
      const tpl = await templates(ids[lane], victimId, lane);
      const quota = Math.ceil(total / LANES);
      let sent = 0;
      while (sent < quota) {
        sent += await fuzzConnection(await open(), f, lane, tpl, t, quota - sent);
      }
    }),
  );
  return t;
}

function report(what: string, t: Tally, rss: { before: number; after: number }): void {
  const codes = [...t.codes.entries()]
    .sort((a, b) => b[1] - a[1])
    .map(([c, n]) => `${c}=${n}`)
    .join(" ");
  console.log(
    `[fuzz ${what}] seed ${SEED}: ${t.frames} frames over ${t.connections} connections (${t.handled} on connections that answered the last ping); ` +
      `${t.answeredByPong} answered by pong, ${t.closedByServer} closed by the server; worst ${t.worstAnswerMs} ms; ` +
      `RSS ${mib(rss.before)} -> ${mib(rss.after)}; errors: ${codes}`,
  );
}

/** A victim member in the fuzz room who must stay connected and responsive throughout. */
async function victimWatch(port: number): Promise<{ stop: () => Promise<{ worstPingMs: number; closed: boolean }> }> {
  const v = await join(port, { name: "victim", room: ROOM, id: victimId });
  let worst = 0;
  let running = true;
  const loop = (async () => {
    for (let i = 0; running; i++) {
      const ts = 5e9 + i;
      const at = Date.now();
      v.peer.send({ t: "ping", ts });
      await v.peer.next((m) => m.t === "pong" && m.ts === ts, 10_000);
      worst = Math.max(worst, Date.now() - at);
      await sleep(200);
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      const closed = v.peer.closed;
      v.peer.close();
      return { worstPingMs: worst, closed };
    },
  };
}

beforeAll(async () => {
  await makeClip(pathJoin(lib, "clip.mp4"), { durationS: 2, width: 160, height: 90, fps: 10, label: false });
  ids = await Promise.all(Array.from({ length: LANES }, (_, i) => identity(i)));
  victimId = await identity(LANES);
  // The rate limit is lifted so every frame reaches the parser; short
  // timeouts so half-sent frames do not pile up for 15 s.
  core = await spawnCore([
    "--port",
    "0",
    "--videos",
    lib,
    "--cache-dir",
    pathJoin(lib, ".cache"),
    "--limit",
    "rateLimitPerSec=1000000",
    "--limit",
    "rateLimitBurst=1000000",
    "--limit",
    "partialFrameTimeoutMs=2000",
    "--limit",
    "helloTimeoutMs=3000",
  ]);
  bridge = await spawnBridge([
    "--port",
    "0",
    "--core",
    `127.0.0.1:${core.port}`,
    "--web",
    lib,
    "--max-per-ip",
    "100000",
  ]);
  // Warm up both paths with full sessions, then take the baselines.
  await fullSession("warm-tcp", "tcp");
  await fullSession("warm-ws", "ws");
  await sleep(500);
  baseline.core = rssOf(core.pid);
  baseline.bridge = rssOf(bridge.pid);
}, 120_000);

afterAll(async () => {
  await stopProc(bridge);
  await stopProc(core);
});

/**
 * A legitimate session: two members (one over TCP, one over the bridge or TCP)
 * join, exchange verified messages both ways, and watch a room stream.
 */
async function fullSession(room: string, second: "tcp" | "ws"): Promise<void> {
  const mk = (name: string, connect: ReturnType<typeof tcpConnector>, i: number) =>
    new ClientSession({ identity: ids[i], name, room, agent: "fuzz-check", connect, reconnect: false });
  const a = mk("alice", tcpConnector({ host: "127.0.0.1", port: core.port }), 0);
  const b = mk(
    "bob",
    second === "tcp"
      ? tcpConnector({ host: "127.0.0.1", port: core.port })
      : wsConnector(`ws://127.0.0.1:${bridge.port}/ws`),
    1,
  );
  const online = (s: ClientSession) => new Promise<void>((r) => s.on("welcome", () => r()));
  const got = (s: ClientSession, text: string) =>
    new Promise<void>((r) => s.on("message", (m) => m.ok && m.text === text && r()));
  const frames = (s: ClientSession, n: number) =>
    new Promise<void>((r) => {
      let k = 0;
      s.on("frame", () => ++k === n && r());
    });
  try {
    const aOn = online(a);
    a.start();
    await aOn;
    const bOn = online(b);
    // alice must know bob before she writes, or her message is for nobody.
    const aKnowsB = new Promise<void>((r) => a.on("joined", ({ entry }) => entry.member.name === "bob" && r()));
    const bSeesA = got(b, "hello from alice");
    const aSeesB = got(a, "hello from bob");
    b.start();
    await withTimeout(Promise.all([bOn, aKnowsB]), 10_000, `${room}: bob online`);
    a.sendText("hello from alice");
    b.sendText("hello from bob");
    await withTimeout(Promise.all([bSeesA, aSeesB]), 10_000, `${room}: messages`);
    const aFrames = frames(a, 5);
    const bFrames = frames(b, 5);
    a.play("clip.mp4", "room");
    await withTimeout(Promise.all([aFrames, bFrames]), 15_000, `${room}: video frames`);
  } finally {
    a.stop();
    b.stop();
  }
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p,
    new Promise<T>((_, rej) => (timer = setTimeout(() => rej(new Error(`timed out: ${what}`)), ms))),
  ]).finally(() => clearTimeout(timer));
}

describe("socket fuzzing", () => {
  it(
    `${CORE_FRAMES} mutated frames at the core: every connection answered, no internal error, a victim member unharmed`,
    async () => {
      const victim = await victimWatch(core.port);
      const t = await storm(() => tcpLink(core.port), CORE_FRAMES, 0);
      const v = await victim.stop();
      await sleep(3_000);
      const after = rssOf(core.pid);
      report("core", t, { before: baseline.core, after });
      expect(t.frames).toBeGreaterThanOrEqual(CORE_FRAMES);
      // Most frames were handled, not cut off by an earlier fatal one.
      expect(t.handled).toBeGreaterThan(0.6 * t.frames);
      expect(core.proc.child.exitCode).toBeNull();
      expect(t.codes.get("internal") ?? 0).toBe(0);
      expect(v.closed).toBe(false);
      expect(v.worstPingMs).toBeLessThan(5_000);
      expect(after).toBeLessThan(baseline.core + RSS_SLACK);
      await fullSession("after-core-fuzz", "tcp");
    },
    LONG ? 1_200_000 : 240_000,
  );

  it(
    `${BRIDGE_FRAMES} mutated frames through the bridge, plus WebSocket-level garbage`,
    async () => {
      const url = `ws://127.0.0.1:${bridge.port}/ws`;
      const t = await storm(() => wsLink(url), BRIDGE_FRAMES, 1_000);
      // What only a WebSocket can carry: text, empty and oversize messages.
      const closes: number[] = [];
      for (const bad of ["text", "empty", "huge"] as const) {
        const p = await WirePeer.connectWs(url);
        if (bad === "text") p.sendWsMessage('{"t":"ping","ts":1}');
        else if (bad === "empty") p.sendWsMessage(Buffer.alloc(0));
        else p.sendWsMessage(Buffer.alloc(1_048_577, 1));
        await p.waitClosed(5_000);
        closes.push(p.closeCode);
        t.frames++;
      }
      await sleep(3_000);
      const after = { core: rssOf(core.pid), bridge: rssOf(bridge.pid) };
      report("bridge", t, { before: baseline.bridge, after: after.bridge });
      expect(closes).toEqual([1003, 1002, 1009]);
      expect(t.frames).toBeGreaterThanOrEqual(BRIDGE_FRAMES);
      expect(t.handled).toBeGreaterThan(0.6 * t.frames);
      expect(bridge.proc.child.exitCode).toBeNull();
      expect(core.proc.child.exitCode).toBeNull();
      expect(t.codes.get("internal") ?? 0).toBe(0);
      expect(after.bridge).toBeLessThan(baseline.bridge + RSS_SLACK);
      expect(after.core).toBeLessThan(baseline.core + RSS_SLACK);
      await fullSession("after-bridge-fuzz", "ws");
    },
    LONG ? 1_200_000 : 240_000,
  );
});
