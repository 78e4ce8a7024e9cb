// Which client address a request stands for, behind reverse proxies named
// with --trust-proxy. Pure functions over address strings, testable alone.
//
// X-Forwarded-For is believed only when the peer that sent it is trusted,
// and then only as far as the chain of trusted hops goes: walking the list
// right to left (the right-most entry was appended by the nearest proxy), the
// client is the first address that is not itself a trusted proxy. Everything
// to the left of it was written by that untrusted party and is ignored. By
// default nobody is trusted and the header is ignored.

import { isIPv4, isIPv6 } from "node:net";

/** An address as 16 bytes: IPv4 as IPv4-mapped IPv6 (::ffff:a.b.c.d), so one CIDR form covers both. */
type Bytes = Uint8Array;

export interface Cidr {
  bytes: Bytes;
  /** Prefix length over the 128-bit form. */
  prefix: number;
  /** As written, for messages. */
  text: string;
}

/** `ADDR` or `ADDR/PREFIX` (IPv4 or IPv6); null when malformed. An IPv4 prefix counts IPv4 bits. */
export function parseCidr(value: string): Cidr | null {
  const text = value.trim();
  const slash = text.indexOf("/");
  const addr = slash === -1 ? text : text.slice(0, slash);
  const bytes = ipBytes(addr);
  if (bytes === null) return null;
  const v4 = isIPv4(addr);
  const width = v4 ? 32 : 128;
  let prefix = width;
  if (slash !== -1) {
    const p = text.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > width) return null;
    prefix = Number(p);
  }
  return { bytes: masked(bytes, v4 ? prefix + 96 : prefix), prefix: v4 ? prefix + 96 : prefix, text };
}

/** The 16-byte form of an IPv4 or IPv6 address (zone index dropped), or null. */
export function ipBytes(address: string): Bytes | null {
  let a = address.trim();
  const zone = a.indexOf("%");
  if (zone !== -1) a = a.slice(0, zone);
  const out = new Uint8Array(16);
  if (isIPv4(a)) {
    out[10] = 0xff;
    out[11] = 0xff;
    a.split(".").forEach((p, i) => (out[12 + i] = Number(p)));
    return out;
  }
  if (!isIPv6(a)) return null;
  let groups: number[] = [];
  const lastColon = a.lastIndexOf(":");
  let tail: number[] = [];
  if (a.slice(lastColon + 1).includes(".")) {
    // A dotted IPv4 tail stands for the last two groups (isIPv6 checked its form).
    const [b0, b1, b2, b3] = a
      .slice(lastColon + 1)
      .split(".")
      .map(Number);
    tail = [(b0 << 8) | b1, (b2 << 8) | b3];
    a = a.slice(0, lastColon + 1) + "0:0";
  }
  const halves = a.split("::");
  const part = (s: string) => (s === "" ? [] : s.split(":").map((g) => parseInt(g, 16)));
  const left = part(halves[0]);
  const right = halves.length === 2 ? part(halves[1]) : [];
  groups = [...left, ...Array<number>(8 - left.length - right.length).fill(0), ...right];
  if (tail.length) groups.splice(6, 2, ...tail);
  groups.forEach((g, i) => {
    out[2 * i] = g >> 8;
    out[2 * i + 1] = g & 0xff;
  });
  return out;
}

function masked(bytes: Bytes, prefix: number): Bytes {
  const out = new Uint8Array(16);
  for (let i = 0; i < 16; i++) {
    const bits = Math.max(0, Math.min(8, prefix - 8 * i));
    out[i] = bytes[i] & ((0xff << (8 - bits)) & 0xff);
  }
  return out;
}

export function cidrContains(cidr: Cidr, address: string): boolean {
  const b = ipBytes(address);
  if (b === null) return false;
  const m = masked(b, cidr.prefix);
  return m.every((x, i) => x === cidr.bytes[i]);
}

/** Canonical text of an address: IPv4 (also when IPv4-mapped) dotted, IPv6 compressed lowercase. */
export function canonicalAddress(address: string): string | null {
  const b = ipBytes(address);
  if (b === null) return null;
  if (b.subarray(0, 10).every((x) => x === 0) && b[10] === 0xff && b[11] === 0xff)
    return `${b[12]}.${b[13]}.${b[14]}.${b[15]}`;
  const groups = Array.from({ length: 8 }, (_, i) => (b[2 * i] << 8) | b[2 * i + 1]);
  // The longest run of two or more zero groups becomes "::" (RFC 5952).
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (best === -1) return hex.join(":");
  return `${hex.slice(0, best).join(":")}::${hex.slice(best + bestLen).join(":")}`;
}

/**
 * One X-Forwarded-For entry as an address: a bare address, `[v6]`, `[v6]:port`
 * or `v4:port` (some proxies append the port); null for anything else
 * ("unknown", obfuscated identifiers, garbage).
 */
export function forwardedEntry(entry: string): string | null {
  let e = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d{1,5})?$/.exec(e);
  if (bracketed) e = bracketed[1];
  else if (/^\d{1,3}(\.\d{1,3}){3}:\d{1,5}$/.test(e)) e = e.slice(0, e.lastIndexOf(":"));
  return canonicalAddress(e);
}

export class TrustedProxies {
  private readonly list: readonly Cidr[];

  /** Throws on a malformed entry (main.ts turns it into a usage error first). */
  constructor(entries: readonly string[] = []) {
    this.list = entries.map((e) => {
      const c = parseCidr(e);
      if (c === null) throw new Error(`not an address or CIDR: '${e}'`);
      return c;
    });
  }

  get none(): boolean {
    return this.list.length === 0;
  }

  trusts(address: string): boolean {
    return this.list.some((c) => cidrContains(c, address));
  }

  /**
   * The client a request stands for: the peer itself unless it is a trusted
   * proxy, else the right-most X-Forwarded-For entry that is not a trusted
   * proxy. An unparseable entry ends the walk at the hop that wrote it.
   */
  clientAddress(peer: string | undefined, forwardedFor: string | string[] | undefined): string {
    const start = peer === undefined ? "unknown" : (canonicalAddress(peer) ?? peer);
    if (this.none || forwardedFor === undefined || peer === undefined || !this.trusts(peer)) return start;
    // Several X-Forwarded-For headers count as one comma-joined list (RFC 9110 5.3).
    const entries = (Array.isArray(forwardedFor) ? forwardedFor.join(",") : forwardedFor).split(",");
    let client = start;
    for (let i = entries.length - 1; i >= 0; i--) {
      if (!this.trusts(client)) break;
      const next = forwardedEntry(entries[i]);
      if (next === null) break;
      client = next;
    }
    return client;
  }
}
