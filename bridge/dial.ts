// Connects to the bridge's one configured core: plain TCP, or TLS verified
// either by the system CAs or by a pinned SHA-256 certificate fingerprint
// (for a core with a self-signed certificate). The target comes from the
// bridge's configuration only; nothing a client sends reaches this module.

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
        if (problem) return finish(new DialError(target.pin ? "core certificate does not match --core-pin" : `core ${problem}`));
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
