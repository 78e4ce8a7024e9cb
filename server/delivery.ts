// The durable half of the hub (docs/protocol.md section 2c): rooms reloaded
// from the store after a restart, the replay a `hello.resume` asks for,
// receipts relayed to the sender (here, through another core, or at its next
// resume), and the expiry of members away too long.
// The hub keeps routing and presence broadcasts; this keeps what needs the store.
//
// Over 300 lines: replay, receipts and away expiry all need the store and the
// seats; the next split is receipts (receiptsFor, markTold, the told marks).

import type { Cap } from "../protocol/caps";
import { ProtocolError } from "../protocol/errors";
import type { Hello, Member } from "../protocol/messages";
import type { Logger } from "./log";
import type { MemberPeer } from "./ports";
import { Room } from "./room";
import { resumeCheck, StoreError, type ReceiptNote, type RoomStore, type StoredEntry } from "./store/roomStore";
import { msgFrame } from "./wire";
import { isKeyEntry, keyEntryFrame } from "./keyRouting";

export const DURABLE: Cap = "durable";

/** Replay pages wait while this much is queued for the connection, so a long replay never trips maxQueuedControlBytes. */
const REPLAY_QUEUE_BYTES = 2 * 1_048_576;
const REPLAY_PAGE = 500;
/** Live frames held per resuming connection; past this the replay reads the store again instead. */
const MAX_HELD = 2_000;
/**
 * Counts remembered per sender connection (seq -> the highest D it was sent),
 * oldest forgotten first. The store's told mark is the truth; this only closes
 * the race between a resume's read of it and a live count sent meanwhile.
 */
const MAX_TOLD = 4_096;

/** A receipt's news for the sender of `seq`: D (`delivered`) of R (`recipients`) have it. */
export interface SenderNote extends ReceiptNote {
  from: string;
}

interface Held {
  frames: { seq: number; frame: Buffer }[];
  overflow: boolean;
}

export interface DurableDeps {
  store: RoomStore;
  log: Logger;
  now: () => number;
  /** effectiveAwayGraceMs of the store limits. */
  awayGraceMs: number;
  /** The store limit resumeReceipts: most `delivered` one resume sends. */
  resumeReceipts: number;
  /** A member away longer than the grace is gone: the hub removes it and tells the room. */
  expired(room: string, id: string): void;
}

export function isDurable(peer: MemberPeer): boolean {
  return peer.caps.has(DURABLE);
}

/** The `msg` frame of a stored entry for a client with cap durable (a key entry: its `keys` frame). */
export function durableMsgFrame(e: StoredEntry): Buffer {
  if (isKeyEntry(e)) return keyEntryFrame(e);
  return msgFrame({ t: "msg", from: e.from, mid: e.mid, to: [...e.to], at: e.at, seq: e.seq }, e.env);
}

export class Durable {
  private readonly resuming = new Map<MemberPeer, Held>();
  private readonly loading = new Map<string, Promise<Room>>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  /** Per sender connection: seq -> the highest count it was sent (MAX_TOLD at most). */
  private readonly told = new WeakMap<MemberPeer, Map<number, number>>();
  /** Per room and sender: markTold writes not yet settled, which a resume of that sender waits for. */
  private readonly telling = new Map<string, Set<Promise<void>>>();

  constructor(private readonly d: DurableDeps) {}

  get store(): RoomStore {
    return this.d.store;
  }

  /** The room's log id for a durable welcome; a store that cannot tell refuses the hello (retryable). */
  async logId(room: string): Promise<string> {
    try {
      return await this.d.store.logId(room);
    } catch (e) {
      this.d.log.error({ room, err: String(e) }, "room store: cannot read the room's log id");
      throw new ProtocolError("internal", "the room store failed; try again", true, "hello");
    }
  }

  /** A room not in memory: its members come back from the store, all away, until they reconnect. */
  loadRoom(name: string, vk: string | null = null): Promise<Room> {
    let p = this.loading.get(name);
    if (!p) {
      p = this.d.store.members(name).then(
        (records) => {
          const room = new Room(name, vk);
          for (const r of records) {
            const m: Member = {
              id: r.id,
              name: r.name,
              encKey: r.encKey,
              sigKey: r.sigKey,
              encKeySig: r.encKeySig,
              since: r.joinedAt,
            };
            if (r.agent !== undefined) m.agent = r.agent;
            // v2 keys and admission as the member's hello carried them: still admitted, wrapped for while away
            if (r.v2 !== undefined && vk !== null) m.v2 = r.v2;
            room.seat(m, null, r.lastSeen);
            this.scheduleExpiry(name, r.id, r.lastSeen);
          }
          return room;
        },
        (e) => {
          this.d.log.error({ room: name, err: String(e) }, "room store: cannot load the room");
          throw new ProtocolError("internal", "the room store failed; try again", true, "hello");
        },
      );
      this.loading.set(name, p);
      const forget = () => this.loading.delete(name);
      p.then(forget, forget);
    }
    return p;
  }

  /** Joined or back: stored (or refreshed), and no longer expiring. */
  seated(room: string, m: Member): void {
    this.cancelExpiry(room, m.id);
    const now = this.d.now();
    this.d.store
      .putMember(room, {
        id: m.id,
        name: m.name,
        encKey: m.encKey,
        sigKey: m.sigKey,
        encKeySig: m.encKeySig,
        ...(m.agent !== undefined ? { agent: m.agent } : {}),
        joinedAt: m.since,
        lastSeen: now,
        ...(m.v2 !== undefined ? { v2: m.v2 } : {}),
      })
      .catch((e) => this.d.log.warn({ room, id: m.id, err: String(e) }, "room store: member not stored"));
  }

  /** Records lastSeen now; `away`: the connection is gone, so the grace starts. */
  wentAway(room: string, id: string, away = true): void {
    const now = this.d.now();
    this.d.store
      .memberSeen(room, id, now)
      .catch((e) => this.d.log.warn({ room, id, err: String(e) }, "room store: memberSeen failed"));
    if (away) this.scheduleExpiry(room, id, now);
  }

  left(room: string, id: string): void {
    this.cancelExpiry(room, id);
    this.d.store
      .memberLeft(room, id)
      .catch((e) => this.d.log.warn({ room, id, err: String(e) }, "room store: memberLeft failed"));
  }

  private scheduleExpiry(room: string, id: string, since: number): void {
    this.cancelExpiry(room, id);
    const key = `${room}\n${id}`;
    const wait = Math.max(0, since + this.d.awayGraceMs - this.d.now());
    // setTimeout holds at most 2^31-1 ms (24.8 days); a longer grace re-arms.
    const t = setTimeout(
      () => {
        this.timers.delete(key);
        if (since + this.d.awayGraceMs > this.d.now()) return this.scheduleExpiry(room, id, since);
        this.d.store.memberLeft(room, id).catch(() => {});
        this.d.expired(room, id);
      },
      Math.min(wait, 0x7fffffff),
    );
    t.unref();
    this.timers.set(key, t);
  }

  /** Online on another core of a cluster: not expiring here. */
  keep(room: string, id: string): void {
    this.cancelExpiry(room, id);
  }

  private cancelExpiry(room: string, id: string): void {
    const key = `${room}\n${id}`;
    const t = this.timers.get(key);
    if (t) clearTimeout(t);
    this.timers.delete(key);
  }

  /**
   * Live messages for a peer whose replay is under way are held here (and sent
   * after the replay, those it did not already bring), so nothing falls between
   * the last page read and the switch to live. False: not resuming, send now.
   */
  hold(peer: MemberPeer, seq: number, frame: Buffer): boolean {
    const h = this.resuming.get(peer);
    if (!h) return false;
    if (h.frames.length < MAX_HELD) h.frames.push({ seq, frame });
    else h.overflow = true; // still in the store: the replay reads again
    return true;
  }

  /**
   * Replays what `peer` missed after its cursor, in seq order, then `resumed`
   * (without a cursor: just `resumed` with the room's last seq, its starting point).
   * `logId`: the room's log id as the welcome gave it (read here when absent).
   */
  async resume(
    peer: MemberPeer & { readonly queuedBytes?: number; readonly isClosed?: boolean },
    asked: Hello["resume"],
    logId?: string,
    /** hello.resumeLog: the log id `asked` counts in (absent from older clients). */
    askedLog?: string,
  ): Promise<void> {
    const room = peer.room;
    const store = this.d.store;
    const held: Held = { frames: [], overflow: false };
    this.resuming.set(peer, held);
    try {
      const log = logId ?? (await store.logId(room));
      const range = await store.seqRange(room);
      // No cursor yet (a first join): nothing to replay, but the client learns where the log is.
      let cursor = asked ?? { room, seq: range.last };
      if (cursor.room !== room) {
        peer.sendControl({
          t: "error",
          code: "bad_request",
          message: `resume names room '${cursor.room}', not this one`,
          ref: "resume",
          fatal: false,
        });
        cursor = { room, seq: range.last };
      } else {
        if (askedLog !== undefined && askedLog !== log) {
          // A cursor into a log this room no longer has (it was replaced): its seq says
          // nothing here, so the client starts over from what this log keeps.
          if (cursor.seq > 0)
            peer.sendControl({
              t: "error",
              code: "bad_request",
              message: `resume names another log of this room (the core's log was replaced since): its messages come again from the start of this one; what was sent before may be missing`,
              ref: "resume",
              fatal: false,
            });
          cursor = { room, seq: 0 };
        }
        const check = resumeCheck(cursor.seq, range);
        if (check === "future") {
          peer.sendControl({
            t: "error",
            code: "bad_request",
            message: `resume seq ${cursor.seq} is past this room's last (${range.last})`,
            ref: "resume",
            fatal: false,
          });
          cursor = { room, seq: range.last };
        } else if (check === "gap") {
          peer.sendControl({ t: "historyGap", from: cursor.seq + 1, to: range.oldest - 1 });
        }
      }
      let at = cursor.seq;
      let last = Math.max(at, range.last);
      for (;;) {
        while ((peer.queuedBytes ?? 0) > REPLAY_QUEUE_BYTES && !peer.isClosed)
          await new Promise((r) => setTimeout(r, 5));
        if (peer.isClosed) return;
        const page = await store.readAfter(room, peer.memberId, at, REPLAY_PAGE);
        for (const e of page) peer.sendFrame(durableMsgFrame(e));
        if (page.length > 0) at = page[page.length - 1].seq;
        if (page.length === REPLAY_PAGE) continue;
        if (!held.overflow) break;
        held.overflow = false;
        held.frames = [];
      }
      last = Math.max(last, at);
      for (const f of held.frames) {
        if (f.seq <= at) continue;
        peer.sendFrame(f.frame);
        last = Math.max(last, f.seq);
      }
      peer.sendControl({ t: "resumed", seq: last, log });
      this.resuming.delete(peer);
      await this.missedReceipts(peer);
    } catch (e) {
      this.d.log.warn({ room, id: peer.memberId, err: String(e) }, "resume failed");
      peer.sendControl({
        t: "error",
        code: e instanceof StoreError && e.code === "store_full" ? "store_full" : "store_failed",
        message: "the room log could not be read; reconnect to resume",
        ref: "resume",
        fatal: false,
      });
    } finally {
      this.resuming.delete(peer);
    }
  }

  /**
   * After `resumed`: the counts that grew while the sender was away (or whose
   * cross-core note was lost), each once, the newest resumeReceipts of them.
   */
  private async missedReceipts(peer: MemberPeer & { readonly isClosed?: boolean }): Promise<void> {
    const key = `${peer.room}\n${peer.memberId}`;
    try {
      // what an earlier connection of this member here was told must be recorded before it is read
      const pending = this.telling.get(key);
      if (pending) await Promise.allSettled([...pending]);
      const notes = await this.d.store.receiptsFor(peer.room, peer.memberId, this.d.resumeReceipts);
      for (const n of notes) {
        if (peer.isClosed) return;
        this.tellSender(peer, { ...n, from: peer.memberId });
      }
    } catch (e) {
      // not fatal: the counts stay untold in the store and come at the next resume
      this.d.log.warn({ room: peer.room, id: peer.memberId, err: String(e) }, "missed receipts not read");
    }
  }

  /**
   * Tells a sender connected to this core that D of R have its message, unless
   * this connection already had that count or a higher one (nothing twice: a
   * live count and a resume's may cross), then records it as told in the store.
   */
  tellSender(peer: MemberPeer, n: SenderNote): void {
    if (!isDurable(peer) || peer.memberId !== n.from) return;
    let m = this.told.get(peer);
    if (!m) this.told.set(peer, (m = new Map()));
    if ((m.get(n.seq) ?? 0) >= n.delivered) return;
    m.delete(n.seq);
    m.set(n.seq, n.delivered);
    if (m.size > MAX_TOLD) m.delete(m.keys().next().value as number);
    peer.sendControl({ t: "delivered", mid: n.mid, seq: n.seq, delivered: n.delivered, of: n.recipients });
    const key = `${peer.room}\n${n.from}`;
    const p = this.d.store
      .markTold(peer.room, n.from, n.seq, n.delivered)
      .catch((e) => this.d.log.warn({ room: peer.room, seq: n.seq, err: String(e) }, "room store: told not recorded"));
    let set = this.telling.get(key);
    if (!set) this.telling.set(key, (set = new Set()));
    set.add(p);
    void p.then(() => {
      set.delete(p);
      if (set.size === 0 && this.telling.get(key) === set) this.telling.delete(key);
    });
  }

  /**
   * A recipient says it has opened these: counted once each. The sender hears
   * of each new count: here when it is connected here, else through `elsewhere`
   * (the cluster's note to the other cores; null alone), else at its next resume.
   */
  async receipts(
    peer: MemberPeer,
    seqs: readonly number[],
    senderPeer: (id: string) => MemberPeer | null,
    elsewhere: ((room: string, n: SenderNote) => void) | null = null,
  ): Promise<void> {
    for (const seq of new Set(seqs)) {
      const r = await this.d.store.markDelivered(peer.room, seq, peer.memberId);
      if (!r || !r.added) continue;
      const n: SenderNote = { from: r.from, seq, mid: r.mid, delivered: r.delivered, recipients: r.recipients };
      const to = senderPeer(r.from);
      if (to) this.tellSender(to, n);
      else elsewhere?.(peer.room, n);
    }
  }
}
