// Subtitles in the terminal client (cap "library2"): which tracks the video of
// the current stream has, the one this viewer chose (kept by language and
// source, so the next film and the next run start with it), and the
// line to show for the frame being drawn. Timed by the frame's ptsMs, so
// pause, seek, late join and a replaced stream need nothing special. Pure:
// session calls and the line go through the port.

import { CueTimeline } from "../protocol/cueTimeline";
import type { CueWire, SubtitleTrackInfo, VideoItem } from "../protocol/messages";

export interface SubtitlePort {
  requestSubtitles(video: string, track: string): void;
  /** The line under the status; null clears it. */
  show(text: string | null): void;
  /** The viewer chose (or turned off) a track: remember it for later runs. */
  chose?(choice: SubtitleChoice | null): void;
}

export interface SubtitleChoice {
  lang: string;
  source: "file" | "embedded";
}

export type SubsAnswer = { ok: true; text: string } | { ok: false; message: string };

export class TerminalSubtitles {
  private tracksOf = new Map<string, SubtitleTrackInfo[]>();
  private choice: SubtitleChoice | null = null;
  /** The video of the current stream, and the track shown or being fetched for it. */
  private video: string | null = null;
  private track: string | null = null;
  private timeline: CueTimeline<CueWire> | null = null;
  private from = 0;
  private until = -1;
  private shown: string | null = null;

  constructor(
    private readonly port: SubtitlePort,
    initial: SubtitleChoice | null = null,
  ) {
    this.choice = initial;
  }

  /** Catalogue listing: the tracks of every video. */
  videos(items: readonly VideoItem[]): void {
    this.tracksOf = new Map(items.map((v) => [v.id, v.subtitles ?? []]));
    if (this.video !== null && this.track === null) this.applyChoice();
  }

  /** The current stream's video changed (null: no stream). */
  current(video: string | null): void {
    if (video === this.video) return;
    this.video = video;
    this.setTrack(null);
    if (video !== null) this.applyChoice();
  }

  tracks(): SubtitleTrackInfo[] {
    return this.video === null ? [] : (this.tracksOf.get(this.video) ?? []);
  }

  /** `/subs ARG`: "off", a number from the list, or a language code or label. */
  choose(arg: string): SubsAnswer {
    if (this.video === null) return { ok: false, message: "no stream is playing (/play ID first)" };
    const a = arg.trim().toLowerCase();
    if (a === "off" || a === "none") {
      this.choice = null;
      this.port.chose?.(null);
      this.setTrack(null);
      return { ok: true, text: "subtitles off" };
    }
    const list = this.tracks();
    if (list.length === 0) return { ok: false, message: "this video has no subtitles" };
    const n = /^\d+$/.test(a) ? Number(a) : NaN;
    const t = Number.isInteger(n)
      ? list[n - 1]
      : (list.find((x) => x.lang.toLowerCase() === a) ?? list.find((x) => x.label.toLowerCase().startsWith(a)));
    if (!t) return { ok: false, message: `no subtitle track '${arg.trim()}' (try /subs)` };
    this.choice = { lang: t.lang, source: t.source };
    this.port.chose?.(this.choice);
    this.setTrack(t.id);
    return { ok: true, text: `subtitles: ${t.label} (loading)` };
  }

  /** A whole track arrived. */
  cues(video: string, track: string, cues: CueWire[]): boolean {
    if (video !== this.video || track !== this.track) return false;
    this.timeline = new CueTimeline(cues);
    this.until = -1;
    return true;
  }

  /** The frame at `ptsMs` is on screen (or the stream moved there). */
  at(ptsMs: number): void {
    const tl = this.timeline;
    if (!tl) return;
    // Between two cue boundaries the line cannot change: nothing to do per frame.
    if (ptsMs >= this.from && ptsMs < this.until) return;
    this.from = ptsMs;
    this.until = tl.nextChange(ptsMs) ?? Infinity;
    const text = tl.textAt(ptsMs).replace(/\n+/g, " / ");
    this.display(text === "" ? null : text);
  }

  /** The connection came back: ask again for a track that was being fetched. */
  reconnected(): void {
    if (this.video !== null && this.track !== null && this.timeline === null)
      this.port.requestSubtitles(this.video, this.track);
  }

  private applyChoice(): void {
    const c = this.choice;
    if (!c) return;
    const same = this.tracks().filter((t) => t.lang === c.lang);
    const t =
      same.find((x) => x.source === c.source && !x.forced) ?? same.find((x) => x.source === c.source) ?? same[0];
    if (t) this.setTrack(t.id);
  }

  private setTrack(id: string | null): void {
    this.track = id;
    this.timeline = null;
    this.until = -1;
    this.display(null);
    if (id !== null && this.video !== null) this.port.requestSubtitles(this.video, id);
  }

  private display(text: string | null): void {
    if (text === this.shown) return;
    this.shown = text;
    this.port.show(text);
  }
}
