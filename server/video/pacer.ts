// One real-time clock per stream. Every frame's send time is computed from a
// single anchor (wall time, video time), never by chaining delays, so timer
// lateness does not accumulate. Pure logic: the clock and timers are
// injectable, and frames come from any FrameSource (normally a DecodedVideo).
// About 340 lines with playAt (a cluster party's shared anchor) and the first-frame hold: one clock, one job.

import type { VideoFrame } from "./types";

export interface FrameSource {
  /** Known once the source will produce no more frames. */
  readonly frameCount: number | undefined;
  readonly error: Error | null;
  ptsOf(index: number): number;
  indexAt(ms: number): number;
  /** Synchronous fast path for frames already in memory. */
  get(index: number): VideoFrame | undefined;
  /** Resolves null when the frame will never exist. Must not reject. */
  waitFor(index: number): Promise<VideoFrame | null>;
}

export interface Clock {
  now(): number;
  setTimer(fn: () => void, ms: number): unknown;
  clearTimer(handle: unknown): void;
}

export const realClock: Clock = {
  now: () => performance.now(),
  setTimer: (fn, ms) => setTimeout(fn, ms),
  clearTimer: (h) => clearTimeout(h as ReturnType<typeof setTimeout>),
};

export type PacerState = "idle" | "playing" | "paused" | "ended" | "stopped";
export type EndReason = "finished" | "error";

export interface PacerOptions {
  source: FrameSource;
  /** Called from a timer; it must not throw (an exception would be uncaught). */
  onFrame(frame: VideoFrame): void;
  /** Once, after the last frame's display time has passed, or when the source failed. */
  onEnd(reason: EndReason): void;
  /** Video length; positions are clamped to it. Defaults to the source's frame count. */
  durationMs?: number;
  clock?: Clock;
  /**
   * Pinned to a shared anchor (playAt): a frame that comes from the transcode
   * later than this after its due time is passed over instead of sent (the
   * anchor never moves). Default: one frame interval.
   */
  pinnedLateMs?: number;
  /**
   * Asked before the first frame after a start, seek or resume (never when
   * pinned): a promise to wait for first (the stream's sound is not decoded
   * at posMs yet; the caller bounds the wait), or null to go on. The clock
   * stands still meanwhile, as when waiting for the transcode.
   */
  holdStart?(posMs: number): Promise<void> | null;
}

export interface PacerStats {
  emitted: number;
  /** Frames passed over because the process fell behind (event loop stall). */
  skipped: number;
  /** Times playback waited for the transcode (more than a frame) and re-anchored. */
  stalls: number;
}

export class Pacer {
  private readonly source: FrameSource;
  private readonly clock: Clock;
  private readonly opts: PacerOptions;
  private st: PacerState = "idle";
  /** Frame i is due at anchorWall + (pts_i - anchorPts). */
  private anchorWall = 0;
  private anchorPts = 0;
  /** Position while paused or idle. */
  private heldPos = 0;
  private next = 0;
  /** Set while waiting for the transcode to produce frame `next`: the clock stands still meanwhile. */
  private waitingFor: number | null = null;
  private timer: unknown = null;
  private prefetched: { index: number; frame: Promise<VideoFrame | null> } | null = null;
  /** Bumped by every control call, so an async wait from before it is ignored. */
  private generation = 0;
  /**
   * Set by playAt: the anchor is shared with other cores (server/cluster/sharedStream.ts),
   * so waiting for the transcode never re-anchors, the position runs on meanwhile,
   * and frames too late to be shown in time are passed over.
   */
  private pinned = false;
  /** The anchor was just set by start, seek or resume: its first frame is not sent yet. */
  private fresh = false;
  readonly stats: PacerStats = { emitted: 0, skipped: 0, stalls: 0 };

  constructor(opts: PacerOptions) {
    this.opts = opts;
    this.source = opts.source;
    this.clock = opts.clock ?? realClock;
  }

  get state(): PacerState {
    return this.st;
  }

  /** Current position in the video, ms; correct while paused and while waiting for frames. */
  get positionMs(): number {
    if (this.st !== "playing") return this.heldPos;
    // Pinned: the shared anchor says where the party is (held at it until its wall time comes).
    if (this.pinned) return this.clamp(this.anchorPts + Math.max(0, this.clock.now() - this.anchorWall));
    // Not started yet (the first frame of a start, seek or resume is still to come): at the position asked for.
    if (this.fresh) return this.clamp(this.anchorPts);
    const running = this.anchorPts + (this.clock.now() - this.anchorWall);
    if (this.waitingFor === null) return this.clamp(running);
    // The clock stands still at the frame being waited for.
    const held = Math.min(running, this.source.ptsOf(this.waitingFor));
    return this.clamp(Math.max(this.anchorPts, held));
  }

  /**
   * The clock time at which pts 0 is due (frame i at anchor + pts_i), while
   * playing and not waiting for the transcode; null otherwise. Viewers with
   * the "clock" cap present at this + pts + the playout delay.
   */
  get anchorMs(): number | null {
    if (this.st !== "playing") return null;
    return this.pinned || this.waitingFor === null ? this.anchorWall - this.anchorPts : null;
  }

  /** True while the pacer follows an absolute anchor (playAt) rather than its own start. */
  get isPinned(): boolean {
    return this.pinned;
  }

  /**
   * Plays so that the frame of pts P is due at clock time `at + (P - posMs)`,
   * from idle, paused or playing: the anchor of a party shared by several cores
   * (each core's pacer maps pts to the same wall time). `at` may lie ahead (the
   * party starts then: the decoder has that long to get going) or behind (a
   * late start: the frames already due are passed over, never sent in a burst).
   */
  playAt(posMs: number, at: number): void {
    if (this.st === "ended" || this.st === "stopped") return;
    this.cancel();
    this.st = "playing";
    this.pinned = true;
    this.anchorPts = this.clamp(Number.isFinite(posMs) ? posMs : 0);
    this.anchorWall = Number.isFinite(at) ? at : this.clock.now();
    this.heldPos = this.anchorPts;
    this.next = this.source.indexAt(this.positionMs);
    this.schedule();
  }

  start(fromMs = 0, paused = false): void {
    if (this.st !== "idle") throw new Error(`pacer already started (${this.st})`);
    this.st = paused ? "paused" : "playing";
    this.moveTo(fromMs);
  }

  pause(): void {
    if (this.st !== "playing") return;
    this.heldPos = this.positionMs;
    this.st = "paused";
    this.cancel();
  }

  resume(): void {
    if (this.st !== "paused") return;
    this.st = "playing";
    this.cancel();
    this.pinned = false;
    // Continue from the held position; `next` is still the first frame not yet shown.
    this.anchorWall = this.clock.now();
    this.anchorPts = this.heldPos;
    this.fresh = true;
    this.schedule();
  }

  /** Jumps to toMs, keeping playing or paused. Frames follow only via the timer, never inside this call. */
  seek(toMs: number): void {
    if (this.st !== "playing" && this.st !== "paused") return;
    this.moveTo(toMs);
  }

  stop(): void {
    if (this.st === "stopped" || this.st === "ended") return;
    this.heldPos = this.positionMs;
    this.st = "stopped";
    this.cancel();
  }

  private moveTo(ms: number): void {
    this.cancel();
    this.pinned = false;
    const pos = this.clamp(Number.isFinite(ms) ? ms : 0);
    this.heldPos = pos;
    this.next = this.source.indexAt(pos);
    this.anchorWall = this.clock.now();
    this.anchorPts = pos;
    this.fresh = true;
    if (this.st === "playing") this.schedule();
  }

  private clamp(ms: number): number {
    const duration = this.duration();
    return Math.max(0, duration === undefined ? ms : Math.min(ms, duration));
  }

  private duration(): number | undefined {
    if (this.opts.durationMs !== undefined) return this.opts.durationMs;
    const count = this.source.frameCount;
    return count === undefined ? undefined : this.source.ptsOf(count);
  }

  private cancel(): void {
    this.generation++;
    this.fresh = false;
    this.waitingFor = null;
    this.prefetched = null;
    if (this.timer !== null) {
      this.clock.clearTimer(this.timer);
      this.timer = null;
    }
  }

  private dueAt(index: number): number {
    return this.anchorWall + (this.source.ptsOf(index) - this.anchorPts);
  }

  private schedule(): void {
    // Start reading a frame that is not in memory now, so a spilled frame's disk
    // read overlaps the wait instead of delaying the frame.
    if (this.source.get(this.next) === undefined && this.prefetched?.index !== this.next) {
      this.prefetched = { index: this.next, frame: this.source.waitFor(this.next) };
    }
    const delay = Math.max(0, this.dueAt(this.next) - this.clock.now());
    this.timer = this.clock.setTimer(() => {
      this.timer = null;
      this.tick();
    }, delay);
  }

  private tick(): void {
    if (this.st !== "playing") return;
    if (this.fresh) return this.firstTick();
    const count = this.source.frameCount;
    let index = this.next;
    // Behind by more than a frame (the event loop stalled): show the frame due
    // now, not a burst of stale ones.
    const due = this.source.indexAt(this.anchorPts + (this.clock.now() - this.anchorWall));
    if (due > index) {
      this.stats.skipped += due - index;
      index = due;
    }
    if (count !== undefined && index >= count) {
      this.finish();
      return;
    }
    const frame = this.source.get(index);
    if (frame) this.emit(frame);
    else this.awaitFrame(index);
  }

  /**
   * The first frame of a fresh anchor is never passed over: a start that took
   * long (announcing a stream to many viewers) or a wait for its sound moves
   * the anchor to now instead, so the stream begins at the frame asked for.
   */
  private firstTick(): void {
    this.fresh = false;
    const hold = this.pinned ? null : (this.opts.holdStart?.(this.anchorPts) ?? null);
    if (!hold) {
      this.startNow();
      return this.tick();
    }
    const gen = this.generation;
    this.waitingFor = this.next;
    void hold.then(() => {
      if (gen !== this.generation || this.st !== "playing") return;
      this.waitingFor = null;
      // The clock stood still while held: it starts now.
      this.anchorWall = this.clock.now();
      this.tick();
    });
  }

  /** Late for the first frame: it is due now (anchorPts stays the position asked for). */
  private startNow(): void {
    if (this.source.indexAt(this.anchorPts + (this.clock.now() - this.anchorWall)) > this.next)
      this.anchorWall = this.clock.now();
  }

  /** The frame is not in memory: spilled (a quick disk read) or not decoded yet (hold the clock). */
  private awaitFrame(index: number): void {
    const gen = this.generation;
    this.waitingFor = index;
    const pending = this.prefetched?.index === index ? this.prefetched.frame : this.source.waitFor(index);
    this.prefetched = null;
    void pending.then((frame) => {
      if (gen !== this.generation || this.st !== "playing") return;
      this.waitingFor = null;
      if (!frame) {
        this.finish();
        return;
      }
      // Late by more than a frame means we waited for the transcode: re-anchor
      // so playback resumes from this frame instead of racing to catch up.
      // Smaller lateness (a disk read, timer jitter) keeps the anchor, so it
      // cannot accumulate into drift.
      const now = this.clock.now();
      if (this.pinned) {
        // The anchor is the party's, not ours: never move it. Too late to be shown in time: pass over it.
        if (now - this.dueAt(index) > (this.opts.pinnedLateMs ?? this.frameInterval(index))) {
          this.stats.skipped++;
          this.next = index + 1;
          this.schedule();
          return;
        }
        this.emit(frame);
        return;
      }
      if (now - this.dueAt(index) > this.frameInterval(index)) {
        this.stats.stalls++;
        this.anchorWall = now;
        this.anchorPts = this.source.ptsOf(index);
      }
      this.emit(frame);
    });
  }

  private frameInterval(index: number): number {
    return this.source.ptsOf(index + 1) - this.source.ptsOf(index);
  }

  private emit(frame: VideoFrame): void {
    this.next = frame.index + 1;
    this.stats.emitted++;
    this.opts.onFrame(frame);
    // onFrame may have paused, sought or stopped us.
    if (this.st === "playing" && this.timer === null && this.waitingFor === null) this.schedule();
  }

  private finish(): void {
    this.heldPos = this.clamp(this.source.ptsOf(this.next));
    this.st = "ended";
    this.cancel();
    this.opts.onEnd(this.source.error ? "error" : "finished");
  }
}
