// Protocol defaults (PROTOCOL.md section 8). Every one is overridable in the
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
  /** Video bytes allowed in flight to one viewer before frames are skipped for it. */
  maxQueuedVideoBytes: 512 * 1024,
  dedupePerMember: 1_000,
  dedupeMembers: 100_000,
  maxStreams: 64,
} as const;

export type Limits = { -readonly [K in keyof typeof DEFAULT_LIMITS]: number };

export const MAX_TEXT_CHARS = 4_000;
export const MAX_CHUNK_BYTES = 65_536;
export const VIDEO_CHUNK_HEADER = 16;
export const CLIENT_PING_MS = 15_000;
