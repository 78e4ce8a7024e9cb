// Lists a file's audio tracks with ffprobe (language, channels, codec). The
// interpretation is a pure function over ffprobe's JSON; failures are values,
// because one odd file in the library must never take the catalogue down.

import { execFile } from "node:child_process";
import { ffprobePath } from "../video/ffmpeg";

/** One audio track as the catalogue would publish it (the `audio` field). */
export interface AudioTrack {
  /** 0-based among the file's audio streams: what `-map 0:a:N` and a viewer's track choice name. */
  index: number;
  /** ISO 639-2 tag from the container ("eng", "fra"), or "und". */
  language: string;
  title: string | null;
  codec: string;
  /** Channels in the source; everything is sent as a stereo downmix. */
  channels: number;
  channelLayout: string | null;
  /** True when the source has more than two channels and is downmixed to stereo. */
  downmix: boolean;
  /** Null when the track can be decoded; otherwise why it has no sound. */
  problem: string | null;
}

export type AudioProbeResult =
  | { ok: true; tracks: AudioTrack[]; /** Set when tracks is empty or none is playable. */ noSound: string | null }
  | { ok: false; reason: "missing" | "corrupt"; detail: string };

export interface FfprobeAudioJson {
  streams?: Array<{
    index?: number;
    codec_type?: string;
    codec_name?: string;
    channels?: number;
    channel_layout?: string;
    sample_rate?: string;
    tags?: { language?: string; title?: string };
  }>;
}

const PROBE_TIMEOUT_MS = 15_000;

/** Pure: ffprobe's JSON -> tracks, each with the reason it cannot play if so. */
export function interpretAudioProbe(json: FfprobeAudioJson): AudioProbeResult {
  const streams = (json.streams ?? []).filter((s) => s.codec_type === "audio");
  const tracks = streams.map((s, index): AudioTrack => {
    const channels = typeof s.channels === "number" && s.channels > 0 ? s.channels : 0;
    const codec = s.codec_name && s.codec_name !== "unknown" ? s.codec_name : "unknown";
    const rate = Number(s.sample_rate ?? 0);
    let problem: string | null = null;
    if (codec === "unknown") problem = "unknown audio codec";
    else if (channels === 0) problem = "audio stream has no channels (corrupt or unsupported)";
    else if (!(rate > 0)) problem = "audio stream has no sample rate (corrupt)";
    const lang = s.tags?.language?.trim().toLowerCase();
    return {
      index,
      language: lang && /^[a-z]{2,3}$/.test(lang) ? lang : "und",
      title: s.tags?.title?.slice(0, 100) ?? null,
      codec,
      channels,
      channelLayout: s.channel_layout ?? null,
      downmix: channels > 2,
      problem,
    };
  });
  let noSound: string | null = null;
  if (tracks.length === 0) noSound = "no audio stream";
  else if (tracks.every((t) => t.problem !== null)) noSound = `no playable audio: ${tracks[0]!.problem}`;
  return { ok: true, tracks, noSound };
}

/** Picks a viewer's track; an index that does not exist is a value, not a throw. */
export function selectTrack(
  tracks: readonly AudioTrack[],
  index: number,
): { ok: true; track: AudioTrack } | { ok: false; code: "unknown_track" | "unplayable_track"; message: string } {
  const track = Number.isInteger(index) ? tracks[index] : undefined;
  if (!track)
    return { ok: false, code: "unknown_track", message: `no audio track ${index} (this video has ${tracks.length})` };
  if (track.problem)
    return { ok: false, code: "unplayable_track", message: `audio track ${index} cannot play: ${track.problem}` };
  return { ok: true, track };
}

export async function probeAudio(path: string): Promise<AudioProbeResult> {
  const bin = await ffprobePath();
  const args = [
    "-v",
    "error",
    "-print_format",
    "json",
    "-show_entries",
    "stream=index,codec_type,codec_name,channels,channel_layout,sample_rate:stream_tags=language,title",
    "-select_streams",
    "a",
    `file:${path}`, // "file:" so a name like "concat:..." is never read as a protocol
  ];
  const { stdout, error } = await new Promise<{ stdout: string; error: string | null }>((resolve) => {
    execFile(bin, args, { timeout: PROBE_TIMEOUT_MS, maxBuffer: 1 << 20 }, (err, out, stderr) => {
      resolve({ stdout: out, error: err ? (stderr.trim() || err.message).slice(0, 500) : null });
    });
  });
  if (error !== null) return { ok: false, reason: /No such file/.test(error) ? "missing" : "corrupt", detail: error };
  try {
    return interpretAudioProbe(JSON.parse(stdout) as FfprobeAudioJson);
  } catch {
    return { ok: false, reason: "corrupt", detail: "unreadable ffprobe output" };
  }
}
