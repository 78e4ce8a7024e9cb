// Behind a reverse proxy (issue 9 part 5): X-Forwarded-For is believed only
// from --trust-proxy peers, and the believed client is what the per-address
// cap counts and the log names. Real core, real bridge, real sockets.

import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startBridge, type BridgeOptions, type RunningBridge } from "../../bridge/bridge";
import { startCore } from "../helpers/core";

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

const CAP = 3;

async function bridge(extra: BridgeOptions): Promise<RunningBridge> {
  const core = await startCore();
  cleanups.push(() => core.stop());
  const b = await startBridge({
    host: "127.0.0.1",
    port: 0,
    core: { host: "127.0.0.1", port: core.port },
    maxPerAddress: CAP,
    web: "/nonexistent",
    ...extra,
  });
  cleanups.push(() => b.stop());
  return b;
}

/** Opens a WebSocket with the given X-Forwarded-For; "open" after the core's first frame, or the refusal status. */
function open(b: RunningBridge, xff: string | undefined, localAddress = "127.0.0.1"): Promise<"open" | number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${b.port}/ws`, {
      localAddress,
      ...(xff === undefined ? {} : { headers: { "X-Forwarded-For": xff } }),
    });
    ws.once("message", () => {
      // Kept open until the test ends: the cap counts open WebSockets.
      cleanups.push(() => ws.terminate());
      resolve("open");
    });
    ws.once("unexpected-response", (_req, res) => {
      res.resume();
      ws.terminate();
      resolve(res.statusCode ?? 0);
    });
    ws.once("error", reject);
  });
}

async function openSeq(
  b: RunningBridge,
  xffs: (string | undefined)[],
  localAddress?: string,
): Promise<("open" | number)[]> {
  const out: ("open" | number)[] = [];
  for (const x of xffs) out.push(await open(b, x, localAddress));
  return out;
}

describe("--trust-proxy", () => {
  it("a forged X-Forwarded-For from an untrusted peer is ignored: the cap counts the real peer", async () => {
    const logged: string[] = [];
    const b = await bridge({ log: (l) => logged.push(l) });
    // Each claims a different client; all are 127.0.0.1 to the bridge.
    const r = await openSeq(b, ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4", undefined]);
    expect(r).toEqual(["open", "open", "open", 429, 429]);
    expect(logged).toEqual([`refused a WebSocket over the per-address cap (${CAP}) from 127.0.0.1`]);
    // Trusting some other proxy does not make this peer's header believed either.
    const other = await bridge({ trustProxies: ["10.0.0.0/8", "::1"] });
    expect(await openSeq(other, ["203.0.113.1", "203.0.113.2", "203.0.113.3", "203.0.113.4"])).toEqual([
      "open",
      "open",
      "open",
      429,
    ]);
  });

  it("from a trusted proxy, two forwarded clients get separate caps; a forged left part is ignored", async () => {
    const logged: string[] = [];
    const b = await bridge({ trustProxies: ["127.0.0.1"], log: (l) => logged.push(l) });
    const a = "198.51.100.7";
    const c = "2001:db8:1:2::9";
    // Client a, with and without a forged entry it wrote itself in front.
    expect(await openSeq(b, [a, `6.6.6.6, ${a}`, `6.6.6.7, ${a}`, a])).toEqual(["open", "open", "open", 429]);
    expect(logged).toEqual([`refused a WebSocket over the per-address cap (${CAP}) from ${a}`]);
    // Client c is counted apart (an IPv6 client: per /64, so another address in it shares the count).
    expect(await openSeq(b, [c, c, "2001:db8:1:2::10", c, "2001:db8:1:3::1"])).toEqual([
      "open",
      "open",
      "open",
      429,
      "open",
    ]);
    // The proxy itself without a header is one more client of its own.
    expect(await openSeq(b, [undefined, undefined, undefined, undefined])).toEqual(["open", "open", "open", 429]);
    expect(b.stats().connections).toBe(3 + 4 + 3);
  });

  it("a CIDR rule trusts each peer inside it and no one outside", async () => {
    const b = await bridge({ trustProxies: ["127.0.0.0/30"] });
    // 127.0.0.2 is inside 127.0.0.0/30: its header is believed.
    expect(await openSeq(b, ["192.0.2.1", "192.0.2.2", "192.0.2.3", "192.0.2.4"], "127.0.0.2")).toEqual([
      "open",
      "open",
      "open",
      "open",
    ]);
    // 127.0.0.5 is not: all four count as 127.0.0.5.
    expect(await openSeq(b, ["192.0.2.1", "192.0.2.5", "192.0.2.6", "192.0.2.7"], "127.0.0.5")).toEqual([
      "open",
      "open",
      "open",
      429,
    ]);
  });
});
