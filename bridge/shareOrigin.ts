// Which addresses other machines can use to reach this bridge, and the
// `/api/share-origin` endpoint that tells a page opened on `localhost` the
// origin its share links should carry (a friend cannot open `localhost`).
//
// Pure address logic (reachableHosts, preferredShareHost, originFor) is kept
// apart from the I/O (os.networkInterfaces, HTTP) so it is testable alone.

import type { IncomingMessage, ServerResponse } from "node:http";
import { hostname as osHostname, networkInterfaces, type NetworkInterfaceInfo } from "node:os";
import { isIP } from "node:net";
import { isLoopback } from "../common/net";

export const SHARE_ORIGIN_PATH = "/api/share-origin";

/** One interface address as os.networkInterfaces() lists it, with the interface's name. */
export interface InterfaceAddress {
  iface: string;
  address: string;
  family: "IPv4" | "IPv6";
  internal: boolean;
}

export function listInterfaces(ifaces: NodeJS.Dict<NetworkInterfaceInfo[]> = networkInterfaces()): InterfaceAddress[] {
  const out: InterfaceAddress[] = [];
  for (const [iface, infos] of Object.entries(ifaces)) {
    for (const i of infos ?? []) out.push({ iface, address: i.address, family: i.family, internal: i.internal });
  }
  return out;
}

/** Loopback, link-local, unspecified: addresses another machine cannot be given. */
export function isUnshareable(address: string): boolean {
  const a = address.toLowerCase().split("%")[0];
  if (isLoopback(a) || a === "0.0.0.0" || a === "::") return true;
  if (a.startsWith("169.254.")) return true;
  // fe80::/10 covers fe80 .. febf.
  if (/^fe[89ab][0-9a-f]:/.test(a)) return true;
  if (a.startsWith("::ffff:")) return isUnshareable(a.slice(7));
  return false;
}

/**
 * The hosts other machines may use for a listener bound to bindHost: for a
 * wildcard, every non-internal, non-loopback, non-link-local address (IPv4
 * only for 0.0.0.0, which takes no IPv6) and then the machine's hostname;
 * for a specific address or name, that one (nothing when it is loopback).
 * Most likely first (see preferredShareHost).
 */
export function reachableHosts(bindHost: string, ifaces: readonly InterfaceAddress[], hostname: string): string[] {
  if (bindHost !== "0.0.0.0" && bindHost !== "::") return isUnshareable(bindHost) ? [] : [bindHost];
  const addrs = ifaces
    .filter((i) => !i.internal && !isUnshareable(i.address) && (bindHost === "::" || i.family === "IPv4"))
    .sort((a, b) => rank(a) - rank(b))
    .map((i) => i.address.split("%")[0]);
  const hosts = [...new Set(addrs)];
  const name = hostname.trim().toLowerCase();
  if (
    name &&
    !isIP(name) &&
    name !== "localhost" &&
    !name.endsWith(".localhost") &&
    /^[a-z0-9.-]+$/.test(name) &&
    hosts.length > 0
  )
    hosts.push(name);
  return hosts;
}

/** The one to put in share links and the terminal command: the first of reachableHosts, or null. */
export function preferredShareHost(
  bindHost: string,
  ifaces: readonly InterfaceAddress[],
  hostname: string,
): string | null {
  return reachableHosts(bindHost, ifaces, hostname)[0] ?? null;
}

// Home and office LANs first; container and VM bridges (docker0, virbr0, ...)
// last, because a friend on the LAN is never behind them.
const VIRTUAL_IFACE = /^(docker|br-|veth|virbr|vboxnet|vmnet|cni|flannel|podman|lxc|lxd)/;

function rank(i: InterfaceAddress): number {
  let r =
    i.family === "IPv4"
      ? isPrivateV4(i.address)
        ? 0
        : 1
      : i.address.toLowerCase().startsWith("fd") || i.address.toLowerCase().startsWith("fc")
        ? 2
        : 3;
  if (VIRTUAL_IFACE.test(i.iface)) r += 10;
  return r;
}

function isPrivateV4(a: string): boolean {
  const [x, y] = a.split(".").map(Number);
  return x === 10 || (x === 192 && y === 168) || (x === 172 && y >= 16 && y <= 31);
}

/** `scheme://host:port`, IPv6 in brackets. */
export function originFor(tls: boolean, host: string, port: number): string {
  return `${tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`;
}

export interface ShareOriginOptions {
  /** The address the bridge was asked to bind. */
  bindHost: string;
  tls: boolean;
  /** The port actually bound (known only once listening). */
  port: () => number;
  /** A fixed answer instead of one derived from the interfaces; null answers "none". */
  origin?: string | null;
}

/**
 * Returns a request handler that answers GET/HEAD /api/share-origin with
 * `{"origin": "https://192.168.1.20:7780"}` (or `{"origin": null}` when no
 * other machine can reach this bridge) and returns false for other paths.
 * Derived per request: laptops change networks while the bridge runs.
 */
export function createShareOriginHandler(
  o: ShareOriginOptions,
): (req: IncomingMessage, res: ServerResponse) => boolean {
  return (req, res) => {
    const url = req.url ?? "/";
    if ((url.split("?")[0] ?? "") !== SHARE_ORIGIN_PATH) return false;
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { Allow: "GET, HEAD", "Content-Type": "text/plain; charset=utf-8" });
      res.end("GET only\n");
      return true;
    }
    let origin: string | null;
    if (o.origin !== undefined) origin = o.origin;
    else {
      const host = preferredShareHost(o.bindHost, listInterfaces(), osHostname());
      origin = host === null ? null : originFor(o.tls, host, o.port());
    }
    const body = JSON.stringify({ origin }) + "\n";
    res.writeHead(200, {
      "Content-Type": "application/json; charset=utf-8",
      "Cache-Control": "no-store",
      "Content-Length": Buffer.byteLength(body),
      "X-Content-Type-Options": "nosniff",
    });
    res.end(req.method === "HEAD" ? undefined : body);
    return true;
  };
}
