// Core -> browser (bridge/relayToBrowser.ts) behind its ports: a fake
// WebSocket whose queue the test sets, a node:stream PassThrough as the core
// socket (its pause state is real), and another as the raw upgrade socket
// whose 'drain' the test emits.

import { PassThrough } from "node:stream";
import { afterEach, describe, expect, it, vi } from "vitest";
import { ToBrowser } from "../../bridge/relayToBrowser";
import { FrameError, KIND_CONTROL, KIND_VIDEO, encodeFrame } from "../../protocol/framing";

class FakeWs {
  readonly OPEN = 1;
  readyState = 1;
  bufferedAmount = 0;
  readonly sent: Uint8Array[] = [];
  /** Bytes each send adds to the queue (a browser that is not reading). */
  queuePerSend = 0;
  send(data: Uint8Array, options: { binary: boolean }): void {
    expect(options.binary).toBe(true);
    this.sent.push(data);
    this.bufferedAmount += this.queuePerSend;
  }
}

const HWM = 1000;

function setup() {
  const ws = new FakeWs();
  const core = new PassThrough();
  const raw = new PassThrough();
  const toBrowser = new ToBrowser(ws, core, raw, { maxFrame: 4096, highWaterMark: HWM });
  return { ws, core, raw, toBrowser };
}

afterEach(() => {
  vi.useRealTimers();
});

describe("ToBrowser: frames", () => {
  it("sends each frame's kind and body as one message, a view into the received bytes (no copy)", () => {
    const { ws, toBrowser } = setup();
    const chunk = Buffer.concat([
      encodeFrame(KIND_CONTROL, Buffer.from("{}")),
      encodeFrame(KIND_VIDEO, new Uint8Array(100).fill(9)),
    ]);
    expect(toBrowser.push(chunk)).toBeNull();
    expect(ws.sent).toHaveLength(2);
    expect([...ws.sent[0]]).toEqual([KIND_CONTROL, 0x7b, 0x7d]);
    expect(ws.sent[1].length).toBe(101);
    expect(ws.sent[1][0]).toBe(KIND_VIDEO);
    for (const m of ws.sent) expect(m.buffer).toBe(chunk.buffer);
    expect(ws.sent[1].byteOffset).toBe(chunk.byteOffset + 7 + 4);
    expect(toBrowser.stats()).toEqual({ frames: 2, bytes: 3 + 101, peakBuffered: 0, paused: false });
  });

  it("sends one chunk's frames with the raw socket corked, so they leave in one write, and uncorks after", () => {
    const { ws, raw, toBrowser } = setup();
    const corked: number[] = [];
    const send = ws.send.bind(ws);
    ws.send = (data, options) => {
      corked.push(raw.writableCorked);
      send(data, options);
    };
    const chunk = Buffer.concat([1, 2, 3].map((n) => encodeFrame(KIND_VIDEO, new Uint8Array(10).fill(n))));
    expect(toBrowser.push(chunk)).toBeNull();
    expect(corked).toEqual([1, 1, 1]);
    expect(raw.writableCorked).toBe(0);
    // A broken stream uncorks too.
    expect(toBrowser.push(Buffer.from([0, 0, 0, 1, 0x7f]))).toBeInstanceOf(FrameError);
    expect(raw.writableCorked).toBe(0);
  });

  it("joins a frame split across reads and reports a partial frame as pending", () => {
    const { ws, toBrowser } = setup();
    const frame = encodeFrame(KIND_VIDEO, new Uint8Array(50).fill(3));
    toBrowser.push(frame.subarray(0, 20));
    expect(toBrowser.pending).toBe(true);
    expect(ws.sent).toHaveLength(0);
    toBrowser.push(frame.subarray(20));
    expect(toBrowser.pending).toBe(false);
    expect(ws.sent).toHaveLength(1);
    expect(ws.sent[0].length).toBe(51);
    expect(ws.sent[0][50]).toBe(3);
  });

  it("returns the FrameError of a broken stream and sends nothing after it", () => {
    const { ws, toBrowser } = setup();
    const good = encodeFrame(KIND_CONTROL, Buffer.from("{}"));
    const bad = new Uint8Array([0, 0, 0, 2, 9, 9]);
    const err = toBrowser.push(Buffer.concat([good, bad, good]));
    expect(err).toBeInstanceOf(FrameError);
    expect(err?.code).toBe("bad_frame");
    expect(ws.sent).toHaveLength(1);
    expect(toBrowser.push(good)).toBeInstanceOf(FrameError);
    expect(ws.sent).toHaveLength(1);
  });

  it("sends nothing once the WebSocket is no longer open, or after stop()", () => {
    const { ws, toBrowser } = setup();
    const frame = encodeFrame(KIND_CONTROL, Buffer.from("{}"));
    ws.readyState = 2;
    toBrowser.push(frame);
    expect(ws.sent).toHaveLength(0);
    ws.readyState = 1;
    toBrowser.stop();
    expect(toBrowser.push(frame)).toBeNull();
    expect(ws.sent).toHaveLength(0);
    expect(toBrowser.stats().frames).toBe(0);
  });
});

describe("ToBrowser: backpressure", () => {
  const frame = encodeFrame(KIND_VIDEO, new Uint8Array(200));

  it("pauses the core above the high-water mark and resumes it on 'drain' once the queue is down to half", () => {
    const { ws, core, raw, toBrowser } = setup();
    ws.queuePerSend = 400;
    toBrowser.push(frame);
    toBrowser.push(frame); // 800 queued
    expect(core.isPaused()).toBe(false);
    toBrowser.push(Buffer.concat([frame, frame])); // 1600 queued: over 1000
    expect(core.isPaused()).toBe(true);
    expect(toBrowser.stats()).toMatchObject({ paused: true, peakBuffered: 1600 });
    expect(raw.listenerCount("drain")).toBe(1);

    ws.bufferedAmount = 501;
    raw.emit("drain");
    expect(core.isPaused()).toBe(true);
    ws.bufferedAmount = 500;
    raw.emit("drain");
    expect(core.isPaused()).toBe(false);
    expect(toBrowser.stats().paused).toBe(false);
    expect(raw.listenerCount("drain")).toBe(0);

    // Pauses again the next time, and only once while paused.
    ws.bufferedAmount = 1200;
    toBrowser.push(frame);
    toBrowser.push(frame);
    expect(core.isPaused()).toBe(true);
    expect(raw.listenerCount("drain")).toBe(1);
    expect(toBrowser.stats().peakBuffered).toBe(2000);
  });

  it("resumes by polling when no 'drain' comes", () => {
    vi.useFakeTimers();
    const { ws, core, raw, toBrowser } = setup();
    ws.bufferedAmount = 5000;
    toBrowser.push(frame);
    expect(core.isPaused()).toBe(true);
    vi.advanceTimersByTime(200);
    expect(core.isPaused()).toBe(true);
    ws.bufferedAmount = 0;
    vi.advanceTimersByTime(50);
    expect(core.isPaused()).toBe(false);
    expect(vi.getTimerCount()).toBe(0);
    expect(raw.listenerCount("drain")).toBe(0);
  });

  it("stop() while paused stops waiting and leaves the core paused (the relay ends it)", () => {
    vi.useFakeTimers();
    const { ws, core, raw, toBrowser } = setup();
    ws.bufferedAmount = 5000;
    toBrowser.push(frame);
    expect(vi.getTimerCount()).toBe(1);
    toBrowser.stop();
    expect(vi.getTimerCount()).toBe(0);
    expect(raw.listenerCount("drain")).toBe(0);
    ws.bufferedAmount = 0;
    raw.emit("drain");
    expect(core.isPaused()).toBe(true);
    expect(toBrowser.stats().paused).toBe(true);
  });

  it("a WebSocket that closes while the core is paused is not waited for", () => {
    vi.useFakeTimers();
    const { ws, core, raw, toBrowser } = setup();
    ws.bufferedAmount = 5000;
    toBrowser.push(frame);
    ws.readyState = 3;
    vi.advanceTimersByTime(50);
    expect(vi.getTimerCount()).toBe(0);
    expect(raw.listenerCount("drain")).toBe(0);
    expect(core.isPaused()).toBe(true);
  });
});
