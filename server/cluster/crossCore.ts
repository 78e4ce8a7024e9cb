// What makes one room span many cores, between the hub and the cluster pieces:
// every stored entry reaches this core's recipients once and in seq order,
// whichever core appended it (its own appends at once; others' after a seq
// note, a reconnect, or a skipped seq, read from the log: the log is the
// truth, a lost note costs latency only); presence of members on other cores
// becomes joined / online / away / left for the hub; and a core cut off from
// NATS says so to its members and refuses sends instead of acking into the void.
// The hub stays transport- and NATS-free: it sees this module through the
// few calls below, and this sees the hub through HubSide.
//
// Just over 300 lines: delivery in seq order and presence share the rooms'
// state; the next split is presence and the link into their own module.

import type { Logger } from "../log";
import type { MemberRecord, StoredEntry } from "../store/roomStore";
import type { DeliveredNote, SeqNote } from "./bus";
import type { SenderNote } from "../delivery";
import type { ClusterNode } from "./node";
import type { PresenceEvent } from "./presence";
import type { LinkState } from "./link";

/** The hub, as cross-core delivery and presence need it. */
export interface HubSide {
  /** Hands a stored entry to this core's online recipients (held during a replay, as the hub does for its own). */
  deliverLocal(room: string, e: StoredEntry): void;
  /** A member is online on another core (record from the store). */
  remoteOnline(room: string, m: MemberRecord): void;
  /** Its last connection anywhere closed (or its core died: TTL): away, still a member. */
  remoteAway(room: string, id: string): void;
  /** It quit the room on another core. */
  remoteLeft(room: string, id: string): void;
  /** The link to NATS went down or came back: tell every local member. */
  cutOff(down: boolean): void;
  /** Another core counted a receipt: tell the sender if it is connected here (optional: stand-ins may skip it). */
  remoteDelivered?(room: string, n: SenderNote): void;
}

interface RoomState {
  /** Every seq <= cursor has been handed to this core's recipients. */
  cursor: number;
  /** Entries known (own appends, reads) past the cursor, delivered once contiguous. */
  stash: Map<number, StoredEntry>;
  /** Read the log up to here. */
  want: number;
  reading: boolean;
  retry: NodeJS.Timeout | null;
}

/** Missing seqs are read again after this (a note may arrive before its entry is readable on a replica). */
const RETRY_MS = 100;

export class CrossCore {
  private rooms = new Map<string, RoomState>();
  private opening = new Map<string, Promise<void>>();
  /** room -> members online on other cores (from presence events). */
  private remote = new Map<string, Set<string>>();
  private down = false;
  private closed = false;

  constructor(
    private readonly node: ClusterNode,
    private readonly hub: HubSide,
    private readonly log: Logger,
  ) {}

  /** Starts hearing presence, seq notes and the link state. */
  async start(): Promise<void> {
    this.node.bus.events.on("seq", (n: SeqNote) => this.note(n.room, n.seq));
    this.node.bus.events.on("delivered", (n: DeliveredNote) => {
      if (this.rooms.has(n.room)) this.hub.remoteDelivered?.(n.room, n);
    });
    this.node.presence.events.on("event", (e: PresenceEvent) => this.presenceEvent(e));
    this.node.link.events.on("state", (s: LinkState) => this.linkState(s));
    await this.node.presence.watch();
  }

  /** clusterAckPending: sends of one connection that may wait for JetStream's PubAck at once. */
  get ackPendingMax(): number {
    return this.node.limits.clusterAckPending;
  }

  /** True while the core has no working link to NATS: sends are refused with a clear error. */
  get isCutOff(): boolean {
    return this.down || this.node.link.state === "disconnected";
  }

  /** Is this member online on another core of the cluster? */
  onlineElsewhere(room: string, id: string): boolean {
    return this.remote.get(room)?.has(id) ?? false;
  }

  /**
   * The hub has loaded `room` (a member of this core is in it): hear its seq
   * notes, start the cursor at the log's end (what came before is the replay's,
   * per member), and seat the members online on other cores.
   */
  openRoom(room: string): Promise<void> {
    if (this.rooms.has(room)) return Promise.resolve();
    let p = this.opening.get(room);
    if (!p) {
      p = (async () => {
        // subscribe first: a note for an entry after the range read below is not missed
        await this.node.bus.joinRoom(room);
        this.node.bus.hearDelivered(room);
        const r = await this.node.store.seqRange(room);
        if (!this.rooms.has(room))
          this.rooms.set(room, { cursor: r.last, stash: new Map(), want: r.last, reading: false, retry: null });
        const online = await this.node.presence.onlineIn(room);
        for (const { id, node } of online) {
          if (node === this.node.node) continue;
          this.markRemote(room, id, true);
          await this.seatRemote(room, id);
        }
      })();
      this.opening.set(room, p);
      const forget = () => this.opening.delete(room);
      p.then(forget, forget);
    }
    return p;
  }

  /** No member of this core is in `room` any more: stop hearing it (the log keeps everything). */
  closeRoom(room: string): void {
    const st = this.rooms.get(room);
    if (st?.retry) clearTimeout(st.retry);
    this.rooms.delete(room);
    this.node.bus.leaveRoom(room);
    this.node.bus.stopDelivered(room);
  }

  /** A receipt here counted a message whose sender is not connected here: the other cores hear it (fire and forget). */
  delivered(room: string, n: SenderNote): void {
    if (!this.isCutOff) this.node.bus.notifyDelivered(room, n);
  }

  /** This core appended `e` and has the PubAck: tell the other cores, deliver here in seq order. */
  appended(room: string, e: StoredEntry): void {
    this.node.bus.notifySeq(room, e.seq);
    const st = this.rooms.get(room);
    if (!st) {
      this.hub.deliverLocal(room, e);
      return;
    }
    if (e.seq <= st.cursor) return; // a read of the log brought it first
    st.stash.set(e.seq, e);
    this.drain(room, st);
    if (st.stash.size > 0) this.catchUp(room, e.seq - 1);
  }

  /** A seq this core learned of without a note (a resend JetStream answered as a duplicate): read up to it. */
  seen(room: string, seq: number): void {
    this.note(room, seq);
  }

  /** Presence of a connection of this core (errors only logged: the TTL repairs a lost write). */
  online(room: string, id: string): void {
    this.node.presence
      .online(room, id)
      .catch((e) => this.log.warn({ room, id, err: String(e) }, "cluster presence: online not written"));
  }

  away(room: string, id: string): void {
    this.node.presence
      .away(room, id)
      .catch((e) => this.log.warn({ room, id, err: String(e) }, "cluster presence: away not written"));
  }

  left(room: string, id: string): void {
    this.node.presence
      .left(room, id)
      .catch((e) => this.log.warn({ room, id, err: String(e) }, "cluster presence: left not written"));
  }

  close(): void {
    this.closed = true;
    for (const st of this.rooms.values()) if (st.retry) clearTimeout(st.retry);
    this.rooms.clear();
  }

  // ---- delivery in seq order -----------------------------------------------------

  private note(room: string, seq: number): void {
    const st = this.rooms.get(room);
    if (st && seq > st.cursor) this.catchUp(room, seq);
  }

  private drain(room: string, st: RoomState): void {
    for (let e = st.stash.get(st.cursor + 1); e; e = st.stash.get(st.cursor + 1)) {
      st.stash.delete(e.seq);
      st.cursor = e.seq;
      try {
        this.hub.deliverLocal(room, e);
      } catch (err) {
        this.log.error({ room, seq: e.seq, err: String(err) }, "cross-core delivery failed");
      }
    }
  }

  /** Reads the log after the cursor up to `upTo` (single flight per room), delivering in order. */
  private catchUp(room: string, upTo: number): void {
    const st = this.rooms.get(room);
    if (!st || this.closed) return;
    st.want = Math.max(st.want, upTo);
    if (st.reading || st.cursor >= st.want) return;
    st.reading = true;
    void (async () => {
      try {
        while (!this.closed && this.rooms.get(room) === st && st.cursor < st.want) {
          this.drain(room, st);
          if (st.cursor >= st.want) break;
          // up to the first entry already known (own appends wait in the stash), or what is wanted
          let to = st.want;
          for (const s of st.stash.keys()) if (s > st.cursor && s - 1 < to) to = s - 1;
          const got = await this.node.store.readRoom(room, st.cursor, to);
          for (const e of got) if (e.seq > st.cursor) st.stash.set(e.seq, e);
          const before = st.cursor;
          this.drain(room, st);
          if (st.cursor === before) {
            // nothing at cursor + 1: gone by retention (skip to what is left), or not readable yet (retry)
            const r = await this.node.store.seqRange(room);
            if (r.oldest > st.cursor + 1) {
              st.cursor = r.oldest - 1;
              continue;
            }
            st.retry ??= setTimeout(() => {
              st.retry = null;
              this.catchUp(room, st.want);
            }, RETRY_MS);
            break;
          }
        }
      } catch (e) {
        this.log.warn({ room, err: String(e) }, "cross-core read failed; retrying on the next note or reconnect");
        st.retry ??= setTimeout(() => {
          st.retry = null;
          this.catchUp(room, st.want);
        }, 5 * RETRY_MS);
      } finally {
        st.reading = false;
      }
    })();
  }

  // ---- presence and the link -----------------------------------------------------

  private markRemote(room: string, id: string, on: boolean): void {
    let set = this.remote.get(room);
    if (on) {
      if (!set) this.remote.set(room, (set = new Set()));
      set.add(id);
    } else if (set) {
      set.delete(id);
      if (set.size === 0) this.remote.delete(room);
    }
  }

  private async seatRemote(room: string, id: string): Promise<void> {
    // the other core writes the member record just before its presence: allow it a moment to land
    for (let attempt = 0; attempt < 20 && !this.closed; attempt++) {
      const m = await this.node.store.member(room, id).catch(() => null);
      if (m) {
        if (this.rooms.has(room) && this.onlineElsewhere(room, id)) this.hub.remoteOnline(room, m);
        return;
      }
      await new Promise((r) => setTimeout(r, 50));
    }
    this.log.warn({ room, id }, "cluster presence: online on another core, but no member record");
  }

  private presenceEvent(e: PresenceEvent): void {
    if (e.node === this.node.node) return; // our own members: the hub knows them first-hand
    if (e.kind === "online") {
      this.markRemote(e.room, e.id, true);
      if (this.rooms.has(e.room)) void this.seatRemote(e.room, e.id);
    } else if (e.kind === "away") {
      this.markRemote(e.room, e.id, false);
      if (this.rooms.has(e.room)) this.hub.remoteAway(e.room, e.id);
    } else {
      this.markRemote(e.room, e.id, false);
      if (this.rooms.has(e.room)) this.hub.remoteLeft(e.room, e.id);
    }
  }

  private linkState(s: LinkState): void {
    if (s === "disconnected") {
      if (this.down) return;
      this.down = true;
      this.log.warn({ node: this.node.node }, "cut off from NATS: sends are refused until the link is back");
      this.hub.cutOff(true);
      return;
    }
    if (!this.down) return;
    this.down = false;
    this.log.info({ node: this.node.node }, "link to NATS is back");
    this.hub.cutOff(false);
    // notes sent meanwhile are lost: read every room's log to its end
    for (const room of this.rooms.keys()) {
      this.node.store.seqRange(room).then(
        (r) => this.catchUp(room, r.last),
        () => {},
      );
    }
    // and presence: our members' keys may have expired while we were away
    // (Presence re-puts them on its next heartbeat)
  }
}
