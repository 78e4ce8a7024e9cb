// Starts a real nats-server (Debian's /usr/sbin/nats-server) with JetStream on a
// free loopback port in a temp dir, for cluster tests; stop, kill -9 and
// restart keep the same port and store dir, so a test can fault the server.

import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

export const NATS_SERVER = process.env.NATS_SERVER ?? "/usr/sbin/nats-server";

export function natsServerInstalled(): boolean {
  return existsSync(NATS_SERVER);
}

export interface NatsServer {
  url: string;
  port: number;
  dir: string;
  /** Graceful stop (SIGTERM), waits for the exit. */
  stop(): Promise<void>;
  /** kill -9: no flush, no goodbye. */
  kill9(): Promise<void>;
  /** SIGSTOP: the socket stays open, nothing answers (a silent partition). */
  freeze(): void;
  /** SIGCONT after freeze(). */
  thaw(): void;
  /** Starts again on the same port and store dir; resolves once it accepts. */
  restart(): Promise<void>;
  /** Stops it and removes its dir. */
  cleanup(): Promise<void>;
  log(): string;
  /** The running server's pid (for CPU figures), or 0. */
  pid(): number;
}

async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const a = s.address();
      const port = typeof a === "object" && a ? a.port : 0;
      s.close(() => resolve(port));
    });
  });
}

async function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const c = connect(port, "127.0.0.1");
    c.once("connect", () => {
      c.destroy();
      resolve(true);
    });
    c.once("error", () => resolve(false));
  });
}

/** Starts nats-server -js on a free port; throws naming the package when it is not installed. */
export async function startNats(): Promise<NatsServer> {
  if (!natsServerInstalled()) throw new Error(`${NATS_SERVER} not found: apt-get install -y nats-server`);
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), "sealroom-nats-"));
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let out = "";
  const launch = async () => {
    const c = spawn(NATS_SERVER, ["-js", "-sd", dir, "-a", "127.0.0.1", "-p", String(port)], { stdio: ["ignore", "pipe", "pipe"] });
    child = c;
    c.stdout!.on("data", (d) => (out += d));
    c.stderr!.on("data", (d) => (out += d));
    exited = new Promise((r) => c.once("exit", () => r()));
    const deadline = Date.now() + 15_000;
    // the port is taken once the server listens; JetStream is up when the log says so
    while (Date.now() < deadline) {
      if (c.exitCode !== null) throw new Error(`nats-server exited: ${out}`);
      if (/Server is ready/.test(out.slice(out.lastIndexOf("Starting nats-server"))) && (await accepts(port))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`nats-server did not start in 15 s: ${out}`);
  };
  const halt = async (sig: NodeJS.Signals) => {
    const c = child as ChildProcess | null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    c.kill(sig);
    await exited;
    child = null;
  };
  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    stop: () => halt("SIGTERM"),
    freeze: () => void (child as ChildProcess | null)?.kill("SIGSTOP"),
    thaw: () => void (child as ChildProcess | null)?.kill("SIGCONT"),
    kill9: () => halt("SIGKILL"),
    restart: async () => {
      await halt("SIGTERM");
      await launch();
    },
    cleanup: async () => {
      (child as ChildProcess | null)?.kill("SIGCONT");
      await halt("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    },
    log: () => out,
    pid: () => (child as ChildProcess | null)?.pid ?? 0,
  };
}
