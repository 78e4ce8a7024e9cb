// The library watcher on a real folder: one "changed" per burst, nothing for
// irrelevant files, and the periodic rescan when fs.watch is not available.

import { appendFile, mkdir, mkdtemp, rm, writeFile, unlink } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LibraryWatcher, librarySnapshot } from "../../server/library/library-watcher";
import { recordingLogger } from "../helpers/log";

let root: string;

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), "sealroom-watch-"));
});

afterAll(async () => {
  await rm(root, { recursive: true, force: true });
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(cond: () => boolean, ms: number): Promise<void> {
  const end = Date.now() + ms;
  while (!cond() && Date.now() < end) await sleep(20);
}

async function folder(name: string): Promise<string> {
  const dir = join(root, name);
  await mkdir(dir);
  await writeFile(join(dir, "old.mp4"), "x");
  return dir;
}

describe("LibraryWatcher", () => {
  it("emits one event for a file added in several writes", async () => {
    const dir = await folder("burst");
    let events = 0;
    const w = new LibraryWatcher({
      dir,
      logger: recordingLogger(),
      onChanged: () => events++,
      debounceMs: 1_000,
      rescanMs: 60_000,
    });
    await w.start();
    try {
      const file = join(dir, "new.mp4");
      await writeFile(file, "a");
      for (let k = 0; k < 5; k++) {
        await sleep(20);
        await appendFile(file, Buffer.alloc(64 * 1024, k));
      }
      await until(() => events > 0, 10_000);
      // Longer than the debounce again: a second event would have come by now.
      await sleep(1_500);
      expect(events).toBe(1);
      // A removal is a change too.
      await unlink(file);
      await until(() => events > 1, 10_000);
      expect(events).toBe(2);
    } finally {
      w.close();
    }
  });

  it("says nothing for files the catalogue does not list", async () => {
    const dir = await folder("noise");
    let events = 0;
    const w = new LibraryWatcher({
      dir,
      logger: recordingLogger(),
      onChanged: () => events++,
      debounceMs: 100,
      rescanMs: 60_000,
    });
    await w.start();
    try {
      await writeFile(join(dir, "notes.txt"), "hello");
      await writeFile(join(dir, ".hidden.mp4"), "x");
      await sleep(600);
      expect(events).toBe(0);
      await writeFile(join(dir, "film.en.srt"), "1\n00:00:01,000 --> 00:00:02,000\nhi\n");
      await until(() => events > 0, 10_000);
      expect(events).toBe(1);
    } finally {
      w.close();
    }
  });

  it("still notices a change by rescanning when fs.watch is off", async () => {
    const dir = await folder("poll");
    let events = 0;
    const w = new LibraryWatcher({
      dir,
      logger: recordingLogger(),
      onChanged: () => events++,
      useFsWatch: false,
      rescanMs: 150,
    });
    await w.start();
    try {
      await sleep(400);
      expect(events).toBe(0);
      await writeFile(join(dir, "added.mkv"), "y");
      await until(() => events > 0, 10_000);
      expect(events).toBe(1);
      expect(w.emitted).toBe(1);
    } finally {
      w.close();
    }
  });

  it("snapshots names, sizes and mtimes of videos and subtitles only", async () => {
    const dir = await folder("snap");
    await writeFile(join(dir, "a.srt"), "12345");
    await writeFile(join(dir, "b.txt"), "no");
    const lines = (await librarySnapshot(dir)).split("\n").map((l) => l.split("\t").slice(0, 2));
    expect(lines).toEqual([
      ["a.srt", "5"],
      ["old.mp4", "1"],
    ]);
    expect(await librarySnapshot(join(root, "missing"))).toBe("unreadable ENOENT");
  });
});
