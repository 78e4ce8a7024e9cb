// Connects to the bridge's configured core (or one of its configured cores,
// failing over in turn): plain TCP, or TLS verified either by the system CAs
// or by a pinned SHA-256 certificate fingerprint (for a core with a
// self-signed certificate). Targets come from the bridge's configuration
// only; nothing a client sends reaches this module.

import { connect as netConnect, isIP, type Socket } from "node:net";
import { connect as tlsConnect, type TLSSocket } from "node:tls";
import { certificateProblem } from "../common/tls";

export interface CoreTarget {
  host: string;
  port: number;
  /** Connect with TLS. */
  tls?: boolean;
  /** Accept exactly the certificate with this SHA-256 fingerprint (colon form, uppercase); implies tls. */
  pin?: string | null;
  /** Extra trusted CA certificates (PEM) for tls without a pin. */
  ca?: string;
}

export class DialError extends Error {
  override name = "DialError";
}

export type Dialer = (signal: AbortSignal) => Promise<Socket>;

export function makeDialer(target: CoreTarget, timeoutMs: number): Dialer {
  return (signal) => dial(target, timeoutMs, signal);
}

export interface FailoverOptions {
  /** A core that refused a dial or closed a relay first is tried last for this long. */
  downMs?: number;
  /** Told when a dial had to skip a core (for the operator's log). */
  onFailover?: (from: CoreTarget, reason: string) => void;
  /** The connector of one target (tests swap it); default: dial() above. */
  dialOne?: (target: CoreTarget, timeoutMs: number, signal: AbortSignal) => Promise<Socket>;
  now?: () => number;
}

export const FAILOVER_DOWN_MS = 5_000;

/**
 * A cluster of cores (`--core A,B,C`): each dial starts at the next core in
 * turn (so relays spread over the cores), skips to the next on a failed
 * connect, and tries cores that failed or closed a relay recently only after
 * the others. A browser whose core died reconnects through the bridge and so
 * lands on a live core; the session resumes from its cursor there.
 */
export function makeFailoverDialer(
  targets: readonly CoreTarget[],
  timeoutMs: number,
  opts: FailoverOptions = {},
): Dialer {
  if (targets.length === 0) throw new RangeError("no core to dial");
  if (targets.length === 1 && !opts.dialOne) return makeDialer(targets[0], timeoutMs);
  const downMs = opts.downMs ?? FAILOVER_DOWN_MS;
  const now = opts.now ?? Date.now;
  const one = opts.dialOne ?? dial;
  const downUntil = targets.map(() => 0);
  /** The core the last dial went to: the next starts after it, so a dead core's share spreads over the live ones. */
  let last = targets.length - 1;
  const markDown = (i: number) => (downUntil[i] = now() + downMs);
  return async (signal) => {
    const start = (last + 1) % targets.length;
    const order = targets.map((_, k) => (start + k) % targets.length);
    const t = now();
    // Stable: live cores in turn first, then the recently failed ones in turn.
    order.sort((a, b) => Number(downUntil[a] > t) - Number(downUntil[b] > t));
    // taken now, not after the connect: dials made at the same moment still go to different cores
    last = order[0];
    const failures: string[] = [];
    for (const i of order) {
      if (signal.aborted) throw new DialError("aborted");
      try {
        const sock = await one(targets[i], timeoutMs, signal);
        if (i !== order[0]) last = i;
        // The core ended the connection first (it is stopping, or died): dial others first for a while.
        sock.once("end", () => {
          if (!sock.writableEnded) markDown(i);
        });
        sock.once("error", () => markDown(i));
        return sock;
      } catch (e) {
        if (signal.aborted) throw e;
        markDown(i);
        const reason = (e as Error).message;
        failures.push(`${targetText(targets[i])} ${reason}`);
        opts.onFailover?.(targets[i], reason);
      }
    }
    throw new DialError(`all ${targets.length} cores failed: ${failures.join(", ")}`);
  };
}

/** "host:port" ("[v6]:port"), as flags and logs write it. */
export function targetText(t: { host: string; port: number }): string {
  return `${t.host.includes(":") ? `[${t.host}]` : t.host}:${t.port}`;
}

function dial(target: CoreTarget, timeoutMs: number, signal: AbortSignal): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const useTls = target.tls === true || !!target.pin;
    const sock: Socket = useTls
      ? tlsConnect({
          host: target.host,
          port: target.port,
          ...(isIP(target.host) ? {} : { servername: target.host }),
          // With a pin the fingerprint is the whole check (self-signed core).
          rejectUnauthorized: !target.pin,
          ...(target.ca ? { ca: target.ca } : {}),
        })
      : netConnect({ host: target.host, port: target.port });
    let done = false;
    const finish = (err: Error | null) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      signal.removeEventListener("abort", onAbort);
      sock.removeListener("error", onError);
      if (err) {
        sock.destroy();
        reject(err);
      } else {
        resolve(sock);
      }
    };
    const onError = (e: NodeJS.ErrnoException) => finish(new DialError(e.code ?? e.message));
    const onAbort = () => finish(new DialError("aborted"));
    const timer = setTimeout(() => finish(new DialError("connect timed out")), timeoutMs);
    signal.addEventListener("abort", onAbort, { once: true });
    sock.once("error", onError);
    if (useTls) {
      sock.once("secureConnect", () => {
        const problem = certificateProblem(sock as TLSSocket, { pin: target.pin ?? null, pinFlag: "--core-pin" });
        // The reason ends up in a WebSocket close reason (123 bytes at most): name the flag, not the fingerprint.
        if (problem)
          return finish(new DialError(target.pin ? "core certificate does not match --core-pin" : `core ${problem}`));
        sock.setNoDelay(true);
        finish(null);
      });
    } else {
      sock.once("connect", () => {
        // Chat frames are small and latency-sensitive.
        sock.setNoDelay(true);
        finish(null);
      });
    }
    if (signal.aborted) onAbort();
  });
}
