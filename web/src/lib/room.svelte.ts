// The one owner of the socket and the session. Components read its runes
// state and call its methods; nothing else talks to the network. Video frames
// bypass reactivity (30 a second would re-render for nothing): players
// subscribe to them by sid.

import { SvelteSet } from "svelte/reactivity";
import type { Identity } from "../../../protocol/crypto";
import type { LeftReason, StreamInfo, VideoItem } from "../../../protocol/messages";
import { ClientSession, type MemberEntry, type ReceivedMessage, type SessionState } from "../../../protocol/session";
import { LocalKeyStore } from "./keyMemory";
import { webSocketConnector } from "./transport";

export const AGENT = "web/0.1.0";

export interface MemberView {
  id: string;
  name: string;
  agent: string;
  sigKey: string;
  safety: string;
  since: number;
  self: boolean;
  verified: boolean;
}

export type ChatStatus = "pending" | "sent" | "failed" | "received";

export interface ChatItem {
  key: string;
  mid: string | null;
  from: string;
  fromName: string;
  mine: boolean;
  /** null: the whole room. */
  to: string[] | null;
  text: string | null;
  /** Why a received message could not be shown; its text never is. */
  problem: string | null;
  ts: number;
  status: ChatStatus;
  delivered: number | null;
  failure: string | null;
}

export type ToastTone = "info" | "warn" | "bad";

export interface Toast {
  id: number;
  text: string;
  tone: ToastTone;
}

export interface KeyWarning {
  id: number;
  name: string;
  oldId: string;
  newId: string;
}

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

export type Phase = "connecting" | "online" | "reconnecting" | "closed";

export type FrameListener = (f: { frame: number; ptsMs: number; jpeg: Uint8Array }) => void;

const LEFT_WORDS: Record<LeftReason, string> = {
  quit: "left",
  closed: "disconnected",
  timeout: "timed out",
  error: "was disconnected after an error",
};

const END_WORDS: Record<string, string> = {
  finished: "finished",
  stopped: "stopped",
  replaced: "replaced by another video",
  error: "stopped by a server error",
  disconnected: "interrupted: the connection dropped",
};

const MAX_MESSAGES = 500;
const TOAST_MS = 6_000;

let toastSeq = 0;
let localSeq = 0;

export class RoomStore {
  readonly room: string;
  readonly name: string;
  readonly selfId: string;

  phase = $state<Phase>("connecting");
  /** Why the session is down or over, for the banner. */
  statusDetail = $state<string>("");
  retryAt = $state<number | null>(null);
  everOnline = $state(false);
  /** Set when the session ended for good; code from the server when there was one. */
  closedBy = $state<{ code: string | null; message: string } | null>(null);

  members = $state<MemberView[]>([]);
  selected = new SvelteSet<string>();
  messages = $state<ChatItem[]>([]);
  toasts = $state<Toast[]>([]);
  keyWarnings = $state<KeyWarning[]>([]);

  videos = $state<VideoItem[] | null>(null);
  videosLoading = $state(false);
  streams = $state<StreamView[]>([]);
  stats = $state<Record<number, StreamStatsView>>({});
  ended = $state<EndedStream[]>([]);

  private session: ClientSession;
  private frameListeners = new Map<number, Set<FrameListener>>();
  /** Outcomes that arrived before sendText() handed back their mid. */
  private early = new Map<string, { delivered: number } | { failure: string }>();
  private names = new Map<string, string>();

  constructor(p: { identity: Identity; room: string; name: string; url?: string }) {
    this.room = p.room;
    this.name = p.name;
    this.selfId = p.identity.id;
    this.session = new ClientSession({
      identity: p.identity,
      name: p.name,
      room: p.room,
      agent: AGENT,
      connect: webSocketConnector(p.url),
      keyStore: new LocalKeyStore(),
    });
    this.wire();
  }

  start(): void {
    this.session.start();
  }

  /** Leaves the room (sends `quit`). */
  leave(): void {
    this.session.stop();
  }

  // ---- members ------------------------------------------------------------------

  nameOf(id: string): string {
    if (id === this.selfId) return "you";
    return this.names.get(id) ?? `${id.slice(0, 6)}…`;
  }

  get others(): MemberView[] {
    return this.members.filter((m) => !m.self);
  }

  toggleSelected(id: string): void {
    if (this.selected.has(id)) this.selected.delete(id);
    else this.selected.add(id);
  }

  clearSelection(): void {
    this.selected.clear();
  }

  // ---- chat ---------------------------------------------------------------------

  /** Sends to the selected members, or to everyone when none is selected. */
  async send(text: string): Promise<void> {
    const to = this.selected.size > 0 ? [...this.selected] : null;
    const item: ChatItem = {
      key: `local-${++localSeq}`,
      mid: null,
      from: this.selfId,
      fromName: this.name,
      mine: true,
      to,
      text,
      problem: null,
      ts: Date.now(),
      status: "pending",
      delivered: null,
      failure: null,
    };
    this.pushMessage(item);
    const shown = this.messages[this.messages.length - 1];
    try {
      const mid = await this.session.sendText(text, to ?? undefined);
      shown.mid = mid;
      const early = this.early.get(mid);
      if (early) {
        this.early.delete(mid);
        if ("delivered" in early) this.markAcked(shown, early.delivered);
        else this.markFailed(shown, early.failure);
      }
    } catch (err) {
      this.markFailed(shown, (err as Error).message);
    }
  }

  private markFailed(item: ChatItem, why: string): void {
    item.status = "failed";
    item.failure = why;
  }

  private markAcked(item: ChatItem, delivered: number): void {
    item.status = "sent";
    item.delivered = delivered;
  }

  private pushMessage(item: ChatItem): void {
    this.messages.push(item);
    if (this.messages.length > MAX_MESSAGES) this.messages.splice(0, this.messages.length - MAX_MESSAGES);
  }

  // ---- toasts and warnings --------------------------------------------------------

  toast(text: string, tone: ToastTone = "info"): void {
    const id = ++toastSeq;
    this.toasts.push({ id, text, tone });
    if (this.toasts.length > 5) this.toasts.shift();
    setTimeout(() => this.dismissToast(id), tone === "info" ? TOAST_MS : TOAST_MS * 2);
  }

  dismissToast(id: number): void {
    const i = this.toasts.findIndex((t) => t.id === id);
    if (i >= 0) this.toasts.splice(i, 1);
  }

  dismissKeyWarning(id: number): void {
    const i = this.keyWarnings.findIndex((w) => w.id === id);
    if (i >= 0) this.keyWarnings.splice(i, 1);
  }

  // ---- video --------------------------------------------------------------------

  loadVideos(): void {
    if (this.phase !== "online") return;
    this.videosLoading = true;
    try {
      this.session.requestVideos();
    } catch (err) {
      this.videosLoading = false;
      this.toast(`Could not ask for the library: ${(err as Error).message}`, "bad");
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
      this.toast((err as Error).message, "bad");
    }
  }

  private titleOf(video: string): string {
    return this.videos?.find((v) => v.id === video)?.title ?? video;
  }

  // ---- session events -------------------------------------------------------------

  private setMembers(entries: Iterable<MemberEntry>): void {
    const list: MemberView[] = [];
    for (const e of entries) {
      this.names.set(e.member.id, e.member.name);
      list.push(toView(e));
    }
    list.sort((a, b) => Number(b.self) - Number(a.self) || a.since - b.since || a.name.localeCompare(b.name));
    this.members = list;
    // Someone selected who is gone can no longer be written to.
    for (const id of [...this.selected]) if (!list.some((m) => m.id === id && !m.self)) this.selected.delete(id);
  }

  private wire(): void {
    const s = this.session;
    s.on("state", (st: SessionState) => {
      this.phase = st;
      if (st === "online") {
        this.statusDetail = "";
        this.retryAt = null;
      }
    });
    s.on("welcome", (w) => {
      // Timing marks (DevTools / tests): from navigation or join click to being in.
      if (!this.everOnline) performance.mark("sealroom:welcome");
      this.everOnline = true;
      this.setMembers(w.members);
      if (w.reconnected) this.toast("Reconnected.", "info");
      if (this.videos === null) this.loadVideos();
    });
    s.on("joined", ({ entry, again }) => {
      this.setMembers(s.members.values());
      if (!again) this.toast(`${entry.member.name} joined`, entry.verified ? "info" : "warn");
      if (!entry.verified) this.toast(`${entry.member.name}'s keys do not verify: nothing will be sent to them.`, "bad");
    });
    s.on("left", ({ id, reason, entry }) => {
      this.setMembers(s.members.values());
      const name = entry?.member.name ?? this.nameOf(id);
      this.toast(`${name} ${LEFT_WORDS[reason]}`, reason === "quit" ? "info" : "warn");
    });
    s.on("message", (m: ReceivedMessage) => this.onMessage(m));
    s.on("ack", ({ mid, delivered }) => {
      const item = this.messages.findLast((x) => x.mid === mid);
      if (item) this.markAcked(item, delivered);
      else this.rememberEarly(mid, { delivered });
    });
    s.on("sendFailed", ({ mid, message }) => {
      const item = this.messages.findLast((x) => x.mid === mid);
      if (item) this.markFailed(item, message);
      else this.rememberEarly(mid, { failure: message });
    });
    s.on("error", (e) => {
      // Errors about a send are shown on the message; fatal ones by `closed`.
      if (e.fatal || (e.ref && this.messages.some((m) => m.mid === e.ref))) return;
      if (e.ref === "videos") this.videosLoading = false;
      this.toast(e.message || e.code, "bad");
    });
    s.on("disconnected", ({ reason, retryInMs }) => {
      this.statusDetail = reason;
      this.retryAt = retryInMs === null ? null : Date.now() + retryInMs;
    });
    s.on("closed", ({ reason, error }) => {
      this.closedBy = { code: error?.code ?? null, message: error?.message ?? reason };
      this.streams = [];
    });
    s.on("keyChanged", (k) => {
      this.keyWarnings.push({ id: ++toastSeq, name: k.name, oldId: k.oldId, newId: k.newId });
      if (this.keyWarnings.length > 10) this.keyWarnings.shift();
    });
    s.on("videos", (items) => {
      this.videos = items;
      this.videosLoading = false;
    });
    s.on("stream", (info) => {
      const view: StreamView = { ...info, title: this.titleOf(info.video), lastBy: info.by, lastAction: "started", epoch: 0 };
      const i = this.streams.findIndex((x) => x.sid === info.sid);
      if (i >= 0) this.streams[i] = view;
      else this.streams.push(view);
      this.dismissEnded(info.sid);
    });
    s.on("streamState", (st) => {
      const v = this.streams.find((x) => x.sid === st.sid);
      if (!v) return;
      const action = st.state !== v.state ? (st.state === "paused" ? "paused" : "resumed") : "seeked";
      v.state = st.state;
      v.posMs = st.posMs;
      v.lastBy = st.by;
      v.lastAction = action;
      v.epoch++;
    });
    s.on("streamEnd", ({ sid, reason }) => {
      const i = this.streams.findIndex((x) => x.sid === sid);
      if (i < 0) return;
      const [v] = this.streams.splice(i, 1);
      delete this.stats[sid];
      this.frameListeners.delete(sid);
      this.ended.push({ sid, title: v.title, scope: v.scope, reason: END_WORDS[reason] ?? reason });
      if (this.ended.length > 3) this.ended.shift();
    });
    s.on("streamStats", ({ sid, sent, dropped }) => {
      this.stats[sid] = { sent, dropped };
    });
    s.on("frame", (f) => {
      const set = this.frameListeners.get(f.sid);
      if (set) for (const l of set) l(f);
    });
  }

  private rememberEarly(mid: string, outcome: { delivered: number } | { failure: string }): void {
    this.early.set(mid, outcome);
    if (this.early.size > 100) this.early.delete(this.early.keys().next().value as string);
  }

  private onMessage(m: ReceivedMessage): void {
    const fromName = m.name ?? this.nameOf(m.from);
    this.pushMessage({
      key: `${m.from}/${m.mid}`,
      mid: m.mid,
      from: m.from,
      fromName,
      mine: false,
      to: m.direct ? m.to : null,
      text: m.ok ? m.text : null,
      problem: m.ok ? null : m.reason,
      ts: m.ok ? m.ts : m.at,
      status: "received",
      delivered: null,
      failure: null,
    });
  }
}

function toView(e: MemberEntry): MemberView {
  return {
    id: e.member.id,
    name: e.member.name,
    agent: e.member.agent ?? "unknown",
    sigKey: e.member.sigKey,
    safety: e.safetyCode,
    since: e.member.since,
    self: e.self,
    verified: e.verified,
  };
}
