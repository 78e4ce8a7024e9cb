// Spawning the real `bin/sealroom` as a child process, for tests that need a
// separate process (signals, logs, heap snapshots, exit codes).

import { spawn, type ChildProcess, type SpawnOptions } from "node:child_process";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const BIN = `${ROOT}bin/sealroom`;

export interface Proc {
  child: ChildProcess;
  stdout: () => string;
  stderr: () => string;
  /** Resolves with the first stdout match of re. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<RegExpMatchArray>;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

/** opts.bin runs another checkout's launcher (a fresh-clone test) instead of this one's. */
export function runSealroom(args: string[], opts: SpawnOptions & { nodeArgs?: string[]; bin?: string } = {}): Proc {
  // A core defaults to the SQLite room log in ~/.local/share/sealroom, which one
  // core at a time may hold: tests that name no store get the memory one.
  if (
    args[0] === "server" &&
    !args.includes("--store") &&
    !args.includes("--data-dir") &&
    !args.includes("--cluster") &&
    !args.includes("--help")
  )
    args = [...args, "--store", "memory"];
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), opts.bin ?? BIN, ...args], {
    stdio: ["pipe", "pipe", "pipe"],
    ...opts,
  });
  let out = "";
  let err = "";
  const listeners = new Set<() => void>();
  child.stdout!.on("data", (d) => {
    out += d;
    for (const l of listeners) l();
  });
  child.stderr!.on("data", (d) => (err += d));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) =>
    child.on("exit", (code, signal) => r({ code, signal })),
  );
  return {
    child,
    stdout: () => out,
    stderr: () => err,
    exited,
    waitFor(re, timeoutMs = 15_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const m = out.match(re);
          if (m) {
            listeners.delete(check);
            clearTimeout(t);
            resolve(m);
          }
        };
        const t = setTimeout(() => {
          listeners.delete(check);
          reject(new Error(`timed out waiting for ${re}; stdout: ${out}; stderr: ${err}`));
        }, timeoutMs);
        listeners.add(check);
        void exited.then(() => {
          check();
          if (listeners.has(check)) {
            listeners.delete(check);
            clearTimeout(t);
            reject(new Error(`exited before ${re}; stdout: ${out}; stderr: ${err}`));
          }
        });
        check();
      });
    },
  };
}
