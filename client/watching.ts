// The streams this terminal is watching and which one is current (the one
// /pause, /seek and the status line are about), with the position and frame
// rate the status shows. Pure: fed from session events, time from `now`.

import { formatClock } from "../protocol/format";
import type { StreamInfo } from "../protocol/messages";
import { safe } from "./terminalText";

export interface Watched {
  info: StreamInfo;
  /** Position of the last frame or state change. */
  lastPtsMs: number;
  /** Arrival times of the frames of the last second. */
  frameTimes: number[];
  dropped: number;
  sent: number;
  /** The audio track the core sends this viewer (null: none), and why none. */
  audioTrack?: number | null;
  noSound?: string | null;
}

/** Frames are counted over this window for the fps figure. */
const FPS_WINDOW_MS = 1_000;

export class WatchedStreams {
  // Insertion-ordered: when the current stream ends, the one started last before it takes over.
  private readonly watched = new Map<number, Watched>();
  private currentSid: number | null = null;

  constructor(private readonly now: () => number = Date.now) {}

  /** The stream commands act on; null when none. */
  get current(): number | null {
    return this.currentSid;
  }

  get(sid: number): Watched | undefined {
    return this.watched.get(sid);
  }

  /** A stream started (or was announced again): it becomes current. */
  start(info: StreamInfo): void {
    this.watched.set(info.sid, { info, lastPtsMs: info.posMs, frameTimes: [], dropped: 0, sent: 0 });
    this.currentSid = info.sid;
  }

  /** Paused, resumed or moved; undefined for a stream not watched. */
  changed(sid: number, state: StreamInfo["state"], posMs: number): Watched | undefined {
    const w = this.watched.get(sid);
    if (w) {
      w.info = { ...w.info, state, posMs };
      w.lastPtsMs = posMs;
    }
    return w;
  }

  /** Forgets the stream; returns what it was, if watched. */
  end(sid: number): Watched | undefined {
    const w = this.watched.get(sid);
    this.watched.delete(sid);
    if (this.currentSid === sid) this.currentSid = [...this.watched.keys()].pop() ?? null;
    return w;
  }

  /** The core's counts for this viewer; undefined for a stream not watched. */
  stats(sid: number, sent: number, dropped: number): Watched | undefined {
    const w = this.watched.get(sid);
    if (w) {
      w.sent = sent;
      w.dropped = dropped;
    }
    return w;
  }

  audio(sid: number, track: number | null, reason: string | null): void {
    const w = this.watched.get(sid);
    if (!w) return;
    w.audioTrack = track;
    w.noSound = reason;
  }

  frame(sid: number, ptsMs: number): void {
    const w = this.watched.get(sid);
    if (!w) return;
    w.lastPtsMs = ptsMs;
    const now = this.now();
    w.frameTimes.push(now);
    while (w.frameTimes.length && now - w.frameTimes[0] > FPS_WINDOW_MS) w.frameTimes.shift();
  }

  /** Frames received in the last second. */
  fps(w: Watched): number {
    const now = this.now();
    return w.frameTimes.filter((t) => now - t <= FPS_WINDOW_MS).length;
  }

  /**
   * The status line for the current stream; null when there is none. With
   * `sound`, the audio track too (the chat prompt has room for it; the
   * picture's one line under a small terminal does not).
   */
  status(opts: { sound?: boolean } = { sound: true }): string | null {
    const w = this.currentSid === null ? undefined : this.watched.get(this.currentSid);
    if (!w) return null;
    const icon = w.info.state === "playing" ? "playing" : "paused";
    const sound =
      !opts.sound || w.audioTrack === undefined
        ? ""
        : w.audioTrack === null
          ? ", no sound"
          : `, audio track ${w.audioTrack + 1} (not played)`;
    return `${icon} ${safe(w.info.video)} ${formatClock(w.lastPtsMs)}/${formatClock(w.info.durationMs)} ${this.fps(w)} fps, ${w.dropped} dropped${sound}`;
  }
}
