// Shared plumbing for the security, fuzz, chaos and bounds tests: the real
// core and bridge as child processes (so they can be killed, restarted and
// measured), a raw WebSocket peer, a WebSocket connector for ClientSession in
// Node, and /proc readers for a process's memory and CPU time.

import { readFileSync } from "node:fs";
import net from "node:net";
import WebSocket from "ws";
import { decodeRaw } from "../protocol/codec";
import { KIND_CONTROL, KIND_VIDEO } from "../protocol/framing";
import { webSocketConnector } from "../web/src/lib/transport";
import type { Connector } from "../protocol/session";
import { runSealroom, ROOT, type Proc } from "./helpers/proc";

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const LONG = process.env.SEALROOM_LONG === "1";
export const VIDEOS = `${ROOT}videos`;

/** A port that was free a moment ago (bind 0, read it, close). */
export async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

// ---- processes ---------------------------------------------------------------------

export interface Spawned {
  proc: Proc;
  port: number;
  pid: number;
}

/** `sealroom server` as a child; resolves once it is listening. */
export async function spawnCore(args: string[], opts: { cwd?: string } = {}): Promise<Spawned> {
  const proc = runSealroom(["server", "--log-level", "warn", ...args], opts.cwd ? { cwd: opts.cwd } : {});
  const port = Number((await proc.waitFor(/core listening on [^\n]*:(\d+)/, 30_000))[1]);
  return { proc, port, pid: proc.child.pid! };
}

/** `sealroom bridge` as a child; resolves once it is listening. */
export async function spawnBridge(args: string[]): Promise<Spawned> {
  const proc = runSealroom(["bridge", ...args]);
  const port = Number((await proc.waitFor(/bridge listening on \S+:(\d+)/, 30_000))[1]);
  return { proc, port, pid: proc.child.pid! };
}

export async function stopProc(p: Spawned | undefined, signal: NodeJS.Signals = "SIGTERM"): Promise<void> {
  if (!p || p.proc.child.exitCode !== null || p.proc.child.signalCode !== null) return;
  p.proc.child.kill(signal);
  const t = setTimeout(() => p.proc.child.kill("SIGKILL"), 5_000);
  await p.proc.exited;
  clearTimeout(t);
}

// ---- measurements ---------------------------------------------------------------------

/** Resident set size of a process, bytes (Linux /proc). */
export function rssOf(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** User + system CPU time a process has used so far, ms (Linux /proc, USER_HZ = 100). */
export function cpuMsOf(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  // Fields after the command name, which is in parentheses and may hold spaces.
  const rest = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12])) * 10;
}

export const MiB = 1_048_576;
export const mib = (n: number) => `${(n / MiB).toFixed(1)} MiB`;

// ---- a raw WebSocket peer (what a browser sends, byte for byte) ---------------------------

export type Received = { t: string; [k: string]: unknown };

export class WsPeer {
  readonly messages: Received[] = [];
  videoFrames = 0;
  closed = false;
  closeCode = 0;
  private waiters: (() => void)[] = [];

  private constructor(readonly ws: WebSocket) {
    ws.on("message", (data: Buffer, isBinary: boolean) => {
      if (isBinary && data.length >= 1) {
        if (data[0] === KIND_VIDEO) this.videoFrames++;
        else if (data[0] === KIND_CONTROL) {
          const r = decodeRaw(data.subarray(1));
          if (r.ok) this.messages.push(r.raw);
        }
      }
      this.wake();
    });
    ws.on("close", (code: number) => {
      this.closed = true;
      this.closeCode = code;
      this.wake();
    });
    ws.on("error", () => {});
  }

  static connect(url: string): Promise<WsPeer> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, { perMessageDeflate: false });
      const p = new WsPeer(ws);
      ws.once("open", () => resolve(p));
      ws.once("error", reject);
    });
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  /** Sends one frame given with its 4-byte length prefix: the WebSocket carries kind + body. */
  sendFrame(frame: Uint8Array): void {
    if (this.ws.readyState === WebSocket.OPEN) this.ws.send(frame.subarray(4));
  }

  send(msg: object): void {
    if (this.ws.readyState !== WebSocket.OPEN) return;
    const body = Buffer.from(JSON.stringify(msg));
    this.ws.send(Buffer.concat([Buffer.from([KIND_CONTROL]), body]));
  }

  async next(pred: (m: Received) => boolean, timeoutMs = 5000): Promise<Received> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.messages.find(pred);
      if (hit) return hit;
      if (this.closed) throw new Error(`closed (${this.closeCode}) before a matching message; got ${JSON.stringify(this.messages.map((m) => m.t))}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out; got ${JSON.stringify(this.messages.map((m) => m.t))}`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }

  async waitClosed(timeoutMs: number): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) {
      await new Promise<void>((r) => {
        const t = setTimeout(r, Math.max(1, deadline - Date.now()));
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
    return this.closed;
  }

  close(): void {
    this.ws.terminate();
  }
}

/** ClientSession over the bridge from Node, through the web app's own transport. */
export function wsConnector(url: string): Connector {
  return webSocketConnector(url, WebSocket as unknown as typeof globalThis.WebSocket);
}
