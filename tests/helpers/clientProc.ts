// The real client binary as a child process: its --json events as they
// arrive, its stderr, and a promise of its exit (shared by the client tests).

import type { ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";

export type Ev = { event: string; [k: string]: unknown };

export const BIN = path.resolve(__dirname, "../../bin/sealroom");

export class ClientProc {
  readonly events: Ev[] = [];
  stderr = "";
  stdoutRest = "";
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  private waiters: (() => void)[] = [];

  constructor(readonly proc: ChildProcessWithoutNullStreams) {
    proc.stdout.setEncoding("utf8");
    proc.stdout.on("data", (d: string) => {
      const parts = (this.stdoutRest + d).split("\n");
      this.stdoutRest = parts.pop()!;
      for (const p of parts) if (p.trim()) this.events.push(JSON.parse(p) as Ev);
      this.wake();
    });
    proc.stderr.setEncoding("utf8");
    proc.stderr.on("data", (d: string) => (this.stderr += d));
    this.exited = new Promise((r) => proc.on("exit", (code, signal) => (this.wake(), r({ code, signal }))));
  }

  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  send(line: string): void {
    this.proc.stdin.write(line + "\n");
  }

  end(): void {
    this.proc.stdin.end();
  }

  async next(pred: (e: Ev) => boolean, what: string, timeoutMs = 25_000, from = 0): Promise<Ev> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const hit = this.events.slice(from).find(pred);
      if (hit) return hit;
      if (this.proc.exitCode !== null || this.proc.signalCode !== null) {
        throw new Error(`client exited before ${what}; stderr: ${this.stderr}; events: ${JSON.stringify(this.events)}`);
      }
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `timed out waiting for ${what}; events: ${JSON.stringify(this.events)}; stderr: ${this.stderr}`,
        );
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => (clearTimeout(t), r()));
      });
    }
  }

  ev(event: string, extra: Record<string, unknown> = {}, what?: string, timeoutMs?: number): Promise<Ev> {
    return this.next(
      (e) => e.event === event && Object.entries(extra).every(([k, v]) => e[k] === v),
      what ?? `${event} ${JSON.stringify(extra)}`,
      timeoutMs,
    );
  }

  all(event: string, extra: Record<string, unknown> = {}): Ev[] {
    return this.events.filter((e) => e.event === event && Object.entries(extra).every(([k, v]) => e[k] === v));
  }
}
