// Every message of docs/protocol.md as a runtime schema and a static type. Both
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
  /** Cap "durable": the last seq this client has of `room` (docs/protocol.md section 2b). */
  resume: z.object({ room: z.string().max(64), seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) }).strict().optional(),
});
export type Hello = z.infer<typeof Hello>;

export const Ping = z.object({ t: z.literal("ping"), ts: z.number().finite() });
export const Pong = z.object({ t: z.literal("pong"), ts: z.number().finite() });
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

/** Cap "durable": this member has opened these messages (seqs of its room); the core relays counts to the sender. */
export const Receipt = z.object({ t: z.literal("receipt"), seqs: z.array(z.number().int().min(1).max(Number.MAX_SAFE_INTEGER)).min(1).max(256) });
export type Receipt = z.infer<typeof Receipt>;

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

export const CLIENT_SCHEMAS = {
  hello: Hello,
  ping: Ping,
  pong: Pong,
  quit: Quit,
  send: Send,
  receipt: Receipt,
  videos: VideosRequest,
  play: Play,
  control: Control,
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
  /** Cap "durable" only: an away member is still a member (seal for it); absent means online. */
  presence: z.enum(["online", "away"]).optional(),
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
  /** Cap "durable": the message's place in the room log. */
  seq: z.number().int().min(1).optional(),
});
export type Msg = z.infer<typeof Msg>;
/** `seq` (cap "durable"): the message is stored under it; `delivered` counts the recipients online when it was. */
export const Ack = z.object({ t: z.literal("ack"), mid, delivered: z.number().int().min(0), seq: z.number().int().min(1).optional() });
// ---- cap "durable" (docs/protocol.md section 2b) ----
export const Presence = z.object({ t: z.literal("presence"), id, state: z.enum(["online", "away"]) });
export const Delivered = z.object({
  t: z.literal("delivered"),
  mid,
  seq: z.number().int().min(1),
  delivered: z.number().int().min(0),
  of: z.number().int().min(0),
});
/** The replay after hello.resume is complete: everything up to `seq` has been sent. */
export const Resumed = z.object({ t: z.literal("resumed"), seq: z.number().int().min(0) });
/** Entries from..to of the log are gone (retention) before the replay: messages may be missing there. */
export const HistoryGap = z.object({ t: z.literal("historyGap"), from: z.number().int().min(1), to: z.number().int().min(0) });
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

export const SERVER_SCHEMAS = {
  challenge: Challenge,
  welcome: Welcome,
  joined: Joined,
  left: Left,
  msg: Msg,
  ack: Ack,
  presence: Presence,
  delivered: Delivered,
  resumed: Resumed,
  historyGap: HistoryGap,
  error: ErrorMsg,
  ping: Ping,
  pong: Pong,
  videos: VideosList,
  stream: StreamStart,
  streamState: StreamState,
  streamEnd: StreamEnd,
  streamStats: StreamStats,
} as const;

export type ServerMessage = { [K in keyof typeof SERVER_SCHEMAS]: z.infer<(typeof SERVER_SCHEMAS)[K]> }[keyof typeof SERVER_SCHEMAS];
export type ServerMessageOf<T extends ServerMessage["t"]> = Extract<ServerMessage, { t: T }>;
export type ClientMessageOf<T extends ClientMessage["t"]> = Extract<ClientMessage, { t: T }>;
