// DNS rebinding (issue 9 part 4): a page on a foreign domain that resolves to
// 127.0.0.1 sends `Host: evil.example:PORT` and `Origin: http://evil.example:PORT`;
// the real bridge must refuse its pages and its WebSocket upgrade with 421,
// while loopback, certificate names and --allow-host names keep working.

import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startBridge, type BridgeOptions, type RunningBridge } from "../../bridge/bridge";
import { makeSelfSigned } from "../../common/tls";
import { startCore } from "../helpers/core";
import { runSealroom } from "../helpers/proc";

const INDEX = "<!doctype html><title>Sealroom hosts test</title>";
let dir: string;
let web: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sealroom-hosts-"));
  web = join(dir, "dist");
  await mkdir(web, { recursive: true });
  await writeFile(join(web, "index.html"), INDEX);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function stack(
  extra: BridgeOptions = {},
): Promise<{ bridge: RunningBridge; core: Awaited<ReturnType<typeof startCore>> }> {
  const core = await startCore();
  cleanups.push(() => core.stop());
  const bridge = await startBridge({
    host: "127.0.0.1",
    port: 0,
    core: { host: "127.0.0.1", port: core.port },
    web,
    ...extra,
  });
  cleanups.push(() => bridge.stop());
  return { bridge, core };
}

type Res = { status: number; body: string };

function page(port: number, host: string | undefined, path = "/", tls = false): Promise<Res> {
  return new Promise((resolve, reject) => {
    const mod = tls ? https : http;
    const req = mod.request(
      {
        host: "127.0.0.1",
        port,
        path,
        agent: false,
        headers: host === undefined ? {} : { Host: host },
        ...(tls ? { rejectUnauthorized: false } : {}),
      },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** Opens a WebSocket to 127.0.0.1 claiming the given Host and Origin; "open" (after the core's first frame) or the refusal. */
function upgrade(
  port: number,
  host: string,
  origin: string,
  tls = false,
): Promise<{ status: "open" } | { status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`${tls ? "wss" : "ws"}://127.0.0.1:${port}/ws`, {
      headers: { Host: host },
      origin,
      ...(tls ? { rejectUnauthorized: false } : {}),
    });
    ws.once("message", (d: Buffer) => {
      expect(d[0]).toBe(1);
      ws.close();
      resolve({ status: "open" });
    });
    ws.once("unexpected-response", (_req, res) => {
      let body = "";
      res.setEncoding("utf8");
      res.on("data", (d) => (body += d));
      res.on("end", () => {
        ws.terminate();
        resolve({ status: res.statusCode ?? 0, body });
      });
    });
    ws.once("error", reject);
  });
}

describe("Host allow-list", () => {
  it("a rebinding page (foreign Host and matching Origin) gets 421 for pages and the upgrade; the core is never dialled", async () => {
    const logged: string[] = [];
    const { bridge, core } = await stack({ log: (l) => logged.push(l) });
    const evil = `evil.example:${bridge.port}`;
    for (const path of ["/", "/r/some-room", "/assets/x.js", "/ws"]) {
      const r = await page(bridge.port, evil, path);
      expect(r.status, path).toBe(421);
      expect(r.body).toContain("--allow-host evil.example");
      expect(r.body).not.toContain("Sealroom hosts test");
    }
    const ws = await upgrade(bridge.port, evil, `http://${evil}`);
    expect(ws.status).toBe(421);
    if ("body" in ws) expect(ws.body).toContain("does not answer to the host name 'evil.example'");
    // A subdomain trick and a name that merely starts like loopback.
    expect(
      (
        await upgrade(
          bridge.port,
          `localhost.evil.example:${bridge.port}`,
          `http://localhost.evil.example:${bridge.port}`,
        )
      ).status,
    ).toBe(421);
    expect((await page(bridge.port, `127.0.0.1.evil.example:${bridge.port}`)).status).toBe(421);
    await new Promise((r) => setTimeout(r, 100));
    expect(core.connections).toBe(0);
    expect(bridge.stats().connections).toBe(0);
    // The operator hears of it (throttled), with the client and the flag to use.
    expect(logged[0]).toBe(
      "refused a request for an unknown Host from 127.0.0.1: 'evil.example' (allow it with --allow-host)",
    );
    expect(logged.length).toBe(1);
  });

  it("loopback names and addresses, and any address, are served; pages and WebSockets", async () => {
    const { bridge } = await stack();
    const p = bridge.port;
    for (const host of [`127.0.0.1:${p}`, `localhost:${p}`, `[::1]:${p}`, `LocalHost:${p}`, `192.0.2.10:${p}`]) {
      const r = await page(p, host);
      expect(r.status, host).toBe(200);
      expect(r.body).toBe(INDEX);
      const origin = `http://${host.toLowerCase()}`;
      expect((await upgrade(p, host, origin)).status, host).toBe("open");
    }
  });

  it("--allow-host adds a name (and *.domain one label below it); others stay refused", async () => {
    const { bridge } = await stack({ allowHosts: ["evil.example", "*.proxy.example"] });
    const p = bridge.port;
    expect((await page(p, `evil.example:${p}`)).status).toBe(200);
    expect((await upgrade(p, `evil.example:${p}`, `http://evil.example:${p}`)).status).toBe("open");
    expect((await page(p, "a.proxy.example")).status).toBe(200);
    expect((await upgrade(p, "b.proxy.example", "http://b.proxy.example")).status).toBe("open");
    expect((await page(p, "x.a.proxy.example")).status).toBe(421);
    expect((await page(p, `other.example:${p}`)).status).toBe(421);
    expect((await upgrade(p, `other.example:${p}`, `http://other.example:${p}`)).status).toBe(421);
  });

  it("HTTPS: the certificate's names are served", async () => {
    const cert = makeSelfSigned({ commonName: "localhost", altNames: ["sealroom.test"], bits: 1024 });
    const { bridge } = await stack({ tls: { certPem: cert.certPem, keyPem: cert.keyPem } });
    const p = bridge.port;
    expect((await page(p, `sealroom.test:${p}`, "/", true)).status).toBe(200);
    expect((await upgrade(p, `sealroom.test:${p}`, `https://sealroom.test:${p}`, true)).status).toBe("open");
    expect((await page(p, `evil.example:${p}`, "/", true)).status).toBe(421);
    expect((await upgrade(p, `evil.example:${p}`, `https://evil.example:${p}`, true)).status).toBe(421);
  });

  it("bin/sealroom bridge --allow-host and --trust-proxy: the refusal log names the forwarded client", async () => {
    const b = runSealroom([
      "bridge",
      "--port",
      "0",
      "--web",
      web,
      "--allow-host",
      "evil.example",
      "--trust-proxy",
      "127.0.0.1",
    ]);
    cleanups.push(() => {
      if (b.child.exitCode === null) b.child.kill("SIGKILL");
    });
    const port = Number((await b.waitFor(/listening on http:\/\/localhost:(\d+)/))[1]);
    expect((await page(port, `evil.example:${port}`)).status).toBe(200);
    const refused = await new Promise<number>((resolve, reject) => {
      http
        .get(
          {
            host: "127.0.0.1",
            port,
            path: "/",
            agent: false,
            headers: { Host: "other.example", "X-Forwarded-For": "6.6.6.6, 203.0.113.7" },
          },
          (res) => {
            res.resume();
            resolve(res.statusCode ?? 0);
          },
        )
        .on("error", reject);
    });
    expect(refused).toBe(421);
    const deadline = Date.now() + 5000;
    while (!b.stderr().includes("unknown Host") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(b.stderr()).toContain("refused a request for an unknown Host from 203.0.113.7: 'other.example'");
    b.child.kill("SIGTERM");
    expect((await b.exited).code).toBe(0);
  });
});
