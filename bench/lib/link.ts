// One protocol connection as the load generator sees it, over any of three
// paths to the same core:
//   tcp         the length-prefixed stream itself;
//   bridge      Sealroom's bridge: one binary WebSocket message = kind + body;
//   websockify  a generic relay: WebSocket messages carry raw TCP bytes with
//               no framing, so the length-prefixed stream is re-assembled
//               from them exactly as over TCP.
// Every path reads through SkimReader (bench/lib/skim.ts): media frames come
// as a view of their chunk header plus their length, control frames as a
// copy. TCP reads go into one reused buffer per thread (net's `onread`), so a
// thousand viewers allocate nothing per read; the bridge path is a minimal
// WebSocket client on a raw socket for the same reason.

import { randomBytes } from "node:crypto";
import net from "node:net";
import WebSocket from "ws";
import { KIND_CONTROL } from "../../protocol/framing";
import { SkimReader, type SkimSink } from "./skim";

export type Transport = "tcp" | "bridge" | "websockify";

export interface Target {
  transport: Transport;
  host?: string;
  port?: number;
  url?: string;
}

/**
 * Control frames: `body` is the whole body (a copy) and `length` its length.
 * VIDEO and AUDIO: `body` is a view of the first min(length, HEAD_BYTES)
 * bytes, valid only during the call, and `length` the body's full length.
 */
export type FrameHandler = (kind: number, body: Buffer, length: number) => void;

const MAX_FRAME = 4 * 1_048_576;

/** One read buffer for every TCP link of this thread: each read is consumed before the next one starts. */
const READ_BUF = Buffer.allocUnsafe(256 * 1024);

function sinkOf(link: Link): SkimSink {
  return {
    media: (kind, head, length) => link.onFrame(kind, head, length),
    control: (body) => link.onFrame(KIND_CONTROL, body, body.length),
  };
}

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
  let early: [number, Buffer, number][] | null = [];
  let handler: FrameHandler = (k, b, n) => early?.push([k, Buffer.from(b), n]);
  Object.defineProperty(link, "onFrame", {
    get: () => handler,
    set: (h: FrameHandler) => {
      handler = h;
      const replay = early ?? [];
      early = null;
      for (const [k, b, n] of replay) h(k, b, n);
    },
  });
  return link;
}

export function connect(t: Target, timeoutMs = 20_000): Promise<Link> {
  if (t.transport === "tcp") return connectTcp(t.host!, t.port!, timeoutMs);
  return t.transport === "bridge" ? connectBridge(t.url!, timeoutMs) : connectWebsockify(t.url!, timeoutMs);
}

function connectTcp(host: string, port: number, timeoutMs: number): Promise<Link> {
  return new Promise((resolve, reject) => {
    let reader: SkimReader | null = null;
    const sock = net.connect({
      host,
      port,
      onread: {
        buffer: READ_BUF,
        callback: (n: number, buf: Uint8Array) => {
          link.bytesIn += n;
          try {
            reader!.push(buf as Buffer, 0, n);
          } catch {
            sock.destroy();
            return false;
          }
          return true;
        },
      },
    });
    sock.setNoDelay(true);
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
    reader = new SkimReader("length", MAX_FRAME, sinkOf(link));
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

/** websockify: WebSocket messages carry raw TCP bytes, skimmed as the length-prefixed stream. */
function connectWebsockify(url: string, timeoutMs: number): Promise<Link> {
  return new Promise((resolve, reject) => {
    // websockify 0.10 wants a subprotocol of "binary" from old clients; it also accepts none.
    const ws = new WebSocket(url, ["binary"], { perMessageDeflate: false, handshakeTimeout: timeoutMs });
    ws.binaryType = "nodebuffer";
    let closed = false;
    const link: Link = withEarlyFrames({
      sendFrame: (f: Buffer) => ws.send(f, { binary: true }),
      onFrame: () => {},
      onClose: () => {},
      get closed() {
        return closed;
      },
      bytesIn: 0,
      close: () => ws.terminate(),
    } as Link);
    const reader = new SkimReader("length", MAX_FRAME, sinkOf(link));
    ws.on("message", (data: Buffer) => {
      link.bytesIn += data.length;
      try {
        reader.push(data, 0, data.length);
      } catch {
        ws.terminate();
      }
    });
    ws.once("open", () => resolve(link));
    ws.on("error", (e) => reject(e));
    ws.on("close", () => {
      closed = true;
      link.onClose();
    });
  });
}

/** A client WebSocket frame: FIN + binary, masked (RFC 6455 5.3), payload = kind + body (the frame minus its length prefix). */
function wsFrame(frame: Buffer): Buffer {
  const payload = frame.subarray(4);
  const n = payload.length;
  const ext = n < 126 ? 0 : n < 65_536 ? 2 : 8;
  const out = Buffer.allocUnsafe(2 + ext + 4 + n);
  out[0] = 0x82;
  out[1] = 0x80 | (ext === 0 ? n : ext === 2 ? 126 : 127);
  if (ext === 2) out.writeUInt16BE(n, 2);
  if (ext === 8) out.writeBigUInt64BE(BigInt(n), 2);
  const m = 2 + ext;
  randomBytes(4).copy(out, m);
  for (let i = 0; i < n; i++) out[m + 4 + i] = payload[i]! ^ out[m + (i & 3)]!;
  return out;
}

/**
 * Sealroom's bridge: one binary WebSocket message per frame. A minimal
 * client (upgrade, then unmasked server frames skimmed by SkimReader) on a
 * socket reading into the shared buffer, so the bench spends no CPU a
 * browser would not, beyond the kernel's.
 */
function connectBridge(url: string, timeoutMs: number): Promise<Link> {
  return new Promise((resolve, reject) => {
    const u = new URL(url);
    let reader: SkimReader | null = null;
    let upgraded = false;
    let response = "";
    const key = randomBytes(16).toString("base64");
    const fail = (e: Error) => {
      clearTimeout(timer);
      sock.destroy();
      reject(e);
    };
    const sock = net.connect({
      host: u.hostname,
      port: Number(u.port),
      onread: {
        buffer: READ_BUF,
        callback: (n: number, b: Uint8Array) => {
          const buf = b as Buffer;
          link.bytesIn += n;
          let start = 0;
          if (!upgraded) {
            // The 101 response is small; it may share a read with the first frames (the challenge).
            response += buf.toString("latin1", 0, n);
            const end = response.indexOf("\r\n\r\n");
            if (end < 0) {
              if (response.length < 16_384) return true;
              fail(new Error("bridge: oversized upgrade response"));
              return false;
            }
            if (!/^HTTP\/1\.1 101 /.test(response)) {
              fail(new Error(`bridge refused the upgrade: ${response.split("\r\n")[0]}`));
              return false;
            }
            upgraded = true;
            clearTimeout(timer);
            start = n - (response.length - end - 4);
            response = "";
            resolve(link);
          }
          try {
            reader!.push(buf, start, n);
          } catch {
            sock.destroy();
            return false;
          }
          if (reader!.closed) sock.destroy();
          return true;
        },
      },
    });
    sock.setNoDelay(true);
    let closed = false;
    const link: Link = withEarlyFrames({
      sendFrame: (f: Buffer) => void sock.write(wsFrame(f)),
      onFrame: () => {},
      onClose: () => {},
      get closed() {
        return closed;
      },
      bytesIn: 0,
      close: () => sock.destroy(),
    } as Link);
    reader = new SkimReader("ws", MAX_FRAME, sinkOf(link));
    const timer = setTimeout(() => fail(new Error("bridge connect timed out")), timeoutMs);
    sock.once("connect", () => {
      sock.write(
        `GET ${u.pathname}${u.search} HTTP/1.1\r\nHost: ${u.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n\r\n`,
      );
    });
    sock.on("error", (e) => (upgraded ? undefined : fail(e)));
    sock.on("close", () => {
      closed = true;
      if (!upgraded) fail(new Error("bridge closed before the upgrade"));
      link.onClose();
    });
  });
}
