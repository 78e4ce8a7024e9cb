// `sealroom start --https` is enough for a friend on another machine: from a
// network namespace this test makes (a veth pair on a private /30 of its own,
// no route anywhere else), a client opens the printed share link over HTTPS
// that verifies against the printed certificate, joins the room through the
// bridge, and the native client joins with the printed `--tls --pin` command.
// Test traffic only goes to loopback and the two ends of that veth pair.
// Needs root and `ip netns`; skipped with a message where that is not possible.

import { execFileSync, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runSealroom, ROOT, type Proc } from "../helpers/proc";

const TAG = String(process.pid % 100_000);
const NS = `sr-share-${TAG}`;
const HOST_IF = `srh${TAG}`;
const NS_IF = `srn${TAG}`;
// 10.201.N.0/30: .1 is this machine's end, .2 the namespace's; N one that
// no interface here uses yet.
const NET = freeNet();
const HOST_ADDR = `${NET}.1`;
const NS_ADDR = `${NET}.2`;

function freeNet(): string {
  let used = "";
  try {
    used = execFileSync("ip", ["-o", "-4", "addr"], { encoding: "utf8", timeout: 10_000 });
  } catch {}
  for (let i = 0; i < 250; i++) {
    const net = `10.201.${(process.pid + i) % 250}`;
    if (!used.includes(` ${net}.`)) return net;
  }
  return "10.201.250";
}

function ip(...args: string[]): void {
  execFileSync("ip", args, { stdio: ["ignore", "ignore", "pipe"], timeout: 10_000 });
}

function teardown(): void {
  try {
    ip("netns", "del", NS);
  } catch {}
  try {
    ip("link", "del", HOST_IF);
  } catch {}
}

/** Makes the namespace and the veth pair; the reason it cannot, or null. */
function setUp(): string | null {
  if (process.platform !== "linux") return "not Linux";
  if (process.getuid?.() !== 0) return "not root";
  try {
    teardown();
    ip("netns", "add", NS);
    ip("link", "add", HOST_IF, "type", "veth", "peer", "name", NS_IF);
    ip("link", "set", NS_IF, "netns", NS);
    ip("addr", "add", `${HOST_ADDR}/30`, "dev", HOST_IF);
    ip("link", "set", HOST_IF, "up");
    ip("-n", NS, "addr", "add", `${NS_ADDR}/30`, "dev", NS_IF);
    ip("-n", NS, "link", "set", NS_IF, "up");
    ip("-n", NS, "link", "set", "lo", "up");
    return null;
  } catch (e) {
    teardown();
    return `cannot make a network namespace: ${((e as { stderr?: Buffer }).stderr?.toString() || (e as Error).message).trim()}`;
  }
}

const whyNot = setUp();
if (whyNot) console.warn(`start-share: skipped (${whyNot}); needs root and ip netns`);

const tmp = mkdtempSync(path.join(os.tmpdir(), "sealroom-share-"));
const started: Proc[] = [];

afterAll(async () => {
  for (const p of started) if (p.child.exitCode === null) p.child.kill("SIGINT");
  await Promise.all(started.map((p) => p.exited));
  teardown();
  rmSync(tmp, { recursive: true, force: true });
});

/** A command run inside the namespace; resolves with its output and exit code. */
function inNs(
  cmd: string[],
  opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {},
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn("ip", ["netns", "exec", NS, ...cmd], {
      cwd: ROOT,
      env: { ...process.env, ...opts.env },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    const t = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`timed out: ${cmd.join(" ")}; stdout: ${stdout}; stderr: ${stderr}`));
    }, opts.timeoutMs ?? 30_000);
    child.on("exit", (code) => {
      clearTimeout(t);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(opts.input ?? "");
  });
}

function curl(url: string, ca: string): Promise<{ code: number | null; stdout: string; stderr: string }> {
  // --noproxy: straight to the address, whatever the environment says.
  return inNs(["curl", "-sS", "--noproxy", "*", "--max-time", "15", "--cacert", ca, "-w", "\n%{http_code}", url]);
}

async function startHttps(host: string, dataDir: string): Promise<{ p: Proc; out: () => string }> {
  const p = runSealroom(["start", "--https", "--host", host, "--port", "0", "--core-port", "0", "--data-dir", dataDir]);
  started.push(p);
  await p.waitFor(/Stop\s+Ctrl-C/, 120_000);
  return { p, out: p.stdout };
}

describe.skipIf(whyNot !== null)("start --https from another machine (a network namespace)", () => {
  it(`bound to the veth address: the printed link, certificate and terminal command all work from the namespace`, async () => {
    const dataDir = path.join(tmp, "bound");
    const { p, out } = await startHttps(HOST_ADDR, dataDir);
    const text = out();
    const share = /Share\s+(https:\/\/\S+)/.exec(text)?.[1];
    expect(share).toMatch(new RegExp(`^https://${HOST_ADDR.replace(/\./g, "\\.")}:\\d+$`));
    const fp = /Cert\s+SHA-256 ([0-9A-F:]{95})/.exec(text)?.[1];
    expect(fp).toBeDefined();
    const terminal = /Terminal\s+bin\/sealroom (client .*) \[--room ROOM\]/.exec(text)?.[1];
    expect(terminal).toBe(
      `client --name YOU --core ${HOST_ADDR}:${/--core \S+:(\d+)/.exec(text)![1]} --tls --pin ${fp}`,
    );
    expect(text).toContain(`Scan to open ${share}`);
    const ca = path.join(dataDir, "tls-cert.pem");

    // The page, over HTTPS that verifies with the printed certificate for this address.
    const page = await curl(`${share}/r/friends`, ca);
    expect(page.stderr).toBe("");
    expect(page.stdout.trim().endsWith("200")).toBe(true);
    expect(page.stdout).toContain("<!doctype html>");
    // What the web app puts in share links when opened on localhost.
    const origin = await curl(`${share}/api/share-origin`, ca);
    expect(JSON.parse(origin.stdout.slice(0, origin.stdout.lastIndexOf("\n")))).toEqual({ origin: share });

    // A browser-like member: a real hello through the bridge's WebSocket.
    const web = spawn(
      "ip",
      [
        "netns",
        "exec",
        NS,
        process.execPath,
        "--import",
        "tsx",
        "tests/helpers/ns-ws-member.ts",
        `${share!.replace(/^https/, "wss")}/ws`,
        "friends",
        ca,
        "term",
      ],
      {
        cwd: ROOT,
        stdio: ["ignore", "pipe", "pipe"],
      },
    );
    let webOut = "";
    let webErr = "";
    web.stdout.on("data", (d) => (webOut += d));
    web.stderr.on("data", (d) => (webErr += d));
    const webExit = new Promise<number | null>((r) => web.on("exit", r));
    await expect.poll(() => webOut + webErr, { timeout: 30_000 }).toContain("welcome");
    expect(JSON.parse(webOut.split("\n")[0])).toEqual({ welcome: ["nsweb"] });

    // The native client with exactly the printed command (name and room filled in).
    const args = terminal!.split(" ").map((a) => (a === "YOU" ? "term" : a));
    const client = await inNs(
      [process.execPath, path.join(ROOT, "bin", "sealroom"), ...args, "--room", "friends", "--json"],
      {
        input: "hello from the other machine\n",
        env: { XDG_CONFIG_HOME: path.join(tmp, "client-config") },
      },
    );
    expect(client.stderr).toBe("");
    expect(client.code).toBe(0);
    expect(client.stdout).toContain('"nsweb"');
    expect(await webExit).toBe(0);
    expect(webOut).toContain('{"joined":"term"}');

    // The same command with a wrong pin is refused (exit 77), so the pin is what let it in.
    const wrong = await inNs(
      [
        process.execPath,
        path.join(ROOT, "bin", "sealroom"),
        ...args.map((a) => (a === fp ? "00".repeat(32) : a)),
        "--room",
        "friends",
        "--json",
      ],
      {
        env: { XDG_CONFIG_HOME: path.join(tmp, "client-config-2") },
      },
    );
    expect(wrong.code).toBe(77);

    p.child.kill("SIGINT");
    expect((await p.exited).code).toBe(0);
  }, 120_000);

  it("bound to 0.0.0.0: lists this machine's addresses (the veth one too, no loopback or link-local) and the page opens from the namespace", async () => {
    const dataDir = path.join(tmp, "any");
    const { p, out } = await startHttps("0.0.0.0", dataDir);
    const text = out();
    const port = /Open\s+https:\/\/localhost:(\d+)/.exec(text)?.[1];
    expect(port).toBeDefined();
    const block = text.slice(text.indexOf("Share"), text.indexOf("Cert"));
    const listed = [...block.matchAll(/https:\/\/(\S+):(\d+)/g)].map((m) => m[1]);
    expect(listed).toContain(HOST_ADDR);
    expect(listed).toContain(os.hostname().toLowerCase());
    for (const h of listed) expect(h).not.toMatch(/^(127\.|169\.254\.|\[?::1|\[?fe[89ab])|^localhost$|^0\.0\.0\.0$/i);
    expect(/--core (\S+):\d+/.exec(text)![1]).not.toBe("0.0.0.0");

    const page = await curl(`https://${HOST_ADDR}:${port}/r/friends`, path.join(dataDir, "tls-cert.pem"));
    expect(page.stderr).toBe("");
    expect(page.stdout.trim().endsWith("200")).toBe(true);
    expect(readFileSync(path.join(dataDir, "tls-cert.pem"), "utf8")).toContain("BEGIN CERTIFICATE");

    p.child.kill("SIGINT");
    expect((await p.exited).code).toBe(0);
  }, 120_000);
});

describe("start --https flags", () => {
  it("one-line errors: --cert without --https or without --key is exit 2; an unreadable certificate is exit 73", async () => {
    for (const args of [
      ["--cert", "c.pem", "--key", "k.pem"],
      ["--https", "--cert", "c.pem"],
    ]) {
      const p = runSealroom(["start", ...args]);
      const { code } = await p.exited;
      expect(code).toBe(2);
      expect(p.stderr().trim().split("\n")).toHaveLength(1);
    }
    const missing = runSealroom([
      "start",
      "--https",
      "--cert",
      path.join(tmp, "none.pem"),
      "--key",
      path.join(tmp, "none.key"),
      "--port",
      "0",
      "--core-port",
      "0",
    ]);
    expect((await missing.exited).code).toBe(73);
    expect(missing.stderr()).toMatch(/^sealroom start: cannot use the TLS certificate: .*none\.pem/);
  }, 60_000);
});
