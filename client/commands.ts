// What a line of input means. Pure: parsing here, acting in app.ts.

import { parseClock } from "./terminalText";

export type Command =
  | { kind: "say"; text: string }
  | { kind: "msg"; rest: string }
  | { kind: "who" }
  | { kind: "invite" }
  | { kind: "whois"; target: string }
  | { kind: "quit" }
  | { kind: "help" }
  | { kind: "videos" }
  | { kind: "play"; video: string; scope: "self" | "room"; fromMs?: number; tty?: true }
  | { kind: "watch" }
  | { kind: "unwatch" }
  | { kind: "pause" }
  | { kind: "resume" }
  | { kind: "seek"; toMs: number }
  | { kind: "stop" }
  | { kind: "subs"; arg: string | null }
  | { kind: "invalid"; message: string };

export const HELP = `Commands:
  TEXT                      send TEXT to everyone in the room (start with // to send a leading /)
  /msg NAME TEXT            send TEXT only to NAME (a name, case-insensitive, or an id prefix)
  /who                      members with their safety codes and agents (and who the room link did not admit)
  /invite                   the room link others join with (v2 rooms)
  /whois NAME               a member's id, safety code and full key fingerprint
  /videos                   the server's video catalogue
  /play ID [--room] [--from 0:05] [--tty]   watch a video (alone, or with --room the whole room; --tty: draw it here)
  /pause, /resume, /seek 0:05, /stop   control the current stream
  /watch                    draw the current stream in this terminal (any key: back to chat, the stream goes on)
                            (this client plays no sound; the status line shows the audio track, --record DIR saves it as .opus)
  /unwatch                  stop drawing it (the stream stays watched)
  /subs [N|LANG|off]        the current video's subtitle tracks, or choose one (shown under the status line)
  /help                     this list
  /quit                     leave`;

/** Null for a blank line. */
export function parseCommand(line: string): Command | null {
  const trimmed = line.replace(/\r$/, "");
  if (trimmed.trim() === "") return null;
  if (trimmed.startsWith("//")) return { kind: "say", text: trimmed.slice(1) };
  if (!trimmed.startsWith("/")) return { kind: "say", text: trimmed };
  const m = /^\/(\S+)\s*(.*)$/s.exec(trimmed)!;
  const name = m[1].toLowerCase();
  const rest = m[2].trim();
  const noArgs = (c: Command): Command => (rest ? { kind: "invalid", message: `/${name} takes no arguments` } : c);
  switch (name) {
    case "msg":
    case "m":
      return rest ? { kind: "msg", rest } : { kind: "invalid", message: "usage: /msg NAME TEXT" };
    case "who":
      return noArgs({ kind: "who" });
    case "invite":
      return noArgs({ kind: "invite" });
    case "whois":
      return rest ? { kind: "whois", target: rest } : { kind: "invalid", message: "usage: /whois NAME" };
    case "quit":
    case "exit":
      return { kind: "quit" };
    case "help":
    case "?":
      return { kind: "help" };
    case "videos":
      return noArgs({ kind: "videos" });
    case "play":
      return parsePlay(rest);
    case "watch":
      return noArgs({ kind: "watch" });
    case "unwatch":
      return noArgs({ kind: "unwatch" });
    case "pause":
      return noArgs({ kind: "pause" });
    case "resume":
      return noArgs({ kind: "resume" });
    case "stop":
      return noArgs({ kind: "stop" });
    case "subs":
    case "subtitles":
      return { kind: "subs", arg: rest === "" ? null : rest };
    case "seek": {
      const toMs = parseClock(rest);
      return toMs === null ? { kind: "invalid", message: "usage: /seek 0:05" } : { kind: "seek", toMs };
    }
    default:
      return { kind: "invalid", message: `unknown command /${name} (try /help)` };
  }
}

function parsePlay(rest: string): Command {
  const usage: Command = { kind: "invalid", message: "usage: /play ID [--room] [--from 0:05] [--tty]" };
  const words = rest.split(/\s+/).filter(Boolean);
  let video: string | undefined;
  let scope: "self" | "room" = "self";
  let fromMs: number | undefined;
  let tty = false;
  for (let i = 0; i < words.length; i++) {
    const w = words[i];
    if (w === "--room") scope = "room";
    else if (w === "--tty") tty = true;
    else if (w === "--from") {
      const t = words[++i] === undefined ? null : parseClock(words[i]);
      if (t === null) return usage;
      fromMs = t;
    } else if (w.startsWith("--") || video !== undefined) return usage;
    else video = w;
  }
  if (video === undefined) return usage;
  const cmd: Command = fromMs === undefined ? { kind: "play", video, scope } : { kind: "play", video, scope, fromMs };
  return tty ? { ...cmd, tty: true } : cmd;
}

export interface Named {
  id: string;
  name: string;
}

export type Resolved<T> = { ok: true; member: T; text: string } | { ok: false; message: string };

const MIN_ID_PREFIX = 4;

/**
 * `/msg` target and text from "NAME TEXT": the longest run of leading words
 * that is a member's name (names may hold spaces), else an id prefix of at
 * least 4 characters that fits exactly one member.
 */
export function resolveTarget<T extends Named>(members: readonly T[], rest: string, needText: boolean): Resolved<T> {
  const words = rest.split(/ +/);
  const key = (s: string) => s.normalize("NFC").toLowerCase();
  for (let n = words.length - (needText ? 1 : 0); n >= 1; n--) {
    const candidate = key(words.slice(0, n).join(" "));
    const hit = members.find((m) => key(m.name) === candidate);
    if (hit) return { ok: true, member: hit, text: words.slice(n).join(" ") };
  }
  if (needText && members.some((m) => key(m.name) === key(rest)))
    return { ok: false, message: "usage: /msg NAME TEXT (no text given)" };
  const first = words[0];
  if (first.length >= MIN_ID_PREFIX) {
    const hits = members.filter((m) => m.id.startsWith(first));
    if (hits.length === 1) return { ok: true, member: hits[0], text: words.slice(1).join(" ") };
    if (hits.length > 1)
      return { ok: false, message: `id prefix ${first} fits ${hits.length} members; give more of it` };
  }
  return { ok: false, message: `no member named ${needText ? first : rest}` };
}
