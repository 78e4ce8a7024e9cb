// One core's connection to NATS and its health: "connected" or "disconnected"
// within a named timeout (cutoffMs), from the client's own events and from a
// round-trip watchdog, so a core cut off from NATS knows it (a silent partition
// or a frozen server sends no FIN; only a missing reply tells).

import { EventEmitter } from "node:events";
import { connect, type NatsConnection } from "@nats-io/transport-node";

export type LinkState = "connected" | "disconnected";

export const DEFAULT_LINK_LIMITS = {
  /** A core that has had no reply from NATS for this long says it is cut off. */
  natsCutoffMs: 3_000,
  /** How often the watchdog round-trips (flush) to NATS. */
  natsProbeMs: 500,
};
export type LinkLimits = typeof DEFAULT_LINK_LIMITS;

export interface LinkOptions {
  servers: string | string[];
  /** The connection's name at the server (the node name). */
  name?: string;
  limits?: Partial<LinkLimits>;
}

export interface NatsLink {
  readonly nc: NatsConnection;
  readonly state: LinkState;
  readonly limits: LinkLimits;
  /** Emits "state" (LinkState) on every change. */
  readonly events: EventEmitter;
  /** Resolves when the state next is "connected" (at once if it is). */
  connected(): Promise<void>;
  close(): Promise<void>;
}

export async function openLink(opts: LinkOptions): Promise<NatsLink> {
  const limits: LinkLimits = { ...DEFAULT_LINK_LIMITS, ...opts.limits };
  for (const [k, v] of Object.entries(limits))
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`link limit ${k} must be an integer >= 1, not ${v}`);
  const nc = await connect({
    servers: opts.servers,
    name: opts.name,
    maxReconnectAttempts: -1,
    reconnectTimeWait: 250,
    waitOnFirstConnect: false,
    pingInterval: Math.max(250, Math.floor(limits.natsCutoffMs / 3)),
    maxPingOut: 2,
  });
  const events = new EventEmitter();
  let state: LinkState = "connected";
  let closed = false;
  const set = (s: LinkState) => {
    if (s === state || closed) return;
    state = s;
    events.emit("state", s);
  };
  void (async () => {
    for await (const s of nc.status()) {
      if (s.type === "disconnect" || s.type === "staleConnection") set("disconnected");
      else if (s.type === "reconnect") set("connected");
    }
  })().catch(() => {});
  // The watchdog: a flush is one PING/PONG; no answer within natsCutoffMs is a cut.
  let lastOk = Date.now();
  let probing = false;
  const probe = setInterval(() => {
    if (Date.now() - lastOk > limits.natsCutoffMs) set("disconnected");
    if (probing || nc.isClosed()) return;
    probing = true;
    nc.flush()
      .then(() => {
        lastOk = Date.now();
        if (!nc.isClosed() && state === "disconnected" && !nc.isDraining()) set("connected");
      })
      .catch(() => {})
      .finally(() => (probing = false));
  }, limits.natsProbeMs);
  probe.unref();
  return {
    nc,
    limits,
    events,
    get state() {
      return state;
    },
    connected() {
      if (state === "connected") return Promise.resolve();
      return new Promise((r) => {
        const on = (s: LinkState) => {
          if (s === "connected") {
            events.off("state", on);
            r();
          }
        };
        events.on("state", on);
      });
    },
    async close() {
      closed = true;
      clearInterval(probe);
      if (!nc.isClosed()) await nc.close();
    },
  };
}
