// Puts a subtitle track back together from its subtitleCues pages (cap
// "library2"): pages arrive in order on one connection, page 0 starts a track
// over, and a track is complete once its last page is in. Bounded: at most
// MAX_PENDING tracks are being assembled at once (the oldest is dropped).
//
// Browser-safe.

import type { CueWire, SubtitleCues } from "./messages";

export interface SubtitleTrackCues {
  video: string;
  track: string;
  cues: CueWire[];
  warnings: string[];
}

const MAX_PENDING = 4;

export class SubtitlePages {
  private readonly pending = new Map<string, { next: number; pages: number; cues: CueWire[]; warnings: string[] }>();

  /** The whole track once `msg` was its last page, else null. */
  accept(msg: SubtitleCues): SubtitleTrackCues | null {
    const key = `${msg.video}\n${msg.track}`;
    if (msg.page === 0) {
      this.pending.delete(key);
      this.pending.set(key, { next: 0, pages: msg.pages, cues: [], warnings: msg.warnings ?? [] });
      while (this.pending.size > MAX_PENDING) this.pending.delete(this.pending.keys().next().value as string);
    }
    const p = this.pending.get(key);
    // A page out of order, or of a track we never saw start: ignore it; the track is asked again.
    if (!p || msg.page !== p.next || msg.pages !== p.pages) return null;
    for (const c of msg.cues) p.cues.push(c);
    p.next++;
    if (p.next < p.pages) return null;
    this.pending.delete(key);
    return { video: msg.video, track: msg.track, cues: p.cues, warnings: p.warnings };
  }
}
