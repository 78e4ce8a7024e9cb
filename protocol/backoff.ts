// Reconnect delays: exponential, capped, with jitter so that every client of
// a restarted core does not knock at the same instant.

export interface BackoffOptions {
  minMs: number;
  maxMs: number;
}

/**
 * Delay before reconnect attempt `attempt` (0-based): min * 2^attempt capped
 * at max, then drawn uniformly from its upper half ("equal jitter"), so the
 * delay still grows while no two clients retry in lockstep.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions, random: () => number = Math.random): number {
  const minMs = Math.max(0, opts.minMs);
  const maxMs = Math.max(minMs, opts.maxMs);
  const ceiling = Math.min(maxMs, minMs * 2 ** Math.min(attempt, 30));
  return Math.round(ceiling / 2 + (random() * ceiling) / 2);
}
