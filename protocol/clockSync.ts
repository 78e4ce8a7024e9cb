// NTP-style estimate of the offset from this side's clock to the core's, from
// ping/pong round trips. The v1 pong only echoes `ts`; this needs the v2 pong
// `{"t":"pong","ts":<echo>,"now":<core ms when answering>}`. Of the recent
// samples, the N with the lowest round trip are kept (queueing only ever adds
// delay, so the fastest trips are the least skewed) and the offset is their median.

export interface ClockSample {
  /** Local ms when the ping was sent (the echoed `ts`). */
  sentLocal: number;
  /** Core ms when it answered (the v2 pong's `now`). */
  core: number;
  /** Local ms when the pong arrived. */
  recvLocal: number;
}

export interface ClockQuality {
  samples: number;
  /** Lowest round trip seen in the window, ms. */
  bestRttMs: number;
  /** Worst-case error of the estimate if the path were fully asymmetric on the best trip: bestRtt / 2. */
  boundMs: number;
  /** Spread (max - min) of the offsets of the kept samples, ms: jitter that leaked through. */
  spreadMs: number;
  /** True once enough samples are in for presentation to rely on. */
  ready: boolean;
}

export interface ClockSyncOptions {
  /** Samples kept, most recent (bounds memory and follows clock drift). Default 32. */
  window?: number;
  /** Lowest-RTT samples whose median is the offset. Default 8. */
  best?: number;
  /** Samples before `ready`. Default 5. */
  minSamples?: number;
}

/** Ping spacing: a quick burst to converge, then a slow keep-up (the idle 15 s ping of v1 is too sparse for drift). */
export function pingIntervalMs(samples: number): number {
  return samples < 8 ? 150 : 5000;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

export class ClockSync {
  private readonly window: number;
  private readonly best: number;
  private readonly minSamples: number;
  private recent: Array<{ offset: number; rtt: number }> = [];
  private offset = 0;
  private kept: Array<{ offset: number; rtt: number }> = [];

  constructor(opts: ClockSyncOptions = {}) {
    this.window = Math.max(1, opts.window ?? 32);
    this.best = Math.max(1, Math.min(opts.best ?? 8, this.window));
    this.minSamples = opts.minSamples ?? 5;
  }

  /** Adds one round trip; a sample that cannot be right (negative RTT, not finite) is ignored and false returned. */
  add(s: ClockSample): boolean {
    const rtt = s.recvLocal - s.sentLocal;
    if (![s.sentLocal, s.core, s.recvLocal].every(Number.isFinite) || rtt < 0 || rtt > 60_000) return false;
    // The core answered somewhere in [sent, recv]; the midpoint is the unbiased guess for a symmetric path.
    this.recent.push({ offset: s.core - (s.sentLocal + s.recvLocal) / 2, rtt });
    if (this.recent.length > this.window) this.recent.shift();
    this.kept = [...this.recent].sort((a, b) => a.rtt - b.rtt).slice(0, this.best);
    this.offset = median(this.kept.map((k) => k.offset));
    return true;
  }

  /** core = local + offsetMs. */
  get offsetMs(): number {
    return this.offset;
  }

  toCoreTime(localMs: number): number {
    return localMs + this.offset;
  }

  toLocalTime(coreMs: number): number {
    return coreMs - this.offset;
  }

  get quality(): ClockQuality {
    const n = this.recent.length;
    if (n === 0) return { samples: 0, bestRttMs: Infinity, boundMs: Infinity, spreadMs: Infinity, ready: false };
    const offs = this.kept.map((k) => k.offset);
    const bestRtt = this.kept[0]!.rtt;
    return {
      samples: n,
      bestRttMs: bestRtt,
      boundMs: bestRtt / 2,
      spreadMs: Math.max(...offs) - Math.min(...offs),
      ready: n >= this.minSamples,
    };
  }
}
