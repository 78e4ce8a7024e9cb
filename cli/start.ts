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
import { demoCoreArgs, parseClusterCount, startDemoNats } from "./startCluster";
import { findNatsServer, NATS_MISSING, type NatsServer } from "../common/nats";

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
  --cluster N       a local demo cluster: nats-server with JetStream (the nats-server package; its
                    store in --data-dir/nats), N cores on consecutive ports from --core-port joined
                    to it as core1..coreN, and the bridge relaying to all of them
`;

interface Child {
  name: string;
  proc: ChildProcess;
  /** The HOST:PORT (or URL) it announced. */
  ready: Promise<string>;
}

function run(name: string, args: string[]): Child {
  const proc = spawn(process.execPath, [...SERVER_NODE_FLAGS, path.join(ROOT, "bin", "sealroom"), ...args], {
    stdio: ["ignore", "pipe", "inherit"],
  });
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
    cluster: { type: "string" },
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
  const clusterSize = parseClusterCount(values.cluster);
  if (clusterSize !== null && findNatsServer() === null) {
    // before building anything: the one thing this machine lacks is named at once
    process.stderr.write(`sealroom start: ${NATS_MISSING}\n`);
    return EXIT.unavailable;
  }

  // One certificate for the core's TLS and the bridge's HTTPS, so there is one
  // fingerprint to compare and the bridge can pin the core with it.
  let tls: { cert: string; key: string; fingerprint: string; selfSigned: boolean } | null = null;
  if (values.https) {
    try {
      if (values.cert !== undefined && values.key !== undefined) {
        tls = {
          cert: values.cert,
          key: values.key,
          fingerprint: fingerprintOf(await readFile(values.cert, "utf8")),
          selfSigned: false,
        };
      } else {
        const names = [
          ...DEFAULT_ALT_NAMES,
          ...reachableHosts(host, listInterfaces(), hostname()),
          ...(wildcard ? [] : [host]),
        ];
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
  let nats: NatsServer | null = null;
  if (clusterSize !== null) {
    try {
      nats = await startDemoNats(values["data-dir"] ?? defaultDataDir());
    } catch (e) {
      process.stderr.write(`sealroom start: ${(e as Error).message}\n`);
      return EXIT.unavailable;
    }
    process.stdout.write(`  nats-server with JetStream on ${nats.url} (store in ${nats.dir})\n`);
  }
  // The core keeps its room log in the same data dir as the certificate (a cluster keeps it on JetStream).
  const coreData = values["data-dir"] !== undefined && !nats ? ["--data-dir", values["data-dir"]] : [];
  const coreArgs = (i: number) => [
    "server",
    "--host",
    host,
    ...(nats ? demoCoreArgs(i, corePort, nats.url) : ["--port", String(corePort)]),
    "--videos",
    videos,
    "--log-level",
    "warn",
    ...coreTls,
    ...coreData,
  ];
  const cores = Array.from({ length: clusterSize ?? 1 }, (_, i) =>
    run(clusterSize === null ? "core" : `core${i + 1}`, coreArgs(i)),
  );
  const children: Child[] = [...cores];
  const exited = (c: Child) =>
    c.proc.exitCode !== null || c.proc.signalCode !== null
      ? Promise.resolve()
      : new Promise<void>((r) => c.proc.once("exit", () => r()));
  /** Stops every child; nats-server last, so the cores say goodbye (presence) through it first. */
  const stopAll = async () => {
    for (const c of children) if (c.proc.exitCode === null) c.proc.kill("SIGTERM");
    await Promise.all(children.map(exited));
    await nats?.stop();
  };
  process.once("SIGINT", () => void stopAll());
  process.once("SIGTERM", () => void stopAll());
  let coreAt: string;
  let coresPorts: () => string[] = () => [];
  let url: string;
  try {
    const coresAt = await Promise.all(cores.map((c) => c.ready));
    coreAt = coresAt[0];
    coresPorts = () => coresAt.map((a) => a.slice(a.lastIndexOf(":") + 1));
    const dialHost = wildcard ? "127.0.0.1" : host.includes(":") ? `[${host}]` : host;
    const bridgeTls = tls ? ["--https", "--cert", tls.cert, "--key", tls.key, "--core-pin", tls.fingerprint] : [];
    const coreList = coresAt.map((a) => `${dialHost}:${a.slice(a.lastIndexOf(":") + 1)}`).join(",");
    const bridge = run("bridge", [
      "bridge",
      "--host",
      host,
      "--port",
      String(webPort),
      "--core",
      coreList,
      ...bridgeTls,
    ]);
    children.push(bridge);
    url = await bridge.ready;
  } catch (e) {
    process.stderr.write(`sealroom start: ${(e as Error).message}\n`);
    await stopAll();
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
  // With a cluster the terminal client gets every core too, and fails over among them.
  const coreHost = targets.core.slice(0, targets.core.lastIndexOf(":"));
  const terminalCores =
    clusterSize === null
      ? targets.core
      : coresPorts()
          .map((p) => `${coreHost}:${p}`)
          .join(",");
  process.stdout.write(
    startBanner({
      ...targets,
      core: terminalCores,
      local: url,
      https: tls !== null,
      fingerprint: tls?.fingerprint ?? null,
      selfSigned: tls?.selfSigned ?? false,
      qr: tls && targets.shareUrls.length && !values["no-qr"] ? qrLines(targets.shareUrls[0]) : null,
    }),
  );
  // Alone, either child ending ends the run. In a cluster a core may die (that is what failover is for):
  // the run ends when the bridge, nats-server or the last core does.
  let failed = false;
  await new Promise<void>((done) => {
    let coresLeft = cores.length;
    for (const c of children) {
      void exited(c).then(() => {
        if (c.proc.exitCode !== 0 && c.proc.exitCode !== null) failed = true;
        const isCore = cores.includes(c);
        if (isCore && clusterSize !== null && --coresLeft > 0) {
          if (c.proc.exitCode !== 0)
            process.stderr.write(
              `sealroom start: ${c.name} exited (${c.proc.signalCode ?? c.proc.exitCode}); the bridge fails over to the other cores\n`,
            );
          return;
        }
        done();
      });
    }
    void nats?.died.then((why) => {
      process.stderr.write(`sealroom start: ${why}\n`);
      failed = true;
      done();
    });
  });
  await stopAll();
  return failed ? EXIT.failure : EXIT.ok;
}
