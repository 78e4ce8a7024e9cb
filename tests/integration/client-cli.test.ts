// The real client binary (bin/sealroom client --json, stdin piped) against the
// real core on an ephemeral port: what a script or bot driving it sees.

import { spawn } from "node:child_process";
import { mkdtempSync, promises as fs } from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
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

async function joined(
  name: string,
  room: string,
  extra: string[] = [],
): Promise<{ c: ClientProc; id: string; safety: string }> {
  const c = client(["--name", name, "--room", room, "--core", coreAddr, ...extra]);
  const w = await c.ev("welcome");
  const self = (w.members as { id: string; safety: string; self: boolean }[]).find((m) => m.self)!;
  return { c, id: w.id as string, safety: self.safety };
}

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

describe("sealroom client against the real core", { timeout: 90_000 }, () => {
  it("two clients see each other join with safety codes and chat both ways; another room sees nothing", async () => {
    const dave = await joined("dave", "elsewhere");
    const alice = await joined("alice", "room1");
    const bob = await joined("bob", "room1");
    const seen = await alice.c.ev("joined", { name: "bob" });
    expect(seen).toMatchObject({ id: bob.id, safety: bob.safety, verified: true, agent: "sealroom-cli/0.1.0" });
    expect(bob.safety).toMatch(/^\d{4} \d{4} \d{4}$/);
    const bobWelcome = await bob.c.ev("welcome");
    expect(bobWelcome.members).toContainEqual(
      expect.objectContaining({ name: "alice", id: alice.id, safety: alice.safety, verified: true }),
    );

    alice.c.send("hello bob");
    const atBob = await bob.c.ev("message", { text: "hello bob" });
    expect(atBob).toMatchObject({ from: alice.id, name: "alice", verified: true, direct: false });
    bob.c.send("hi alice, with ünïcode ✓");
    expect(await alice.c.ev("message", { text: "hi alice, with ünïcode ✓" })).toMatchObject({
      from: bob.id,
      verified: true,
    });
    await alice.c.ev("ack");

    dave.c.send("/who");
    const who = await dave.c.ev("who");
    expect((who.members as unknown[]).length).toBe(1);
    expect(dave.c.all("joined")).toHaveLength(0);
    expect(dave.c.all("message")).toHaveLength(0);
  });

  it("/msg goes only to the named member, flagged direct; /who lists members with safety codes", async () => {
    const alice = await joined("alice", "room2");
    const bob = await joined("Bob Smith", "room2");
    const carol = await joined("carol", "room2");
    await alice.c.ev("joined", { name: "carol" });
    alice.c.send("/msg bob smith just for you");
    alice.c.send("for everyone");
    expect(await bob.c.ev("message", { text: "just for you" })).toMatchObject({ direct: true, to: [bob.id] });
    expect(await bob.c.ev("message", { text: "for everyone" })).toMatchObject({ direct: false });
    // Messages from one sender arrive in order: once carol has the second, she would have had the first.
    await carol.c.ev("message", { text: "for everyone" });
    expect(carol.c.all("message")).toHaveLength(1);

    alice.c.send(`/msg ${carol.id.slice(0, 6)} by id prefix`);
    expect(await carol.c.ev("message", { text: "by id prefix" })).toMatchObject({ direct: true });

    alice.c.send("/msg nobody hello");
    expect((await alice.c.ev("commandError")).message).toMatch(/no member named nobody/);

    alice.c.send("/who");
    const who = await alice.c.ev("who");
    const members = who.members as { name: string; safety: string; self: boolean; agent: string }[];
    expect(members.map((m) => m.name).sort()).toEqual(["Bob Smith", "alice", "carol"].sort());
    expect(members.find((m) => m.name === "carol")?.safety).toBe(carol.safety);
    expect(members.find((m) => m.self)?.name).toBe("alice");

    alice.c.send("/whois carol");
    const whois = await alice.c.ev("whois");
    expect(whois).toMatchObject({ id: carol.id, safety: carol.safety });
    expect(whois.fingerprint).toMatch(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
  });

  it("others see left with reason quit after /quit (exit 0) and away after SIGKILL (cap durable)", async () => {
    const alice = await joined("alice", "room3");
    const bob = await joined("bob", "room3");
    const carol = await joined("carol", "room3");
    await alice.c.ev("joined", { name: "carol" });
    bob.c.send("/quit");
    expect(await alice.c.ev("left", { id: bob.id })).toMatchObject({ reason: "quit", name: "bob" });
    expect((await bob.c.exited).code).toBe(0);
    carol.c.proc.kill("SIGKILL");
    // Killed is not gone: carol stays a member, away (the client declares cap durable).
    expect(await alice.c.ev("presence", { id: carol.id })).toMatchObject({ state: "away" });
    expect(alice.c.all("left", { id: carol.id })).toHaveLength(0);
  });

  it("at end of input delivers what was typed, then exits 0", async () => {
    const bob = await joined("bob", "room4");
    const alice = client(["--name", "alice", "--room", "room4", "--core", coreAddr]);
    alice.send("one");
    alice.send("two");
    alice.end();
    expect((await alice.exited).code).toBe(0);
    await bob.c.ev("message", { text: "two" });
    expect(bob.c.all("message").map((m) => m.text)).toEqual(["one", "two"]);
    expect(alice.all("ack")).toHaveLength(2);
    expect((await bob.c.ev("left", { name: "alice" })).reason).toBe("quit");
  });

  it("keeps the identity in a 0600 file so the id is stable across runs, and refuses a file others can read", async () => {
    const file = path.join(home, "ids", "erin.json");
    const first = client(["--name", "erin", "--room", "room5", "--core", coreAddr, "--identity", file]);
    const id1 = (await first.ev("welcome")).id;
    first.end();
    expect((await first.exited).code).toBe(0);
    expect((await fs.stat(file)).mode & 0o777).toBe(0o600);
    const second = client(["--name", "erin", "--room", "other", "--core", coreAddr, "--identity", file]);
    expect((await second.ev("welcome")).id).toBe(id1);
    second.end();
    await second.exited;

    // The default location follows XDG_CONFIG_HOME.
    const third = client(["--name", "Frank", "--room", "room5", "--core", coreAddr]);
    await third.ev("welcome");
    third.end();
    await third.exited;
    const dflt = path.join(home, "config", "sealroom", "identity-frank.json");
    expect((await fs.stat(dflt)).mode & 0o777).toBe(0o600);

    await fs.chmod(file, 0o644);
    const refused = client(["--name", "erin", "--room", "room5", "--core", coreAddr, "--identity", file]);
    expect((await refused.exited).code).toBe(73);
    expect(refused.stderr).toMatch(/accessible by other users.*chmod 600/);
  });

  it("exits 69 when the core is unreachable, 2 on bad flags, 1 with the code on a fatal error", async () => {
    const port = await freePort();
    const started = Date.now();
    const down = client(["--name", "alice", "--room", "r", "--core", `127.0.0.1:${port}`]);
    expect((await down.exited).code).toBe(69);
    expect(Date.now() - started).toBeLessThan(15_000);
    expect(down.stderr).toMatch(/core unreachable at 127\.0\.0\.1:\d+ after 3 attempts/);

    const usage = client(["--room", "r"]);
    expect((await usage.exited).code).toBe(2);
    expect(usage.stderr).toMatch(/--name is required/);
    const badRoom = client(["--name", "x", "--room", "no/slashes"]);
    expect((await badRoom.exited).code).toBe(2);

    const alice = await joined("alice", "room6");
    const twin = client([
      "--name",
      "ALICE",
      "--room",
      "room6",
      "--core",
      coreAddr,
      "--identity",
      path.join(home, "twin.json"),
    ]);
    expect((await twin.exited).code).toBe(1);
    expect(twin.stderr.trim().split("\n")).toHaveLength(1);
    expect(twin.stderr).toMatch(/name_taken/);
    expect(alice.c.proc.exitCode).toBeNull();
  });

  it("warns when a name comes back with a different key, also in a later run", async () => {
    const bob1 = client([
      "--name",
      "bob",
      "--room",
      "room7",
      "--core",
      coreAddr,
      "--identity",
      path.join(home, "bob-1.json"),
    ]);
    const oldId = (await bob1.ev("welcome")).id;
    const alice = await joined("alice", "room7");
    alice.c.send("/quit");
    expect((await alice.c.exited).code).toBe(0);
    bob1.send("/quit");
    await bob1.exited;

    const bob2 = client([
      "--name",
      "Bob",
      "--room",
      "room7",
      "--core",
      coreAddr,
      "--identity",
      path.join(home, "bob-2.json"),
    ]);
    const newId = (await bob2.ev("welcome")).id;
    expect(newId).not.toBe(oldId);
    const again = await joined("alice", "room7");
    expect(await again.c.ev("keyChanged")).toMatchObject({ name: "Bob", oldId, newId });
  });

  it("a second session with the same key replaces the first, which exits without fighting back", async () => {
    const file = path.join(home, "hank.json");
    const watcher = await joined("watcher", "room8");
    const first = client(["--name", "hank", "--room", "room8", "--core", coreAddr, "--identity", file]);
    const id = (await first.ev("welcome")).id;
    await watcher.c.ev("joined", { id });
    const second = client(["--name", "hank", "--room", "room8", "--core", coreAddr, "--identity", file]);
    await second.ev("welcome");
    expect((await first.exited).code).toBe(1);
    expect(first.stderr).toMatch(/replaced/);
    second.send("still here");
    await watcher.c.ev("message", { text: "still here" });
    await new Promise((r) => setTimeout(r, 1_000));
    expect(second.proc.exitCode).toBeNull();
    expect(second.all("error")).toHaveLength(0);
    expect(watcher.c.all("left", { id })).toHaveLength(0);
  });

  it("prints a random unguessable room id when none is given", async () => {
    const c = client(["--name", "gina", "--core", coreAddr]);
    const room = await c.ev("room");
    expect(room.room).toMatch(/^[A-Za-z0-9]{16}$/);
    expect((await c.ev("welcome")).room).toBe(room.room);
  });
});

describe("reconnect", { timeout: 90_000 }, () => {
  it("after the core restarts on the same port, clients come back and an unacknowledged message is delivered exactly once", async () => {
    const own = await startCore();
    const addr = `127.0.0.1:${own.port}`;
    const mk = (name: string) => client(["--name", name, "--room", "again", "--core", addr]);
    const alice = mk("alice");
    await alice.ev("welcome");
    const bob = mk("bob");
    await bob.ev("welcome");
    await alice.ev("joined", { name: "bob" });
    alice.send("before");
    await bob.ev("message", { text: "before" });

    await own.stop();
    await alice.ev("disconnected");
    await bob.ev("disconnected");
    alice.send("while the core was down");
    await alice.ev("sent", { text: "while the core was down" });
    expect(alice.all("ack")).toHaveLength(1);

    const back = await startCore({ port: own.port });
    try {
      await alice.next((e) => e.event === "welcome" && e.reconnected === true, "alice reconnected", 20_000);
      await bob.next((e) => e.event === "welcome" && e.reconnected === true, "bob reconnected", 20_000);
      const got = await bob.ev("message", { text: "while the core was down" }, undefined, 15_000);
      expect(got).toMatchObject({ verified: true, name: "alice" });
      await alice.next((e) => e.event === "ack" && e.mid === got.mid, "ack of the resent message");
      alice.send("after");
      await bob.ev("message", { text: "after" });
      expect(bob.all("message", { text: "while the core was down" })).toHaveLength(1);
      expect(bob.all("message").map((m) => m.text)).toEqual(["before", "while the core was down", "after"]);
    } finally {
      for (const c of [alice, bob]) c.proc.kill("SIGKILL");
      await back.stop();
    }
  });
});

describe("--core A,B: failover", { timeout: 60_000 }, () => {
  it("connects past a core that is not listening to the next in the list", async () => {
    const dead = await freePort();
    const c = client(["--name", "ivy", "--room", "fo1", "--core", `127.0.0.1:${dead},${coreAddr}`]);
    const w = await c.ev("welcome");
    expect(w.room).toBe("fo1");
    expect(c.all("disconnected")).toHaveLength(1);
  });

  it("when its core stops, a client is back on the next core within 5 s and what it sent meanwhile arrives once", async () => {
    const a = await startCore();
    const b = await startCore();
    try {
      const list = `127.0.0.1:${a.port},127.0.0.1:${b.port}`;
      const alice = client(["--name", "alice", "--room", "fo2", "--core", list]);
      await alice.ev("welcome");
      const bob = client(["--name", "bob", "--room", "fo2", "--core", list]);
      await bob.ev("welcome");
      await alice.ev("joined", { name: "bob" });
      expect(a.connections).toBe(2);
      const t0 = Date.now();
      await a.stop();
      await alice.ev("disconnected");
      alice.send("during the failover");
      await alice.next((e) => e.event === "welcome" && e.reconnected === true, "alice back", 5_000);
      await bob.next((e) => e.event === "welcome" && e.reconnected === true, "bob back", 5_000);
      const took = Date.now() - t0;
      expect(took).toBeLessThan(5_000);
      expect(b.connections).toBe(2);
      await bob.ev("message", { text: "during the failover" }, undefined, 10_000);
      alice.send("after");
      await bob.ev("message", { text: "after" });
      expect(bob.all("message", { text: "during the failover" })).toHaveLength(1);
    } finally {
      await a.stop();
      await b.stop();
    }
  });

  it("exits 69 naming every core when none answers, after trying each", async () => {
    const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
    const down = client(["--name", "alice", "--room", "r", "--core", ports.map((p) => `127.0.0.1:${p}`).join(",")]);
    const { code } = await down.exited;
    expect(code).toBe(69);
    expect(down.stderr).toContain(
      `core unreachable at ${ports.map((p) => `127.0.0.1:${p}`).join(",")} after 4 attempts`,
    );
  });
});
