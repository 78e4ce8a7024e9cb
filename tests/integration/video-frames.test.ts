import { mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { makeClip } from "../../scripts/make-sample";
import { Catalogue } from "../../server/video/catalogue";
import { FrameCache, outputSize } from "../../server/video/frames";
import type { DecodedVideo } from "../../server/video/frames";
import { readJpegInfo } from "../../server/video/jpeg";
import type { VideoFrame } from "../../server/video/types";
import { recordingLogger, type LogLine } from "../helpers/log";

let root: string;
let small: string; // 4 s 320x180 30 fps
let long: string; // 10 s 640x360 30 fps
const caches: FrameCache[] = [];

function newCache(opts: Partial<ConstructorParameters<typeof FrameCache>[0]> = {}): FrameCache & { log: LogLine[] } {
  const logger = recordingLogger();
  const cache = new FrameCache({ logger, cacheDir: join(root, "cache"), ...opts });
  caches.push(cache);
  return Object.assign(cache, { log: logger.lines });
}

async function untilDone(v: DecodedVideo): Promise<void> {
  // frameCount is only known at the end, so waiting for an index past any real one ends at done.
  await v.waitFor(1e9);
}

async function allFrames(v: DecodedVideo): Promise<VideoFrame[]> {
  await untilDone(v);
  const out: VideoFrame[] = [];
  for (let i = 0; i < (v.frameCount ?? 0); i++) {
    const f = await v.waitFor(i);
    if (!f) throw new Error(`frame ${i} missing`);
    out.push(f);
  }
  return out;
}

const SMALL = { width: 320, height: 180 };

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sealroom-frames-"));
  small = join(root, "small.mp4");
  long = join(root, "long.mp4");
  await Promise.all([
    makeClip(small, { durationS: 4, width: 320, height: 180, fps: 30 }),
    makeClip(long, { durationS: 10, width: 640, height: 360, fps: 30 }),
  ]);
});

afterEach(async () => {
  await Promise.all(caches.splice(0).map((c) => c.close()));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("outputSize", () => {
  it("caps width, keeps aspect, and makes both sides even", () => {
    expect(outputSize({ width: 640, height: 360 }, 1280)).toEqual({ width: 640, height: 360 });
    expect(outputSize({ width: 1920, height: 1080 }, 1280)).toEqual({ width: 1280, height: 720 });
    expect(outputSize({ width: 1920, height: 800 }, 1280)).toEqual({ width: 1280, height: 534 });
    expect(outputSize({ width: 321, height: 181 }, 1280)).toEqual({ width: 322, height: 182 });
  });
});

describe("DecodedVideo", () => {
  it("decodes every frame as a baseline JPEG with constant-rate timestamps", async () => {
    const cache = newCache();
    const v = cache.open(small, "small", SMALL, 30);
    const frames = await allFrames(v);
    expect(v.error).toBeNull();
    expect(frames.length).toBe(120);
    frames.forEach((f, i) => {
      expect(f.index).toBe(i);
      expect(f.ptsMs).toBe(Math.round((i * 1000) / 30));
      expect(f.jpeg.subarray(0, 2).toString("hex")).toBe("ffd8");
      expect(f.jpeg.subarray(-2).toString("hex")).toBe("ffd9");
    });
    expect(readJpegInfo(frames[0].jpeg)).toEqual({ sof: 0xc0, width: 320, height: 180, components: 3 });
    // Frames differ: the clip moves, so a stuck decoder would show.
    expect(frames[0].jpeg.equals(frames[60].jpeg)).toBe(false);
    expect(v.indexAt(0)).toBe(0);
    expect(v.indexAt(33)).toBe(1);
    expect(v.indexAt(2000)).toBe(60);
    expect(v.indexAt(1e9)).toBe(119);
    expect(await v.waitFor(120)).toBeNull();
    cache.release(v);
  });

  it("scales to the requested output size", async () => {
    const cache = newCache({ maxWidth: 160 });
    const size = cache.outputSize(SMALL);
    expect(size).toEqual({ width: 160, height: 90 });
    const v = cache.open(small, "small", size, 30);
    const f = await v.waitFor(0);
    expect(f && readJpegInfo(f.jpeg)).toMatchObject({ width: 160, height: 90, sof: 0xc0 });
    cache.release(v);
  });

  it("delivers the first frames before the transcode finishes", async () => {
    const cache = newCache();
    const t0 = performance.now();
    const v = cache.open(long, "long", { width: 640, height: 360 }, 30);
    const first = await v.waitFor(0);
    const firstMs = performance.now() - t0;
    expect(first?.index).toBe(0);
    expect(v.done).toBe(false);
    expect(v.frameCount).toBeUndefined();
    await untilDone(v);
    const doneMs = performance.now() - t0;
    expect(v.frameCount).toBe(300);
    expect(firstMs).toBeLessThan(doneMs);
    cache.release(v);
  });

  it("decodes once: every open of the same video and size shares one ffmpeg", async () => {
    const cache = newCache();
    const a = cache.open(small, "small", SMALL, 30);
    const b = cache.open(small, "small", SMALL, 30);
    expect(b).toBe(a);
    await untilDone(a);
    const c = cache.open(small, "small", SMALL, 30);
    expect(c).toBe(a);
    expect(cache.stats.spawns).toBe(1);
    expect(a.refs).toBe(3);
    // Same frame objects for everyone: fan-out sends the same Buffers.
    expect(a.get(5)).toBe(c.get(5));
    const other = cache.open(small, "small", { width: 160, height: 90 }, 30);
    expect(other).not.toBe(a);
    await other.waitFor(0);
    expect(cache.stats.spawns).toBe(2);
    for (const v of [a, b, c, other]) cache.release(v);
  });

  it("opens a catalogue entry by its resolved path, key, size and rate", async () => {
    const cache = newCache({ maxWidth: 256 });
    const resolved = await new Catalogue({ dir: root, logger: recordingLogger() }).resolve("small.mp4");
    if (!resolved) throw new Error("small.mp4 not in catalogue");
    const v = cache.openVideo(resolved);
    expect([v.width, v.height, v.fps]).toEqual([256, 144, 30]);
    expect(cache.open(resolved.path, resolved.key, { width: 256, height: 144 }, 30)).toBe(v);
    expect((await allFrames(v)).length).toBe(120);
    cache.release(v);
    cache.release(v);
  });

  it("fails cleanly on a corrupt file and retries on the next open", async () => {
    const bad = join(root, "bad.mp4");
    await writeFile(bad, Buffer.alloc(50_000, 0x42));
    const cache = newCache();
    const v = cache.open(bad, "bad", SMALL, 30);
    expect(await v.waitFor(0)).toBeNull();
    expect(v.done).toBe(true);
    expect(v.error?.message).toMatch(/ffmpeg/);
    expect(cache.log.some((l) => l.level === "warn" && l.msg.includes("transcode failed"))).toBe(true);
    const again = cache.open(bad, "bad", SMALL, 30);
    expect(again).not.toBe(v);
    await untilDone(again);
    expect(cache.stats.spawns).toBe(2);
    cache.release(v);
    cache.release(again);
  });

  it("close() kills a running ffmpeg and ends waits with null", async () => {
    const cache = newCache();
    const v = cache.open(long, "long", { width: 640, height: 360 }, 30);
    await v.waitFor(0);
    const pid = v.transcodePid;
    expect(pid).toBeTypeOf("number");
    const late = v.waitFor(299);
    await cache.close();
    expect(await late).toBeNull();
    const gone = async () => {
      for (let i = 0; i < 100; i++) {
        try {
          process.kill(pid as number, 0);
        } catch {
          return true;
        }
        await new Promise((r) => setTimeout(r, 20));
      }
      return false;
    };
    expect(await gone()).toBe(true);
  });
});

describe("FrameCache memory bounds", () => {
  it("evicts the least recently used unreferenced video when over the cap", async () => {
    // Measure one decode to size the cap: room for two videos, not three.
    const probe = newCache();
    const p = probe.open(small, "measure", SMALL, 30);
    await untilDone(p);
    const one = p.memoryBytes;
    probe.release(p);
    expect(one).toBeGreaterThan(100_000);

    const cache = newCache({ maxBytes: Math.floor(one * 2.5) });
    const play = async (key: string) => {
      const v = cache.open(small, key, SMALL, 30);
      await untilDone(v);
      cache.release(v);
    };
    await play("a");
    await play("b");
    await play("a"); // a is now more recent than b
    expect(cache.stats.spawns).toBe(2);
    await play("c");
    expect(cache.has("a")).toBe(true);
    expect(cache.has("b")).toBe(false);
    expect(cache.has("c")).toBe(true);
    expect(cache.stats.bytes).toBeLessThanOrEqual(Math.floor(one * 2.5));
    const evictions = cache.log.filter((l) => l.level === "info" && l.msg.includes("evicted"));
    expect(evictions.map((l) => (l.obj as { key: string }).key.split("|")[0])).toEqual(["b"]);
    expect(cache.log.some((l) => l.level === "debug" && "bytes" in l.obj && "videos" in l.obj)).toBe(true);
  });

  it("never evicts a video in use, and evicts it once released", async () => {
    const probe = newCache();
    const p = probe.open(small, "measure", SMALL, 30);
    await untilDone(p);
    const one = p.memoryBytes;
    probe.release(p);

    const cache = newCache({ maxBytes: Math.floor(one * 1.5) });
    const a = cache.open(small, "a", SMALL, 30);
    await untilDone(a);
    const b = cache.open(small, "b", SMALL, 30);
    await untilDone(b);
    expect(cache.has("a") && cache.has("b")).toBe(true);
    expect((await a.waitFor(100))?.index).toBe(100);
    expect(cache.log.some((l) => l.level === "warn" && l.msg.includes("all in use"))).toBe(true);
    cache.release(a);
    expect(cache.has("a")).toBe(false);
    expect(cache.has("b")).toBe(true);
    cache.release(b);
  });

  it("spills past the per-video budget and reads back byte-identical frames", async () => {
    const reference = await allFrames(newCache().open(small, "ref", SMALL, 30));
    const budget = 50_000;
    const cacheDir = join(root, "spill");
    const cache = newCache({ perVideoBytes: budget, cacheDir });
    const v = cache.open(small, "small", SMALL, 30);
    const frames = await allFrames(v);
    expect(frames.length).toBe(reference.length);
    frames.forEach((f, i) => expect(f.jpeg.equals(reference[i].jpeg), `frame ${i}`).toBe(true));
    // Most frames are on disk, memory holds only the budget once queued writes land.
    for (let i = 0; i < 250 && v.memoryBytes > budget; i++) await new Promise((r) => setTimeout(r, 20));
    expect(v.memoryBytes).toBeLessThanOrEqual(budget);
    expect(v.diskBytes).toBeGreaterThan(reference.reduce((n, f) => n + f.jpeg.length, 0) - budget - 1);
    expect(v.get(119)).toBeUndefined();
    const dirs = await readdir(cacheDir);
    expect(dirs.length).toBe(1);
    expect((await readdir(join(cacheDir, dirs[0]))).length).toBe(1);
    await cache.close();
    expect(await readdir(cacheDir)).toEqual([]);
  });
});
