// `sealroom start`: builds the web app if needed, then runs the core and the
// bridge as two processes (as in production) and prints where to go.

import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { parseFlags, parsePort } from "../common/args";
import { EXIT } from "../common/exit";
import { SERVER_NODE_FLAGS } from "../common/nodeFlags";
import { ROOT, ensureWebBuilt } from "../bridge/webBuild";

const USAGE = `Usage: sealroom start [--host H] [--core-port 7700] [--port 7780] [--videos DIR]

Starts the core (TCP ${"7700"}) and the bridge (HTTP ${"7780"}) with the default
video library, building the web app first when it is missing or stale.
Stop with Ctrl-C.
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
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return EXIT.ok;
  }
  const host = values.host ?? "127.0.0.1";
  const corePort = parsePort(values["core-port"], 7700, "--core-port");
  const webPort = parsePort(values.port, 7780);
  const videos = values.videos ?? path.join(ROOT, "videos");

  if (await ensureWebBuilt().catch((e: Error) => {
    process.stderr.write(`sealroom start: building the web app failed: ${e.message}\n`);
    return null;
  }) === null) return EXIT.failure;

  // Warnings only on this console: `sealroom server` alone logs every event as JSON.
  const core = run("core", ["server", "--host", host, "--port", String(corePort), "--videos", videos, "--log-level", "warn"]);
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
    const bridge = run("bridge", ["bridge", "--host", host, "--port", String(webPort), "--core", `${host === "0.0.0.0" ? "127.0.0.1" : host}:${corePortNow}`]);
    children.push(bridge);
    url = await bridge.ready;
  } catch (e) {
    process.stderr.write(`sealroom start: ${(e as Error).message}\n`);
    stopAll();
    return EXIT.cantCreate;
  }
  process.stdout.write(
    [
      "",
      `  Sealroom is running.`,
      `  Open      ${url}`,
      `  Terminal  bin/sealroom client --name YOU --core ${coreAt} [--room ROOM]`,
      `  Stop      Ctrl-C`,
      "",
    ].join("\n") + "\n",
  );
  const codes = await Promise.all(children.map((c) => new Promise<number | null>((r) => (c.proc.exitCode !== null ? r(c.proc.exitCode) : c.proc.on("exit", (code) => {
    stopAll();
    r(code);
  })))));
  return codes.every((c) => c === 0 || c === null) ? EXIT.ok : EXIT.failure;
}
