// Runs ffmpeg or ffprobe once with a timeout and a cap on what it may write to
// stdout: user files decide how much a child prints, so the core must not.

import { spawn } from "node:child_process";

export type ToolRun =
  { ok: true; stdout: Buffer } | { ok: false; why: "timeout" | "too_large" | "failed" | "spawn"; detail: string };

export interface ToolRunOptions {
  timeoutMs: number;
  maxStdoutBytes: number;
}

const STDERR_KEEP = 2_000;

export function runTool(bin: string, args: string[], o: ToolRunOptions): Promise<ToolRun> {
  return new Promise((resolve) => {
    let child;
    try {
      child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
    } catch (err) {
      resolve({ ok: false, why: "spawn", detail: (err as Error).message });
      return;
    }
    const chunks: Buffer[] = [];
    let bytes = 0;
    let stderr = "";
    let verdict: ToolRun | null = null;
    const stop = (v: ToolRun) => {
      verdict ??= v;
      child.kill("SIGKILL");
    };
    const timer = setTimeout(
      () => stop({ ok: false, why: "timeout", detail: `no result within ${o.timeoutMs} ms` }),
      o.timeoutMs,
    );
    child.stdout.on("data", (c: Buffer) => {
      bytes += c.length;
      if (bytes > o.maxStdoutBytes)
        stop({ ok: false, why: "too_large", detail: `output over ${o.maxStdoutBytes} bytes` });
      else chunks.push(c);
    });
    child.stderr.on("data", (c: Buffer) => {
      if (stderr.length < STDERR_KEEP) stderr += c.toString("utf8");
    });
    child.on("error", (err) => {
      clearTimeout(timer);
      resolve(verdict ?? { ok: false, why: "spawn", detail: err.message });
    });
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      if (verdict) resolve(verdict);
      else if (code === 0) resolve({ ok: true, stdout: Buffer.concat(chunks) });
      else
        resolve({
          ok: false,
          why: "failed",
          detail: (stderr.trim() || `exit ${code ?? signal}`).split("\n").slice(-3).join(" | ").slice(0, 500),
        });
    });
  });
}
