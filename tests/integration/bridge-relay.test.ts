// The bridge's relay against the real core and against small in-test TCP
// servers (where a test needs a core that misbehaves on purpose).

import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startBridge, type RunningBridge } from "../../bridge/bridge";
import { decodeRaw, encodeJson } from "../../protocol/codec";
import { generateIdentity, makeHello } from "../../protocol/crypto";
import { FrameDecoder, KIND_CONTROL, KIND_VIDEO, encodeFrame } from "../../protocol/framing";
import { startCore } from "../helpers/core";

type Msg = { kind: number; body: Buffer };

/** A WebSocket client that records every message and its close. */
class WsPeer {
  readonly messages: Msg[] = [];
  closeInfo: { code: number; reason: string } | null = null;
  private waiters: (() => void)[] = [];

  constructor(readonly ws: WebSocket) {
    ws.on("message", (data: Buffer, isBinary) => {
      this.messages.push(isBinary ? { kind: data[0], body: data.subarray(1) } : { kind: -1, body: data });
      this.wake();
    });
    ws.on("close", (code, reason) => {
      this.closeInfo = { code, reason: reason.toString() };
      this.wake();
    });
    ws.on("error", () => {});
  }

  static open(url: string, opts: WebSocket.ClientOptions = {}): Promise<WsPeer> {
    return new Promise((resolve, reject) => {
      const ws = new WebSocket(url, opts);
      const peer = new WsPeer(ws);
      ws.once("open", () => resolve(peer));
      ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
      ws.once("error", reject);
    });
  }

  private wake(): void {
    const w = this.waiters;
    this.waiters = [];
    for (const f of w) f();
  }

  private async until<T>(get: () => T | undefined, what: string, timeoutMs = 5000): Promise<T> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const v = get();
      if (v !== undefined) return v;
      const left = deadline - Date.now();
      if (left <= 0)
        throw new Error(
          `timed out waiting for ${what}; got ${this.messages.length} messages, close ${JSON.stringify(this.closeInfo)}`,
        );
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  control(t: string, timeoutMs = 5000): Promise<Record<string, unknown>> {
    return this.until(
      () => {
        for (const m of this.messages) {
          if (m.kind !== KIND_CONTROL) continue;
          const r = decodeRaw(m.body);
          if (r.ok && r.raw.t === t) return r.raw;
        }
        return undefined;
      },
      `'${t}'`,
      timeoutMs,
    );
  }

  closed(timeoutMs = 5000): Promise<{ code: number; reason: string }> {
    return this.until(() => this.closeInfo ?? undefined, "close", timeoutMs);
  }

  sendControl(msg: object): void {
    const body = encodeJson(msg);
    const out = new Uint8Array(body.length + 1);
    out[0] = KIND_CONTROL;
    out.set(body, 1);
    this.ws.send(out);
  }
}

/** A TCP server speaking framing, for cores that misbehave on purpose. */
async function fakeCore(
  onSocket: (s: net.Socket) => unknown,
): Promise<{ port: number; sockets: net.Socket[]; accepted: () => number; stop: () => Promise<void> }> {
  const sockets: net.Socket[] = [];
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    sockets.push(s);
    s.on("error", () => {});
    void onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    sockets,
    accepted: () => accepted,
    stop: async () => {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

function controlFrame(msg: object): Uint8Array {
  return encodeFrame(KIND_CONTROL, encodeJson(msg));
}

async function eventually(check: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

async function bridgeTo(port: number, extra: Parameters<typeof startBridge>[0] = {}): Promise<RunningBridge> {
  const b = await startBridge({
    host: "127.0.0.1",
    port: 0,
    core: { host: "127.0.0.1", port },
    web: "/nonexistent",
    ...extra,
  });
  cleanups.push(() => b.stop());
  return b;
}

function wsUrl(b: RunningBridge, path = "/ws"): string {
  return `ws://127.0.0.1:${b.port}${path}`;
}

describe("bridge relay with the real core", () => {
  async function setup() {
    const core = await startCore();
    cleanups.push(() => core.stop());
    const bridge = await bridgeTo(core.port);
    return { core, bridge };
  }

  it("delivers the core's challenge and completes a hello/welcome", async () => {
    const { bridge } = await setup();
    const peer = await WsPeer.open(wsUrl(bridge));
    const ch = await peer.control("challenge");
    expect(ch.v).toBe(1);
    expect(typeof ch.nonce).toBe("string");
    const id = await generateIdentity();
    peer.sendControl(await makeHello(id, { nonce: ch.nonce as string, room: "bridge-room", name: "Alice" }));
    const welcome = await peer.control("welcome");
    expect(welcome.room).toBe("bridge-room");
    expect((welcome.members as unknown[]).length).toBe(1);
    peer.ws.close();
  });

  it("relays a client VIDEO frame faithfully; the core rejects it with bad_frame and the WebSocket closes 1000", async () => {
    const { bridge } = await setup();
    const peer = await WsPeer.open(wsUrl(bridge));
    await peer.control("challenge");
    peer.ws.send(Buffer.from([KIND_VIDEO, 1, 2, 3]));
    const err = await peer.control("error");
    expect(err.code).toBe("bad_frame");
    expect(err.fatal).toBe(true);
    expect((await peer.closed()).code).toBe(1000);
  });

  it("closes 1003 on a text message and ends the core connection", async () => {
    const { core, bridge } = await setup();
    const peer = await WsPeer.open(wsUrl(bridge));
    await peer.control("challenge");
    await eventually(() => core.connections === 1, "core to count the connection");
    peer.ws.send('{"t":"ping","ts":1}');
    expect((await peer.closed()).code).toBe(1003);
    await eventually(() => core.connections === 0, "core connection to end");
  });

  it("closes 1009 on a message over maxFrame and 1002 on an empty message", async () => {
    const { bridge } = await setup();
    const big = await WsPeer.open(wsUrl(bridge));
    await big.control("challenge");
    big.ws.send(Buffer.alloc(1_048_577, 1));
    expect((await big.closed()).code).toBe(1009);

    const empty = await WsPeer.open(wsUrl(bridge));
    await empty.control("challenge");
    empty.ws.send(Buffer.alloc(0));
    expect((await empty.closed()).code).toBe(1002);
  });

  it("a message of exactly maxFrame bytes is relayed (the core judges it)", async () => {
    const core = await startCore({ limits: { maxFrame: 4096 } });
    cleanups.push(() => core.stop());
    const bridge = await bridgeTo(core.port, { maxFrame: 4096 });
    const peer = await WsPeer.open(wsUrl(bridge));
    await peer.control("challenge");
    // kind + 4095 bytes of a JSON string: a well-formed but pre-hello frame.
    const body = Buffer.from(JSON.stringify({ t: "nope", pad: "x".repeat(4095 - 21) }));
    expect(body.length).toBe(4095);
    peer.ws.send(Buffer.concat([Buffer.from([KIND_CONTROL]), body]));
    const err = await peer.control("error");
    expect(err.code).toBe("bad_hello");
  });

  it("the TCP side closes when the WebSocket client terminates", async () => {
    const { core, bridge } = await setup();
    const peers = await Promise.all([WsPeer.open(wsUrl(bridge)), WsPeer.open(wsUrl(bridge))]);
    await Promise.all(peers.map((p) => p.control("challenge")));
    await eventually(() => core.connections === 2, "two core connections");
    peers[0].ws.terminate();
    await eventually(() => core.connections === 1, "the core connection of the terminated client to close");
    expect(peers[1].closeInfo).toBeNull();
    await eventually(() => bridge.stats().connections === 1, "bridge to forget the closed WebSocket");
  });

  it("the WebSocket closes when the core closes (core stops: 1000 after the core's last frames)", async () => {
    const core = await startCore();
    const bridge = await bridgeTo(core.port);
    const peer = await WsPeer.open(wsUrl(bridge));
    await peer.control("challenge");
    await core.stop();
    const c = await peer.closed();
    expect([1000, 1011]).toContain(c.code);
    expect(c.code).toBe(1000);
  });

  it("core unreachable: the WebSocket opens and closes 1011", async () => {
    const free = await fakeCore(() => {});
    const port = free.port;
    await free.stop();
    const logged: string[] = [];
    const bridge = await bridgeTo(port, { log: (l) => logged.push(l) });
    for (let i = 0; i < 3; i++) {
      const peer = await WsPeer.open(wsUrl(bridge));
      const c = await peer.closed();
      expect(c.code).toBe(1011);
      expect(c.reason).toMatch(/core unreachable: ECONNREFUSED/);
    }
    // The operator hears about it once, not once per browser.
    expect(logged).toEqual([`cannot reach the core: ECONNREFUSED (core 127.0.0.1:${port})`]);
  });
});

describe("bridge relay target is fixed by configuration", () => {
  it("/ws?target=... and Host tricks still connect to the configured core only", async () => {
    const decoy = await fakeCore(() => {});
    cleanups.push(decoy.stop);
    const core = await startCore();
    cleanups.push(() => core.stop());
    const bridge = await bridgeTo(core.port);
    const tricks = [
      `/ws?target=127.0.0.1:${decoy.port}`,
      `/ws?host=127.0.0.1&port=${decoy.port}`,
      `/ws?core=127.0.0.1:${decoy.port}&target=evil:22`,
    ];
    for (const path of tricks) {
      const peer = await WsPeer.open(wsUrl(bridge, path), { headers: { Host: `127.0.0.1:${decoy.port}` } });
      expect((await peer.control("challenge")).v).toBe(1);
      peer.ws.close();
    }
    // Other paths are not WebSocket endpoints at all.
    await expect(WsPeer.open(wsUrl(bridge, "/ws/other"))).rejects.toThrow("HTTP 404");
    await expect(WsPeer.open(wsUrl(bridge, `/ws/127.0.0.1:${decoy.port}`))).rejects.toThrow("HTTP 404");
    await expect(WsPeer.open(wsUrl(bridge, "/"))).rejects.toThrow("HTTP 404");
    await new Promise((r) => setTimeout(r, 100));
    expect(decoy.accepted()).toBe(0);
  });
});

describe("bridge relay with a misbehaving in-test core", () => {
  it("a core that sends a bad frame gets the WebSocket closed 1011", async () => {
    const fake = await fakeCore((s) => s.write(new Uint8Array([0, 0, 0, 2, 9, 9])));
    cleanups.push(fake.stop);
    const bridge = await bridgeTo(fake.port);
    const peer = await WsPeer.open(wsUrl(bridge));
    const c = await peer.closed();
    expect(c.code).toBe(1011);
    expect(c.reason).toMatch(/bad frame/);
  });

  it("frames split and merged arbitrarily by TCP come out as one message each, in order", async () => {
    const frames: Uint8Array[] = [];
    for (let i = 0; i < 200; i++) {
      frames.push(i % 3 === 0 ? encodeFrame(KIND_VIDEO, new Uint8Array(i * 37).fill(i)) : controlFrame({ t: "n", i }));
    }
    const all = Buffer.concat(frames);
    const fake = await fakeCore(async (s) => {
      // Odd-sized writes with pauses, so frames straddle TCP segments.
      for (let off = 0; off < all.length; off += 777) {
        s.write(all.subarray(off, off + 777));
        if (off % (777 * 20) === 0) await new Promise((r) => setTimeout(r, 2));
      }
      s.end();
    });
    cleanups.push(fake.stop);
    const bridge = await bridgeTo(fake.port);
    const peer = await WsPeer.open(wsUrl(bridge));
    expect((await peer.closed()).code).toBe(1000);
    expect(peer.messages.length).toBe(200);
    peer.messages.forEach((m, i) => {
      if (i % 3 === 0) {
        expect(m.kind).toBe(KIND_VIDEO);
        expect(m.body.length).toBe(i * 37);
        if (m.body.length) expect(m.body[m.body.length - 1]).toBe(i & 0xff);
      } else {
        expect(m.kind).toBe(KIND_CONTROL);
        const r = decodeRaw(m.body);
        expect(r.ok && r.raw.i).toBe(i);
      }
    });
  });

  it("browser frames reach the core with the right length prefix", async () => {
    const received: { kind: number; body: Buffer }[] = [];
    const fake = await fakeCore((s) => {
      const dec = new FrameDecoder({ maxFrame: 1_048_576, kinds: new Set([1, 2, 7]) });
      s.on("data", (d) => dec.push(d, (f) => received.push({ kind: f.kind, body: Buffer.from(f.body) })));
    });
    cleanups.push(fake.stop);
    const bridge = await bridgeTo(fake.port);
    const peer = await WsPeer.open(wsUrl(bridge));
    const sizes = [1, 2, 100, 65_536, 1_048_576];
    for (const n of sizes) {
      const m = Buffer.alloc(n, n & 0xff);
      m[0] = n === 100 ? 7 : KIND_CONTROL;
      peer.ws.send(m);
    }
    await eventually(() => received.length === sizes.length, "all frames at the core");
    expect(received.map((r) => r.body.length + 1)).toEqual(sizes);
    expect(received[2].kind).toBe(7);
    expect(received[4].body[1000]).toBe(1_048_576 & 0xff);
  });

  it("messages sent before the core connection is up are held, not lost", async () => {
    const received: number[] = [];
    const fake = await fakeCore((s) => {
      const dec = new FrameDecoder({ maxFrame: 1024, kinds: new Set([1]) });
      s.on("data", (d) => dec.push(d, (f) => received.push(f.body[0])));
    });
    cleanups.push(fake.stop);
    const bridge = await bridgeTo(fake.port);
    const ws = new WebSocket(wsUrl(bridge));
    ws.on("open", () => {
      for (let i = 0; i < 50; i++) ws.send(Buffer.from([KIND_CONTROL, i]));
    });
    cleanups.push(async () => ws.terminate());
    await eventually(() => received.length === 50, "50 frames at the core");
    expect(received).toEqual([...Array(50).keys()]);
  });

  it("a WebSocket reader that stops reading makes the bridge pause the core socket (memory stays bounded)", async () => {
    const frame = encodeFrame(KIND_VIDEO, new Uint8Array(65_536).fill(7));
    const want = 4000; // ~256 MiB if nothing pushed back
    let written = 0;
    let coreSock: net.Socket | null = null;
    const fake = await fakeCore((s) => {
      coreSock = s;
      const pump = () => {
        while (written < want) {
          written++;
          if (!s.write(frame)) return void s.once("drain", pump);
        }
        s.end();
      };
      pump();
    });
    cleanups.push(fake.stop);
    const hwm = 1_048_576;
    const bridge = await bridgeTo(fake.port, { highWaterMark: hwm });
    const ws = new WebSocket(wsUrl(bridge));
    let got = 0;
    let closeCode = 0;
    ws.on("message", () => got++);
    ws.on("close", (c) => (closeCode = c));
    await new Promise((r) => ws.once("open", r));
    ws.pause();
    // Let the pipeline fill up and settle.
    await eventually(() => bridge.stats().relays[0]?.tcpPaused === true, "bridge to pause the core socket");
    await new Promise((r) => setTimeout(r, 500));
    const stalledAt = written;
    await new Promise((r) => setTimeout(r, 500));
    const st = bridge.stats().relays[0];
    expect(st.tcpPaused).toBe(true);
    // The core got stuck long before it could write everything...
    expect(written).toBe(stalledAt);
    expect(written).toBeLessThan(want / 4);
    expect(coreSock!.writableLength).toBeGreaterThan(0);
    // ...and the bridge held at most the high-water mark plus one TCP read of frames.
    expect(st.peakWsBuffered).toBeLessThan(hwm + 2 * 1_048_576);
    expect(st.wsBuffered).toBeLessThan(hwm + 2 * 1_048_576);

    ws.resume();
    await eventually(() => closeCode !== 0, "the stream to finish", 60_000);
    expect(got).toBe(want);
    expect(closeCode).toBe(1000);
  }, 90_000);

  it("a core that stops reading makes the bridge pause the WebSocket (memory stays bounded)", async () => {
    let coreSock: net.Socket | null = null;
    let coreBytes = 0;
    const fake = await fakeCore((s) => {
      coreSock = s;
      s.pause();
    });
    cleanups.push(fake.stop);
    const bridge = await bridgeTo(fake.port);
    const ws = new WebSocket(wsUrl(bridge));
    await new Promise((r) => ws.once("open", r));
    await eventually(() => coreSock !== null, "core connection");
    const msg = Buffer.alloc(65_536, 1);
    msg[0] = KIND_CONTROL;
    // Offer 256 MiB; the client's own buffer grows while the bridge pushes back.
    let sent = 0;
    const offer = () => {
      while (sent < 4096 && ws.bufferedAmount < 8 * 1_048_576) {
        ws.send(msg);
        sent++;
      }
    };
    const timer = setInterval(offer, 5);
    cleanups.push(async () => clearInterval(timer));
    await eventually(() => bridge.stats().relays[0]?.wsPaused === true, "bridge to pause the WebSocket");
    await new Promise((r) => setTimeout(r, 500));
    const st = bridge.stats().relays[0];
    expect(st.wsPaused).toBe(true);
    expect(st.peakTcpBuffered).toBeLessThan(4 * 1_048_576);
    expect(sent).toBeLessThan(4096);
    clearInterval(timer);
    // The core starts reading: everything sent so far arrives.
    const target = sent;
    coreSock!.on("data", (d: Buffer) => (coreBytes += d.length));
    coreSock!.resume();
    offer();
    await eventually(() => coreBytes === target * (65_536 + 4), `all ${target} frames at the core`, 30_000);
    expect(bridge.stats().relays[0].wsPaused).toBe(false);
  }, 60_000);
});
