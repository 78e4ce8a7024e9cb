// --trust-proxy (bridge/proxy.ts): CIDR matching over IPv4, IPv6 and
// IPv4-mapped IPv6, and which X-Forwarded-For entry is believed.

import { describe, expect, it } from "vitest";
import { canonicalAddress, cidrContains, forwardedEntry, parseCidr, TrustedProxies } from "../../bridge/proxy";

const cidr = (s: string) => {
  const c = parseCidr(s);
  if (c === null) throw new Error(`bad cidr ${s}`);
  return c;
};

describe("parseCidr", () => {
  it("accepts addresses and prefixes of both families", () => {
    for (const ok of [
      "127.0.0.1",
      "10.0.0.0/8",
      "0.0.0.0/0",
      "::1",
      "fd00::/8",
      "::/0",
      "::ffff:10.0.0.0/104",
      "2001:db8::/32",
      "fe80::1%eth0",
    ]) {
      expect(parseCidr(ok), ok).not.toBeNull();
    }
  });

  it("refuses malformed ones", () => {
    for (const bad of [
      "",
      "10.0.0.0/33",
      "::/129",
      "10.0.0.0/",
      "10.0.0.0/x",
      "10.0.0.256",
      "010.0.0.1",
      "localhost",
      "1::2::3",
      "10.0.0.0/8/8",
      "10.0.0.0/-1",
    ]) {
      expect(parseCidr(bad), bad).toBeNull();
    }
  });
});

describe("cidrContains", () => {
  it("IPv4", () => {
    expect(cidrContains(cidr("10.0.0.0/8"), "10.255.1.2")).toBe(true);
    expect(cidrContains(cidr("10.0.0.0/8"), "11.0.0.1")).toBe(false);
    expect(cidrContains(cidr("192.168.4.0/22"), "192.168.7.255")).toBe(true);
    expect(cidrContains(cidr("192.168.4.0/22"), "192.168.8.0")).toBe(false);
    expect(cidrContains(cidr("127.0.0.1"), "127.0.0.1")).toBe(true);
    expect(cidrContains(cidr("127.0.0.1"), "127.0.0.2")).toBe(false);
    expect(cidrContains(cidr("0.0.0.0/0"), "203.0.113.9")).toBe(true);
    // A host part in the CIDR is masked off, as routers do.
    expect(cidrContains(cidr("10.1.2.3/16"), "10.1.200.1")).toBe(true);
  });

  it("IPv6", () => {
    expect(cidrContains(cidr("2001:db8::/32"), "2001:db8:ffff::1")).toBe(true);
    expect(cidrContains(cidr("2001:db8::/32"), "2001:db9::1")).toBe(false);
    expect(cidrContains(cidr("fd00::/8"), "fdab:cd::1")).toBe(true);
    expect(cidrContains(cidr("::1"), "0:0:0:0:0:0:0:1")).toBe(true);
    expect(cidrContains(cidr("::1"), "::2")).toBe(false);
    expect(cidrContains(cidr("2001:db8::/33"), "2001:db8:8000::1")).toBe(false);
    expect(cidrContains(cidr("fe80::/10"), "fe80::1%eth0")).toBe(true);
    // An IPv6 rule does not match IPv4 unless it covers the mapped range.
    expect(cidrContains(cidr("::/1"), "10.0.0.1")).toBe(true);
    expect(cidrContains(cidr("8000::/1"), "10.0.0.1")).toBe(false);
  });

  it("IPv4-mapped IPv6: one rule covers both spellings of an IPv4 peer", () => {
    // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d.
    expect(cidrContains(cidr("127.0.0.1"), "::ffff:127.0.0.1")).toBe(true);
    expect(cidrContains(cidr("10.0.0.0/8"), "::ffff:10.9.8.7")).toBe(true);
    expect(cidrContains(cidr("10.0.0.0/8"), "::ffff:a09:807")).toBe(true);
    expect(cidrContains(cidr("10.0.0.0/8"), "::ffff:11.0.0.1")).toBe(false);
    expect(cidrContains(cidr("::ffff:10.0.0.0/104"), "10.200.0.1")).toBe(true);
    expect(cidrContains(cidr("::ffff:0:0/96"), "198.51.100.1")).toBe(true);
    expect(cidrContains(cidr("::ffff:0:0/96"), "::1")).toBe(false);
    // ::a.b.c.d (IPv4-compatible, deprecated) is not the same address as a.b.c.d.
    expect(cidrContains(cidr("10.0.0.0/8"), "::10.0.0.1")).toBe(false);
    expect(cidrContains(cidr("10.0.0.0/8"), "not an address")).toBe(false);
  });
});

describe("canonicalAddress and forwardedEntry", () => {
  it("canonical text", () => {
    expect(canonicalAddress("::ffff:127.0.0.1")).toBe("127.0.0.1");
    expect(canonicalAddress("2001:DB8:0:0:0:0:0:1")).toBe("2001:db8::1");
    expect(canonicalAddress("2001:db8:0:0:1:0:0:1")).toBe("2001:db8::1:0:0:1");
    expect(canonicalAddress("0:0:0:0:0:0:0:0")).toBe("::");
    expect(canonicalAddress("1:0:2:3:4:5:6:7")).toBe("1:0:2:3:4:5:6:7");
    expect(canonicalAddress("x")).toBeNull();
  });

  it("X-Forwarded-For entries: bare, bracketed, with a port; junk is null", () => {
    expect(forwardedEntry(" 203.0.113.7 ")).toBe("203.0.113.7");
    expect(forwardedEntry("203.0.113.7:4711")).toBe("203.0.113.7");
    expect(forwardedEntry("2001:db8::7")).toBe("2001:db8::7");
    expect(forwardedEntry("[2001:db8::7]")).toBe("2001:db8::7");
    expect(forwardedEntry("[2001:db8::7]:443")).toBe("2001:db8::7");
    for (const junk of ["", "unknown", "_hidden", "evil.example", "1.2.3.4.5", "[1.2.3.4]x"])
      expect(forwardedEntry(junk), junk).toBeNull();
  });
});

describe("TrustedProxies.clientAddress", () => {
  it("by default nobody is trusted: the header is ignored", () => {
    const none = new TrustedProxies();
    expect(none.clientAddress("127.0.0.1", "6.6.6.6")).toBe("127.0.0.1");
    expect(none.clientAddress("::ffff:127.0.0.1", "6.6.6.6")).toBe("127.0.0.1");
    expect(none.clientAddress(undefined, "6.6.6.6")).toBe("unknown");
  });

  it("a header from an untrusted peer is ignored", () => {
    const p = new TrustedProxies(["10.0.0.1"]);
    expect(p.clientAddress("198.51.100.2", "6.6.6.6")).toBe("198.51.100.2");
  });

  it("from a trusted peer: the right-most entry that is not a trusted proxy", () => {
    const p = new TrustedProxies(["127.0.0.1", "10.0.0.0/8"]);
    expect(p.clientAddress("127.0.0.1", "203.0.113.7")).toBe("203.0.113.7");
    expect(p.clientAddress("::ffff:127.0.0.1", "203.0.113.7")).toBe("203.0.113.7");
    // The client forged "6.6.6.6"; the proxy appended the real address after it.
    expect(p.clientAddress("127.0.0.1", "6.6.6.6, 203.0.113.7")).toBe("203.0.113.7");
    // Two trusted hops (an edge proxy in 10/8, then one on this machine).
    expect(p.clientAddress("127.0.0.1", "6.6.6.6, 203.0.113.7, 10.1.1.1")).toBe("203.0.113.7");
    // Several headers are one list.
    expect(p.clientAddress("127.0.0.1", ["6.6.6.6", "203.0.113.7"])).toBe("203.0.113.7");
    expect(p.clientAddress("127.0.0.1", "2001:db8::9")).toBe("2001:db8::9");
    // Every hop trusted: the left-most is as far as the chain goes.
    expect(p.clientAddress("127.0.0.1", "10.2.2.2, 10.1.1.1")).toBe("10.2.2.2");
  });

  it("junk in the chain stops the walk at the hop that wrote it", () => {
    const p = new TrustedProxies(["127.0.0.1", "10.0.0.0/8"]);
    expect(p.clientAddress("127.0.0.1", "unknown")).toBe("127.0.0.1");
    expect(p.clientAddress("127.0.0.1", "6.6.6.6, garbage, 10.1.1.1")).toBe("10.1.1.1");
    expect(p.clientAddress("127.0.0.1", "")).toBe("127.0.0.1");
    expect(p.clientAddress("127.0.0.1", undefined)).toBe("127.0.0.1");
  });

  it("a malformed entry throws", () => {
    expect(() => new TrustedProxies(["10.0.0.0/40"])).toThrow(/not an address or CIDR/);
  });
});
