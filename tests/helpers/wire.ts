// A raw protocol peer for tests: real TCP (or a WebSocket through the
// bridge), real framing, no client logic, so tests can send exactly the bytes
// they mean (valid or not).

import net from "node:net";
import WebSocket from "ws";
import { decodeRaw } from "../../protocol/codec";
import { FrameDecoder, KIND_AUDIO, KIND_CONTROL, KIND_VIDEO, encodeFrame } from "../../protocol/framing";
import { generateIdentity, makeHello, type Identity } from "../../protocol/crypto";
import type { ServerMessage, Welcome } from "../../protocol/messages";
import { GroupSession } from "../../protocol/e2e/groupSession";
import type { RoomKeys } from "../../protocol/e2e/roomSecret";

export type Received = { t: string; [k: string]: unknown };

/** What a peer needs of its connection: TCP and WebSocket both fit. */
interface Link {
  /** A length-prefixed frame (TCP writes it as is; a WebSocket sends kind + body). */
  write(bytes: Uint8Array): void;
  pause(): void;
  resume(): void;
  destroy(): void;
  /** A WebSocket message exactly as given (text, empty, oversize): WebSocket links only. */
  message?(data: Uint8Array | string): void;
}

export class WirePeer {
  readonly messages: Received[] = [];
  readonly video: Uint8Array[] = [];
  /** AUDIO frame bodies; only accepted once joined with caps ["audio"] (else the framing rejects kind 0x03, as a v1 client would). */
  readonly audio: Uint8Array[] = [];
  /** Frame kinds this peer accepts; the TCP decoder reads this same set. */
  readonly kinds = new Set([KIND_CONTROL, KIND_VIDEO]);
  /** Frames of a kind this peer did not accept (WebSocket links; TCP throws instead). */
  badKinds = 0;
  /** Bytes read off the connection so far (for tests that pace their reading). */
  bytesIn = 0;
  closed = false;
  /** The WebSocket close code (0 for TCP, or while open). */
  closeCode = 0;
  private waiters: (() => void)[] = [];
  private listeners: (() => void)[] = [];
  private link!: Link;

  private constructor() {}

  static connect(port: number, host = "127.0.0.1"): Promise<WirePeer> {
    return new Promise((resolve, reject) => {
      const p = new WirePeer();
      const decoder = new FrameDecoder({ maxFrame: 2 * 1_048_576, kinds: p.kinds });
      const s = net.connect(port, host, () => resolve(p));
      s.once("error", reject);
      s.on("error", () => {});
      s.on("data", (d) => {
        p.bytesIn += d.length;
        decoder.push(d, (f) => p.receive(f.kind, f.body));
        p.wake();
      });
      s.on("close", () => p.gone());
      p.link = {
        write: (b) => s.write(b),
        pause: () => s.pause(),
        resume: () => s.resume(),
        destroy: () => s.destroy(),
      };
    });
  }

  /** Through the bridge: `url` is its ws://.../ws (or wss://) address; opts e.g. `{ ca }` for a self-signed bridge. */
  static connectWs(url: string, opts?: WebSocket.ClientOptions): Promise<WirePeer> {
    return new Promise((resolve, reject) => {
      const p = new WirePeer();
      const ws = new WebSocket(url, opts);
      ws.once("open", () => resolve(p));
      ws.once("error", reject);
      ws.on("error", () => {});
      ws.on("message", (data: Buffer) => {
        p.bytesIn += data.length;
        p.receive(data[0], data.subarray(1));
        p.wake();
      });
      ws.on("close", (code: number) => {
        p.closeCode = code;
        p.gone();
      });
      const open = () => ws.readyState === WebSocket.OPEN;
      p.link = {
        write: (b) => open() && ws.send(b.subarray(4)),
        pause: () => ws.pause(),
        resume: () => ws.resume(),
        destroy: () => ws.terminate(),
        message: (d) => open() && ws.send(d),
      };
    });
  }

  private receive(kind: number, body: Uint8Array): void {
    if (!this.kinds.has(kind)) this.badKinds++;
    else if (kind === KIND_VIDEO) this.video.push(body.slice());
    else if (kind === KIND_AUDIO) this.audio.push(body.slice());
    else {
      const r = decodeRaw(body);
      if (r.ok) this.messages.push(r.raw);
    }
  }

  private gone(): void {
    this.closed = true;
    this.wake();
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
    for (const f of this.listeners) f();
  }

  /** Called after every read, for tests that follow the stream as it comes. */
  onData(fn: () => void): void {
    this.listeners.push(fn);
  }

  /** Stop reading (the socket fills up and the server sees a slow reader). */
  pause(): void {
    this.link.pause();
  }

  resume(): void {
    this.link.resume();
  }

  sendRaw(bytes: Uint8Array): void {
    this.link.write(bytes);
  }

  /** Through the bridge only: one WebSocket message as given, however malformed. */
  sendWsMessage(data: Uint8Array | string): void {
    if (!this.link.message) throw new Error("not a WebSocket peer");
    this.link.message(data);
  }

  send(msg: object): void {
    this.link.write(encodeFrame(KIND_CONTROL, new TextEncoder().encode(JSON.stringify(msg))));
  }

  /** Waits for the first message (after `from`) matching pred; returns it. */
  async next<T extends Received = Received>(pred: (m: Received) => boolean, timeoutMs = 5000, from = 0): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(from).find(pred);
      if (found) return found as T;
      if (this.closed)
        throw new Error(`closed before a matching message; got ${JSON.stringify(this.messages.map((m) => m.t))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(this.messages.map((m) => m.t))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  nextT<T extends ServerMessage["t"]>(t: T, timeoutMs = 5000): Promise<Extract<ServerMessage, { t: T }>> {
    return this.next((m) => m.t === t, timeoutMs) as Promise<Extract<ServerMessage, { t: T }>>;
  }

  async waitClosed(timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      if (Date.now() > deadline) throw new Error("socket did not close");
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  close(): void {
    this.link.destroy();
  }
}

const identities: Identity[] = [];
/** RSA generation is ~100 ms; tests share a small pool of identities. */
export async function identity(i: number): Promise<Identity> {
  while (identities.length <= i) identities.push(await generateIdentity({ extractable: true }));
  return identities[i];
}

/** Joins a room directly (a port) or through a bridge (its ws:// URL). */
/** `v2`: the room link's keys, for a v2 hello (a raw peer that knows the secret). */
export async function join(
  to: number | string,
  p: {
    name: string;
    room: string;
    id?: Identity;
    agent?: string;
    ws?: WebSocket.ClientOptions;
    caps?: string[];
    v2?: RoomKeys;
  },
): Promise<{ peer: WirePeer; welcome: Welcome; identity: Identity }> {
  const peer = typeof to === "number" ? await WirePeer.connect(to) : await WirePeer.connectWs(to, p.ws);
  if (p.caps?.includes("audio")) peer.kinds.add(KIND_AUDIO);
  const ch = await peer.nextT("challenge");
  const id = p.id ?? (await generateIdentity({ extractable: true }));
  const hello = await makeHello(id, {
    nonce: ch.nonce,
    room: p.room,
    name: p.name,
    ...(p.agent ? { agent: p.agent } : {}),
    ...(p.caps ? { caps: p.caps } : {}),
  });
  peer.send(
    p.v2
      ? await new GroupSession(id, p.v2, { sendKeys: () => true, retry: () => {}, log: () => {} }).hello(
          hello,
          ch.nonce,
        )
      : hello,
  );
  const welcome = await peer.nextT("welcome");
  return { peer, welcome, identity: id };
}
