// A durable v2 client for integration tests: a real ClientSession on a real
// core, its cursors and v2 keys kept in Stores between runs, so a test can
// end a run abruptly (a tab closed, a terminal killed) and start the next.

import { tcpConnector } from "../../client/tcp";
import type { Identity } from "../../protocol/crypto";
import { MemoryV2KeyStore, type V2KeyStore } from "../../protocol/e2e/keyStore2";
import { deriveRoomKeys, generateRoomSecret, parseRoomSecret, type RoomKeys } from "../../protocol/e2e/roomSecret";
import { MemoryCursorStore } from "../../protocol/resume";
import { ClientSession, type Connector, type ReceivedMessage, type SessionEvents } from "../../protocol/session";

export { until } from "./poll";

/** The keys of a new room link's secret. */
export async function newRoom(): Promise<RoomKeys> {
  const p = parseRoomSecret(generateRoomSecret());
  if (!p.ok) throw new Error(p.reason);
  return deriveRoomKeys(p.secret);
}

export interface V2Member {
  s: ClientSession;
  got: ReceivedMessage[];
  /** `keys` frames this run received (live or replayed). */
  keysIn: number;
  events: { [K in keyof SessionEvents]?: SessionEvents[K][] };
  /** The connection ends without quit and the session is gone: a tab closed, a terminal killed. */
  vanish(): void;
}

export type Stores = { cursors: MemoryCursorStore; v2: V2KeyStore };
export const stores = (): Stores => ({ cursors: new MemoryCursorStore(), v2: new MemoryV2KeyStore() });

const RECORDED = ["ack", "resumed", "left", "presence", "joined", "sendFailed"] as const;

/** One run of a durable v2 client on the core at `core.port`. */
export function v2Member(
  core: { port: number },
  identity: Identity,
  name: string,
  keys: RoomKeys,
  st: Stores,
  earlyWaitMs = 3_000,
): V2Member {
  let cut = () => {};
  const m: V2Member = { s: null as unknown as ClientSession, got: [], keysIn: 0, events: {}, vanish: () => cut() };
  const connect: Connector = (h) => {
    const t = tcpConnector({ host: "127.0.0.1", port: core.port })({
      ...h,
      onFrame: (kind, body) => {
        if (kind === 1 && Buffer.from(body).includes('"t":"keys"')) m.keysIn++;
        h.onFrame(kind, body);
      },
    });
    cut = () => {
      t.close();
      h.onClose("gone");
    };
    return t;
  };
  m.s = new ClientSession({
    identity,
    name,
    room: keys.room,
    agent: "test",
    connect,
    reconnect: false,
    roomKeys: keys,
    cursors: st.cursors,
    v2KeyStore: st.v2,
    v2Limits: { earlyWaitMs },
  });
  m.s.on("message", (r) => m.got.push(r));
  for (const ev of RECORDED) m.s.on(ev, (e) => ((m.events[ev] ??= []) as unknown[]).push(e));
  m.s.start();
  return m;
}

/** What a member shows: each message's text, or why it could not be opened. */
export const shown = (m: V2Member): string[] => m.got.map((r) => (r.ok ? r.text : `FAILED: ${r.reason}`));
