// Which cues are on screen at a stream position, and when that next changes.
// Pure and allocation-free per query beyond the answer, so a client can ask on
// every frame or schedule one timer per change from the stream clock.
//
// Browser-safe: both clients time cues with it against the frame on screen.

/** What the timeline needs of a cue (server/library's Cue and the wire's CueWire both are). */
export interface TimedCue {
  startMs: number;
  endMs: number;
  text: string;
}

export class CueTimeline<Cue extends TimedCue = TimedCue> {
  /** Sorted by start, then end. */
  readonly cues: readonly Cue[];
  /** maxEnd[mid] over the implicit balanced tree on [lo, hi): the latest end in that range. */
  private readonly maxEnd: Float64Array;
  /** Every start and end, sorted and unique: the instants where the answer can change. */
  private readonly bounds: Float64Array;

  constructor(cues: readonly Cue[]) {
    this.cues = [...cues].sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs);
    this.maxEnd = new Float64Array(this.cues.length);
    this.build(0, this.cues.length);
    const all = new Float64Array(this.cues.length * 2);
    this.cues.forEach((c, k) => {
      all[2 * k] = c.startMs;
      all[2 * k + 1] = c.endMs;
    });
    all.sort();
    let n = 0;
    for (let k = 0; k < all.length; k++) if (n === 0 || all[k] !== all[n - 1]) all[n++] = all[k];
    this.bounds = all.slice(0, n);
  }

  private build(lo: number, hi: number): number {
    if (lo >= hi) return -Infinity;
    const mid = (lo + hi) >> 1;
    const m = Math.max(this.cues[mid].endMs, this.build(lo, mid), this.build(mid + 1, hi));
    this.maxEnd[mid] = m;
    return m;
  }

  /** Cues active at `ms` (start <= ms < end), in start order. O(log n) plus the answer. */
  cuesAt(ms: number): Cue[] {
    const out: Cue[] = [];
    this.collect(0, this.cues.length, ms, out);
    return out;
  }

  private collect(lo: number, hi: number, ms: number, out: Cue[]): void {
    if (lo >= hi) return;
    const mid = (lo + hi) >> 1;
    // Nothing in this subtree is still on at ms.
    if (this.maxEnd[mid] <= ms) return;
    this.collect(lo, mid, ms, out);
    const c = this.cues[mid];
    // This cue and everything after it start later.
    if (c.startMs > ms) return;
    if (c.endMs > ms) out.push(c);
    this.collect(mid + 1, hi, ms, out);
  }

  /** The text to show at `ms`: active cues joined by newlines, "" when none. */
  textAt(ms: number): string {
    return this.cuesAt(ms)
      .map((c) => c.text)
      .join("\n");
  }

  /** The first instant after `ms` at which cuesAt() may answer differently, or null after the last cue. */
  nextChange(ms: number): number | null {
    let lo = 0;
    let hi = this.bounds.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (this.bounds[mid] <= ms) lo = mid + 1;
      else hi = mid;
    }
    return lo < this.bounds.length ? this.bounds[lo] : null;
  }
}
