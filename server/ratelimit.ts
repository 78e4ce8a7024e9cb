// Token bucket for incoming control frames (PROTOCOL.md section 8): a steady
// rate with bursts. Also tracks how long a client has been flooding, so that
// one who keeps at it for `fatalMs` can be told so and closed.

export type RateVerdict = "ok" | "drop" | "drop_and_tell" | "fatal";

export class RateLimiter {
  private tokens: number;
  private last: number;
  private floodStart = -1;
  private lastDrop = -Infinity;
  private lastTold = -Infinity;

  constructor(
    private readonly ratePerSec: number,
    private readonly burst: number,
    private readonly fatalMs: number,
    now: number,
  ) {
    this.tokens = burst;
    this.last = now;
  }

  take(now: number): RateVerdict {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.last) * this.ratePerSec) / 1000);
    this.last = now;
    if (this.tokens >= 1) {
      this.tokens -= 1;
      return "ok";
    }
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
