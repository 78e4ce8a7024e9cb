// A hostile core for v2 tests: wraps the real TCP connector of one client so
// everything the core sends it (and it sends the core) passes a test's rules,
// which may drop, replay, reorder, tamper or forge messages. From the client's
// side this is exactly what a malicious or compromised core can do.

import { tcpConnector } from "../../client/tcp";
import { decodeRaw, encodeJson, type RawMessage } from "../../protocol/codec";
import { KIND_CONTROL } from "../../protocol/framing";
import type { Connector, TransportHandlers } from "../../protocol/transport";

/** A rule returns what to deliver instead (an empty array drops), or null to pass the message as is. */
export type Rule = (raw: RawMessage) => RawMessage[] | null;

export interface Hostile {
  connect: Connector;
  /** Rules for core -> client and client -> core; replace them at any time. */
  down: Rule | null;
  up: Rule | null;
  /** Every control message the client received, after the rules. */
  delivered: RawMessage[];
  /** Forges a message from the core to the client on its current connection. */
  inject(raw: RawMessage): void;
}

export function hostileCore(port: number): Hostile {
  const tcp = tcpConnector({ host: "127.0.0.1", port });
  let current: TransportHandlers | null = null;
  const h: Hostile = {
    down: null,
    up: null,
    delivered: [],
    inject(raw) {
      current?.onFrame(KIND_CONTROL, encodeJson(raw));
      h.delivered.push(raw);
    },
    connect: (handlers) => {
      current = handlers;
      const t = tcp({
        onOpen: () => handlers.onOpen(),
        onClose: (r) => handlers.onClose(r),
        onFrame: (kind, body) => {
          const r = kind === KIND_CONTROL ? decodeRaw(body) : null;
          const out = r?.ok && h.down ? h.down(r.raw) : null;
          if (out === null) {
            if (r?.ok) h.delivered.push(r.raw);
            return handlers.onFrame(kind, body);
          }
          for (const m of out) {
            h.delivered.push(m);
            handlers.onFrame(KIND_CONTROL, encodeJson(m));
          }
        },
      });
      return {
        send: (kind, body) => {
          const r = kind === KIND_CONTROL ? decodeRaw(body) : null;
          const out = r?.ok && h.up ? h.up(r.raw) : null;
          if (out === null) return t.send(kind, body);
          for (const m of out) t.send(KIND_CONTROL, encodeJson(m));
        },
        close: () => t.close(),
      };
    },
  };
  return h;
}
