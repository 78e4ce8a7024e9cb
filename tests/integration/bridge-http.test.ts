// The bridge's HTTP side: static files, SPA fallback, traversal, the
// not-built page, Origin checks, the per-address cap, HTTPS.

import { X509Certificate } from "node:crypto";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import http from "node:http";
import https from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { TLSSocket } from "node:tls";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startBridge, type BridgeOptions, type RunningBridge } from "../../bridge/bridge";
import { checkOrigin } from "../../bridge/origin";
import { makeSelfSigned } from "../../common/tls";
import { decodeRaw } from "../../protocol/codec";
import { startCore } from "../helpers/core";

let dir: string;
let web: string;
const INDEX = "<!doctype html><title>Sealroom test</title><script type=module src=/assets/index-AbC123xy.js></script>";
const ASSET = "console.log('hashed asset');";

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sealroom-bridge-"));
  web = join(dir, "dist");
  await mkdir(join(web, "assets"), { recursive: true });
  await writeFile(join(web, "index.html"), INDEX);
  await writeFile(join(web, "assets", "index-AbC123xy.js"), ASSET);
  await writeFile(join(web, "assets", "index-Zz9.css"), "body{}");
  await writeFile(join(web, "favicon.svg"), "<svg/>");
  await writeFile(join(web, ".env"), "SECRET=1");
  await writeFile(join(dir, "package.json"), '{"secret":true}');
  await symlink(join(dir, "package.json"), join(web, "link.json"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function bridge(extra: BridgeOptions = {}): Promise<RunningBridge> {
  const b = await startBridge({ host: "127.0.0.1", port: 0, core: { host: "127.0.0.1", port: 1 }, web, ...extra });
  cleanups.push(() => b.stop());
  return b;
}

type Res = { status: number; headers: http.IncomingHttpHeaders; body: string };

/** A raw request: the path goes out exactly as given (no URL normalization). */
function get(
  port: number,
  path: string,
  opts: { method?: string; headers?: Record<string, string> } = {},
): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: "127.0.0.1", port, path, method: opts.method ?? "GET", headers: opts.headers ?? {}, agent: false },
      (res) => {
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (d) => (body += d));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/** Opens a WebSocket; resolves "open" or the HTTP status it was refused with. */
function tryWs(
  url: string,
  opts: WebSocket.ClientOptions = {},
): Promise<{ ws: WebSocket; status: "open" } | { status: number }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, opts);
    ws.once("open", () => resolve({ ws, status: "open" }));
    ws.once("unexpected-response", (_req, res) => {
      resolve({ status: res.statusCode ?? 0 });
      res.resume();
      ws.terminate();
    });
    ws.once("error", reject);
  });
}

describe("static files", () => {
  it("serves index.html, hashed assets with long caching, and other files with revalidation", async () => {
    const b = await bridge();
    const root = await get(b.port, "/");
    expect(root.status).toBe(200);
    expect(root.body).toBe(INDEX);
    expect(root.headers["content-type"]).toBe("text/html; charset=utf-8");
    expect(root.headers["cache-control"]).toBe("no-cache");
    expect(root.headers["content-security-policy"]).toContain("script-src 'self'");
    expect(root.headers["referrer-policy"]).toBe("no-referrer");
    expect(root.headers["x-content-type-options"]).toBe("nosniff");

    const js = await get(b.port, "/assets/index-AbC123xy.js");
    expect(js.status).toBe(200);
    expect(js.body).toBe(ASSET);
    expect(js.headers["content-type"]).toBe("text/javascript; charset=utf-8");
    expect(js.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect((await get(b.port, "/assets/index-Zz9.css")).headers["content-type"]).toBe("text/css; charset=utf-8");

    const svg = await get(b.port, "/favicon.svg?v=1");
    expect(svg.headers["content-type"]).toBe("image/svg+xml");
    expect(svg.headers["cache-control"]).toBe("no-cache");

    const head = await get(b.port, "/assets/index-AbC123xy.js", { method: "HEAD" });
    expect(head.status).toBe(200);
    expect(head.body).toBe("");
    expect(head.headers["content-length"]).toBe(String(ASSET.length));

    const cached = await get(b.port, "/favicon.svg", {
      headers: { "If-Modified-Since": svg.headers["last-modified"]! },
    });
    expect(cached.status).toBe(304);
    expect((await get(b.port, "/", { method: "POST" })).status).toBe(405);
  });

  it("falls back to index.html for /r/<room> and / only; other missing paths are 404", async () => {
    const b = await bridge();
    for (const p of ["/r/abc", "/r/k3j9x2?x=1", "/r/a/b", "/index.html"]) {
      const r = await get(b.port, p);
      expect(r.status, p).toBe(200);
      expect(r.body).toBe(INDEX);
    }
    expect((await get(b.port, "/nope")).status).toBe(404);
    expect((await get(b.port, "/assets/missing-123.js")).status).toBe(404);
    expect((await get(b.port, "/assets")).status).toBe(404);
  });

  it("refuses traversal, encoded traversal, dotfiles and symlinks out of the root", async () => {
    const b = await bridge();
    const attempts = [
      "/../package.json",
      "/%2e%2e/package.json",
      "/%2E%2E%2Fpackage.json",
      "/assets/../../package.json",
      "/assets/%2e%2e/%2e%2e/package.json",
      "/..%5cpackage.json",
      "/%2e%2e%5cpackage.json",
      "/r/../../package.json",
      "/.env",
      "/link.json",
      "/%00",
      "/%zz",
      "//etc/passwd",
      "/" + "%2e%2e/".repeat(10) + "etc/passwd",
    ];
    for (const p of attempts) {
      const r = await get(b.port, p);
      expect([400, 404], p).toContain(r.status);
      expect(r.body, p).not.toContain("secret");
      expect(r.body, p).not.toContain("SECRET");
      expect(r.body, p).not.toContain("root:");
    }
  });

  it("answers 503 with build instructions while the web app is not built", async () => {
    const b = await bridge({ web: join(dir, "not-built") });
    for (const p of ["/", "/r/abc", "/assets/x.js"]) {
      const r = await get(b.port, p);
      expect(r.status).toBe(503);
      expect(r.body).toContain("npm run build:web");
    }
  });

  it("answers 426 to a plain GET of /ws", async () => {
    const b = await bridge();
    expect((await get(b.port, "/ws")).status).toBe(426);
  });
});

describe("Origin check", () => {
  it("pure rules: same host, allow-list, no Origin; everything else refused", () => {
    const allowed = new Set(["https://chat.example.org"]);
    expect(checkOrigin(undefined, "a:1", allowed).ok).toBe(true);
    expect(checkOrigin("http://a:1", "a:1", allowed).ok).toBe(true);
    expect(checkOrigin("https://A.example:443", "a.example", allowed).ok).toBe(true);
    expect(checkOrigin("http://a.example", "a.example:80", allowed).ok).toBe(true);
    expect(checkOrigin("https://chat.example.org", "bridge:7780", allowed).ok).toBe(true);
    expect(checkOrigin("https://chat.example.org:444", "bridge:7780", allowed).ok).toBe(false);
    expect(checkOrigin("http://chat.example.org", "bridge:7780", allowed).ok).toBe(false);
    expect(checkOrigin("http://a:2", "a:1", allowed).ok).toBe(false);
    expect(checkOrigin("null", "a:1", allowed).ok).toBe(false);
    expect(checkOrigin("file://", "a:1", allowed).ok).toBe(false);
    expect(checkOrigin("http://a:1", undefined, allowed).ok).toBe(false);
    expect(checkOrigin("http://a:1", "a:1/x", allowed).ok).toBe(false);
    expect(checkOrigin("http://a:1", "evil@a:1", allowed).ok).toBe(false);
  });

  it("a foreign Origin gets 403 before the upgrade; same-origin, no Origin and --allow-origin connect", async () => {
    const core = await startCore();
    cleanups.push(() => core.stop());
    const b = await bridge({
      core: { host: "127.0.0.1", port: core.port },
      allowOrigins: ["https://chat.example.org"],
    });
    const url = `ws://127.0.0.1:${b.port}/ws`;
    const cases: [Record<string, string> | undefined, string | undefined, "open" | number][] = [
      [undefined, undefined, "open"],
      [undefined, `http://127.0.0.1:${b.port}`, "open"],
      [{ Host: `localhost:${b.port}` }, `http://localhost:${b.port}`, "open"],
      [undefined, "https://chat.example.org", "open"],
      [undefined, "https://evil.example", 403],
      [undefined, `http://127.0.0.1:${b.port + 1}`, 403],
      [undefined, `http://localhost:${b.port}`, 403],
      [undefined, "null", 403],
    ];
    for (const [headers, origin, want] of cases) {
      const r = await tryWs(url, { ...(headers ? { headers } : {}), ...(origin ? { origin } : {}) });
      expect(r.status, `origin ${origin}`).toBe(want);
      if ("ws" in r) {
        const first = await new Promise<Buffer>((res) => r.ws.once("message", res));
        expect(first[0]).toBe(1);
        r.ws.close();
      }
    }
    expect(b.stats().connections).toBeLessThanOrEqual(4);
  });
});

describe("per-address cap", () => {
  it("500 WebSockets from one address: 64 open, the rest get 429, the bridge stays responsive", async () => {
    const core = await startCore();
    cleanups.push(() => core.stop());
    const b = await bridge({ core: { host: "127.0.0.1", port: core.port } });
    const url = `ws://127.0.0.1:${b.port}/ws`;
    const results = await Promise.all(Array.from({ length: 500 }, () => tryWs(url)));
    const open = results.filter((r): r is { ws: WebSocket; status: "open" } => r.status === "open");
    cleanups.push(async () => open.forEach((r) => r.ws.terminate()));
    expect(open.length).toBe(64);
    expect(results.filter((r) => r.status === 429).length).toBe(436);

    // Still serving pages and relaying for the open ones.
    const t0 = Date.now();
    expect((await get(b.port, "/")).status).toBe(200);
    expect(Date.now() - t0).toBeLessThan(2000);
    for (let i = 0; i < 100 && core.connections < 64; i++) await new Promise((r) => setTimeout(r, 20));
    expect(core.connections).toBe(64);

    // Another address is not affected.
    const other = await tryWs(url, { localAddress: "127.0.0.2" });
    expect(other.status).toBe("open");
    if ("ws" in other) other.ws.close();

    // A closed slot is free again.
    open[0].ws.close();
    await new Promise((r) => open[0].ws.once("close", r));
    let again: Awaited<ReturnType<typeof tryWs>> = { status: 0 };
    for (let i = 0; i < 50 && again.status !== "open"; i++) {
      again = await tryWs(url);
      if (again.status !== "open") await new Promise((r) => setTimeout(r, 20));
    }
    expect(again.status).toBe("open");
    if ("ws" in again) again.ws.close();
  }, 60_000);
});

describe("HTTPS", () => {
  it("serves pages and WebSockets over TLS with a self-signed certificate", async () => {
    const cert = makeSelfSigned({ commonName: "localhost", altNames: ["127.0.0.1"] });
    const core = await startCore();
    cleanups.push(() => core.stop());
    const b = await bridge({
      tls: { certPem: cert.certPem, keyPem: cert.keyPem },
      core: { host: "127.0.0.1", port: core.port },
    });
    expect(b.url).toBe(`https://localhost:${b.port}`);

    const page = await new Promise<{ status: number; body: string; fp: string }>((resolve, reject) => {
      https
        .get({ host: "127.0.0.1", port: b.port, path: "/r/abc", rejectUnauthorized: false, agent: false }, (res) => {
          const fp = new X509Certificate((res.socket as TLSSocket).getPeerCertificate(true).raw).fingerprint256;
          let body = "";
          res.on("data", (d) => (body += d));
          res.on("end", () => resolve({ status: res.statusCode ?? 0, body, fp }));
        })
        .on("error", reject);
    });
    expect(page.status).toBe(200);
    expect(page.body).toBe(INDEX);
    expect(page.fp).toBe(cert.fingerprint256);

    // Verification against the certificate itself as CA also passes (names match).
    const verified = await tryWs(`wss://localhost:${b.port}/ws`, {
      ca: cert.certPem,
      origin: `https://localhost:${b.port}`,
    });
    expect(verified.status).toBe("open");
    if ("ws" in verified) {
      const first = await new Promise<Buffer>((res) => verified.ws.once("message", res));
      const r = decodeRaw(first.subarray(1));
      expect(r.ok && r.raw.t).toBe("challenge");
      verified.ws.close();
    }
    // Without trusting it, a client refuses the connection.
    await expect(tryWs(`wss://localhost:${b.port}/ws`)).rejects.toThrow(/self[- ]signed/i);
  });
});
