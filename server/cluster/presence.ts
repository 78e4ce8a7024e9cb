// Cluster presence in a NATS KV bucket with a TTL: each core claims its node
// name and publishes its online members, refreshing them with a heartbeat; a
// dead core stops refreshing, so its members expire after the TTL (removed by
// the server's max_age, announced by every watcher's own TTL timer: JetStream
// 2.9 writes no marker when max_age removes a key). A watch turns the bucket
// into online / away / left events across cores.
//
// Keys (bucket sr_<NS>_presence, max_age = presenceTtlMs):
//   n.<node>                  the node's claim: created with kv.create (refused while it is fresh)
//   m.<roomToken>.<id>.<node> one member online on one core: {room, id, node, state}

import { randomUUID } from "node:crypto";
import { EventEmitter } from "node:events";
import type { NatsConnection } from "@nats-io/transport-node";
import {
  jetstream,
  jetstreamManager,
  StorageType,
  type JetStreamClient,
  type JetStreamManager,
} from "@nats-io/jetstream";
import { Kvm, type KV, type KvEntry } from "@nats-io/kv";
import { ID_RE } from "../../protocol/names";
import { roomToken } from "./jetstreamStore";
import { scanKv } from "./jetstream/kvScan";

export const DEFAULT_PRESENCE_LIMITS = {
  /** A key not refreshed for this long is gone: a dead core's members are away after it. */
  presenceTtlMs: 10_000,
  /** How often a core refreshes its node claim and its members (well under the TTL). */
  presenceHeartbeatMs: 3_000,
};
export type PresenceLimits = typeof DEFAULT_PRESENCE_LIMITS;

export const NODE_RE = /^[A-Za-z0-9_-]{1,64}$/;

export type PresenceEvent =
  | { kind: "online"; room: string; id: string; node: string }
  /** The member has no connection on any core (it went away, or its core died: reason "expired"). */
  | { kind: "away"; room: string; id: string; node: string; reason: "closed" | "expired" }
  | { kind: "left"; room: string; id: string; node: string };

export class NodeNameTaken extends Error {
  constructor(
    readonly node: string,
    ttlMs: number,
  ) {
    super(
      `node name ${node} is already in use by a live core of this cluster (a dead core's claim expires ${ttlMs} ms after its last heartbeat); pick another --node`,
    );
    this.name = "NodeNameTaken";
  }
}

interface Value {
  room: string;
  id: string;
  node: string;
  state: "online" | "left";
}

const enc = new TextEncoder();
const dec = new TextDecoder();

export interface PresenceOptions {
  nc: NatsConnection;
  node: string;
  namespace?: string;
  replicas?: number;
  limits?: Partial<PresenceLimits>;
}

export class Presence {
  readonly node: string;
  readonly limits: PresenceLimits;
  /** "event" (PresenceEvent); "lost-node" when this core's claim was taken over (it was cut off longer than the TTL). */
  readonly events = new EventEmitter();
  private kv!: KV;
  /** For reading the bucket's keys by stream sequence (scanKv). */
  private clients!: Promise<{ js: JetStreamClient; jsm: JetStreamManager }>;
  private claimRev = 0;
  /** This process's claim, told apart from another core's with the same name (a CAS that timed out may still have landed). */
  private readonly incarnation = randomUUID();
  private mine = new Map<string, Value>(); // key -> value this core refreshes
  private beat: NodeJS.Timeout | null = null;
  private closed = false;
  // the watcher's view: key -> value and when it expires unless refreshed
  private seen = new Map<string, { v: Value; expires: number }>();
  private expiryTimer: NodeJS.Timeout | null = null;
  private stopWatch: (() => void) | null = null;

  private constructor(
    opts: PresenceOptions,
    private readonly ns: string,
  ) {
    this.node = opts.node;
    this.limits = { ...DEFAULT_PRESENCE_LIMITS, ...opts.limits };
  }

  /** Opens the bucket and claims the node name; throws NodeNameTaken if a live core has it. */
  static async start(opts: PresenceOptions): Promise<Presence> {
    if (!NODE_RE.test(opts.node)) throw new RangeError("node name must be 1-64 letters, digits, _ or -");
    const p = new Presence(opts, opts.namespace ?? "main");
    const l = p.limits;
    if (!(l.presenceHeartbeatMs >= 100 && l.presenceTtlMs >= 2 * l.presenceHeartbeatMs)) {
      throw new RangeError("presenceTtlMs must be at least twice presenceHeartbeatMs (>= 100 ms)");
    }
    p.clients = jetstreamManager(opts.nc).then((jsm) => ({ js: jetstream(opts.nc), jsm }));
    p.clients.catch(() => {});
    p.kv = await new Kvm(opts.nc).create(p.bucket, {
      history: 1,
      ttl: l.presenceTtlMs,
      replicas: opts.replicas ?? 1,
      storage: StorageType.File,
    });
    try {
      p.claimRev = await p.kv.create(`n.${opts.node}`, p.claim());
    } catch {
      throw new NodeNameTaken(opts.node, l.presenceTtlMs);
    }
    p.beat = setInterval(() => void p.heartbeat(), l.presenceHeartbeatMs);
    p.beat.unref();
    return p;
  }

  private get bucket(): string {
    return `sr_${this.ns}_presence`;
  }

  private key(room: string, id: string): string {
    return `m.${roomToken(room)}.${id}.${this.node}`;
  }

  /** This core now has a connection of `id` in `room`. */
  async online(room: string, id: string): Promise<void> {
    if (!ID_RE.test(id)) throw new RangeError("not a member id");
    const k = this.key(room, id);
    const v: Value = { room, id, node: this.node, state: "online" };
    this.mine.set(k, v);
    await this.kv.put(k, enc.encode(JSON.stringify(v)));
  }

  /** The member's connection on this core closed (it stays a member, away unless online elsewhere). */
  async away(room: string, id: string): Promise<void> {
    const k = this.key(room, id);
    this.mine.delete(k);
    await this.kv.delete(k);
  }

  /** The member quit the room: every core hears "left". */
  async left(room: string, id: string): Promise<void> {
    const k = this.key(room, id);
    this.mine.delete(k);
    // a "left" value, not refreshed: the bucket's TTL removes it
    await this.kv.put(k, enc.encode(JSON.stringify({ room, id, node: this.node, state: "left" } satisfies Value)));
  }

  /** Members online in `room` on live cores (any core), from the bucket now. */
  async onlineIn(room: string): Promise<{ id: string; node: string }[]> {
    const out: { id: string; node: string }[] = [];
    // not kv.keys(): it can wait 30 s when a key is written meanwhile (jetstream/kvScan.ts)
    const { js, jsm } = await this.clients;
    for (const e of (await scanKv(js, jsm, this.bucket, `m.${roomToken(room)}.*.*`)).values()) {
      const v = parse(e);
      if (v && v.state === "online" && v.room === room) out.push({ id: v.id, node: v.node });
    }
    return out;
  }

  /** Starts emitting "event" for every core's members (this one's too), with expiry by TTL. */
  async watch(): Promise<void> {
    if (this.stopWatch) return;
    const it = await this.kv.watch({ key: "m.>" });
    this.stopWatch = () => it.stop();
    void (async () => {
      for await (const e of it) this.onEntry(e);
    })().catch(() => {});
    this.expiryTimer = setInterval(() => this.expire(), Math.max(100, Math.floor(this.limits.presenceHeartbeatMs / 3)));
    this.expiryTimer.unref();
  }

  private onEntry(e: KvEntry): void {
    const had = this.seen.get(e.key);
    if (e.operation !== "PUT") {
      if (had) {
        this.seen.delete(e.key);
        if (had.v.state === "online") this.emitAway(had.v, "closed");
      }
      return;
    }
    const v = parse(e);
    if (!v) return;
    this.seen.set(e.key, { v, expires: Date.now() + this.limits.presenceTtlMs });
    if (v.state === "left") {
      if (!had || had.v.state !== "left")
        this.events.emit("event", { kind: "left", room: v.room, id: v.id, node: v.node } satisfies PresenceEvent);
    } else if (!had || had.v.state !== "online") {
      if (!this.onlineElsewhere(v, e.key))
        this.events.emit("event", { kind: "online", room: v.room, id: v.id, node: v.node } satisfies PresenceEvent);
    }
  }

  private onlineElsewhere(v: Value, exceptKey: string): boolean {
    for (const [k, s] of this.seen)
      if (k !== exceptKey && s.v.state === "online" && s.v.room === v.room && s.v.id === v.id) return true;
    return false;
  }

  private emitAway(v: Value, reason: "closed" | "expired"): void {
    if (this.onlineElsewhere(v, "")) return; // still online through another core
    this.events.emit("event", { kind: "away", room: v.room, id: v.id, node: v.node, reason } satisfies PresenceEvent);
  }

  /** The TTL, applied by the watcher: a key not refreshed in presenceTtlMs is gone (its core is dead or cut off). */
  private expire(): void {
    const now = Date.now();
    for (const [k, s] of this.seen) {
      if (s.expires > now) continue;
      this.seen.delete(k);
      if (s.v.state === "online") this.emitAway(s.v, "expired");
    }
  }

  private async heartbeat(): Promise<void> {
    if (this.closed) return;
    try {
      // CAS on our own claim: fails if the claim expired and another core took the name
      this.claimRev = await this.kv.update(`n.${this.node}`, this.claim(), this.claimRev);
    } catch (e) {
      if (this.closed) return;
      const taken = await this.kv.get(`n.${this.node}`).catch(() => undefined);
      if (taken === undefined) return; // NATS unreachable: the link reports it; retry next beat
      if (taken && taken.operation === "PUT") {
        // Still ours: our own update applied after the client gave up on its reply (NATS slow or
        // frozen), or one that never landed. Only another core's claim means the name is lost.
        if (!this.isMine(taken)) {
          this.events.emit("lost-node", e);
          return;
        }
        this.claimRev = taken.revision;
      } else {
        // expired (we were cut off longer than the TTL) and nobody took it: claim it again
        try {
          this.claimRev = await this.kv.create(`n.${this.node}`, this.claim());
        } catch (err) {
          // taken in the same instant by someone else, or NATS went away again: look once more next beat
          const now = await this.kv.get(`n.${this.node}`).catch(() => undefined);
          if (now && now.operation === "PUT" && !this.isMine(now)) this.events.emit("lost-node", err);
          return;
        }
      }
    }
    await Promise.all([...this.mine].map(([k, v]) => this.kv.put(k, enc.encode(JSON.stringify(v))))).catch(() => {});
  }

  private claim(): Uint8Array {
    return enc.encode(JSON.stringify({ node: this.node, since: Date.now(), inst: this.incarnation }));
  }

  private isMine(e: KvEntry): boolean {
    try {
      return (JSON.parse(dec.decode(e.value)) as { inst?: unknown }).inst === this.incarnation;
    } catch {
      return false;
    }
  }

  /** Clean stop: this core's members go away at once (not after the TTL), and the name is free. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.beat) clearInterval(this.beat);
    if (this.expiryTimer) clearInterval(this.expiryTimer);
    this.stopWatch?.();
    await Promise.all([...this.mine.keys()].map((k) => this.kv.delete(k))).catch(() => {});
    this.mine.clear();
    await this.kv.purge(`n.${this.node}`).catch(() => {});
  }
}

function parse(e: { value: Uint8Array }): Value | null {
  try {
    const v = JSON.parse(dec.decode(e.value)) as Partial<Value>;
    if (
      typeof v.room !== "string" ||
      typeof v.id !== "string" ||
      typeof v.node !== "string" ||
      (v.state !== "online" && v.state !== "left")
    )
      return null;
    return v as Value;
  } catch {
    return null;
  }
}
