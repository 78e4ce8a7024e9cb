// Decodes one (file, audio track) once into Opus packets: a single ffmpeg
// (resolved like the video's) writes Ogg Opus to a pipe, and the Ogg demuxer
// turns it into packets with presentation times as they arrive.

import { spawn } from "node:child_process";
import { ffmpegPath } from "../video/ffmpeg";
import { OggOpusDemuxer, type OpusHead, type OpusPacket } from "./ogg";

/** The shape of what is sent: 48 kHz stereo Opus, 20 ms packets. */
export const OPUS_SAMPLE_RATE = 48_000;
export const OPUS_CHANNELS = 2;
export const OPUS_BITRATE = "96k";
export const OPUS_FRAME_MS = 20;
/**
 * libopus complexity (0-10, ffmpeg's default 10). The encoder is ~90% of the
 * audio ffmpeg's CPU (the AAC decode and ffmpeg's start-up are the rest;
 * bench/NOTES.md). At 96 kbit/s stereo Opus runs CELT only, with bits to
 * spare; what higher complexities add (the pitch pre-filter, TF and spreading
 * analysis, finer stereo decisions) matters at low bit rates. 0 costs 35% less
 * CPU than 3 and 70% less than 10.
 */
export const OPUS_COMPLEXITY = 0;
/**
 * Packets per Ogg page (each page is one write to the pipe): 5 pages of 20 ms
 * is 100 ms of sound, which the encoder makes in about a millisecond, so a
 * cold start or a far seek still gets its first sound at once, with a fifth of
 * the pages and syscalls of one page per packet.
 */
export const OGG_PAGE_MS = 100;

export type AudioDecodeFailure = "no_track" | "corrupt" | "demux" | "spawn" | "aborted";

/**
 * Flow control between the cache and one decoder: while closed, the decoder
 * stops reading ffmpeg's pipe (ffmpeg then blocks on its write and uses no
 * CPU); opening it resumes reading.
 */
export class AudioGate {
  private isOpen = true;
  private wake: (() => void) | null = null;
  get open(): boolean {
    return this.isOpen;
  }
  set(open: boolean): void {
    if (open === this.isOpen) return;
    this.isOpen = open;
    if (open) this.wake?.();
  }
  /** The decoder's resume hook (one per gate). */
  onOpen(fn: () => void): void {
    this.wake = fn;
  }
}

/** Where a decode starts, and its gate. */
export interface AudioDecodeFrom {
  /** Start in the file (ms): ffmpeg seeks there (`-ss` before `-i`); packet times stay the file's. */
  startMs?: number;
  gate?: AudioGate;
}

export interface AudioDecodeSink {
  /** Once, before the first packet. */
  onHead(head: OpusHead): void;
  onPackets(packets: OpusPacket[]): void;
}

export type AudioDecodeResult =
  { ok: true; packets: number; durationMs: number } | { ok: false; reason: AudioDecodeFailure; detail: string };

export function opusArgs(path: string, track: number, startMs = 0): string[] {
  return [
    "-hide_banner",
    "-nostdin",
    "-v",
    "error",
    ...(startMs > 0 ? ["-ss", (startMs / 1000).toFixed(3)] : []),
    "-i",
    `file:${path}`,
    "-map",
    `0:a:${track}`,
    "-vn",
    "-sn",
    "-dn",
    "-map_metadata",
    "-1",
    "-c:a",
    "libopus",
    "-b:a",
    OPUS_BITRATE,
    "-ac",
    String(OPUS_CHANNELS),
    "-ar",
    String(OPUS_SAMPLE_RATE),
    "-frame_duration",
    String(OPUS_FRAME_MS),
    "-application",
    "audio",
    "-compression_level",
    String(OPUS_COMPLEXITY),
    // Short pages, flushed: ffmpeg's default one-second pages and 32 KiB buffer hold back a cold start's first sound.
    "-page_duration",
    String(OGG_PAGE_MS * 1000),
    "-flush_packets",
    "1",
    "-f",
    "ogg",
    "pipe:1",
  ];
}

function classify(stderr: string): AudioDecodeFailure {
  return /matches no streams|Stream map/i.test(stderr) ? "no_track" : "corrupt";
}

/**
 * Runs ffmpeg from from.startMs to the end (or until signal aborts), feeding
 * packets to sink as they are demuxed, with their times on the file's
 * timeline; while from.gate is closed the pipe is not read. Never rejects:
 * every failure is a result (durationMs: the audio decoded, from startMs).
 */
export async function decodeAudio(
  path: string,
  track: number,
  sink: AudioDecodeSink,
  signal?: AbortSignal,
  from: AudioDecodeFrom = {},
): Promise<AudioDecodeResult> {
  if (!Number.isInteger(track) || track < 0)
    return { ok: false, reason: "no_track", detail: `bad audio track index ${track}` };
  let bin: string;
  try {
    bin = await ffmpegPath();
  } catch (err) {
    return { ok: false, reason: "spawn", detail: (err as Error).message };
  }
  return new Promise((resolve) => {
    const startMs = Math.max(0, Math.round(from.startMs ?? 0));
    // ffmpeg's output after `-ss` starts at 0: shift it back onto the file's timeline (48 samples per ms).
    const offset = startMs * 48;
    const gate = from.gate;
    const child = spawn(bin, opusArgs(path, track, startMs), { stdio: ["ignore", "pipe", "pipe"] });
    gate?.onOpen(() => {
      if (!settled) child.stdout.resume();
    });
    const demux = new OggOpusDemuxer();
    let headSent = false;
    let count = 0;
    let endSample = 0;
    let stderr = "";
    let settled = false;
    const finish = (r: AudioDecodeResult): void => {
      if (settled) return;
      settled = true;
      signal?.removeEventListener("abort", onAbort);
      resolve(r);
    };
    const onAbort = (): void => {
      child.kill("SIGKILL");
      child.stdout.destroy(); // a paused pipe would otherwise hold the child's close forever
      finish({ ok: false, reason: "aborted", detail: "aborted" });
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    if (signal?.aborted) onAbort();
    const deliver = (packets: OpusPacket[]): void => {
      if (packets.length === 0) return;
      if (!headSent && demux.head) {
        headSent = true;
        sink.onHead(demux.head);
      }
      if (offset)
        for (const p of packets) {
          p.ptsSamples += offset;
          p.ptsMs = p.ptsSamples / 48;
        }
      count += packets.length;
      const last = packets[packets.length - 1]!;
      endSample = last.ptsSamples + last.durationSamples;
      sink.onPackets(packets);
    };
    child.stdout.on("data", (chunk: Buffer) => {
      const r = demux.push(chunk);
      deliver(r.packets);
      if (r.error) {
        child.kill("SIGKILL");
        finish({ ok: false, reason: "demux", detail: `${r.error.code}: ${r.error.message}` });
      } else if (gate && !gate.open) child.stdout.pause();
    });
    child.stderr.on("data", (c: Buffer) => {
      if (stderr.length < 4000) stderr += c.toString();
    });
    child.on("error", (err) => finish({ ok: false, reason: "spawn", detail: err.message }));
    child.on("close", (code) => {
      if (code !== 0) {
        const detail = stderr.trim().split("\n").slice(-2).join(" | ").slice(0, 500) || `ffmpeg exited ${code}`;
        finish({ ok: false, reason: classify(stderr), detail });
        return;
      }
      const r = demux.end();
      if (r.error) finish({ ok: false, reason: "demux", detail: `${r.error.code}: ${r.error.message}` });
      // Nothing after a seek is the end of the track (audio shorter than the video), not damage.
      else if (count === 0 && startMs === 0)
        finish({ ok: false, reason: "corrupt", detail: stderr.trim().slice(0, 300) || "no audio packets decoded" });
      else finish({ ok: true, packets: count, durationMs: Math.round(endSample / 48) - startMs });
    });
  });
}
