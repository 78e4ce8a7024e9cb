// Starts a real nats-server with JetStream (Debian's `nats-server` package) on a
// free loopback port, in a given or temp store dir: for `sealroom start
// --cluster N` and for the cluster tests. stop, kill -9 and restart keep the
// same port and store dir, so a test can fault the server.

import { spawn, type ChildProcess } from "node:child_process";
import { accessSync, constants, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { createServer, connect } from "node:net";
import { tmpdir } from "node:os";
import { delimiter, join } from "node:path";

/** Where nats-server is looked for when NATS_SERVER is not set: PATH, then Debian's place (/usr/sbin is not on every PATH). */
const FALLBACK_DIRS = ["/usr/sbin", "/usr/local/sbin", "/usr/local/bin", "/usr/bin"];

/** The nats-server binary: $NATS_SERVER, else the first on PATH or in the usual sbin dirs, else null. */
export function findNatsServer(env: NodeJS.ProcessEnv = process.env): string | null {
  if (env.NATS_SERVER) return existsSync(env.NATS_SERVER) ? env.NATS_SERVER : null;
  for (const dir of [...(env.PATH ?? "").split(delimiter).filter(Boolean), ...FALLBACK_DIRS]) {
    const p = join(dir, "nats-server");
    try {
      accessSync(p, constants.X_OK);
      return p;
    } catch {
      // not here
    }
  }
  return null;
}

export const NATS_MISSING =
  "nats-server is not installed: install the nats-server package (Debian/Ubuntu: apt-get install nats-server; 2.9 or later), or set NATS_SERVER to its path";

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
  /** Stops it and removes its dir (only a dir it made itself). */
  cleanup(): Promise<void>;
  log(): string;
  /** The running server's pid (for CPU figures), or 0. */
  pid(): number;
  /** Resolves when the server exits by itself (not by stop/kill9/restart). */
  readonly died: Promise<string>;
}

export interface StartNatsOptions {
  /** JetStream store dir (kept); default a fresh temp dir (removed by cleanup). */
  dir?: string;
  /** Default: a free loopback port. */
  port?: number;
  /** Default: resolved by findNatsServer(). */
  bin?: string;
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

/** Starts nats-server -js on loopback; throws NATS_MISSING when it is not installed. */
export async function startNats(opts: StartNatsOptions = {}): Promise<NatsServer> {
  const bin = opts.bin ?? findNatsServer();
  if (!bin) throw new Error(NATS_MISSING);
  const port = opts.port ?? (await freePort());
  const ownDir = opts.dir === undefined;
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "sealroom-nats-"));
  if (!ownDir) mkdirSync(dir, { recursive: true });
  let child: ChildProcess | null = null;
  let exited: Promise<void> = Promise.resolve();
  let out = "";
  let halting = false;
  let onDied: (why: string) => void = () => {};
  const died = new Promise<string>((r) => (onDied = r));
  const launch = async () => {
    const c = spawn(bin, ["-js", "-sd", dir, "-a", "127.0.0.1", "-p", String(port)], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = c;
    c.stdout!.on("data", (d) => (out += d));
    c.stderr!.on("data", (d) => (out += d));
    exited = new Promise((r) =>
      c.once("exit", (code, sig) => {
        if (!halting) onDied(`nats-server exited (${sig ?? code})`);
        r();
      }),
    );
    const deadline = Date.now() + 15_000;
    // the port is taken once the server listens; JetStream is up when the log says so
    while (Date.now() < deadline) {
      if (c.exitCode !== null) throw new Error(`nats-server exited: ${out.trim().split("\n").slice(-3).join(" | ")}`);
      if (/Server is ready/.test(out.slice(out.lastIndexOf("Starting nats-server"))) && (await accepts(port))) return;
      await new Promise((r) => setTimeout(r, 50));
    }
    throw new Error(`nats-server did not start in 15 s: ${out}`);
  };
  const halt = async (sig: NodeJS.Signals) => {
    const c = child as ChildProcess | null;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    halting = true;
    c.kill(sig);
    await exited;
    halting = false;
    child = null;
  };
  await launch();
  return {
    url: `nats://127.0.0.1:${port}`,
    port,
    dir,
    died,
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
      if (ownDir) rmSync(dir, { recursive: true, force: true });
    },
    log: () => out,
    pid: () => (child as ChildProcess | null)?.pid ?? 0,
  };
}
