// A real pseudo-terminal for terminal tests and benches: a private tmux
// server (its own socket, no config) running one command in a detached
// window of a given size, with keys sent and the screen read back (with
// colours) through tmux itself.

import { execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { randomBytes } from "node:crypto";

export const TMUX = ["/usr/bin/tmux", "/usr/local/bin/tmux", "/bin/tmux"].find((p) => existsSync(p)) ?? null;

export class Tmux {
  readonly socket = `sealroom-test-${process.pid}-${randomBytes(4).toString("hex")}`;
  private started = false;

  constructor(private readonly bin: string = TMUX ?? "tmux") {}

  private tmux(args: string[]): string {
    return execFileSync(this.bin, ["-L", this.socket, "-f", "/dev/null", ...args], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "pipe"],
    });
  }

  /** Runs `command` (a shell line) in a detached `cols` x `rows` window; `env` is set for it. */
  start(command: string, cols: number, rows: number, env: Record<string, string> = {}): void {
    const envArgs = Object.entries(env).flatMap(([k, v]) => ["-e", `${k}=${v}`]);
    this.tmux(["new-session", "-d", "-s", "main", "-x", String(cols), "-y", String(rows), ...envArgs, command]);
    this.started = true;
    // Keep the pane after the command exits, so a test can still read what it printed.
    this.tmux(["set-option", "-t", "main", "remain-on-exit", "on"]);
  }

  /** The screen as text; `colours` keeps the SGR escapes (true colour as 38;2;R;G;B). */
  capture(colours = false): string {
    return this.tmux(["capture-pane", "-p", ...(colours ? ["-e"] : []), "-t", "main"]);
  }

  /** tmux key names ("q", "Enter", "Escape") or literal text with `literal`. */
  keys(keys: string[], literal = false): void {
    this.tmux(["send-keys", "-t", "main", ...(literal ? ["-l"] : []), ...keys]);
  }

  /** Types a line and presses Enter. */
  type(line: string): void {
    this.keys([line], true);
    this.keys(["Enter"]);
  }

  resize(cols: number, rows: number): void {
    this.tmux(["resize-window", "-t", "main", "-x", String(cols), "-y", String(rows)]);
  }

  /** The pid of the pane's command (start it with `exec` so that is the program itself). */
  panePid(): number {
    return Number(this.tmux(["display-message", "-p", "-t", "main", "#{pane_pid}"]).trim());
  }

  /** The tmux server's pid (the terminal's own CPU cost). */
  serverPid(): number {
    return Number(this.tmux(["display-message", "-p", "-t", "main", "#{pid}"]).trim());
  }

  /** A tmux format of the pane, e.g. "#{alternate_on}" (1 while the program is on the alternate screen). */
  format(fmt: string): string {
    return this.tmux(["display-message", "-p", "-t", "main", fmt]).trim();
  }

  paneDead(): boolean {
    return this.tmux(["display-message", "-p", "-t", "main", "#{pane_dead}"]).trim() === "1";
  }

  kill(): void {
    if (!this.started) return;
    this.started = false;
    try {
      this.tmux(["kill-server"]);
    } catch {
      // already gone
    }
  }
}

/** Polls `check` every 50 ms until it returns a value (not undefined) or `timeoutMs` passes. */
export async function until<T>(check: () => T | undefined, what: string, timeoutMs = 15_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = check();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ""}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
