// Unit tests of protocol/link.ts: one connection's life (handshake timer,
// pings, dead peer, backoff, the states) with an in-memory transport and fake
// timers, so every deadline can be stepped through exactly.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { decodeRaw, encodeJson } from "../../protocol/codec";
import { KIND_CONTROL } from "../../protocol/framing";
import { Link, type Conn, type LinkHandlers, type LinkOptions } from "../../protocol/link";
import type { ErrorMsg } from "../../protocol/messages";
import type { SessionEvents, SessionState } from "../../protocol/sessionTypes";
import type { Connector, TransportHandlers } from "../../protocol/transport";

/** One fake connection: what went out, whether it was closed, and the handlers to play the core. */
interface FakeConn {
  handlers: TransportHandlers;
  sent: { t: string }[];
  closed: boolean;
}

function harness(opts: Partial<LinkOptions> = {}, throwOnConnect = false) {
  const conns: FakeConn[] = [];
  const log: string[] = [];
  const states: SessionState[] = [];
  const disconnects: SessionEvents["disconnected"][] = [];
  const closes: { reason: string; error: ErrorMsg | null }[] = [];
  const frames: { gen: number; kind: number; text: string }[] = [];
  let downs = 0;
  /** Closes handed to afterReceived, run by the test (or at once when `direct`). */
  const deferred: (() => void)[] = [];
  const h = { conns, log, states, disconnects, closes, frames, deferred, direct: true, downs: () => downs };
  const connect: Connector = (handlers) => {
    if (throwOnConnect) throw new Error("no route");
    const c: FakeConn = { handlers, sent: [], closed: false };
    conns.push(c);
    return {
      send: (kind, body) => {
        const raw = decodeRaw(body);
        if (kind !== KIND_CONTROL || !raw.ok) throw new Error("not a control frame");
        c.sent.push(raw.raw as { t: string });
      },
      close: () => {
        c.closed = true;
      },
    };
  };
  const handlers: LinkHandlers = {
    frame: (conn, kind, body) => frames.push({ gen: conn.gen, kind, text: new TextDecoder().decode(body) }),
    afterReceived: (fn) => (h.direct ? fn() : deferred.push(fn)),
    down: () => downs++,
    state: (s) => states.push(s),
    disconnected: (d) => disconnects.push(d),
    closed: (reason, error) => closes.push({ reason, error }),
  };
  const link = new Link(
    {
      connect,
      reconnect: { minMs: 100, maxMs: 400 },
      pingMs: 1_000,
      deadMs: 3_000,
      handshakeMs: 2_000,
      random: () => 1,
      log: (_l, m) => log.push(m),
      ...opts,
    },
    handlers,
  );
  return { link, h, handlers };
}

/** The core's side: a welcome arrived on the current connection. */
function welcome(link: Link): Conn {
  const conn = link.current;
  if (!conn) throw new Error("no connection");
  link.welcomed(conn);
  return conn;
}

beforeEach(() => {
  vi.useFakeTimers();
});
afterEach(() => {
  vi.useRealTimers();
});

describe("Link", () => {
  it("opens one connection on start, and start is idempotent", () => {
    const { link, h } = harness();
    expect(link.current).toBeNull();
    link.start();
    link.start();
    expect(h.conns).toHaveLength(1);
    expect(link.current?.gen).toBe(1);
    expect(link.state).toBe("connecting");
  });

  it("gives up a handshake that does not reach welcome in time, then reconnects after the backoff", () => {
    const { link, h } = harness();
    link.start();
    vi.advanceTimersByTime(1_999);
    expect(h.conns[0].closed).toBe(false);
    vi.advanceTimersByTime(1);
    expect(h.conns[0].closed).toBe(true);
    expect(h.disconnects).toEqual([
      { reason: "no welcome within 2000 ms", retryInMs: 100, attempt: 0, everOnline: false },
    ]);
    expect(h.states).toEqual(["reconnecting"]);
    expect(h.downs()).toBe(1);
    vi.advanceTimersByTime(99);
    expect(h.conns).toHaveLength(1);
    vi.advanceTimersByTime(1);
    expect(h.conns).toHaveLength(2);
    expect(link.current?.gen).toBe(2);
  });

  it("grows the delay per failed attempt, capped, and starts over after a welcome", () => {
    const { link, h } = harness();
    link.start();
    for (let i = 0; i < 4; i++) {
      h.conns[i].handlers.onClose("refused");
      vi.advanceTimersByTime(h.disconnects[i].retryInMs ?? 0);
    }
    expect(h.disconnects.map((d) => [d.attempt, d.retryInMs])).toEqual([
      [0, 100],
      [1, 200],
      [2, 400],
      [3, 400],
    ]);
    expect(welcome(link).gen).toBe(5);
    expect(link.state).toBe("online");
    h.conns[4].handlers.onClose("reset");
    expect(h.disconnects[4]).toMatchObject({ attempt: 0, retryInMs: 100, everOnline: true });
  });

  it("says whether a welcome is the first or a reconnection", () => {
    const { link, h } = harness();
    link.start();
    expect(link.everOnline).toBe(false);
    expect(link.welcomed(link.current!)).toBe(false);
    h.conns[0].handlers.onClose("reset");
    vi.advanceTimersByTime(100);
    expect(link.welcomed(link.current!)).toBe(true);
    expect(h.states).toEqual(["online", "reconnecting", "online"]);
  });

  it("a welcome stops the handshake timer", () => {
    const { link, h } = harness({ deadMs: 60_000, pingMs: 60_000 });
    link.start();
    welcome(link);
    vi.advanceTimersByTime(10_000);
    expect(h.conns[0].closed).toBe(false);
    expect(h.disconnects).toHaveLength(0);
  });

  it("pings after pingMs without sending, only once welcomed", () => {
    const { link, h } = harness({ handshakeMs: 60_000, deadMs: 60_000 });
    link.start();
    vi.advanceTimersByTime(1_500);
    expect(h.conns[0].sent).toEqual([]);
    const conn = welcome(link);
    link.send(conn, { t: "videos" });
    vi.advanceTimersByTime(750);
    expect(h.conns[0].sent.map((m) => m.t)).toEqual(["videos"]);
    vi.advanceTimersByTime(500);
    expect(h.conns[0].sent.map((m) => m.t)).toEqual(["videos", "ping"]);
  });

  it("drops a connection that receives nothing for deadMs; any frame keeps it alive", () => {
    const { link, h } = harness({ handshakeMs: 60_000 });
    link.start();
    welcome(link);
    for (let i = 0; i < 5; i++) {
      vi.advanceTimersByTime(2_000);
      h.conns[0].handlers.onFrame(KIND_CONTROL, encodeJson({ t: "pong", ts: i }));
    }
    expect(h.conns[0].closed).toBe(false);
    expect(h.frames).toHaveLength(5);
    vi.advanceTimersByTime(3_000);
    expect(h.conns[0].closed).toBe(true);
    expect(h.disconnects[0].reason).toBe("nothing received for 3000 ms");
    expect(link.state).toBe("reconnecting");
  });

  it("hands frames of the live connection on, with its generation; none after it closed", () => {
    const { link, h } = harness();
    link.start();
    const first = h.conns[0];
    first.handlers.onFrame(KIND_CONTROL, new TextEncoder().encode("a"));
    first.handlers.onClose("reset");
    first.handlers.onFrame(KIND_CONTROL, new TextEncoder().encode("late"));
    vi.advanceTimersByTime(100);
    h.conns[1].handlers.onFrame(KIND_CONTROL, new TextEncoder().encode("b"));
    expect(h.frames).toEqual([
      { gen: 1, kind: KIND_CONTROL, text: "a" },
      { gen: 2, kind: KIND_CONTROL, text: "b" },
    ]);
  });

  it("handles a transport close only when afterReceived runs it, and only once", () => {
    const { link, h } = harness();
    h.direct = false;
    link.start();
    welcome(link);
    h.conns[0].handlers.onClose("reset");
    h.conns[0].handlers.onClose("reset again");
    expect(link.state).toBe("online");
    expect(h.deferred).toHaveLength(2);
    for (const fn of h.deferred) fn();
    expect(link.state).toBe("reconnecting");
    expect(h.disconnects).toHaveLength(1);
    expect(h.disconnects[0].reason).toBe("reset");
  });

  it("after noRetry the next loss closes for good with that error, and nothing reopens", () => {
    const { link, h } = harness();
    link.start();
    welcome(link);
    const err: ErrorMsg = { t: "error", code: "replaced", message: "another connection took over", fatal: true };
    link.noRetry(err);
    link.drop(link.current!, "replaced: another connection took over");
    expect(h.closes).toEqual([{ reason: "replaced: another connection took over", error: err }]);
    expect(h.disconnects).toHaveLength(0);
    expect(link.state).toBe("closed");
    vi.advanceTimersByTime(60_000);
    expect(h.conns).toHaveLength(1);
  });

  it("with reconnect off, reports the loss without a retry and closes", () => {
    const { link, h } = harness({ reconnect: false });
    link.start();
    h.conns[0].handlers.onClose("refused");
    expect(h.disconnects).toEqual([{ reason: "refused", retryInMs: null, attempt: 0, everOnline: false }]);
    expect(h.closes).toEqual([{ reason: "refused", error: null }]);
    expect(h.states).toEqual(["closed"]);
    vi.advanceTimersByTime(60_000);
    expect(h.conns).toHaveLength(1);
  });

  it("close() closes the transport, ends what belonged to it, reports once, and ignores the late onClose", () => {
    const { link, h } = harness();
    link.start();
    welcome(link);
    link.close("stopped", null);
    link.close("stopped again", null);
    expect(h.conns[0].closed).toBe(true);
    expect(link.current).toBeNull();
    expect(h.downs()).toBe(1);
    expect(h.closes).toEqual([{ reason: "stopped", error: null }]);
    h.conns[0].handlers.onClose("closed by client");
    expect(h.disconnects).toHaveLength(0);
    vi.advanceTimersByTime(60_000);
    expect(h.conns).toHaveLength(1);
    expect(vi.getTimerCount()).toBe(0);
    link.start();
    expect(h.conns).toHaveLength(1);
  });

  it("a listener that closes on disconnected cancels the attempt just scheduled", () => {
    const { link, h, handlers } = harness();
    handlers.disconnected = (d) => {
      h.disconnects.push(d);
      link.close("gave up", null);
    };
    link.start();
    h.conns[0].handlers.onClose("refused");
    expect(link.state).toBe("closed");
    expect(vi.getTimerCount()).toBe(0);
    vi.advanceTimersByTime(60_000);
    expect(h.conns).toHaveLength(1);
  });

  it("treats a connector that throws as a failed attempt", async () => {
    const { link, h } = harness({}, true);
    link.start();
    await vi.advanceTimersByTimeAsync(0);
    expect(h.disconnects[0]).toMatchObject({ reason: "cannot connect: no route", attempt: 0 });
    expect(link.state).toBe("reconnecting");
  });

  it("send() is false on a closed connection or a transport that throws", () => {
    const { link, h } = harness();
    link.start();
    const conn = welcome(link);
    expect(link.send(conn, { t: "videos" })).toBe(true);
    conn.transport = {
      send: () => {
        throw new Error("broken pipe");
      },
      close: () => {},
    };
    expect(link.send(conn, { t: "videos" })).toBe(false);
    expect(h.log).toContain("send failed: broken pipe");
    link.close("stopped", null);
    expect(link.send(conn, { t: "videos" })).toBe(false);
  });
});
