// Audio tracks per video content key, probed once (ffprobe) and remembered,
// so the catalogue and every play of a file do not probe it again. Bounded:
// the oldest entries go first. A failed probe is remembered as "no sound".

import { probeAudio, type AudioProbeResult, type AudioTrack } from "./tracks";

export interface AudioSummary {
  tracks: AudioTrack[];
  /** Why there is no sound, or null when some track can play. */
  noSound: string | null;
}

const MAX_ENTRIES = 4096;

export class AudioProbeCache {
  private entries = new Map<string, Promise<AudioSummary>>();

  constructor(private readonly probe: (path: string) => Promise<AudioProbeResult> = probeAudio) {}

  get(key: string, path: string): Promise<AudioSummary> {
    let p = this.entries.get(key);
    if (!p) {
      p = this.probe(path).then(
        (r): AudioSummary =>
          r.ok
            ? { tracks: r.tracks, noSound: r.noSound }
            : { tracks: [], noSound: `audio unreadable: ${r.detail.slice(0, 200)}` },
        (err: unknown): AudioSummary => ({ tracks: [], noSound: `audio unreadable: ${String(err).slice(0, 200)}` }),
      );
      this.entries.set(key, p);
      if (this.entries.size > MAX_ENTRIES) this.entries.delete(this.entries.keys().next().value!);
    }
    return p;
  }

  /**
   * A track ffprobe listed turned out not to decode (a corrupt stream): from
   * now on the catalogue says so, and says why the video has no sound if no
   * track is left.
   */
  markBroken(key: string, track: number, reason: string): void {
    const p = this.entries.get(key);
    if (!p) return;
    this.entries.set(
      key,
      p.then((s) => {
        const tracks = s.tracks.map((t) => (t.index === track && t.problem === null ? { ...t, problem: reason } : t));
        const noSound = s.noSound ?? (tracks.every((t) => t.problem !== null) ? `no playable audio: ${reason}` : null);
        return { tracks, noSound };
      }),
    );
  }
}
