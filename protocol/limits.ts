// Protocol defaults (docs/protocol.md section 8). Every one is overridable in the
// server's config; clients learn the ones that concern them from `welcome`.

export const PROTOCOL_VERSION = 1;

export const DEFAULT_LIMITS = {
  maxFrame: 1_048_576,
  /**
   * 256 KiB, not the 64 KiB first specified: a room message to 256 members
   * carries 256 wrapped keys (about 370 bytes each with 2048-bit keys, 700
   * with 4096-bit), which 64 KiB cannot hold.
   */
  maxEnvelope: 262_144,
  maxRecipients: 256,
  maxMembersPerRoom: 256,
  maxConnections: 10_000,
  maxConnectionsPerAddress: 64,
  rateLimitPerSec: 50,
  rateLimitBurst: 100,
  rateLimitFatalMs: 5_000,
  helloTimeoutMs: 10_000,
  idleTimeoutMs: 45_000,
  partialFrameTimeoutMs: 15_000,
  /** Outgoing control bytes queued for a reader that does not read; past this it is closed. */
  maxQueuedControlBytes: 8 * 1_048_576,
  /**
   * A viewer's video backlog (not yet written to its socket) past which frames
   * are skipped for it. One with no video queued always gets the next frame,
   * however large, so a frame over this still plays.
   */
  maxQueuedVideoBytes: 512 * 1024,
  /**
   * A viewer's audio backlog past which packets are skipped for it (about 5 s
   * of 96 kbit/s Opus). Audio has its own queue, written before video, so it
   * is never the part of a lagging viewer that is skipped first.
   */
  maxQueuedAudioBytes: 64 * 1024,
  /**
   * One sender's budget for what its messages make the core write: a `msg`
   * frame's bytes times its recipients, refilled at this rate up to the burst.
   * The largest legitimate message (4,000 characters to a full room of 256
   * with 4096-bit keys: a 221 KB frame to 255 members, 56 MB) goes out twice
   * in a row, then one every 0.84 s; a short message to that room (48 MB) one
   * every 0.72 s. Over it: `rate_limited`, then fatal, as for frames.
   */
  fanoutBytesPerSec: 64 * 1_048_576,
  fanoutBurstBytes: 128 * 1_048_576,
  /**
   * One sender's budget for what its messages add to any one recipient's
   * queue (a `msg` frame's bytes, counted once). With maxQueuedControlBytes it
   * keeps a member that reads at 1 MB/s connected through another member's
   * flood (see server/connection.ts): the rate is under 1 MB/s and the burst
   * under half the queue. It still passes 18 of the largest messages at once
   * and 2 a second after that.
   */
  recipientBytesPerSec: 512 * 1024,
  recipientBurstBytes: 4 * 1_048_576,
  dedupePerMember: 1_000,
  dedupeMembers: 100_000,
  maxStreams: 64,
  /** v2 rooms: a sender-key envelope, flat whatever the room size (4,000 characters of JSON-escaped text fit). */
  maxEnvelopeV2: 49_152,
  /** v2: how old a hello's admission proof may be (clients make a fresh one per connection). */
  admissionMaxAgeMs: 10 * 60_000,
  /** v2: room ids cached in memory as v2 (room id -> verification key), in front of the room store that keeps them all. */
  maxV2Rooms: 100_000,
} as const;

export type Limits = { -readonly [K in keyof typeof DEFAULT_LIMITS]: number };

export const MAX_TEXT_CHARS = 4_000;
export const MAX_CHUNK_BYTES = 65_536;
export const VIDEO_CHUNK_HEADER = 16;
export const CLIENT_PING_MS = 15_000;
