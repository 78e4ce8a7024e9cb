// One watch party across the cores of a cluster: the VideoService the hub
// sees in `--cluster` mode, in PersistedStreams' place in the chain (not
// wrapped by it: PersistedStreams writes the room's stream record once a second
// from its own pacer, and in a cluster that record is the shared anchor, which
// must change only on control, else two cores running one party overwrite
// each other's position; the anchor in KV also outlives any core, so it is the
// restore after a restart as well).
//
// A room play, pause, resume, seek or stop from a member of this core is a CAS
// change of the anchor (Bus.control); nothing starts here until the anchor
// note comes back, as it does to every core with members in the room. Each
// such core applies every note to its own StreamManager (followRoom): it
// decodes the video for its own viewers and paces frame pts P at wall time
// atMs + (P - posMs), converted to its pacer's clock, so cores whose clocks
// agree (one machine, or NTP) present the same frame at the same moment.
// Self streams, the catalogue, subtitles and posters stay local.
//
// Just over 300 lines: control in, anchor notes out, one job; next to split
// would be the control-to-anchor changes (play, control) into their own module.

import { randomInt } from "node:crypto";
import type { ClientMessageOf, Control, Play, StreamEndReason, StreamInfo } from "../../protocol/messages";
import type { Logger } from "../log";
import type { Peer, VideoService } from "../ports";
import type { RoomStreamRecord } from "../store/roomStore";
import { checkStream } from "../store/roomStore";
import type { FollowedEnd, RoomAnchor } from "../video/streamManager";
import { anchorPosition, type AnchorNote } from "./bus";
import type { ClusterNode } from "./node";
import type { LinkState } from "./link";

/** The anchor record as the cluster shares it: the store's stream record and who changed it last. */
export type PartyAnchor = RoomStreamRecord & { ctl?: string };

/** The video side a follower drives (server/video/streamManager.ts). */
export interface FollowingVideo extends VideoService {
  followRoom(room: string, a: RoomAnchor | null, reason?: StreamEndReason): Promise<boolean>;
  followedKey(room: string): number | null;
  videoInfo(video: string): Promise<{ id: string; durationMs: number } | null>;
  onFollowedEnd(fn: FollowedEnd): void;
}

export function isFollowingVideo(v: VideoService): v is FollowingVideo {
  return typeof (v as Partial<FollowingVideo>).followRoom === "function";
}

/** A deleted anchor this close to the video's end (by its own clock) ended by finishing, not by a stop. */
const FINISH_SLACK_MS = 1_000;

interface RoomParty {
  anchor: PartyAnchor | null;
  rev: number;
  /** The last anchor applied here (its position says whether a delete was the end of the file). */
  applied: PartyAnchor | null;
  durationMs: number | null;
  /** Applies run one after the other per room; each applies the newest anchor. */
  chain: Promise<void>;
}

/** Thrown from a change that would change nothing: no write. */
class Unchanged extends Error {}

export class SharedStreams implements VideoService {
  private parties = new Map<string, RoomParty>();
  /** Connections of this core per room (join/leave), who a followed stream is decoded for. */
  private local = new Map<string, Set<number>>();
  private closed = false;
  private readonly onAnchor = (n: AnchorNote) => this.note(n.room, n.anchor as PartyAnchor | null, n.rev);
  private readonly onLink = (s: LinkState) => {
    if (s === "connected") this.rereadAll();
  };

  constructor(
    private readonly inner: FollowingVideo,
    private readonly node: ClusterNode,
    private readonly log: Logger,
    private readonly now: () => number = Date.now,
  ) {
    node.bus.events.on("anchor", this.onAnchor);
    node.link.events.on("state", this.onLink);
    inner.onFollowedEnd((room, key, reason) => {
      // The end of the file on one core ends the party for all: the anchor goes once (CAS on the same party).
      if (reason === "finished") void this.endParty(room, key);
    });
  }

  /** A room this core is about to serve: read its anchor (a restart, or the first member here). */
  async load(room: string): Promise<void> {
    await this.reread(room);
  }

  roomStream(room: string): StreamInfo | null {
    return this.inner.roomStream(room);
  }

  join(peer: Peer): void {
    let conns = this.local.get(peer.room);
    if (!conns) this.local.set(peer.room, (conns = new Set()));
    conns.add(peer.connId);
    this.inner.join(peer);
    // The first member here starts the party's stream on this core; a later one just joins it (inner).
    const p = this.parties.get(peer.room);
    if (p?.anchor && this.inner.followedKey(peer.room) !== p.anchor.sid) this.schedule(peer.room);
  }

  leave(peer: Peer): void {
    const conns = this.local.get(peer.room);
    conns?.delete(peer.connId);
    if (conns?.size === 0) this.local.delete(peer.room);
    this.inner.leave(peer);
  }

  roomEmpty(room: string): void {
    this.local.delete(room);
    const p = this.parties.get(room);
    this.parties.delete(room);
    this.inner.roomEmpty(room);
    // Alone, a party whose members all went away waits for them, paused; in a cluster only when nobody is online on any core.
    const a = p?.anchor;
    if (a && a.state === "playing" && !this.closed) void this.pauseIfDeserted(room, a.sid);
  }

  handle(
    peer: Peer,
    msg: ClientMessageOf<"videos" | "play" | "control" | "subtitles" | "poster" | "audioTrack">,
  ): void {
    if (msg.t === "play" && msg.scope === "room") {
      void this.play(peer, msg);
      return;
    }
    if (msg.t === "control") {
      const s = this.inner.roomStream(peer.room);
      const key = this.inner.followedKey(peer.room);
      if (s && s.sid === msg.sid && key !== null) {
        void this.control(peer, msg, key, s.durationMs);
        return;
      }
    }
    this.inner.handle(peer, msg);
  }

  close(): void {
    this.closed = true;
    this.node.bus.events.off("anchor", this.onAnchor);
    this.node.link.events.off("state", this.onLink);
    this.inner.close();
  }

  // ---- control from this core's members: changes of the anchor ------------------------------

  private async play(peer: Peer, msg: Play): Promise<void> {
    const info = await this.inner.videoInfo(msg.video).catch(() => null);
    if (!info) return this.refuse(peer, "unknown_video", `no video '${msg.video}' in the library`, "play");
    const fromMs = Math.min(Math.max(0, msg.fromMs ?? 0), info.durationMs);
    const at = this.now() + this.node.limits.partyLeadMs;
    const next: PartyAnchor = {
      sid: randomInt(1, 0xffffffff),
      video: info.id,
      by: peer.memberId,
      ctl: peer.memberId,
      state: "playing",
      posMs: fromMs,
      atMs: at,
    };
    await this.change(peer, "play", () => next);
  }

  private async control(peer: Peer, msg: Control, key: number, durationMs: number): Promise<void> {
    const ctl = peer.memberId;
    await this.change(peer, "control", (cur) => {
      if (!cur || cur.sid !== key) throw new Unchanged(); // another party replaced it meanwhile: its note follows
      const now = this.now();
      switch (msg.action) {
        case "stop":
          return null;
        case "pause":
          if (cur.state === "paused") throw new Unchanged();
          return { ...cur, ctl, state: "paused", posMs: Math.min(durationMs, anchorPosition(cur, now)), atMs: now };
        case "resume":
          if (cur.state === "playing") throw new Unchanged();
          return { ...cur, ctl, state: "playing", atMs: now + this.node.limits.partyLeadMs };
        case "seek": {
          const toMs = Math.min(Math.max(0, msg.toMs ?? 0), durationMs);
          const atMs = cur.state === "playing" ? now + this.node.limits.partyLeadMs : now;
          return { ...cur, ctl, posMs: toMs, atMs };
        }
      }
    });
  }

  private async change(peer: Peer, ref: string, fn: (cur: PartyAnchor | null) => PartyAnchor | null): Promise<void> {
    try {
      await this.node.bus.control(peer.room, (cur) => fn(cur as PartyAnchor | null));
    } catch (e) {
      if (e instanceof Unchanged) return;
      this.log.warn({ room: peer.room, err: String(e) }, "cluster: room stream control not stored");
      peer.sendControl({
        t: "error",
        code: "internal",
        message: "the cluster did not take the stream control; try again",
        ref,
        fatal: false,
      });
    }
  }

  private async endParty(room: string, key: number): Promise<void> {
    try {
      await this.node.bus.control(room, (cur) => {
        if (!cur || cur.sid !== key) throw new Unchanged(); // another core ended it first
        return null;
      });
    } catch (e) {
      if (!(e instanceof Unchanged)) this.log.warn({ room, err: String(e) }, "cluster: finished party not removed");
    }
  }

  private async pauseIfDeserted(room: string, key: number): Promise<void> {
    try {
      const online = await this.node.presence.onlineIn(room);
      if (online.some((m) => m.node !== this.node.node) || this.local.has(room)) return;
      await this.node.bus.control(room, (cur) => {
        if (!cur || cur.sid !== key || cur.state !== "playing") throw new Unchanged();
        const now = this.now();
        return { ...cur, state: "paused", posMs: anchorPosition(cur, now), atMs: now };
      });
    } catch (e) {
      if (!(e instanceof Unchanged)) this.log.warn({ room, err: String(e) }, "cluster: deserted party not paused");
    }
  }

  // ---- following the anchor ------------------------------------------------------------------

  private note(room: string, anchor: PartyAnchor | null, rev: number): void {
    if (this.closed || !this.local.has(room)) {
      // No member here: remember it for the first one (load reads it again anyway).
      if (!this.closed && this.parties.has(room)) this.remember(room, anchor, rev);
      return;
    }
    if (this.remember(room, anchor, rev)) this.schedule(room);
  }

  /** Keeps the newest anchor of a room; false when `rev` is not newer than what is known. */
  private remember(room: string, anchor: PartyAnchor | null, rev: number): boolean {
    let p = this.parties.get(room);
    if (!p) {
      p = { anchor: null, rev: 0, applied: null, durationMs: null, chain: Promise.resolve() };
      this.parties.set(room, p);
    }
    if (rev <= p.rev) return false;
    p.anchor = anchor;
    p.rev = rev;
    return true;
  }

  private schedule(room: string): void {
    const p = this.parties.get(room);
    if (!p) return;
    p.chain = p.chain
      .then(() => this.apply(room, p))
      .catch((e) => this.log.warn({ room, err: String(e) }, "cluster: room stream not applied"));
  }

  private async apply(room: string, p: RoomParty): Promise<void> {
    if (this.closed || this.parties.get(room) !== p || !this.local.has(room)) return;
    const a = p.anchor;
    if (a === null) {
      const last = p.applied;
      p.applied = null;
      const finished =
        last !== null &&
        p.durationMs !== null &&
        anchorPosition(last, this.now()) >= p.durationMs - FINISH_SLACK_MS &&
        last.state === "playing";
      await this.inner.followRoom(room, null, finished ? "finished" : "stopped");
      return;
    }
    const info = await this.inner.videoInfo(a.video).catch(() => null);
    if (info && a.state === "playing" && anchorPosition(a, this.now()) >= info.durationMs) {
      // A party that ran to its end while nobody watched (or every core died): it is over.
      await this.inner.followRoom(room, null, "finished");
      await this.endParty(room, a.sid);
      return;
    }
    p.durationMs = info?.durationMs ?? null;
    const wallToCore = performance.now() - this.now();
    const followed = await this.inner.followRoom(room, {
      key: a.sid,
      video: a.video,
      by: a.by,
      ctl: typeof a.ctl === "string" ? a.ctl : a.by,
      state: a.state,
      posMs: a.posMs,
      atCore: a.atMs + wallToCore,
    });
    if (followed) p.applied = a;
    else if (p.anchor !== a) this.schedule(room); // it changed while we opened the video: apply the newest
  }

  /** After a reconnect to NATS notes may have been lost: read each served room's anchor again. */
  private rereadAll(): void {
    for (const room of this.local.keys()) void this.reread(room);
  }

  private async reread(room: string): Promise<void> {
    try {
      const { anchor, rev } = await this.node.bus.anchor(room);
      checkStream(room, anchor);
      if (!this.parties.has(room)) this.remember(room, null, 0);
      if (this.remember(room, anchor as PartyAnchor | null, rev) && this.local.has(room)) this.schedule(room);
    } catch (e) {
      this.log.warn({ room, err: String(e) }, "cluster: room stream anchor not read");
    }
  }

  private refuse(peer: Peer, code: "unknown_video", message: string, ref: string): void {
    peer.sendControl({ t: "error", code, message, ref, fatal: false });
  }
}
