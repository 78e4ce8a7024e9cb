// The bridge: one HTTP(S) server that serves the web app and upgrades `/ws`
// to a WebSocket relayed to the configured core (or one of a cluster's cores,
// bridge/dial.ts makeFailoverDialer) (docs/protocol.md section 10).
//
// Every request first has its Host checked against the allow-list (421,
// against DNS rebinding; bridge/hosts.ts). Upgrade checks, in order, all
// answered with a plain HTTP error before any WebSocket exists: Host (421),
// path (404), shutting down (503), Origin (403), bridge-wide connection cap
// (503), per-address cap (429; the address is the peer's, or the one a
// --trust-proxy peer forwarded, bridge/proxy.ts). The core address is fixed at
// start; no part of the request (query, path, Host) can change it.

import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { Duplex } from "node:stream";
import { hostname } from "node:os";
import { fileURLToPath } from "node:url";
import { WebSocketServer } from "ws";
import { DEFAULT_LIMITS } from "../protocol/limits";
import { AddressCounter, addressKey } from "./addresses";
import { makeFailoverDialer, targetText, type CoreTarget } from "./dial";
import { canonicalPattern, certificateNames, checkHost, defaultAllowedHosts } from "./hosts";
import { checkOrigin, normalizeOrigin } from "./origin";
import { TrustedProxies } from "./proxy";
import { CLOSE, startRelay, type Relay, type RelayStats } from "./relay";
import { createStaticHandler } from "./static";
import { createShareOriginHandler } from "./shareOrigin";
import { isLoopback } from "../common/net";

export const DEFAULT_WEB_DIR = fileURLToPath(new URL("../web/dist", import.meta.url));

export const BRIDGE_DEFAULTS = {
  host: "127.0.0.1",
  port: 7780,
  core: { host: "127.0.0.1", port: 7700 },
  maxPerAddress: 64,
  maxConnections: DEFAULT_LIMITS.maxConnections,
  maxFrame: DEFAULT_LIMITS.maxFrame,
  highWaterMark: 1_048_576,
  connectTimeoutMs: 10_000,
  lingerMs: 5_000,
  /** How long stop() waits for WebSockets to finish their close handshake. */
  shutdownGraceMs: 3_000,
  /** HTTPS: a TLS handshake not finished by then is dropped (Node's default is 120 s). */
  handshakeTimeoutMs: 10_000,
} as const;

export const WS_PATH = "/ws";

export interface BridgeOptions {
  host?: string;
  port?: number;
  core?: CoreTarget;
  /** A cluster's cores (`--core A,B,C`): relays spread over them and fail over in turn; overrides `core`. */
  cores?: readonly CoreTarget[];
  /** Serve HTTPS with this certificate and key (PEM). */
  tls?: { certPem: string; keyPem: string } | null;
  /** Extra Origins allowed to open WebSockets (besides same-host). */
  allowOrigins?: readonly string[];
  /** Host names served besides the defaults (loopback, bind address, this machine, certificate names); `*` allows any. */
  allowHosts?: readonly string[];
  /** Peers (addresses or CIDRs) whose X-Forwarded-For is believed; default none. */
  trustProxies?: readonly string[];
  /** The built web app directory. */
  web?: string;
  /** Why the web app could not be built, shown on the 503 page while there is none. */
  webProblem?: string;
  /** Content-Security-Policy for HTML; null sends none; undefined uses the default. */
  csp?: string | null;
  maxPerAddress?: number;
  maxConnections?: number;
  maxFrame?: number;
  highWaterMark?: number;
  connectTimeoutMs?: number;
  lingerMs?: number;
  shutdownGraceMs?: number;
  handshakeTimeoutMs?: number;
  /** What /api/share-origin answers (see shareOrigin.ts); undefined derives it from the bind address. */
  shareOrigin?: string | null;
  /** Operator messages (core unreachable, server errors), at most one per kind every 10 s. */
  log?: (line: string) => void;
}

export interface BridgeStats {
  connections: number;
  relays: RelayStats[];
}

export interface RunningBridge {
  /** The address actually bound. */
  host: string;
  port: number;
  /** What to open in a browser, e.g. http://localhost:7780 */
  url: string;
  stop(): Promise<void>;
  stats(): BridgeStats;
}

export async function startBridge(opts: BridgeOptions = {}): Promise<RunningBridge> {
  const cfg = { ...BRIDGE_DEFAULTS, ...definedOnly(opts) };
  const cores: readonly CoreTarget[] = opts.cores?.length ? opts.cores : [opts.core ?? BRIDGE_DEFAULTS.core];
  const allowed = new Set<string>();
  for (const o of opts.allowOrigins ?? []) {
    const n = normalizeOrigin(o);
    if (n === null) throw new Error(`not an http(s) origin: '${o}'`);
    allowed.add(n);
  }
  const log = throttled(opts.log ?? (() => {}), LOG_EVERY_MS);
  const dial = makeFailoverDialer(cores, cfg.connectTimeoutMs, {
    onFailover: (t, reason) => log(`core ${targetText(t)} failed (${reason}); trying the next`),
  });
  const coresText = cores.map(targetText).join(",");
  const relayOpts = { ...cfg, onCoreTrouble: (m: string) => log(`${m} (core ${coresText})`) };
  const serveStatic = createStaticHandler({
    root: opts.web ?? DEFAULT_WEB_DIR,
    ...(opts.csp !== undefined ? { csp: opts.csp } : {}),
    ...(opts.webProblem !== undefined ? { problem: opts.webProblem } : {}),
  });
  const allowedHosts = hostAllowList(
    cfg.host,
    opts.allowHosts ?? [],
    opts.tls ? certificateNames(opts.tls.certPem) : [],
  );
  const proxies = new TrustedProxies(opts.trustProxies ?? []);
  const clientOf = (req: IncomingMessage) =>
    proxies.clientAddress(req.socket.remoteAddress, req.headers["x-forwarded-for"]);
  /** Null when the Host is served; else the refusal message (and the operator hears of it). */
  const misdirected = (req: IncomingMessage): string | null => {
    const v = checkHost(req.headers.host, allowedHosts);
    if (v.ok) return null;
    // The host name goes last: the log throttle keys on the start of the line.
    log(`refused a request for an unknown Host from ${clientOf(req)}: '${v.host}' (allow it with --allow-host)`);
    return v.reason;
  };
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: cfg.maxFrame,
    clientTracking: false,
  });
  const perAddress = new AddressCounter();
  const relays = new Set<Relay>();
  // Upgraded sockets are not tracked by the HTTP server; stop() cuts off any
  // that outlive the grace period.
  const upgraded = new Set<Duplex>();
  let stopping = false;

  const serveShareOrigin = createShareOriginHandler({
    bindHost: cfg.host,
    tls: !!opts.tls,
    port: () => (server.address() as { port: number }).port,
    ...(opts.shareOrigin !== undefined ? { origin: opts.shareOrigin } : {}),
  });
  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const wrongHost = misdirected(req);
    if (wrongHost !== null) {
      res.statusCode = 421;
      res.setHeader("Content-Type", "text/plain; charset=utf-8");
      res.setHeader("Cache-Control", "no-store");
      res.end(wrongHost + "\n");
      return;
    }
    if (pathOf(req.url) === WS_PATH) {
      res.statusCode = 426;
      res.setHeader("Upgrade", "websocket");
      res.setHeader("Content-Type", "text/plain; charset=utf-8");
      res.end("this endpoint speaks WebSocket only\n");
      return;
    }
    if (serveShareOrigin(req, res)) return;
    serveStatic(req, res);
  };
  const server: Server = opts.tls
    ? createHttpsServer(
        { cert: opts.tls.certPem, key: opts.tls.keyPem, handshakeTimeout: cfg.handshakeTimeoutMs },
        onRequest,
      )
    : createHttpServer(onRequest);
  server.headersTimeout = 20_000;
  server.requestTimeout = 60_000;

  server.on("upgrade", (req: IncomingMessage, socket: Duplex, head: Buffer) => {
    socket.on("error", () => {});
    const wrongHost = misdirected(req);
    if (wrongHost !== null) return refuse(socket, 421, "Misdirected Request", wrongHost);
    if (pathOf(req.url) !== WS_PATH) return refuse(socket, 404, "Not Found", "no such endpoint; WebSockets go to /ws");
    if (stopping) return refuse(socket, 503, "Service Unavailable", "bridge is shutting down");
    if ((req.headers.upgrade ?? "").toLowerCase() !== "websocket")
      return refuse(socket, 400, "Bad Request", "only WebSocket upgrades are accepted");
    const origin = checkOrigin(req.headers.origin, req.headers.host, allowed);
    if (!origin.ok) return refuse(socket, 403, "Forbidden", origin.reason);
    if (perAddress.size >= cfg.maxConnections)
      return refuse(socket, 503, "Service Unavailable", "bridge is at its connection limit");
    const client = clientOf(req);
    const key = addressKey(client);
    if (perAddress.count(key) >= cfg.maxPerAddress) {
      log(`refused a WebSocket over the per-address cap (${cfg.maxPerAddress}) from ${client}`);
      return refuse(socket, 429, "Too Many Requests", `at most ${cfg.maxPerAddress} WebSockets per client address`);
    }
    // Counted from now until the socket closes, however the handshake ends.
    const release = perAddress.add(key);
    socket.once("close", release);
    upgraded.add(socket);
    socket.once("close", () => upgraded.delete(socket));
    wss.handleUpgrade(req, socket, head, (ws) => {
      const relay = startRelay(ws, socket, dial, relayOpts);
      relays.add(relay);
      void relay.closed.then(() => relays.delete(relay));
      if (stopping) relay.close(CLOSE.goingAway, "bridge is shutting down");
    });
  });

  await new Promise<void>((resolve, reject) => {
    const onError = (e: Error) => reject(e);
    server.once("error", onError);
    server.listen(cfg.port, cfg.host, () => {
      server.removeListener("error", onError);
      resolve();
    });
  });
  // After listening, errors (EMFILE on accept, ...) must not crash the bridge.
  server.on("error", (e: NodeJS.ErrnoException) => log(`server error: ${e.code ?? e.message}`));
  const addr = server.address();
  if (addr === null || typeof addr === "string") throw new Error("bridge: unexpected server address");

  return {
    host: addr.address,
    port: addr.port,
    url: `${opts.tls ? "https" : "http"}://${displayHost(addr.address)}:${addr.port}`,
    stats: () => ({ connections: perAddress.size, relays: [...relays].map((r) => r.stats()) }),
    stop: async () => {
      if (stopping) return;
      stopping = true;
      const closedServer = new Promise<void>((r) => server.close(() => r()));
      for (const r of relays) r.close(CLOSE.goingAway, "bridge is shutting down");
      const all = Promise.all([...relays].map((r) => r.closed));
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([all, new Promise((r) => (timer = setTimeout(r, cfg.shutdownGraceMs)))]);
      clearTimeout(timer);
      // Whatever did not finish its close handshake in time is cut off.
      server.closeAllConnections();
      for (const s of upgraded) s.destroy();
      await closedServer;
    },
  };

  function refuse(socket: Duplex, status: number, text: string, message: string): void {
    const body = message + "\n";
    socket.once("finish", () => socket.destroy());
    socket.end(
      `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
        `Content-Length: ${Buffer.byteLength(body)}\r\n${status === 429 ? "Retry-After: 10\r\n" : ""}\r\n${body}`,
    );
  }
}

const LOG_EVERY_MS = 10_000;

/** The Host allow-list: the defaults (bridge/hosts.ts) plus --allow-host. */
function hostAllowList(bind: string, extra: readonly string[], certNames: readonly string[]): Set<string> {
  const allowed = defaultAllowedHosts({ bind, hostname: hostname(), certNames });
  for (const h of extra) {
    const c = canonicalPattern(h);
    if (c === null) throw new Error(`not a host name or address: '${h}'`);
    allowed.add(c);
  }
  return allowed;
}

/** Drops a line whose first word-ish prefix was logged less than everyMs ago; counts what it dropped. */
function throttled(log: (line: string) => void, everyMs: number): (line: string) => void {
  const last = new Map<string, { at: number; dropped: number }>();
  return (line) => {
    const key = line.slice(0, 24);
    const now = Date.now();
    const seen = last.get(key);
    if (seen && now - seen.at < everyMs) {
      seen.dropped++;
      return;
    }
    log(seen && seen.dropped ? `${line} (and ${seen.dropped} more like it)` : line);
    last.set(key, { at: now, dropped: 0 });
  };
}

function pathOf(url: string | undefined): string {
  const u = url ?? "/";
  const q = u.indexOf("?");
  return q === -1 ? u : u.slice(0, q);
}

function displayHost(address: string): string {
  if (address === "0.0.0.0" || address === "::" || isLoopback(address)) return "localhost";
  return address.includes(":") ? `[${address}]` : address;
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
