// What cap "library2" adds to the web app: poster images (Blob URLs, one per
// poster key, shown in an <img>, never HTML), the subtitle tracks' cues, each
// viewer's subtitle choice (remembered by language and source, so the same
// choice applies to the next film), and the library panel refreshing itself
// when the core says the catalogue changed.

import { CueTimeline } from "../../../../protocol/cueTimeline";
import type { CueWire, SubtitleTrackInfo, VideoItem } from "../../../../protocol/messages";
import type { ClientSession } from "../../../../protocol/session";
import { pick, subtitlePrefs } from "../subtitlePrefs";

export type LibrarySession = Pick<ClientSession, "on" | "requestPoster" | "requestSubtitles">;

/** Poster Blob URLs kept (a library panel of a few hundred videos). */
const MAX_POSTERS = 500;

export interface LoadedTrack {
  video: string;
  track: string;
  timeline: CueTimeline<CueWire>;
}

export class LibraryStore {
  /** Blob URL per video id, for the poster key the catalogue listed. */
  posters = $state<Record<string, string>>({});
  /** The chosen track per video id ("" when off), as shown in the player's menu. */
  chosen = $state<Record<string, string>>({});
  /** Cues of the chosen track per video, once they are in. */
  loaded = $state<Record<string, LoadedTrack>>({});
  /** Per video: why the chosen track could not be shown. */
  problems = $state<Record<string, string>>({});

  // Bookkeeping of requests in flight, never read by a template: plain collections.
  private posterKeys = new Map<string, string>();
  private asked = new Set<string>();
  private waiting = new Map<string, string>();

  constructor(
    private readonly session: LibrarySession,
    private readonly online: () => boolean,
    private readonly refresh: () => void,
  ) {
    session.on("videosChanged", () => this.refresh());
    session.on("videos", (items) => this.onVideos(items));
    session.on("poster", (p) => {
      if (this.posterKeys.get(p.video) !== p.key) return;
      const old = this.posters[p.video];
      if (old) URL.revokeObjectURL(old);
      this.posters[p.video] = URL.createObjectURL(new Blob([p.jpeg as Uint8Array<ArrayBuffer>], { type: p.mime }));
    });
    session.on("subtitles", (t) => {
      if (this.waiting.get(t.video) !== t.track) return;
      this.waiting.delete(t.video);
      this.loaded[t.video] = { video: t.video, track: t.track, timeline: new CueTimeline(t.cues) };
      delete this.problems[t.video];
    });
    session.on("error", (e) => {
      if (e.ref === "subtitles") {
        for (const [video] of this.waiting) this.problems[video] = e.message;
        this.waiting.clear();
      }
    });
    session.on("welcome", ({ reconnected }) => {
      // Cues in flight on the old connection are lost: ask again.
      if (!reconnected) return;
      for (const [video, track] of this.waiting) this.ask(video, track);
    });
  }

  /** Turns a video's subtitles to `track` (null: off) and remembers the choice by language and source. */
  choose(video: VideoItem, track: SubtitleTrackInfo | null): void {
    subtitlePrefs.set(track ? { lang: track.lang, source: track.source } : null);
    this.apply(video.id, track?.id ?? null);
  }

  /** The track a stream of `video` starts with: the remembered choice, if this video has one like it. */
  ensureFor(video: VideoItem | undefined): void {
    if (!video || video.id in this.chosen) return;
    const t = pick(video.subtitles ?? [], subtitlePrefs.get());
    this.apply(video.id, t?.id ?? null);
  }

  private apply(video: string, track: string | null): void {
    this.chosen[video] = track ?? "";
    delete this.problems[video];
    if (track === null) {
      delete this.loaded[video];
      this.waiting.delete(video);
      return;
    }
    if (this.loaded[video]?.track === track) return;
    delete this.loaded[video];
    this.ask(video, track);
  }

  private ask(video: string, track: string): void {
    this.waiting.set(video, track);
    if (!this.online()) return;
    try {
      this.session.requestSubtitles(video, track);
    } catch (err) {
      this.problems[video] = (err as Error).message;
    }
  }

  private onVideos(items: VideoItem[]): void {
    for (const v of items) {
      const key = v.poster ?? null;
      if (key === null) continue;
      if (this.posterKeys.get(v.id) === key && (this.posters[v.id] || this.asked.has(`${v.id}\n${key}`))) continue;
      this.posterKeys.set(v.id, key);
      if (this.asked.size >= MAX_POSTERS) this.asked.clear();
      this.asked.add(`${v.id}\n${key}`);
      try {
        this.session.requestPoster(v.id);
      } catch {
        /* offline: the next listing asks again */
      }
    }
    // A video whose file changed may have other tracks now: choose again next time it plays.
    for (const v of items) {
      const chosen = this.chosen[v.id];
      if (chosen && !(v.subtitles ?? []).some((t) => t.id === chosen)) this.apply(v.id, null);
    }
  }
}
