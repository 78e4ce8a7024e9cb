// The bridge with a cluster's list of cores (`--core A,B,C`) against three
// real cores on ephemeral ports: WebSockets spread over the cores, a stopped
// or dead core is skipped, a browser whose core goes away is relayed to a live
// one when it reconnects, and when none answers the close reason says so.

import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startBridge, type RunningBridge } from "../../bridge/bridge";
import type { CoreServer } from "../../server/server";
import { startCore } from "../helpers/core";
import { runSealroom } from "../helpers/proc";
import { identity, join, type WirePeer } from "../helpers/wire";

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as net.AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

async function until(cond: () => boolean, what: string, ms = 5000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

async function cluster(n: number): Promise<CoreServer[]> {
  const cores: CoreServer[] = [];
  for (let i = 0; i < n; i++) {
    const c = await startCore();
    cores.push(c);
    cleanups.push(() => c.stop());
  }
  return cores;
}

async function bridgeTo(cores: { port: number }[]): Promise<{ bridge: RunningBridge; ws: string; log: string[] }> {
  const log: string[] = [];
  const bridge = await startBridge({
    host: "127.0.0.1",
    port: 0,
    cores: cores.map((c) => ({ host: "127.0.0.1", port: c.port })),
    web: "/nonexistent",
    log: (l) => log.push(l),
  });
  cleanups.push(() => bridge.stop());
  return { bridge, ws: `${bridge.url.replace("http", "ws")}/ws`, log };
}

async function member(ws: string, name: string, room: string, i: number): Promise<WirePeer> {
  const { peer } = await join(ws, { name, room, id: await identity(i) });
  cleanups.push(() => peer.close());
  return peer;
}

describe("bridge --core A,B,C", { timeout: 30_000 }, () => {
  it("spreads WebSockets over the cores in turn", async () => {
    const cores = await cluster(3);
    const { ws } = await bridgeTo(cores);
    for (let i = 0; i < 6; i++) await member(ws, `m${i}`, `spread${i}`, i);
    await until(() => cores.every((c) => c.connections === 2), "two members on each core");
    expect(cores.map((c) => c.connections)).toEqual([2, 2, 2]);
  });

  it("relays past a core that is not listening, and names the dead one in its log", async () => {
    const [b] = await cluster(1);
    const dead = await freePort();
    const { ws, log } = await bridgeTo([{ port: dead }, b]);
    await member(ws, "ann", "past-dead", 0);
    await member(ws, "bea", "past-dead", 1);
    expect(b.connections).toBe(2);
    expect(log.some((l) => l.includes(`core 127.0.0.1:${dead} failed (ECONNREFUSED)`))).toBe(true);
  });

  it("when a core stops, its members' WebSockets close and their reconnects land on live cores within 5 s", async () => {
    const cores = await cluster(3);
    const { ws } = await bridgeTo(cores);
    const peers: WirePeer[] = [];
    for (let i = 0; i < 3; i++) peers.push(await member(ws, `p${i}`, `fail${i}`, i));
    await until(() => cores.every((c) => c.connections === 1), "one member on each core");
    const t0 = Date.now();
    await cores[0].stop();
    await until(() => peers[0].closed, "the stopped core's member closed");
    // The browser reconnects through the bridge (as the web app's session does): every try gets a live core.
    const again: WirePeer[] = [];
    for (let i = 0; i < 4; i++) again.push(await member(ws, `back${i}`, `fail0`, 3 + i));
    const took = Date.now() - t0;
    expect(cores[0].connections).toBe(0);
    await until(() => cores[1].connections + cores[2].connections === 6, "all on the live cores");
    expect(cores[1].connections).toBe(3);
    expect(cores[2].connections).toBe(3);
    expect(took).toBeLessThan(5000);
    expect(peers[1].closed || peers[2].closed).toBe(false);
  });

  it("when no core answers, the WebSocket closes with 1011 naming every core", async () => {
    const ports = [await freePort(), await freePort()];
    const { ws } = await bridgeTo(ports.map((port) => ({ port })));
    const sock = new WebSocket(ws);
    sock.on("error", () => {});
    const [code, reason] = await new Promise<[number, string]>((r) =>
      sock.once("close", (c, why) => r([c, why.toString()])),
    );
    expect(code).toBe(1011);
    expect(reason).toBe(
      `core unreachable: all 2 cores failed: 127.0.0.1:${ports[0]} ECONNREFUSED, 127.0.0.1:${ports[1]} ECONNREFUSED`.slice(
        0,
        123,
      ),
    );
  });

  it("the bridge command takes the list and prints every core", async () => {
    const cores = await cluster(2);
    const list = cores.map((c) => `127.0.0.1:${c.port}`).join(",");
    const b = runSealroom(["bridge", "--port", "0", "--core", list, "--web", "/nonexistent"]);
    cleanups.push(() => b.child.kill("SIGKILL"));
    await b.waitFor(/relaying .* to cores /);
    expect(b.stdout()).toContain(`to cores 127.0.0.1:${cores[0].port}, 127.0.0.1:${cores[1].port}`);
    b.child.kill("SIGTERM");
    expect((await b.exited).code).toBe(0);
    const bad = runSealroom(["bridge", "--core", "127.0.0.1:1,127.0.0.1:1"]);
    expect((await bad.exited).code).toBe(2);
    expect(bad.stderr()).toContain("--core lists 127.0.0.1:1 twice");
  });
});
