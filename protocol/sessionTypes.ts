// What a client session promises its users: the events it emits, the options
// it takes, its states and defaults. Types and constants only, so the native
// client, the web app and tests can name them without the session itself.

import type { BackoffOptions } from "./backoff";
import type { Identity } from "./crypto";
import type { ReceivedMessage } from "./inbox";
import type { KeyChange, KeyStore } from "./keyContinuity";
import { CLIENT_PING_MS } from "./limits";
import type { MemberEntry } from "./members";
import type { ErrorMsg, LeftReason, StreamEndReason, StreamInfo, VideoItem, Welcome } from "./messages";
import type { ReceivedFrame } from "./videoChunk";
import type { SubtitleTrackCues } from "./subtitlePages";
import type { GroupSessionLimits } from "./e2e/groupSession";
import type { RoomKeys } from "./e2e/roomSecret";
import type { V2KeyStore } from "./e2e/keyStore2";
import type { Connector } from "./transport";
import type { CursorStore } from "./resume";

export type SessionState = "connecting" | "online" | "reconnecting" | "closed";

export type SessionLimits = Welcome["limits"];

export type { MemberEntry } from "./members";
export type { ReceivedMessage } from "./inbox";

export interface SessionEvents {
  state: SessionState;
  welcome: {
    id: string;
    room: string;
    members: MemberEntry[];
    limits: SessionLimits;
    stream: StreamInfo | null;
    reconnected: boolean;
  };
  /** `again`: a member already known came back with a new name or agent (replacement). */
  joined: { entry: MemberEntry; again: boolean };
  left: { id: string; reason: LeftReason; entry: MemberEntry | null };
  message: ReceivedMessage;
  /** `seq` (cap durable): the message is stored under it; an ack means stored. */
  ack: { mid: string; delivered: number; seq?: number };
  /** Cap durable: recipients that opened message `mid` so far, of `of`. */
  delivered: { mid: string; seq: number; delivered: number; of: number };
  /** Cap durable: a member's connection came or went; it stays a member while away. */
  presence: { id: string; state: "online" | "away"; entry: MemberEntry | null };
  /** Cap durable: the replay after a reconnect is complete. */
  resumed: { seq: number };
  /** Cap durable: log entries from..to were gone (retention) before the replay: messages may be missing there. */
  historyGap: { from: number; to: number };
  /** A send given up on: it will not be delivered. */
  sendFailed: { mid: string; code: string; message: string };
  /** Every `error` from the server, as received. */
  error: ErrorMsg;
  /** An incoming frame that was dropped because it is malformed. */
  invalid: { reason: string };
  disconnected: { reason: string; retryInMs: number | null; attempt: number; everOnline: boolean };
  /** The session ended for good: after stop(), a fatal error that would repeat, or `replaced`. */
  closed: { reason: string; error: ErrorMsg | null };
  keyChanged: KeyChange;
  videos: VideoItem[];
  stream: StreamInfo;
  streamState: { sid: number; state: "playing" | "paused"; posMs: number; by: string };
  streamEnd: { sid: number; reason: StreamEndReason | "disconnected" };
  streamStats: { sid: number; sent: number; dropped: number };
  frame: ReceivedFrame;
  /** Cap "library2": a whole subtitle track, once its last page is in. */
  subtitles: SubtitleTrackCues;
  /** Cap "library2": a poster JPEG. */
  poster: { video: string; key: string; mime: "image/jpeg"; jpeg: Uint8Array };
  /** Cap "library2": the library changed; ask for videos again. */
  videosChanged: Record<string, never>;
  /** "audio" sessions: the track a stream's packets are from now on (or why none), then its packets. */
  audioInfo: { sid: number; track: number | null; head: Uint8Array | null; channels: number; reason: string | null };
  audio: {
    sid: number;
    track: number;
    seq: number;
    ptsSamples: number;
    durationSamples: number;
    discontinuity: boolean;
    data: Uint8Array;
  };
  /** "clock" sessions: pts is presented at core time anchorCore + pts + delayMs (null anchor: paused or waiting). */
  streamClock: { sid: number; anchorCore: number | null; delayMs: number; posMs: number };
}

export type LogLevel = "debug" | "info" | "warn";

export interface SessionOptions {
  identity: Identity;
  /** Already canonical (trimmed, NFC); the constructor throws otherwise. */
  name: string;
  room: string;
  agent: string;
  /** Capabilities beyond v1 this client declares in hello (protocol/caps.ts). */
  caps?: readonly string[];
  /** Cap durable with cursors kept here between runs (protocol/resume.ts): resume after a reconnect or restart. */
  cursors?: CursorStore;
  /** Cap durable with cursors in memory only (resume across reconnects of this session). */
  durable?: boolean;
  connect: Connector;
  /** Backoff bounds; false: never reconnect. Default 250 ms .. 15 s. */
  reconnect?: BackoffOptions | false;
  log?: (level: LogLevel, message: string) => void;
  keyStore?: KeyStore;
  /** Ping after this long without sending anything. */
  pingMs?: number;
  /** Drop the connection after this long without receiving anything. */
  deadMs?: number;
  /** Give up a connection attempt that has not reached `welcome` after this long. */
  handshakeMs?: number;
  /** Unacknowledged sends kept for resending. */
  maxPending?: number;
  /** After a reconnect, how long a pending message waits for its recipients to come back. */
  recipientWaitMs?: number;
  /** (from, mid) pairs remembered to drop repeats. */
  maxSeen?: number;
  random?: () => number;
  /** v2: the keys derived from the room link's secret; the room must be the one they name (docs/protocol.md section 12). */
  roomKeys?: RoomKeys;
  /** v2: where this member's v2 keys are kept between sessions (protocol/e2e/keyStore2.ts); default in memory. */
  v2KeyStore?: V2KeyStore;
  /** v2: the early-message queue's bounds (protocol/e2e/groupSession.ts GROUP_SESSION_LIMITS). */
  v2Limits?: Partial<GroupSessionLimits>;
}

/** Hello rejections and other fatal errors that would only repeat on reconnect. */
export const NO_RETRY_CODES: ReadonlySet<string> = new Set([
  "bad_name",
  "name_taken",
  "bad_room",
  "bad_key",
  "bad_proof",
  "unsupported_version",
  "bad_hello",
  "replaced",
  "version",
  "not_admitted",
]);

export const SESSION_DEFAULTS = {
  reconnect: { minMs: 250, maxMs: 15_000 },
  pingMs: CLIENT_PING_MS,
  deadMs: 3 * CLIENT_PING_MS,
  handshakeMs: 15_000,
  maxPending: 1_000,
  recipientWaitMs: 5_000,
  maxSeen: 10_000,
  /** Queued incoming frames past which video is dropped and control floods close the connection. */
  maxInbox: 10_000,
  maxInboxVideo: 256,
  maxSendRetries: 3,
  rateLimitRetryMs: 1_000,
} as const;
