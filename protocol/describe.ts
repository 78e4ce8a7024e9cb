// The words every client uses for session facts (who someone is when their
// name is unknown, the order members are listed in, why someone left, why a
// stream ended), so the terminal client and the web app say the same thing.
// Pure; escaping for a terminal or a page stays with each client.
//
// Browser-safe: no node: imports.

import type { LeftReason, StreamEndReason } from "./messages";

/** Characters of a member id shown where no name is known. */
export const SHORT_ID_LENGTH = 8;

export function shortId(id: string): string {
  return id.slice(0, SHORT_ID_LENGTH);
}

/**
 * A member's name as shown; for an id with no name (never announced, or a
 * name that is empty) "unknown member 1a2b3c4d", so it never reads as a
 * name someone chose.
 */
export function displayName(name: string | null | undefined, id: string): string {
  return name ? name : `unknown member ${shortId(id)}`;
}

/** The software a member says it runs, or "unknown" when it did not say. */
export function agentName(agent: string | null | undefined): string {
  return agent ?? "unknown";
}

export interface Listed {
  self: boolean;
  /** When the member joined (ms epoch, the core's clock). */
  since: number;
  name: string;
}

/**
 * Member order in every list: yourself first, then by who came first (so a
 * list does not reshuffle when someone joins), then by name.
 */
export function compareMembers(a: Listed, b: Listed): number {
  return Number(b.self) - Number(a.self) || a.since - b.since || a.name.localeCompare(b.name);
}

const LEFT_WORDS: Record<LeftReason, string> = {
  quit: "left",
  closed: "disconnected",
  timeout: "timed out",
  error: "was disconnected after an error",
};

/** What follows a name when that member leaves: "bob timed out". */
export function leftWords(reason: LeftReason): string {
  return LEFT_WORDS[reason];
}

export type StreamEnd = StreamEndReason | "disconnected";

const STREAM_END_WORDS: Record<StreamEnd, string> = {
  finished: "finished",
  stopped: "stopped",
  replaced: "replaced by another video",
  error: "stopped by a server error",
  disconnected: "interrupted: the connection dropped",
};

/** What follows a video's title when its stream ends: "sample.mp4 replaced by another video". */
export function streamEndWords(reason: StreamEnd): string {
  return STREAM_END_WORDS[reason];
}
