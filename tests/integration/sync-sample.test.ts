// The sync sample itself, through the real ffmpeg: every frame's index reads
// back from its pixels after JPEG at q 5 (what the core sends) and after
// scaling, flashes are on the period's first frame, beeps start on time.

import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ffmpegPath } from "../../server/video/ffmpeg";
import { makeSyncSample, SYNC_DEFAULTS } from "../../scripts/make-sync-sample";
import { decodeFrameCode } from "../helpers/frameCode";

let dir: string;
let file: string;

function ff(args: string[]): Promise<Buffer> {
  return ffmpegPath().then(
    (bin) =>
      new Promise((res, rej) =>
        execFile(
          bin,
          ["-hide_banner", "-nostdin", "-v", "error", ...args],
          { encoding: "buffer", maxBuffer: 256 << 20, timeout: 60_000 },
          (err, out, stderr) => (err ? rej(new Error(stderr.toString())) : res(out)),
        ),
      ),
  );
}

/** Frames as RGBA after a JPEG round trip at quality q (and an optional scale). */
async function jpegFrames(q: number, w: number, h: number): Promise<Uint8Array[]> {
  const mjpeg = join(dir, `q${q}-${w}.mkv`);
  await ff(["-y", "-i", file, "-vsync", "0", "-vf", `scale=${w}:${h}`, "-c:v", "mjpeg", "-q:v", String(q), mjpeg]);
  const raw = await ff(["-i", mjpeg, "-vsync", "0", "-f", "rawvideo", "-pix_fmt", "rgba", "pipe:1"]);
  const size = w * h * 4;
  return Array.from({ length: raw.length / size }, (_, i) => raw.subarray(i * size, (i + 1) * size));
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sealroom-sync-"));
  file = await makeSyncSample(join(dir, "sync.mp4"), { durationS: 4 });
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe("sync sample", () => {
  it("every frame's index decodes from its pixels after JPEG q 5, at 320x180 and scaled to 640x360", async () => {
    const { width, height, fps } = SYNC_DEFAULTS;
    for (const [w, h] of [
      [width, height],
      [640, 360],
    ] as const) {
      const frames = await jpegFrames(5, w, h);
      expect(frames.length).toBe(4 * fps);
      frames.forEach((f, i) => expect(decodeFrameCode(f, w, h)).toBe(i));
    }
  });

  it("is not fooled by a frame without the code (all grey, all white)", () => {
    const w = 320;
    const h = 180;
    expect(decodeFrameCode(new Uint8Array(w * h * 4).fill(128), w, h)).toBeNull();
    expect(decodeFrameCode(new Uint8Array(w * h * 4).fill(255), w, h)).toBeNull();
    expect(decodeFrameCode(new Uint8Array(10), w, h)).toBeNull();
  });

  it("flashes white on the first frame of each period only", async () => {
    const { width: w, height: h, fps, periodS } = SYNC_DEFAULTS;
    const frames = await jpegFrames(5, w, h);
    const meanBelowCode = (f: Uint8Array) => {
      let s = 0;
      let n = 0;
      for (let y = h / 2; y < h; y += 4)
        for (let x = 0; x < w; x += 4) {
          s += f[(y * w + x) * 4]!;
          n++;
        }
      return s / n;
    };
    frames.forEach((f, i) => {
      const flash = i % (fps * periodS) === 0;
      expect(meanBelowCode(f) > 200, `frame ${i}`).toBe(flash);
    });
  });

  it("beeps start at 0, 2 s, ... within 1 ms in both tracks, 1 kHz and 2 kHz", async () => {
    for (const [track, hz] of [
      [0, 1000],
      [1, 2000],
    ] as const) {
      const pcm = await ff(["-i", file, "-map", `0:a:${track}`, "-ac", "1", "-ar", "48000", "-f", "f32le", "pipe:1"]);
      const s = new Float32Array(pcm.buffer, pcm.byteOffset, pcm.length / 4);
      const onsets: number[] = [];
      let quiet = 4800;
      for (let i = 0; i < s.length; i++) {
        if (Math.abs(s[i]!) > 0.1) {
          if (quiet >= 4800) onsets.push(i / 48);
          quiet = 0;
        } else quiet++;
      }
      expect(onsets.length).toBe(2);
      onsets.forEach((ms, k) => expect(Math.abs(ms - k * 2000)).toBeLessThan(1));
      // Zero crossings in the first 50 ms of the beep: 2 per period.
      const start = Math.round(onsets[1]! * 48);
      let zc = 0;
      for (let i = start + 1; i < start + 2400; i++) if (Math.sign(s[i]!) !== Math.sign(s[i - 1]!)) zc++;
      expect(Math.abs(zc / 2 / 0.05 - hz)).toBeLessThan(hz * 0.05);
    }
  });
});
