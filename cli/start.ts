// `sealroom start`: builds the web app if needed, then runs the core and the
// bridge as two processes (as in production) and prints where to go; with
// --https both use one certificate and the printout is enough for a friend.

import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";
import { parseFlags, parsePort, UsageError } from "../common/args";
import { EXIT } from "../common/exit";
import { SERVER_NODE_FLAGS } from "../common/nodeFlags";
import { ROOT, buildErrorText, ensureWebBuilt } from "../bridge/webBuild";
import { DEFAULT_ALT_NAMES, defaultDataDir, fingerprintOf, loadOrCreateCert } from "../common/tls";
import { listInterfaces, reachableHosts } from "../bridge/shareOrigin";
import { startBanner, startTargets } from "./startBanner";
import { qrLines } from "./qr";

const USAGE = `Usage: sealroom start [--host H] [--core-port 7700] [--port 7780] [--videos DIR] [--https]

Starts the core (TCP 7700) and the bridge (HTTP 7780) with the default video
library, building the web app first when it is missing or stale, and prints
where to go. Stop with Ctrl-C.

  --host H          address both listen on (default 127.0.0.1; 0.0.0.0 for every interface,
                    so other machines can join: then use --https)
  --port N          the bridge's port (default 7780; 0 picks a free one)
  --core-port N     the core's port (default 7700; 0 picks a free one)
  --videos DIR      video library (default: the videos/ folder of this install)
  --https           HTTPS for the bridge and TLS for the core, with one certificate:
                    --cert/--key, else a self-signed one kept in --data-dir that names
                    this machine's addresses; prints the links to share, the
                    certificate fingerprint and a terminal command with --pin
  --cert FILE --key FILE  PEM certificate and private key for --https
  --data-dir DIR    where the self-signed certificate is kept (default ${defaultDataDir()})
  --no-qr           no QR code of the share link
`;

interface Child {
  name: string;
  proc: ChildProcess;
  /** The HOST:PORT (or URL) it announced. */
  ready: Promise<string>;
}

function run(name: string, args: string[]): Child {
  const proc = spawn(process.execPath, [...SERVER_NODE_FLAGS, path.join(ROOT, "bin", "sealroom"), ...args], { stdio: ["ignore", "pipe", "inherit"] });
  const ready = new Promise<string>((resolve, reject) => {
    let out = "";
    proc.stdout!.on("data", (d: Buffer) => {
      out += d;
      const m = /listening on (\S+)/.exec(out);
      if (m) resolve(m[1]);
    });
    proc.on("exit", (code) => reject(new Error(`${name} exited with code ${code} before it was ready`)));
  });
  return { name, proc, ready };
}

export async function main(argv: string[]): Promise<number> {
  const { values } = parseFlags(argv, {
    host: { type: "string" },
    port: { type: "string" },
    "core-port": { type: "string" },
    videos: { type: "string" },
    https: { type: "boolean" },
    cert: { type: "string" },
    key: { type: "string" },
    "data-dir": { type: "string" },
    "no-qr": { type: "boolean" },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  const host = values.host ?? "127.0.0.1";
  if (host === "" || /\s/.test(host)) throw new UsageError(`--host must be an address or name, got '${host}'`);
  const corePort = parsePort(values["core-port"], 7700, "--core-port");
  const webPort = parsePort(values.port, 7780);
  const videos = values.videos ?? path.join(ROOT, "videos");
  if ((values.cert === undefined) !== (values.key === undefined)) throw new UsageError("--cert and --key go together");
  if (values.cert !== undefined && !values.https) throw new UsageError("--cert and --key go with --https");
  const wildcard = host === "0.0.0.0" || host === "::";

  // One certificate for the core's TLS and the bridge's HTTPS, so there is one
  // fingerprint to compare and the bridge can pin the core with it.
  let tls: { cert: string; key: string; fingerprint: string; selfSigned: boolean } | null = null;
  if (values.https) {
    try {
      if (values.cert !== undefined && values.key !== undefined) {
        tls = { cert: values.cert, key: values.key, fingerprint: fingerprintOf(await readFile(values.cert, "utf8")), selfSigned: false };
      } else {
        const names = [...DEFAULT_ALT_NAMES, ...reachableHosts(host, listInterfaces(), hostname()), ...(wildcard ? [] : [host])];
        const made = await loadOrCreateCert(values["data-dir"] ?? defaultDataDir(), { altNames: names });
        if (made.created) process.stdout.write(`  made a self-signed certificate in ${made.certPath}\n`);
        tls = { cert: made.certPath, key: made.keyPath, fingerprint: made.fingerprint256, selfSigned: true };
      }
    } catch (e) {
      process.stderr.write(`sealroom start: cannot use the TLS certificate: ${(e as Error).message}\n`);
      return EXIT.cantCreate;
    }
  }

  const built = await ensureWebBuilt().catch((e: unknown) => {
    process.stderr.write(`sealroom start: building the web app failed: ${buildErrorText(e)}\n`);
    return null;
  });
  if (built === null) return EXIT.failure;

  // Warnings only on this console: `sealroom server` alone logs every event as JSON.
  const coreTls = tls ? ["--tls", "--cert", tls.cert, "--key", tls.key] : [];
  // The core keeps its room log in the same data dir as the certificate.
  const coreData = values["data-dir"] !== undefined ? ["--data-dir", values["data-dir"]] : [];
  const core = run("core", ["server", "--host", host, "--port", String(corePort), "--videos", videos, "--log-level", "warn", ...coreTls, ...coreData]);
  const children: Child[] = [core];
  const stopAll = () => {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill("SIGTERM");
  };
  process.once("SIGINT", stopAll);
  process.once("SIGTERM", stopAll);
  let coreAt: string;
  let url: string;
  try {
    coreAt = await core.ready;
    const corePortNow = coreAt.slice(coreAt.lastIndexOf(":") + 1);
    const dialHost = wildcard ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
    const bridgeTls = tls ? ["--https", "--cert", tls.cert, "--key", tls.key, "--core-pin", tls.fingerprint] : [];
    const bridge = run("bridge", ["bridge", "--host", host, "--port", String(webPort), "--core", `${dialHost}:${corePortNow}`, ...bridgeTls]);
    children.push(bridge);
    url = await bridge.ready;
  } catch (e) {
    process.stderr.write(`sealroom start: ${(e as Error).message}\n`);
    stopAll();
    return EXIT.cantCreate;
  }
  const targets = startTargets({
    bindHost: host,
    webPort: Number(new URL(url).port),
    corePort: Number(coreAt.slice(coreAt.lastIndexOf(":") + 1)),
    https: tls !== null,
    ifaces: listInterfaces(),
    hostname: hostname(),
  });
  process.stdout.write(
    startBanner({
      ...targets,
      local: url,
      https: tls !== null,
      fingerprint: tls?.fingerprint ?? null,
      selfSigned: tls?.selfSigned ?? false,
      qr: tls && targets.shareUrls.length && !values["no-qr"] ? qrLines(targets.shareUrls[0]) : null,
    }),
  );
  const codes = await Promise.all(children.map((c) => new Promise<number | null>((r) => (c.proc.exitCode !== null ? r(c.proc.exitCode) : c.proc.on("exit", (code) => {
    stopAll();
    r(code);
  })))));
  return codes.every((c) => c === 0 || c === null) ? EXIT.ok : EXIT.failure;
}
