// A durable (v1) client for integration tests: a real ClientSession over real
// TCP with a cursor store, recording texts, seqs and events, and a cut() that
// drops the connection without quit (a lid closed, a kill -9 of the client).

import { tcpConnector } from "../../client/tcp";
import type { Identity } from "../../protocol/crypto";
import { MemoryCursorStore } from "../../protocol/resume";
import { ClientSession, type Connector, type SessionEvents } from "../../protocol/session";

export interface DurableMember {
  s: ClientSession;
  texts: string[];
  seqs: number[];
  events: { [K in keyof SessionEvents]?: SessionEvents[K][] };
  /** Cuts the connection without quit: the member stays, away. */
  cut(): void;
}

const RECORDED = [
  "ack",
  "delivered",
  "presence",
  "resumed",
  "historyGap",
  "left",
  "joined",
  "error",
  "welcome",
] as const;

/**
 * A TCP connector to 127.0.0.1:port() (read at each dial, so a test can
 * restart the core on another port) and cut(), which drops the current
 * connection without quit.
 */
export function cuttableTcp(port: () => number): { connect: Connector; cut(): void } {
  let cut = () => {};
  const connect: Connector = (h) => {
    const t = tcpConnector({ host: "127.0.0.1", port: port() })(h);
    cut = () => {
      t.close();
      h.onClose("cut by the test");
    };
    return t;
  };
  return { connect, cut: () => cut() };
}

/** `port` is read at each dial, so a test can restart the core on another port. */
export function durableMember(
  port: () => number,
  name: string,
  room: string,
  identity: Identity,
  cursors = new MemoryCursorStore(),
  reconnect = true,
): DurableMember {
  const tcp = cuttableTcp(port);
  const s = new ClientSession({
    identity,
    name,
    room,
    agent: "test/1",
    connect: tcp.connect,
    cursors,
    reconnect: reconnect ? { minMs: 50, maxMs: 300 } : false,
  });
  const m: DurableMember = { s, texts: [], seqs: [], events: {}, cut: tcp.cut };
  for (const ev of RECORDED) s.on(ev, (e) => ((m.events[ev] ??= []) as unknown[]).push(e));
  s.on("message", (e) => {
    if (e.ok) m.texts.push(e.text);
    if (e.seq !== undefined) m.seqs.push(e.seq);
  });
  s.start();
  return m;
}
