// The real client binary in a v2 room: --new-link prints a room link, /invite
// prints it again, --link joins from it, --room with --secret too; a wrong
// secret or none cannot join, with a one-line reason and the README's exit code.

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateRoomSecret } from "../../protocol/e2e/roomSecret";
import { startCore } from "../helpers/core";

type Ev = { event: string; [k: string]: unknown };

const BIN = path.resolve(__dirname, "../../bin/sealroom");

class ClientProc {
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

const procs: ClientProc[] = [];
let home: string;

function client(args: string[], env: Record<string, string> = {}): ClientProc {
  const proc = spawn(process.execPath, [BIN, "client", "--json", ...args], {
    env: { ...process.env, XDG_CONFIG_HOME: path.join(home, "config"), ...env },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const c = new ClientProc(proc);
  procs.push(c);
  return c;
}

let core: Awaited<ReturnType<typeof startCore>>;
let coreAddr: string;

beforeAll(async () => {
  home = mkdtempSync(path.join(os.tmpdir(), "sealroom-client-"));
  core = await startCore();
  coreAddr = `127.0.0.1:${core.port}`;
});

afterEach(async () => {
  for (const c of procs.splice(0)) {
    if (c.proc.exitCode === null && c.proc.signalCode === null) c.proc.kill("SIGKILL");
    await c.exited;
  }
});

afterAll(async () => {
  await core?.stop();
  await fs.rm(home, { recursive: true, force: true });
});

describe("sealroom client in a v2 room", { timeout: 90_000 }, () => {
  it("makes a link, joins from it, chats; a wrong or missing secret cannot join", async () => {
    const alice = client(["--name", "alice", "--new-link", "--web", "https://chat.example:7780", "--core", coreAddr]);
    const made = await alice.ev("room");
    const link = made.link as string;
    const room = made.room as string;
    expect(link).toMatch(/^https:\/\/chat\.example:7780\/r\/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{22}$/);
    expect(link).toContain(`/r/${room}#`);
    await alice.ev("welcome");
    alice.send("/invite");
    expect(await alice.ev("invite")).toMatchObject({ room, link });

    const bob = client(["--name", "bob", "--link", link, "--core", coreAddr]);
    await bob.ev("welcome");
    // `--secret=S`: a base64url secret may start with "-".
    const secret = link.split("#")[1];
    const carol = client(["--name", "carol", "--room", room, `--secret=${secret}`, "--core", coreAddr]);
    await carol.ev("welcome");
    await alice.ev("joined", { name: "carol" });
    alice.send("hello v2");
    expect(await bob.ev("message", { text: "hello v2" })).toMatchObject({ name: "alice", verified: true });
    expect(await carol.ev("message", { text: "hello v2" })).toMatchObject({ name: "alice", verified: true });
    bob.send("/who");
    const who = await bob.ev("who");
    expect(who.members).toHaveLength(3);
    for (const m of who.members as Array<{ admitted: boolean }>) expect(m.admitted).toBe(true);

    const wrong = client(["--name", "mallory", "--room", room, `--secret=${generateRoomSecret()}`, "--core", coreAddr]);
    expect((await wrong.exited).code).toBe(2);
    expect(wrong.stderr.trim().split("\n")).toHaveLength(1);
    expect(wrong.stderr).toMatch(/not the secret of this room/);

    const none = client(["--name", "eve", "--room", room, "--core", coreAddr]);
    expect((await none.exited).code).toBe(1);
    expect(none.stderr + JSON.stringify(none.events)).toMatch(/version/);
    expect(
      alice
        .all("joined")
        .map((e) => e.name)
        .sort(),
    ).toEqual(["bob", "carol"]);
  });
});
