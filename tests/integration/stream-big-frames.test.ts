// A video whose JPEG frames are each bigger than maxQueuedVideoBytes (issue 9,
// part 1): it plays to a viewer that reads, and a stalled viewer in the same
// party is skipped frames instead of being buffered, on a real core process
// with the real ffmpeg.

import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as pathJoin } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { DEFAULT_LIMITS } from "../../protocol/limits";
import { FrameAssembler } from "../../protocol/videoChunk";
import { ffmpegPath } from "../../server/video/ffmpeg";
import { spawnCore, stopProc, type Spawned } from "../helpers/security-support";
import { identity, join, type Received, type WirePeer } from "../helpers/wire";

const FPS = 15;
const SECONDS = 3;
const lib = mkdtempSync(pathJoin(tmpdir(), "sealroom-bigframes-"));
let core: Spawned;

/**
 * 1280x720 of full-frame noise: every pixel, chroma included, random. At the
 * core's mjpeg -q:v 5 that is about 750 KB a frame, well over the 512 KiB bound.
 * Raw random frames rather than a lavfi source: lavfi's `noise` filter (and
 * geq noise in luma only) stays near 500 KB, under the bound. 15 fps keeps the
 * core's own transcode of such frames to about half a core.
 */
async function makeNoiseClip(out: string): Promise<void> {
  const ffmpeg = await ffmpegPath();
  const args = [
    "-hide_banner",
    "-nostdin",
    "-loglevel",
    "error",
    "-y",
    "-f",
    "rawvideo",
    "-pix_fmt",
    "yuv420p",
    "-s",
    "1280x720",
    "-r",
    String(FPS),
    "-i",
    "/dev/urandom",
    "-frames:v",
    String(FPS * SECONDS),
    "-c:v",
    "mjpeg",
    "-q:v",
    "3",
    "-pix_fmt",
    "yuvj420p",
    out,
  ];
  await new Promise<void>((res, rej) =>
    execFile(ffmpeg, args, { timeout: 60_000 }, (err, _o, stderr) =>
      err ? rej(new Error(`ffmpeg: ${stderr || err.message}`)) : res(),
    ),
  );
}

type StreamMsg = Received & { sid: number };

interface Got {
  frame: number;
  bytes: number;
  at: number;
}

/** Complete frames of any stream as they arrive. */
function track(peer: WirePeer): Got[] {
  const got: Got[] = [];
  const asm = new FrameAssembler();
  let seen = 0;
  peer.onData(() => {
    for (; seen < peer.video.length; seen++) {
      const f = asm.push(peer.video[seen]);
      if (f) got.push({ frame: f.frame, bytes: f.jpeg.length, at: Date.now() });
    }
  });
  return got;
}

beforeAll(async () => {
  await makeNoiseClip(pathJoin(lib, "noise.mkv"));
  core = await spawnCore(["--port", "0", "--videos", lib, "--cache-dir", pathJoin(lib, ".cache")]);
}, 60_000);
afterAll(() => stopProc(core));

describe("frames larger than maxQueuedVideoBytes", () => {
  it("play at full rate to a reading viewer while a stalled viewer in the same party is skipped", async () => {
    const reader = await join(core.port, { name: "reader", room: "noise", id: await identity(0) });
    const stalled = await join(core.port, { name: "stalled", room: "noise", id: await identity(1) });
    const readerFrames = track(reader.peer);
    const stalledFrames = track(stalled.peer);
    const keepAlive = setInterval(() => stalled.peer.send({ t: "ping", ts: 1 }), 2_000);
    try {
      // A first play decodes the clip into the core's frame cache, so the party
      // below measures delivery, not how fast a loaded machine transcodes noise.
      reader.peer.send({ t: "play", video: "noise.mkv", scope: "self" });
      const warm = await reader.peer.nextT("stream", 15_000);
      await reader.peer.next((m) => m.t === "streamEnd" && m.sid === warm.sid, 30_000);
      readerFrames.length = 0;

      const from = reader.peer.messages.length;
      reader.peer.send({ t: "play", video: "noise.mkv", scope: "room" });
      const st = await reader.peer.next<StreamMsg>((m) => m.t === "stream", 15_000, from);
      await stalled.peer.nextT("stream");
      stalled.peer.pause(); // reads nothing more until the stream is over
      const t0 = Date.now();
      expect(await reader.peer.next((m) => m.t === "streamEnd" && m.sid === st.sid, 30_000)).toMatchObject({
        reason: "finished",
      });
      const elapsed = Date.now() - t0;
      const total = FPS * SECONDS;
      const stats = reader.peer.messages.filter((m) => m.t === "streamStats" && m.sid === st.sid).at(-1);
      const sizes = readerFrames.map((f) => f.bytes);
      const rate =
        readerFrames.length > 1
          ? ((readerFrames.length - 1) * 1000) / (readerFrames.at(-1)!.at - readerFrames[0].at)
          : 0;
      console.log(
        `[big frames] reader: ${readerFrames.length} of ${total} frames (${Math.min(...sizes)}-${Math.max(...sizes)} bytes each) ` +
          `at ${rate.toFixed(1)} fps (clip ${FPS}), stream took ${elapsed} ms; its last stats ${JSON.stringify(stats)}`,
      );
      // Every frame is over the bound: the defect showed none of them.
      expect(Math.min(...sizes)).toBeGreaterThan(DEFAULT_LIMITS.maxQueuedVideoBytes);
      expect(readerFrames.length).toBeGreaterThanOrEqual(Math.ceil(0.9 * total));
      // At the clip's rate, give or take a loaded machine (the defect: 0 fps).
      expect(rate).toBeGreaterThan(0.75 * FPS);
      expect(elapsed).toBeLessThan(SECONDS * 1000 * 1.5);

      // The stalled viewer was never cut off; once it reads again its own
      // stats say frames were skipped for it, and it did not get them all.
      expect(stalled.peer.closed).toBe(false);
      stalled.peer.resume();
      await stalled.peer.next((m) => m.t === "streamEnd" && m.sid === st.sid, 15_000);
      const own = stalled.peer.messages.filter((m) => m.t === "streamStats" && m.sid === st.sid).at(-1);
      console.log(
        `[big frames] stalled viewer: got ${stalledFrames.length} frames after resuming; its last stats ${JSON.stringify(own)}`,
      );
      expect(own).toBeDefined();
      expect(own!.dropped as number).toBeGreaterThan(0);
      expect(stalledFrames.length).toBeLessThan(0.7 * total);
      stalled.peer.send({ t: "ping", ts: 7 });
      await stalled.peer.next((m) => m.t === "pong" && m.ts === 7);
    } finally {
      clearInterval(keepAlive);
      reader.peer.close();
      stalled.peer.close();
    }
  }, 60_000);
});
