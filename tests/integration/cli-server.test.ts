// `bin/sealroom` and `bin/sealroom server` as processes: help, usage errors,
// exit codes, and graceful shutdown on a signal.

import net from "node:net";
import { describe, expect, it } from "vitest";
import { runSealroom } from "../helpers/proc";
import { identity, join } from "../helpers/wire";

describe("sealroom", () => {
  it("--help lists the commands; no command or an unknown one is a usage error", async () => {
    const help = runSealroom(["--help"]);
    expect((await help.exited).code).toBe(0);
    expect(help.stdout()).toMatch(/server[\s\S]*bridge[\s\S]*client[\s\S]*start/);
    const none = runSealroom([]);
    expect((await none.exited).code).toBe(2);
    const unknown = runSealroom(["serve"]);
    expect((await unknown.exited).code).toBe(2);
    expect(unknown.stderr()).toBe("sealroom: unknown command 'serve' (try --help)\n");
  });
});

describe("sealroom server", () => {
  it("--help shows the flags and exits 0", async () => {
    const p = runSealroom(["server", "--help"]);
    expect((await p.exited).code).toBe(0);
    expect(p.stdout()).toContain("Usage: sealroom server [--host H] [--port 7700] [--videos DIR] [--tls]");
  });

  it("bad flags: one line on stderr, exit 2", async () => {
    for (const args of [
      ["--port", "http"],
      ["--port", "70000"],
      ["--bogus"],
      ["--limit", "maxFrame=lots"],
      ["--limit", "nope=1"],
      ["--videos", "/no/such/dir"],
      ["--log-level", "loud"],
      ["--cert", "x"],
    ]) {
      const p = runSealroom(["server", ...args]);
      expect((await p.exited).code, args.join(" ")).toBe(2);
      expect(p.stderr().trim().split("\n"), args.join(" ")).toHaveLength(1);
      expect(p.stderr()).toMatch(/^sealroom server: .*\(try --help\)\n$/);
    }
  });

  it("a port in use: exit 73 with the reason", async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    const port = (blocker.address() as net.AddressInfo).port;
    const p = runSealroom(["server", "--port", String(port)]);
    expect((await p.exited).code).toBe(73);
    expect(p.stderr()).toContain(`cannot listen on 127.0.0.1:${port}`);
    blocker.close();
  });

  it("SIGTERM: members are told, sockets closed, exit 0; a warning for a public address without --tls", async () => {
    const p = runSealroom(["server", "--port", "0", "--log-level", "info"]);
    const port = Number((await p.waitFor(/listening on [^:]+:(\d+)/))[1]);
    const a = await join(port, { name: "a", room: "sig", id: await identity(0) });
    p.child.kill("SIGTERM");
    expect(await a.peer.nextT("error")).toMatchObject({
      code: "internal",
      fatal: true,
      message: "server is shutting down",
    });
    await a.peer.waitClosed();
    expect((await p.exited).code).toBe(0);
    // one JSON object per line on stderr
    const lines = p.stderr().trim().split("\n");
    expect(lines.length).toBeGreaterThan(2);
    for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
    expect(lines.map((l) => JSON.parse(l).msg)).toEqual(
      expect.arrayContaining(["core listening", "member joined", "core stopped"]),
    );

    const pub = runSealroom(["server", "--host", "0.0.0.0", "--port", "0"]);
    await pub.waitFor(/listening/);
    pub.child.kill("SIGINT");
    expect((await pub.exited).code).toBe(0);
    expect(pub.stderr()).toContain("without --tls");
  }, 30_000);
});
