// Sound decodes just ahead of need, with the real ffmpeg on a 120 s sync
// sample (a flash and the start of a 2 s tone every 4 s): the decoder waits
// at its window instead of running to the end, follows a reader that moves,
// drops what is behind; a seek to 100 s starts ffmpeg there and has sound
// quickly, whose tone starts on the flash frame the frame cache decodes.

import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import jpeg from "jpeg-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { OggOpusWriter } from "../../client/oggWriter";
import { AudioPacketCache, type AudioLease } from "../../server/audio/cache";
import { ffmpegPath } from "../../server/video/ffmpeg";
import { FrameCache } from "../../server/video/frames";
import { makeSyncSample } from "../../scripts/make-sync-sample";
import { decodeFrameCode } from "../helpers/frameCode";
import { recordingLogger } from "../helpers/log";

const W = 160;
const H = 96;
let dir: string;
let file: string;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sealroom-audiowin-"));
  file = await makeSyncSample(join(dir, "long.mp4"), { durationS: 120, width: W, height: H, periodS: 4, beepMs: 2000 });
}, 90_000);
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** Waits until the lease's decoded end has not moved for quietMs (the decoder waits), up to maxMs. */
async function whenStill(lease: AudioLease, quietMs = 800, maxMs = 15_000): Promise<number> {
  const t0 = performance.now();
  let end = lease.buffer.endMs;
  let since = performance.now();
  while (performance.now() - t0 < maxMs) {
    await sleep(100);
    if (lease.buffer.endMs !== end) {
      end = lease.buffer.endMs;
      since = performance.now();
    } else if (performance.now() - since >= quietMs && end > 0) break;
  }
  return end;
}

/** Mono s16 PCM of packets (pts relative to fromMs) through an Ogg file and ffmpeg's Opus decoder. */
async function pcm(lease: AudioLease, fromMs: number, toMs: number): Promise<Int16Array> {
  const buf = lease.buffer;
  const w = new OggOpusWriter(buf.head!.raw);
  const parts = [w.headers()];
  const from = buf.indexAt(fromMs);
  const to = buf.indexAt(toMs);
  for (let i = from; i < to; i++) {
    const p = buf.packets[i]!;
    parts.push(w.packet(p.data, p.ptsSamples - fromMs * 48, p.durationSamples, i === to - 1));
  }
  const bin = await ffmpegPath();
  const out = await new Promise<Buffer>((res, rej) => {
    const c = execFile(
      bin,
      ["-v", "error", "-f", "ogg", "-i", "pipe:0", "-ac", "1", "-f", "s16le", "pipe:1"],
      {
        encoding: "buffer",
        maxBuffer: 16 << 20,
      },
      (err, stdout) => (err ? rej(err) : res(stdout)),
    );
    c.stdin!.end(Buffer.concat(parts));
  });
  return new Int16Array(out.buffer, out.byteOffset, out.length >> 1);
}

describe("audio decode window (real ffmpeg)", () => {
  it("a 120 s track is not decoded to the end: the decoder waits at its window, then follows the reader", async () => {
    const cache = new AudioPacketCache({ aheadSec: 5, behindSec: 3 });
    const lease = cache.acquire("long", file, 0, 0);
    const end = await whenStill(lease);
    console.log(`waiting at ${end} ms of 120 000 (window 5 s), ${cache.heldBytes("long", 0)} bytes held`);
    expect(lease.buffer.state).toBe("decoding");
    // The window (5 s) plus what was already in the pipe when reading stopped, far from the end.
    expect(end).toBeGreaterThanOrEqual(5000);
    expect(end).toBeLessThan(40_000);
    const atStart = cache.heldBytes("long", 0);
    // A reader moving through the first 30 s (faster than real time): the same ffmpeg follows it.
    let cursor = 0;
    for (let pos = 1000; pos <= 30_000; pos += 1000) {
      cursor = lease.need(pos, cursor);
      await sleep(30);
    }
    const end2 = await whenStill(lease);
    cursor = lease.need(30_000, cursor);
    expect(cache.spawned).toBe(1);
    expect(end2).toBeGreaterThanOrEqual(35_000);
    expect(end2).toBeLessThan(70_000);
    // Behind the reader: at most behindSec and a trim batch kept.
    expect(lease.buffer.firstMs).toBeGreaterThanOrEqual(30_000 - 3000 - 1100);
    expect(lease.buffer.packets[cursor]!.ptsSamples).toBeLessThanOrEqual(30_000 * 48);
    expect(cache.heldBytes("long", 0)).toBeLessThan(atStart * 3);
    lease.release();
    cache.close();
  }, 30_000);

  it("a seek to 100 s starts a decode there: sound within a bound, its tone starting on the flash frame", async () => {
    const cache = new AudioPacketCache({ aheadSec: 5, behindSec: 3 });
    const lease = cache.acquire("long", file, 0, 0);
    await whenStill(lease);
    const t0 = performance.now();
    lease.need(99_500, 0);
    let soundMs = NaN;
    while (performance.now() - t0 < 10_000) {
      const b = lease.buffer;
      if (Number.isNaN(soundMs) && b.indexAt(99_500) < b.packets.length) soundMs = performance.now() - t0;
      if (b.endMs >= 101_000) break;
      await sleep(5);
    }
    console.log(`seek to 99.5 s: first packet after ${soundMs.toFixed(1)} ms`);
    expect(cache.spawned).toBe(2);
    expect(soundMs).toBeLessThan(2000);
    // The file's timeline: the first packet starts at the target, less Opus's pre-skip.
    expect(Math.abs(lease.buffer.packets[0]!.ptsMs - (99_500 - 312 / 48))).toBeLessThan(1);
    const samples = await pcm(lease, 99_500, 101_000);
    const onset = samples.findIndex((x) => Math.abs(x) > 8000);
    expect(onset).toBeGreaterThan(0);
    const toneMs = 99_500 + onset / 48;

    // The frame the frame cache decodes at 100 s is the flash, with that pts.
    const frames = new FrameCache({ logger: recordingLogger(), cacheDir: join(dir, "cache") });
    try {
      const v = frames.open(file, "long", { width: W, height: H }, 30);
      const r = v.reader("m1");
      const f = await r.waitFor(v.indexAt(100_000));
      expect(f).not.toBeNull();
      const img = jpeg.decode(f!.jpeg, { useTArray: true });
      expect(decodeFrameCode(img.data, img.width, img.height)).toBe(3000);
      const mid = ((H >> 1) * W + (W >> 1)) * 4;
      expect(img.data[mid]!).toBeGreaterThan(200); // the flash
      console.log(`tone at ${toneMs.toFixed(1)} ms, flash frame pts ${f!.ptsMs} ms`);
      expect(Math.abs(toneMs - f!.ptsMs)).toBeLessThanOrEqual(20);
      r.close?.();
    } finally {
      await frames.close();
    }
    lease.release();
    cache.close();
  }, 30_000);

  it("a seek past the end of the sound finds nothing there, which is not a broken track", async () => {
    const cache = new AudioPacketCache({ aheadSec: 5, behindSec: 3 });
    const lease = cache.acquire("long", file, 0, 130_000);
    await lease.done;
    expect(lease.buffer.state).toBe("ready");
    expect(lease.buffer.failure).toBeNull();
    expect(lease.buffer.packets.length).toBe(0);
    // It ended: it serves any later position without another ffmpeg.
    lease.need(131_000, 0);
    expect(cache.spawned).toBe(1);
    lease.release();
    cache.close();
  }, 30_000);
});
