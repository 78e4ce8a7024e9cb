// A stand-in for ClientSession in unit tests of the terminal client: the same
// events (through the real Emitter), members and streams set by the test, and
// the calls the client makes recorded instead of sent. No sockets, no crypto.

import { Emitter } from "../../protocol/emitter";
import type { Member, StreamInfo } from "../../protocol/messages";
import type { MemberEntry, SessionEvents, SessionState } from "../../protocol/session";

export type SessionCall =
  | { call: "sendText"; text: string; to: readonly string[] | undefined }
  | { call: "requestVideos" }
  | { call: "play"; video: string; scope: "self" | "room"; fromMs: number | undefined }
  | { call: "control"; sid: number; action: "pause" | "resume" | "seek" | "stop"; toMs: number | undefined };

export class FakeSession {
  state: SessionState = "online";
  readonly members = new Map<string, MemberEntry>();
  readonly streams = new Map<number, StreamInfo>();
  readonly calls: SessionCall[] = [];
  private readonly events = new Emitter<SessionEvents>((event, err) => {
    throw new Error(`listener for ${event} threw: ${String(err)}`);
  });
  private mids = 0;

  constructor(
    readonly name = "alice",
    readonly room = "room1",
    readonly selfId = "self0000id",
  ) {}

  on<E extends keyof SessionEvents>(event: E, listener: (payload: SessionEvents[E]) => void): () => void {
    return this.events.on(event, listener);
  }

  emit<E extends keyof SessionEvents>(event: E, payload: SessionEvents[E]): void {
    this.events.emit(event, payload);
  }

  /** Adds (or replaces) a member the session knows. */
  add(e: MemberEntry): MemberEntry {
    this.members.set(e.member.id, e);
    return e;
  }

  sendText(text: string, to?: readonly string[]): string {
    this.calls.push({ call: "sendText", text, to });
    return `mid${++this.mids}`;
  }

  requestVideos(): void {
    this.calls.push({ call: "requestVideos" });
  }

  play(video: string, scope: "self" | "room", fromMs?: number): void {
    this.calls.push({ call: "play", video, scope, fromMs });
  }

  control(sid: number, action: "pause" | "resume" | "seek" | "stop", toMs?: number): void {
    this.calls.push({ call: "control", sid, action, toMs });
  }
}

/** A member entry as the session would hold it; keys are placeholders (never verified here). */
export function entry(
  name: string,
  id: string,
  o: { self?: boolean; verified?: boolean; agent?: string; since?: number; safety?: string } = {},
): MemberEntry {
  const member: Member = {
    id,
    name,
    encKey: "AAAA",
    sigKey: Buffer.from(`sigkey-${id}`).toString("base64"),
    encKeySig: "AAAA",
    since: o.since ?? 1_700_000_000_000,
    ...(o.agent !== undefined ? { agent: o.agent } : {}),
  };
  return { member, verified: o.verified ?? true, safetyCode: o.safety ?? "1234 5678 9012", self: o.self ?? false };
}

/** A stream as the core announces it, with overrides. */
export function streamInfo(o: Partial<StreamInfo> = {}): StreamInfo {
  return {
    sid: 7,
    video: "sample.mp4",
    scope: "room",
    by: "bob00000id",
    width: 640,
    height: 360,
    fps: 30,
    durationMs: 125_000,
    posMs: 0,
    state: "playing",
    ...o,
  };
}
