// The life of one relay as a single explicit state (dialing, open, closing,
// closed) and the only transitions between them, so no combination of flags
// such as "the browser left but the relay is not closing" can exist.
//
// Pure: no I/O, no timers. The relay (relay.ts) feeds it what happened and
// acts on the step from one state to the next. Generic over the core
// connection C so it can be tested without sockets.

export type RelayPhase = "dialing" | "open" | "closing" | "closed";

/** While closing: which sides have yet to report that they are finished. */
export type Awaiting = "both" | "browser" | "core";

export type RelayState<C> =
  /** The WebSocket is open and paused; the core connection is being made. */
  | { readonly phase: "dialing" }
  /** Relaying both ways. */
  | { readonly phase: "open"; readonly core: C }
  /**
   * One side has closed or a close was asked for; nothing more is relayed.
   * `core` is null if the dial had not succeeded (a dial still under way is
   * aborted; one that succeeds anyway is dropped).
   */
  | { readonly phase: "closing"; readonly core: C | null; readonly awaiting: Awaiting }
  /** Both sides are finished. `core` is kept for the last stats. */
  | { readonly phase: "closed"; readonly core: C | null };

export type RelayEvent<C> =
  /** The dial to the core succeeded. */
  | { readonly type: "dialed"; readonly core: C }
  /** Someone asks to close: bad input, the core ended, the bridge shuts down. */
  | { readonly type: "close" }
  /** The WebSocket is closed (its 'close' event). */
  | { readonly type: "browserClosed" }
  /** The core side is finished: the dial failed or its socket closed. */
  | { readonly type: "coreClosed" };

/** The phases each phase may move to (besides staying where it is). */
export const TRANSITIONS: Readonly<Record<RelayPhase, readonly RelayPhase[]>> = {
  dialing: ["open", "closing"],
  open: ["closing"],
  closing: ["closed"],
  closed: [],
};

export const DIALING: RelayState<never> = { phase: "dialing" };

/**
 * The state after `event`. An event that changes nothing (a second close, a
 * dial that succeeds after the relay began closing, a side reporting twice)
 * returns `state` itself, so a caller can tell by identity.
 */
export function nextState<C>(state: RelayState<C>, event: RelayEvent<C>): RelayState<C> {
  switch (state.phase) {
    case "dialing":
      switch (event.type) {
        case "dialed":
          return { phase: "open", core: event.core };
        case "close":
          return { phase: "closing", core: null, awaiting: "both" };
        case "browserClosed":
          return { phase: "closing", core: null, awaiting: "core" };
        case "coreClosed":
          return { phase: "closing", core: null, awaiting: "browser" };
      }
    case "open":
      switch (event.type) {
        case "dialed":
          return state;
        case "close":
          return { phase: "closing", core: state.core, awaiting: "both" };
        case "browserClosed":
          return { phase: "closing", core: state.core, awaiting: "core" };
        case "coreClosed":
          return { phase: "closing", core: state.core, awaiting: "browser" };
      }
    case "closing":
      switch (event.type) {
        case "dialed":
        case "close":
          return state;
        case "browserClosed":
          return finished(state, "browser");
        case "coreClosed":
          return finished(state, "core");
      }
    case "closed":
      return state;
  }
}

/** Closing, and `side` reports it is finished. */
function finished<C>(state: RelayState<C> & { phase: "closing" }, side: "browser" | "core"): RelayState<C> {
  if (state.awaiting === side) return { phase: "closed", core: state.core };
  if (state.awaiting === "both") return { ...state, awaiting: side === "browser" ? "core" : "browser" };
  return state;
}

/** The core connection, once the dial has succeeded. */
export function coreOf<C>(state: RelayState<C>): C | null {
  return state.phase === "dialing" ? null : state.core;
}
