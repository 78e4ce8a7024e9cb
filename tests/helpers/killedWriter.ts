// Runs a writer child that prints "ok SEQ MID" for every append it saw
// acknowledged, kills it with SIGKILL once `kills` acks are in, and returns
// those acks (mid -> seq): what a store must still hold after the crash.

import { spawn } from "node:child_process";
import { ROOT } from "./proc";

export async function ackedThenKilled(
  args: readonly string[],
  kills: number,
  timeoutMs: number,
): Promise<{ acked: Map<string, number>; signal: NodeJS.Signals | null }> {
  const child = spawn(process.execPath, ["--import", "tsx", ...args], { cwd: ROOT, stdio: ["ignore", "pipe", "pipe"] });
  const acked = new Map<string, number>();
  let buf = "";
  let err = "";
  child.stderr.on("data", (d) => (err += d));
  const exited = new Promise<NodeJS.Signals | null>((r) => child.on("exit", (_c, sig) => r(sig)));
  await new Promise<void>((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`writer too slow: ${acked.size} acks; ${err}`)), timeoutMs);
    child.stdout.on("data", (d: Buffer) => {
      buf += d;
      const lines = buf.split("\n");
      buf = lines.pop() ?? "";
      for (const l of lines) {
        const m = /^ok (\d+) (\S+)$/.exec(l);
        if (m) acked.set(m[2], Number(m[1]));
      }
      if (acked.size >= kills && !child.killed) {
        clearTimeout(t);
        child.kill("SIGKILL");
        resolve();
      }
    });
  });
  return { acked, signal: await exited };
}
