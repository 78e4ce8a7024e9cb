// Browser -> core (bridge/relayToCore.ts) behind its ports: a fake WebSocket
// that records pause/resume, and a node:stream Writable whose writes complete
// only when the test says so (a core that is not reading).

import { Writable } from "node:stream";
import { describe, expect, it } from "vitest";
import { CLOSE } from "../../bridge/relayClose";
import { ToCore } from "../../bridge/relayToCore";

class FakeBrowser {
  calls: ("pause" | "resume")[] = [];
  pause(): void {
    this.calls.push("pause");
  }
  resume(): void {
    this.calls.push("resume");
  }
}

/** A core socket's write side: records each writev batch; holds completions until release(). */
function fakeCore(highWaterMark: number) {
  const batches: Buffer[][] = [];
  const held: (() => void)[] = [];
  const core = new Writable({
    highWaterMark,
    write(chunk: Buffer, _enc, cb) {
      batches.push([chunk]);
      held.push(() => cb());
    },
    writev(chunks, cb) {
      batches.push(chunks.map((c) => c.chunk as Buffer));
      held.push(() => cb());
    },
  });
  const release = () => {
    while (held.length) held.shift()!();
  };
  return { core, batches, release };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

function message(n: number, fill = 7): Buffer {
  const m = Buffer.alloc(n, fill);
  m[0] = 0x01;
  return m;
}

describe("ToCore: frames", () => {
  it("writes the 4-byte length and then the message itself, in one writev, without copying it", () => {
    const { core, batches } = fakeCore(1 << 20);
    const toCore = new ToCore(new FakeBrowser(), core);
    const msg = message(300);
    expect(toCore.relay(msg, true)).toBeNull();
    expect(batches).toHaveLength(1);
    const [head, body] = batches[0];
    expect([...head]).toEqual([0, 0, 1, 44]);
    expect(body).toBe(msg);
    expect(toCore.stats()).toEqual({ frames: 1, bytes: 304, peakBuffered: 304, paused: false });
  });

  it("refuses a text message with 1003 and an empty one with 1002, writing nothing", () => {
    const { core, batches } = fakeCore(1 << 20);
    const toCore = new ToCore(new FakeBrowser(), core);
    expect(toCore.relay(Buffer.from('{"t":"ping"}'), false)).toEqual({
      code: CLOSE.unsupportedData,
      reason: expect.stringMatching(/text messages/),
    });
    expect(toCore.relay(Buffer.alloc(0), true)).toEqual({
      code: CLOSE.protocolError,
      reason: expect.stringMatching(/empty message/),
    });
    expect(batches).toHaveLength(0);
    expect(toCore.stats().frames).toBe(0);
  });

  it("after stop() nothing more is written", () => {
    const { core, batches } = fakeCore(1 << 20);
    const toCore = new ToCore(new FakeBrowser(), core);
    toCore.stop();
    expect(toCore.relay(message(10), true)).toBeNull();
    expect(toCore.relay(Buffer.from("text"), false)).toBeNull();
    expect(batches).toHaveLength(0);
  });
});

describe("ToCore: backpressure", () => {
  it("pauses the WebSocket once when the core's buffer is full and resumes it on 'drain'", async () => {
    const { core, release } = fakeCore(1000);
    const browser = new FakeBrowser();
    const toCore = new ToCore(browser, core);
    toCore.relay(message(400), true);
    expect(browser.calls).toEqual([]);
    toCore.relay(message(400), true); // 808 queued: still under 1000
    expect(browser.calls).toEqual([]);
    toCore.relay(message(400), true); // 1212 queued: write() says stop
    expect(browser.calls).toEqual(["pause"]);
    expect(toCore.stats().paused).toBe(true);
    // Messages already on their way are still written (the WebSocket layer
    // may hand over a few before the pause takes effect), without pausing again.
    toCore.relay(message(400), true);
    expect(browser.calls).toEqual(["pause"]);
    expect(toCore.stats()).toMatchObject({ frames: 4, bytes: 4 * 404, peakBuffered: 4 * 404 });

    release(); // the core reads
    await tick();
    release();
    await tick();
    expect(browser.calls).toEqual(["pause", "resume"]);
    expect(toCore.stats().paused).toBe(false);

    // And it can happen again.
    for (let i = 0; i < 3; i++) toCore.relay(message(400), true);
    expect(browser.calls).toEqual(["pause", "resume", "pause"]);
  });

  it("a 'drain' after stop() does not resume the WebSocket (the relay is closing)", async () => {
    const { core, release } = fakeCore(100);
    const browser = new FakeBrowser();
    const toCore = new ToCore(browser, core);
    toCore.relay(message(200), true);
    expect(browser.calls).toEqual(["pause"]);
    toCore.stop();
    release();
    await tick();
    expect(core.writableLength).toBe(0);
    expect(browser.calls).toEqual(["pause"]);
    expect(toCore.stats().paused).toBe(false);
  });
});
