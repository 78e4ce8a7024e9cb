// TLS end to end with the real processes: `sealroom server --tls` makes and
// keeps a self-signed certificate and prints its fingerprint; the native
// client and the bridge connect to it only with the right pin; a plain-TCP
// core on a non-loopback address warns. (In-process pieces are covered by
// tests/integration/bridge-tls.test.ts and tests/integration/client-parts.test.ts.)

import { spawn } from "node:child_process";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import net from "node:net";
import tls from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { startBridge } from "../../bridge/bridge";
import { makeSelfSigned } from "../../common/tls";
import { BIN } from "../helpers/proc";
import { WirePeer } from "../helpers/wire";
import { VIDEOS, spawnBridge, spawnCore, stopProc, type Spawned } from "../helpers/security-support";

const home = mkdtempSync(join(tmpdir(), "sealroom-tls-"));
const running: Spawned[] = [];
afterEach(async () => {
  for (const p of running.splice(0)) await stopProc(p);
});

async function tlsCore(dataDir: string, port = 0): Promise<Spawned & { fingerprint: string }> {
  const core = await spawnCore(["--tls", "--data-dir", dataDir, "--port", String(port), "--videos", VIDEOS]);
  running.push(core);
  const fp = /certificate SHA-256 fingerprint: ([0-9A-F:]{95})/.exec(core.proc.stdout())?.[1];
  if (!fp) throw new Error(`no fingerprint printed: ${core.proc.stdout()}`);
  return { ...core, fingerprint: fp };
}

/** The certificate a TLS client actually gets from the port. */
function presented(port: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: "127.0.0.1", port, rejectUnauthorized: false }, () => {
      resolve(s.getPeerCertificate().fingerprint256);
      s.destroy();
    });
    s.on("error", reject);
  });
}

interface ClientRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the client binary with --json until it exits or `until` matches its stdout (then /quit). */
function runClient(args: string[], until?: RegExp, timeoutMs = 20_000): Promise<ClientRun> {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [BIN, "client", "--json", ...args], {
      env: { ...process.env, XDG_CONFIG_HOME: join(home, "config") },
      stdio: ["pipe", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    const timer = setTimeout(() => {
      c.kill("SIGKILL");
      reject(new Error(`client did not finish; stdout ${stdout}; stderr ${stderr}`));
    }, timeoutMs);
    c.stdout.on("data", (d) => {
      stdout += d;
      if (until && until.test(stdout)) c.stdin.end("/quit\n");
    });
    c.stderr.on("data", (d) => (stderr += d));
    c.on("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

describe("core --tls", () => {
  it("makes a self-signed certificate on first start (key 0600), prints its fingerprint, and keeps it across restarts", async () => {
    const dir = join(home, "core-data");
    const first = await tlsCore(dir);
    expect(first.proc.stdout()).toMatch(/made a self-signed certificate in/);
    expect(first.proc.stdout()).toMatch(/listening on 127\.0\.0\.1:\d+ \(TLS\)/);
    expect(statSync(join(dir, "tls-key.pem")).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(await presented(first.port)).toBe(first.fingerprint);
    await stopProc(first);

    const second = await tlsCore(dir);
    expect(second.proc.stdout()).toMatch(/using the certificate in/);
    expect(second.fingerprint).toBe(first.fingerprint);
    expect(await presented(second.port)).toBe(first.fingerprint);
  }, 60_000);

  it("the native client joins with --pin, and refuses a wrong pin at once with a clear message and exit 77", async () => {
    const core = await tlsCore(join(home, "pin-data"));
    const addr = `127.0.0.1:${core.port}`;
    const base = ["--room", "tlsroom", "--core", addr];

    const ok = await runClient(
      ["--name", "alice", ...base, "--pin", core.fingerprint.replace(/:/g, "").toLowerCase()],
      /"event":"welcome"/,
    );
    expect(ok.code).toBe(0);

    const wrong = await runClient(["--name", "bob", ...base, "--pin", "AB".repeat(32)]);
    expect(wrong.code).not.toBe(0);
    expect(wrong.stdout).not.toMatch(/"event":"welcome"/);
    expect(wrong.stderr).toMatch(/does not match --pin/);

    expect(wrong.code).toBe(77);
  }, 90_000);

  it("a connection that never starts its TLS handshake, or sends plaintext, is closed within helloTimeoutMs (was: never)", async () => {
    const core = await spawnCore([
      "--tls",
      "--data-dir",
      join(home, "hs-data"),
      "--port",
      "0",
      "--videos",
      VIDEOS,
      "--limit",
      "helloTimeoutMs=1500",
    ]);
    running.push(core);
    const sockets = await Promise.all(
      Array.from(
        { length: 50 },
        () =>
          new Promise<net.Socket>((resolve, reject) => {
            const s = net.connect(core.port, "127.0.0.1", () => resolve(s));
            s.on("error", reject);
          }),
      ),
    );
    const started = Date.now();
    // A few speak the plain protocol to the TLS port: a failed handshake, closed at once.
    for (const s of sockets.slice(0, 10)) s.write(Buffer.from([0, 0, 0, 20, 1, ...Buffer.from('{"t":"ping","ts":1}')]));
    await Promise.all(sockets.map((s) => new Promise((r) => (s.destroyed ? r(null) : s.once("close", r)))));
    const took = Date.now() - started;
    expect(took).toBeLessThan(1_500 + 2_000);
  }, 30_000);

  it("a client pinned to a certificate refuses the core once it comes back with another one", async () => {
    const a = await tlsCore(join(home, "cert-a"));
    const port = a.port;
    const pin = a.fingerprint;
    const before = await runClient(
      ["--name", "erin", "--room", "swap", "--core", `127.0.0.1:${port}`, "--pin", pin],
      /"event":"welcome"/,
    );
    expect(before.code).toBe(0);
    await stopProc(a);
    // Same address, new certificate: what a man in the middle would present.
    const b = await tlsCore(join(home, "cert-b"), port);
    expect(b.fingerprint).not.toBe(pin);
    const after = await runClient(["--name", "erin", "--room", "swap", "--core", `127.0.0.1:${port}`, "--pin", pin]);
    expect(after.code).not.toBe(0);
    expect(after.stderr).toMatch(new RegExp(`certificate fingerprint ${b.fingerprint} does not match --pin`));
  }, 90_000);

  it("an HTTPS bridge drops connections that never finish their TLS handshake after handshakeTimeoutMs (was Node's 120 s)", async () => {
    const cert = makeSelfSigned({ commonName: "localhost", altNames: ["127.0.0.1"] });
    const bridge = await startBridge({
      host: "127.0.0.1",
      port: 0,
      tls: { certPem: cert.certPem, keyPem: cert.keyPem },
      core: { host: "127.0.0.1", port: 1 },
      web: home,
      handshakeTimeoutMs: 1_000,
    });
    try {
      const sockets = await Promise.all(
        Array.from(
          { length: 30 },
          () =>
            new Promise<net.Socket>((resolve, reject) => {
              const s = net.connect(bridge.port, "127.0.0.1", () => resolve(s));
              s.on("error", reject);
            }),
        ),
      );
      const started = Date.now();
      await Promise.all(sockets.map((s) => new Promise((r) => (s.destroyed ? r(null) : s.once("close", r)))));
      expect(Date.now() - started).toBeLessThan(1_000 + 2_000);
    } finally {
      await bridge.stop();
    }
  }, 30_000);

  it("the native client with --tls trusts the certificate on first use, refuses a changed one at once, and --pin accepts it", async () => {
    const a = await tlsCore(join(home, "tofu-a"));
    const port = a.port;
    const args = ["--name", "tofu", "--room", "tofu", "--core", `127.0.0.1:${port}`];
    const first = await runClient([...args, "--tls"], /"event":"welcome"/);
    expect(first.code).toBe(0);
    expect(first.stdout).toContain(
      `"event":"certificateTrusted","core":"127.0.0.1:${port}","fingerprint":"${a.fingerprint}"`,
    );
    const known = join(home, "config", "sealroom", "known-cores.json");
    expect(statSync(known).mode & 0o777).toBe(0o600);
    const again = await runClient([...args, "--tls"], /"event":"welcome"/);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toContain("certificateTrusted");

    await stopProc(a);
    const b = await tlsCore(join(home, "tofu-b"), port);
    const t0 = Date.now();
    const changed = await runClient([...args, "--tls"]);
    expect(changed.code).toBe(77);
    expect(Date.now() - t0).toBeLessThan(5_000); // no retrying what cannot get better
    expect(changed.stdout).not.toMatch(/"event":"welcome"/);
    expect(changed.stderr).toContain(
      `the core's certificate changed: it was ${a.fingerprint} and is now ${b.fingerprint}`,
    );

    const accepted = await runClient([...args, "--pin", b.fingerprint], /"event":"welcome"/);
    expect(accepted.code).toBe(0);
    const after = await runClient([...args, "--tls"], /"event":"welcome"/);
    expect(after.code).toBe(0);
  }, 90_000);

  it("the bridge process relays to a TLS core only with the right --core-pin", async () => {
    const core = await tlsCore(join(home, "bridge-data"));
    const web = mkdtempSync(join(tmpdir(), "sealroom-tls-web-"));
    const good = await spawnBridge([
      "--port",
      "0",
      "--core",
      `127.0.0.1:${core.port}`,
      "--core-pin",
      core.fingerprint,
      "--web",
      web,
    ]);
    running.push(good);
    expect(good.proc.stdout()).toMatch(/\(TLS\)/);
    const p = await WirePeer.connectWs(`ws://127.0.0.1:${good.port}/ws`);
    expect(await p.next((m) => m.t === "challenge", 10_000)).toMatchObject({ v: 1 });
    p.close();

    const bad = await spawnBridge([
      "--port",
      "0",
      "--core",
      `127.0.0.1:${core.port}`,
      "--core-pin",
      "CD".repeat(32),
      "--web",
      web,
    ]);
    running.push(bad);
    const q = await WirePeer.connectWs(`ws://127.0.0.1:${bad.port}/ws`);
    await q.waitClosed(10_000); // throws if it stays open
    expect(q.closeCode).toBe(1011);
    expect(q.messages).toEqual([]);
  }, 60_000);
});

describe("plain TCP on a network address", () => {
  const dataDir = join(home, "warn-data");
  let loop: Spawned;
  beforeAll(async () => {
    loop = await spawnCore(["--port", "0", "--videos", VIDEOS]);
  });
  afterAll(() => stopProc(loop));

  it("warns without --tls on a non-loopback address, and not on loopback or with --tls", async () => {
    const open = await spawnCore(["--host", "0.0.0.0", "--port", "0", "--videos", VIDEOS]);
    running.push(open);
    await open.proc.waitFor(/listening/);
    expect(open.proc.stderr()).toMatch(/warning: listening on 0\.0\.0\.0 without --tls/);

    const secured = await spawnCore([
      "--host",
      "0.0.0.0",
      "--port",
      "0",
      "--tls",
      "--data-dir",
      dataDir,
      "--videos",
      VIDEOS,
    ]);
    running.push(secured);
    expect(secured.proc.stderr()).not.toMatch(/without --tls/);
    expect(loop.proc.stderr()).not.toMatch(/without --tls/);
  }, 60_000);
});
