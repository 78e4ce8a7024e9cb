// Session events and command results -> what the terminal client prints: a
// JSON object for --json and a human line (null: nothing worth a line). Pure:
// the words shared with the web app come from protocol/describe.ts, and every
// string from someone else goes through safe() before it reaches a terminal.
//
// Over 300 lines: one pure function per event, each short; a list, not a
// tangle.

import {
  agentName,
  compareMembers,
  displayName,
  leftWords,
  shortId,
  streamEndWords,
  type StreamEnd,
} from "../protocol/describe";
import { formatBytes, formatClock } from "../protocol/format";
import type { LeftReason, StreamInfo, SubtitleTrackInfo, VideoItem } from "../protocol/messages";
import type { MemberEntry, ReceivedMessage, SessionEvents, SessionState } from "../protocol/session";
import { indentLines, safe } from "./terminalText";
import type { EventJson } from "./output";

/** One thing to print, in both forms. */
export interface Line {
  json: EventJson;
  human: string | null;
}

const line = (json: EventJson, human: string | null): Line => ({ json, human });

export function memberJson(e: MemberEntry) {
  return {
    id: e.member.id,
    name: e.member.name,
    safety: e.safetyCode,
    verified: e.verified,
    agent: e.member.agent ?? null,
    self: e.self,
    ...(e.admission ? { admitted: e.admission.ok } : {}),
    ...(e.member.presence === "away" ? { presence: "away" } : {}),
  };
}

/** A member's name as printed: terminal-safe, never empty; `id` names someone the session does not know. */
export function who(e: MemberEntry | null | undefined, id?: string): string {
  return safe(displayName(e?.member.name, e?.member.id ?? id ?? "?"));
}

/** Members in the order every client lists them (see protocol/describe.ts). */
export function listed(entries: Iterable<MemberEntry>): MemberEntry[] {
  const flat = (e: MemberEntry) => ({ self: e.self, since: e.member.since, name: e.member.name });
  return [...entries].sort((a, b) => compareMembers(flat(a), flat(b)));
}

// ---- the room and its members ------------------------------------------------------

export function newRoom(room: string): Line {
  return line(
    { event: "room", room, generated: true },
    `* new room ${room}: others join with  sealroom client --name THEIR_NAME --room ${room}`,
  );
}

export function newLink(room: string, link: string): Line {
  return line(
    { event: "room", room, generated: true, link },
    `* new end-to-end room ${room}: others join by opening ${link}\n  (or: sealroom client --name THEIR_NAME --link '${link}')`,
  );
}

export function invite(room: string, link: string): Line {
  return line(
    { event: "invite", room, link },
    `* invite: ${link}\n  (anyone with this link can join; the secret after # never reaches the server)`,
  );
}

export function certificateTrusted(core: string, fingerprint: string): Line {
  return line(
    { event: "certificateTrusted", core, fingerprint },
    `* trusting ${core}'s certificate ${fingerprint} from now on (first use)`,
  );
}

export function state(s: SessionState): Line {
  return line({ event: "state", state: s }, null);
}

/** `selfName`: ours, as the session knows it. Unverified members get a warning line each. */
export function welcome(w: SessionEvents["welcome"], selfName: string): Line[] {
  const self = w.members.find((e) => e.self);
  const others = w.members.filter((e) => !e.self);
  const json = {
    event: "welcome",
    id: w.id,
    room: w.room,
    reconnected: w.reconnected,
    members: w.members.map(memberJson),
    limits: w.limits,
  };
  let human: string;
  if (w.reconnected) human = `* reconnected to room ${w.room}`;
  else {
    human = `* you are ${safe(selfName)} in room ${w.room} (safety ${self?.safetyCode ?? "?"})`;
    human += others.length
      ? `\n* here: ${listed(others)
          .map((e) => `${who(e)} (safety ${e.safetyCode})`)
          .join(", ")}`
      : "\n* nobody else is here yet";
  }
  return [line(json, human), ...others.filter((e) => !e.verified).map(unverified)];
}

export function unverified(e: MemberEntry): Line {
  return line(
    { event: "unverified", id: e.member.id, name: e.member.name },
    `WARNING: ${who(e)} has keys that do not verify (id ${safe(e.member.id)}); nothing will be sent to them and their messages are not shown`,
  );
}

export function joined(entry: MemberEntry, again: boolean): Line[] {
  const json = { event: "joined", again, ...memberJson(entry) };
  if (!entry.verified) return [line(json, null), unverified(entry)];
  return [line(json, again ? null : `* ${who(entry)} joined (safety ${entry.safetyCode})`)];
}

export function left(id: string, reason: LeftReason, entry: MemberEntry | null): Line {
  return line(
    { event: "left", id, name: entry?.member.name ?? null, reason },
    `* ${who(entry, id)} ${leftWords(reason)}`,
  );
}

export function keyChanged(k: SessionEvents["keyChanged"]): Line {
  return line(
    { event: "keyChanged", name: k.name, oldId: k.oldId, newId: k.newId },
    `WARNING: ${safe(k.name)} is back with a different key (safety code changed); compare safety codes before trusting them (/whois ${safe(k.name)})`,
  );
}

/** /who: `room` and `s` as the session has them now. */
export function whoList(room: string, s: SessionState, members: Iterable<MemberEntry>): Line {
  const all = listed(members);
  const lines = all.map(
    (e) =>
      `  ${who(e)}${e.self ? " (you)" : ""}${e.member.presence === "away" ? " (away)" : ""}  safety ${e.safetyCode}  ${e.admission?.ok === false ? "NOT ADMITTED BY THE ROOM LINK  " : e.verified ? "" : "UNVERIFIED  "}agent ${safe(agentName(e.member.agent))}  id ${shortId(e.member.id)}`,
  );
  return line(
    { event: "who", room, members: all.map(memberJson) },
    `* ${all.length} member(s) in room ${room}${s === "online" ? "" : ` (as last seen; ${s})`}:\n${lines.join("\n")}`,
  );
}

/** /whois, with the signing key's fingerprint already computed. */
export function whois(e: MemberEntry, fingerprint: string): Line {
  return line(
    { event: "whois", ...memberJson(e), fingerprint, since: e.member.since },
    `* ${who(e)}${e.self ? " (you)" : ""}\n  id          ${e.member.id}\n  safety      ${e.safetyCode}\n  fingerprint ${fingerprint}\n  verified    ${e.verified ? "yes" : "NO: keys do not verify"}\n  agent       ${safe(agentName(e.member.agent))}\n  here since  ${new Date(e.member.since).toISOString()}`,
  );
}

// ---- messages ----------------------------------------------------------------------

export function message(m: ReceivedMessage): Line {
  const name = safe(displayName(m.name, m.from));
  const base = {
    event: "message",
    from: m.from,
    name: m.name,
    mid: m.mid,
    to: m.to,
    at: m.at,
    direct: m.direct,
    ...(m.seq !== undefined ? { seq: m.seq } : {}),
  };
  // A v2 message whose sender's key never came is not a forgery: say so differently.
  if (!m.ok && m.reason.startsWith("no key yet"))
    return line(
      { ...base, verified: false, reason: m.reason, noKey: true },
      `* a message from ${name} could not be read (${safe(m.reason)})`,
    );
  if (!m.ok)
    return line(
      { ...base, verified: false, reason: m.reason },
      `WARNING: unverifiable message from ${name} (${safe(m.reason)}); not shown`,
    );
  const label = `<${name}>${m.direct ? " (direct)" : ""} `;
  return line(
    { ...base, verified: true, text: m.text, ts: m.ts },
    label + indentLines(safe(m.text, true), " ".repeat(label.length)),
  );
}

export function sent(mid: string, text: string, to: string[] | null): Line {
  return line({ event: "sent", mid, text, to }, null);
}

export function ack(mid: string, delivered: number, seq?: number): Line {
  return line({ event: "ack", mid, delivered, ...(seq !== undefined ? { seq } : {}) }, null);
}

/** Cap durable: recipients that opened a message so far. */
export function delivered(d: SessionEvents["delivered"]): Line {
  return line(
    { event: "delivered", mid: d.mid, seq: d.seq, delivered: d.delivered, of: d.of },
    `* your message (seq ${d.seq}) was delivered to ${d.delivered} of ${d.of}`,
  );
}

/** Cap durable: a member's connection went or came back; it stays a member while away. */
export function presence(id: string, state: "online" | "away", entry: MemberEntry | null): Line {
  return line(
    { event: "presence", id, state },
    `* ${who(entry, id)} is ${state === "away" ? "away (messages are kept for them)" : "back"}`,
  );
}

/** Cap durable: part of what was sent while away is past retention. */
export function historyGap(g: SessionEvents["historyGap"]): Line {
  return line(
    { event: "historyGap", from: g.from, to: g.to },
    `* history gap: some messages sent while you were away are no longer kept (log entries ${g.from}-${g.to})`,
  );
}

export function sendFailed(f: SessionEvents["sendFailed"]): Line {
  return line(
    { event: "sendFailed", mid: f.mid, code: f.code, message: f.message },
    `! a message was not delivered (${f.code}: ${safe(f.message)})`,
  );
}

// ---- the connection and problems ---------------------------------------------------

/** A fatal error gets no line here: the exit message says it once. */
export function error(e: SessionEvents["error"]): Line {
  const json = { event: "error", code: e.code, message: e.message, ref: e.ref ?? null, fatal: e.fatal };
  return line(json, e.fatal ? null : `! ${safe(e.code)}: ${safe(e.message)}`);
}

export function invalid(reason: string): Line {
  return line({ event: "invalid", reason }, `! dropped a malformed message from the server: ${safe(reason)}`);
}

/** `core`: "host:port", for the line about not reaching it. */
export function disconnected(d: SessionEvents["disconnected"], core: string): Line {
  const retry = d.retryInMs === null ? "" : `; retrying in ${(d.retryInMs / 1000).toFixed(1)} s`;
  const human = d.everOnline
    ? `* connection lost (${safe(d.reason)})${retry}`
    : `* cannot reach the core at ${core} (${safe(d.reason)})${retry}`;
  return line({ event: "disconnected", reason: d.reason, retryInMs: d.retryInMs, attempt: d.attempt }, human);
}

export function commandError(message: string): Line {
  return line({ event: "commandError", message }, `! ${message}`);
}

export function notice(text: string): Line {
  return line({ event: "notice", text }, `* ${safe(text)}`);
}

export function help(text: string): Line {
  return line({ event: "help", text }, text);
}

// ---- video -------------------------------------------------------------------------

export function videos(items: VideoItem[]): Line {
  const lines = items.map(
    (v) =>
      `  ${safe(v.id)}  "${safe(v.title)}"  ${formatClock(v.durationMs)}  ${v.width}x${v.height}  ${v.fps} fps  ${formatBytes(v.bytes)}`,
  );
  return line(
    { event: "videos", items },
    items.length ? `* ${items.length} video(s):\n${lines.join("\n")}` : "* the server has no videos",
  );
}

/** `/subs`: the current video's tracks, numbered for `/subs N`. */
export function subtitleTracks(video: string | null, tracks: readonly SubtitleTrackInfo[]): Line {
  if (video === null) return line({ event: "subtitleTracks", video, tracks }, "* no stream is playing");
  if (tracks.length === 0) return line({ event: "subtitleTracks", video, tracks }, `* ${safe(video)} has no subtitles`);
  const rows = tracks.map((t, i) => `  ${i + 1}  ${safe(t.label)}  [${safe(t.lang)}, ${t.source}]`);
  return line(
    { event: "subtitleTracks", video, tracks },
    `* subtitles of ${safe(video)} (/subs N, /subs off):\n${rows.join("\n")}`,
  );
}

/** A chosen track's cues are in (with the reader's warnings, if any). */
export function subtitlesLoaded(video: string, track: string, cues: number, warnings: readonly string[]): Line {
  const extra = warnings.length ? ` (${warnings.map((w) => safe(w)).join("; ")})` : "";
  return line({ event: "subtitles", video, track, cues, warnings }, `* subtitles ready: ${cues} cue(s)${extra}`);
}

/** A stream's name in a line: its video when watched, else its sid. */
function streamName(sid: number, video: string | undefined): string {
  return video === undefined ? `stream ${sid}` : safe(video);
}

/** `by`: the member who started it, when known. */
export function stream(info: StreamInfo, by: MemberEntry | undefined): Line {
  const scope = info.scope === "room" ? `room stream started by ${who(by, info.by)}` : "just for you";
  return line(
    { event: "stream", ...info },
    `* ${safe(info.video)} ${info.state} at ${formatClock(info.posMs)}/${formatClock(info.durationMs)} (sid ${info.sid}, ${scope}, ${info.width}x${info.height})`,
  );
}

/** `video`: of the stream when watched; `by`: who changed it, when known. */
export function streamState(
  st: SessionEvents["streamState"],
  video: string | undefined,
  by: MemberEntry | undefined,
): Line {
  return line(
    { event: "streamState", ...st },
    `* ${streamName(st.sid, video)} ${st.state} at ${formatClock(st.posMs)} (by ${who(by, st.by)})`,
  );
}

export function streamEnd(sid: number, reason: StreamEnd, video: string | undefined): Line {
  return line({ event: "streamEnd", sid, reason }, `* ${streamName(sid, video)} ${streamEndWords(reason)}`);
}

export function streamStats(s: SessionEvents["streamStats"], fps: number, posMs: number): Line {
  return line({ event: "streamStats", sid: s.sid, sent: s.sent, dropped: s.dropped, fps, posMs }, null);
}

/** The terminal stopped drawing the stream; `video`: the current one, still playing, if any. */
export function unwatched(video: string | null, why: string | null): Line {
  const rest = video === null ? "" : `; ${safe(video)} goes on (/watch to see it again)`;
  return line({ event: "unwatched", video, reason: why }, `* back to chat${why ? ` (${why})` : ""}${rest}`);
}

/** --record: the file a frame went to (null: skipped, the disk is behind). */
export function recordedFrame(f: SessionEvents["frame"], file: string | null, presentAt: number | null = null): Line {
  // presentAt: the wall-clock ms (epoch) the stream clock presents this frame at, when the core announces one.
  return line(
    {
      event: "frame",
      sid: f.sid,
      frame: f.frame,
      ptsMs: f.ptsMs,
      bytes: f.jpeg.length,
      file,
      ...(presentAt !== null ? { presentAt } : {}),
    },
    null,
  );
}

export function audioTrack(a: SessionEvents["audioInfo"], file: string | null): Line {
  const human =
    a.track === null
      ? `stream ${a.sid}: no sound (${safe(a.reason ?? "none")})`
      : `stream ${a.sid}: audio track ${a.track + 1} (not played here${file ? `; recording to ${safe(file)}` : ""})`;
  return line({ event: "audio", sid: a.sid, track: a.track, reason: a.reason, file }, human);
}
