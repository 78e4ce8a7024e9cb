// The relay's life (bridge/relay.ts startRelay) behind its ports, no sockets:
// a fake WebSocket that records what the relay does to it, a node:stream
// Duplex as the core connection, and a dialer the test resolves or rejects.
// Covers each way a relay ends: a close during dialing, a close while
// closing, the second close ignored, the dial failing or finishing too late,
// the browser leaving, the core ending (cleanly, mid-frame, with an error).

import { EventEmitter } from "node:events";
import { Duplex, PassThrough } from "node:stream";
import { describe, expect, it } from "vitest";
import type { RawData } from "ws";
import { CLOSE, startRelay, type CoreDialer, type RelayOptions } from "../../bridge/relay";
import { KIND_CONTROL, KIND_VIDEO, encodeFrame } from "../../protocol/framing";

/** What the relay needs of a ws WebSocket; close() behaves like ws's (CLOSING until the browser answers). */
class FakeWs extends EventEmitter {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  binaryType: "nodebuffer" | "arraybuffer" | "fragments" = "arraybuffer";
  paused = false;
  resumes = 0;
  readonly closes: { code: number; reason: string }[] = [];
  readonly sent: Uint8Array[] = [];
  pause(): void {
    this.paused = true;
  }
  resume(): void {
    this.paused = false;
    this.resumes++;
  }
  send(data: Uint8Array): void {
    this.sent.push(data);
  }
  close(code: number, reason: string): void {
    this.closes.push({ code, reason });
    this.readyState = 2;
  }
  /** The browser sends a message. */
  message(data: RawData, isBinary = true): void {
    this.emit("message", data, isBinary);
  }
  /** The closing handshake completes (or the browser went away). */
  gone(): void {
    this.readyState = 3;
    this.emit("close", 1000, Buffer.alloc(0));
  }
}

/** A core connection: records what the relay writes; the test pushes what the core sends. */
class FakeCore extends Duplex {
  readonly written: Buffer[] = [];
  ended = false;
  constructor() {
    super({ read() {} });
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: () => void): void {
    this.written.push(chunk);
    cb();
  }
  override _final(cb: () => void): void {
    this.ended = true;
    cb();
  }
}

/** A dialer whose one dial the test settles. */
function manualDialer() {
  let settle: { resolve: (s: FakeCore) => void; reject: (e: Error) => void } | null = null;
  let signal: AbortSignal | null = null;
  const dial: CoreDialer = (sig) =>
    new Promise((resolve, reject) => {
      signal = sig;
      settle = { resolve, reject };
    });
  return {
    dial,
    signal: () => signal!,
    resolve: (s: FakeCore) => settle!.resolve(s),
    reject: (e: Error) => settle!.reject(e),
  };
}

const tick = () => new Promise<void>((r) => setImmediate(r));

function setup(extra: Partial<RelayOptions> = {}) {
  const ws = new FakeWs();
  const raw = new PassThrough();
  const dialer = manualDialer();
  const trouble: string[] = [];
  const relay = startRelay(ws, raw, dialer.dial, {
    maxFrame: 4096,
    highWaterMark: 1 << 20,
    lingerMs: 5000,
    onCoreTrouble: (m) => trouble.push(m),
    ...extra,
  });
  let isClosed = false;
  void relay.closed.then(() => (isClosed = true));
  return { ws, dialer, relay, trouble, closed: () => isClosed };
}

async function opened(extra: Partial<RelayOptions> = {}) {
  const t = setup(extra);
  const core = new FakeCore();
  t.dialer.resolve(core);
  await tick();
  return { ...t, core };
}

describe("relay: dialing", () => {
  it("holds the browser (paused, binary as Buffers) until the core is connected, and has zero stats", async () => {
    const { ws, relay, dialer } = setup();
    expect(ws.paused).toBe(true);
    expect(ws.binaryType).toBe("nodebuffer");
    expect(relay.stats()).toMatchObject({
      framesToCore: 0,
      framesToBrowser: 0,
      tcpBuffered: 0,
      wsPaused: false,
      tcpPaused: false,
    });
    ws.message(Buffer.from([KIND_CONTROL, 1])); // cannot happen while paused; dropped if it does
    dialer.resolve(new FakeCore());
    await tick();
    expect(ws.paused).toBe(false);
    expect(relay.stats().framesToCore).toBe(0);
  });

  it("a close during dialing closes the browser once, aborts the dial, and is closed when both are done", async () => {
    const { ws, relay, dialer, trouble, closed } = setup();
    relay.close(CLOSE.goingAway, "bridge is shutting down");
    expect(ws.closes).toEqual([{ code: 1001, reason: "bridge is shutting down" }]);
    expect(ws.paused).toBe(false); // the browser's close frame must be read
    expect(dialer.signal().aborted).toBe(true);
    dialer.reject(new Error("aborted"));
    await tick();
    expect(closed()).toBe(false);
    ws.gone();
    await tick();
    expect(closed()).toBe(true);
    expect(ws.closes).toHaveLength(1);
    expect(trouble).toEqual([]); // the operator hears nothing of a dial the relay gave up itself
  });

  it("a dial that succeeds after the close began is dropped", async () => {
    const { ws, relay, dialer, closed } = setup();
    relay.close(CLOSE.goingAway, "bridge is shutting down");
    ws.gone();
    const late = new FakeCore();
    dialer.resolve(late); // won the race against the abort
    await tick();
    expect(late.destroyed).toBe(true);
    expect(closed()).toBe(true);
    expect(relay.stats().tcpBuffered).toBe(0);
  });

  it("the browser leaving during dialing aborts the dial; closed once the dial gives up", async () => {
    const { ws, dialer, closed } = setup();
    ws.gone();
    expect(dialer.signal().aborted).toBe(true);
    expect(ws.closes).toEqual([]);
    await tick();
    expect(closed()).toBe(false);
    dialer.reject(new Error("aborted"));
    await tick();
    expect(closed()).toBe(true);
  });

  it("a failed dial closes the browser 1011 and tells the operator once", async () => {
    const { ws, dialer, trouble, closed, relay } = setup();
    dialer.reject(new Error("ECONNREFUSED"));
    await tick();
    expect(trouble).toEqual(["cannot reach the core: ECONNREFUSED"]);
    expect(ws.closes).toEqual([{ code: 1011, reason: "core unreachable: ECONNREFUSED" }]);
    relay.close(CLOSE.goingAway, "bridge is shutting down"); // a close while closing
    expect(ws.closes).toHaveLength(1);
    ws.gone();
    await tick();
    expect(closed()).toBe(true);
  });
});

describe("relay: open and closing", () => {
  it("relays both ways and counts the bytes", async () => {
    const { ws, core, relay } = await opened();
    ws.message(Buffer.from([KIND_CONTROL, 0x7b, 0x7d]));
    await tick();
    expect(Buffer.concat(core.written)).toEqual(Buffer.from([0, 0, 0, 3, KIND_CONTROL, 0x7b, 0x7d]));
    core.push(Buffer.from(encodeFrame(KIND_VIDEO, new Uint8Array(10).fill(5))));
    await tick();
    expect(ws.sent).toHaveLength(1);
    expect(ws.sent[0].length).toBe(11);
    expect(relay.stats()).toMatchObject({ framesToCore: 1, bytesToCore: 7, framesToBrowser: 1, bytesToBrowser: 11 });
  });

  it("the second close is ignored: one close frame, the core ended once, nothing relayed after the first", async () => {
    const { ws, core, relay, closed } = await opened();
    relay.close(CLOSE.normal, "first");
    const resumes = ws.resumes;
    relay.close(CLOSE.internalError, "second");
    expect(ws.closes).toEqual([{ code: 1000, reason: "first" }]);
    expect(ws.resumes).toBe(resumes);
    await tick();
    expect(core.ended).toBe(true);
    // Messages before the browser's answering close frame are dropped, both ways.
    ws.message(Buffer.from([KIND_CONTROL, 1]));
    core.push(Buffer.from(encodeFrame(KIND_CONTROL, Buffer.from("{}"))));
    await tick();
    expect(core.written).toHaveLength(0);
    expect(ws.sent).toHaveLength(0);
    ws.gone();
    core.push(null); // the core answers the FIN
    await tick();
    expect(closed()).toBe(true);
    relay.close(CLOSE.goingAway, "after closed");
    expect(ws.closes).toHaveLength(1);
  });

  it("bad input from the browser: a text message closes 1003 and ends the core side", async () => {
    const { ws, core } = await opened();
    ws.message(Buffer.from('{"t":"ping"}'), false);
    expect(ws.closes).toEqual([{ code: 1003, reason: "text messages are not allowed; send binary frames" }]);
    await tick();
    expect(core.ended).toBe(true);
    expect(core.written).toHaveLength(0);
  });

  it("the browser leaving ends the core side; closed once the core socket closes", async () => {
    const { ws, core, closed } = await opened();
    ws.gone();
    await tick();
    expect(core.ended).toBe(true);
    expect(ws.closes).toEqual([]);
    expect(closed()).toBe(false);
    core.push(null);
    await tick();
    expect(core.destroyed).toBe(true);
    expect(closed()).toBe(true);
  });

  it("a core that never finishes is destroyed after lingerMs", async () => {
    const { ws, core, closed } = await opened({ lingerMs: 30 });
    ws.gone();
    await tick();
    expect(core.destroyed).toBe(false);
    await new Promise((r) => setTimeout(r, 80));
    expect(core.destroyed).toBe(true);
    await tick();
    expect(closed()).toBe(true);
  });

  it("the core ending cleanly closes the browser 1000 after its last frames; mid-frame 1011", async () => {
    const a = await opened();
    a.core.push(Buffer.from(encodeFrame(KIND_CONTROL, Buffer.from("{}"))));
    a.core.push(null);
    await tick();
    expect(a.ws.sent).toHaveLength(1);
    expect(a.ws.closes).toEqual([{ code: 1000, reason: "core closed the connection" }]);

    const b = await opened();
    b.core.push(Buffer.from(encodeFrame(KIND_CONTROL, Buffer.from("{}"))).subarray(0, 6));
    b.core.push(null);
    await tick();
    expect(b.ws.closes).toEqual([{ code: 1011, reason: "core closed in the middle of a frame" }]);
  });

  it("a core that sends a bad frame gets the browser closed 1011 and the operator told", async () => {
    const { ws, core, trouble } = await opened();
    core.push(Buffer.from([0, 0, 0, 2, 9, 9]));
    await tick();
    expect(ws.closes).toEqual([{ code: 1011, reason: "core sent a bad frame (bad_frame)" }]);
    expect(trouble).toEqual([expect.stringMatching(/^the core sent a bad frame: /)]);
  });

  it("the core connection lost: 1011 with the error code, and closed once the browser is gone", async () => {
    const { ws, core, closed } = await opened();
    core.destroy(Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }));
    await tick();
    expect(ws.closes).toEqual([{ code: 1011, reason: "core connection lost: ECONNRESET" }]);
    expect(ws.paused).toBe(false);
    expect(closed()).toBe(false);
    ws.gone();
    await tick();
    expect(closed()).toBe(true);
  });
});
