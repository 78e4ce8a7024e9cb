// Counts open WebSockets per client address so one client cannot take all of
// the bridge (docs/protocol.md section 10). IPv4 (and IPv4-mapped IPv6) addresses
// count one by one; IPv6 addresses count per /64, because one IPv6 host
// usually controls a whole /64 and could otherwise rotate addresses.

export function addressKey(remote: string | undefined): string {
  if (!remote) return "unknown";
  let a = remote.toLowerCase();
  const zone = a.indexOf("%");
  if (zone !== -1) a = a.slice(0, zone);
  if (a.startsWith("::ffff:") && a.includes(".")) return a.slice(7);
  if (!a.includes(":")) return a;
  const groups = expandV6(a);
  return groups ? `${groups.slice(0, 4).join(":")}::/64` : a;
}

/** The eight 16-bit groups of an IPv6 address as hex strings, or null if malformed. */
function expandV6(a: string): string[] | null {
  let tail: string[] = [];
  const lastColon = a.lastIndexOf(":");
  if (a.slice(lastColon + 1).includes(".")) {
    // A dotted IPv4 tail stands for the last two groups.
    const parts = a
      .slice(lastColon + 1)
      .split(".")
      .map(Number);
    if (parts.length !== 4 || parts.some((n) => !Number.isInteger(n) || n < 0 || n > 255)) return null;
    tail = [((parts[0] << 8) | parts[1]).toString(16), ((parts[2] << 8) | parts[3]).toString(16)];
    a = a.slice(0, lastColon + 1) + "0:0";
  }
  const halves = a.split("::");
  if (halves.length > 2) return null;
  const left = halves[0] ? halves[0].split(":") : [];
  const right = halves.length === 2 && halves[1] ? halves[1].split(":") : [];
  const missing = 8 - left.length - right.length;
  if (halves.length === 1 ? missing !== 0 : missing < 0) return null;
  const groups = [...left, ...Array<string>(Math.max(missing, 0)).fill("0"), ...right];
  if (groups.length !== 8 || groups.some((g) => !/^[0-9a-f]{1,4}$/.test(g))) return null;
  if (tail.length) groups.splice(6, 2, ...tail);
  return groups.map((g) => g.replace(/^0+(?=.)/, ""));
}

export class AddressCounter {
  private readonly counts = new Map<string, number>();
  private total = 0;

  get size(): number {
    return this.total;
  }

  count(key: string): number {
    return this.counts.get(key) ?? 0;
  }

  /** Returns a release function that must be called exactly once. */
  add(key: string): () => void {
    this.counts.set(key, this.count(key) + 1);
    this.total++;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.total--;
      const n = this.count(key) - 1;
      if (n <= 0) this.counts.delete(key);
      else this.counts.set(key, n);
    };
  }
}
