// Keeps each room's shared stream in the room store (video, position, playing
// or paused) and starts it again after a restart: a VideoService wrapper, so
// server/video/* is used only through its public API.
//
// The record is written on every play/control and once a second while a room
// stream runs, so after kill -9 a playing party restarts at
// posMs + (now - atMs), at most a second's rounding off. A room whose members
// all went away keeps its party, paused where it was; one that finishes or is
// stopped forgets it.

import type { ClientMessageOf, StreamInfo } from "../protocol/messages";
import type { Logger } from "./log";
import type { Peer, VideoService } from "./ports";
import type { RoomStore, RoomStreamRecord } from "./store/roomStore";

const SYNC_MS = 1_000;
/** How long a restore waits for the play it asked for to start. */
const RESTORE_WAIT_MS = 10_000;
/** A restored party further behind the wall clock than this is moved forward once it plays. */
const CATCH_UP_MS = 250;

export class PersistedStreams implements VideoService {
  /** Rooms whose room stream this process has seen (so an end is recorded as an end). */
  private tracked = new Map<string, number>();
  /** Loaded from the store, not yet started again. */
  private pending = new Map<string, RoomStreamRecord>();
  private timer: NodeJS.Timeout;
  private closed = false;

  constructor(
    private readonly inner: VideoService,
    private readonly store: RoomStore,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    this.timer = setInterval(() => this.syncAll(), SYNC_MS);
    this.timer.unref();
  }

  /** A room just loaded from the store: its stream (if any) starts again with its first member. */
  async load(room: string): Promise<void> {
    const rec = await this.store.stream(room).catch(() => null);
    if (rec && !this.inner.roomStream(room)) this.pending.set(room, rec);
  }

  roomStream(room: string): StreamInfo | null {
    return this.inner.roomStream(room);
  }

  join(peer: Peer): void {
    this.inner.join(peer);
    const rec = this.pending.get(peer.room);
    if (!rec) return;
    this.pending.delete(peer.room);
    void this.restore(peer, rec);
  }

  leave(peer: Peer): void {
    this.inner.leave(peer);
  }

  roomEmpty(room: string): void {
    const s = this.inner.roomStream(room);
    this.tracked.delete(room);
    if (s && !this.closed)
      this.write(room, { sid: s.sid, video: s.video, by: s.by, state: "paused", posMs: s.posMs, atMs: this.now() });
    this.inner.roomEmpty(room);
  }

  handle(peer: Peer, msg: ClientMessageOf<"videos" | "play" | "control">): void {
    this.inner.handle(peer, msg);
    if (msg.t === "videos") return;
    if (msg.t === "play" && msg.scope === "room") this.pending.delete(peer.room);
    this.tracked.set(peer.room, this.tracked.get(peer.room) ?? 0);
    this.sync(peer.room);
    // play resolves the catalogue first: record the new stream the moment it runs, not a second later.
    if (msg.t === "play" && msg.scope === "room")
      void this.started(peer.room, this.inner.roomStream(peer.room)?.sid ?? null);
  }

  private async started(room: string, before: number | null): Promise<void> {
    const until = this.now() + RESTORE_WAIT_MS;
    while (!this.closed && this.now() < until) {
      const s = this.inner.roomStream(room);
      if (s && s.sid !== before) return this.sync(room);
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  close(): void {
    // A clean stop keeps the records as they are: the next start restores them.
    this.closed = true;
    clearInterval(this.timer);
    this.inner.close();
  }

  private syncAll(): void {
    for (const room of this.tracked.keys()) this.sync(room);
  }

  private sync(room: string): void {
    if (this.closed || !this.tracked.has(room)) return;
    const s = this.inner.roomStream(room);
    if (s) {
      this.tracked.set(room, s.sid);
      this.write(room, { sid: s.sid, video: s.video, by: s.by, state: s.state, posMs: s.posMs, atMs: this.now() });
    } else if (this.tracked.get(room) !== 0) {
      // It ran and is gone (finished, stopped): forget it.
      this.tracked.delete(room);
      this.write(room, null);
    }
  }

  private write(room: string, rec: RoomStreamRecord | null): void {
    this.store
      .setStream(room, rec)
      .catch((e) => this.log.warn({ room, err: String(e) }, "room store: stream not stored"));
  }

  private async restore(peer: Peer, rec: RoomStreamRecord): Promise<void> {
    const fromMs = Math.max(
      0,
      Math.round(rec.state === "playing" ? rec.posMs + Math.max(0, this.now() - rec.atMs) : rec.posMs),
    );
    this.log.info({ room: peer.room, video: rec.video, fromMs, state: rec.state }, "restoring the room stream");
    this.inner.handle(peer, { t: "play", video: rec.video, scope: "room", fromMs });
    this.tracked.set(peer.room, 0);
    const until = this.now() + RESTORE_WAIT_MS;
    while (!this.closed && this.now() < until) {
      const s = this.inner.roomStream(peer.room);
      if (s) {
        if (rec.state === "paused" && s.state === "playing")
          this.inner.handle(peer, { t: "control", sid: s.sid, action: "pause" });
        else if (rec.state === "playing") await this.catchUp(peer, rec, s.sid, fromMs, until);
        this.sync(peer.room);
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /**
   * The decoder's start-up (and the wait for the first hello) is time the
   * party was not playing: once the restored stream moves, seek it to where
   * the wall clock says it is, so repeated restarts do not add up to a lag.
   */
  private async catchUp(peer: Peer, rec: RoomStreamRecord, sid: number, fromMs: number, until: number): Promise<void> {
    while (!this.closed && this.now() < until) {
      const s = this.inner.roomStream(peer.room);
      if (!s || s.sid !== sid || s.state !== "playing") return;
      if (s.posMs > fromMs) {
        const target = Math.round(rec.posMs + Math.max(0, this.now() - rec.atMs));
        if (target - s.posMs > CATCH_UP_MS && target < s.durationMs)
          this.inner.handle(peer, { t: "control", sid, action: "seek", toMs: target });
        return;
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
