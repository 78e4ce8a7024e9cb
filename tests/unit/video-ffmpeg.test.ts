import { chmod, copyFile, mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { defaultCandidates, ffmpegPath, ffprobePath, resolveTool } from "../../server/video/ffmpeg";
import type { Candidate } from "../../server/video/ffmpeg";

let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sealroom-ff-"));
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const fixed = (source: string, path: string | null): Candidate => ({ source, locate: async () => path });

describe("resolveTool", () => {
  it("finds the packaged ffmpeg and ffprobe and caches them", async () => {
    const a = await ffmpegPath();
    expect(await ffmpegPath()).toBe(a);
    expect(a).toMatch(/ffmpeg/);
    expect(await ffprobePath()).toMatch(/ffprobe/);
  });

  it("skips a broken FFMPEG_PATH and falls through to the next source", async () => {
    const saved = process.env.FFMPEG_PATH;
    process.env.FFMPEG_PATH = join(dir, "no-such-ffmpeg");
    try {
      const r = await resolveTool("ffmpeg", defaultCandidates("ffmpeg"));
      expect(r.source).not.toBe("env FFMPEG_PATH");
      expect(r.version).toMatch(/^ffmpeg version/);
    } finally {
      if (saved === undefined) delete process.env.FFMPEG_PATH;
      else process.env.FFMPEG_PATH = saved;
    }
  });

  it("names every candidate and why it failed when none works", async () => {
    const notExec = join(dir, "fake-ffmpeg");
    await writeFile(notExec, "#!/bin/sh\necho 'not really ffmpeg'\n");
    await chmod(notExec, 0o755);
    const err = await resolveTool("ffmpeg", [
      fixed("env FFMPEG_PATH", join(dir, "missing")),
      fixed("ffmpeg-static", null),
      fixed("fake", notExec),
      { source: "exploding", locate: () => Promise.reject(new Error("boom")) },
    ]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    const msg = (err as Error).message;
    expect(msg).toContain("env FFMPEG_PATH");
    expect(msg).toContain("ENOENT");
    expect(msg).toContain("ffmpeg-static: not set or not installed");
    expect(msg).toContain("fake");
    expect(msg).toContain("unexpected -version output");
    expect(msg).toContain("exploding: boom");
  });

  it("makes a 0644 ffprobe executable before running it", async () => {
    const copy = join(dir, "ffprobe");
    await copyFile(await ffprobePath(), copy);
    await chmod(copy, 0o644);
    const r = await resolveTool("ffprobe", [fixed("copy", copy)]);
    expect(r.version).toMatch(/^ffprobe version/);
    expect((await stat(copy)).mode & 0o111).toBe(0o111);
  });
});
