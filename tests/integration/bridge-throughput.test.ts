// Relay throughput through the bridge vs. the same reader straight on TCP.
// Numbers are printed, not asserted (the machine is shared); what is asserted
// is that every byte arrives intact and in order.
//
//   npx vitest run tests/integration/bridge-throughput.test.ts
// (BRIDGE_BENCH_MIB=512 for a longer run)

import net from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { startBridge } from "../../bridge/bridge";
import { FrameDecoder, KIND_CONTROL, KIND_VIDEO, encodeFrame } from "../../protocol/framing";

const MIB = Number(process.env.BRIDGE_BENCH_MIB ?? 128);
const BODY = 65_536 + 16; // a full video chunk
const FRAMES = Math.ceil((MIB * 1_048_576) / BODY);

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** A core that streams FRAMES video frames (each stamped with its index) to every connection, then ends. */
async function sender(): Promise<number> {
  const server = net.createServer((s) => {
    s.on("error", () => {});
    let i = 0;
    const pump = () => {
      while (i < FRAMES) {
        const body = new Uint8Array(BODY);
        new DataView(body.buffer).setUint32(0, i);
        i++;
        if (!s.write(encodeFrame(KIND_VIDEO, body))) return void s.once("drain", pump);
      }
      s.end();
    };
    pump();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

/** A core that counts the bytes of frames it receives. */
async function receiver(onFrames: (n: number, bytes: number) => void): Promise<number> {
  const server = net.createServer((s) => {
    s.on("error", () => {});
    let n = 0;
    let bytes = 0;
    const dec = new FrameDecoder({ maxFrame: 1_048_576, kinds: new Set([KIND_CONTROL]) });
    s.on("data", (d) => {
      dec.push(d, (f) => {
        n++;
        bytes += f.body.length + 1;
      });
      onFrames(n, bytes);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise((r) => server.close(() => r())));
  return (server.address() as net.AddressInfo).port;
}

function mbps(bytes: number, ms: number): string {
  return (bytes / 1_048_576 / (ms / 1000)).toFixed(0);
}

describe("relay throughput", () => {
  it("core -> browser: direct TCP vs. through the bridge", async () => {
    const port = await sender();

    const t0 = performance.now();
    const direct = await new Promise<number>((resolve, reject) => {
      let n = 0;
      let expectNext = 0;
      const dec = new FrameDecoder({ maxFrame: 1_048_576, kinds: new Set([KIND_VIDEO]) });
      const s = net.connect(port, "127.0.0.1");
      s.on("data", (d) =>
        dec.push(d, (f) => {
          if (new DataView(f.body.buffer, f.body.byteOffset).getUint32(0) !== expectNext++)
            reject(new Error("out of order"));
          n++;
        }),
      );
      s.on("end", () => resolve(n));
      s.on("error", reject);
    });
    const directMs = performance.now() - t0;
    expect(direct).toBe(FRAMES);

    const bridge = await startBridge({ port: 0, core: { host: "127.0.0.1", port } });
    cleanups.push(() => bridge.stop());
    const t1 = performance.now();
    const relayed = await new Promise<number>((resolve, reject) => {
      let n = 0;
      const ws = new WebSocket(`ws://127.0.0.1:${bridge.port}/ws`);
      ws.on("message", (d: Buffer) => {
        if (d[0] !== KIND_VIDEO || d.length !== BODY + 1 || d.readUInt32BE(1) !== n)
          reject(new Error(`bad message ${n}`));
        n++;
      });
      ws.on("close", (code) => (code === 1000 ? resolve(n) : reject(new Error(`closed ${code}`))));
      ws.on("error", reject);
    });
    const bridgeMs = performance.now() - t1;
    expect(relayed).toBe(FRAMES);
    const bytes = FRAMES * (BODY + 5);
    console.log(
      `core->browser ${MIB} MiB in ${BODY}-byte frames: direct TCP ${mbps(bytes, directMs)} MB/s (${directMs.toFixed(0)} ms), ` +
        `through the bridge ${mbps(bytes, bridgeMs)} MB/s (${bridgeMs.toFixed(0)} ms)`,
    );
  }, 120_000);

  it("browser -> core: 64 KiB frames through the bridge", async () => {
    const total = Math.ceil((MIB / 4) * 16); // MIB/4 MiB of 64 KiB frames
    let resolveDone!: () => void;
    const done = new Promise<void>((r) => (resolveDone = r));
    let gotBytes = 0;
    const port = await receiver((n, bytes) => {
      gotBytes = bytes;
      if (n === total) resolveDone();
    });
    const bridge = await startBridge({ port: 0, core: { host: "127.0.0.1", port } });
    cleanups.push(() => bridge.stop());
    const ws = new WebSocket(`ws://127.0.0.1:${bridge.port}/ws`);
    cleanups.push(async () => ws.terminate());
    await new Promise((r) => ws.once("open", r));
    const msg = Buffer.alloc(65_536, 0x20);
    msg[0] = KIND_CONTROL;
    const t0 = performance.now();
    let sent = 0;
    await new Promise<void>((resolve) => {
      const pump = () => {
        while (sent < total && ws.bufferedAmount < 4 * 1_048_576) {
          ws.send(msg);
          sent++;
        }
        if (sent < total) setImmediate(pump);
        else resolve();
      };
      pump();
    });
    await done;
    const ms = performance.now() - t0;
    expect(gotBytes).toBe(total * 65_536);
    console.log(
      `browser->core ${(total / 16).toFixed(0)} MiB in 64 KiB frames through the bridge: ${mbps(total * 65_540, ms)} MB/s (${ms.toFixed(0)} ms)`,
    );
  }, 120_000);
});
