// A small jitter buffer for decoded video frames. The server already paces
// frames in real time; this smooths network and decode jitter by showing a
// frame `delayMs` after the anchor frame's arrival, shifted by its ptsMs.
// Frames that are already late when they arrive are dropped, and if lateness
// persists (the network got slower) the clock is re-anchored instead of
// dropping everything forever. No I/O and no DOM: time is passed in.

export interface PacerOptions<T> {
  /** How far behind the first frame's arrival playback runs. */
  delayMs?: number;
  /** A frame this much past its due time when it arrives is dropped. */
  lateMs?: number;
  /** Consecutive late frames after which the clock is re-anchored. */
  reanchorAfter?: number;
  /** Bound on queued frames; the oldest go first. */
  maxQueue?: number;
  /** Called for every frame that will never be shown (release resources here). */
  onDrop?: (item: T, why: "late" | "skipped" | "overflow" | "reset") => void;
}

interface Queued<T> {
  ptsMs: number;
  item: T;
}

export class FramePacer<T> {
  private readonly delayMs: number;
  private readonly lateMs: number;
  private readonly reanchorAfter: number;
  private readonly maxQueue: number;
  private readonly onDrop: (item: T, why: "late" | "skipped" | "overflow" | "reset") => void;
  private anchor: { wallMs: number; ptsMs: number } | null = null;
  private queue: Queued<T>[] = [];
  private lateRun = 0;
  private lastPts = -1;
  /**
   * The stream clock ("clock" cap): local ms at which pts is due, shared by
   * every viewer (anchor + pts + playout delay), or null when not known; then
   * the arrival-based anchor above is the fallback.
   */
  clock: ((ptsMs: number) => number | null) | null = null;

  constructor(opts: PacerOptions<T> = {}) {
    this.delayMs = opts.delayMs ?? 100;
    this.lateMs = opts.lateMs ?? 80;
    this.reanchorAfter = opts.reanchorAfter ?? 4;
    this.maxQueue = opts.maxQueue ?? 60;
    this.onDrop = opts.onDrop ?? (() => {});
  }

  get size(): number {
    return this.queue.length;
  }

  /** When the frame with this pts is due, or null before the first frame. */
  dueAt(ptsMs: number): number | null {
    const shared = this.clock?.(ptsMs);
    if (shared !== undefined && shared !== null) return shared;
    return this.anchor ? this.anchor.wallMs + (ptsMs - this.anchor.ptsMs) : null;
  }

  /** Forget timing and queued frames: after a seek, pause or resume. */
  reset(): void {
    for (const q of this.queue) this.onDrop(q.item, "reset");
    this.queue = [];
    this.anchor = null;
    this.lateRun = 0;
    this.lastPts = -1;
  }

  /** Returns false when the frame was dropped as late. */
  push(ptsMs: number, item: T, nowMs: number): boolean {
    // A jump backwards means a new position (seek, loop): start a new timeline.
    if (this.anchor && ptsMs + 1000 < this.lastPts) this.reset();
    this.lastPts = Math.max(this.lastPts, ptsMs);
    if (!this.anchor) this.anchor = { wallMs: nowMs + this.delayMs, ptsMs };
    const due = this.dueAt(ptsMs)!;
    if (due < nowMs - this.lateMs) {
      // On the shared clock a late frame is just late: re-anchoring would put this viewer out of step.
      if (this.sharedClock(ptsMs)) {
        this.onDrop(item, "late");
        return false;
      }
      this.lateRun++;
      if (this.lateRun < this.reanchorAfter) {
        this.onDrop(item, "late");
        return false;
      }
      this.anchor = { wallMs: nowMs + this.delayMs, ptsMs };
    }
    this.lateRun = 0;
    let i = this.queue.length;
    while (i > 0 && this.queue[i - 1].ptsMs > ptsMs) i--;
    this.queue.splice(i, 0, { ptsMs, item });
    while (this.queue.length > this.maxQueue) this.onDrop(this.queue.shift()!.item, "overflow");
    return true;
  }

  /** True while the shared stream clock decides when this pts is due. */
  sharedClock(ptsMs: number): boolean {
    const d = this.clock?.(ptsMs);
    return d !== undefined && d !== null;
  }

  /** The earliest queued frame, left in the queue (a poster before its due time). */
  peek(): { ptsMs: number; item: T } | null {
    return this.queue[0] ?? null;
  }

  /** The newest frame that is due by now; older due frames are skipped. */
  take(nowMs: number): { ptsMs: number; item: T } | null {
    if (!this.anchor) return null;
    let pick: Queued<T> | null = null;
    while (this.queue.length > 0 && this.dueAt(this.queue[0].ptsMs)! <= nowMs) {
      if (pick) this.onDrop(pick.item, "skipped");
      pick = this.queue.shift()!;
    }
    return pick;
  }
}
