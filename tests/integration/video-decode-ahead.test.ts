// Decoding just ahead of need, with the real ffmpeg on a 60 s clip: a decoder
// stays a bounded window ahead of its viewer and waits there, frames far
// behind are dropped (disk given back), a far seek restarts ffmpeg at the
// target and shows a picture quickly, the disk cap and the free-space floor
// hold, and the decoder caps refuse plays clearly through the real core.

import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { makeClip } from "../../scripts/make-sample";
import type { CoreServer } from "../../server/server";
import { FrameCache } from "../../server/video/frames";
import type { VideoReader } from "../../server/video/frames";
import { Pacer } from "../../server/video/pacer";
import { startCore } from "../helpers/core";
import { recordingLogger, type LogLine } from "../helpers/log";
import { identity, join as joinRoom } from "../helpers/wire";

const FPS = 30;
const SIZE = { width: 320, height: 180 };
let root: string;
let lib: string;
let clip: string; // 60 s 320x180 30 fps, a keyframe a second
const caches: FrameCache[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function newCache(opts: Partial<ConstructorParameters<typeof FrameCache>[0]> = {}): FrameCache & { log: LogLine[] } {
  const logger = recordingLogger();
  const cache = new FrameCache({ logger, cacheDir: join(root, "cache"), ...opts });
  caches.push(cache);
  return Object.assign(cache, { log: logger.lines });
}

/** Reads frames [from, to) as fast as they come, like a viewer that is never paced. */
async function readRange(r: VideoReader, from: number, to: number): Promise<number> {
  let got = 0;
  for (let i = from; i < to; i++) if (await r.waitFor(i)) got++;
  return got;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sealroom-ahead-"));
  lib = join(root, "lib");
  clip = join(lib, "long.mp4");
  await Promise.all([
    makeClip(clip, { durationS: 60, width: 320, height: 180, fps: FPS, label: false }),
    makeClip(join(lib, "other.mp4"), { durationS: 60, width: 320, height: 180, fps: FPS, label: false, crf: 30 }),
    makeClip(join(lib, "third.mp4"), { durationS: 30, width: 320, height: 180, fps: FPS, label: false, crf: 32 }),
  ]);
}, 90_000);

afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("decode ahead", () => {
  it("a decoder stays within its window (+slack) of a real-time viewer and waits there", async () => {
    const AHEAD = 2;
    const cache = newCache({ limits: { decodeAheadSec: AHEAD, decodeBehindSec: 1, decodeHeadSec: 1 } });
    const v = cache.open(clip, "long", SIZE, FPS);
    const r = v.reader("m1");
    let lead = 0;
    let sawPaused = false;
    let maxHeld = 0;
    const sampler = setInterval(() => {
      for (const d of v.decoderStates) {
        lead = Math.max(lead, d.next - Math.max(0, r.position));
        sawPaused ||= d.paused;
      }
      maxHeld = Math.max(maxHeld, v.available);
    }, 20);
    const sent: number[] = [];
    const pacer = new Pacer({ source: r, durationMs: 60_000, onFrame: (f) => sent.push(f.index), onEnd: () => {} });
    pacer.start(0);
    await sleep(5000);
    pacer.stop();
    clearInterval(sampler);
    const furthest = Math.max(...v.heldIndices());
    r.close();
    cache.release(v);
    // Played in real time (a loaded box may skip a few).
    expect(sent.length).toBeGreaterThan(120);
    // Never more than the window plus slack (a pipe's worth of small frames) ahead of the viewer.
    expect(lead).toBeLessThanOrEqual((AHEAD + 2) * FPS);
    expect(sawPaused).toBe(true);
    // After 5 s of a 60 s clip, nothing decoded much past 5 s + window: the old
    // decoder had the whole clip (1,800 frames) in about 3 s.
    expect(furthest).toBeLessThan((5 + AHEAD + 3) * FPS);
    // Held: head + behind + ahead + slack, not everything played.
    expect(maxHeld).toBeLessThan((1 + 1 + AHEAD + 2) * FPS + 40);
    expect(cache.stats.spawns).toBe(1);
  }, 30_000);

  it("a far seek restarts ffmpeg at the target: the right picture within 500 ms, the old decoder gone", async () => {
    const cache = newCache();
    const v = cache.open(clip, "long", SIZE, FPS);
    const r = v.reader("m1");
    expect(await r.waitFor(0)).not.toBeNull();
    const times: number[] = [];
    for (const toMs of [45_000, 12_345, 59_000, 30_000]) {
      const index = v.indexAt(toMs);
      const t0 = performance.now();
      const f = await r.waitFor(index);
      times.push(performance.now() - t0);
      expect(f?.index).toBe(index);
      expect(f?.ptsMs).toBe(v.ptsOf(index));
      // One ffmpeg at a time for one viewer: the one it had was moved, not added to.
      await sleep(50);
      expect(v.decoderCount).toBeLessThanOrEqual(1);
      expect(v.decoderStates[0]?.start ?? index).toBe(index);
    }
    for (const t of times) expect(t).toBeLessThan(500);

    // The picture is the one a decode from the start gives at that index: -ss maps to the same frame.
    const whole = cache.open(clip, "long-whole", SIZE, FPS);
    const ref = await whole.waitFor(v.indexAt(30_000));
    const sought = await r.waitFor(v.indexAt(30_000));
    expect(ref && sought && ref.jpeg.equals(sought.jpeg)).toBe(true);
    r.close();
    cache.release(v);
    cache.release(whole);
  }, 30_000);

  it("frames far behind every viewer are dropped and their spill segments deleted", async () => {
    const cacheDir = join(root, "spill-window");
    const cache = newCache({
      cacheDir,
      perVideoBytes: 100_000,
      spillSegmentBytes: 64 * 1024,
      limits: { decodeAheadSec: 2, decodeBehindSec: 2, decodeHeadSec: 1 },
    });
    const v = cache.open(clip, "long", SIZE, FPS);
    const r = v.reader("m1");
    expect(await readRange(r, 0, 1200)).toBe(1200);
    // Let the decoder fill the window and wait there, and queued writes land.
    await sleep(500);
    expect(v.decoderStates[0]?.paused).toBe(true);
    const held = v.heldIndices();
    const pos = r.position;
    expect(pos).toBe(1199);
    for (const i of held) expect(i < FPS || (i >= pos - 2 * FPS - 15 && i <= pos + 4 * FPS), `frame ${i}`).toBe(true);
    // 40 s were decoded and spilled; the disk holds about the window.
    let heldBytes = 0;
    for (const i of held) heldBytes += (await v.frame(i))?.jpeg.length ?? 0;
    const allBytes = (heldBytes / held.length) * 1200;
    // Fragmentation: a segment goes once all its frames are freed, so at most a few partly freed ones stay.
    expect(v.diskBytes).toBeLessThan(heldBytes + 4 * 64 * 1024);
    expect(v.diskBytes).toBeLessThan(allBytes / 3);
    const files = await readdir(join(cacheDir, (await readdir(cacheDir))[0]));
    // Freed segments were deleted: the files are the bytes above, not the 40 s spilled.
    expect(files.length).toBeLessThanOrEqual(Math.ceil(v.diskBytes / (64 * 1024)) + 3);
    expect(files.length).toBeLessThan(allBytes / (64 * 1024) / 3);
    r.close();
    cache.release(v);
  }, 30_000);

  it("the disk cap evicts an idle video's spill, then keeps frames in memory with one warning", async () => {
    const LIM = { decodeAheadSec: 1, decodeBehindSec: 60, decodeHeadSec: 0 };
    const probe = newCache({ perVideoBytes: 50_000, limits: LIM });
    const p = probe.open(clip, "probe", SIZE, FPS);
    const pr = p.reader("m");
    await readRange(pr, 0, 600);
    await sleep(200);
    const oneDisk = p.diskBytes;
    expect(oneDisk).toBeGreaterThan(500_000);
    pr.close();
    probe.release(p);

    const cap = Math.floor(oneDisk * 1.5);
    const cache = newCache({ perVideoBytes: 50_000, limits: { ...LIM, frameCacheDiskBytes: cap } });
    const play = async (key: string) => {
      const v = cache.open(clip, key, SIZE, FPS);
      const r = v.reader("m");
      expect(await readRange(r, 0, 600)).toBe(600);
      await sleep(200);
      r.close();
      cache.release(v);
      return v;
    };
    await play("a");
    expect(cache.stats.diskBytes).toBeGreaterThan(0);
    await play("b"); // does not fit next to a: a is idle, so it goes
    expect(cache.has("a")).toBe(false);
    expect(cache.log.some((l) => l.msg.includes("evicted for disk"))).toBe(true);
    expect(cache.stats.diskBytes).toBeLessThanOrEqual(cap);
    // Two played at once cannot both spill: the second keeps its frames in memory, with one warning.
    const a = cache.open(clip, "a2", SIZE, FPS);
    const b = cache.open(clip, "b2", SIZE, FPS);
    const ra = a.reader("m");
    const rb = b.reader("m");
    expect(await readRange(ra, 0, 600)).toBe(600);
    expect(await readRange(rb, 0, 600)).toBe(600);
    await sleep(200);
    expect(cache.stats.diskBytes).toBeLessThanOrEqual(cap);
    expect(cache.log.filter((l) => l.level === "warn" && l.msg.includes("disk cap")).length).toBe(1);
    ra.close();
    rb.close();
    cache.release(a);
    cache.release(b);
  }, 30_000);

  it("below the free-space floor nothing is spilled, frames still play, one warning", async () => {
    const cacheDir = join(root, "floor");
    const cache = newCache({ cacheDir, perVideoBytes: 50_000, limits: { minFreeDiskBytes: 2 ** 52 } });
    const v = cache.open(clip, "long", SIZE, FPS);
    const r = v.reader("m");
    expect(await readRange(r, 0, 300)).toBe(300);
    expect(v.diskBytes).toBe(0);
    expect(v.memoryBytes).toBeGreaterThan(50_000);
    const dirs = await readdir(cacheDir).catch(() => []);
    for (const d of dirs) expect(await readdir(join(cacheDir, d))).toEqual([]);
    const warnings = cache.log.filter((l) => l.level === "warn" && l.msg.includes("free space"));
    expect(warnings.length).toBe(1);
    expect(warnings[0].obj).toMatchObject({ minFreeDiskBytes: 2 ** 52 });
    r.close();
    cache.release(v);
  }, 30_000);
});

describe("decoder caps through the core", () => {
  let core: CoreServer;
  beforeAll(async () => {
    core = await startCore({
      videos: { dir: lib, cacheDir: join(root, "core-cache"), limits: { maxDecoders: 2, maxDecodersPerMember: 1 } },
    });
  });
  afterAll(() => core.stop());

  it("refuses a play over the per-member and the server cap with server_full (not fatal); joining decoded frames is free", async () => {
    const a = await joinRoom(core.port, { name: "a", room: "caps-a", id: await identity(0) });
    const b = await joinRoom(core.port, { name: "b", room: "caps-b", id: await identity(1) });
    const c = await joinRoom(core.port, { name: "c", room: "caps-c", id: await identity(2) });

    type Msg = { t: string; ref?: string; video?: string; sid?: number };
    const errorFor = (ref: string) => (m: Msg) => m.t === "error" && m.ref === ref;
    const streamOf = (video: string) => (m: Msg) => m.t === "stream" && m.video === video;
    a.peer.send({ t: "play", video: "long.mp4", scope: "self" });
    const sa = await a.peer.nextT("stream");
    // A's second video would be its second decoder.
    a.peer.send({ t: "play", video: "other.mp4", scope: "room" });
    const perMember = await a.peer.nextT("error");
    expect(perMember).toMatchObject({ code: "server_full", fatal: false, ref: "play" });
    expect(perMember.message).toMatch(/1 videos decoding/);

    b.peer.send({ t: "play", video: "other.mp4", scope: "room" });
    await b.peer.nextT("stream");
    // Two decoders run: a third video from anyone is refused.
    c.peer.send({ t: "play", video: "third.mp4", scope: "room" });
    const full = await c.peer.nextT("error");
    expect(full).toMatchObject({ code: "server_full", fatal: false, ref: "play" });
    expect(full.message).toMatch(/limit of 2 video decoders/);

    // The start of long.mp4 is decoded already: playing it needs no decoder.
    await sleep(300);
    c.peer.send({ t: "play", video: "long.mp4", scope: "self" });
    const sc = await c.peer.next<{ t: "stream"; sid: number }>(streamOf("long.mp4"));
    // ... but seeking it far away would.
    c.peer.send({ t: "control", sid: sc.sid, action: "seek", toMs: 50_000 });
    const seek = await c.peer.next(errorFor("control"));
    expect(seek).toMatchObject({ code: "server_full", fatal: false, ref: "control" });

    // Stopping A's stream frees a decoder; everyone stayed connected.
    a.peer.send({ t: "control", sid: sa.sid, action: "stop" });
    await a.peer.nextT("streamEnd");
    c.peer.send({ t: "control", sid: sc.sid, action: "stop" });
    await c.peer.next((m: Msg) => m.t === "streamEnd" && m.sid === sc.sid);
    await sleep(100);
    c.peer.send({ t: "play", video: "third.mp4", scope: "room" });
    await c.peer.next(streamOf("third.mp4"));
    for (const m of [a, b, c]) expect(m.peer.closed).toBe(false);
    for (const m of [a, b, c]) m.peer.close();
  }, 30_000);
});
