// Every message of docs/protocol.md as a runtime schema and a static type. Both
// directions are validated: the server trusts nothing a client sends, and
// clients trust nothing the server (or a bridge) relays.
//
// Over 300 lines: one schema per message of the contract, a catalogue read by
// section; splitting it would split the contract.

import { z } from "zod";
import { isBase64 } from "./base64";
import { ID_RE } from "./names";
import { MAX_CAP_CHARS, MAX_CAPS } from "./caps";
import { EnvelopeV2Wire, KeyDistributionWire, MAX_KEY_DISTS, MemberV2Wire } from "./e2e/wire";

const b64 = z.string().refine(isBase64, "not base64");
const id = z.string().regex(ID_RE, "not a member id");
/** A room log's id (cap "durable", docs/protocol.md section 2c): base64url, 22 characters from this core. */
export const LOG_ID_RE = /^[A-Za-z0-9_-]{1,64}$/;
const logId = z.string().regex(LOG_ID_RE, "not a log id");
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
/** v2 rooms: one ciphertext under the sender's chain, one signature (docs/protocol.md section 12). */
export const AnyEnvelope = z.discriminatedUnion("alg", [Envelope, EnvelopeV2Wire]);
export type AnyEnvelope = z.infer<typeof AnyEnvelope>;
export type EnvelopeV2 = z.infer<typeof EnvelopeV2Wire>;

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
  /** Cap "durable": the last seq this client has of `room` (docs/protocol.md section 2c). */
  resume: z
    .object({ room: z.string().max(64), seq: z.number().int().min(0).max(Number.MAX_SAFE_INTEGER) })
    .strict()
    .optional(),
  /**
   * Cap "durable": the log id resume.seq counts in (welcome.log when the cursor
   * was kept). Beside `resume`, not in it: an older core refuses unknown keys
   * there but ignores them here. Absent from older clients; ignored without resume.
   */
  resumeLog: logId.optional(),
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
  env: AnyEnvelope,
});
export type Send = z.infer<typeof Send>;

/** v2: chain keys, each wrapped for one member, routed like direct messages. */
export const SendKeys = z.object({
  t: z.literal("keys"),
  dists: z.array(KeyDistributionWire).min(1).max(MAX_KEY_DISTS),
});

export const VideosRequest = z.object({ t: z.literal("videos") });

/** Cap "durable": this member has opened these messages (seqs of its room); the core relays counts to the sender. */
export const Receipt = z.object({
  t: z.literal("receipt"),
  seqs: z.array(z.number().int().min(1).max(Number.MAX_SAFE_INTEGER)).min(1).max(256),
});
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

/** Cap "library2": the cues of one subtitle track of a video (answered by subtitleCues pages). */
export const SubtitlesRequest = z.object({
  t: z.literal("subtitles"),
  video: z.string().min(1).max(255),
  track: z.string().min(1).max(300),
});
/** Cap "library2": the poster frame of a video (answered by poster). */
export const PosterRequest = z.object({ t: z.literal("poster"), video: z.string().min(1).max(255) });
/** "audio" clients: this viewer's track of a stream; null = no sound. */
export const AudioTrackChoice = z.object({
  t: z.literal("audioTrack"),
  sid: u32,
  track: z.number().int().min(0).max(255).nullable(),
});
export type AudioTrackChoice = z.infer<typeof AudioTrackChoice>;

export const CLIENT_SCHEMAS = {
  hello: Hello,
  ping: Ping,
  pong: Pong,
  quit: Quit,
  send: Send,
  keys: SendKeys,
  receipt: Receipt,
  videos: VideosRequest,
  play: Play,
  control: Control,
  subtitles: SubtitlesRequest,
  poster: PosterRequest,
  audioTrack: AudioTrackChoice,
} as const;

export type ClientMessage = {
  [K in keyof typeof CLIENT_SCHEMAS]: z.infer<(typeof CLIENT_SCHEMAS)[K]>;
}[keyof typeof CLIENT_SCHEMAS];

// ---- server to client -------------------------------------------------------

export const Member = z.object({
  id,
  name: z.string(),
  encKey: b64,
  sigKey: b64,
  encKeySig: b64,
  agent: z.string().optional(),
  since: z.number(),
  /** v2 rooms only: the member's v2 keys and admission proof, checked by every member. */
  v2: MemberV2Wire.optional(),
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
  /** Cap "durable": the id of this room's log, kept beside the cursor and sent back in hello.resume. */
  log: logId.optional(),
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
  env: AnyEnvelope,
  at: z.number(),
  /** Cap "durable": the message's place in the room log. */
  seq: z.number().int().min(1).optional(),
});
export type Msg = z.infer<typeof Msg>;
export const KeysMsg = z.object({ t: z.literal("keys"), dist: KeyDistributionWire, at: z.number().finite().min(0) });
/** `seq` (cap "durable"): the message is stored under it; `delivered` counts the recipients online when it was. */
export const Ack = z.object({
  t: z.literal("ack"),
  mid,
  delivered: z.number().int().min(0),
  seq: z.number().int().min(1).optional(),
});
// ---- cap "durable" (docs/protocol.md section 2c) ----
export const Presence = z.object({ t: z.literal("presence"), id, state: z.enum(["online", "away"]) });
export const Delivered = z.object({
  t: z.literal("delivered"),
  mid,
  seq: z.number().int().min(1),
  delivered: z.number().int().min(0),
  of: z.number().int().min(0),
});
/** The replay after hello.resume is complete: everything up to `seq` has been sent. */
export const Resumed = z.object({ t: z.literal("resumed"), seq: z.number().int().min(0), log: logId.optional() });
/** Entries from..to of the log are gone (retention) before the replay: messages may be missing there. */
export const HistoryGap = z.object({
  t: z.literal("historyGap"),
  from: z.number().int().min(1),
  to: z.number().int().min(0),
});
export const ErrorMsg = z.object({
  t: z.literal("error"),
  code: z.string(),
  message: z.string(),
  ref: z.string().optional(),
  fatal: z.boolean(),
});
export type ErrorMsg = z.infer<typeof ErrorMsg>;
export const SubtitleTrackInfo = z.object({
  id: z.string().min(1).max(300),
  lang: z.string().max(35),
  label: z.string().max(200),
  source: z.enum(["file", "embedded"]),
  default: z.literal(true).optional(),
  forced: z.literal(true).optional(),
});
export type SubtitleTrackInfo = z.infer<typeof SubtitleTrackInfo>;
export const CueSpanWire = z.object({
  text: z.string(),
  italic: z.literal(true).optional(),
  bold: z.literal(true).optional(),
});
/** One cue: plain text (never markup) shown from startMs until endMs of the stream clock. */
export const CueWire = z.object({
  startMs: ms,
  endMs: ms,
  text: z.string().max(10_000),
  spans: z.array(CueSpanWire).max(256).optional(),
  top: z.literal(true).optional(),
});
export type CueWire = z.infer<typeof CueWire>;
/** Cap "library2": one page of a track's cues; a track is pages 0..pages-1, in order. */
export const SubtitleCues = z.object({
  t: z.literal("subtitleCues"),
  video: z.string(),
  track: z.string(),
  page: z.number().int().min(0),
  pages: z.number().int().min(1).max(10_000),
  cues: z.array(CueWire),
  warnings: z.array(z.string().max(500)).max(16).optional(),
});
export type SubtitleCues = z.infer<typeof SubtitleCues>;
/** Cap "library2": a poster JPEG, base64. */
export const PosterMsg = z.object({
  t: z.literal("poster"),
  video: z.string(),
  key: z.string().max(64),
  mime: z.literal("image/jpeg"),
  data: b64,
});
export type PosterMsg = z.infer<typeof PosterMsg>;
/** Cap "library2": the library folder changed; ask for `videos` again. */
export const VideosChanged = z.object({ t: z.literal("videosChanged") });
export const VideoItem = z.object({
  id: z.string(),
  title: z.string(),
  durationMs: ms,
  width: z.number().int().positive(),
  height: z.number().int().positive(),
  fps: z.number().positive(),
  bytes: z.number().int().min(0),
  /** Cap "library2" only. */
  subtitles: z.array(SubtitleTrackInfo).max(64).optional(),
  /** Cap "library2" only: a version key of the poster to ask for, null when there is none. */
  poster: z.string().max(64).nullable().optional(),
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
export const StreamStats = z.object({
  t: z.literal("streamStats"),
  sid: u32,
  sent: z.number().int().min(0),
  dropped: z.number().int().min(0),
});

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
  keys: KeysMsg,
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
  subtitleCues: SubtitleCues,
  poster: PosterMsg,
  videosChanged: VideosChanged,
  audio: AudioInfo,
  streamClock: StreamClockMsg,
} as const;

export type ServerMessage = {
  [K in keyof typeof SERVER_SCHEMAS]: z.infer<(typeof SERVER_SCHEMAS)[K]>;
}[keyof typeof SERVER_SCHEMAS];
export type ServerMessageOf<T extends ServerMessage["t"]> = Extract<ServerMessage, { t: T }>;
export type ClientMessageOf<T extends ClientMessage["t"]> = Extract<ClientMessage, { t: T }>;
