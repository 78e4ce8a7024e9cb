// Named limits of the room store (retention, away grace, group commit), in the
// shape `--limit NAME=N` can later override, and their validation.

const MiB = 1_048_576;
const HOUR = 3_600_000;

export const DEFAULT_STORE_LIMITS = {
  /** Entries kept per room; the oldest go first. */
  retentionMessages: 10_000,
  /** Bytes kept per room (entryBytes of each entry); the oldest go first. */
  retentionBytes: 64 * MiB,
  /** An entry older than this is gone (and the prefix before it). */
  retentionAgeMs: 7 * 24 * HOUR,
  /** A member away (no connection) longer than this is no longer a member; never longer than retentionAgeMs. */
  awayGraceMs: 24 * HOUR,
  /** SQLite: writes arriving within this window share one transaction (one fsync). 0: one event-loop turn. */
  groupCommitMs: 2,
  /** SQLite: a batch this large is committed at once, without waiting for the window. */
  groupCommitMaxOps: 1_000,
  /** Most entries one readAfter returns (bounds the memory of a resume step). */
  maxReadBatch: 1_000,
  /** Most `delivered` a resuming sender gets for receipts it missed (the newest of its messages whose counts grew). */
  resumeReceipts: 256,
  /** How often expired entries and members are physically removed. */
  sweepIntervalMs: 60_000,
} as const;

export type StoreLimits = { -readonly [K in keyof typeof DEFAULT_STORE_LIMITS]: number };

/** Fills in defaults and refuses nonsense with a one-line error naming the limit. */
export function storeLimits(over: Partial<StoreLimits> = {}): StoreLimits {
  const l: StoreLimits = { ...DEFAULT_STORE_LIMITS, ...over };
  for (const [k, v] of Object.entries(l)) {
    const min = k === "groupCommitMs" ? 0 : 1;
    if (!Number.isSafeInteger(v) || v < min)
      throw new RangeError(`store limit ${k} must be an integer >= ${min}, not ${v}`);
  }
  return l;
}

/** The grace actually applied: never longer than retention, or an away member's messages could be gone before it is. */
export function effectiveAwayGraceMs(l: StoreLimits): number {
  return Math.min(l.awayGraceMs, l.retentionAgeMs);
}
