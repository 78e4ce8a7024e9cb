// The videos: the library, the streams this tab is watching (with who last
// paused, resumed or moved them), their delivery stats, and the streams that
// just ended. Frames bypass reactivity (30 a second would re-render for
// nothing): players subscribe to them by sid.

import { streamEndWords } from "../../../../protocol/describe";
import type { StreamInfo, VideoItem } from "../../../../protocol/messages";
import type { ReceivedFrame } from "../../../../protocol/videoChunk";
import type { ClientSession, SessionEvents } from "../../../../protocol/session";
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

export type FrameListener = (f: ReceivedFrame) => void;
export type AudioListener = (
  e: { kind: "info"; info: SessionEvents["audioInfo"] } | { kind: "packet"; packet: SessionEvents["audio"] },
) => void;

/** The stream clock as the core last announced it ("clock" cap); mutated in place, read per frame. */
export interface StreamClockView {
  anchorCore: number | null;
  delayMs: number;
}

/** The part of the session this store listens to and calls. */
export type WatchingSession = Pick<ClientSession, "on" | "requestVideos" | "play" | "control"> &
  Partial<Pick<ClientSession, "audioTrack" | "clock">>;

const MAX_ENDED = 3;

export class WatchingStore {
  videos = $state<VideoItem[] | null>(null);
  videosLoading = $state(false);
  streams = $state<StreamView[]>([]);
  stats = $state<Record<number, StreamStatsView>>({});
  ended = $state<EndedStream[]>([]);

  private frameListeners = new Map<number, Set<FrameListener>>();
  private audioListeners = new Map<number, Set<AudioListener>>();
  /** Per sid; not reactive (read by the renderer each frame). */
  readonly clocks = new Map<number, StreamClockView>();
  /** Per sid: the track this viewer hears (null: none) and why not, as the core said. */
  sound = $state<Record<number, { track: number | null; reason: string | null }>>({});

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
      const view: StreamView = {
        ...info,
        title: this.titleOf(info.video),
        lastBy: info.by,
        lastAction: "started",
        epoch: 0,
      };
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
      this.audioListeners.delete(sid);
      this.clocks.delete(sid);
      this.lastAudioInfo.delete(sid);
      delete this.sound[sid];
      this.ended.push({ sid, title: v.title, scope: v.scope, reason: streamEndWords(reason) });
      if (this.ended.length > MAX_ENDED) this.ended.shift();
    });
    session.on("streamStats", ({ sid, sent, dropped }) => {
      this.stats[sid] = { sent, dropped };
    });
    session.on("streamClock", (c) => {
      const v = this.clocks.get(c.sid);
      if (v) {
        v.anchorCore = c.anchorCore;
        v.delayMs = c.delayMs;
      } else this.clocks.set(c.sid, { anchorCore: c.anchorCore, delayMs: c.delayMs });
    });
    session.on("audioInfo", (info) => {
      this.sound[info.sid] = { track: info.track, reason: info.reason };
      const set = this.audioListeners.get(info.sid);
      if (set) for (const l of set) l({ kind: "info", info });
      this.lastAudioInfo.set(info.sid, info);
    });
    session.on("audio", (packet) => {
      const set = this.audioListeners.get(packet.sid);
      if (set) for (const l of set) l({ kind: "packet", packet });
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

  private lastAudioInfo = new Map<number, SessionEvents["audioInfo"]>();

  /** Sound of a stream: the last `audio` info at once (a player mounts after it came), then info and packets. */
  onAudio(sid: number, listener: AudioListener): () => void {
    let set = this.audioListeners.get(sid);
    if (!set) this.audioListeners.set(sid, (set = new Set()));
    set.add(listener);
    const last = this.lastAudioInfo.get(sid);
    if (last) listener({ kind: "info", info: last });
    return () => {
      set.delete(listener);
      if (set.size === 0) this.audioListeners.delete(sid);
    };
  }

  /** Local (performance.now) ms at which pts is to be presented, or null without a running stream clock. */
  presentAt(sid: number, ptsMs: number): number | null {
    const c = this.clocks.get(sid);
    const sync = this.session.clock;
    if (!c || c.anchorCore === null || !sync || !sync.quality.ready) return null;
    return sync.toLocalTime(c.anchorCore + ptsMs + c.delayMs);
  }

  /** The core-clock converter for audio scheduling (identity before any sample). */
  get coreClock(): { toLocalTime(coreMs: number): number; ready: boolean } {
    const sync = this.session.clock;
    return { toLocalTime: (c) => (sync ? sync.toLocalTime(c) : c), ready: sync?.quality.ready ?? false };
  }

  chooseTrack(sid: number, track: number | null): void {
    this.guard(() => this.session.audioTrack?.(sid, track));
  }

  onFrames(sid: number, listener: FrameListener): () => void {
    let set = this.frameListeners.get(sid);
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
