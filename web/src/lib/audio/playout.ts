// Where on the AudioContext's timeline a packet must start so that it is
// heard at the stream clock's moment for its pts: core time anchor + pts +
// playout delay, mapped to local time by the clock sync, then to context
// time by the output timestamp (which already includes the output latency).
// Pure: no Web Audio here, so it is unit-tested in node.

/** The stream clock, as frames use it: the core ms at which pts 0 would be presented, before the playout delay. */
export interface StreamClock {
  anchorCoreMs: number;
  /** Fixed delay every viewer adds, so network jitter is absorbed rather than shown as skew. */
  playoutDelayMs: number;
}

/** The part of ClockSync the scheduler needs. */
export interface CoreClock {
  toLocalTime(coreMs: number): number;
}

/** AudioContext.getOutputTimestamp(): the context time (s) heard at performanceTime (ms, performance.now's clock). */
export interface OutputStamp {
  contextTime: number;
  performanceTime: number;
}

/** What the context reports when getOutputTimestamp is not usable yet. */
export interface ContextNow {
  currentTime: number;
  perfNow: number;
  /** outputLatency + baseLatency, seconds. */
  latencyS: number;
}

/** Local (performance.now) ms at which pts must be heard. */
export function presentLocalMs(ptsMs: number, clock: StreamClock, core: CoreClock): number {
  return core.toLocalTime(clock.anchorCoreMs + ptsMs + clock.playoutDelayMs);
}

/**
 * Context time (s) to start a sample so it is heard at localMs. With a valid
 * output stamp the mapping is exact up to the device's report; otherwise
 * current time plus latency is the estimate.
 */
export function contextTimeFor(localMs: number, stamp: OutputStamp | null, now: ContextNow): number {
  if (stamp && stamp.performanceTime > 0 && stamp.contextTime > 0)
    return stamp.contextTime + (localMs - stamp.performanceTime) / 1000;
  return now.currentTime + (localMs - now.perfNow) / 1000 - now.latencyS;
}

/** The inverse: local ms at which context time t is heard (for the A/V offset stat and the lip-sync tap). */
export function heardLocalMs(contextTime: number, stamp: OutputStamp | null, now: ContextNow): number {
  if (stamp && stamp.performanceTime > 0 && stamp.contextTime > 0)
    return stamp.performanceTime + (contextTime - stamp.contextTime) * 1000;
  return now.perfNow + (contextTime - now.currentTime + now.latencyS) * 1000;
}

export type PlayoutDecision =
  /** Start at context time `when`, skipping `offsetS` of the buffer's start. */
  | { action: "play"; when: number; offsetS: number }
  /** Too late to be heard at all (or too early to hold): dropped. */
  | { action: "drop"; reason: "late" | "early"; byMs: number };

export interface PlayoutOptions {
  /** Schedule no closer than this to currentTime (the render quantum plus margin). Default 10 ms. */
  minLeadMs?: number;
  /** Snap to the previous packet's end within this, so back-to-back packets do not click. Default 3 ms. */
  snapMs?: number;
  /** Hold at most this far ahead; further is a stale anchor. Default 5 s. */
  maxAheadMs?: number;
}

/** Per-stream scheduling state: the end of what is already scheduled, for gapless joins. */
export class PlayoutScheduler {
  private nextEnd = -Infinity;
  private readonly minLead: number;
  private readonly snap: number;
  private readonly maxAhead: number;

  constructor(opts: PlayoutOptions = {}) {
    this.minLead = (opts.minLeadMs ?? 10) / 1000;
    this.snap = (opts.snapMs ?? 3) / 1000;
    this.maxAhead = (opts.maxAheadMs ?? 5000) / 1000;
  }

  /** Forget continuity (pause, seek, track change, new anchor). */
  reset(): void {
    this.nextEnd = -Infinity;
  }

  /** Decides for one decoded buffer whose ideal start is `target` (context s) and that lasts durationS. */
  place(target: number, durationS: number, currentTime: number): PlayoutDecision {
    let when = target;
    if (Math.abs(when - this.nextEnd) <= this.snap) when = this.nextEnd;
    const earliest = currentTime + this.minLead;
    if (when - currentTime > this.maxAhead)
      return { action: "drop", reason: "early", byMs: (when - currentTime) * 1000 };
    let offsetS = 0;
    if (when < earliest) {
      offsetS = earliest - when;
      if (offsetS >= durationS) return { action: "drop", reason: "late", byMs: offsetS * 1000 };
      when = earliest;
    }
    this.nextEnd = when + (durationS - offsetS);
    return { action: "play", when, offsetS };
  }

  /** Seconds of audio scheduled ahead of currentTime (the stats overlay's audio buffer). */
  bufferedS(currentTime: number): number {
    return Math.max(0, this.nextEnd - currentTime);
  }
}
