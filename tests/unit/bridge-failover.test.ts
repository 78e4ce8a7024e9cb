// The bridge's failover dialer (bridge/dial.ts makeFailoverDialer) and the
// native client's failover connector (client/tcp.ts failoverConnector), with
// the per-target dial swapped for a scripted one: which core each attempt
// goes to, in what order, and what is said when all fail.

import { EventEmitter } from "node:events";
import type { Socket } from "node:net";
import { describe, expect, it } from "vitest";
import { DialError, makeFailoverDialer, type CoreTarget } from "../../bridge/dial";
import { failoverConnector } from "../../client/tcp";
import type { Connector, TransportHandlers } from "../../protocol/transport";

const A: CoreTarget = { host: "10.0.0.1", port: 7700 };
const B: CoreTarget = { host: "10.0.0.2", port: 7700 };
const C: CoreTarget = { host: "10.0.0.3", port: 7700 };

/** A socket stand-in with what the dialer touches: once/end/error and writableEnded. */
class FakeSock extends EventEmitter {
  writableEnded = false;
  constructor(readonly target: CoreTarget) {
    super();
  }
}

function scripted(up: Set<CoreTarget>) {
  const tried: string[] = [];
  const dialOne = async (t: CoreTarget) => {
    tried.push(t.host);
    if (!up.has(t)) throw new DialError("ECONNREFUSED");
    return new FakeSock(t) as unknown as Socket;
  };
  return { tried, dialOne };
}

const signal = () => new AbortController().signal;
const hostOf = (s: Socket) => (s as unknown as FakeSock).target.host;

describe("makeFailoverDialer", () => {
  it("spreads dials over the cores in turn", async () => {
    const s = scripted(new Set([A, B, C]));
    const dial = makeFailoverDialer([A, B, C], 1000, { dialOne: s.dialOne });
    const got = [];
    for (let i = 0; i < 6; i++) got.push(hostOf(await dial(signal())));
    expect(got).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.1", "10.0.0.2", "10.0.0.3"]);
  });

  it("skips a core that refuses, and tries it last while it is marked down", async () => {
    let now = 0;
    const up = new Set([B, C]);
    const s = scripted(up);
    const skipped: string[] = [];
    const dial = makeFailoverDialer([A, B, C], 1000, {
      dialOne: s.dialOne,
      downMs: 5000,
      now: () => now,
      onFailover: (t) => skipped.push(t.host),
    });
    expect(hostOf(await dial(signal()))).toBe("10.0.0.2"); // A refused, B answered
    expect(s.tried).toEqual(["10.0.0.1", "10.0.0.2"]);
    expect(skipped).toEqual(["10.0.0.1"]);
    s.tried.length = 0;
    // A's turn comes again, but it is down: B and C first, A is not even tried
    for (let i = 0; i < 4; i++) await dial(signal());
    expect(s.tried).not.toContain("10.0.0.1");
    // after downMs A is tried again in its turn (and, back up, used)
    now = 6000;
    up.add(A);
    s.tried.length = 0;
    const hosts = [];
    for (let i = 0; i < 3; i++) hosts.push(hostOf(await dial(signal())));
    expect(hosts.sort()).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
  });

  it("marks a core down when it ends a relayed connection first, not when the bridge ended it", async () => {
    const now = 0;
    const s = scripted(new Set([A, B]));
    const dial = makeFailoverDialer([A, B], 1000, { dialOne: s.dialOne, downMs: 5000, now: () => now });
    const first = (await dial(signal())) as unknown as FakeSock; // A
    const second = (await dial(signal())) as unknown as FakeSock; // B
    second.writableEnded = true; // the bridge ended it (browser left)
    second.emit("end");
    first.emit("end"); // A closed on us: it is stopping or dead
    s.tried.length = 0;
    expect(hostOf(await dial(signal()))).toBe("10.0.0.2"); // A's turn, but A is down
    expect(hostOf(await dial(signal()))).toBe("10.0.0.2"); // B's turn
    expect(s.tried).toEqual(["10.0.0.2", "10.0.0.2"]);
  });

  it("says which cores failed and why when none answers", async () => {
    const s = scripted(new Set());
    const dial = makeFailoverDialer([A, B], 1000, { dialOne: s.dialOne });
    await expect(dial(signal())).rejects.toThrow(
      "all 2 cores failed: 10.0.0.1:7700 ECONNREFUSED, 10.0.0.2:7700 ECONNREFUSED",
    );
  });

  it("stops at an abort instead of trying the next core", async () => {
    const ac = new AbortController();
    const tried: string[] = [];
    const dial = makeFailoverDialer([A, B], 1000, {
      dialOne: async (t) => {
        tried.push(t.host);
        ac.abort();
        throw new DialError("aborted");
      },
    });
    await expect(dial(ac.signal)).rejects.toThrow("aborted");
    expect(tried).toEqual(["10.0.0.1"]);
  });

  it("refuses an empty list", () => {
    expect(() => makeFailoverDialer([], 1000)).toThrow(RangeError);
  });
});

describe("failoverConnector", () => {
  it("dials the next core after each close, wrapping around, and hands every close on", () => {
    const opened: number[] = [];
    const handlers: TransportHandlers[] = [];
    const mk =
      (i: number): Connector =>
      (h) => {
        opened.push(i);
        handlers.push(h);
        return { send: () => {}, close: () => {} };
      };
    const closes: string[] = [];
    const h: TransportHandlers = { onOpen: () => {}, onFrame: () => {}, onClose: (r) => closes.push(r) };
    const connect = failoverConnector([mk(0), mk(1), mk(2)]);
    connect(h);
    connect(h); // a second attempt before the first closed stays on the same core
    handlers[0].onClose("ECONNREFUSED");
    connect(h);
    handlers[2].onClose("connection closed by the server");
    connect(h);
    handlers[3].onClose("timed out");
    connect(h);
    expect(opened).toEqual([0, 0, 1, 2, 0]);
    expect(closes).toEqual(["ECONNREFUSED", "connection closed by the server", "timed out"]);
  });

  it("is the one connector itself for a single core", () => {
    const one: Connector = () => ({ send: () => {}, close: () => {} });
    expect(failoverConnector([one])).toBe(one);
  });
});

describe("makeFailoverDialer under concurrency", () => {
  it("dials started at the same moment go to different cores", async () => {
    const s = scripted(new Set([A, B, C]));
    const dial = makeFailoverDialer([A, B, C], 1000, { dialOne: s.dialOne });
    const socks = await Promise.all([dial(signal()), dial(signal()), dial(signal())]);
    expect(socks.map(hostOf).sort()).toEqual(["10.0.0.1", "10.0.0.2", "10.0.0.3"]);
  });
});
