// The real client binary in a v2 room: --new-link prints a room link, /invite
// prints it again, --link joins from it, --room with --secret too; a wrong
// secret or none cannot join, with a one-line reason and the README's exit code.

import { spawn } from "node:child_process";
import { mkdtempSync, promises as fs } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { generateRoomSecret } from "../../protocol/e2e/roomSecret";
import { BIN, ClientProc } from "../helpers/clientProc";
import { startCore } from "../helpers/core";

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
