// `sealroom server`: flags -> config -> startCore, until SIGINT/SIGTERM.

import { existsSync, readFileSync } from "node:fs";
import { resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseFlags, parsePort, UsageError } from "../common/args";
import { EXIT } from "../common/exit";
import { defaultDataDir, fingerprintOf, loadOrCreateCert } from "../common/tls";
import { DEFAULT_LIMITS, type Limits } from "../protocol/limits";
import { createLogger, type LogLevel } from "./log";
import { isLoopback } from "../common/net";
import { startCore } from "./server";
import { CLUSTER_FLAGS, CLUSTER_USAGE, clusterConfig, joinCluster } from "./cluster/cli";
import { isClusterLimit } from "./cluster/limits";
import { DEFAULT_STORE_LIMITS, storeLimits, type StoreLimits } from "./store/limits";
import { StoreError } from "./store/roomStore";
import { ffmpegPath } from "./video/ffmpeg";
import { isVideoLimit, VIDEO_LIMITS, type VideoLimits } from "./video/limits";
import { isLibraryLimit, LIBRARY_DEFAULTS, type LibraryLimits } from "./library/limits";

/** The library shipped with Sealroom, wherever the command is run from. */
const DEFAULT_VIDEOS = fileURLToPath(new URL("../videos", import.meta.url));

const USAGE = `Usage: sealroom server [--host H] [--port 7700] [--videos DIR] [--tls]

  --host H            address to listen on (default 127.0.0.1)
  --port N            TCP port (default 7700; 0 picks a free one)
  --videos DIR        video library (default: the videos/ folder of this install)
  --tls               speak TLS (certificate from --cert/--key, or self-signed in --data-dir)
  --cert FILE, --key FILE   PEM certificate and key for --tls
  --cache-dir DIR     decoded-frame spill files and posters (default $TMPDIR/sealroom-cache)
  --data-dir DIR      the room log (rooms.db) and a self-signed certificate (default ~/.local/share/sealroom)
  --store KIND        sqlite (default: durable, in --data-dir) | memory (nothing survives a restart)
  --log-level L       debug | info | warn | error | silent (default info)
  --limit NAME=N      override a limit (repeatable): ${Object.keys(DEFAULT_LIMITS).join(", ")};
                      video: ${Object.keys(VIDEO_LIMITS).join(", ")};
                      library: ${Object.keys(LIBRARY_DEFAULTS).join(", ")};
                      the room store's: ${Object.keys(DEFAULT_STORE_LIMITS).join(", ")}
${CLUSTER_USAGE}`;

/** `--limit` values split into protocol limits and the video pipeline's own. */
export function parseAllLimits(values: string[] | undefined): {
  limits: Partial<Limits>;
  video: Partial<VideoLimits>;
  library: Partial<LibraryLimits>;
} {
  const limits: Partial<Limits> = {};
  const video: Partial<VideoLimits> = {};
  const library: Partial<LibraryLimits> = {};
  for (const v of values ?? []) {
    const m = /^([A-Za-z]+)=(\d+)$/.exec(v);
    if (m && isClusterLimit(m[1])) continue; // the cluster's (cluster/cli.ts)
    if (m && Object.hasOwn(DEFAULT_LIMITS, m[1])) limits[m[1] as keyof Limits] = Number(m[2]);
    else if (m && isVideoLimit(m[1])) video[m[1]] = Number(m[2]);
    else if (m && isLibraryLimit(m[1])) library[m[1]] = Number(m[2]);
    else if (m && Object.hasOwn(DEFAULT_STORE_LIMITS, m[1]))
      continue; // parseStoreLimits takes it
    else throw new UsageError(`--limit must be NAME=N with a known NAME, got '${v}'`);
  }
  return { limits, video, library };
}

export function parseLimits(values: string[] | undefined): Partial<Limits> {
  return parseAllLimits(values).limits;
}

/** The store's share of --limit (retention, away grace, group commit). */
export function parseStoreLimits(values: string[] | undefined): Partial<StoreLimits> {
  const out: Partial<StoreLimits> = {};
  for (const v of values ?? []) {
    const m = /^([A-Za-z]+)=(\d+)$/.exec(v);
    if (m && Object.hasOwn(DEFAULT_STORE_LIMITS, m[1])) out[m[1] as keyof StoreLimits] = Number(m[2]);
  }
  return out;
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    host: { type: "string" },
    port: { type: "string" },
    videos: { type: "string" },
    tls: { type: "boolean" },
    cert: { type: "string" },
    key: { type: "string" },
    "data-dir": { type: "string" },
    store: { type: "string" },
    "cache-dir": { type: "string" },
    "log-level": { type: "string" },
    limit: { type: "string", multiple: true },
    ...CLUSTER_FLAGS,
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  const level = (values["log-level"] ?? "info") as LogLevel;
  if (!["debug", "info", "warn", "error", "silent"].includes(level))
    throw new UsageError(`--log-level must be debug, info, warn, error or silent`);
  if ((values.cert || values.key) && !values.tls) throw new UsageError("--cert and --key go with --tls");
  const host = values.host ?? "127.0.0.1";
  const port = parsePort(values.port, 7700);
  const { limits, video: videoLimits, library: libraryLimits } = parseAllLimits(values.limit);
  const storeLimitsOver = parseStoreLimits(values.limit);
  try {
    storeLimits(storeLimitsOver);
  } catch (e) {
    throw new UsageError(`--limit: ${(e as Error).message}`);
  }
  const storeKind = values.store ?? "sqlite";
  if (storeKind !== "sqlite" && storeKind !== "memory")
    throw new UsageError(`--store must be sqlite or memory, got '${storeKind}'`);
  const dataDir = resolve(values["data-dir"] ?? defaultDataDir());
  const clusterCfg = clusterConfig(values, values.limit);
  if (clusterCfg && values.store !== undefined)
    throw new UsageError("--store goes without --cluster (a cluster keeps its room log on JetStream)");
  const videos = values.videos !== undefined ? resolve(values.videos) : DEFAULT_VIDEOS;
  if (!existsSync(videos)) throw new UsageError(`--videos: no such directory '${videos}'`);
  try {
    await ffmpegPath();
  } catch (e) {
    process.stderr.write(`sealroom server: ${(e as Error).message}\n`);
    return EXIT.failure;
  }
  const log = createLogger(level);

  let tls: { cert: string; key: string } | undefined;
  if (values.tls) {
    try {
      if (values.cert || values.key) {
        if (!values.cert || !values.key) throw new UsageError("--cert and --key go together");
        tls = { cert: readFileSync(values.cert, "utf8"), key: readFileSync(values.key, "utf8") };
        process.stdout.write(`certificate SHA-256 fingerprint: ${fingerprintOf(tls.cert)}\n`);
      } else {
        const dir = dataDir;
        const c = await loadOrCreateCert(dir);
        tls = { cert: c.certPem, key: c.keyPem };
        process.stdout.write(
          `${c.created ? "made a self-signed certificate" : "using the certificate"} in ${dir}\ncertificate SHA-256 fingerprint: ${c.fingerprint256}\n`,
        );
      }
    } catch (e) {
      if (e instanceof UsageError) throw e;
      process.stderr.write(`sealroom server: cannot load the TLS certificate: ${(e as Error).message}\n`);
      return EXIT.cantCreate;
    }
  }

  // The node name is claimed before anything listens: a second core with a live name is refused here.
  const cluster = clusterCfg ? await joinCluster(clusterCfg, storeLimitsOver) : null;
  if (cluster && "code" in cluster) {
    process.stderr.write(`sealroom server: ${cluster.message}\n`);
    return cluster.code;
  }
  let core;
  try {
    core = await startCore({
      host,
      port,
      limits,
      log,
      ...(tls ? { tls } : {}),
      videos: {
        dir: videos,
        limits: videoLimits,
        libraryLimits,
        ...(values["cache-dir"] ? { cacheDir: values["cache-dir"] } : {}),
      },
      // In a worker thread: commits (and their fsyncs) off the event loop that paces video.
      store: cluster ? cluster.store : storeKind === "memory" ? "memory" : { sqlite: dataDir, worker: true },
      storeLimits: storeLimitsOver,
      ...(cluster ? { cluster } : {}),
    });
  } catch (e) {
    await cluster?.close({ store: true });
    if (e instanceof StoreError || e instanceof RangeError) {
      // locked (another core), corrupt, unknown_schema, a bad store limit: one line, exit 73.
      process.stderr.write(`sealroom server: ${e.message}\n`);
      return EXIT.cantCreate;
    }
    process.stderr.write(`sealroom server: cannot listen on ${host}:${port}: ${(e as Error).message}\n`);
    return EXIT.cantCreate;
  }
  // Handlers first: a supervisor may signal us the instant it reads the line below.
  const stopped = new Promise<number>((resolve) => {
    const shutdown = (code: number = EXIT.ok) => {
      // A stop that fails must still end the process, with the reason.
      core
        .stop()
        .then(() => cluster?.close({ store: true }))
        .then(
          () => resolve(code),
          (e: unknown) => {
            process.stderr.write(`sealroom server: stopping failed: ${(e as Error).message}\n`);
            resolve(EXIT.failure);
          },
        );
    };
    process.once("SIGINT", () => shutdown());
    process.once("SIGTERM", () => shutdown());
    // Cut off from NATS longer than presenceTtlMs and the name taken meanwhile: another core is this node now.
    cluster?.presence.events.once("lost-node", () => {
      process.stderr.write(
        `sealroom server: lost the node name ${cluster.node} (cut off from NATS longer than presenceTtlMs, and another core took it); stopping\n`,
      );
      shutdown(EXIT.failure);
    });
  });
  if (!values.tls && !isLoopback(host)) {
    process.stderr.write(
      `sealroom server: warning: listening on ${host} without --tls; traffic metadata is visible on the network\n`,
    );
  }
  // Its own line, before the listening line (which scripts read the port from, up to its last colon).
  if (cluster) process.stdout.write(`sealroom core is cluster node ${cluster.node} on ${clusterCfg!.url}\n`);
  process.stdout.write(`sealroom core listening on ${core.host}:${core.port}${tls ? " (TLS)" : ""}\n`);
  return stopped;
}
