// One browser WebSocket <-> one TCP connection to the core (docs/protocol.md
// sections 1 and 10): the relay's life (relayState.ts) and the wiring of its
// two directions, browser -> core (relayToCore.ts: each message gets its
// length prefix) and core -> browser (relayToBrowser.ts: the TCP stream cut
// into frames, one message each). Neither direction copies a frame.
//
// Backpressure both ways keeps memory per connection bounded:
// - while the WebSocket has more than highWaterMark bytes queued, the TCP
//   socket is paused (the core then sees a slow reader and applies its own
//   limits);
// - while the TCP socket's write buffer is full, the WebSocket is paused.
//
// Closing: whoever ends first (browser, core, a bad frame, the bridge
// shutting down), the WebSocket gets one close frame with the reason, and the
// TCP side is ended (its queued writes get lingerMs to flush) or, while still
// dialing, the dial is aborted. `closed` resolves once both sides are done.

import type { RawData } from "ws";
import { CLOSE, clipReason } from "./relayClose";
import { DIALING, coreOf, nextState, type RelayEvent, type RelayState } from "./relayState";
import { ToBrowser, type BrowserSender, type DrainEvents, type PausableCore } from "./relayToBrowser";
import { ToCore, type CoreWriter, type PausableReader } from "./relayToCore";

export { CLOSE } from "./relayClose";

export interface RelayOptions {
  maxFrame: number;
  /** Bytes queued on the WebSocket before the TCP socket is paused. */
  highWaterMark: number;
  /** After the WebSocket closes, how long the TCP socket may take to flush before it is destroyed. */
  lingerMs: number;
  /** Told about trouble on the core side (unreachable, bad frames), for the operator's log. */
  onCoreTrouble?: (message: string) => void;
}

export interface RelayStats {
  wsBuffered: number;
  tcpBuffered: number;
  /** The core socket is paused because the browser is not reading. */
  tcpPaused: boolean;
  /** The WebSocket is paused because the core is not reading. */
  wsPaused: boolean;
  peakWsBuffered: number;
  peakTcpBuffered: number;
  framesToCore: number;
  framesToBrowser: number;
  bytesToCore: number;
  bytesToBrowser: number;
}

export interface Relay {
  stats(): RelayStats;
  /** Closes the WebSocket with code and reason and ends the TCP side. */
  close(code: number, reason: string): void;
  /** Resolves when both sides are closed. */
  readonly closed: Promise<void>;
}

/** The browser's WebSocket as the relay uses it; ws's WebSocket is one. */
export interface RelayWebSocket extends BrowserSender, PausableReader {
  binaryType: "nodebuffer" | "arraybuffer" | "fragments";
  close(code: number, reason: string): void;
  on(event: "message", listener: (data: RawData, isBinary: boolean) => void): unknown;
  on(event: "close", listener: () => void): unknown;
  on(event: "error", listener: (error: Error) => void): unknown;
}

/** The connection to the core as the relay uses it; node:net's Socket is one. */
export interface CoreSocket extends CoreWriter, PausableCore {
  on(event: "data", listener: (chunk: Buffer) => void): unknown;
  on(event: "end" | "close", listener: () => void): unknown;
  on(event: "error", listener: (error: NodeJS.ErrnoException) => void): unknown;
  once(event: "drain" | "close", listener: () => void): unknown;
  removeListener(event: "data", listener: (chunk: Buffer) => void): unknown;
  end(): unknown;
  destroy(): unknown;
}

/** Makes the core connection (bridge/dial.ts makeDialer); rejects if it cannot. */
export type CoreDialer = (signal: AbortSignal) => Promise<CoreSocket>;

/** The core connection and the two directions running over it. */
interface CoreLink {
  readonly sock: CoreSocket;
  readonly toCore: ToCore;
  readonly toBrowser: ToBrowser;
}

/**
 * Starts relaying between ws (already open) and a fresh core connection.
 * `raw` is the socket ws runs on (from the upgrade), used only for its 'drain'
 * event.
 */
export function startRelay(ws: RelayWebSocket, raw: DrainEvents, dial: CoreDialer, opts: RelayOptions): Relay {
  const abort = new AbortController();
  let state: RelayState<CoreLink> = DIALING;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));

  /** Takes one step and returns the state before it. Leaving open stops both directions; reaching closed settles `closed`. */
  function step(event: RelayEvent<CoreLink>): RelayState<CoreLink> {
    const prev = state;
    state = nextState(prev, event);
    if (prev.phase === "open" && state.phase !== "open") {
      prev.core.toCore.stop();
      prev.core.toBrowser.stop();
    }
    if (prev.phase !== "closed" && state.phase === "closed") resolveClosed();
    return prev;
  }

  ws.binaryType = "nodebuffer";
  // Nothing is read from the browser until the core is connected.
  ws.pause();
  ws.on("message", (data: RawData, isBinary: boolean) => {
    if (state.phase !== "open") return;
    // binaryType nodebuffer: always one Buffer, fragments already joined.
    const refused = state.core.toCore.relay(data as Buffer, isBinary);
    if (refused) closeRelay(refused.code, refused.reason);
  });
  ws.on("close", () => {
    const prev = step({ type: "browserClosed" });
    if (prev.phase === "dialing") abort.abort();
    else if (prev.phase === "open") endCore(prev.core.sock);
  });
  // ws reports protocol errors (bad opcode, oversize) here and then closes
  // with the right code by itself; the error needs no further handling.
  ws.on("error", () => {});

  dial(abort.signal).then(onDialed, (e: Error) => {
    const prev = step({ type: "coreClosed" });
    if (prev.phase !== "dialing") return;
    opts.onCoreTrouble?.(`cannot reach the core: ${e.message}`);
    closeBrowser(CLOSE.internalError, `core unreachable: ${e.message}`);
  });

  function onDialed(sock: CoreSocket): void {
    if (state.phase !== "dialing") {
      // The relay began closing while the dial was finishing: not wanted.
      sock.destroy();
      step({ type: "coreClosed" });
      return;
    }
    const link: CoreLink = {
      sock,
      toCore: new ToCore(ws, sock),
      toBrowser: new ToBrowser(ws, sock, raw, opts),
    };
    let lastError: string | null = null;
    step({ type: "dialed", core: link });
    sock.on("data", onCoreData);
    sock.on("end", () => {
      // The core closed cleanly; every frame it sent has been queued on the
      // WebSocket already, so the close frame goes out after them.
      if (link.toBrowser.pending) closeRelay(CLOSE.internalError, "core closed in the middle of a frame");
      else closeRelay(CLOSE.normal, "core closed the connection");
    });
    sock.on("error", (e: NodeJS.ErrnoException) => (lastError = e.code ?? e.message));
    sock.on("close", () => {
      const prev = step({ type: "coreClosed" });
      if (prev.phase === "open")
        closeBrowser(CLOSE.internalError, `core connection lost${lastError ? `: ${lastError}` : ""}`);
    });
    ws.resume();
  }

  function onCoreData(chunk: Buffer): void {
    if (state.phase !== "open") return;
    const bad = state.core.toBrowser.push(chunk);
    if (!bad) return;
    opts.onCoreTrouble?.(`the core sent a bad frame: ${bad.message}`);
    closeRelay(CLOSE.internalError, `core sent a bad frame (${bad.code})`);
  }

  /** Closes both sides; only the first close does anything. */
  function closeRelay(code: number, reason: string): void {
    const prev = step({ type: "close" });
    if (prev.phase !== "dialing" && prev.phase !== "open") return;
    closeBrowser(code, reason);
    // Still dialing (e.g. shutdown right after the upgrade): give up on it.
    if (prev.phase === "dialing") abort.abort();
    else endCore(prev.core.sock);
  }

  function closeBrowser(code: number, reason: string): void {
    if (ws.readyState === ws.OPEN) ws.close(code, clipReason(reason));
    // The browser's answering close frame must be read, even if the relay
    // had paused reading; messages that come before it are dropped.
    ws.resume();
  }

  function endCore(sock: CoreSocket): void {
    // Unread core data no longer matters; let the socket reach 'end'/'close'.
    sock.removeListener("data", onCoreData);
    sock.resume();
    sock.end();
    // end() waits for queued writes; a core that never reads must not keep it forever.
    const linger = setTimeout(() => sock.destroy(), opts.lingerMs);
    linger.unref();
    sock.once("close", () => clearTimeout(linger));
  }

  return {
    stats: () => {
      const link = coreOf(state);
      const toCore = link?.toCore.stats();
      const toBrowser = link?.toBrowser.stats();
      return {
        wsBuffered: ws.bufferedAmount,
        tcpBuffered: link?.sock.writableLength ?? 0,
        tcpPaused: toBrowser?.paused ?? false,
        wsPaused: toCore?.paused ?? false,
        peakWsBuffered: toBrowser?.peakBuffered ?? 0,
        peakTcpBuffered: toCore?.peakBuffered ?? 0,
        framesToCore: toCore?.frames ?? 0,
        framesToBrowser: toBrowser?.frames ?? 0,
        bytesToCore: toCore?.bytes ?? 0,
        bytesToBrowser: toBrowser?.bytes ?? 0,
      };
    },
    close: closeRelay,
    closed,
  };
}
