// A raw protocol peer for tests: real TCP, real framing, no client logic, so
// tests can send exactly the bytes they mean (valid or not).

import net from "node:net";
import { decodeRaw } from "../../protocol/codec";
import { FrameDecoder, KIND_CONTROL, KIND_VIDEO, encodeFrame } from "../../protocol/framing";
import { generateIdentity, makeHello, type Identity } from "../../protocol/crypto";
import type { ServerMessage, Welcome } from "../../protocol/messages";

export type Received = { t: string; [k: string]: unknown };

export class WirePeer {
  readonly messages: Received[] = [];
  readonly video: Uint8Array[] = [];
  closed = false;
  private waiters: (() => void)[] = [];
  private decoder = new FrameDecoder({ maxFrame: 2 * 1_048_576, kinds: new Set([KIND_CONTROL, KIND_VIDEO]) });

  private constructor(readonly socket: net.Socket) {
    socket.on("data", (d) => {
      this.decoder.push(d, (f) => {
        if (f.kind === KIND_VIDEO) this.video.push(f.body.slice());
        else {
          const r = decodeRaw(f.body);
          if (r.ok) this.messages.push(r.raw);
        }
      });
      this.wake();
    });
    socket.on("close", () => {
      this.closed = true;
      this.wake();
    });
    socket.on("error", () => {});
  }

  static connect(port: number, host = "127.0.0.1"): Promise<WirePeer> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, host, () => resolve(new WirePeer(s)));
      s.once("error", reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  sendRaw(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  send(msg: object): void {
    this.socket.write(encodeFrame(KIND_CONTROL, new TextEncoder().encode(JSON.stringify(msg))));
  }

  /** Waits for the first message (after `from`) matching pred; returns it. */
  async next<T extends Received = Received>(pred: (m: Received) => boolean, timeoutMs = 5000, from = 0): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const found = this.messages.slice(from).find(pred);
      if (found) return found as T;
      if (this.closed) throw new Error(`closed before a matching message; got ${JSON.stringify(this.messages.map((m) => m.t))}`);
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
    this.socket.destroy();
  }
}

const identities: Identity[] = [];
/** RSA generation is ~100 ms; tests share a small pool of identities. */
export async function identity(i: number): Promise<Identity> {
  while (identities.length <= i) identities.push(await generateIdentity({ extractable: true }));
  return identities[i];
}

export async function join(port: number, p: { name: string; room: string; id?: Identity; agent?: string }): Promise<{ peer: WirePeer; welcome: Welcome; identity: Identity }> {
  const peer = await WirePeer.connect(port);
  const ch = await peer.nextT("challenge");
  const id = p.id ?? (await generateIdentity({ extractable: true }));
  peer.send(await makeHello(id, { nonce: ch.nonce, room: p.room, name: p.name, ...(p.agent ? { agent: p.agent } : {}) }));
  const welcome = await peer.nextT("welcome");
  return { peer, welcome, identity: id };
}
