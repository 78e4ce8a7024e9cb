// What `sealroom start` prints once core and bridge listen: where to open the
// room on this machine, the links other machines can open, the certificate
// fingerprint to compare, and a terminal command that works from elsewhere.
// Pure: addresses come in as data, text goes out.

import { originFor, reachableHosts, type InterfaceAddress } from "../bridge/shareOrigin";

export interface StartPlace {
  /** The address start was asked to bind (core and bridge). */
  bindHost: string;
  webPort: number;
  corePort: number;
  https: boolean;
  ifaces: readonly InterfaceAddress[];
  hostname: string;
}

export interface StartTargets {
  /** Origins for other machines, most likely first; empty on a loopback bind. */
  shareUrls: string[];
  /** HOST:PORT for the terminal client: the first shareable host, else loopback. */
  core: string;
}

export function startTargets(p: StartPlace): StartTargets {
  const hosts = reachableHosts(p.bindHost, p.ifaces, p.hostname);
  const coreHost =
    hosts[0] ??
    (p.bindHost === "0.0.0.0" || p.bindHost === "::" || p.bindHost === "localhost" ? "127.0.0.1" : p.bindHost);
  return {
    shareUrls: hosts.map((h) => originFor(p.https, h, p.webPort)),
    core: `${coreHost.includes(":") ? `[${coreHost}]` : coreHost}:${p.corePort}`,
  };
}

export interface BannerInput extends StartTargets {
  /** What to open on this machine (the bridge's own URL). */
  local: string;
  https: boolean;
  /** SHA-256 of the certificate core and bridge both use, with --https. */
  fingerprint: string | null;
  /** True when start made (or reused) its own self-signed certificate. */
  selfSigned: boolean;
  /** Lines of a QR code of the first share link, or null. */
  qr: string[] | null;
}

export function startBanner(b: BannerInput): string {
  const lines = [
    "",
    "  Sealroom is running.",
    `  Open      ${b.local}${b.shareUrls.length ? "   (on this machine)" : ""}`,
  ];
  b.shareUrls.forEach((u, i) =>
    lines.push(
      `${i === 0 ? "  Share     " : "            "}${u}${i === 0 ? "   (other machines open this; room links carry it)" : ""}`,
    ),
  );
  if (b.shareUrls.length && !b.https) {
    lines.push("            (plain HTTP: browsers on other machines refuse WebCrypto there; restart with --https)");
  }
  if (b.fingerprint) {
    lines.push(`  Cert      SHA-256 ${b.fingerprint}`);
    if (b.selfSigned)
      lines.push("            (self-signed: browsers warn once; the fingerprint shown there should match this)");
  }
  const tls = b.fingerprint ? ` --tls --pin ${b.fingerprint}` : "";
  lines.push(
    `  Terminal  bin/sealroom client --name YOU --core ${b.core}${tls} [--room ROOM]`,
    "  Stop      Ctrl-C",
    "",
  );
  if (b.qr && b.shareUrls.length) lines.push(`  Scan to open ${b.shareUrls[0]}:`, ...b.qr.map((l) => `  ${l}`), "");
  return lines.join("\n") + "\n";
}
