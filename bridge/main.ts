// `sealroom bridge`: flags -> options -> startBridge, until SIGINT/SIGTERM.

import { readFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { networkInterfaces } from "node:os";
import { join } from "node:path";
import { parseCoreList, parseFlags, parsePort, UsageError } from "../common/args";
import { EXIT } from "../common/exit";
import { DEFAULT_ALT_NAMES, defaultDataDir, loadOrCreateCert, normalizeFingerprint } from "../common/tls";
import { isLoopback } from "../common/net";
import { BRIDGE_DEFAULTS, DEFAULT_WEB_DIR, startBridge, type BridgeOptions } from "./bridge";
import { targetText } from "./dial";
import { canonicalPattern } from "./hosts";
import { normalizeOrigin } from "./origin";
import { parseCidr } from "./proxy";
import { buildErrorText, ensureWebBuilt, isWebStale } from "./webBuild";

const D = BRIDGE_DEFAULTS;

const USAGE = `Usage: sealroom bridge [flags]

Serves the web app and relays browser WebSockets at /ws to one core (or to
one of a cluster's cores: --core A:7700,B:7700 spreads them and fails over).

  --host H              address to listen on (default ${D.host}; 0.0.0.0 for all interfaces)
  --port N              HTTP(S) port (default ${D.port}; 0 picks a free one)
  --core HOST:PORT      the core to relay to (default ${D.core.host}:${D.core.port}); a comma-separated
                        list for a cluster (sealroom server --cluster): each WebSocket goes to the next
                        core in turn, skipping one that does not answer or just closed
  --core-tls            connect to the core with TLS (verified by the system CAs)
  --core-pin SHA256     accept exactly the core certificate with this SHA-256 fingerprint (implies --core-tls)
  --https               serve HTTPS (certificate from --cert/--key, else self-signed in --data-dir)
  --cert FILE --key FILE  PEM certificate and private key for --https
  --data-dir DIR        where a self-signed certificate is kept (default ${defaultDataDir()})
  --allow-origin ORIGIN allow WebSockets from this page origin too, e.g. https://chat.example.org (repeatable)
  --allow-host NAME     answer to this Host name too, e.g. chat.example.org or *.example.org (repeatable, or a,b);
                        by default: localhost, the --host name, this machine's hostname, the certificate's
                        names and any IP address; other names get 421 (against DNS rebinding); * allows all
  --trust-proxy ADDR|CIDR  believe X-Forwarded-For from this reverse proxy, e.g. 127.0.0.1 or 10.0.0.0/8
                        (repeatable, or a,b; default: nobody); the forwarded client counts for --max-per-ip and logs
  --web DIR             serve this built web app as it is (default web/dist in the repository,
                        built first when missing or older than its sources)
  --max-per-ip N        WebSockets per client address (IPv6: per /64) (default ${D.maxPerAddress})
  --max-connections N   WebSockets in total (default ${D.maxConnections})
  --max-frame N         largest frame in bytes; match the core's maxFrame (default ${D.maxFrame})
  -h, --help            show this help
`;

interface Parsed {
  options: BridgeOptions;
  https: boolean;
  cert: { cert: string; key: string } | null;
  dataDir: string;
  web: string;
  /** No --web given: build web/dist when it is missing or stale. */
  buildWeb: boolean;
}

export function parseBridgeArgs(argv: string[]): Parsed | "help" {
  const { values } = parseFlags(argv, {
    host: { type: "string" },
    port: { type: "string" },
    core: { type: "string" },
    "core-tls": { type: "boolean" },
    "core-pin": { type: "string" },
    https: { type: "boolean" },
    cert: { type: "string" },
    key: { type: "string" },
    "data-dir": { type: "string" },
    "allow-origin": { type: "string", multiple: true },
    "allow-host": { type: "string", multiple: true },
    "trust-proxy": { type: "string", multiple: true },
    web: { type: "string" },
    "max-per-ip": { type: "string" },
    "max-connections": { type: "string" },
    "max-frame": { type: "string" },
  });
  if (values.help) return "help";
  const host = values.host ?? D.host;
  if (host === "" || /\s/.test(host)) throw new UsageError(`--host must be an address or name, got '${host}'`);
  const cores = values.core === undefined ? [{ ...D.core }] : parseCoreList(values.core, "--core");
  let pin: string | null = null;
  if (values["core-pin"] !== undefined) {
    pin = normalizeFingerprint(values["core-pin"]);
    if (pin === null)
      throw new UsageError(
        `--core-pin must be a SHA-256 fingerprint (64 hex digits, colons optional), got '${values["core-pin"]}'`,
      );
  }
  if ((values.cert === undefined) !== (values.key === undefined)) throw new UsageError("--cert and --key go together");
  if (values.cert !== undefined && !values.https) throw new UsageError("--cert and --key go with --https");
  const allowOrigins = (values["allow-origin"] ?? []).map((o) => {
    if (normalizeOrigin(o) === null)
      throw new UsageError(`--allow-origin must be an origin like https://example.org, got '${o}'`);
    return o;
  });
  // Repeatable, and each value may be a comma-separated list.
  const allowHosts = listFlag(values["allow-host"]).map((h) => {
    if (canonicalPattern(h) === null)
      throw new UsageError(
        `--allow-host must be a host name or address without a port (or *.domain, or *), got '${h}'`,
      );
    return h;
  });
  const trustProxies = listFlag(values["trust-proxy"]).map((p) => {
    if (parseCidr(p) === null)
      throw new UsageError(`--trust-proxy must be an IP address or CIDR like 10.0.0.0/8, got '${p}'`);
    return p;
  });
  const web = values.web ?? DEFAULT_WEB_DIR;
  return {
    https: values.https === true,
    cert: values.cert !== undefined && values.key !== undefined ? { cert: values.cert, key: values.key } : null,
    dataDir: values["data-dir"] ?? defaultDataDir(),
    web,
    buildWeb: values.web === undefined,
    options: {
      // "localhost" may resolve to ::1 alone; bind the address browsers try first.
      host: host === "localhost" ? "127.0.0.1" : host,
      port: parsePort(values.port, D.port),
      core: { ...cores[0], tls: values["core-tls"] === true || pin !== null, pin },
      ...(cores.length > 1
        ? { cores: cores.map((c) => ({ ...c, tls: values["core-tls"] === true || pin !== null, pin })) }
        : {}),
      allowOrigins,
      allowHosts,
      trustProxies,
      web,
      maxPerAddress: parseCount(values["max-per-ip"], D.maxPerAddress, "--max-per-ip", 1, 1_000_000),
      maxConnections: parseCount(values["max-connections"], D.maxConnections, "--max-connections", 1, 10_000_000),
      maxFrame: parseCount(values["max-frame"], D.maxFrame, "--max-frame", 2, 0xffff_ffff),
    },
  };
}

function listFlag(values: string[] | undefined): string[] {
  return (values ?? []).flatMap((v) => v.split(",")).map((v) => v.trim());
}

function parseCount(value: string | undefined, fallback: number, flag: string, min: number, max: number): number {
  if (value === undefined) return fallback;
  if (!/^\d{1,10}$/.test(value) || Number(value) < min || Number(value) > max) {
    throw new UsageError(`${flag} must be a whole number from ${min} to ${max}, got '${value}'`);
  }
  return Number(value);
}

export async function main(argv: string[]): Promise<number> {
  const parsed = parseBridgeArgs(argv);
  if (parsed === "help") {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  const { options } = parsed;
  // Startup lines are written together once listening, so a reader that sees
  // the URL line sees the rest too.
  const lines: string[] = [];
  const out = (line: string) => lines.push(line);
  const warn = (line: string) => process.stderr.write(`sealroom bridge: ${line}\n`);

  let fingerprint: string | null = null;
  if (parsed.https) {
    try {
      if (parsed.cert) {
        const [certPem, keyPem] = await Promise.all([
          readFile(parsed.cert.cert, "utf8"),
          readFile(parsed.cert.key, "utf8"),
        ]);
        options.tls = { certPem, keyPem };
      } else {
        const made = await loadOrCreateCert(parsed.dataDir, { altNames: certNames(options.host ?? D.host) });
        options.tls = { certPem: made.certPem, keyPem: made.keyPem };
        fingerprint = made.fingerprint256;
        if (made.created) out(`created a self-signed certificate in ${made.certPath}`);
      }
    } catch (e) {
      warn(`cannot use the TLS certificate: ${(e as Error).message}`);
      return EXIT.cantCreate;
    }
  }

  if (parsed.buildWeb) {
    // The one line while it builds goes out at once; the result joins the startup lines.
    const problem = await buildWebApp((line) => process.stdout.write(`${line}\n`), out);
    if (problem !== null) {
      options.webProblem = problem;
      warn(`building the web app failed: ${oneLine(problem)}`);
    }
  }

  let bridge;
  try {
    bridge = await startBridge({ ...options, log: (line) => warn(line) });
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    warn(`cannot listen on ${options.host}:${options.port}: ${err.code ?? err.message}`);
    return EXIT.cantCreate;
  }

  out(`sealroom bridge listening on ${bridge.url}`);
  const scheme = parsed.https ? "https" : "http";
  if (bridge.host === "0.0.0.0" || bridge.host === "::") {
    for (const a of lanAddresses())
      out(`  also reachable at ${scheme}://${a.includes(":") ? `[${a}]` : a}:${bridge.port}`);
  }
  const coreList = (options.cores ?? [options.core!]).map(targetText).join(", ");
  out(
    `relaying ${bridge.url.replace(/^http/, "ws")}/ws to core${options.cores ? "s" : ""} ${coreList}${options.core!.tls ? " (TLS)" : ""}`,
  );
  if (fingerprint) out(`certificate SHA-256 fingerprint: ${fingerprint}`);
  if (!existsSync(join(parsed.web, "index.html")))
    warn(`warning: no web app in ${parsed.web}; run npm run build:web (pages answer 503 until then)`);
  if (!parsed.https && !isLoopback(bridge.host)) {
    warn(
      "warning: plain HTTP on a non-loopback address; browsers on other machines have no WebCrypto there and need --https",
    );
  }

  // Handlers first: a supervisor may signal us the instant it reads our output.
  const stopped = new Promise<number>((resolve) => {
    let stopping = false;
    const shutdown = () => {
      if (stopping) {
        // A second signal: the user wants out now.
        process.exit(EXIT.failure);
      }
      stopping = true;
      bridge.stop().then(
        () => resolve(EXIT.ok),
        (e: unknown) => {
          warn(`error while stopping: ${(e as Error).message}`);
          resolve(EXIT.failure);
        },
      );
    };
    process.on("SIGINT", shutdown);
    process.on("SIGTERM", shutdown);
  });
  process.stdout.write(lines.join("\n") + "\n");
  return stopped;
}

/**
 * Builds web/dist when it is missing or older than its sources (as
 * `sealroom start` does), announcing it in one line; returns why it failed, or null.
 */
async function buildWebApp(say: (line: string) => void, done: (line: string) => void): Promise<string | null> {
  try {
    if (!isWebStale()) return null;
    say("building the web app into web/dist (missing or older than its sources)...");
    const t0 = Date.now();
    if (await ensureWebBuilt()) done(`built the web app in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    return null;
  } catch (e) {
    return buildErrorText(e);
  }
}

/** The line of a multi-line build error that says what is wrong (not "Build failed with 1 error:", not the code frame). */
function oneLine(s: string): string {
  const lines = s
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "");
  const line = lines.find((l) => !/^Build failed with \d+ errors?:$/.test(l)) ?? lines[0] ?? s;
  return line.length > 300 ? line.slice(0, 300) + "..." : line;
}

/** Names a self-signed certificate should cover for this bind address. */
function certNames(host: string): string[] {
  const names = new Set<string>(DEFAULT_ALT_NAMES);
  if (host === "0.0.0.0" || host === "::") for (const a of lanAddresses()) names.add(a);
  else names.add(host);
  return [...names];
}

function lanAddresses(): string[] {
  return Object.values(networkInterfaces())
    .flat()
    .filter((i) => i && !i.internal && (i.family === "IPv4" || !i.address.startsWith("fe80")))
    .map((i) => i!.address);
}
