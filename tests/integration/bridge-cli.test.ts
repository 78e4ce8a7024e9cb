// `sealroom bridge`: flags, exit codes, the printed URL, graceful shutdown,
// and the self-signed HTTPS path, run as a real child process where it matters.

import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm, stat } from "node:fs/promises";
import https from "node:https";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { main, parseBridgeArgs } from "../../bridge/main";
import { UsageError } from "../../common/args";
import { run } from "../../cli/sealroom";
import { startCore } from "../helpers/core";

const BIN = fileURLToPath(new URL("../../bin/sealroom", import.meta.url));
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sealroom-bridge-cli-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe("flag parsing", () => {
  it("defaults", () => {
    const p = parseBridgeArgs([]);
    if (p === "help") throw new Error("unexpected help");
    expect(p.options.host).toBe("127.0.0.1");
    expect(p.options.port).toBe(7780);
    expect(p.options.core).toMatchObject({ host: "127.0.0.1", port: 7700, tls: false, pin: null });
    expect(p.options.maxPerAddress).toBe(64);
    expect(p.options.maxFrame).toBe(1_048_576);
    expect(p.https).toBe(false);
    expect(p.web).toMatch(/web[/\\]dist$/);
    expect(p.buildWeb).toBe(true);
    expect(p.options.allowHosts).toEqual([]);
    expect(p.options.trustProxies).toEqual([]);
  });

  it("all flags", () => {
    const pin = "ab".repeat(32);
    const p = parseBridgeArgs([
      "--host",
      "0.0.0.0",
      "--port",
      "0",
      "--core",
      "[::1]:7701",
      "--core-pin",
      pin,
      "--https",
      "--allow-origin",
      "https://a.example",
      "--allow-origin",
      "http://b.example:8080",
      "--web",
      "/tmp/w",
      "--max-per-ip",
      "5",
      "--max-frame",
      "2048",
      "--max-connections",
      "9",
      "--allow-host",
      "chat.example.org",
      "--allow-host",
      "*.lan.example",
      "--trust-proxy",
      "127.0.0.1",
      "--trust-proxy",
      "10.0.0.0/8,fd00::/8",
    ]);
    if (p === "help") throw new Error("unexpected help");
    expect(p.options).toMatchObject({
      host: "0.0.0.0",
      port: 0,
      maxPerAddress: 5,
      maxFrame: 2048,
      maxConnections: 9,
      web: "/tmp/w",
      core: { host: "::1", port: 7701, tls: true, pin: "AB:".repeat(31) + "AB" },
      allowOrigins: ["https://a.example", "http://b.example:8080"],
      allowHosts: ["chat.example.org", "*.lan.example"],
      trustProxies: ["127.0.0.1", "10.0.0.0/8", "fd00::/8"],
    });
    expect(p.https).toBe(true);
    // An explicit --web is served as it is, never built.
    expect(p.buildWeb).toBe(false);
    expect(parseBridgeArgs(["--help"])).toBe("help");
    const local = parseBridgeArgs(["--host", "localhost"]);
    expect(local !== "help" && local.options.host).toBe("127.0.0.1");
  });

  it("bad flags are one-line usage errors", () => {
    const bad = [
      ["--bogus"],
      ["--port", "http"],
      ["--port", "70000"],
      ["--core", "nohost"],
      ["--core", "h:99999"],
      ["--core-pin", "xyz"],
      ["--allow-origin", "example.org"],
      ["--allow-origin", "https://a.example/path"],
      ["--cert", "c.pem", "--https"],
      ["--cert", "c.pem", "--key", "k.pem"],
      ["--max-per-ip", "0"],
      ["--max-frame", "-1"],
      ["--host", ""],
      ["--allow-host", "chat.example.org:443"],
      ["--allow-host", "https://chat.example.org"],
      ["--allow-host", ""],
      ["--trust-proxy", "localhost"],
      ["--trust-proxy", "10.0.0.0/33"],
      ["--trust-proxy", "10.0.0.0/8,"],
      ["--allow-host", "a.example,b.example:80"],
    ];
    for (const argv of bad) {
      expect(() => parseBridgeArgs(argv), argv.join(" ")).toThrow(UsageError);
      try {
        parseBridgeArgs(argv);
      } catch (e) {
        expect((e as Error).message).not.toContain("\n");
      }
    }
  });

  it("through the dispatcher: exit 2 for bad flags, 0 for --help", async () => {
    const err = process.stderr.write;
    const out = process.stdout.write;
    const captured: string[] = [];
    process.stderr.write = ((s: string) => (captured.push(s), true)) as typeof process.stderr.write;
    process.stdout.write = ((s: string) => (captured.push(s), true)) as typeof process.stdout.write;
    try {
      expect(await run(["bridge", "--port", "x"])).toBe(2);
      expect(await run(["bridge", "--help"])).toBe(0);
    } finally {
      process.stderr.write = err;
      process.stdout.write = out;
    }
    expect(captured[0]).toMatch(/^sealroom bridge: --port must be a port number.*\(try --help\)\n$/);
    expect(captured[1]).toContain("--allow-origin ORIGIN");
  });

  it("exit 73 when the port is taken or a certificate file is unreadable", async () => {
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(0, "127.0.0.1", r));
    cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));
    const port = (blocker.address() as net.AddressInfo).port;
    const err = process.stderr.write;
    const captured: string[] = [];
    process.stderr.write = ((s: string) => (captured.push(s), true)) as typeof process.stderr.write;
    try {
      expect(await main(["--port", String(port), "--web", dir])).toBe(73);
      expect(await main(["--port", "0", "--https", "--cert", join(dir, "no.pem"), "--key", join(dir, "no.key")])).toBe(
        73,
      );
    } finally {
      process.stderr.write = err;
    }
    expect(captured.join("")).toContain("EADDRINUSE");
  });
});

async function until(check: () => boolean, what: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Runs bin/sealroom bridge; resolves once it printed its URL. */
async function spawnBridge(args: string[]): Promise<{
  child: ChildProcess;
  url: string;
  stdout: () => string;
  stderr: () => string;
  exit: Promise<number | null>;
}> {
  const child = spawn(process.execPath, [BIN, "bridge", ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.on("data", (d) => (stdout += d));
  child.stderr!.on("data", (d) => (stderr += d));
  const exit = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  cleanups.push(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  const deadline = Date.now() + 20_000;
  for (;;) {
    const m = /listening on (\S+)/.exec(stdout);
    if (m) return { child, url: m[1], stdout: () => stdout, stderr: () => stderr, exit };
    if (child.exitCode !== null) throw new Error(`bridge exited ${child.exitCode}: ${stderr}`);
    if (Date.now() > deadline) throw new Error(`bridge printed no URL: ${stdout} ${stderr}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

describe("the bridge process", () => {
  it("prints its URL, relays, and on SIGTERM closes WebSockets with 1001 and exits 0", async () => {
    const core = await startCore();
    cleanups.push(() => core.stop());
    const b = await spawnBridge(["--port", "0", "--core", `127.0.0.1:${core.port}`, "--web", dir]);
    expect(b.url).toMatch(/^http:\/\/localhost:\d+$/);
    expect(b.stdout()).toContain(`to core 127.0.0.1:${core.port}`);
    await until(() => b.stderr().includes("npm run build:web"), "the not-built warning");
    const ws = new WebSocket(`${b.url.replace("http", "ws")}/ws`);
    const first = await new Promise<Buffer>((resolve, reject) => {
      ws.once("message", resolve);
      ws.once("error", reject);
    });
    expect(first[0]).toBe(1);
    const closed = new Promise<number>((r) => ws.once("close", (code) => r(code)));
    b.child.kill("SIGTERM");
    expect(await closed).toBe(1001);
    expect(await b.exit).toBe(0);
  }, 30_000);

  it("warns that plain HTTP on a non-loopback address needs --https", async () => {
    const b = await spawnBridge(["--host", "0.0.0.0", "--port", "0", "--web", dir]);
    await until(() => /need --https/.test(b.stderr()), "the --https warning");
    b.child.kill("SIGINT");
    expect(await b.exit).toBe(0);
  }, 30_000);

  it("--https makes and keeps a self-signed certificate (key 0600) and prints its fingerprint", async () => {
    const data = join(dir, "data");
    const b = await spawnBridge(["--port", "0", "--https", "--data-dir", data, "--web", dir]);
    expect(b.url).toMatch(/^https:\/\/localhost:\d+$/);
    const fp = /fingerprint: ([0-9A-F:]{95})/.exec(b.stdout())?.[1];
    expect(fp).toBeDefined();
    expect((await stat(join(data, "tls-key.pem"))).mode & 0o777).toBe(0o600);
    const seen = await new Promise<string>((resolve, reject) => {
      https
        .get(`${b.url}/`, { rejectUnauthorized: false, agent: false }, (res) => {
          const cert = (res.socket as import("node:tls").TLSSocket).getPeerCertificate();
          res.resume();
          resolve(cert.fingerprint256);
        })
        .on("error", reject);
    });
    expect(seen).toBe(fp);
    b.child.kill("SIGTERM");
    expect(await b.exit).toBe(0);

    // The next run reuses it.
    const again = await spawnBridge(["--port", "0", "--https", "--data-dir", data, "--web", dir]);
    expect(again.stdout()).toContain(fp!);
    expect(again.stdout()).not.toContain("created a self-signed certificate");
    again.child.kill("SIGTERM");
    expect(await again.exit).toBe(0);
  }, 60_000);
});
