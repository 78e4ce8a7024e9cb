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
 * libopus complexity (0-10, ffmpeg's default 10). 5 cost 12.8% of a 720p
 * video decode (bench/audio-cost.ts), over the 10% budget; 3 is ~9% at no
 * audible loss at 96 kbit/s stereo.
 */
export const OPUS_COMPLEXITY = 3;

export type AudioDecodeFailure = "no_track" | "corrupt" | "demux" | "spawn" | "aborted";

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
    // One packet per page: the default one-second pages would delay the first sound by a second.
    "-page_duration",
    String(OPUS_FRAME_MS * 1000),
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
 * Runs ffmpeg to the end (or until signal aborts), feeding packets to sink as
 * they are demuxed. Never rejects: every failure is a result.
 */
export async function decodeAudio(
  path: string,
  track: number,
  sink: AudioDecodeSink,
  signal?: AbortSignal,
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
    const child = spawn(bin, opusArgs(path, track), { stdio: ["ignore", "pipe", "pipe"] });
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
      }
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
      else if (count === 0)
        finish({ ok: false, reason: "corrupt", detail: stderr.trim().slice(0, 300) || "no audio packets decoded" });
      else finish({ ok: true, packets: count, durationMs: Math.round(endSample / 48) });
    });
  });
}
