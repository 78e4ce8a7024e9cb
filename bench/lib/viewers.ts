// Counting video frames at the viewer: parse each VIDEO chunk header, join
// parts in order, and record when a frame's last part arrived. A frame is on
// time when it completes within ON_TIME_MS of its schedule; the schedule is
// the stream's ptsMs anchored at the earliest (arrival - ptsMs) over every
// viewer of the run, so a viewer that is consistently behind the fastest one
// counts as late, not just one that jitters.

import type { Member } from "./member";
import { parseBody } from "./member";
import { percentile, sortNum } from "./stats";

export const ON_TIME_MS = 100;

export class FrameLog {
  /** arrival time (performance.now) per frame index; 0 = never complete */
  arrivals = new Float64Array(0);
  pts = new Float64Array(0);
  bytes = 0;
  private cur = -1;
  private nextPart = 0;

  /** Set from this viewer's own `stream` message. */
  sid = -1;

  constructor(frames: number) {
    this.arrivals = new Float64Array(frames);
    this.pts = new Float64Array(frames);
  }

  /** `head`: the chunk's first bytes (at least its 16-byte header when `length` >= 16); `length`: the whole body's. */
  chunk(head: Buffer, length: number): void {
    const now = performance.now();
    const b = head;
    this.bytes += length;
    if (length < 16 || b.length < 16) return;
    const sid = b.readUInt32BE(0);
    if (sid !== this.sid) return;
    const frame = b.readUInt32BE(4);
    const part = b.readUInt16BE(12);
    const parts = b.readUInt16BE(14);
    if (part === 0) {
      this.cur = frame;
      this.nextPart = 0;
    }
    if (frame !== this.cur || part !== this.nextPart) return;
    this.nextPart++;
    if (this.nextPart === parts && frame < this.arrivals.length) {
      this.arrivals[frame] = now;
      this.pts[frame] = b.readUInt32BE(8);
    }
  }
}

export interface FanoutVerdict {
  viewers: number;
  frames: number;
  /** on-time fraction per viewer: min, median, and the share of viewers at >= 99% */
  minOnTime: number;
  medianOnTime: number;
  viewersAt99: number;
  /** lateness over all delivered frames, ms */
  latenessP50: number;
  latenessP99: number;
  passed: boolean;
  /** Per viewer, in the order given: on-time and received fractions. */
  perViewer?: { onTime: number; received: number }[];
}

export function judge(logs: readonly FrameLog[], frames: number): FanoutVerdict {
  let anchor = Infinity;
  for (const l of logs)
    for (let i = 0; i < frames; i++) if (l.arrivals[i]) anchor = Math.min(anchor, l.arrivals[i] - l.pts[i]);
  const fractions: number[] = [];
  const lateness: number[] = [];
  const perViewer: { onTime: number; received: number }[] = [];
  for (const l of logs) {
    let ok = 0;
    let got = 0;
    for (let i = 0; i < frames; i++) {
      if (!l.arrivals[i]) continue;
      got++;
      const late = l.arrivals[i] - l.pts[i] - anchor;
      lateness.push(late);
      if (late <= ON_TIME_MS) ok++;
    }
    fractions.push(ok / frames);
    perViewer.push({ onTime: ok / frames, received: got / frames });
  }
  const f = sortNum(fractions);
  const lt = sortNum(lateness);
  const at99 = f.filter((x) => x >= 0.99).length;
  return {
    viewers: logs.length,
    frames,
    minOnTime: f[0] ?? 0,
    medianOnTime: percentile(f, 50),
    viewersAt99: at99,
    latenessP50: percentile(lt, 50),
    latenessP99: percentile(lt, 99),
    passed: logs.length > 0 && at99 === logs.length,
    perViewer,
  };
}

/**
 * Where a level fails: for each index in [from, count) that some viewer got
 * later than ON_TIME_MS after `due` or never, "index:late/missing(worst ms)".
 */
export function lateByIndex<L extends { arrivals: Float64Array }>(
  logs: readonly L[],
  count: number,
  from: number,
  due: (l: L, i: number) => number,
): string {
  const out: string[] = [];
  for (let i = from; i < count; i++) {
    let late = 0;
    let missing = 0;
    let worst = 0;
    for (const l of logs) {
      if (!l.arrivals[i]) {
        missing++;
        continue;
      }
      const d = l.arrivals[i]! - due(l, i);
      worst = Math.max(worst, d);
      if (d > ON_TIME_MS) late++;
    }
    if (late > 0 || missing > 0) out.push(`${i}:${late}/${missing}(${worst.toFixed(0)})`);
  }
  return out.join(" ") || "none";
}

/** Wires a FrameLog to each member; returns the logs and a setter for the sid once `stream` arrives. */
export function attachLogs(
  members: readonly Member[],
  frames: number,
): { logs: FrameLog[]; streamEnded: Promise<string> } {
  let endResolve!: (reason: string) => void;
  const streamEnded = new Promise<string>((r) => (endResolve = r));
  const logs = members.map((m, i) => {
    const log = new FrameLog(frames);
    m.onVideo = (b, n) => log.chunk(b, n);
    m.onControl = (t, body) => {
      if (t === "stream") log.sid = parseBody<{ sid: number }>(body).sid;
      else if (t === "streamEnd" && i === 0) endResolve(parseBody<{ reason: string }>(body).reason);
    };
    return log;
  });
  return { logs, streamEnded };
}
