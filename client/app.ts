// The terminal client's logic: session events -> lines (render.ts) on an
// Output, and commands (commands.ts) -> session calls; /watch hands the
// current stream's frames to the terminal watch view (tty/watchView.ts). No
// sockets or stdin here; main.ts wires those.
//
// Over 300 lines: wiring of every session event and command; each handler is a
// few lines and the work is in render.ts, watching.ts, subtitles.ts and tty/.
// Next to split: the watch-mode wiring.

import { fingerprint } from "../protocol/crypto";
import type { StreamInfo } from "../protocol/messages";
import type { MemberEntry, SessionEvents, SessionState } from "../protocol/session";
import { HELP, parseCommand, resolveTarget, type Command } from "./commands";
import type { ChatScreen, Output } from "./output";
import type { FrameRecorder } from "./recorder";
import * as render from "./render";
import type { WatchView } from "./tty/watchView";
import { TerminalSubtitles, type SubtitleChoice } from "./subtitles";
import { WatchedStreams } from "./watching";

/** What the app needs of a session: ClientSession, or a fake in unit tests. */
export interface AppSession {
  readonly name: string;
  readonly room: string;
  readonly selfId: string;
  readonly state: SessionState;
  readonly members: ReadonlyMap<string, MemberEntry>;
  readonly streams: ReadonlyMap<number, StreamInfo>;
  on<E extends keyof SessionEvents>(event: E, listener: (payload: SessionEvents[E]) => void): () => void;
  sendText(text: string, to?: readonly string[]): string | Promise<string>;
  requestVideos(): void;
  play(video: string, scope: "self" | "room", fromMs?: number): void;
  control(sid: number, action: "pause" | "resume" | "seek" | "stop", toMs?: number): void;
  /** Cap "library2" (absent in fakes that do not need it). */
  requestSubtitles?(video: string, track: string): void;
  /** The offset to the core's clock ("clock" cap); absent in fakes. */
  readonly clock?: { toLocalTime(coreMs: number): number; readonly quality: { ready: boolean } };
}

export interface AppOptions {
  session: AppSession;
  out: Output;
  recorder?: Pick<FrameRecorder, "write"> & { audio?: Pick<FrameRecorder["audio"], "start" | "packet" | "end"> };
  /** "host:port", for messages about reaching the core. */
  core: string;
  /** v2 rooms: the room link /invite prints. */
  invite?: string;
  /** For the frame rate; Date.now by default. */
  now?: () => number;
  /** The subtitle choice of earlier runs, and where a new one is kept (client/subtitlePrefs.ts). */
  subtitles?: { initial: SubtitleChoice | null; save(choice: SubtitleChoice | null): void };
  /** Watching in the terminal: the view and the chat screen it takes over. Absent when not interactive. */
  tty?: { view: WatchScreen; chat: ChatScreen };
}

/** What the app needs of the watch view. */
export type WatchScreen = Pick<
  WatchView,
  "active" | "open" | "close" | "offer" | "setStatus" | "setSubtitle" | "drawnFps"
>;

export const NEEDS_TERMINAL = "watching needs an interactive terminal (not --json, --script or a pipe)";

export class ClientApp {
  private readonly s: AppSession;
  private readonly out: Output;
  private readonly watching: WatchedStreams;
  /** /play ID --tty: watch the stream of this video once it starts. */
  private watchNext: string | null = null;
  private readonly subs: TerminalSubtitles;
  /** Catalogue listings asked for by the subtitles, not by /videos: not printed. */
  private quietVideos = 0;
  private catalogueKnown = false;
  private subtitleLine: string | null = null;
  /** A /subs typed while the catalogue was still on its way: run when it is in. */
  private subsAfterListing: Array<string | null> = [];
  /** Per sid: the stream clock as the core announced it ("clock" cap). */
  private clocks = new Map<number, { anchorCore: number | null; delayMs: number }>();

  constructor(private readonly opts: AppOptions) {
    this.s = opts.session;
    this.out = opts.out;
    this.watching = new WatchedStreams(opts.now);
    this.subs = new TerminalSubtitles(
      {
        requestSubtitles: (video, track) => this.s.requestSubtitles?.(video, track),
        show: (text) => this.setSubtitle(text),
        chose: (choice) => opts.subtitles?.save(choice),
      },
      opts.subtitles?.initial ?? null,
    );
    this.bind();
  }

  private print(...lines: render.Line[]): void {
    for (const l of lines) this.out.event(l.json, l.human);
  }

  private refreshStatus(): void {
    this.out.status(this.watching.status());
    this.refreshWatchStatus();
  }

  /** The terminal watch view, while it draws. */
  private get view(): WatchScreen | null {
    const v = this.opts.tty?.view;
    return v?.active ? v : null;
  }

  private refreshWatchStatus(): void {
    const v = this.view;
    if (!v) return;
    const held = this.opts.tty!.chat.heldCount;
    const news = held ? ` · ${held} new line(s)` : "";
    v.setStatus(
      `${this.watching.status({ sound: false }) ?? "no stream"} · drawn ${v.drawnFps()}${news} · any key: chat`,
    );
  }

  /** The view's subtitle line, for whoever times the cues; ignored when not watching. */
  setSubtitle(text: string | null): void {
    this.subtitleLine = text;
    this.opts.tty?.view.setSubtitle(text);
  }

  /** The current stream (or none) changed: the subtitles follow it. */
  private followCurrent(): void {
    const sid = this.watching.current;
    const video = sid === null ? null : (this.watching.get(sid)?.info.video ?? null);
    this.subs.current(video);
    // The tracks come with the catalogue; ask for it once, without printing it.
    if (video !== null && !this.catalogueKnown && this.s.requestSubtitles) {
      this.catalogueKnown = true;
      this.quietVideos++;
      try {
        this.s.requestVideos();
      } catch {
        this.quietVideos--;
        this.catalogueKnown = false;
      }
    }
  }

  private startWatch(): void {
    const tty = this.opts.tty!;
    if (tty.view.active) return;
    tty.chat.suspend(() => this.stopWatch());
    tty.view.open();
    tty.view.setSubtitle(this.subtitleLine);
    this.refreshWatchStatus();
  }

  /** Back to chat; the stream stays watched by the session. */
  private stopWatch(why?: string): void {
    const tty = this.opts.tty;
    if (!tty?.view.active) return;
    tty.view.close();
    tty.chat.resume();
    const w = this.watching.current === null ? undefined : this.watching.get(this.watching.current);
    this.print(render.unwatched(w?.info.video ?? null, why ?? null));
  }

  /** Gives the terminal back (the run is ending). */
  close(): void {
    const tty = this.opts.tty;
    if (!tty?.view.active) return;
    tty.view.close();
    tty.chat.resume();
  }

  // ---- session events -------------------------------------------------------------

  private bind(): void {
    const s = this.s;
    const w = this.watching;
    s.on("state", (st) => this.print(render.state(st)));
    s.on("welcome", (ev) => {
      this.print(...render.welcome(ev, s.name));
      if (ev.reconnected) {
        // A listing asked for on the old connection will not come.
        if (this.quietVideos > 0) this.listingLost();
        this.subs.reconnected();
        if (this.watching.current !== null) this.followCurrent();
      }
    });
    s.on("joined", ({ entry, again }) => this.print(...render.joined(entry, again)));
    s.on("left", ({ id, reason, entry }) => this.print(render.left(id, reason, entry)));
    s.on("message", (m) => this.print(render.message(m)));
    s.on("ack", ({ mid, delivered, seq }) => this.print(render.ack(mid, delivered, seq)));
    s.on("delivered", (d) => this.print(render.delivered(d)));
    s.on("presence", ({ id, state, entry }) => this.print(render.presence(id, state, entry)));
    s.on("historyGap", (g) => this.print(render.historyGap(g)));
    s.on("sendFailed", (f) => this.print(render.sendFailed(f)));
    s.on("error", (e) => {
      this.print(render.error(e));
      if (e.ref === "videos" && this.quietVideos > 0) this.listingLost();
    });
    s.on("invalid", ({ reason }) => this.print(render.invalid(reason)));
    s.on("disconnected", (d) => this.print(render.disconnected(d, this.opts.core)));
    s.on("keyChanged", (k) => this.print(render.keyChanged(k)));
    s.on("videos", (items) => {
      this.catalogueKnown = true;
      this.subs.videos(items);
      if (this.quietVideos > 0) this.quietVideos--;
      else this.print(render.videos(items));
      for (const arg of this.subsAfterListing.splice(0)) this.subsCommand(arg);
    });
    s.on("videosChanged", () => {
      this.catalogueKnown = false;
      if (this.watching.current !== null) this.followCurrent();
    });
    s.on("subtitles", (t) => {
      if (this.subs.cues(t.video, t.track, t.cues)) {
        this.print(render.subtitlesLoaded(t.video, t.track, t.cues.length, t.warnings));
        const w = this.watching.current === null ? undefined : this.watching.get(this.watching.current);
        if (w) this.subs.at(w.lastPtsMs);
      }
    });
    s.on("stream", (info) => {
      w.start(info);
      this.followCurrent();
      this.subs.at(info.posMs);
      this.print(render.stream(info, s.members.get(info.by)));
      if (this.watchNext === info.video && this.opts.tty) {
        this.watchNext = null;
        this.startWatch();
      }
      this.refreshStatus();
    });
    s.on("streamState", (st) => {
      const watched = w.changed(st.sid, st.state, st.posMs);
      if (watched && st.sid === w.current) this.subs.at(st.posMs);
      this.print(render.streamState(st, watched?.info.video, s.members.get(st.by)));
      this.refreshStatus();
    });
    s.on("streamEnd", ({ sid, reason }) => {
      const watched = w.end(sid);
      this.followCurrent();
      this.clocks.delete(sid);
      this.opts.recorder?.audio?.end(sid);
      this.print(render.streamEnd(sid, reason, watched?.info.video));
      if (w.current === null) this.stopWatch("the stream ended");
      this.refreshStatus();
    });
    s.on("streamStats", (st) => {
      const watched = w.stats(st.sid, st.sent, st.dropped);
      if (!watched) return;
      this.print(render.streamStats(st, w.fps(watched), watched.lastPtsMs));
      this.refreshStatus();
    });
    s.on("frame", (f) => this.onFrame(f));
    s.on("streamClock", (c) => this.clocks.set(c.sid, { anchorCore: c.anchorCore, delayMs: c.delayMs }));
    s.on("audioInfo", (a) => {
      w.audio(a.sid, a.track, a.reason);
      const file = this.opts.recorder?.audio?.start(a.sid, a.track, a.head) ?? null;
      this.print(render.audioTrack(a, file));
      this.refreshStatus();
    });
    s.on("audio", (p) => this.opts.recorder?.audio?.packet(p.sid, p.track, p.data, p.ptsSamples, p.durationSamples));
  }

  private onFrame(f: SessionEvents["frame"]): void {
    this.watching.frame(f.sid, f.ptsMs);
    if (f.sid === this.watching.current) this.subs.at(f.ptsMs);
    const view = this.view;
    if (view && f.sid === this.watching.current) {
      view.offer(f.jpeg);
      this.refreshWatchStatus();
    }
    const recorder = this.opts.recorder;
    if (recorder)
      this.print(render.recordedFrame(f, recorder.write(f.sid, f.frame, f.jpeg), this.presentAt(f.sid, f.ptsMs)));
  }

  /** Wall-clock ms (Date.now) at which the stream clock presents pts: anchor + pts + playout delay; null without it. */
  private presentAt(sid: number, ptsMs: number): number | null {
    const c = this.clocks.get(sid);
    const sync = this.s.clock;
    if (!c || c.anchorCore === null || !sync?.quality.ready) return null;
    const local = sync.toLocalTime(c.anchorCore + ptsMs + c.delayMs);
    return Math.round((performance.timeOrigin + local) * 10) / 10;
  }

  // ---- commands -------------------------------------------------------------------

  /** Runs one line of input; resolves "quit" when the user asked to leave. */
  async line(text: string): Promise<"quit" | undefined> {
    const cmd = parseCommand(text);
    if (!cmd) return undefined;
    try {
      return await this.run(cmd);
    } catch (e) {
      this.print(render.commandError((e as Error).message));
      return undefined;
    }
  }

  private async run(cmd: Command): Promise<"quit" | undefined> {
    const s = this.s;
    switch (cmd.kind) {
      case "invalid":
        this.print(render.commandError(cmd.message));
        return;
      case "quit":
        return "quit";
      case "help":
        this.print(render.help(HELP));
        return;
      case "say": {
        const mid = await s.sendText(cmd.text);
        this.print(render.sent(mid, cmd.text, null));
        return;
      }
      case "msg": {
        const others = [...s.members.values()]
          .filter((e) => !e.self)
          .map((e) => ({ id: e.member.id, name: e.member.name, entry: e }));
        const r = resolveTarget(others, cmd.rest, true);
        if (!r.ok) {
          const self = resolveTarget([{ id: s.selfId, name: s.name }], cmd.rest, true);
          this.print(render.commandError(self.ok ? "that is you" : r.message));
          return;
        }
        const mid = await s.sendText(r.text, [r.member.id]);
        this.print(render.sent(mid, r.text, [r.member.id]));
        return;
      }
      case "who":
        this.print(render.whoList(s.room, s.state, s.members.values()));
        return;
      case "invite":
        this.print(
          this.opts.invite
            ? render.invite(s.room, this.opts.invite)
            : render.commandError("this room was made without a link (v1): others join with --room " + s.room),
        );
        return;
      case "whois": {
        const all = [...s.members.values()].map((e) => ({ id: e.member.id, name: e.member.name, entry: e }));
        const r = resolveTarget(all, cmd.target, false);
        if (!r.ok) {
          this.print(render.commandError(r.message));
          return;
        }
        const e = r.member.entry;
        this.print(render.whois(e, await fingerprint(e.member.sigKey)));
        return;
      }
      case "videos":
        s.requestVideos();
        return;
      case "play":
        if (cmd.tty) {
          if (!this.opts.tty) throw new Error(NEEDS_TERMINAL);
          this.watchNext = cmd.video;
        }
        s.play(cmd.video, cmd.scope, cmd.fromMs);
        return;
      case "watch":
        if (!this.opts.tty) throw new Error(NEEDS_TERMINAL);
        this.currentSid();
        this.startWatch();
        return;
      case "unwatch":
        if (!this.view) throw new Error("not watching (/watch first)");
        this.stopWatch();
        return;
      case "pause":
      case "resume":
      case "stop":
        s.control(this.currentSid(), cmd.kind);
        return;
      case "seek":
        s.control(this.currentSid(), "seek", cmd.toMs);
        return;
      case "subs":
        if (!s.requestSubtitles) throw new Error("this client cannot show subtitles");
        if (this.quietVideos > 0) this.subsAfterListing.push(cmd.arg);
        else this.subsCommand(cmd.arg);
        return;
    }
  }

  private listingLost(): void {
    this.quietVideos = 0;
    this.catalogueKnown = false;
    for (const arg of this.subsAfterListing.splice(0)) this.subsCommand(arg);
  }

  private subsCommand(arg: string | null): void {
    const sid = this.watching.current;
    if (arg === null) {
      this.print(
        render.subtitleTracks(sid === null ? null : (this.watching.get(sid)?.info.video ?? null), this.subs.tracks()),
      );
      return;
    }
    const r = this.subs.choose(arg);
    this.print(r.ok ? render.notice(r.text) : render.commandError(r.message));
  }

  private currentSid(): number {
    const sid = this.watching.current;
    if (sid === null || !this.s.streams.has(sid)) throw new Error("no stream is playing (/play ID first)");
    return sid;
  }
}
