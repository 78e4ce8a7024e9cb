// The videos: the library, the streams this tab is watching (with who last
// paused, resumed or moved them), their delivery stats, and the streams that
// just ended. Frames bypass reactivity (30 a second would re-render for
// nothing): players subscribe to them by sid.

import { streamEndWords } from "../../../../protocol/describe";
import type { StreamInfo, VideoItem } from "../../../../protocol/messages";
import type { ClientSession } from "../../../../protocol/session";
import type { ConnectionStore } from "./connection.svelte";
import type { NoticesStore } from "./notices.svelte";

export interface StreamView extends StreamInfo {
  title: string;
  /** Who made the last change (start, pause, seek…), for "paused by bob". */
  lastBy: string;
  lastAction: "started" | "paused" | "resumed" | "seeked";
  /** Bumped on every streamState, so players re-anchor their clocks. */
  epoch: number;
}

export interface StreamStatsView {
  sent: number;
  dropped: number;
}

export interface EndedStream {
  sid: number;
  title: string;
  scope: "self" | "room";
  reason: string;
}

export type FrameListener = (f: { frame: number; ptsMs: number; jpeg: Uint8Array }) => void;

/** The part of the session this store listens to and calls. */
export type WatchingSession = Pick<ClientSession, "on" | "requestVideos" | "play" | "control">;

const MAX_ENDED = 3;

export class WatchingStore {
  videos = $state<VideoItem[] | null>(null);
  videosLoading = $state(false);
  streams = $state<StreamView[]>([]);
  stats = $state<Record<number, StreamStatsView>>({});
  ended = $state<EndedStream[]>([]);

  // eslint-disable-next-line svelte/prefer-svelte-reactivity -- canvas callbacks, not state a template reads
  private frameListeners = new Map<number, Set<FrameListener>>();

  constructor(
    private readonly session: WatchingSession,
    private readonly connection: Pick<ConnectionStore, "phase">,
    private readonly notices: Pick<NoticesStore, "toast">,
  ) {
    session.on("welcome", () => {
      if (this.videos === null) this.loadVideos();
    });
    session.on("closed", () => {
      this.streams = [];
    });
    // The toast for it is the notices store's.
    session.on("error", (e) => {
      if (!e.fatal && e.ref === "videos") this.videosLoading = false;
    });
    session.on("videos", (items) => {
      this.videos = items;
      this.videosLoading = false;
    });
    session.on("stream", (info) => {
      const view: StreamView = { ...info, title: this.titleOf(info.video), lastBy: info.by, lastAction: "started", epoch: 0 };
      const i = this.streams.findIndex((x) => x.sid === info.sid);
      if (i >= 0) this.streams[i] = view;
      else this.streams.push(view);
      this.dismissEnded(info.sid);
    });
    session.on("streamState", (st) => {
      const v = this.streams.find((x) => x.sid === st.sid);
      if (!v) return;
      const action = st.state !== v.state ? (st.state === "paused" ? "paused" : "resumed") : "seeked";
      v.state = st.state;
      v.posMs = st.posMs;
      v.lastBy = st.by;
      v.lastAction = action;
      v.epoch++;
    });
    session.on("streamEnd", ({ sid, reason }) => {
      const i = this.streams.findIndex((x) => x.sid === sid);
      if (i < 0) return;
      const [v] = this.streams.splice(i, 1);
      delete this.stats[sid];
      this.frameListeners.delete(sid);
      this.ended.push({ sid, title: v.title, scope: v.scope, reason: streamEndWords(reason) });
      if (this.ended.length > MAX_ENDED) this.ended.shift();
    });
    session.on("streamStats", ({ sid, sent, dropped }) => {
      this.stats[sid] = { sent, dropped };
    });
    session.on("frame", (f) => {
      const set = this.frameListeners.get(f.sid);
      if (set) for (const l of set) l(f);
    });
  }

  loadVideos(): void {
    if (this.connection.phase !== "online") return;
    this.videosLoading = true;
    try {
      this.session.requestVideos();
    } catch (err) {
      this.videosLoading = false;
      this.notices.toast(`Could not ask for the library: ${(err as Error).message}`, "bad");
    }
  }

  play(video: string, scope: "self" | "room"): void {
    this.guard(() => this.session.play(video, scope, 0));
  }

  control(sid: number, action: "pause" | "resume" | "seek" | "stop", toMs?: number): void {
    this.guard(() => this.session.control(sid, action, toMs));
  }

  dismissEnded(sid: number): void {
    const i = this.ended.findIndex((e) => e.sid === sid);
    if (i >= 0) this.ended.splice(i, 1);
  }

  onFrames(sid: number, listener: FrameListener): () => void {
    let set = this.frameListeners.get(sid);
    // eslint-disable-next-line svelte/prefer-svelte-reactivity -- as above
    if (!set) this.frameListeners.set(sid, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.frameListeners.delete(sid);
    };
  }

  private guard(fn: () => void): void {
    try {
      fn();
    } catch (err) {
      this.notices.toast((err as Error).message, "bad");
    }
  }

  private titleOf(video: string): string {
    return this.videos?.find((v) => v.id === video)?.title ?? video;
  }
}
