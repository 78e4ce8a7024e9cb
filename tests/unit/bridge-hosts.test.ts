// The bridge's Host allow-list (bridge/hosts.ts): canonical forms, defaults,
// --allow-host patterns, and what a DNS-rebinding page's Host looks like.

import { describe, expect, it } from "vitest";
import { canonicalHost, canonicalPattern, certificateNames, checkHost, defaultAllowedHosts } from "../../bridge/hosts";
import { makeSelfSigned } from "../../common/tls";

describe("canonicalHost", () => {
  it("gives the form browsers send, without the port", () => {
    expect(canonicalHost("Evil.Example:7780")).toBe("evil.example");
    expect(canonicalHost("localhost.")).toBe("localhost");
    expect(canonicalHost("[::1]:7780")).toBe("::1");
    expect(canonicalHost("::1")).toBe("::1");
    expect(canonicalHost("[0:0:0:0:0:0:0:1]")).toBe("::1");
    // The WHATWG URL parser's IPv4 forms, as a browser resolves them.
    expect(canonicalHost("127.1")).toBe("127.0.0.1");
    expect(canonicalHost("0x7f.0.0.1:80")).toBe("127.0.0.1");
    expect(canonicalHost("Bücher.example")).toBe("xn--bcher-kva.example");
  });

  it("is null for what is not a host", () => {
    for (const bad of [
      "",
      " ",
      "a b",
      "evil@localhost",
      "localhost/x",
      "localhost?x",
      "localhost#x",
      "host:port",
      "a\\b",
      "[::1",
    ]) {
      expect(canonicalHost(bad), bad).toBeNull();
    }
  });
});

describe("canonicalPattern (--allow-host values)", () => {
  it("accepts names, addresses, *.suffix and *", () => {
    expect(canonicalPattern("Chat.Example.org")).toBe("chat.example.org");
    expect(canonicalPattern("*.Example.org")).toBe("*.example.org");
    expect(canonicalPattern("*")).toBe("*");
    expect(canonicalPattern("fe80::1")).toBe("fe80::1");
    expect(canonicalPattern("[::1]")).toBe("::1");
  });

  it("refuses ports, URLs and wildcards over addresses", () => {
    for (const bad of [
      "chat.example.org:443",
      "[::1]:80",
      "https://chat.example.org",
      "*.127.0.0.1",
      "*.",
      "a*b",
      "",
      "x y",
      "%41",
    ]) {
      expect(canonicalPattern(bad), bad).toBeNull();
    }
  });
});

describe("checkHost", () => {
  const allowed = defaultAllowedHosts({
    bind: "127.0.0.1",
    hostname: "studio",
    certNames: ["chat.example.org", "*.lan.example"],
  });

  it("defaults: loopback, this machine's name (and .local), certificate names, any address", () => {
    for (const ok of [
      "localhost:7780",
      "LOCALHOST",
      "127.0.0.1:7780",
      "[::1]:7780",
      "studio:7780",
      "studio.local",
      "chat.example.org",
      "a.lan.example:7780",
      // An address cannot be rebound; the browser was sent to it directly.
      "192.168.1.20:7780",
      "[2001:db8::5]:7780",
      "203.0.113.9",
    ]) {
      expect(checkHost(ok, allowed), ok).toEqual({ ok: true });
    }
    // A request without a Host (HTTP/1.0, not a browser) is not a rebinding.
    expect(checkHost(undefined, allowed).ok).toBe(true);
  });

  it("refuses a rebinding page's Host with a reason that names the flag", () => {
    const v = checkHost("evil.example:7780", allowed);
    expect(v.ok).toBe(false);
    if (!v.ok) {
      expect(v.host).toBe("evil.example");
      expect(v.reason).toContain("--allow-host evil.example");
    }
    for (const bad of [
      "localhost.evil.example",
      "studio.evil",
      "b.a.lan.example",
      "lan.example",
      "example.org",
      "evil@localhost",
      "a b",
    ]) {
      expect(checkHost(bad, allowed).ok, bad).toBe(false);
    }
  });

  it("--allow-host adds names; * allows all", () => {
    const withExtra = new Set([...allowed, canonicalPattern("Proxy.Example")!]);
    expect(checkHost("proxy.example:443", withExtra).ok).toBe(true);
    expect(checkHost("evil.example", withExtra).ok).toBe(false);
    expect(checkHost("evil.example", new Set(["*"])).ok).toBe(true);
  });

  it("a name bind address is allowed; 0.0.0.0 and :: add nothing", () => {
    expect(checkHost("bridge.internal", defaultAllowedHosts({ bind: "bridge.internal", hostname: "h" })).ok).toBe(true);
    const any = defaultAllowedHosts({ bind: "0.0.0.0", hostname: "h.example.org" });
    expect([...any].sort()).toEqual(["127.0.0.1", "::1", "h.example.org", "localhost", "localhost.localdomain"]);
  });
});

describe("certificateNames", () => {
  it("reads DNS names and IP addresses from subjectAltName", () => {
    const cert = makeSelfSigned({
      commonName: "localhost",
      altNames: ["chat.example.org", "192.0.2.7", "::1"],
      bits: 1024,
    });
    const names = certificateNames(cert.certPem).map((n) => canonicalHost(n));
    expect(names).toEqual(expect.arrayContaining(["localhost", "chat.example.org", "192.0.2.7", "::1"]));
  });
});
