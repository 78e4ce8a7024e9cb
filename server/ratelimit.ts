// Token buckets for what a client sends (docs/protocol.md section 8): a steady
// rate with bursts, counted in frames or in bytes. A connection's buckets share
// one flood watch, so it hears at most one `rate_limited` a second whichever
// bucket ran dry, and one that keeps at it for `fatalMs` is told so and closed.

import type { Limits } from "../protocol/limits";

export type RateVerdict = "ok" | "drop" | "drop_and_tell" | "fatal";

/** Refills `ratePerSec` tokens a second up to `burst`. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  /**
   * Whether `cost` may be spent now. A cost larger than the whole burst passes
   * from a full bucket and leaves it in debt, so a configured burst a little
   * under the largest message delays that message instead of refusing it forever.
   */
  allows(now: number, cost: number): boolean {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.ratePerSec) / 1000);
    this.last = now;
    return this.tokens >= Math.min(cost, this.burst);
  }

  spend(cost: number): void {
    this.tokens -= cost;
  }
}

/** Turns drops into verdicts: told at most once a second, fatal once a flood lasts `fatalMs`. */
export class FloodWatch {
  private floodStart = -1;
  private lastDrop = -Infinity;
  private lastTold = -Infinity;

  constructor(private readonly fatalMs: number) {}

  dropped(now: number): Exclude<RateVerdict, "ok"> {
    // A flood is a run of drops with no quiet second between them.
    if (now - this.lastDrop > 1000) this.floodStart = now;
    this.lastDrop = now;
    if (now - this.floodStart >= this.fatalMs) return "fatal";
    if (now - this.lastTold >= 1000) {
      this.lastTold = now;
      return "drop_and_tell";
    }
    return "drop";
  }
}

/** Buckets that must all allow a take (each with its own cost); nothing is spent unless all do. */
export class RateLimiter {
  constructor(
    private readonly buckets: readonly TokenBucket[],
    private readonly flood: FloodWatch,
  ) {}

  /** `costs[i]` is charged to bucket i (1 each when absent: one frame). */
  take(now: number, costs?: readonly number[]): RateVerdict {
    const cost = (i: number) => costs?.[i] ?? 1;
    let ok = true;
    // Every bucket is refilled to `now`, even after one has said no.
    for (let i = 0; i < this.buckets.length; i++) if (!this.buckets[i].allows(now, cost(i))) ok = false;
    if (!ok) return this.flood.dropped(now);
    for (let i = 0; i < this.buckets.length; i++) this.buckets[i].spend(cost(i));
    return "ok";
  }
}

export type BudgetLimits = Pick<
  Limits,
  | "rateLimitPerSec"
  | "rateLimitBurst"
  | "rateLimitFatalMs"
  | "fanoutBytesPerSec"
  | "fanoutBurstBytes"
  | "recipientBytesPerSec"
  | "recipientBurstBytes"
>;

/**
 * A connection's limiters: `frames` for every frame it sends; `sends(buckets)`
 * for the `msg` frames its sends become, with the member's send buckets
 * (SendBudgets), charged with sendCosts. One flood watch for both: at most one
 * rate_limited a second, and a flood of either kind counts towards the fatal one.
 */
export function connectionLimiters(
  l: BudgetLimits,
  now: number,
): { frames: RateLimiter; sends(buckets: readonly TokenBucket[]): RateLimiter } {
  const flood = new FloodWatch(l.rateLimitFatalMs);
  return {
    frames: new RateLimiter([new TokenBucket(l.rateLimitPerSec, l.rateLimitBurst, now)], flood),
    sends: (buckets) => new RateLimiter(buckets, flood),
  };
}

/**
 * Send buckets per member id (fan-out, then per recipient), kept across the
 * member's connections: reconnecting must not buy a fresh burst, or a flooder
 * that reconnects after each burst would get a burst per second. The least
 * recently joined are forgotten past `maxMembers`.
 */
export class SendBudgets {
  private byId = new Map<string, readonly TokenBucket[]>();

  constructor(
    private readonly l: BudgetLimits,
    private readonly maxMembers: number,
  ) {}

  of(id: string, now: number): readonly TokenBucket[] {
    const known = this.byId.get(id);
    if (known) this.byId.delete(id); // re-inserted last: most recent
    const buckets = known ?? [
      new TokenBucket(this.l.fanoutBytesPerSec, this.l.fanoutBurstBytes, now),
      new TokenBucket(this.l.recipientBytesPerSec, this.l.recipientBurstBytes, now),
    ];
    this.byId.set(id, buckets);
    if (this.byId.size > this.maxMembers) this.byId.delete(this.byId.keys().next().value as string);
    return buckets;
  }

  get size(): number {
    return this.byId.size;
  }
}

/** What a `msg` frame of `bytes` to `recipients` costs the `sends` limiter: the fan-out, and what each recipient gets. */
export function sendCosts(bytes: number, recipients: number): [number, number] {
  return [bytes * recipients, bytes];
}
