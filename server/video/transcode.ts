// One ffmpeg process turning a video file into a stream of baseline JPEG
// frames at a constant rate, from the start or from a point in the file.
// Knows nothing about caching: it reports frames and the end, and can be
// paused (backpressure) or killed.

import { spawn } from "node:child_process";
import { JpegSplitter } from "./jpeg";
import type { Size } from "./types";

export interface TranscodeOptions {
  ffmpeg: string;
  path: string;
  size: Size;
  fps: number;
  /** mjpeg -q:v, 2 (best) .. 31 (worst). */
  quality: number;
  /** Where the output starts, seconds into the file (0: the beginning). Frame k is at startSec + k/fps. */
  startSec?: number;
  onFrame(jpeg: Buffer): void;
  /** Called exactly once; null error means ffmpeg finished cleanly. */
  onEnd(error: Error | null): void;
}

export interface Transcode {
  readonly pid: number | undefined;
  pause(): void;
  resume(): void;
  kill(reason: string): void;
}

const STDERR_KEEP = 2048;

export function transcodeArgs(path: string, size: Size, fps: number, quality: number, startSec = 0): string[] {
  // fps= first so every later filter runs once per output frame, and the
  // output is constant-rate: frame i is at i/fps, which the cache relies on.
  const vf = `fps=${fps},scale=${size.width}:${size.height}:flags=bicubic,format=yuvj420p`;
  // -ss before -i: the demuxer jumps to the keyframe before startSec and
  // ffmpeg decodes (without encoding) only from there to startSec (accurate
  // seek), so a seek into a two-hour film costs at most one GOP of decoding,
  // and output timestamps restart at 0 = startSec.
  const seek = startSec > 0 ? ["-ss", startSec.toFixed(3)] : [];
  return [
    "-hide_banner",
    "-nostdin",
    "-loglevel",
    "error",
    ...seek,
    // "file:" so a name can never be taken for another protocol.
    "-i",
    `file:${path}`,
    "-map",
    "0:v:0",
    "-an",
    "-sn",
    "-dn",
    "-vf",
    vf,
    // mjpeg writes baseline (SOF0) Huffman JPEGs, which every browser decodes.
    "-c:v",
    "mjpeg",
    "-q:v",
    String(quality),
    "-f",
    "image2pipe",
    "pipe:1",
  ];
}

export function startTranscode(opts: TranscodeOptions): Transcode {
  const startSec = opts.startSec ?? 0;
  const child = spawn(opts.ffmpeg, transcodeArgs(opts.path, opts.size, opts.fps, opts.quality, startSec), {
    stdio: ["ignore", "pipe", "pipe"],
  });
  const splitter = new JpegSplitter();
  let stderr = "";
  let killedFor: string | null = null;
  let ended = false;
  let produced = 0;

  const end = (err: Error | null) => {
    if (ended) return;
    ended = true;
    opts.onEnd(err);
  };

  child.stdout.on("data", (chunk: Buffer) => {
    if (ended) return;
    for (const jpeg of splitter.push(chunk)) {
      produced++;
      opts.onFrame(jpeg);
      if (ended) return; // the consumer may kill us from inside onFrame
    }
  });
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (s: string) => {
    stderr = (stderr + s).slice(-STDERR_KEEP);
  });
  child.on("error", (err) => end(new Error(`ffmpeg could not run: ${err.message}`)));
  child.on("close", (code, signal) => {
    if (killedFor !== null) return end(new Error(`transcode stopped: ${killedFor}`));
    if (code !== 0) {
      const detail = stderr.trim().split("\n").slice(-3).join(" | ");
      return end(new Error(`ffmpeg exited with ${code ?? signal}: ${detail || "no output"}`));
    }
    // From the start, no frames means a broken file; from a later point it
    // means the point is at or past the end, which is not an error.
    if (produced === 0 && startSec === 0) return end(new Error("ffmpeg produced no frames"));
    if (splitter.pendingBytes > 0) return end(new Error("ffmpeg output ended inside a frame"));
    end(null);
  });

  return {
    pid: child.pid,
    // Pausing = no longer reading its stdout: the pipe fills (64 KiB) and
    // ffmpeg blocks in write(), using no CPU, and resumes by itself when we
    // read again. Chosen over SIGSTOP/SIGCONT because it needs no signal
    // bookkeeping and cannot leave a stopped ffmpeg behind if this process
    // dies (a SIGSTOPped orphan would sit there forever, holding its memory);
    // the cost is at most a pipe's worth (a frame or two) decoded past the window.
    pause: () => child.stdout.pause(),
    resume: () => child.stdout.resume(),
    kill(reason: string) {
      if (ended || killedFor !== null) return;
      killedFor = reason;
      // Nothing to flush: the output is thrown away, so do not wait for a graceful exit.
      child.kill("SIGKILL");
      // Report now: callers waiting on frames must not hang until the OS reaps the child.
      end(new Error(`transcode stopped: ${reason}`));
    },
  };
}
