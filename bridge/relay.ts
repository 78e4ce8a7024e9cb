// One browser WebSocket <-> one TCP connection to the core (PROTOCOL.md
// sections 1 and 10).
//
// Browser -> core: each binary message is one frame without its length
// prefix; the bridge writes the 4-byte length and then the message as it is.
// It does not parse JSON or judge kinds: a VIDEO frame from a client is the
// core's to reject (bad_frame). It refuses only what it cannot relay: text
// messages (1003), empty messages (1002), messages over maxFrame (1009, by
// the WebSocket layer's maxPayload).
//
// Core -> browser: the TCP stream is cut into frames by FrameDecoder and each
// frame's kind + body goes out as one binary message, as a view into the
// received bytes (no copy).
//
// Backpressure both ways keeps memory per connection bounded:
// - while the WebSocket has more than highWaterMark bytes queued, the TCP
//   socket is paused (the core then sees a slow reader and applies its own
//   limits);
// - while the TCP socket's write buffer is full, the WebSocket is paused.

import type { Socket } from "node:net";
import type { Duplex } from "node:stream";
import type { RawData, WebSocket } from "ws";
import { FrameDecoder, FrameError, KIND_CONTROL, KIND_VIDEO, type Frame } from "../protocol/framing";
import type { Dialer } from "./dial";

export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  tooBig: 1009,
  internalError: 1011,
} as const;

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

const KINDS: ReadonlySet<number> = new Set([KIND_CONTROL, KIND_VIDEO]);
/** Fallback check while paused on the WebSocket side, in case no 'drain' comes. */
const DRAIN_POLL_MS = 50;

/**
 * Starts relaying between ws (already open) and a fresh core connection.
 * `raw` is the socket ws runs on (from the upgrade), used only for its 'drain'
 * event.
 */
export function startRelay(ws: WebSocket, raw: Duplex, dial: Dialer, opts: RelayOptions): Relay {
  const s: RelayStats = {
    wsBuffered: 0,
    tcpBuffered: 0,
    tcpPaused: false,
    wsPaused: false,
    peakWsBuffered: 0,
    peakTcpBuffered: 0,
    framesToCore: 0,
    framesToBrowser: 0,
    bytesToCore: 0,
    bytesToBrowser: 0,
  };
  const decoder = new FrameDecoder({ maxFrame: opts.maxFrame, kinds: KINDS });
  const abort = new AbortController();
  let tcp: Socket | null = null;
  let wsDone = false;
  let tcpDone = false;
  let closing = false;
  let tcpError: string | null = null;
  let pollTimer: NodeJS.Timeout | null = null;
  let lingerTimer: NodeJS.Timeout | null = null;
  let resolveClosed!: () => void;
  const closed = new Promise<void>((r) => (resolveClosed = r));

  ws.binaryType = "nodebuffer";
  // Nothing is read from the browser until the core is connected.
  ws.pause();
  ws.on("message", onWsMessage);
  ws.on("close", onWsClose);
  // ws reports protocol errors (bad opcode, oversize) here and then closes
  // with the right code by itself; the error needs no further handling.
  ws.on("error", () => {});

  dial(abort.signal).then(
    (sock) => {
      if (wsDone || closing) {
        sock.destroy();
        tcpDone = true;
        settle();
        return;
      }
      tcp = sock;
      sock.on("data", onTcpData);
      sock.on("end", onTcpEnd);
      sock.on("error", (e: NodeJS.ErrnoException) => (tcpError = e.code ?? e.message));
      sock.on("close", onTcpClose);
      ws.resume();
    },
    (e: Error) => {
      tcpDone = true;
      if (!wsDone && !closing) {
        opts.onCoreTrouble?.(`cannot reach the core: ${e.message}`);
        closeWs(CLOSE.internalError, `core unreachable: ${e.message}`);
      }
      settle();
    },
  );

  function onWsMessage(data: RawData, isBinary: boolean): void {
    if (closing || !tcp) return;
    if (!isBinary) return fail(CLOSE.unsupportedData, "text messages are not allowed; send binary frames");
    // binaryType nodebuffer: always one Buffer, fragments already joined.
    const msg = data as Buffer;
    if (msg.length === 0) return fail(CLOSE.protocolError, "empty message: a frame needs at least a kind byte");
    const head = Buffer.allocUnsafe(4);
    head.writeUInt32BE(msg.length, 0);
    // cork + two writes = one writev: the message is not copied to prepend the length.
    tcp.cork();
    tcp.write(head);
    const ok = tcp.write(msg);
    tcp.uncork();
    s.framesToCore++;
    s.bytesToCore += msg.length + 4;
    s.peakTcpBuffered = Math.max(s.peakTcpBuffered, tcp.writableLength);
    if (!ok && !s.wsPaused) {
      s.wsPaused = true;
      ws.pause();
      tcp.once("drain", () => {
        s.wsPaused = false;
        if (!closing) ws.resume();
      });
    }
  }

  function onTcpData(chunk: Buffer): void {
    if (closing) return;
    try {
      decoder.push(chunk, sendFrame);
    } catch (e) {
      if (!(e instanceof FrameError)) throw e;
      opts.onCoreTrouble?.(`the core sent a bad frame: ${e.message}`);
      fail(CLOSE.internalError, `core sent a bad frame (${e.code})`);
      return;
    }
    const buffered = ws.bufferedAmount;
    s.peakWsBuffered = Math.max(s.peakWsBuffered, buffered);
    if (buffered > opts.highWaterMark && !s.tcpPaused && tcp) pauseTcp(tcp);
  }

  function sendFrame(frame: Frame): void {
    if (ws.readyState !== ws.OPEN) return;
    ws.send(withKind(frame), { binary: true });
    s.framesToBrowser++;
    s.bytesToBrowser += frame.body.length + 1;
  }

  function pauseTcp(sock: Socket): void {
    s.tcpPaused = true;
    sock.pause();
    const check = () => {
      if (closing || ws.readyState !== ws.OPEN) return stopWaiting();
      if (ws.bufferedAmount > opts.highWaterMark / 2) return;
      stopWaiting();
      s.tcpPaused = false;
      sock.resume();
    };
    const stopWaiting = () => {
      raw.removeListener("drain", check);
      if (pollTimer) clearInterval(pollTimer);
      pollTimer = null;
    };
    raw.on("drain", check);
    pollTimer = setInterval(check, DRAIN_POLL_MS);
  }

  function onTcpEnd(): void {
    // The core closed cleanly; every frame it sent has been queued on the
    // WebSocket already, so the close frame goes out after them.
    if (decoder.pending) closeWs(CLOSE.internalError, "core closed in the middle of a frame");
    else closeWs(CLOSE.normal, "core closed the connection");
  }

  function onTcpClose(): void {
    tcpDone = true;
    if (lingerTimer) clearTimeout(lingerTimer);
    if (pollTimer) clearInterval(pollTimer);
    if (!closing) closeWs(CLOSE.internalError, `core connection lost${tcpError ? `: ${tcpError}` : ""}`);
    settle();
  }

  function onWsClose(): void {
    wsDone = true;
    closing = true;
    abort.abort();
    endTcp();
    settle();
  }

  /** Bad input from the browser: close it and stop forwarding to the core. */
  function fail(code: number, reason: string): void {
    closeWs(code, reason);
  }

  function closeWs(code: number, reason: string): void {
    if (!closing) {
      closing = true;
      if (ws.readyState === ws.OPEN) ws.close(code, clipReason(reason));
      // The browser's answering close frame must be read, even if the relay
      // had paused reading; messages that come before it are dropped.
      ws.resume();
    }
    // Still dialing (e.g. shutdown right after the upgrade): give up on it.
    if (!tcp) abort.abort();
    endTcp();
  }

  function endTcp(): void {
    if (!tcp || tcpDone || lingerTimer) return;
    const sock = tcp;
    // Unread core data no longer matters; let the socket reach 'end'/'close'.
    sock.removeListener("data", onTcpData);
    sock.resume();
    sock.end();
    // end() waits for queued writes; a core that never reads must not keep it forever.
    lingerTimer = setTimeout(() => sock.destroy(), opts.lingerMs);
    lingerTimer.unref();
  }

  function settle(): void {
    if (wsDone && tcpDone) resolveClosed();
  }

  return {
    stats: () => ({ ...s, wsBuffered: ws.bufferedAmount, tcpBuffered: tcp?.writableLength ?? 0 }),
    close: (code, reason) => closeWs(code, reason),
    closed,
  };
}

/**
 * The frame's kind byte and body as one view. FrameDecoder hands out the body
 * as a view just past the kind byte of the same buffer, so this is free; the
 * check keeps it correct if that ever changes.
 */
function withKind(frame: Frame): Uint8Array {
  const { body, kind } = frame;
  if (body.byteOffset > 0) {
    const view = new Uint8Array(body.buffer, body.byteOffset - 1, body.length + 1);
    if (view[0] === kind) return view;
  }
  const out = new Uint8Array(body.length + 1);
  out[0] = kind;
  out.set(body, 1);
  return out;
}

/** Close reasons are limited to 123 bytes of UTF-8. */
function clipReason(reason: string): string {
  let r = reason;
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}
