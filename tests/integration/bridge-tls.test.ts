// common/tls.ts (self-signed certificates) and the bridge's TLS connection
// to a core that speaks TLS, verified by a pinned fingerprint or a CA.

import { X509Certificate, createPrivateKey } from "node:crypto";
import { mkdtemp, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startBridge } from "../../bridge/bridge";
import { loadOrCreateCert, makeSelfSigned, normalizeFingerprint, CERT_FILE, KEY_FILE } from "../../common/tls";
import { decodeRaw } from "../../protocol/codec";
import { startCore } from "../helpers/core";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sealroom-tls-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

describe("makeSelfSigned", () => {
  it("makes a server certificate for the given names with a matching key", () => {
    const c = makeSelfSigned({ commonName: "sealroom.test", altNames: ["localhost", "127.0.0.1", "::1", "10.0.0.5"] });
    const x = new X509Certificate(c.certPem);
    expect(x.subject).toContain("CN=sealroom.test");
    expect(x.checkHost("sealroom.test")).toBe("sealroom.test");
    expect(x.checkHost("localhost")).toBe("localhost");
    expect(x.checkIP("127.0.0.1")).toBe("127.0.0.1");
    expect(x.checkIP("10.0.0.5")).toBe("10.0.0.5");
    expect(x.checkIP("::1")).toBeDefined();
    expect(x.checkHost("evil.test")).toBeUndefined();
    expect(x.checkPrivateKey(createPrivateKey(c.keyPem))).toBe(true);
    expect(x.ca).toBe(false);
    expect(x.fingerprint256).toBe(c.fingerprint256);
    expect(x.verify(x.publicKey)).toBe(true);
    const days = (Date.parse(x.validTo) - Date.now()) / 86_400_000;
    expect(days).toBeGreaterThan(390);
    expect(days).toBeLessThan(398);
    expect(Date.parse(x.validFrom)).toBeLessThan(Date.now());
    expect(x.keyUsage ?? []).toContain("1.3.6.1.5.5.7.3.1");
  });

  it("normalizeFingerprint accepts colon or bare hex, any case, and nothing else", () => {
    const fp = "AB:".repeat(31) + "AB";
    expect(normalizeFingerprint("ab".repeat(32))).toBe(fp);
    expect(normalizeFingerprint(fp.toLowerCase())).toBe(fp);
    expect(normalizeFingerprint("ab".repeat(31))).toBeNull();
    expect(normalizeFingerprint("zz".repeat(32))).toBeNull();
  });
});

describe("loadOrCreateCert", () => {
  it("creates once (key 0600, dir 0700), then reuses", async () => {
    const d = join(dir, "a");
    const first = await loadOrCreateCert(d);
    expect(first.created).toBe(true);
    expect((await stat(join(d, KEY_FILE))).mode & 0o777).toBe(0o600);
    expect((await stat(d)).mode & 0o777).toBe(0o700);
    const second = await loadOrCreateCert(d);
    expect(second.created).toBe(false);
    expect(second.fingerprint256).toBe(first.fingerprint256);
    expect(second.keyPem).toBe(first.keyPem);
  });

  it("concurrent callers on a fresh dir end up with one certificate", async () => {
    const d = join(dir, "b");
    const all = await Promise.all([loadOrCreateCert(d), loadOrCreateCert(d), loadOrCreateCert(d)]);
    expect(all.filter((c) => c.created).length).toBe(1);
    expect(new Set(all.map((c) => c.fingerprint256)).size).toBe(1);
  });

  it("replaces a certificate that is broken, mismatched, expiring, or missing a wanted name (keeping old names)", async () => {
    const d = join(dir, "c");
    const a = await loadOrCreateCert(d);
    await writeFile(join(d, CERT_FILE), "garbage");
    const b = await loadOrCreateCert(d);
    expect(b.created).toBe(true);
    expect(b.fingerprint256).not.toBe(a.fingerprint256);

    await writeFile(join(d, KEY_FILE), makeSelfSigned({ commonName: "x" }).keyPem);
    expect((await loadOrCreateCert(d)).created).toBe(true);

    const e = join(dir, "e");
    await loadOrCreateCert(e, { days: 10 });
    expect((await loadOrCreateCert(e)).created).toBe(true);

    const wider = await loadOrCreateCert(d, { altNames: ["lan.example", "192.168.1.9"] });
    expect(wider.created).toBe(true);
    const x = new X509Certificate(wider.certPem);
    expect(x.checkHost("lan.example")).toBeDefined();
    expect(x.checkIP("192.168.1.9")).toBeDefined();
    expect(x.checkHost("localhost")).toBeDefined();
    expect((await loadOrCreateCert(d)).created).toBe(false);
  });
});

describe("bridge to a TLS core", () => {
  async function tlsCore() {
    const cert = makeSelfSigned({ commonName: "localhost", altNames: ["127.0.0.1"] });
    const core = await startCore({ tls: { cert: cert.certPem, key: cert.keyPem } });
    cleanups.push(() => core.stop());
    return { core, cert };
  }

  async function firstOrClose(
    port: number,
  ): Promise<{ first?: Record<string, unknown>; close?: { code: number; reason: string } }> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`);
    return new Promise((resolve, reject) => {
      ws.once("message", (d: Buffer) => {
        const r = decodeRaw(d.subarray(1));
        ws.close();
        resolve({ first: r.ok ? r.raw : {} });
      });
      ws.once("close", (code, reason) => resolve({ close: { code, reason: reason.toString() } }));
      ws.once("error", reject);
    });
  }

  it("connects with the right --core-pin", async () => {
    const { core, cert } = await tlsCore();
    const b = await startBridge({ port: 0, core: { host: "127.0.0.1", port: core.port, pin: cert.fingerprint256 } });
    cleanups.push(() => b.stop());
    expect((await firstOrClose(b.port)).first?.t).toBe("challenge");
  });

  it("refuses a core whose certificate does not match the pin, or is untrusted without one (1011)", async () => {
    const { core, cert } = await tlsCore();
    const other = makeSelfSigned({ commonName: "localhost" });
    const wrong = await startBridge({
      port: 0,
      core: { host: "127.0.0.1", port: core.port, pin: other.fingerprint256 },
    });
    cleanups.push(() => wrong.stop());
    const r1 = await firstOrClose(wrong.port);
    expect(r1.close?.code).toBe(1011);
    expect(r1.close?.reason).toMatch(/does not match --core-pin/);

    const untrusted = await startBridge({ port: 0, core: { host: "127.0.0.1", port: core.port, tls: true } });
    cleanups.push(() => untrusted.stop());
    const r2 = await firstOrClose(untrusted.port);
    expect(r2.close?.code).toBe(1011);

    const trusted = await startBridge({
      port: 0,
      core: { host: "127.0.0.1", port: core.port, tls: true, ca: cert.certPem },
    });
    cleanups.push(() => trusted.stop());
    expect((await firstOrClose(trusted.port)).first?.t).toBe("challenge");
  });
});
