// The core's listener: accepts TCP (or TLS) sockets, enforces the connection
// caps, owns the one timer that sweeps every connection's deadlines, and shuts
// down gracefully.

import net from "node:net";
import tls from "node:tls";
import { DEFAULT_LIMITS, type Limits } from "../protocol/limits";
import { Connection } from "./connection";
import { Hub } from "./hub";
import type { VideoService } from "./ports";
import { isLoopback } from "../common/net";
import { silentLogger, type Logger } from "./log";
import { createVideoService, type VideoServiceOptions } from "./video/service";
import { MemoryStore } from "./store/memoryStore";
import type { StoreLimits } from "./store/limits";
import type { RoomStore } from "./store/roomStore";
import { SqliteStore } from "./store/sqliteStore";
import { WorkerStore } from "./store/workerStore";
import { PersistedStreams } from "./streamState";
import { CrossCore } from "./cluster/crossCore";
import { isFollowingVideo, SharedStreams } from "./cluster/sharedStream";
import type { ClusterNode } from "./cluster/node";

export const SERVER_VERSION = "sealroom/0.1.0";

export interface CoreOptions {
  host?: string;
  port?: number;
  limits?: Partial<Limits>;
  /** Addresses exempt from the per-address cap (bridges). Default: loopback. */
  trusted?: (address: string) => boolean;
  tls?: { cert: string | Buffer; key: string | Buffer };
  video?: VideoService;
  /** A video library directory: builds the video service (ignored when `video` is given). */
  videos?: string | ({ dir: string } & Omit<VideoServiceOptions, "log" | "maxStreams">);
  log?: Logger;
  /** Sweep interval for timeouts; tests shorten it together with the timeouts. */
  sweepMs?: number;
  /**
   * The room log (docs/protocol.md section 2c): "memory" (the default here;
   * `sealroom server` defaults to sqlite), { sqlite: dataDir } (worker: in a
   * worker thread, as `sealroom server` runs it), or a store
   * the caller made (it is closed with the core).
   */
  store?: "memory" | { sqlite: string; worker?: boolean } | RoomStore;
  storeLimits?: Partial<StoreLimits>;
  /** A cluster node (server/cluster/node.ts): its JetStream store is the room log and rooms span its cores. */
  cluster?: ClusterNode;
}

export interface CoreServer {
  host: string;
  port: number;
  readonly connections: number;
  readonly hub: Hub;
  /** Bytes queued in user space for all connections (bounded per connection). */
  queuedBytes(): number;
  /** Tells every member, closes every socket, stops listening. */
  stop(): Promise<void>;
}

/** A stand-in until a video library is configured: every video request is refused. */
export const NO_VIDEO: VideoService = {
  roomStream: () => null,
  join: () => {},
  leave: () => {},
  roomEmpty: () => {},
  handle: (peer, msg) =>
    peer.sendControl({
      t: "error",
      code: msg.t === "control" || msg.t === "audioTrack" ? "unknown_stream" : "unknown_video",
      message: "this server has no video library",
      ref: msg.t,
      fatal: false,
    }),
  close: () => {},
};

export async function startCore(opts: CoreOptions = {}): Promise<CoreServer> {
  const limits: Limits = { ...DEFAULT_LIMITS, ...opts.limits };
  const log = opts.log ?? silentLogger;
  const videoOpts = typeof opts.videos === "string" ? { dir: opts.videos } : opts.videos;
  const video =
    opts.video ??
    (videoOpts
      ? createVideoService({ ...videoOpts, log, maxStreams: limits.maxStreams, maxFrame: limits.maxFrame })
      : NO_VIDEO);
  const trusted = opts.trusted ?? isLoopback;
  // Opening the SQLite store throws StoreError (locked, corrupt, unknown_schema): before anything listens.
  const store: RoomStore =
    opts.store === undefined || opts.store === "memory"
      ? new MemoryStore({ limits: opts.storeLimits })
      : "sqlite" in opts.store
        ? opts.store.worker
          ? await WorkerStore.open(opts.store.sqlite, { ...(opts.storeLimits ? { limits: opts.storeLimits } : {}) })
          : new SqliteStore(opts.store.sqlite, { limits: opts.storeLimits })
        : opts.store;
  // In a cluster the room's stream is the shared anchor in KV (server/cluster/sharedStream.ts says why it replaces PersistedStreams).
  const streams: VideoService =
    opts.cluster && isFollowingVideo(video)
      ? new SharedStreams(video, opts.cluster, log)
      : new PersistedStreams(video, store, log);
  const hub = new Hub(limits, streams, log, Date.now, store);
  // Before anything listens: every member this core seats is in the cluster's presence.
  let cross: CrossCore | null = null;
  if (opts.cluster) {
    cross = new CrossCore(opts.cluster, hub, log);
    hub.attachCluster(cross);
    await cross.start();
  }
  const conns = new Set<Connection>();
  const perAddress = new Map<string, number>();
  let nextId = 1;

  const onSocket = (socket: net.Socket) => {
    const address = socket.remoteAddress ?? "unknown";
    const conn = new Connection(nextId++, socket, address, {
      limits,
      hub,
      log,
      server: SERVER_VERSION,
      onClosed: (c) => {
        if (!conns.delete(c)) return;
        const n = (perAddress.get(c.address) ?? 1) - 1;
        if (n > 0) perAddress.set(c.address, n);
        else perAddress.delete(c.address);
      },
    });
    const fromAddress = perAddress.get(address) ?? 0;
    if (conns.size >= limits.maxConnections) {
      conn.refuse("server_full", `server is at its limit of ${limits.maxConnections} connections`);
      return;
    }
    if (!trusted(address) && fromAddress >= limits.maxConnectionsPerAddress) {
      conn.refuse("server_full", `too many connections from your address (${limits.maxConnectionsPerAddress})`);
      return;
    }
    conns.add(conn);
    perAddress.set(address, fromAddress + 1);
    conn.start();
  };

  const server = opts.tls
    ? // A socket that never finishes its TLS handshake is not a Connection yet, so
      // the hello timeout cannot reach it: bound it the same way (Node's default is 120 s).
      tls.createServer({ cert: opts.tls.cert, key: opts.tls.key, handshakeTimeout: limits.helloTimeoutMs }, onSocket)
    : net.createServer(onSocket);
  if (opts.tls) {
    // With a listener here Node leaves the failed socket open: close it, or a
    // peer that never completes a handshake holds it forever.
    (server as tls.Server).on("tlsClientError", (err, socket) => {
      log.debug({ err: err.message }, "TLS handshake failed");
      socket.destroy();
    });
  }

  const sweep = setInterval(() => {
    const now = Date.now();
    for (const c of conns) c.check(now);
  }, opts.sweepMs ?? 1000);
  sweep.unref();

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(opts.port ?? 7700, opts.host ?? "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  }).catch(async (e: unknown) => {
    clearInterval(sweep);
    streams.close();
    cross?.close();
    await store.close().catch(() => {});
    throw e;
  });
  const addr = server.address() as net.AddressInfo;
  log.info({ host: addr.address, port: addr.port, tls: !!opts.tls }, "core listening");

  let stopping: Promise<void> | null = null;
  return {
    host: addr.address,
    port: addr.port,
    hub,
    queuedBytes() {
      let n = 0;
      for (const c of conns) n += c.queuedBytes;
      return n;
    },
    get connections() {
      return conns.size;
    },
    stop() {
      stopping ??= (async () => {
        clearInterval(sweep);
        const closed = new Promise<void>((r) => server.close(() => r()));
        streams.close();
        for (const c of [...conns]) c.closeWith("internal", "server is shutting down", undefined, "closed");
        await closed;
        cross?.close();
        await store.close().catch(() => {});
        log.info({}, "core stopped");
      })();
      return stopping;
    },
  };
}
