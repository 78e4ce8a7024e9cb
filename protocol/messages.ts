// Every message of PROTOCOL.md as a runtime schema and a static type. Both
// directions are validated: the server trusts nothing a client sends, and
// clients trust nothing the server (or a bridge) relays.

import { z } from "zod";
import { isBase64 } from "./base64";
import { ID_RE } from "./names";
import { MAX_CAP_CHARS, MAX_CAPS } from "./caps";

const b64 = z.string().refine(isBase64, "not base64");
const id = z.string().regex(ID_RE, "not a member id");
const u32 = z.number().int().min(0).max(0xffffffff);
const ms = z.number().finite().min(0);
/** Visible ASCII only: mids are joined with '\n' into signed strings. */
const mid = z.string().regex(/^[\x21-\x7e]{1,64}$/, "mid must be 1-64 visible ASCII characters");

export const ENVELOPE_ALG = "RSA-OAEP-256+A256GCM";

export const Envelope = z.object({
  alg: z.literal(ENVELOPE_ALG),
  iv: b64.refine((s) => s.length === 16, "iv must be 12 bytes"),
  ct: b64.refine((s) => s.length >= 24, "ct shorter than a GCM tag"),
  keys: z.record(id, b64),
  sig: b64,
});
export type Envelope = z.infer<typeof Envelope>;

// ---- client to server -------------------------------------------------------

export const Hello = z.object({
  t: z.literal("hello"),
  v: z.number(),
  name: z.string(),
  room: z.string(),
  encKey: b64,
  sigKey: b64,
  encKeySig: b64,
  proof: b64,
  agent: z.string().max(64).optional(),
  /** Capabilities beyond v1 the client understands (protocol/caps.ts); unknown names are ignored. */
  caps: z.array(z.string().min(1).max(MAX_CAP_CHARS)).max(MAX_CAPS).optional(),
});
export type Hello = z.infer<typeof Hello>;

export const Ping = z.object({ t: z.literal("ping"), ts: z.number().finite() });
/** `now` (core ms on a monotonic clock with a fixed origin) only for a "clock" client. */
export const Pong = z.object({ t: z.literal("pong"), ts: z.number().finite(), now: z.number().finite().optional() });
export const Quit = z.object({ t: z.literal("quit") });

export const Send = z.object({
  t: z.literal("send"),
  mid,
  to: z
    .array(id)
    .min(1)
    .refine((a) => new Set(a).size === a.length, "duplicate recipient")
    .optional(),
  env: Envelope,
});
export type Send = z.infer<typeof Send>;

export const VideosRequest = z.object({ t: z.literal("videos") });

export const Play = z.object({
  t: z.literal("play"),
  video: z.string().min(1).max(255),
  scope: z.enum(["self", "room"]),
  fromMs: ms.optional(),
});
export type Play = z.infer<typeof Play>;

export const Control = z
  .object({
    t: z.literal("control"),
    sid: u32,
    action: z.enum(["pause", "resume", "seek", "stop"]),
    toMs: ms.optional(),
  })
  .refine((c) => c.action !== "seek" || c.toMs !== undefined, "seek needs toMs");
export type Control = z.infer<typeof Control>;

/** "audio" clients: this viewer's track of a stream; null = no sound. */
export const AudioTrackChoice = z.object({ t: z.literal("audioTrack"), sid: u32, track: z.number().int().min(0).max(255).nullable() });
export type AudioTrackChoice = z.infer<typeof AudioTrackChoice>;

export const CLIENT_SCHEMAS = {
  hello: Hello,
  ping: Ping,
  pong: Pong,
  quit: Quit,
  send: Send,
  videos: VideosRequest,
  play: Play,
  control: Control,
  audioTrack: AudioTrackChoice,
} as const;

export type ClientMessage = { [K in keyof typeof CLIENT_SCHEMAS]: z.infer<(typeof CLIENT_SCHEMAS)[K]> }[keyof typeof CLIENT_SCHEMAS];

// ---- server to client -------------------------------------------------------

export const Member = z.object({
  id,
  name: z.string(),
  encKey: b64,
  sigKey: b64,
  encKeySig: b64,
  agent: z.string().optional(),
  since: z.number(),
});
export type Member = z.infer<typeof Member>;

export const StreamInfo = z.object({
  sid: u32,
  video: z.string(),
  scope: z.enum(["self", "room"]),
  by: id,
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  fps: z.number().positive(),
  durationMs: ms,
  posMs: ms,
  state: z.enum(["playing", "paused"]),
});
export type StreamInfo = z.infer<typeof StreamInfo>;

export const Limits = z.object({
  maxFrame: z.number().int().positive(),
  maxEnvelope: z.number().int().positive(),
  maxRecipients: z.number().int().positive(),
});

export const Challenge = z.object({ t: z.literal("challenge"), v: z.number(), nonce: b64, server: z.string() });
export const Welcome = z.object({
  t: z.literal("welcome"),
  id,
  room: z.string(),
  members: z.array(Member),
  limits: Limits,
  stream: StreamInfo.nullable(),
});
export type Welcome = z.infer<typeof Welcome>;
export const Joined = z.object({ t: z.literal("joined"), member: Member });
export const Left = z.object({ t: z.literal("left"), id, reason: z.enum(["quit", "timeout", "closed", "error"]) });
export type LeftReason = z.infer<typeof Left>["reason"];
export const Msg = z.object({
  t: z.literal("msg"),
  from: id,
  mid,
  to: z.array(id),
  env: Envelope,
  at: z.number(),
});
export type Msg = z.infer<typeof Msg>;
export const Ack = z.object({ t: z.literal("ack"), mid, delivered: z.number().int().min(0) });
export const ErrorMsg = z.object({
  t: z.literal("error"),
  code: z.string(),
  message: z.string(),
  ref: z.string().optional(),
  fatal: z.boolean(),
});
export type ErrorMsg = z.infer<typeof ErrorMsg>;
export const VideoItem = z.object({
  id: z.string(),
  title: z.string(),
  durationMs: ms,
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  fps: z.number().positive(),
  bytes: z.number().int().min(0),
  /** Only for "audio" clients (docs/protocol.md 5a). */
  audio: z
    .object({
      tracks: z.array(
        z.object({
          index: z.number().int().min(0).max(255),
          language: z.string().max(16),
          title: z.string().max(100).nullable(),
          codec: z.string().max(32),
          channels: z.number().int().min(0),
          downmix: z.boolean(),
          problem: z.string().max(200).nullable(),
        }),
      ),
      noSound: z.string().max(300).nullable(),
    })
    .optional(),
});
export type VideoItem = z.infer<typeof VideoItem>;
export const VideosList = z.object({ t: z.literal("videos"), items: z.array(VideoItem) });
export const StreamStart = StreamInfo.extend({ t: z.literal("stream") });
export const StreamState = z.object({
  t: z.literal("streamState"),
  sid: u32,
  state: z.enum(["playing", "paused"]),
  posMs: ms,
  by: id,
});
export const StreamEnd = z.object({
  t: z.literal("streamEnd"),
  sid: u32,
  reason: z.enum(["finished", "stopped", "replaced", "error"]),
});
export type StreamEndReason = z.infer<typeof StreamEnd>["reason"];
export const StreamStats = z.object({ t: z.literal("streamStats"), sid: u32, sent: z.number().int().min(0), dropped: z.number().int().min(0) });

/** "audio" clients: the track this viewer hears from now on, before its first packet (or why none). */
export const AudioInfo = z.object({
  t: z.literal("audio"),
  sid: u32,
  track: z.number().int().min(0).max(255).nullable(),
  codec: z.literal("opus").optional(),
  rate: z.number().int().positive().optional(),
  channels: z.number().int().positive().optional(),
  /** The OpusHead (RFC 7845 5.1), base64: the decoder's description. */
  head: b64.optional(),
  /** Why there is no sound (track null). */
  reason: z.string().max(300).optional(),
});
export type AudioInfo = z.infer<typeof AudioInfo>;
/** "clock" clients: present pts at core time anchorCore + pts + delayMs (anchorCore null while paused). */
export const StreamClockMsg = z.object({
  t: z.literal("streamClock"),
  sid: u32,
  anchorCore: z.number().finite().nullable(),
  delayMs: z.number().int().min(0).max(5_000),
  posMs: ms,
});
export type StreamClockMsg = z.infer<typeof StreamClockMsg>;

export const SERVER_SCHEMAS = {
  challenge: Challenge,
  welcome: Welcome,
  joined: Joined,
  left: Left,
  msg: Msg,
  ack: Ack,
  error: ErrorMsg,
  ping: Ping,
  pong: Pong,
  videos: VideosList,
  stream: StreamStart,
  streamState: StreamState,
  streamEnd: StreamEnd,
  streamStats: StreamStats,
  audio: AudioInfo,
  streamClock: StreamClockMsg,
} as const;

export type ServerMessage = { [K in keyof typeof SERVER_SCHEMAS]: z.infer<(typeof SERVER_SCHEMAS)[K]> }[keyof typeof SERVER_SCHEMAS];
export type ServerMessageOf<T extends ServerMessage["t"]> = Extract<ServerMessage, { t: T }>;
export type ClientMessageOf<T extends ClientMessage["t"]> = Extract<ClientMessage, { t: T }>;
