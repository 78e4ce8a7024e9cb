// The systems under test run as separate processes, so their CPU and memory
// are read from /proc apart from the load generator's. CPU is counted over
// the whole process tree (the core's ffmpeg children, websockify's forked
// per-connection workers), RSS for the tree too.
//
// Just over 300 lines: one launcher per process kind (core, cluster core,
// bridge, websockify, nats-server) with their CPU and memory readers.

import { spawn, execFileSync, type ChildProcess } from "node:child_process";
import { readdirSync, readFileSync } from "node:fs";
import { connect, createServer } from "node:net";
import { fileURLToPath } from "node:url";
import { SERVER_NODE_FLAGS } from "../../common/nodeFlags";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const BIN = `${ROOT}bin/sealroom`;

let clkTck = 100;
try {
  clkTck = Number(execFileSync("getconf", ["CLK_TCK"]).toString().trim()) || 100;
} catch {
  // 100 on every Linux we run on
}

interface StatLine {
  ppid: number;
  /** utime + stime + cutime + cstime, seconds */
  cpu: number;
}

function readStat(pid: number): StatLine | null {
  try {
    const s = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = s.slice(s.lastIndexOf(")") + 2).split(" ");
    // f[0] is field 3 (state): utime is field 14 -> f[11]
    const ticks = Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14]);
    return { ppid: Number(f[1]), cpu: ticks / clkTck };
  } catch {
    return null;
  }
}

function rssKiB(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, "utf8"));
    return m ? Number(m[1]) : 0;
  } catch {
    return 0;
  }
}

/** pid and every live descendant. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    const st = readStat(Number(name));
    if (!st) continue;
    const list = children.get(st.ppid);
    if (list) list.push(Number(name));
    else children.set(st.ppid, [Number(name)]);
  }
  const out: number[] = [];
  const stack = [root];
  while (stack.length) {
    const p = stack.pop()!;
    out.push(p);
    for (const c of children.get(p) ?? []) stack.push(c);
  }
  return out;
}

/** CPU seconds used so far by the tree (live descendants plus reaped ones). */
export function treeCpu(root: number): number {
  let sum = 0;
  for (const p of processTree(root)) sum += readStat(p)?.cpu ?? 0;
  return sum;
}

/**
 * Seconds the tree's threads spent runnable but waiting for a CPU
 * (/proc/PID/schedstat, 2nd field, summed over threads): how much the
 * machine's other load delayed the process under test.
 */
export function treeRunqWait(root: number): number {
  let ns = 0;
  for (const p of processTree(root)) {
    try {
      for (const tid of readdirSync(`/proc/${p}/task`)) {
        const f = readFileSync(`/proc/${p}/task/${tid}/schedstat`, "utf8").split(" ");
        ns += Number(f[1]);
      }
    } catch {
      // exited meanwhile
    }
  }
  return ns / 1e9;
}

export function treeRssKiB(root: number): number {
  let sum = 0;
  for (const p of processTree(root)) sum += rssKiB(p);
  return sum;
}

export { rssKiB };

/** CPU of this process (the load generator), seconds. */
export function selfCpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export interface Proc {
  name: string;
  child: ChildProcess;
  pid: number;
  stdout(): string;
  stderr(): string;
  cpu(): number;
  rss(): number;
  runqWait(): number;
  /** Peak RSS sampled so far (see sampleRss). */
  stop(): Promise<void>;
}

export function spawnProc(
  name: string,
  cmd: string,
  args: string[],
  ready: RegExp,
  timeoutMs = 30_000,
): Promise<{ proc: Proc; match: RegExpMatchArray }> {
  const child = spawn(cmd, args, {
    stdio: ["ignore", "pipe", "pipe"],
    cwd: ROOT,
    env: { ...process.env, NODE_OPTIONS: "" },
  });
  let out = "";
  let err = "";
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  const proc: Proc = {
    name,
    child,
    pid: child.pid ?? -1,
    stdout: () => out,
    stderr: () => err,
    cpu: () => treeCpu(child.pid!),
    rss: () => treeRssKiB(child.pid!),
    runqWait: () => treeRunqWait(child.pid!),
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const t = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(t);
    },
  };
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      void proc.stop();
      reject(new Error(`${name} not ready in ${timeoutMs} ms; stdout: ${out.slice(-500)} stderr: ${err.slice(-500)}`));
    }, timeoutMs);
    const check = () => {
      const m = (out + err).match(ready);
      if (m) {
        clearTimeout(timer);
        child.stdout!.removeListener("data", check);
        resolve({ proc, match: m });
      }
    };
    child.stdout!.on("data", (d: Buffer) => {
      out = (out + d.toString()).slice(-20_000);
      check();
    });
    child.stderr!.on("data", (d: Buffer) => {
      err = (err + d.toString()).slice(-20_000);
      check();
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (${code}) before ready; stderr: ${err.slice(-800)}`));
    });
  });
}

export interface CoreProc extends Proc {
  host: string;
  port: number;
}

export interface CoreSpawnOptions {
  videos: string;
  cacheDir: string;
  limits?: Record<string, number>;
  cpuProfDir?: string;
  /** Extra node flags for the core, e.g. V8 heap settings to compare. */
  nodeArgs?: string[];
  /** The room log: memory (default, as the benches measured before it), or SQLite in this dir. */
  store?: "memory" | { sqlite: string };
  /** A node of a cluster on this NATS (`--cluster URL --node NAME --cluster-namespace NS`; no --store then). */
  cluster?: { url: string; node: string; namespace: string };
}

export async function startCoreProc(o: CoreSpawnOptions): Promise<CoreProc> {
  // Run as `bin/sealroom server` runs: with the production V8 flags, unless told otherwise.
  const nodeArgs = [
    ...(o.nodeArgs ?? SERVER_NODE_FLAGS),
    ...(o.cpuProfDir ? ["--cpu-prof", "--cpu-prof-dir", o.cpuProfDir] : []),
  ];
  const limits = Object.entries(o.limits ?? {}).flatMap(([k, v]) => ["--limit", `${k}=${v}`]);
  const args = [
    ...nodeArgs,
    BIN,
    "server",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--videos",
    o.videos,
    "--cache-dir",
    o.cacheDir,
    "--log-level",
    "warn",
    ...limits,
  ];
  if (o.cluster)
    args.push("--cluster", o.cluster.url, "--node", o.cluster.node, "--cluster-namespace", o.cluster.namespace);
  else
    args.push(
      ...(o.store && o.store !== "memory"
        ? ["--store", "sqlite", "--data-dir", o.store.sqlite]
        : ["--store", "memory"]),
    );
  const { proc, match } = await spawnProc("core", process.execPath, args, /core listening on ([\d.]+):(\d+)/);
  return Object.assign(proc, { host: match[1], port: Number(match[2]) });
}

export interface RelayProc extends Proc {
  /** ws:// URL clients open. */
  url: string;
}

export async function startBridgeProc(core: { host: string; port: number }, cpuProfDir?: string): Promise<RelayProc> {
  const nodeArgs = [...SERVER_NODE_FLAGS, ...(cpuProfDir ? ["--cpu-prof", "--cpu-prof-dir", cpuProfDir] : [])];
  const args = [
    ...nodeArgs,
    BIN,
    "bridge",
    "--host",
    "127.0.0.1",
    "--port",
    "0",
    "--core",
    `${core.host}:${core.port}`,
    "--max-per-ip",
    "100000",
    "--max-connections",
    "100000",
  ];
  const { proc, match } = await spawnProc(
    "bridge",
    process.execPath,
    args,
    /bridge listening on https?:\/\/[^:]+:(\d+)/,
  );
  return Object.assign(proc, { url: `ws://127.0.0.1:${match[1]}/ws` });
}

/** Installs Debian's websockify if missing; null (with a reason) when it cannot. */
export function ensureWebsockify(): { ok: true; version: string } | { ok: false; reason: string } {
  const version = () => {
    try {
      return execFileSync("dpkg-query", ["-W", "-f=${Version}", "websockify"]).toString().trim();
    } catch {
      return "";
    }
  };
  const has = () => {
    try {
      execFileSync("sh", ["-c", "command -v websockify"], { stdio: "ignore" });
      return true;
    } catch {
      return false;
    }
  };
  if (has()) return { ok: true, version: version() };
  try {
    process.stdout.write("websockify missing: apt-get install -y websockify ...\n");
    execFileSync("apt-get", ["install", "-y", "websockify"], { stdio: "ignore", timeout: 180_000 });
  } catch (e) {
    return { ok: false, reason: `apt-get install -y websockify failed: ${(e as Error).message.split("\n")[0]}` };
  }
  return has() ? { ok: true, version: version() } : { ok: false, reason: "websockify still not on PATH after apt-get" };
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, "127.0.0.1");
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once("error", reject);
    s.listen(0, "127.0.0.1", () => {
      const port = (s.address() as { port: number }).port;
      s.close(() => resolve(port));
    });
  });
}

export async function startWebsockify(core: { host: string; port: number }): Promise<RelayProc> {
  // websockify takes no port 0; a port just freed by the OS is the next best thing.
  const port = await freePort();
  const { proc } = await spawnProc(
    "websockify",
    "websockify",
    [`127.0.0.1:${port}`, `${core.host}:${core.port}`],
    /Listen on|proxying from/i,
  );
  // Its banner can come before the socket is bound: wait until a connect succeeds.
  for (let i = 0; i < 100 && !(await canConnect(port)); i++) await new Promise((r) => setTimeout(r, 50));
  return Object.assign(proc, { url: `ws://127.0.0.1:${port}/` });
}
