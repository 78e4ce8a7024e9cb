// Which Host names the bridge answers to, against DNS rebinding: a page on any
// domain that resolves to this machine must not reach the bridge (or through
// it the core). Pure functions over names; the caller supplies this machine's
// hostname, so the rules are testable alone.
//
// Allowed by default: loopback names, the bind address, this machine's
// hostname (and <hostname>.local), the names in the bridge's certificate, and
// any IP address. Rebinding needs a DNS name the attacker controls; a Host that
// is an address means the browser was pointed at that address itself, and
// accepting every one keeps NAT port forwarding, containers and a new DHCP
// lease working (this machine's interface addresses are a subset of these).
// `--allow-host NAME` adds names; `*.example.org` allows one label below
// example.org; `*` allows every Host. The port in the Host header is not
// compared: only the name says which site the browser thinks it is on.

import { X509Certificate } from "node:crypto";
import { isIP } from "node:net";

export const LOOPBACK_HOSTS = ["localhost", "localhost.localdomain", "127.0.0.1", "::1"] as const;

/**
 * A Host header value or a bare name/address in the canonical form browsers
 * send (lowercase, no trailing dot, IPv6 compressed without brackets, IPv4 in
 * dotted decimal), without the port; null when it is not a valid host.
 */
export function canonicalHost(value: string): string | null {
  const v = value.trim();
  if (v === "" || /[\s/\\?#@%]/.test(v)) return null;
  // A bare IPv6 address (from an interface list or a certificate) has no brackets.
  const authority = isIP(v) === 6 ? `[${v}]` : v;
  let url: URL;
  try {
    url = new URL(`http://${authority}`);
  } catch {
    return null;
  }
  let host = url.hostname;
  if (host.startsWith("[") && host.endsWith("]")) host = host.slice(1, -1);
  if (host.endsWith(".")) host = host.slice(0, -1);
  // The URL parser lets through characters no DNS name has (`*`, `%`, ...).
  if (isIP(host) === 0 && !/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/.test(host)) return null;
  return host;
}

/** An --allow-host value: a name, an address, `*.suffix`, or `*`; null when malformed. */
export function canonicalPattern(value: string): string | null {
  const v = value.trim().toLowerCase();
  if (v === "*") return "*";
  if (v.startsWith("*.")) {
    const rest = canonicalHost(v.slice(2));
    // `*.com`-like patterns are allowed (the operator asked), but never over an address.
    return rest !== null && isIP(rest) === 0 ? `*.${rest}` : null;
  }
  // A port is meaningless here; refuse it rather than silently drop it.
  if (isIP(v) === 0 && /:\d*$/.test(v)) return null;
  if (/^\[.*\]:\d*$/.test(v)) return null;
  return canonicalHost(v);
}

/** DNS names and IP addresses in a PEM certificate's subjectAltName. */
export function certificateNames(certPem: string): string[] {
  const san = new X509Certificate(certPem).subjectAltName ?? "";
  return san
    .split(", ")
    .map((e) => /^(?:DNS|IP Address):(.+)$/.exec(e)?.[1])
    .filter((n): n is string => n !== undefined);
}

/** The default allow-list of names (patterns as canonicalPattern gives them); addresses are always allowed. */
export function defaultAllowedHosts(opts: {
  bind: string;
  hostname: string;
  certNames?: readonly string[];
}): Set<string> {
  const out = new Set<string>();
  const add = (n: string) => {
    const c = canonicalPattern(n);
    if (c !== null && c !== "*") out.add(c);
  };
  for (const n of LOOPBACK_HOSTS) add(n);
  // 0.0.0.0 and :: are not names a browser can be sent to; the interface addresses cover them.
  if (opts.bind !== "0.0.0.0" && opts.bind !== "::") add(opts.bind);
  const hostname = opts.hostname.trim();
  if (hostname !== "") {
    add(hostname);
    // mDNS: how other machines on a LAN usually reach a host by name.
    if (!hostname.includes(".")) add(`${hostname}.local`);
  }
  for (const n of opts.certNames ?? []) add(n);
  return out;
}

export type HostVerdict = { ok: true } | { ok: false; host: string; reason: string };

/**
 * Checks a request's Host header against the allow-list. No Host header at all
 * comes only from non-browser HTTP/1.0 clients, which rebinding cannot drive.
 */
export function checkHost(hostHeader: string | undefined, allowed: ReadonlySet<string>): HostVerdict {
  if (hostHeader === undefined) return { ok: true };
  if (allowed.has("*")) return { ok: true };
  const host = canonicalHost(hostHeader);
  if (host === null)
    return { ok: false, host: clip(hostHeader), reason: `malformed Host header '${clip(hostHeader)}'` };
  if (allowed.has(host) || isIP(host) !== 0) return { ok: true };
  const dot = host.indexOf(".");
  if (dot > 0 && allowed.has(`*${host.slice(dot)}`)) return { ok: true };
  return {
    ok: false,
    host,
    reason: `this bridge does not answer to the host name '${clip(host)}' (its operator can allow it with --allow-host ${clip(host)})`,
  };
}

function clip(s: string): string {
  const printable = s.replace(/[^\x20-\x7e]/g, "?");
  return printable.length > 100 ? printable.slice(0, 100) + "..." : printable;
}
