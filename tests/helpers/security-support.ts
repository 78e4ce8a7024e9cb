// Shared plumbing for the security, fuzz, chaos and bounds tests: the real
// core and bridge as child processes (so they can be killed, restarted and
// measured), a WebSocket connector for ClientSession in Node (raw peers are
// tests/helpers/wire.ts), and /proc readers for a process's memory and CPU time.

import { readFileSync } from "node:fs";
import net from "node:net";
import WebSocket from "ws";
import { webSocketConnector } from "../../web/src/lib/transport";
import type { Connector } from "../../protocol/session";
import { runSealroom, ROOT, type Proc } from "./proc";

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

// ---- ClientSession over the bridge ---------------------------------------------------------

/** ClientSession over the bridge from Node, through the web app's own transport. */
export function wsConnector(url: string): Connector {
  return webSocketConnector(url, WebSocket as unknown as typeof globalThis.WebSocket);
}
