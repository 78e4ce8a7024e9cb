// What `sealroom start` tells people about reaching it from other machines:
// which addresses are listed (never loopback or link-local), which one share
// links and the terminal command use, and the QR code of the share link.

import { describe, expect, it } from "vitest";
import qrcode from "qrcode-generator";
import {
  isUnshareable,
  originFor,
  preferredShareHost,
  reachableHosts,
  type InterfaceAddress,
} from "../../bridge/shareOrigin";
import { startBanner, startTargets } from "../../cli/startBanner";
import { QUIET, qrLines, qrMatrix } from "../../cli/qr";

const v4 = (iface: string, address: string, internal = false): InterfaceAddress => ({
  iface,
  address,
  family: "IPv4",
  internal,
});
const v6 = (iface: string, address: string, internal = false): InterfaceAddress => ({
  iface,
  address,
  family: "IPv6",
  internal,
});

/** A laptop: loopback, Wi-Fi with v4 + link-local + global v6, docker, a VPN with a CGNAT address. */
const LAPTOP = [
  v4("lo", "127.0.0.1", true),
  v6("lo", "::1", true),
  v4("docker0", "172.17.0.1"),
  v4("wlan0", "192.168.1.20"),
  v6("wlan0", "fe80::1c2b:3cff:fe4d:5e6f"),
  v6("wlan0", "2001:db8::20"),
  v4("tailscale0", "100.101.102.103"),
  v4("usb0", "169.254.10.20"),
];

describe("reachable addresses", () => {
  it("never offers loopback, link-local or unspecified addresses", () => {
    for (const a of [
      "127.0.0.1",
      "127.1.2.3",
      "::1",
      "::ffff:127.0.0.1",
      "0.0.0.0",
      "::",
      "169.254.1.1",
      "fe80::1",
      "FE80::1%wlan0",
      "febf::1",
      "::ffff:169.254.3.4",
      "localhost",
    ]) {
      expect(isUnshareable(a), a).toBe(true);
    }
    for (const a of ["192.168.1.20", "10.0.0.1", "2001:db8::1", "fd12::1", "fec0::1", "100.64.0.1", "my-laptop"])
      expect(isUnshareable(a), a).toBe(false);
  });

  it("0.0.0.0 lists every non-internal IPv4 address, LAN first and container bridges last, then the hostname", () => {
    expect(reachableHosts("0.0.0.0", LAPTOP, "my-laptop")).toEqual([
      "192.168.1.20",
      "100.101.102.103",
      "172.17.0.1",
      "my-laptop",
    ]);
    expect(preferredShareHost("0.0.0.0", LAPTOP, "my-laptop")).toBe("192.168.1.20");
  });

  it(":: adds IPv6 addresses but still no link-local ones", () => {
    const hosts = reachableHosts("::", LAPTOP, "my-laptop");
    expect(hosts).toContain("2001:db8::20");
    expect(
      hosts.some((h) => h.startsWith("fe80") || h.startsWith("169.254") || h === "::1" || h.startsWith("127.")),
    ).toBe(false);
  });

  it("a specific address lists only itself; a loopback bind lists nothing", () => {
    expect(reachableHosts("192.168.1.20", LAPTOP, "my-laptop")).toEqual(["192.168.1.20"]);
    expect(reachableHosts("127.0.0.1", LAPTOP, "my-laptop")).toEqual([]);
    expect(reachableHosts("localhost", LAPTOP, "my-laptop")).toEqual([]);
    expect(preferredShareHost("::1", LAPTOP, "my-laptop")).toBeNull();
  });

  it("a machine with only loopback has nothing to share, and a hostname alone is not offered", () => {
    expect(reachableHosts("0.0.0.0", [v4("lo", "127.0.0.1", true)], "box")).toEqual([]);
    expect(reachableHosts("0.0.0.0", LAPTOP, "localhost")).not.toContain("localhost");
  });

  it("origins bracket IPv6", () => {
    expect(originFor(true, "2001:db8::20", 7780)).toBe("https://[2001:db8::20]:7780");
    expect(originFor(false, "192.168.1.20", 80)).toBe("http://192.168.1.20:80");
  });
});

describe("start's printout", () => {
  const FP = "AB:".repeat(31) + "AB";

  it("with --https on 0.0.0.0: share links, the fingerprint, a terminal command with a real address and --tls --pin, a QR code", () => {
    const t = startTargets({
      bindHost: "0.0.0.0",
      webPort: 7780,
      corePort: 7700,
      https: true,
      ifaces: LAPTOP,
      hostname: "my-laptop",
    });
    expect(t.core).toBe("192.168.1.20:7700");
    const text = startBanner({
      ...t,
      local: "https://localhost:7780",
      https: true,
      fingerprint: FP,
      selfSigned: true,
      qr: qrLines(t.shareUrls[0]),
    });
    expect(text).toMatch(/Open\s+https:\/\/localhost:7780/);
    expect(text).toMatch(/Share\s+https:\/\/192\.168\.1\.20:7780/);
    expect(text).toContain("https://my-laptop:7780");
    expect(text).toContain(`SHA-256 ${FP}`);
    expect(text).toContain(`bin/sealroom client --name YOU --core 192.168.1.20:7700 --tls --pin ${FP}`);
    expect(text).toContain("Scan to open https://192.168.1.20:7780");
    expect(text).not.toMatch(/0\.0\.0\.0|127\.0\.0\.1|fe80|169\.254/);
  });

  it("on loopback: no share links, the terminal command on 127.0.0.1, no QR code", () => {
    const t = startTargets({
      bindHost: "127.0.0.1",
      webPort: 7780,
      corePort: 7700,
      https: false,
      ifaces: LAPTOP,
      hostname: "my-laptop",
    });
    expect(t).toEqual({ shareUrls: [], core: "127.0.0.1:7700" });
    const text = startBanner({
      ...t,
      local: "http://localhost:7780",
      https: false,
      fingerprint: null,
      selfSigned: false,
      qr: ["x"],
    });
    expect(text).toMatch(/Open\s+http:\/\/localhost:7780\n/);
    expect(text).not.toContain("Share");
    expect(text).not.toContain("Scan");
    expect(text).toContain("--core 127.0.0.1:7700 [--room ROOM]");
  });

  it("plain HTTP on 0.0.0.0 says other browsers need --https, and never prints 0.0.0.0 as the core", () => {
    const t = startTargets({
      bindHost: "0.0.0.0",
      webPort: 7780,
      corePort: 7700,
      https: false,
      ifaces: LAPTOP,
      hostname: "my-laptop",
    });
    const text = startBanner({
      ...t,
      local: "http://localhost:7780",
      https: false,
      fingerprint: null,
      selfSigned: false,
      qr: null,
    });
    expect(text).toContain("restart with --https");
    expect(text).toContain("--core 192.168.1.20:7700 [--room ROOM]");
    expect(text).not.toContain("0.0.0.0");
  });

  it("on 0.0.0.0 of a machine with no network: the terminal command uses loopback", () => {
    expect(
      startTargets({
        bindHost: "0.0.0.0",
        webPort: 1,
        corePort: 2,
        https: true,
        ifaces: [v4("lo", "127.0.0.1", true)],
        hostname: "box",
      }).core,
    ).toBe("127.0.0.1:2");
    expect(
      startTargets({
        bindHost: "::",
        webPort: 1,
        corePort: 2,
        https: true,
        ifaces: [v6("eth0", "2001:db8::5")],
        hostname: "box",
      }).core,
    ).toBe("[2001:db8::5]:2");
  });
});

describe("QR code", () => {
  it("the half-block text decodes back to exactly the library's modules, with a light quiet zone", () => {
    const text = "https://192.168.1.20:7780";
    const lines = qrLines(text);
    const m = qrMatrix(text);
    const qr = qrcode(0, "L");
    qr.addData(text, "Byte");
    qr.make();
    const n = qr.getModuleCount();
    expect(m.length).toBe(n + 2 * QUIET);
    expect(lines.length).toBe(Math.ceil(m.length / 2));
    for (const l of lines) expect([...l].length).toBe(m.length);
    // Read the modules back from the characters: upper half and lower half.
    const light = (ch: string, lower: boolean) => ch === "█" || ch === (lower ? "▄" : "▀");
    for (let r = 0; r < m.length; r++) {
      for (let c = 0; c < m.length; c++) {
        const ch = [...lines[r >> 1]][c];
        const dark = !light(ch, (r & 1) === 1);
        const rr = r - QUIET;
        const cc = c - QUIET;
        const want = rr >= 0 && rr < n && cc >= 0 && cc < n && qr.isDark(rr, cc);
        expect(dark, `module ${r},${c}`).toBe(want);
      }
    }
    // The first QUIET rows are all light.
    expect(lines[0]).toBe("█".repeat(m.length));
  });
});
