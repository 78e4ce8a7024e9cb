// One protocol connection as the load generator sees it, over any of three
// paths to the same core:
//   tcp         the length-prefixed stream itself;
//   bridge      Sealroom's bridge: one binary WebSocket message = kind + body;
//   websockify  a generic relay: WebSocket messages carry raw TCP bytes with
//               no framing, so the length-prefixed stream is re-assembled
//               from them exactly as over TCP.
// Frames are handed out as views (no copy); callers copy what they keep.

import net from "node:net";
import WebSocket from "ws";
import { FrameDecoder, KIND_AUDIO, KIND_CONTROL, KIND_VIDEO } from "../../protocol/framing";

export type Transport = "tcp" | "bridge" | "websockify";

export interface Target {
  transport: Transport;
  host?: string;
  port?: number;
  url?: string;
}

export type FrameHandler = (kind: number, body: Buffer) => void;

/** FrameDecoder hands out Uint8Array views (a fresh one when it joined reads); callers get Buffer views. */
const asBuffer = (u: Uint8Array): Buffer => (Buffer.isBuffer(u) ? u : Buffer.from(u.buffer, u.byteOffset, u.length));

const KINDS = new Set([KIND_CONTROL, KIND_VIDEO, KIND_AUDIO]);

export interface Link {
  /** A whole frame, length prefix included. */
  sendFrame(frame: Buffer): void;
  /**
   * Frames before the first handler is set (a WebSocket may deliver the
   * challenge in the same read as the upgrade response, before connect()'s
   * caller runs) are kept and replayed to it.
   */
  onFrame: FrameHandler;
  onClose: () => void;
  readonly closed: boolean;
  bytesIn: number;
  close(): void;
}

export function frameOf(kind: number, body: Buffer | string): Buffer {
  const b = typeof body === "string" ? Buffer.from(body) : body;
  const out = Buffer.allocUnsafe(5 + b.length);
  out.writeUInt32BE(b.length + 1, 0);
  out[4] = kind;
  b.copy(out, 5);
  return out;
}

export function controlFrameOf(msg: object): Buffer {
  return frameOf(KIND_CONTROL, JSON.stringify(msg));
}

/** onFrame starts as a recorder; the first assignment replays what it recorded. */
function withEarlyFrames<L extends { onFrame: FrameHandler }>(link: L): L {
  let early: [number, Buffer][] | null = [];
  let handler: FrameHandler = (k, b) => early?.push([k, Buffer.from(b)]);
  Object.defineProperty(link, "onFrame", {
    get: () => handler,
    set: (h: FrameHandler) => {
      handler = h;
      const replay = early ?? [];
      early = null;
      for (const [k, b] of replay) h(k, b);
    },
  });
  return link;
}

export function connect(t: Target, timeoutMs = 20_000): Promise<Link> {
  return t.transport === "tcp"
    ? connectTcp(t.host!, t.port!, timeoutMs)
    : connectWs(t.url!, t.transport === "websockify", timeoutMs);
}

function connectTcp(host: string, port: number, timeoutMs: number): Promise<Link> {
  return new Promise((resolve, reject) => {
    const sock = net.connect({ host, port });
    sock.setNoDelay(true);
    const decoder = new FrameDecoder({ maxFrame: 4 * 1_048_576, kinds: KINDS });
    let closed = false;
    const link: Link = withEarlyFrames({
      sendFrame: (f: Buffer) => void sock.write(f),
      onFrame: () => {},
      onClose: () => {},
      get closed() {
        return closed;
      },
      bytesIn: 0,
      close: () => sock.destroy(),
    } as Link);
    const timer = setTimeout(() => {
      sock.destroy();
      reject(new Error("tcp connect timed out"));
    }, timeoutMs);
    sock.on("data", (d: Buffer) => {
      link.bytesIn += d.length;
      decoder.push(d, (f) => link.onFrame(f.kind, asBuffer(f.body)));
    });
    sock.once("connect", () => {
      clearTimeout(timer);
      resolve(link);
    });
    sock.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    sock.on("close", () => {
      closed = true;
      link.onClose();
    });
  });
}

function connectWs(url: string, rawStream: boolean, timeoutMs: number): Promise<Link> {
  return new Promise((resolve, reject) => {
    // websockify 0.10 wants a subprotocol of "binary" from old clients; it also accepts none.
    const ws = rawStream
      ? new WebSocket(url, ["binary"], { perMessageDeflate: false, handshakeTimeout: timeoutMs })
      : new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    ws.binaryType = "nodebuffer";
    const decoder = rawStream ? new FrameDecoder({ maxFrame: 4 * 1_048_576, kinds: KINDS }) : null;
    let closed = false;
    const link: Link = withEarlyFrames({
      // The bridge takes kind + body (no length); websockify takes the raw stream.
      sendFrame: (f: Buffer) => ws.send(rawStream ? f : f.subarray(4), { binary: true }),
      onFrame: () => {},
      onClose: () => {},
      get closed() {
        return closed;
      },
      bytesIn: 0,
      close: () => ws.terminate(),
    } as Link);
    ws.on("message", (data: Buffer) => {
      link.bytesIn += data.length;
      if (decoder) decoder.push(data, (f) => link.onFrame(f.kind, asBuffer(f.body)));
      else link.onFrame(data[0], data.subarray(1));
    });
    ws.once("open", () => resolve(link));
    ws.on("error", (e) => reject(e));
    ws.on("close", () => {
      closed = true;
      link.onClose();
    });
  });
}
