// The terminal client's logic: session events -> lines (human or JSON), and
// commands -> session calls. No sockets or stdin here; main.ts wires those.

import { fingerprint } from "../protocol/crypto";
import type { StreamInfo } from "../protocol/messages";
import type { ClientSession, MemberEntry, ReceivedMessage, SessionEvents } from "../protocol/session";
import { HELP, parseCommand, resolveTarget, type Command } from "./commands";
import { formatBytes, formatClock } from "../protocol/format";
import { indentLines, safe } from "./format";
import type { EventJson, Output } from "./output";
import type { FrameRecorder } from "./recorder";

export interface AppOptions {
  session: ClientSession;
  out: Output;
  recorder?: FrameRecorder;
  /** "host:port", for messages about reaching the core. */
  core: string;
}

function memberJson(e: MemberEntry) {
  return { id: e.member.id, name: e.member.name, safety: e.safetyCode, verified: e.verified, agent: e.member.agent ?? null, self: e.self };
}

/** A member's name as printed: terminal-safe, never empty. */
function who(e: MemberEntry | null | undefined, id?: string): string {
  if (!e) return `unknown member ${safe(id ?? "?").slice(0, 8)}`;
  return safe(e.member.name) || e.member.id.slice(0, 8);
}

interface Watching {
  info: StreamInfo;
  lastPtsMs: number;
  frameTimes: number[];
  dropped: number;
  sent: number;
}

export class ClientApp {
  private readonly s: ClientSession;
  private readonly out: Output;
  private readonly recorder: FrameRecorder | undefined;
  private watching = new Map<number, Watching>();
  private current: number | null = null;

  constructor(private readonly opts: AppOptions) {
    this.s = opts.session;
    this.out = opts.out;
    this.recorder = opts.recorder;
    this.bind();
  }

  private emit(json: EventJson, human: string | null): void {
    this.out.event(json, human);
  }

  private commandError(message: string): void {
    this.emit({ event: "commandError", message }, `! ${message}`);
  }

  // ---- session events -------------------------------------------------------------

  private bind(): void {
    const s = this.s;
    s.on("state", (state) => this.emit({ event: "state", state }, null));
    s.on("welcome", (w) => this.onWelcome(w));
    s.on("joined", ({ entry, again }) => this.onJoined(entry, again));
    s.on("left", ({ id, reason, entry }) => {
      this.emit({ event: "left", id, name: entry?.member.name ?? null, reason }, `* ${who(entry, id)} left (${reason})`);
    });
    s.on("message", (m) => this.onMessage(m));
    s.on("ack", ({ mid, delivered }) => this.emit({ event: "ack", mid, delivered }, null));
    s.on("sendFailed", ({ mid, code, message }) =>
      this.emit({ event: "sendFailed", mid, code, message }, `! a message was not delivered (${code}: ${safe(message)})`),
    );
    s.on("error", (e) => {
      const json = { event: "error", code: e.code, message: e.message, ref: e.ref ?? null, fatal: e.fatal };
      this.emit(json, e.fatal ? null : `! ${safe(e.code)}: ${safe(e.message)}`);
    });
    s.on("invalid", ({ reason }) => this.emit({ event: "invalid", reason }, `! dropped a malformed message from the server: ${safe(reason)}`));
    s.on("disconnected", (d) => {
      const retry = d.retryInMs === null ? "" : `; retrying in ${(d.retryInMs / 1000).toFixed(1)} s`;
      const human = d.everOnline
        ? `* connection lost (${safe(d.reason)})${retry}`
        : `* cannot reach the core at ${this.opts.core} (${safe(d.reason)})${retry}`;
      this.emit({ event: "disconnected", reason: d.reason, retryInMs: d.retryInMs, attempt: d.attempt }, human);
    });
    s.on("keyChanged", (k) =>
      this.emit(
        { event: "keyChanged", name: k.name, oldId: k.oldId, newId: k.newId },
        `WARNING: ${safe(k.name)} is back with a different key (safety code changed); compare safety codes before trusting them (/whois ${safe(k.name)})`,
      ),
    );
    s.on("videos", (items) => {
      const lines = items.map(
        (v) =>
          `  ${safe(v.id)}  "${safe(v.title)}"  ${formatClock(v.durationMs)}  ${v.width}x${v.height}  ${v.fps} fps  ${formatBytes(v.bytes)}`,
      );
      this.emit({ event: "videos", items }, items.length ? `* ${items.length} video(s):\n${lines.join("\n")}` : "* the server has no videos");
    });
    s.on("stream", (info) => this.onStream(info));
    s.on("streamState", (st) => this.onStreamState(st));
    s.on("streamEnd", ({ sid, reason }) => {
      const w = this.watching.get(sid);
      this.watching.delete(sid);
      if (this.current === sid) this.current = [...this.watching.keys()].pop() ?? null;
      this.emit({ event: "streamEnd", sid, reason }, `* ${w ? safe(w.info.video) : `stream ${sid}`} ended (${reason})`);
      this.refreshStatus();
    });
    s.on("streamStats", ({ sid, sent, dropped }) => {
      const w = this.watching.get(sid);
      if (!w) return;
      w.sent = sent;
      w.dropped = dropped;
      this.emit({ event: "streamStats", sid, sent, dropped, fps: this.fps(w), posMs: w.lastPtsMs }, null);
      this.refreshStatus();
    });
    s.on("frame", (f) => this.onFrame(f));
  }

  private onWelcome(w: SessionEvents["welcome"]): void {
    const self = w.members.find((e) => e.self);
    const others = w.members.filter((e) => !e.self);
    const json = { event: "welcome", id: w.id, room: w.room, reconnected: w.reconnected, members: w.members.map(memberJson), limits: w.limits };
    let human: string;
    if (w.reconnected) human = `* reconnected to room ${w.room}`;
    else {
      human = `* you are ${safe(this.s.name)} in room ${w.room} (safety ${self?.safetyCode ?? "?"})`;
      human += others.length
        ? `\n* here: ${others.map((e) => `${who(e)} (safety ${e.safetyCode})`).join(", ")}`
        : "\n* nobody else is here yet";
    }
    this.emit(json, human);
    for (const e of others) if (!e.verified) this.warnUnverified(e);
  }

  private warnUnverified(e: MemberEntry): void {
    this.emit(
      { event: "unverified", id: e.member.id, name: e.member.name },
      `WARNING: ${who(e)} has keys that do not verify (id ${safe(e.member.id)}); nothing will be sent to them and their messages are not shown`,
    );
  }

  private onJoined(entry: MemberEntry, again: boolean): void {
    const json = { event: "joined", again, ...memberJson(entry) };
    if (!entry.verified) {
      this.emit(json, null);
      this.warnUnverified(entry);
      return;
    }
    const human = again ? null : `* ${who(entry)} joined (safety ${entry.safetyCode})`;
    this.emit(json, human);
  }

  private onMessage(m: ReceivedMessage): void {
    const name = m.name === null ? null : safe(m.name);
    const base = { event: "message", from: m.from, name: m.name, mid: m.mid, to: m.to, at: m.at, direct: m.direct };
    if (!m.ok) {
      this.emit(
        { ...base, verified: false, reason: m.reason },
        `WARNING: unverifiable message from ${name ?? `unknown member ${safe(m.from).slice(0, 8)}`} (${safe(m.reason)}); not shown`,
      );
      return;
    }
    const label = `<${name ?? m.from.slice(0, 8)}>${m.direct ? " (direct)" : ""} `;
    this.emit({ ...base, verified: true, text: m.text, ts: m.ts }, label + indentLines(safe(m.text, true), " ".repeat(label.length)));
  }

  // ---- video ----------------------------------------------------------------------

  private onStream(info: StreamInfo): void {
    this.watching.set(info.sid, { info, lastPtsMs: info.posMs, frameTimes: [], dropped: 0, sent: 0 });
    this.current = info.sid;
    const by = this.s.members.get(info.by);
    const scope = info.scope === "room" ? `room stream started by ${who(by, info.by)}` : "just for you";
    this.emit(
      { event: "stream", ...info },
      `* ${safe(info.video)} ${info.state} at ${formatClock(info.posMs)}/${formatClock(info.durationMs)} (sid ${info.sid}, ${scope}, ${info.width}x${info.height})`,
    );
    this.refreshStatus();
  }

  private onStreamState(st: SessionEvents["streamState"]): void {
    const w = this.watching.get(st.sid);
    if (w) {
      w.info = { ...w.info, state: st.state, posMs: st.posMs };
      w.lastPtsMs = st.posMs;
    }
    const by = this.s.members.get(st.by);
    this.emit(
      { event: "streamState", ...st },
      `* ${w ? safe(w.info.video) : `stream ${st.sid}`} ${st.state} at ${formatClock(st.posMs)} (by ${who(by, st.by)})`,
    );
    this.refreshStatus();
  }

  private onFrame(f: SessionEvents["frame"]): void {
    const w = this.watching.get(f.sid);
    if (w) {
      w.lastPtsMs = f.ptsMs;
      const now = Date.now();
      w.frameTimes.push(now);
      while (w.frameTimes.length && now - w.frameTimes[0] > 1000) w.frameTimes.shift();
    }
    if (this.recorder) {
      const file = this.recorder.write(f.sid, f.frame, f.jpeg);
      this.emit({ event: "frame", sid: f.sid, frame: f.frame, ptsMs: f.ptsMs, bytes: f.jpeg.length, file }, null);
    }
  }

  private fps(w: Watching): number {
    const now = Date.now();
    return w.frameTimes.filter((t) => now - t <= 1000).length;
  }

  private refreshStatus(): void {
    const w = this.current === null ? undefined : this.watching.get(this.current);
    if (!w) {
      this.out.status(null);
      return;
    }
    const icon = w.info.state === "playing" ? "playing" : "paused";
    this.out.status(
      `${icon} ${safe(w.info.video)} ${formatClock(w.lastPtsMs)}/${formatClock(w.info.durationMs)} ${this.fps(w)} fps, ${w.dropped} dropped`,
    );
  }

  // ---- commands -------------------------------------------------------------------

  /** Runs one line of input; resolves "quit" when the user asked to leave. */
  async line(text: string): Promise<"quit" | undefined> {
    const cmd = parseCommand(text);
    if (!cmd) return undefined;
    try {
      return await this.run(cmd);
    } catch (e) {
      this.commandError((e as Error).message);
      return undefined;
    }
  }

  private async run(cmd: Command): Promise<"quit" | undefined> {
    const s = this.s;
    switch (cmd.kind) {
      case "invalid":
        this.commandError(cmd.message);
        return;
      case "quit":
        return "quit";
      case "help":
        this.emit({ event: "help", text: HELP }, HELP);
        return;
      case "say": {
        const mid = await s.sendText(cmd.text);
        this.emit({ event: "sent", mid, text: cmd.text, to: null }, null);
        return;
      }
      case "msg": {
        const others = [...s.members.values()].filter((e) => !e.self).map((e) => ({ id: e.member.id, name: e.member.name, entry: e }));
        const r = resolveTarget(others, cmd.rest, true);
        if (!r.ok) {
          const self = resolveTarget([{ id: s.selfId, name: s.name }], cmd.rest, true);
          this.commandError(self.ok ? "that is you" : r.message);
          return;
        }
        const mid = await s.sendText(r.text, [r.member.id]);
        this.emit({ event: "sent", mid, text: r.text, to: [r.member.id] }, null);
        return;
      }
      case "who": {
        const all = [...s.members.values()].sort((a, b) => Number(b.self) - Number(a.self) || a.member.name.localeCompare(b.member.name));
        const lines = all.map(
          (e) =>
            `  ${who(e)}${e.self ? " (you)" : ""}  safety ${e.safetyCode}  ${e.verified ? "" : "UNVERIFIED  "}agent ${safe(e.member.agent ?? "?")}  id ${e.member.id.slice(0, 8)}`,
        );
        this.emit(
          { event: "who", room: s.room, members: all.map(memberJson) },
          `* ${all.length} member(s) in room ${s.room}${s.state === "online" ? "" : ` (as last seen; ${s.state})`}:\n${lines.join("\n")}`,
        );
        return;
      }
      case "whois": {
        const all = [...s.members.values()].map((e) => ({ id: e.member.id, name: e.member.name, entry: e }));
        const r = resolveTarget(all, cmd.target, false);
        if (!r.ok) {
          this.commandError(r.message);
          return;
        }
        const e = r.member.entry;
        const fp = await fingerprint(e.member.sigKey);
        this.emit(
          { event: "whois", ...memberJson(e), fingerprint: fp, since: e.member.since },
          `* ${who(e)}${e.self ? " (you)" : ""}\n  id          ${e.member.id}\n  safety      ${e.safetyCode}\n  fingerprint ${fp}\n  verified    ${e.verified ? "yes" : "NO: keys do not verify"}\n  agent       ${safe(e.member.agent ?? "?")}\n  here since  ${new Date(e.member.since).toISOString()}`,
        );
        return;
      }
      case "videos":
        s.requestVideos();
        return;
      case "play":
        s.play(cmd.video, cmd.scope, cmd.fromMs);
        return;
      case "pause":
      case "resume":
      case "stop":
        s.control(this.currentSid(), cmd.kind);
        return;
      case "seek":
        s.control(this.currentSid(), "seek", cmd.toMs);
        return;
    }
  }

  private currentSid(): number {
    if (this.current === null || !this.s.streams.has(this.current)) throw new Error("no stream is playing (/play ID first)");
    return this.current;
  }
}
