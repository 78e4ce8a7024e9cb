// Poster frames with real ffmpeg: made once, cached on disk by (path, size,
// mtime), remade when the file changes, a reason for corrupt files, a cap on
// concurrent ffmpeg, and the measured cost per poster.

import { copyFile, mkdir, mkdtemp, readFile, rm, utimes, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeClip } from "../../scripts/make-sample";
import { PosterCache, posterSeekMs } from "../../server/library/posters";
import { recordingLogger } from "../helpers/log";

const SAMPLE = fileURLToPath(new URL("../../videos/sample.mp4", import.meta.url));

let root: string;
let clip: string;
let hd: string;

/** Width and height from a baseline/progressive JPEG's SOF marker. */
function jpegSize(b: Buffer): { width: number; height: number } {
  let i = 2;
  while (i + 9 < b.length) {
    if (b[i] !== 0xff) throw new Error("bad JPEG");
    const marker = b[i + 1];
    const len = b.readUInt16BE(i + 2);
    if (marker >= 0xc0 && marker <= 0xc2) return { height: b.readUInt16BE(i + 5), width: b.readUInt16BE(i + 7) };
    i += 2 + len;
  }
  throw new Error("no SOF");
}

/** CPU time of this process's finished children (cutime + cstime), in ms. */
async function childCpuMs(): Promise<number> {
  const stat = await readFile("/proc/self/stat", "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  // Fields 16 and 17 of proc(5); f[0] is field 3.
  return ((Number(f[13]) + Number(f[14])) * 1000) / 100;
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sealroom-posters-"));
  clip = join(root, "clip.mp4");
  hd = join(root, "hd.mp4");
  await makeClip(clip, { durationS: 3, width: 160, height: 90, fps: 10, label: false });
  // Short: encoding 720p with x264 is the slow part of this file, not the posters.
  await makeClip(hd, { durationS: 3, width: 1280, height: 720, fps: 30, label: false, crf: 35 });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("posterSeekMs", () => {
  it("takes 10% of the duration, at most 5 s", () => {
    expect(posterSeekMs(10_000)).toBe(1_000);
    expect(posterSeekMs(3_600_000)).toBe(5_000);
    expect(posterSeekMs(0)).toBe(0);
    expect(posterSeekMs(Number.NaN)).toBe(0);
  });
});

describe("PosterCache", () => {
  it("makes a 320 px JPEG once; a second call and a second cache on the same dir start no ffmpeg", async () => {
    const cacheDir = join(root, "cache-a");
    const posters = new PosterCache({ cacheDir, logger: recordingLogger() });
    const src = { path: SAMPLE, durationMs: 10_000, width: 640 };
    const first = await posters.poster(src);
    expect(first.ok && first.cached).toBe(false);
    if (!first.ok) return;
    const jpeg = await readFile(first.file);
    expect(jpeg.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    expect(jpegSize(jpeg)).toEqual({ width: 320, height: 180 });
    expect(first.file.startsWith(join(cacheDir, "posters"))).toBe(true);
    expect(posters.spawns).toBe(1);

    const again = await posters.poster(src);
    expect(again).toEqual({ ok: true, file: first.file, bytes: jpeg.length, cached: true });
    expect(posters.spawns).toBe(1);
    // After a restart: a fresh cache whose ffmpeg cannot even start still serves the poster from disk.
    const restarted = new PosterCache({ cacheDir, logger: recordingLogger(), ffmpeg: "/nonexistent/ffmpeg" });
    expect(await restarted.poster(src)).toEqual({ ok: true, file: first.file, bytes: jpeg.length, cached: true });
    expect(restarted.spawns).toBe(0);
    const bytes = await restarted.jpeg(src);
    expect(bytes.ok && bytes.jpeg.equals(jpeg)).toBe(true);
  });

  it("makes a new poster when the file's mtime changes, and prune removes the old one", async () => {
    const cacheDir = join(root, "cache-b");
    const video = join(root, "changing.mp4");
    await copyFile(clip, video);
    const posters = new PosterCache({ cacheDir, logger: recordingLogger() });
    const src = { path: video, durationMs: 3_000, width: 160 };
    const a = await posters.poster(src);
    expect(a.ok).toBe(true);
    // A small video is not scaled up.
    if (a.ok) expect(jpegSize(await readFile(a.file))).toEqual({ width: 160, height: 90 });
    await utimes(video, new Date(), new Date(Date.now() + 60_000));
    const b = await posters.poster(src);
    expect(b.ok && b.cached).toBe(false);
    expect(a.ok && b.ok && a.file !== b.file).toBe(true);
    expect(posters.spawns).toBe(2);
    expect(await posters.prune([src])).toBe(1);
    const c = await posters.poster(src);
    expect(c.ok && c.cached).toBe(true);
  });

  it("gives a corrupt or missing file no poster and a reason, once", async () => {
    const cacheDir = join(root, "cache-c");
    const bad = join(root, "bad.mp4");
    await writeFile(bad, Buffer.alloc(8192, 0x5a));
    const log = recordingLogger();
    const posters = new PosterCache({ cacheDir, logger: log });
    const r = await posters.poster({ path: bad, durationMs: 10_000 });
    expect(r.ok === false && r.reason).toBe("corrupt");
    expect(r.ok === false && r.detail.length).toBeGreaterThan(0);
    expect(await posters.poster({ path: bad, durationMs: 10_000 })).toEqual(r);
    expect(posters.spawns).toBe(1);
    expect(log.lines.filter((l) => l.msg === "no poster").length).toBe(1);
    expect(await posters.poster({ path: join(root, "gone.mp4"), durationMs: 1 })).toEqual({
      ok: false,
      reason: "missing",
      detail: "ENOENT",
    });
  });

  it("stops an ffmpeg that overruns posterTimeoutMs", async () => {
    const posters = new PosterCache({
      cacheDir: join(root, "cache-d"),
      logger: recordingLogger(),
      limits: { posterTimeoutMs: 1 },
    });
    const r = await posters.poster({ path: hd, durationMs: 10_000, width: 1280 });
    expect(r.ok === false && r.reason).toBe("timeout");
  });

  it("runs at most maxLibraryJobs ffmpeg at once", async () => {
    const dir = join(root, "many");
    await mkdir(dir);
    const srcs = [];
    for (let k = 0; k < 4; k++) {
      const p = join(dir, `v${k}.mp4`);
      await copyFile(clip, p);
      srcs.push({ path: p, durationMs: 3_000, width: 160 });
    }
    const posters = new PosterCache({
      cacheDir: join(root, "cache-e"),
      logger: recordingLogger(),
      limits: { maxLibraryJobs: 1 },
    });
    let peak = 0;
    const timer = setInterval(() => (peak = Math.max(peak, posters.jobs.active)), 2);
    const results = await Promise.all(srcs.map((s) => posters.poster(s)));
    clearInterval(timer);
    expect(results.every((r) => r.ok)).toBe(true);
    expect(peak).toBe(1);
    expect(posters.spawns).toBe(4);
  });

  it("measures the cost of a poster: the sample (640x360) and a 720p clip", async () => {
    const figures: string[] = [];
    for (const [name, path, width] of [
      ["sample 640x360", SAMPLE, 640],
      ["720p", hd, 1280],
    ] as const) {
      const runs = 5;
      const cpu0 = await childCpuMs();
      const t0 = performance.now();
      for (let k = 0; k < runs; k++) {
        const posters = new PosterCache({ cacheDir: join(root, `cost-${width}-${k}`), logger: recordingLogger() });
        const r = await posters.poster({ path, durationMs: path === hd ? 3_000 : 10_000, width });
        expect(r.ok).toBe(true);
      }
      const wall = (performance.now() - t0) / runs;
      const cpu = ((await childCpuMs()) - cpu0) / runs;
      figures.push(`${name}: ${wall.toFixed(0)} ms wall, ${cpu.toFixed(0)} ms ffmpeg CPU per poster`);
      // Generous: a loaded 2-core machine still makes a poster in well under this.
      expect(wall).toBeLessThan(5_000);
    }
    console.log(`poster cost (mean of 5): ${figures.join("; ")}`);
  });
});
