// Audio's cost next to video's, on the sync sample: CPU of the one Opus
// ffmpeg vs the one MJPEG ffmpeg for the same file (children's user+sys from
// bash `times`), and the Ogg demuxer's cost per packet.
// `node --import tsx bench/audio-cost.ts [seconds]` (default 20 s of 640x360 30 fps).

import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { makeSyncSample } from "../scripts/make-sync-sample";
import { ffmpegPath } from "../server/video/ffmpeg";
import { transcodeArgs } from "../server/video/transcode";
import { opusArgs } from "../server/audio/decode";
import { OggOpusDemuxer } from "../server/audio/ogg";

/** Children's CPU seconds (user + sys) of running bin args to completion, stdout discarded. */
function childCpu(bin: string, args: string[]): Promise<number> {
  return new Promise((res, rej) =>
    execFile("bash", ["-c", '"$@" >/dev/null; times', "_", bin, ...args], { timeout: 300_000 }, (err, out) => {
      if (err) return rej(err);
      const line = out.trim().split("\n").at(-1) ?? "";
      const secs = [...line.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
      res((secs[0] ?? 0) + (secs[1] ?? 0));
    }),
  );
}

function oggBytes(bin: string, file: string): Promise<Buffer> {
  return new Promise((res, rej) =>
    execFile(bin, opusArgs(file, 0), { encoding: "buffer", maxBuffer: 64 << 20 }, (err, out) =>
      err ? rej(err) : res(out),
    ),
  );
}

async function main(): Promise<void> {
  const seconds = Number(process.argv[2] ?? 20);
  const dir = await mkdtemp(join(tmpdir(), "sealroom-audio-bench-"));
  try {
    const file = await makeSyncSample(join(dir, "s.mp4"), { durationS: seconds, width: 640, height: 360 });
    const bin = await ffmpegPath();
    // The sync sample's picture is flat and cheap to decode; a moving 720p H.264 + AAC clip is closer to a film.
    const real = join(dir, "real.mp4");
    await new Promise<void>((res, rej) =>
      execFile(
        bin,
        [
          "-v",
          "error",
          "-y",
          "-f",
          "lavfi",
          "-i",
          `testsrc2=size=1280x720:rate=30:duration=${seconds}`,
          "-f",
          "lavfi",
          "-i",
          `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
          "-c:v",
          "libx264",
          "-preset",
          "veryfast",
          "-crf",
          "23",
          "-pix_fmt",
          "yuv420p",
          "-c:a",
          "aac",
          "-b:a",
          "128k",
          "-ac",
          "2",
          real,
        ],
        (e) => (e ? rej(e) : res()),
      ),
    );
    const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
    for (const [name, f] of [
      ["sync sample 640x360", file],
      ["testsrc2 720p H.264 + AAC", real],
    ] as const) {
      const video: number[] = [];
      const audio: number[] = [];
      for (let i = 0; i < 3; i++) {
        video.push(await childCpu(bin, transcodeArgs(f, { width: 640, height: 360 }, 30, 5)));
        audio.push(await childCpu(bin, opusArgs(f, 0)));
      }
      const v = med(video);
      const a = med(audio);
      console.log(
        `${name}, ${seconds} s: decode CPU video (MJPEG 640x360 q5) ${v.toFixed(2)} s, audio (Opus 96k) ${a.toFixed(2)} s, audio/video ${((100 * a) / v).toFixed(1)}%`,
      );
    }

    const ogg = await oggBytes(bin, file);
    let packets = 0;
    const rounds = 50;
    const t0 = process.hrtime.bigint();
    for (let r = 0; r < rounds; r++) {
      const d = new OggOpusDemuxer();
      for (let o = 0; o < ogg.length; o += 65536) packets += d.push(ogg.subarray(o, o + 65536)).packets.length;
      d.end();
    }
    const ns = Number(process.hrtime.bigint() - t0) / packets;
    console.log(
      `demux: ${packets / rounds} packets (${ogg.length} bytes Ogg) in 64 KiB chunks: ${(ns / 1000).toFixed(2)} µs per packet`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
