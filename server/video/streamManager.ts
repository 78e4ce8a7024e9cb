// Streams of a core: `videos`, `play` and `control` (docs/protocol.md sections 5,
// 6 and 9). One Pacer per stream drives it; each frame is cut into chunks
// once and the same Buffers go to every viewer; a viewer that is backed up is
// skipped a frame rather than buffered. Each stream reads its video through
// its own VideoReader, which is how decoding knows how far ahead to go; a
// play or seek that would need one ffmpeg too many is refused (server_full).
//
// In a cluster a room stream instead follows the party's shared anchor
// (followRoom, driven by server/cluster/sharedStream.ts), paced from it.
//
// Over 300 lines: play/control/fan-out of one stream set; sound
// (audioFanout.ts), small frames (small-variant.ts) and encoding (wire.ts) are
// already out. Next to split: play() and its refusals, then followRoom.

import type {
  AudioTrackChoice,
  ClientMessageOf,
  Control,
  Play,
  ServerMessage,
  StreamEndReason,
  StreamInfo,
  VideoItem,
} from "../../protocol/messages";
import type { AudioPacketCache } from "../audio/cache";
import type { AudioProbeCache, AudioSummary } from "../audio/probeCache";
import { StreamAudio } from "./audioFanout";
import type { Peer, VideoFrameOut, VideoService } from "../ports";
import { chunkFrame, controlFrame } from "../wire";
import type { LibraryService } from "../library/library-service";
import type { Catalogue } from "./catalogue";
import { outputSize, type DecodedVideo, type FrameCache, type VideoReader } from "./frames";
import { VIDEO_LIMITS } from "./limits";
import { Pacer } from "./pacer";
import { SMALL_VIDEO_WIDTH, SmallVariant, type SmallSource } from "./small-variant";
import type { VideoFrame } from "./types";
import type { Logger } from "../log";

interface Viewer {
  peer: Peer;
  sent: number;
  dropped: number;
}

interface Stream {
  info: Omit<StreamInfo, "posMs" | "state">;
  room: string;
  decoded: DecodedVideo;
  reader: VideoReader;
  pacer: Pacer;
  viewers: Map<number, Viewer>;
  /** The same stream at the size of cap "smallVideo" viewers; opened when the first one watches (small-variant.ts). */
  small: SmallVariant | null;
  source: SmallSource;
  /** The sound of the stream, for "audio" viewers; null without an audio cache. */
  audio: StreamAudio | null;
  /** The anchor last announced to "clock" viewers (streamClock). */
  clockSent: number | null;
  /** A room stream that follows a cluster's shared anchor (followRoom): the party's key there; else null. */
  followKey: number | null;
}

/**
 * Where a room's party is, as a cluster's shared anchor says
 * (server/cluster/sharedStream.ts): the frame of pts P is due at core time
 * `atCore + (P - posMs)` on every core.
 */
export interface RoomAnchor {
  /** The party's id across cores: another key is another stream (this core's sid is its own). */
  key: number;
  video: string;
  /** Who started the party (stream.by). */
  by: string;
  /** Who made the last change (streamState.by). */
  ctl: string;
  state: "playing" | "paused";
  posMs: number;
  /** Core clock (performance.now, the Pacer's) at which the party is at posMs. */
  atCore: number;
}

/** Told when a followed room stream ends here (a finish on one core ends the party for all). */
export type FollowedEnd = (room: string, key: number, reason: StreamEndReason) => void;

export interface StreamManagerOptions {
  catalogue: Catalogue;
  frames: FrameCache;
  log: Logger;
  maxStreams: number;
  /** streamStats cadence. */
  statsMs?: number;
  /** Subtitles, posters and library changes for cap "library2" clients. */
  library?: LibraryService;
  /** Frame width for cap "smallVideo" viewers (LIBRARY_DEFAULTS.smallVideoWidth). */
  smallWidth?: number;
  /** Sound (server/audio): packets decoded once per (file, track), tracks probed once per file. */
  audio?: {
    cache: AudioPacketCache;
    probes: AudioProbeCache;
    /** The picture waits at most this long at a start, seek or resume for the sound there (VIDEO_LIMITS.soundStartWaitMs). */
    startWaitMs?: number;
  };
  /** What "clock" viewers add to anchor + pts before presenting (streamClock.delayMs). */
  playoutDelayMs?: number;
  /** A followed stream's frame later than this past its due time is passed over (Pacer pinnedLateMs); default half the playout delay. */
  followLateMs?: number;
}

/** The peers watching a stream. */
function viewerPeers(s: { viewers: ReadonlyMap<number, { peer: Peer }> }): Iterable<Peer> {
  return [...s.viewers.values()].map((v) => v.peer);
}

/** One message to many peers (those `to` keeps), encoded once and shared. */
function broadcast(peers: Iterable<Peer>, msg: ServerMessage, to: (p: Peer) => boolean = () => true): void {
  let frame: Buffer | null = null;
  for (const p of peers) if (to(p)) p.sendFrame((frame ??= controlFrame(msg)));
}

/** The catalogue's `audio` field from a probe summary. */
function audioField(a: AudioSummary): NonNullable<VideoItem["audio"]> {
  return {
    tracks: a.tracks.map((t) => ({
      index: t.index,
      language: t.language,
      title: t.title,
      codec: t.codec,
      channels: t.channels,
      downmix: t.downmix,
      problem: t.problem,
    })),
    noSound: a.noSound,
  };
}

export class StreamManager implements VideoService {
  private streams = new Map<number, Stream>();
  private roomStreams = new Map<string, Stream>();
  private selfStreams = new Map<number, Stream>();
  /** Members per room, as the hub reports them: room streams reach all of them. */
  private rooms = new Map<string, Map<number, Peer>>();
  private nextSid = 1;
  private followedEnd: FollowedEnd | null = null;
  private statsTimer: ReturnType<typeof setInterval>;

  constructor(private readonly opts: StreamManagerOptions) {
    this.statsTimer = setInterval(() => this.sendStats(), opts.statsMs ?? 1000);
    this.statsTimer.unref();
    opts.library?.onChanged(() => {
      for (const members of this.rooms.values())
        for (const p of members.values()) if (p.caps.has("library2")) p.sendControl({ t: "videosChanged" });
    });
  }

  get count(): number {
    return this.streams.size;
  }

  roomStream(room: string): StreamInfo | null {
    const s = this.roomStreams.get(room);
    return s ? this.infoOf(s) : null;
  }

  join(peer: Peer): void {
    let members = this.rooms.get(peer.room);
    if (!members) this.rooms.set(peer.room, (members = new Map()));
    members.set(peer.connId, peer);
    // `welcome` already described the stream; frames follow from the current position.
    const s = this.roomStreams.get(peer.room);
    if (!s) return;
    s.viewers.set(peer.connId, { peer, sent: 0, dropped: 0 });
    s.audio?.add(peer, s.pacer.positionMs);
    this.sendClock(s, [peer]);
  }

  leave(peer: Peer): void {
    const members = this.rooms.get(peer.room);
    if (members?.get(peer.connId) === peer) {
      members.delete(peer.connId);
      if (members.size === 0) this.rooms.delete(peer.room);
    }
    const own = this.selfStreams.get(peer.connId);
    if (own) this.end(own, "stopped");
    const s = this.roomStreams.get(peer.room);
    if (s?.viewers.delete(peer.connId)) s.audio?.remove(peer);
  }

  roomEmpty(room: string): void {
    const s = this.roomStreams.get(room);
    if (s) this.end(s, "stopped");
  }

  handle(
    peer: Peer,
    msg: ClientMessageOf<"videos" | "play" | "control" | "subtitles" | "poster" | "audioTrack">,
  ): void {
    const library = this.opts.library;
    const withAudio = (items: VideoItem[]) => (peer.caps.has("audio") ? this.withAudio(items) : Promise.resolve(items));
    if (msg.t === "audioTrack") {
      this.chooseTrack(peer, msg);
    } else if (msg.t === "subtitles" || msg.t === "poster") {
      if (library) library.handle(peer, msg);
      else this.refuse(peer, "unknown_video", "this server has no video library", msg.t);
    } else if (msg.t === "videos" && library && peer.caps.has("library2")) {
      library.items().then(
        (items) => withAudio(items).then((list) => peer.sendControl({ t: "videos", items: list })),
        (err) => this.internal(peer, "videos", err),
      );
    } else if (msg.t === "videos") {
      this.opts.catalogue.list().then(
        (items) => withAudio(items).then((list) => peer.sendControl({ t: "videos", items: list })),
        (err) => this.internal(peer, "videos", err),
      );
    } else if (msg.t === "play") {
      this.play(peer, msg).catch((err) => this.internal(peer, "play", err));
    } else {
      this.control(peer, msg);
    }
  }

  close(): void {
    clearInterval(this.statsTimer);
    this.opts.library?.close();
    for (const s of [...this.streams.values()]) this.end(s, "stopped");
    void this.opts.frames.close();
    this.opts.audio?.cache.close();
  }

  // ---- play -----------------------------------------------------------------------

  private async play(peer: Peer, msg: Play): Promise<void> {
    const resolved = await this.opts.catalogue.resolve(msg.video);
    if (!resolved) return this.refuse(peer, "unknown_video", `no video '${msg.video}' in the library`, "play");
    const sound = this.opts.audio;
    // Its audio tracks, probed once per file (cached), so a warm play waits for nothing here.
    const summary = sound ? await sound.probes.get(resolved.key, resolved.path) : null;
    // The member may have gone while the catalogue was read.
    if (this.rooms.get(peer.room)?.get(peer.connId) !== peer) return;

    const replaced = msg.scope === "self" ? this.selfStreams.get(peer.connId) : this.roomStreams.get(peer.room);
    if (this.streams.size - (replaced ? 1 : 0) >= this.opts.maxStreams) {
      return this.refuse(peer, "server_full", `the server is at its limit of ${this.opts.maxStreams} streams`, "play");
    }

    const { info } = resolved;
    const frames = this.opts.frames;
    // A self stream of a small viewer is decoded small from the start: nobody wants the big frames.
    const smallOnly = msg.scope === "self" && peer.caps.has("smallVideo");
    const size = smallOnly
      ? outputSize(frames.outputSize(info), this.opts.smallWidth ?? SMALL_VIDEO_WIDTH)
      : frames.outputSize(info);
    const decoded = frames.open(resolved.path, resolved.key, size, info.fps);
    const fromMs = Math.min(Math.max(0, msg.fromMs ?? 0), info.durationMs);
    // Joining frames that are decoded (or being decoded) is free; a new ffmpeg
    // counts against the caps, less the one the replaced stream would free.
    if (decoded.needsDecoder(decoded.indexAt(fromMs))) {
      const freeing = replaced !== undefined && replaced.info.by === peer.memberId && replaced.reader.holdsDecoder;
      const refusal = frames.decoderRefusal(peer.memberId, freeing);
      if (refusal !== null) {
        frames.release(decoded);
        return this.refuse(peer, "server_full", refusal, "play");
      }
    }
    if (replaced) this.end(replaced, "replaced");
    const audience = msg.scope === "self" ? [peer] : [...(this.rooms.get(peer.room)?.values() ?? [])];
    this.launch({
      room: peer.room,
      scope: msg.scope,
      by: peer.memberId,
      resolved,
      summary,
      decoded,
      audience,
      fromMs,
      followKey: null,
      startPacer: (p) => p.start(fromMs),
    });
  }

  /** Opens a stream's reader, pacer and sound, tells its viewers, and starts the pacer. */
  private launch(o: {
    room: string;
    scope: "self" | "room";
    by: string;
    resolved: NonNullable<Awaited<ReturnType<Catalogue["resolve"]>>>;
    summary: AudioSummary | null;
    decoded: DecodedVideo;
    audience: readonly Peer[];
    fromMs: number;
    followKey: number | null;
    startPacer: (p: Pacer) => void;
  }): Stream {
    const { info, path, key } = o.resolved;
    const { decoded, summary } = o;
    const sound = this.opts.audio;
    const reader = decoded.reader(o.by);
    const sid = this.allocSid();
    const stream: Stream = {
      info: {
        sid,
        video: info.id,
        scope: o.scope,
        by: o.by,
        width: decoded.width,
        height: decoded.height,
        fps: decoded.fps,
        durationMs: info.durationMs,
      },
      room: o.room,
      decoded,
      reader,
      viewers: new Map(),
      small: null,
      source: { path, key, info },
      audio:
        sound && summary
          ? new StreamAudio({
              sid,
              key,
              path,
              tracks: summary.tracks,
              noSound: summary.noSound,
              cache: sound.cache,
              onBroken: (t, why) => sound.probes.markBroken(key, t, why),
            })
          : null,
      clockSent: null,
      followKey: o.followKey,
      pacer: new Pacer({
        source: reader,
        durationMs: info.durationMs,
        onFrame: (f) => this.fanOut(stream, f),
        onEnd: (reason) => this.end(stream, reason),
        pinnedLateMs: this.opts.followLateMs ?? (this.opts.playoutDelayMs ?? VIDEO_LIMITS.playoutDelayMs) / 2,
        holdStart: (posMs) =>
          stream.audio?.whenReady(posMs, sound?.startWaitMs ?? VIDEO_LIMITS.soundStartWaitMs) ?? null,
      }),
    };
    for (const p of o.audience) stream.viewers.set(p.connId, { peer: p, sent: 0, dropped: 0 });
    this.streams.set(sid, stream);
    if (o.scope === "self") this.selfStreams.set(o.audience[0]!.connId, stream);
    else this.roomStreams.set(o.room, stream);

    o.startPacer(stream.pacer);
    const start = { t: "stream" as const, ...this.infoOf(stream) };
    broadcast(viewerPeers(stream), start);
    for (const v of stream.viewers.values()) stream.audio?.add(v.peer, stream.pacer.positionMs);
    this.sendClock(stream);
    this.opts.log.info(
      {
        sid,
        video: info.id,
        scope: o.scope,
        by: o.by,
        viewers: stream.viewers.size,
        streams: this.streams.size,
        ...(o.followKey !== null ? { party: o.followKey } : {}),
      },
      "stream started",
    );
    return stream;
  }

  // ---- following a cluster's shared anchor (server/cluster/sharedStream.ts) ---------------

  /** Called when a followed room stream ends on this core (finished, error, stopped, replaced). */
  onFollowedEnd(fn: FollowedEnd): void {
    this.followedEnd = fn;
  }

  /** The video's length and id if the library has it (a play is checked before it goes to the cluster). */
  async videoInfo(video: string): Promise<{ id: string; durationMs: number } | null> {
    const r = await this.opts.catalogue.resolve(video);
    return r ? { id: r.info.id, durationMs: r.info.durationMs } : null;
  }

  /** The party key the room's stream follows (null: none, or a stream of this core's own). */
  followedKey(room: string): number | null {
    return this.roomStreams.get(room)?.followKey ?? null;
  }

  /**
   * Makes the room's stream on this core match a shared anchor: starts it
   * (decoding for this core's members) when it names another party or none
   * ran, pauses, moves or resumes it at the anchor, or ends it (null, with
   * `reason`). Idempotent: the same anchor again changes nothing. Resolves
   * false when it could not follow (the library lacks the video, the core is
   * at maxStreams: its members are told).
   */
  async followRoom(room: string, a: RoomAnchor | null, reason: StreamEndReason = "stopped"): Promise<boolean> {
    const cur = this.roomStreams.get(room);
    const members = this.rooms.get(room);
    if (a === null || !members || members.size === 0) {
      if (cur) this.end(cur, a === null ? reason : "stopped");
      return a === null;
    }
    if (cur && cur.followKey === a.key && cur.info.video === a.video) {
      this.moveFollowed(cur, a);
      return true;
    }
    const resolved = await this.opts.catalogue.resolve(a.video);
    const sound = this.opts.audio;
    const summary = resolved && sound ? await sound.probes.get(resolved.key, resolved.path) : null;
    const now = this.roomStreams.get(room);
    const audience = [...(this.rooms.get(room)?.values() ?? [])];
    if (now !== cur || audience.length === 0) return false; // changed meanwhile: the caller applies the newest anchor again
    if (!resolved) {
      for (const p of audience)
        this.refuse(p, "unknown_video", `the party's video '${a.video}' is not in this core's library`, "play");
      if (cur) this.end(cur, "stopped");
      return false;
    }
    if (this.streams.size - (cur ? 1 : 0) >= this.opts.maxStreams) {
      for (const p of audience)
        this.refuse(p, "server_full", `this core is at its limit of ${this.opts.maxStreams} streams`, "play");
      return false;
    }
    // The party is the cluster's: no member's decoder quota applies to following it.
    const decoded = this.opts.frames.open(
      resolved.path,
      resolved.key,
      this.opts.frames.outputSize(resolved.info),
      resolved.info.fps,
    );
    if (cur) this.end(cur, "replaced");
    this.launch({
      room,
      scope: "room",
      by: a.by,
      resolved,
      summary,
      decoded,
      audience,
      fromMs: a.posMs,
      followKey: a.key,
      startPacer: (p) => (a.state === "playing" ? p.playAt(a.posMs, a.atCore) : p.start(a.posMs, true)),
    });
    return true;
  }

  /** The followed stream is the anchor's party: pause, move or resume it to the anchor. */
  private moveFollowed(s: Stream, a: RoomAnchor): void {
    const { sid } = s.info;
    const p = s.pacer;
    const wasPaused = p.state === "paused";
    if (a.state === "paused") {
      const moved = Math.abs(p.positionMs - a.posMs) > 1;
      if (wasPaused && !moved) return;
      if (!wasPaused) {
        p.pause();
        for (const v of s.viewers.values()) v.peer.purgeVideo(sid, true);
      }
      if (moved) {
        for (const v of s.viewers.values()) v.peer.purgeVideo(sid, false);
        p.seek(a.posMs);
      }
      s.audio?.pause(p.positionMs);
    } else {
      const anchor = a.atCore - a.posMs;
      if (!wasPaused && p.isPinned && p.anchorMs !== null && Math.abs(p.anchorMs - anchor) < 2) return;
      // A resume continues where it was paused; anything else is a seek: what is queued is stale.
      const continues = wasPaused && Math.abs(p.positionMs - a.posMs) <= 1;
      if (!continues) for (const v of s.viewers.values()) v.peer.purgeVideo(sid, false);
      p.playAt(a.posMs, a.atCore);
      s.audio?.reposition(p.positionMs);
    }
    const st = this.infoOf(s);
    broadcast(viewerPeers(s), { t: "streamState" as const, sid, state: st.state, posMs: st.posMs, by: a.ctl });
    this.sendClock(s);
  }

  private allocSid(): number {
    do {
      this.nextSid = this.nextSid >= 0xffffffff ? 1 : this.nextSid + 1;
    } while (this.streams.has(this.nextSid));
    return this.nextSid;
  }

  private fanOut(stream: Stream, frame: VideoFrame): void {
    // Sound first: its packets up to this frame + the lead, on the same anchor.
    const audio = stream.audio;
    audio?.tick(frame.ptsMs);
    if (stream.pacer.anchorMs !== stream.clockSent) this.sendClock(stream);
    const out = chunkFrame(stream.info.sid, frame);
    // Cut once per frame for all small viewers; the full frame while the small one is not decoded yet.
    let small: VideoFrameOut | null | undefined;
    for (const v of stream.viewers.values()) {
      let f = out;
      if (v.peer.caps.has("smallVideo")) {
        if (small === undefined) small = this.smallFrame(stream, frame);
        if (small) f = small;
      }
      // One offer per viewer: the tick's audio (for an "audio" viewer) goes with the frame.
      const a = audio ? audio.tickFor(v.peer.connId) : null;
      if (a ? v.peer.offerVideo(f, a) : v.peer.offerVideo(f)) v.sent++;
      else v.dropped++;
    }
  }

  // ---- control ----------------------------------------------------------------------

  private control(peer: Peer, msg: Control): void {
    const s = this.streams.get(msg.sid);
    if (!s || !s.viewers.has(peer.connId)) {
      return this.refuse(peer, "unknown_stream", `you are not watching a stream ${msg.sid}`, "control");
    }
    if (s.info.scope === "self" && s.info.by !== peer.memberId) {
      return this.refuse(peer, "not_allowed", "only its viewer controls a self stream", "control");
    }
    const { sid } = s.info;
    switch (msg.action) {
      case "stop":
        this.end(s, "stopped");
        return;
      case "pause":
        s.pacer.pause();
        s.audio?.pause(s.pacer.positionMs);
        for (const v of s.viewers.values()) v.peer.purgeVideo(sid, true);
        break;
      case "resume":
        s.pacer.resume();
        s.audio?.reposition(s.pacer.positionMs);
        break;
      case "seek": {
        const toMs = Math.min(Math.max(0, msg.toMs ?? 0), s.info.durationMs);
        // Only when this stream shares its decoder and the target is outside
        // what is decoded does a seek need another ffmpeg; charged to the stream's starter.
        if (s.reader.needsDecoder(s.decoded.indexAt(toMs))) {
          const refusal = this.opts.frames.decoderRefusal(s.info.by);
          if (refusal !== null) return this.refuse(peer, "server_full", `cannot seek there now: ${refusal}`, "control");
        }
        for (const v of s.viewers.values()) v.peer.purgeVideo(sid, false);
        s.pacer.seek(toMs);
        s.audio?.reposition(s.pacer.positionMs);
        break;
      }
    }
    const st = this.infoOf(s);
    broadcast(viewerPeers(s), { t: "streamState" as const, sid, state: st.state, posMs: st.posMs, by: peer.memberId });
    this.sendClock(s);
  }

  /** "clock" viewers: when pts 0 is presented, in core time (the anchor), and the playout delay. */
  private sendClock(s: Stream, to?: readonly Peer[]): void {
    const anchor = s.pacer.anchorMs;
    if (to === undefined) s.clockSent = anchor;
    const msg = {
      t: "streamClock" as const,
      sid: s.info.sid,
      anchorCore: anchor,
      delayMs: this.opts.playoutDelayMs ?? VIDEO_LIMITS.playoutDelayMs,
      posMs: Math.round(s.pacer.positionMs),
    };
    broadcast(to ?? viewerPeers(s), msg, (p) => p.caps.has("clock"));
  }

  private chooseTrack(peer: Peer, msg: AudioTrackChoice): void {
    const s = this.streams.get(msg.sid);
    if (!s || !s.viewers.has(peer.connId))
      return this.refuse(peer, "unknown_stream", `you are not watching a stream ${msg.sid}`, "audioTrack");
    if (!s.audio)
      return peer.sendControl({
        t: "error",
        code: "unknown_track",
        message: "this server sends no sound",
        ref: "audioTrack",
        fatal: false,
      });
    const err = s.audio.choose(peer, msg.track);
    if (err) peer.sendControl({ t: "error", code: err.code, message: err.message, ref: "audioTrack", fatal: false });
  }

  private async withAudio(items: VideoItem[]): Promise<VideoItem[]> {
    const sound = this.opts.audio;
    if (!sound) return items;
    return Promise.all(
      items.map(async (item) => {
        const r = await this.opts.catalogue.resolve(item.id);
        if (!r) return item;
        return { ...item, audio: audioField(await sound.probes.get(r.key, r.path)) };
      }),
    );
  }

  // ---- ending ---------------------------------------------------------------------------

  private end(s: Stream, reason: StreamEndReason): void {
    const { sid } = s.info;
    if (this.streams.get(sid) !== s) return;
    this.streams.delete(sid);
    if (this.roomStreams.get(s.room) === s) this.roomStreams.delete(s.room);
    for (const [connId, own] of this.selfStreams) if (own === s) this.selfStreams.delete(connId);
    s.pacer.stop();
    for (const v of s.viewers.values()) v.peer.purgeVideo(sid, false);
    broadcast(viewerPeers(s), { t: "streamEnd", sid, reason });
    s.viewers.clear();
    s.small?.close();
    s.audio?.close();
    s.reader.close();
    this.opts.frames.release(s.decoded);
    this.opts.log.info({ sid, reason, streams: this.streams.size }, "stream ended");
    if (s.followKey !== null) this.followedEnd?.(s.room, s.followKey, reason);
  }

  private smallFrame(s: Stream, frame: VideoFrame): VideoFrameOut | null {
    if (!s.small) {
      const width = this.opts.smallWidth ?? SMALL_VIDEO_WIDTH;
      // Not worth a second decoder when the stream is already about that small.
      if (s.decoded.width <= width) return null;
      // A second ffmpeg is charged to the stream's starter like a seek would be; refused means full frames.
      if (this.opts.frames.decoderRefusal(s.info.by) !== null) return null;
      s.small = new SmallVariant(this.opts.frames, s.source, width, s.info.by);
    }
    const f = s.small.frame(frame.index);
    return f ? chunkFrame(s.info.sid, f) : null;
  }

  private sendStats(): void {
    for (const s of this.streams.values()) {
      for (const v of s.viewers.values()) {
        v.peer.sendControl({ t: "streamStats", sid: s.info.sid, sent: v.sent, dropped: v.dropped });
      }
    }
  }

  private infoOf(s: Stream): StreamInfo {
    return {
      ...s.info,
      posMs: Math.round(s.pacer.positionMs),
      state: s.pacer.state === "paused" ? "paused" : "playing",
    };
  }

  private refuse(
    peer: Peer,
    code: "unknown_video" | "unknown_stream" | "not_allowed" | "server_full",
    message: string,
    ref: string,
  ): void {
    peer.sendControl({ t: "error", code, message, ref, fatal: false });
  }

  private internal(peer: Peer, ref: string, err: unknown): void {
    this.opts.log.warn({ err: (err as Error).message, ref }, "video request failed");
    peer.sendControl({ t: "error", code: "internal", message: "the video request failed", ref, fatal: false });
  }
}
