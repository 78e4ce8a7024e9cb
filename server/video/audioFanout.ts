// The sound of one stream: its "audio" viewers grouped by the track they
// chose (a lane per track), each lane reading the shared, decoded-once packet
// list of (video, track) from the AudioPacketCache. The stream's Pacer drives
// it: every frame it emits calls tick(pts), which sends the lane's packets up
// to pts + leadMs, so audio follows the same anchor through pause, seek and
// re-anchoring. A tick's packets are built into one Buffer once per lane;
// the stream hands it to each viewer with the frame (tickFor), in one offer.

import { AUDIO_FLAG_DISCONTINUITY, AUDIO_PACKET_HEADER, writeAudioHeader } from "../../protocol/audioPacket";
import { FRAME_HEADER, KIND_AUDIO, writeHeader } from "../../protocol/framing";
import type { AudioInfo } from "../../protocol/messages";
import type { AudioLease, AudioPacketCache, AudioTrackBuffer } from "../audio/cache";
import { selectTrack, type AudioTrack } from "../audio/tracks";
import type { AudioPacketOut, Peer } from "../ports";

/** Packets go out this far ahead of the frame being sent: the client's audio buffer. */
export const AUDIO_LEAD_MS = 120;
/** A lane whose next packet ended this long before the position skips to the position (late decode, seek). */
const STALE_MS = 40;

export interface StreamAudioOptions {
  sid: number;
  /** Cache key of the video (its content key), so streams of one file share packets. */
  key: string;
  path: string;
  tracks: readonly AudioTrack[];
  /** Why the video has no sound, when it has none. */
  noSound: string | null;
  cache: AudioPacketCache;
  leadMs?: number;
  /** A track that fails to decode before its first packet (the catalogue learns why). */
  onBroken?(track: number, reason: string): void;
}

interface Lane {
  track: number;
  lease: AudioLease;
  cursor: number;
  seq: number;
  discontinuity: boolean;
  viewers: Map<number, Peer>;
  /** Viewers already told (`audio` message) about this lane's head. */
  told: Set<number>;
  /** This tick's AUDIO frames (set by pump), shared by the lane's viewers; null when none are due. */
  due: AudioPacketOut | null;
  unsubscribe: () => void;
  failedTold: boolean;
}

/** The track has its packet at posMs, or has stopped decoding (ended or failed: waiting helps nothing). */
function soundAt(buf: AudioTrackBuffer, posMs: number): boolean {
  return buf.state !== "decoding" || (buf.head !== null && buf.endMs > posMs && buf.firstMs <= posMs);
}

export type TrackChoiceError = { code: "unknown_track" | "unplayable_track"; message: string };

export class StreamAudio {
  private lanes = new Map<number, Lane>();
  /** connId -> the lane's track, or null for no sound. */
  private choice = new Map<number, number | null>();
  private readonly lead: number;
  private lastPos = 0;

  constructor(private readonly o: StreamAudioOptions) {
    this.lead = o.leadMs ?? AUDIO_LEAD_MS;
  }

  /** The track a viewer hears unless it chooses: the first one that can play. */
  get defaultTrack(): number | null {
    return this.o.tracks.find((t) => t.problem === null)?.index ?? null;
  }

  /** A viewer joins (start or late joiner); only "audio" peers hear anything. */
  add(peer: Peer, posMs: number): void {
    if (!peer.caps.has("audio") || this.choice.has(peer.connId)) return;
    this.assign(peer, this.defaultTrack, posMs);
  }

  remove(peer: Peer): void {
    const track = this.choice.get(peer.connId);
    this.choice.delete(peer.connId);
    if (track === undefined || track === null) return;
    const lane = this.lanes.get(track);
    if (!lane) return;
    lane.viewers.delete(peer.connId);
    lane.told.delete(peer.connId);
    peer.purgeAudio?.(this.o.sid);
    if (lane.viewers.size === 0) this.closeLane(lane);
  }

  /** A viewer's own track choice; null turns its sound off. */
  choose(peer: Peer, track: number | null): TrackChoiceError | null {
    if (track !== null) {
      const r = selectTrack(this.o.tracks, track);
      if (!r.ok) return { code: r.code, message: r.message };
    }
    const had = this.choice.get(peer.connId);
    if (had === track) {
      this.tell(peer, track === null ? null : (this.lanes.get(track) ?? null));
      return null;
    }
    this.remove(peer);
    this.assign(peer, track, this.lastPos);
    return null;
  }

  /** Called by the stream for each frame it sends: packets up to pts + lead go out. */
  tick(posMs: number): void {
    this.lastPos = posMs;
    // The decoder follows the readers (window ahead, far seek); the cursor follows what the cache kept.
    for (const lane of this.lanes.values()) {
      const buf = lane.lease.buffer;
      lane.cursor = lane.lease.need(posMs, lane.cursor);
      if (lane.lease.buffer !== buf) lane.discontinuity = true; // another ffmpeg's packets: the client resets its decoder
    }
    for (const lane of this.lanes.values()) this.pump(lane, posMs);
  }

  /** After tick: the AUDIO frames due for this viewer with the frame being sent, or null. */
  tickFor(connId: number): AudioPacketOut | null {
    const track = this.choice.get(connId);
    if (track === undefined || track === null) return null;
    const lane = this.lanes.get(track);
    return lane && lane.due && lane.told.has(connId) ? lane.due : null;
  }

  /**
   * Null when every lane's sound at posMs is decoded (or never will be);
   * otherwise a promise that settles once it is, or after maxWaitMs. The
   * stream's pacer holds its first frame for it, so a cold start or a far
   * seek begins with its sound instead of passing over the first packets.
   */
  whenReady(posMs: number, maxWaitMs: number): Promise<void> | null {
    const lanes = [...this.lanes.values()];
    const ready = () => lanes.every((l) => !this.lanes.has(l.track) || soundAt(l.lease.buffer, posMs));
    if (maxWaitMs <= 0 || ready()) return null;
    return new Promise((resolve) => {
      const unsubscribe = lanes.map((l) => l.lease.buffer.subscribe(() => ready() && done()));
      const timer = setTimeout(() => done(), maxWaitMs);
      timer.unref?.();
      function done(): void {
        clearTimeout(timer);
        for (const u of unsubscribe) u();
        resolve();
      }
    });
  }

  /** Seek or resume: continue from posMs, dropping what was queued. */
  reposition(posMs: number): void {
    this.lastPos = posMs;
    for (const lane of this.lanes.values()) {
      lane.lease.need(posMs, lane.cursor);
      lane.cursor = lane.lease.buffer.indexAt(posMs);
      lane.discontinuity = true;
      for (const p of lane.viewers.values()) p.purgeAudio?.(this.o.sid);
    }
  }

  /** Paused: nothing more is queued; what is queued is dropped (the picture stops too). */
  pause(posMs: number): void {
    this.reposition(posMs);
  }

  close(): void {
    for (const lane of [...this.lanes.values()]) {
      for (const p of lane.viewers.values()) p.purgeAudio?.(this.o.sid);
      this.closeLane(lane);
    }
    this.choice.clear();
  }

  /** Packet counts per lane, for tests and stats. */
  laneCount(): number {
    return this.lanes.size;
  }

  private assign(peer: Peer, track: number | null, posMs: number): void {
    this.choice.set(peer.connId, track);
    if (track === null) return this.tell(peer, null);
    let lane = this.lanes.get(track);
    if (!lane) lane = this.openLane(track, posMs);
    lane.viewers.set(peer.connId, peer);
    lane.discontinuity = true;
    this.tell(peer, lane);
  }

  private openLane(track: number, posMs: number): Lane {
    const lease = this.o.cache.acquire(this.o.key, this.o.path, track, posMs);
    const lane: Lane = {
      track,
      lease,
      cursor: lease.buffer.indexAt(posMs),
      seq: 0,
      discontinuity: true,
      viewers: new Map(),
      told: new Set(),
      due: null,
      unsubscribe: () => {},
      failedTold: false,
    };
    // The head (and a failure) arrive asynchronously from the decoder: tell waiting viewers then.
    lane.unsubscribe = lease.buffer.subscribe(() => {
      for (const p of lane.viewers.values()) if (!lane.told.has(p.connId)) this.tell(p, lane);
      if (lease.buffer.state === "failed" && !lane.failedTold) {
        lane.failedTold = true;
        const f = lease.buffer.failure;
        if (lease.buffer.packets.length === 0 && f && f.reason !== "aborted")
          this.o.onBroken?.(track, `corrupt audio stream (${f.detail.slice(0, 120)})`);
        for (const p of lane.viewers.values()) this.tell(p, lane);
      }
    });
    this.lanes.set(track, lane);
    return lane;
  }

  private closeLane(lane: Lane): void {
    lane.unsubscribe();
    lane.lease.release();
    this.lanes.delete(lane.track);
  }

  /** The `audio` message for a viewer: its track's head, or why there is no sound. */
  private tell(peer: Peer, lane: Lane | null): void {
    const sid = this.o.sid;
    let msg: AudioInfo;
    if (lane === null) {
      msg = { t: "audio", sid, track: null, reason: this.o.noSound ?? "sound turned off" };
    } else if (lane.lease.buffer.state === "failed" && lane.lease.buffer.packets.length === 0) {
      const f = lane.lease.buffer.failure;
      msg = {
        t: "audio",
        sid,
        track: null,
        reason: `audio track ${lane.track} cannot be decoded: ${f?.reason ?? "failed"}`,
      };
    } else if (lane.lease.buffer.head) {
      lane.told.add(peer.connId);
      msg = {
        t: "audio",
        sid,
        track: lane.track,
        codec: "opus",
        rate: 48_000,
        channels: lane.lease.buffer.head.channels,
        head: lane.lease.buffer.head.raw.toString("base64"),
      };
    } else {
      return; // told once the decoder has the head
    }
    peer.sendControl(msg);
  }

  private pump(lane: Lane, posMs: number): void {
    lane.due = null;
    const buf = lane.lease.buffer;
    if (!buf.head || lane.viewers.size === 0) return;
    // Decoding lagged or the stream moved: never send stale sound, skip to the position.
    const floor = buf.indexAt(posMs - STALE_MS);
    if (floor > lane.cursor) {
      lane.cursor = floor;
      lane.discontinuity = true;
    }
    const until = (posMs + this.lead) * 48;
    // This tick's packets (one or two at 30 fps) as one buffer of whole AUDIO frames, built once
    // for every viewer of the lane; the stream offers it to each with the frame (tickFor).
    const parts: Buffer[] = [];
    while (lane.cursor < buf.packets.length) {
      const p = buf.packets[lane.cursor]!;
      if (p.ptsSamples > until) break;
      lane.cursor++;
      if (p.ptsSamples + p.durationSamples <= 0) continue; // pre-roll before pts 0
      const head = Buffer.allocUnsafe(FRAME_HEADER + AUDIO_PACKET_HEADER);
      writeHeader(head, KIND_AUDIO, AUDIO_PACKET_HEADER + p.data.length);
      writeAudioHeader(
        head,
        {
          sid: this.o.sid,
          seq: lane.seq++,
          ptsSamples: p.ptsSamples,
          track: lane.track,
          flags: lane.discontinuity ? AUDIO_FLAG_DISCONTINUITY : 0,
          durationSamples: p.durationSamples,
        },
        FRAME_HEADER,
      );
      lane.discontinuity = false;
      parts.push(head, p.data);
    }
    if (parts.length > 0) lane.due = { sid: this.o.sid, head: Buffer.concat(parts) };
  }
}
