import { copyFile, mkdir, mkdtemp, readFile, rm, symlink, unlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeClip } from "../../scripts/make-sample";
import { Catalogue, isPlausibleId, titleFromId } from "../../server/video/catalogue";
import { probeVideo } from "../../server/video/probe";
import type { ProbeResult } from "../../server/video/probe";
import { recordingLogger } from "../helpers/log";

let root: string;
let lib: string;
let outside: string;
let clip: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sealroom-cat-"));
  lib = join(root, "library");
  outside = join(root, "outside");
  await mkdir(lib);
  await mkdir(outside);
  clip = join(root, "clip.mp4");
  await makeClip(clip, { durationS: 2, width: 320, height: 180, fps: 30, label: false });
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("probeVideo", () => {
  it("reads duration, size and fps of a real clip", async () => {
    const r = await probeVideo(clip);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.info.width).toBe(320);
    expect(r.info.height).toBe(180);
    expect(r.info.fps).toBe(30);
    expect(Math.abs(r.info.durationMs - 2000)).toBeLessThanOrEqual(50);
  });

  it("reports NTSC rates as 29.97", async () => {
    const ntsc = join(root, "ntsc.mp4");
    await makeClip(ntsc, { durationS: 1, width: 64, height: 36, fps: 30000 / 1001, label: false });
    const r = await probeVideo(ntsc);
    expect(r.ok && r.info.fps).toBe(29.97);
  });

  it("types failures for zero-byte, garbage, truncated and missing files", async () => {
    const empty = join(root, "empty.mp4");
    const garbage = join(root, "garbage.mp4");
    const truncated = join(root, "truncated.mp4");
    await writeFile(empty, "");
    await writeFile(garbage, Buffer.alloc(4096, 0x5a));
    // Only the first 600 bytes: the ftyp box and part of moov, no usable stream.
    await writeFile(truncated, (await readFile(clip)).subarray(0, 600));
    const results: ProbeResult[] = await Promise.all([
      probeVideo(empty),
      probeVideo(garbage),
      probeVideo(truncated),
      probeVideo(join(root, "nope.mp4")),
    ]);
    expect(results.map((r) => (r.ok ? "ok" : r.reason))).toEqual(["empty", "corrupt", "corrupt", "missing"]);
  });
});

describe("ids and titles", () => {
  it("derives titles from file names", () => {
    expect(titleFromId("sample.mp4")).toBe("Sample");
    expect(titleFromId("my_holiday-2019.final.mkv")).toBe("My holiday 2019 final");
  });

  it("rejects anything that is not a plain library file name", () => {
    for (const bad of [
      "../x.mp4",
      "/etc/passwd",
      "a/b.mp4",
      "a\\b.mp4",
      "x\0.mp4",
      ".hidden.mp4",
      "..",
      "x.txt",
      "",
      42,
    ]) {
      expect(isPlausibleId(bad)).toBe(false);
    }
    expect(isPlausibleId("Sample Movie.MP4")).toBe(true);
  });
});

describe("Catalogue", () => {
  it("lists playable files, follows adds and removals, and caches probes", async () => {
    const dir = join(root, "lib-list");
    await mkdir(dir);
    await copyFile(clip, join(dir, "first_clip.mp4"));
    await writeFile(join(dir, "notes.txt"), "not a video");
    let probes = 0;
    const cat = new Catalogue({
      dir,
      logger: recordingLogger(),
      probe: (p) => {
        probes++;
        return probeVideo(p);
      },
    });
    const first = await cat.list();
    expect(first).toEqual([
      {
        id: "first_clip.mp4",
        title: "First clip",
        durationMs: first[0].durationMs,
        width: 320,
        height: 180,
        fps: 30,
        bytes: first[0].bytes,
      },
    ]);
    expect(first[0].bytes).toBe((await readFile(clip)).length);

    await copyFile(clip, join(dir, "second.webm"));
    expect((await cat.list()).map((v) => v.id)).toEqual(["first_clip.mp4", "second.webm"]);
    expect(probes).toBe(2); // the first file was not probed again

    await unlink(join(dir, "first_clip.mp4"));
    expect((await cat.list()).map((v) => v.id)).toEqual(["second.webm"]);
    expect(await cat.resolve("first_clip.mp4")).toBeNull();

    // A changed file (new size) is probed again.
    await writeFile(join(dir, "second.webm"), Buffer.concat([await readFile(clip), Buffer.alloc(10)]));
    await cat.list();
    expect(probes).toBe(3);
  });

  it("skips corrupt and zero-byte files with one warning each and keeps going", async () => {
    const dir = join(root, "lib-bad");
    await mkdir(dir);
    await copyFile(clip, join(dir, "good.mp4"));
    await writeFile(join(dir, "empty.mp4"), "");
    await writeFile(join(dir, "corrupt.mkv"), Buffer.alloc(10_000, 0x42));
    const log = recordingLogger();
    const cat = new Catalogue({ dir, logger: log });
    expect((await cat.list()).map((v) => v.id)).toEqual(["good.mp4"]);
    expect((await cat.list()).map((v) => v.id)).toEqual(["good.mp4"]);
    const warned = log.lines
      .filter((l) => l.level === "warn")
      .map((l) => (l.obj as { id: string }).id)
      .sort();
    expect(warned).toEqual(["corrupt.mkv", "empty.mp4"]);
    expect(await cat.resolve("empty.mp4")).toBeNull();
    expect(await cat.resolve("corrupt.mkv")).toBeNull();
  });

  it("resolves a catalogue id to its real path and a content key", async () => {
    const cat = new Catalogue({ dir: lib, logger: recordingLogger() });
    await copyFile(clip, join(lib, "movie.mp4"));
    const r = await cat.resolve("movie.mp4");
    expect(r).not.toBeNull();
    expect(r?.path).toBe(join(await import("node:fs/promises").then((f) => f.realpath(lib)), "movie.mp4"));
    expect(r?.info.id).toBe("movie.mp4");
    expect(r?.key).toMatch(/^movie\.mp4:\d+:\d+$/);
  });

  it("rejects path tricks, symlinks out of the library, non-files and unknown names", async () => {
    const cat = new Catalogue({ dir: lib, logger: recordingLogger() });
    await copyFile(clip, join(lib, "movie.mp4"));
    await copyFile(clip, join(outside, "secret.mp4"));
    await copyFile(clip, join(root, "up.mp4"));
    await symlink(join(outside, "secret.mp4"), join(lib, "escape.mp4"));
    await symlink("../outside/secret.mp4", join(lib, "relescape.mp4"));
    await symlink(join(lib, "movie.mp4"), join(lib, "alias.mp4"));
    await mkdir(join(lib, "folder.mp4"));
    // A file literally named like an encoded traversal is just a name; it does not exist here.
    const tricks = [
      "../up.mp4",
      "..%2fup.mp4",
      "%2e%2e%2fup.mp4",
      "%2e%2e/up.mp4",
      join(root, "up.mp4"),
      join(lib, "movie.mp4"),
      "./movie.mp4",
      "movie.mp4/",
      "movie.mp4\0",
      "..\\up.mp4",
      "escape.mp4",
      "relescape.mp4",
      "folder.mp4",
      "unknown.mp4",
      "MOVIE.MP4",
    ];
    for (const id of tricks) expect(await cat.resolve(id), id).toBeNull();
    // A symlink that stays inside the library is fine.
    expect((await cat.resolve("alias.mp4"))?.path).toBe((await cat.resolve("movie.mp4"))?.path);
    const ids = (await cat.list()).map((v) => v.id);
    expect(ids).toContain("movie.mp4");
    expect(ids).not.toContain("escape.mp4");
    expect(ids).not.toContain("relescape.mp4");
    expect(ids).not.toContain("folder.mp4");
  });

  it("an unreadable library is an empty catalogue, not a crash", async () => {
    const log = recordingLogger();
    const cat = new Catalogue({ dir: join(root, "does-not-exist"), logger: log });
    expect(await cat.list()).toEqual([]);
    expect(await cat.resolve("movie.mp4")).toBeNull();
    expect(log.lines.some((l) => l.level === "warn")).toBe(true);
  });
});
