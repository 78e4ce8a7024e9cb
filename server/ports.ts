// The ports of the core's logic: what room and stream logic may do with a
// connection without knowing it is a socket, and the video side as the hub
// sees it. The connection (server/connection.ts) implements it; unit tests
// can use a plain object.

import type { Cap } from "../protocol/caps";
import type { ClientMessageOf, ServerMessage, StreamInfo } from "../protocol/messages";

/**
 * One chunk of a video frame on the wire: `head` is the 5-byte frame header
 * plus the 16-byte chunk header, `data` a slice of the cached JPEG. Both are
 * built once per stream and frame and written to every viewer as they are.
 */
export interface WireChunk {
  head: Buffer;
  data: Buffer;
}

export interface VideoFrameOut {
  sid: number;
  frame: number;
  chunks: readonly WireChunk[];
  bytes: number;
}

/**
 * AUDIO frames for one viewer: `head` (frame header + 16-byte packet header)
 * built once per stream and packet, `data` the cached Opus packet; or, for
 * several packets of one tick, `head` holds the whole frames and `data` is empty.
 */
export interface AudioPacketOut {
  sid: number;
  /** The tick's whole AUDIO frames, built once per lane. */
  head: Buffer;
  /**
   * Filled by the outbox: per frame variant offered with these packets, the
   * packets followed by that frame's first chunk header in one Buffer (so it
   * is built once per lane and variant, not per viewer).
   */
  leads?: Map<VideoFrameOut, Buffer>;
}

export interface Peer {
  /** Unique per connection for the life of the server process. */
  readonly connId: number;
  readonly memberId: string;
  readonly room: string;
  /** What the client declared it understands beyond v1 (empty for a v1 client). */
  readonly caps: ReadonlySet<Cap>;
  sendControl(msg: ServerMessage): void;
  /** A control frame already encoded (shared between recipients). */
  sendFrame(frame: Buffer): void;
  /**
   * Queues every chunk of a frame unless this viewer is backed up (video still
   * queued, and more than maxQueuedVideoBytes not yet written with this frame);
   * returns false when skipped. `audio` ("audio" viewers): this tick's AUDIO
   * frames, written before the frame and taken even when the frame is skipped,
   * unless the viewer's audio backlog is full (maxQueuedAudioBytes).
   */
  offerVideo(frame: VideoFrameOut, audio?: AudioPacketOut | null): boolean;
  /**
   * Drops queued chunks of `sid`. With keepBegun, the rest of a frame whose
   * first chunk already went out stays queued (after a pause); without it
   * nothing more of the sid's queued chunks goes out (seek, end).
   */
  purgeVideo(sid: number, keepBegun: boolean): void;
  /** Drops queued audio packets of `sid` (pause, seek, track change, end). */
  purgeAudio?(sid: number): void;
}

/** What the hub additionally needs of a member's connection. */
export interface MemberPeer extends Peer {
  /**
   * Charges a `msg` frame of `bytes` for `recipients` to this sender's send
   * budget. False: deliver nothing; the connection has already told the
   * sender (`rate_limited`, ref `mid`) or closed it, as for frames.
   */
  chargeSend(bytes: number, recipients: number, mid: string): boolean;
  /** Binds the connection to its member after a successful hello. */
  admit(memberId: string, room: string, caps: ReadonlySet<Cap>): void;
  /** True once the connection is gone (a hub await may outlive it). */
  readonly isClosed?: boolean;
  /** Bytes queued for it (a replay waits while this is high). */
  readonly queuedBytes?: number;
  /** Ends the connection with a fatal error; the hub has already dropped it. */
  fail(code: "replaced" | "internal", message: string): void;
}

/** The video side, as the hub sees it (implemented by server/video/streamManager.ts). */
export interface VideoService {
  roomStream(room: string): StreamInfo | null;
  /** After `welcome`: a late joiner starts receiving the room's stream. */
  join(peer: Peer): void;
  /** The connection is gone or replaced: end its self stream, stop sending. */
  leave(peer: Peer): void;
  roomEmpty(room: string): void;
  handle(peer: Peer, msg: ClientMessageOf<"videos" | "play" | "control" | "subtitles" | "poster" | "audioTrack">): void;
  close(): void;
  /** A room just loaded from the store after a restart (server/streamState.ts restores its stream). */
  load?(room: string): Promise<void>;
}
