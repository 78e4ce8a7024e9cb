// The video pipeline's own limits: how far ahead and behind each decoder
// works, how many decoders may run, and how much memory and disk the frame
// cache may use. Server-only (clients never learn them), so they live here
// rather than in protocol/limits.ts; `sealroom server --limit NAME=N` sets
// them like the protocol limits.

const MiB = 1024 * 1024;

export const VIDEO_LIMITS = {
  /** A decoder pauses once it is this far ahead of the furthest viewer it serves. */
  decodeAheadSec: 20,
  /** Frames kept behind each viewer, for late joiners and short seeks back. */
  decodeBehindSec: 30,
  /** The first seconds of a video stay cached while it is, so a replay from the start is warm. */
  decodeHeadSec: 10,
  /** ffmpeg decoders running (or paused) at once, server-wide. */
  maxDecoders: 8,
  /** Decoders started by one member's streams at once. */
  maxDecodersPerMember: 2,
  /** Decoded frames held in memory over all videos. */
  frameCacheBytes: 512 * MiB,
  /** Decoded frames one video holds in memory before further ones spill to disk. */
  frameCacheVideoBytes: 64 * MiB,
  /** Spilled frames on disk over all videos. */
  frameCacheDiskBytes: 4096 * MiB,
  /** Below this much free space on the cache's filesystem nothing more is spilled. */
  minFreeDiskBytes: 1024 * MiB,
  /** Decoded Opus packets of idle (unwatched) audio tracks kept, over all videos (~43 MB per hour of audio). */
  audioCacheBytes: 256 * MiB,
  /** Decoded Opus packets kept behind the slowest reader of a track (seek back, late joiners); decoding stays decodeAheadSec ahead. */
  audioBehindSec: 30,
  /**
   * At a start, seek or resume, the picture waits at most this long for the
   * sound to be decoded there (a cold or far-seek Opus ffmpeg takes ~100 ms),
   * so a stream's first sound is heard rather than passed over.
   */
  soundStartWaitMs: 300,
  /** "clock" clients present each frame and packet at anchor + pts + this (absorbs network jitter). */
  playoutDelayMs: 250,
} as const;

export type VideoLimits = { -readonly [K in keyof typeof VIDEO_LIMITS]: number };

export function isVideoLimit(name: string): name is keyof VideoLimits {
  return Object.hasOwn(VIDEO_LIMITS, name);
}
