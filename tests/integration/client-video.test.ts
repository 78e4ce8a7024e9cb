// Video from the client's side: catalogue, a self stream recorded to disk,
// and every control, against the real core with the real video service.

import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startCore } from "../helpers/core";

const ROOT = path.resolve(__dirname, "../..");
const VIDEOS = path.join(ROOT, "videos");
const hasVideo =
  existsSync(path.join(ROOT, "server", "video", "service.ts")) && existsSync(path.join(VIDEOS, "sample.mp4"));

type Ev = { event: string; [k: string]: unknown };

describe.skipIf(!hasVideo)("client video commands", { timeout: 90_000 }, () => {
  let core: Awaited<ReturnType<typeof startCore>>;
  let home: string;
  beforeAll(async () => {
    home = mkdtempSync(path.join(os.tmpdir(), "sealroom-cvideo-"));
    core = await startCore({ videos: VIDEOS } as Parameters<typeof startCore>[0]);
  });
  afterAll(async () => {
    await core?.stop();
    await fs.rm(home, { recursive: true, force: true });
  });

  it("lists videos, plays one recording every frame to disk, and pauses, seeks, resumes and stops it", async () => {
    const rec = path.join(home, "frames");
    const proc = spawn(
      process.execPath,
      [
        path.join(ROOT, "bin/sealroom"),
        "client",
        "--json",
        "--name",
        "viewer",
        "--room",
        "cinema",
        "--core",
        `127.0.0.1:${core.port}`,
        "--record",
        rec,
      ],
      {
        env: { ...process.env, XDG_CONFIG_HOME: path.join(home, "config") },
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    const events: Ev[] = [];
    let stderr = "";
    let rest = "";
    proc.stdout.setEncoding("utf8").on("data", (d: string) => {
      const lines = (rest + d).split("\n");
      rest = lines.pop()!;
      for (const l of lines) if (l.trim()) events.push(JSON.parse(l) as Ev);
    });
    proc.stderr.setEncoding("utf8").on("data", (d: string) => (stderr += d));
    const next = async (pred: (e: Ev) => boolean, what: string, from = 0, timeoutMs = 20_000): Promise<Ev> => {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const hit = events.slice(from).find(pred);
        if (hit) return hit;
        if (proc.exitCode !== null) throw new Error(`client exited before ${what}: ${stderr}`);
        if (Date.now() > deadline)
          throw new Error(`timed out waiting for ${what}; last events ${JSON.stringify(events.slice(-5))}`);
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const send = (l: string) => proc.stdin.write(l + "\n");
    try {
      await next((e) => e.event === "welcome", "welcome");
      send("/videos");
      const list = await next((e) => e.event === "videos", "videos");
      const sample = (
        list.items as { id: string; durationMs: number; width: number; height: number; bytes: number }[]
      ).find((v) => v.id === "sample.mp4");
      expect(sample).toBeDefined();
      expect(sample!.durationMs).toBeGreaterThan(1000);

      send("/play sample.mp4");
      const stream = await next((e) => e.event === "stream", "stream");
      expect(stream).toMatchObject({ video: "sample.mp4", scope: "self", state: "playing" });
      const sid = stream.sid as number;
      const firstFrame = await next((e) => e.event === "frame" && e.sid === sid, "a frame");
      await next((e) => e.event === "streamStats" && e.sid === sid && (e.fps as number) > 0, "stats with fps");

      send("/pause");
      await next((e) => e.event === "streamState" && e.state === "paused", "paused");
      let mark = events.length;
      send("/seek 0:05");
      const seeked = await next((e) => e.event === "streamState" && e.posMs === 5000, "seeked", mark);
      expect(seeked.state).toBe("paused");
      mark = events.length;
      send("/resume");
      await next((e) => e.event === "streamState" && e.state === "playing", "playing again", mark);
      const later = await next(
        (e) => e.event === "frame" && (e.ptsMs as number) >= 5000,
        "a frame after the seek point",
        mark,
      );
      mark = events.length;
      send("/stop");
      expect(await next((e) => e.event === "streamEnd", "streamEnd", mark)).toMatchObject({ sid, reason: "stopped" });

      send("/pause");
      expect((await next((e) => e.event === "commandError", "no stream error")).message).toMatch(/no stream/);

      proc.stdin.end();
      expect(await new Promise((r) => proc.on("exit", r))).toBe(0);
      const files = (await fs.readdir(rec)).sort();
      expect(files).toContain(path.basename(firstFrame.file as string));
      expect(files).toContain(path.basename(later.file as string));
      for (const f of files) expect(f).toMatch(new RegExp(`^${sid}-\\d{6}\\.jpg$`));
      const jpeg = await fs.readFile(path.join(rec, files[0]));
      expect([jpeg[0], jpeg[1], jpeg.at(-2), jpeg.at(-1)]).toEqual([0xff, 0xd8, 0xff, 0xd9]);
    } finally {
      if (proc.exitCode === null) proc.kill("SIGKILL");
    }
  });
});
