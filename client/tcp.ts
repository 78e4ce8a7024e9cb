// The native client's transport: TCP (or TLS) to the core, frames decoded
// with the shared streaming decoder; with a cluster's list of cores, each
// attempt after a close goes to the next one. Everything above it is
// protocol/session (which reconnects with backoff and resumes from its cursor).

import net from "node:net";
import tls from "node:tls";
import { FrameDecoder, KIND_AUDIO, KIND_CONTROL, KIND_VIDEO, encodeFrame } from "../protocol/framing";
import type { Connector } from "../protocol/session";
import { certificateProblem, normalizeFingerprint, type TrustOnFirstUse } from "../common/tls";

export interface TcpOptions {
  host: string;
  port: number;
  /** Bytes a frame from the server may have; above the default so a core with a larger maxFrame still works. */
  maxFrame?: number;
  /**
   * TLS. With `pin` the certificate's SHA-256 must match (self-signed
   * allowed). Without it, a certificate a CA vouches for is accepted; any
   * other is trusted on first use through `trust`, or refused without it.
   */
  tls?: { pin?: string; trust?: TrustOnFirstUse };
  /** A certificate problem that retrying cannot fix; the connection is closed too. */
  onUntrusted?: (message: string) => void;
  connectTimeoutMs?: number;
}

const DEFAULT_MAX_FRAME = 8 * 1_048_576;

export function tcpConnector(opts: TcpOptions): Connector {
  const pin = opts.tls?.pin !== undefined ? normalizeFingerprint(opts.tls.pin) : null;
  if (opts.tls?.pin !== undefined && pin === null)
    throw new Error("pin must be a SHA-256 fingerprint: 64 hex digits, colons allowed");
  return (h) => {
    const decoder = new FrameDecoder({
      maxFrame: opts.maxFrame ?? DEFAULT_MAX_FRAME,
      kinds: new Set([KIND_CONTROL, KIND_VIDEO, KIND_AUDIO]),
    });
    let done = false;
    let failure: string | null = null;
    const socket: net.Socket = opts.tls
      ? tls.connect({
          host: opts.host,
          port: opts.port,
          servername: net.isIP(opts.host) ? undefined : opts.host,
          // Pinned and trust-on-first-use certificates are checked below instead of against CAs.
          rejectUnauthorized: pin === null && !opts.tls.trust,
        })
      : net.connect({ host: opts.host, port: opts.port });
    socket.setNoDelay(true);
    socket.setTimeout(opts.connectTimeoutMs ?? 10_000, () => {
      failure ??= "connection attempt timed out";
      socket.destroy();
    });

    const onData = (d: Buffer) => {
      try {
        decoder.push(d, (f) => h.onFrame(f.kind, f.body));
      } catch (e) {
        failure ??= `bad frame from server: ${(e as Error).message}`;
        socket.destroy();
      }
    };
    const ready = () => {
      socket.setTimeout(0);
      socket.on("data", onData);
      h.onOpen();
    };
    if (opts.tls) {
      socket.once("secureConnect", () => {
        const problem = certificateProblem(socket as tls.TLSSocket, {
          pin,
          pinFlag: "--pin",
          ...(opts.tls?.trust ? { trust: opts.tls.trust } : {}),
        });
        if (problem) {
          failure = problem;
          opts.onUntrusted?.(problem);
          socket.destroy();
          return;
        }
        ready();
      });
    } else {
      socket.once("connect", ready);
    }
    socket.on("error", (e: NodeJS.ErrnoException) => {
      failure ??= e.code ? `${e.code} ${e.message}` : e.message;
    });
    socket.on("close", () => {
      if (done) return;
      done = true;
      h.onClose(failure ?? "connection closed by the server");
    });
    return {
      send(kind, body) {
        if (!done && socket.writable) socket.write(encodeFrame(kind, body));
      },
      close() {
        done = true;
        // end() lets a final `quit` reach the server; destroy() if it does not drain.
        socket.end();
        setTimeout(() => socket.destroy(), 2_000).unref();
      },
    };
  };
}

/**
 * A cluster's cores (`--core A,B,C`): every attempt uses the current core, and
 * once a connection to it closes (refused, timed out, or lost after it was up)
 * the next attempt goes to the next core in the list. The session's own
 * reconnect (backoff, resume from the cursor, mid dedupe) does the rest.
 */
export function failoverConnector(connectors: readonly Connector[], onDial?: (index: number) => void): Connector {
  if (connectors.length === 0) throw new RangeError("no core to connect to");
  if (connectors.length === 1 && !onDial) return connectors[0];
  let current = 0;
  return (h) => {
    const mine = current;
    onDial?.(mine);
    return connectors[mine]({
      ...h,
      onClose: (reason) => {
        if (current === mine) current = (mine + 1) % connectors.length;
        h.onClose(reason);
      },
    });
  };
}
