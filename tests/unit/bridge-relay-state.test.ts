// The relay's state machine (bridge/relayState.ts): every transition, and
// that every sequence of events keeps to the allowed transitions and ends in
// 'closed' exactly when both sides have reported that they are finished.

import { describe, expect, it } from "vitest";
import { DIALING, TRANSITIONS, coreOf, nextState, type RelayEvent, type RelayState } from "../../bridge/relayState";

type S = RelayState<string>;
type E = RelayEvent<string>;

const dialed: E = { type: "dialed", core: "sock" };
const close: E = { type: "close" };
const browserClosed: E = { type: "browserClosed" };
const coreClosed: E = { type: "coreClosed" };
const EVENTS: readonly E[] = [dialed, close, browserClosed, coreClosed];

const open: S = { phase: "open", core: "sock" };
const closing = (core: string | null, awaiting: "both" | "browser" | "core"): S => ({
  phase: "closing",
  core,
  awaiting,
});

function run(events: readonly E[], from: S = DIALING): S {
  return events.reduce<S>((s, e) => nextState(s, e), from);
}

describe("relay state: each transition", () => {
  const cases: [string, S, E, S][] = [
    ["dialing --dialed--> open", DIALING, dialed, open],
    ["dialing --close--> closing, waiting for both (a close during dialing)", DIALING, close, closing(null, "both")],
    ["dialing --browserClosed--> closing, waiting for the aborted dial", DIALING, browserClosed, closing(null, "core")],
    [
      "dialing --coreClosed (dial failed)--> closing, waiting for the browser",
      DIALING,
      coreClosed,
      closing(null, "browser"),
    ],
    ["open --close--> closing, waiting for both", open, close, closing("sock", "both")],
    ["open --browserClosed--> closing, waiting for the core", open, browserClosed, closing("sock", "core")],
    ["open --coreClosed--> closing, waiting for the browser", open, coreClosed, closing("sock", "browser")],
    ["closing(both) --browserClosed--> closing(core)", closing("sock", "both"), browserClosed, closing("sock", "core")],
    ["closing(both) --coreClosed--> closing(browser)", closing("sock", "both"), coreClosed, closing("sock", "browser")],
    ["closing(core) --coreClosed--> closed", closing("sock", "core"), coreClosed, { phase: "closed", core: "sock" }],
    [
      "closing(browser) --browserClosed--> closed",
      closing("sock", "browser"),
      browserClosed,
      { phase: "closed", core: "sock" },
    ],
    [
      "closing without a core --coreClosed--> closed, no core",
      closing(null, "core"),
      coreClosed,
      { phase: "closed", core: null },
    ],
  ];
  for (const [name, from, event, to] of cases) {
    it(name, () => {
      const next = nextState(from, event);
      expect(next).toEqual(to);
      if (next.phase !== from.phase) expect(TRANSITIONS[from.phase]).toContain(next.phase);
    });
  }

  it("events that change nothing return the very same state", () => {
    const same: [S, E][] = [
      [open, dialed], // a second dial result cannot replace the connection
      [closing(null, "both"), dialed], // a dial that succeeds after the close began is dropped
      [closing("sock", "both"), close], // a close while closing
      [closing("sock", "browser"), coreClosed], // a side that reports twice
      [closing("sock", "core"), browserClosed],
    ];
    for (const [s, e] of same) expect(nextState(s, e)).toBe(s);
    const closed: S = { phase: "closed", core: "sock" };
    for (const e of EVENTS) expect(nextState(closed, e)).toBe(closed);
  });

  it("the second close is ignored, from dialing and from open", () => {
    for (const from of [DIALING, open]) {
      const first = nextState(from, close);
      expect(first.phase).toBe("closing");
      expect(nextState(first, close)).toBe(first);
    }
  });

  it("a close during dialing: the late dial is dropped, and closed needs both sides", () => {
    let s = nextState<string>(DIALING, close);
    s = nextState(s, dialed);
    expect(s).toEqual(closing(null, "both"));
    expect(coreOf(s)).toBeNull();
    s = nextState(s, coreClosed); // the relay destroyed the unwanted socket
    expect(s.phase).toBe("closing");
    s = nextState(s, browserClosed);
    expect(s).toEqual({ phase: "closed", core: null });
  });

  it("coreOf: no core while dialing, the connection from open on (kept when closed for the last stats)", () => {
    expect(coreOf(DIALING)).toBeNull();
    expect(coreOf(open)).toBe("sock");
    expect(coreOf(run([close, browserClosed, coreClosed], open))).toBe("sock");
  });
});

describe("relay state: every sequence of events", () => {
  /** All sequences of exactly n events. */
  function* ofLength(n: number): Generator<E[]> {
    if (n === 0) return yield [];
    for (const rest of ofLength(n - 1)) for (const e of EVENTS) yield [...rest, e];
  }

  it("keeps to TRANSITIONS and is closed exactly when the browser and the core have both reported", () => {
    let checked = 0;
    for (let n = 0; n <= 5; n++) {
      for (const seq of ofLength(n)) {
        let s: S = DIALING;
        let browserDone = false;
        let coreDone = false;
        let everOpen = false;
        for (const e of seq) {
          const next = nextState(s, e);
          if (next.phase !== s.phase) expect(TRANSITIONS[s.phase]).toContain(next.phase);
          if (next.phase === "open") everOpen = true;
          if (e.type === "browserClosed") browserDone = true;
          if (e.type === "coreClosed") coreDone = true;
          s = next;
        }
        expect(s.phase === "closed").toBe(browserDone && coreDone);
        // Closing or closed as soon as anything but a dial happened.
        if (seq.some((e) => e.type !== "dialed")) expect(["closing", "closed"]).toContain(s.phase);
        // A connection is known only if the dial succeeded before anything else.
        expect(coreOf(s) !== null).toBe(everOpen);
        checked++;
      }
    }
    expect(checked).toBe((4 ** 6 - 1) / 3);
  });
});
