// Subtitle discovery on a real library folder and real ffmpeg: sidecars with
// languages, embedded text streams extracted to WebVTT, path rules, the size limit.

import { execFile } from "node:child_process";
import { mkdir, mkdtemp, open, rm, symlink, truncate, writeFile, copyFile } from "node:fs/promises";
import type { FileHandle } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeClip } from "../../scripts/make-sample";
import { readSubtitleFile } from "../../server/library/subtitle-file";
import { SubtitleLibrary, type VideoRef } from "../../server/library/subtitles";
import { Catalogue } from "../../server/video/catalogue";
import { ffmpegPath } from "../../server/video/ffmpeg";
import { recordingLogger } from "../helpers/log";

let root: string;
let lib: string;
let clip: string;

const SRT = (lines: string[]) =>
  lines.map((l, k) => `${k + 1}\n00:00:0${k},000 --> 00:00:0${k},900\n${l}\n`).join("\n");

function ffmpeg(args: string[]): Promise<void> {
  return ffmpegPath().then(
    (bin) =>
      new Promise((resolve, reject) => {
        execFile(
          bin,
          ["-hide_banner", "-nostdin", "-loglevel", "error", "-y", ...args],
          { timeout: 60_000 },
          (err, _o, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve()),
        );
      }),
  );
}

async function ref(cat: Catalogue, id: string): Promise<VideoRef> {
  const r = await cat.resolve(id);
  if (!r) throw new Error(`${id} not in the catalogue`);
  return { id, path: r.path, key: r.key };
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sealroom-subs-"));
  lib = join(root, "library");
  await mkdir(lib);
  clip = join(root, "clip.mp4");
  await makeClip(clip, { durationS: 3, width: 160, height: 90, fps: 10, label: false });
  await copyFile(clip, join(lib, "film.mp4"));
  await writeFile(join(lib, "film.srt"), SRT(["plain"]));
  await writeFile(join(lib, "film.en.srt"), SRT(["Hello", "<script>alert(1)</script>"]));
  await writeFile(join(lib, "film.fr.vtt"), `WEBVTT\n\n00:00.000 --> 00:00.900\nBonjour\n`);
  await writeFile(join(lib, "film.pt-BR.srt"), SRT(["Olá"]));
  // Embedded: two text streams with language tags, muxed with real ffmpeg.
  const subsA = join(root, "a.srt");
  const subsB = join(root, "b.srt");
  await writeFile(subsA, SRT(["Bonjour embarqué", "<i>deux</i>"]));
  await writeFile(subsB, SRT(["Hallo eingebettet"]));
  await ffmpeg([
    "-i",
    clip,
    "-i",
    subsA,
    "-map",
    "0",
    "-map",
    "1",
    "-c:v",
    "copy",
    "-c:s",
    "mov_text",
    "-metadata:s:s:0",
    "language=fra",
    join(lib, "muxed.mp4"),
  ]);
  await ffmpeg([
    "-i",
    clip,
    "-i",
    subsA,
    "-i",
    subsB,
    "-map",
    "0",
    "-map",
    "1",
    "-map",
    "2",
    "-c:v",
    "copy",
    "-c:s:0",
    "srt",
    "-c:s:1",
    "ass",
    "-metadata:s:s:0",
    "language=fre",
    "-metadata:s:s:1",
    "language=ger",
    "-metadata:s:s:1",
    "title=Signs",
    join(lib, "muxed.mkv"),
  ]);
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

describe("SubtitleLibrary", () => {
  it("lists sidecar files with their languages and labels", async () => {
    const cat = new Catalogue({ dir: lib, logger: recordingLogger() });
    const subs = new SubtitleLibrary({ dir: lib, logger: recordingLogger() });
    const tracks = await subs.tracks(await ref(cat, "film.mp4"));
    expect(tracks).toEqual([
      { id: "file:film.en.srt", lang: "en", label: "English", source: "file" },
      { id: "file:film.fr.vtt", lang: "fr", label: "French", source: "file" },
      { id: "file:film.pt-BR.srt", lang: "pt-BR", label: expect.stringMatching(/Portuguese/), source: "file" },
      { id: "file:film.srt", lang: "und", label: "Unknown language", source: "file" },
    ]);
    const en = await subs.cues(await ref(cat, "film.mp4"), "file:film.en.srt");
    expect(en.ok && en.cues.map((c) => c.text)).toEqual(["Hello", "<script>alert(1)</script>"]);
    const fr = await subs.cues(await ref(cat, "film.mp4"), "file:film.fr.vtt");
    expect(fr.ok && fr.cues).toEqual([{ startMs: 0, endMs: 900, text: "Bonjour" }]);
  });

  it("lists embedded text streams and extracts them with ffmpeg through the same parser", async () => {
    const cat = new Catalogue({ dir: lib, logger: recordingLogger() });
    const subs = new SubtitleLibrary({ dir: lib, logger: recordingLogger() });
    const mp4 = await ref(cat, "muxed.mp4");
    expect(await subs.tracks(mp4)).toEqual([
      { id: "embedded:0", lang: "fr", label: "French", source: "embedded", default: true },
    ]);
    const r = await subs.cues(mp4, "embedded:0");
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.format).toBe("vtt");
    expect(r.cues.map((c) => c.text)).toEqual(["Bonjour embarqué", "deux"]);
    expect(r.cues[1].spans).toEqual([{ text: "deux", italic: true }]);
    expect(r.cues[0].startMs).toBe(0);

    const mkv = await ref(cat, "muxed.mkv");
    const tracks = await subs.tracks(mkv);
    expect(tracks.map((t) => [t.id, t.lang, t.label])).toEqual([
      ["embedded:0", "fr", "French"],
      ["embedded:1", "de", "German \u2014 Signs"],
    ]);
    const de = await subs.cues(mkv, "embedded:1");
    expect(de.ok && de.cues.map((c) => [c.startMs, c.endMs, c.text])).toEqual([[0, 900, "Hallo eingebettet"]]);
    expect(subs.jobs.started).toBe(2);
    // The second ask is served from memory: no new ffmpeg.
    await subs.cues(mkv, "embedded:1");
    expect(subs.jobs.started).toBe(2);
  });

  it("refuses track ids that are not in the listing, and symlinks out of the library", async () => {
    const outside = join(root, "outside.srt");
    await writeFile(outside, SRT(["secret"]));
    await symlink(outside, join(lib, "film.xx.srt"));
    await symlink("/etc/passwd", join(lib, "film.yy.srt"));
    try {
      const cat = new Catalogue({ dir: lib, logger: recordingLogger() });
      const subs = new SubtitleLibrary({ dir: lib, logger: recordingLogger() });
      const film = await ref(cat, "film.mp4");
      for (const bad of [
        "file:../outside.srt",
        "file:/etc/passwd",
        "file:film.de.srt",
        "embedded:7",
        "embedded:-1",
        "",
        5,
        null,
        "x".repeat(10_000),
      ]) {
        expect(await subs.cues(film, bad)).toEqual({
          ok: false,
          reason: "unknown_track",
          message: "no such subtitle track",
        });
      }
      for (const link of ["file:film.xx.srt", "file:film.yy.srt"]) {
        const r = await subs.cues(film, link);
        expect(r).toEqual({
          ok: false,
          reason: "unreadable",
          message: "subtitle file refused: symlink leaves the library",
        });
      }
    } finally {
      await rm(join(lib, "film.xx.srt"));
      await rm(join(lib, "film.yy.srt"));
    }
  });
});

describe("readSubtitleFile", () => {
  it("refuses a 50 MB file from its size alone, reading none of it", async () => {
    const big = join(root, "big.srt");
    await writeFile(big, "");
    await truncate(big, 50 * 1024 * 1024); // sparse: 50 MB long, no disk or time spent
    let bytesRead = 0;
    const counting = async (path: string): Promise<FileHandle> => {
      const fh = await open(path, "r");
      const read = fh.read.bind(fh) as (...a: unknown[]) => Promise<{ bytesRead: number }>;
      (fh as unknown as { read: (...a: unknown[]) => Promise<{ bytesRead: number }> }).read = async (
        ...a: unknown[]
      ) => {
        const r = await read(...a);
        bytesRead += r.bytesRead;
        return r;
      };
      return fh;
    };
    const before = process.memoryUsage().arrayBuffers;
    const r = await readSubtitleFile(big, { openFile: counting });
    expect(r).toEqual({
      ok: false,
      reason: "too_large",
      message: `subtitle file is ${50 * 1024 * 1024} bytes, over maxSubtitleBytes (${5 * 1024 * 1024})`,
    });
    expect(bytesRead).toBe(0);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(4 * 1024 * 1024);
    // The limit is a setting: the same file under a larger limit is read (and, being NULs, is not text).
    const r2 = await readSubtitleFile(big, { openFile: counting, maxSubtitleBytes: 64 * 1024 * 1024 });
    expect(r2.ok === false && r2.reason).toBe("not_text");
    expect(bytesRead).toBe(50 * 1024 * 1024);
  });

  it("reads a UTF-16 file with a BOM and a windows-1251 file, saying which encoding it assumed", async () => {
    const u16 = join(root, "u16.srt");
    await writeFile(u16, Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(SRT(["Größe"]), "utf16le")]));
    const a = await readSubtitleFile(u16);
    expect(a.ok && [a.encoding, a.cues[0].text, a.warnings]).toEqual(["utf-16le", "Größe", []]);
    const cp1251 = join(root, "ru.srt");
    // А-я are 0xC0-0xFF in windows-1251.
    const ru = "Привет, мир. Это проверка.";
    const bytes = Buffer.from(
      SRT([ru])
        .split("")
        .map((ch) => (ch >= "А" && ch <= "я" ? ch.charCodeAt(0) - 0x410 + 0xc0 : ch.charCodeAt(0))),
    );
    await writeFile(cp1251, bytes);
    const b = await readSubtitleFile(cp1251);
    expect(b.ok && [b.encoding, b.cues[0].text, b.warnings]).toEqual([
      "windows-1251",
      ru,
      ["not UTF-8; assumed windows-1251"],
    ]);
  });

  it("reports a missing file as unreadable", async () => {
    const r = await readSubtitleFile(join(root, "nope.srt"));
    expect(r.ok === false && r.reason).toBe("unreadable");
  });
});
