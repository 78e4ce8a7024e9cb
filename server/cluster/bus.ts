// The cross-core bus for what is not in the room log: "room R has seq N" so
// other cores read the log for their own members, and the room's stream anchor
// (video, playing/paused, position posMs held at wall time atMs) shared in KV,
// so control (play, pause, seek, stop) from any core reaches every core, and
// each core decodes for its own viewers and paces from the same anchor.
//
// Notifications are core NATS (at most once, no disk): a lost one costs only
// latency, because the log is the truth; a core that reconnects (or misses a
// seq: N > last + 1) reads the log from its members' cursors. The anchor is the
// store's stream record (KV sr_<NS>_streams, key roomToken), written with CAS so
// concurrent control from two cores is ordered, and watched by every core.

import { EventEmitter } from "node:events";
import type { NatsConnection, Subscription } from "@nats-io/transport-node";
import { StorageType } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { RoomStreamRecord } from "../store/roomStore";
import { checkStream } from "../store/roomStore";
import { roomToken } from "./jetstreamStore";
import { ID_RE } from "../../protocol/names";

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface SeqNote {
  room: string;
  seq: number;
  node: string;
  /** The sender's wall time when it published (for latency figures, never trusted for order). */
  t: number;
}

/** "room R: seq S now D of R for sender X": a receipt counted on `node` (docs/protocol.md 2c, across cores). */
export interface DeliveredNote {
  room: string;
  seq: number;
  mid: string;
  /** The sender of seq: the core it is connected to tells it. */
  from: string;
  delivered: number;
  recipients: number;
  node: string;
  t: number;
}

const NOTE_MID_RE = /^[\x21-\x7e]{1,64}$/;

/** A delivered note off the wire, checked field by field (null: not ours, or not for this room). */
export function parseDeliveredNote(room: string, self: string, data: Uint8Array): DeliveredNote | null {
  let n: Partial<DeliveredNote>;
  try {
    n = JSON.parse(dec.decode(data)) as Partial<DeliveredNote>;
  } catch {
    return null;
  }
  const int = (v: unknown, min: number): v is number => Number.isSafeInteger(v) && (v as number) >= min;
  if (
    n.room !== room ||
    typeof n.node !== "string" ||
    n.node === self ||
    !int(n.seq, 1) ||
    typeof n.mid !== "string" ||
    !NOTE_MID_RE.test(n.mid) ||
    typeof n.from !== "string" ||
    !ID_RE.test(n.from) ||
    !int(n.recipients, 1) ||
    !int(n.delivered, 1) ||
    n.delivered > n.recipients
  )
    return null;
  return {
    room,
    seq: n.seq,
    mid: n.mid,
    from: n.from,
    delivered: n.delivered,
    recipients: n.recipients,
    node: n.node,
    t: Number(n.t) || 0,
  };
}

export interface AnchorNote {
  room: string;
  /** null: the stream stopped. */
  anchor: RoomStreamRecord | null;
  /** KV revision: a later revision always wins. */
  rev: number;
}

/** Where the anchor says playback is at wall time `now` (ms). */
export function anchorPosition(a: RoomStreamRecord, now: number): number {
  return a.state === "playing" ? a.posMs + Math.max(0, now - a.atMs) : a.posMs;
}

export interface BusOptions {
  nc: NatsConnection;
  node: string;
  namespace?: string;
  replicas?: number;
}

export class Bus {
  /** "seq" (SeqNote) and "delivered" (DeliveredNote) from other cores; "anchor" (AnchorNote) from every core, this one's too. */
  readonly events = new EventEmitter();
  private subs = new Map<string, Subscription>();
  private anchors!: KV;
  private watching = new Map<string, () => void>();
  private readonly ns: string;

  private constructor(private readonly opts: BusOptions) {
    this.ns = opts.namespace ?? "main";
  }

  static async start(opts: BusOptions): Promise<Bus> {
    const b = new Bus(opts);
    // the same bucket the JetStream store keeps room streams in: one truth for the anchor
    b.anchors = await new Kvm(opts.nc).create(`sr_${b.ns}_streams`, {
      history: 1,
      replicas: opts.replicas ?? 1,
      storage: StorageType.File,
    });
    return b;
  }

  private subject(room: string, what: "seq"): string {
    return `sealroom.${this.ns}.room.${roomToken(room)}.${what}`;
  }

  /** Start hearing a room (this core has members in it): its seq notes and its anchor. */
  async joinRoom(room: string): Promise<void> {
    const tok = roomToken(room);
    if (this.subs.has(tok)) return;
    const sub = this.opts.nc.subscribe(this.subject(room, "seq"), {
      callback: (_err, m) => {
        try {
          const n = JSON.parse(dec.decode(m.data)) as Partial<SeqNote>;
          if (
            n.room !== room ||
            !Number.isSafeInteger(n.seq) ||
            typeof n.node !== "string" ||
            n.node === this.opts.node
          )
            return;
          this.events.emit("seq", { room, seq: n.seq as number, node: n.node, t: Number(n.t) || 0 } satisfies SeqNote);
        } catch {
          // not ours: ignore
        }
      },
    });
    this.subs.set(tok, sub);
    const it = await this.anchors.watch({ key: tok });
    this.watching.set(tok, () => it.stop());
    void (async () => {
      for await (const e of it) {
        let anchor: RoomStreamRecord | null = null;
        if (e.operation === "PUT") {
          try {
            anchor = JSON.parse(dec.decode(e.value)) as RoomStreamRecord;
            checkStream(room, anchor);
          } catch {
            continue;
          }
        }
        this.events.emit("anchor", { room, anchor, rev: e.revision } satisfies AnchorNote);
      }
    })().catch(() => {});
  }

  leaveRoom(room: string): void {
    const tok = roomToken(room);
    this.subs.get(tok)?.unsubscribe();
    this.subs.delete(tok);
    this.watching.get(tok)?.();
    this.watching.delete(tok);
  }

  /** After an append is acked: tell the other cores (fire and forget; the log is the truth). */
  notifySeq(room: string, seq: number): void {
    this.opts.nc.publish(
      this.subject(room, "seq"),
      enc.encode(JSON.stringify({ room, seq, node: this.opts.node, t: Date.now() } satisfies SeqNote)),
    );
  }

  /** The current anchor and its revision (null when no stream). */
  async anchor(room: string): Promise<{ anchor: RoomStreamRecord | null; rev: number }> {
    const e = await this.anchors.get(roomToken(room));
    if (!e || e.operation !== "PUT") return { anchor: null, rev: e?.revision ?? 0 };
    return { anchor: JSON.parse(dec.decode(e.value)) as RoomStreamRecord, rev: e.revision };
  }

  /**
   * Control from any core: `change` maps the current anchor to the next (pause,
   * seek, stop = null, play = new record). Retried on a concurrent change, so
   * two cores' controls are applied one after the other, never lost.
   */
  async control(room: string, change: (cur: RoomStreamRecord | null) => RoomStreamRecord | null): Promise<AnchorNote> {
    const key = roomToken(room);
    for (let attempt = 0; attempt < 20; attempt++) {
      const e = await this.anchors.get(key);
      const cur = e && e.operation === "PUT" ? (JSON.parse(dec.decode(e.value)) as RoomStreamRecord) : null;
      const next = change(cur);
      checkStream(room, next);
      try {
        let rev: number;
        if (next === null) {
          if (!e || e.operation !== "PUT") return { room, anchor: null, rev: e?.revision ?? 0 };
          await this.anchors.delete(key, { previousSeq: e.revision });
          rev = e.revision + 1;
        } else if (e) rev = await this.anchors.update(key, enc.encode(JSON.stringify(next)), e.revision);
        else rev = await this.anchors.create(key, enc.encode(JSON.stringify(next)));
        return { room, anchor: next, rev };
      } catch {
        // another core changed it first: apply ours to its result
      }
    }
    throw new Error(`room stream control for ${room} lost 20 races in a row`);
  }

  // ---- delivered notes: receipts counted on one core for a sender on another ----

  private deliveredSubs = new Map<string, Subscription>();

  private deliveredSubject(room: string): string {
    return `sealroom.${this.ns}.room.${roomToken(room)}.delivered`;
  }

  /** Hear a room's delivered notes ("delivered" events; this core's own are not echoed). */
  hearDelivered(room: string): void {
    const tok = roomToken(room);
    if (this.deliveredSubs.has(tok)) return;
    const sub = this.opts.nc.subscribe(this.deliveredSubject(room), {
      callback: (_err, m) => {
        const n = parseDeliveredNote(room, this.opts.node, m.data);
        if (n) this.events.emit("delivered", n);
      },
    });
    this.deliveredSubs.set(tok, sub);
  }

  stopDelivered(room: string): void {
    const tok = roomToken(room);
    this.deliveredSubs.get(tok)?.unsubscribe();
    this.deliveredSubs.delete(tok);
  }

  /** Fire and forget (core NATS): the store is the truth, and the sender's next resume repairs a lost note. */
  notifyDelivered(room: string, n: Omit<DeliveredNote, "room" | "node" | "t">): void {
    const note: DeliveredNote = {
      room,
      seq: n.seq,
      mid: n.mid,
      from: n.from,
      delivered: n.delivered,
      recipients: n.recipients,
      node: this.opts.node,
      t: Date.now(),
    };
    this.opts.nc.publish(this.deliveredSubject(room), enc.encode(JSON.stringify(note)));
  }

  close(): void {
    for (const s of this.deliveredSubs.values()) s.unsubscribe();
    this.deliveredSubs.clear();
    for (const s of this.subs.values()) s.unsubscribe();
    for (const stop of this.watching.values()) stop();
    this.subs.clear();
    this.watching.clear();
  }
}
