// The per-connection output queue without a socket: a sink that takes bytes
// only while "drained" is true.

import { describe, expect, it } from "vitest";
import { Outbox, type Sink } from "../../server/outbox";
import type { VideoFrameOut } from "../../server/ports";

class FakeSink implements Sink {
  written: Buffer[] = [];
  pending = 0;
  write(d: Buffer): boolean {
    this.written.push(d);
    this.pending += d.length;
    return true;
  }
  get writableLength(): number {
    return this.pending;
  }
  cork(): void {}
  uncork(): void {}
}

const ctl = (s: string) => Buffer.from(`C:${s}`);
function frame(sid: number, n: number, parts: number, size = 40 * 1024): VideoFrameOut {
  const chunks = Array.from({ length: parts }, (_, p) => ({
    head: Buffer.from(`V:${sid}:${n}:${p}|`),
    data: Buffer.alloc(size),
  }));
  return { sid, frame: n, chunks, bytes: chunks.reduce((a, c) => a + c.head.length + c.data.length, 0) };
}
const labels = (s: FakeSink) => s.written.filter((b) => b.length < 100).map((b) => b.toString().replace(/\|$/, ""));

describe("Outbox", () => {
  it("writes control frames ahead of queued video, and video in order once drained", () => {
    const sink = new FakeSink();
    const box = new Outbox(sink, { maxQueuedControlBytes: 1 << 20, maxQueuedVideoBytes: 1 << 20 });
    expect(box.offerVideo(frame(1, 0, 3))).toBe(true); // two chunks fit under the 64 KiB high-water mark
    box.sendControl(ctl("a"));
    sink.pending = 0;
    box.pump();
    expect(labels(sink)).toEqual(["V:1:0:0", "V:1:0:1", "C:a", "V:1:0:2"]);
    expect(box.queuedBytes).toBe(0);
  });

  it("skips a whole frame for a backed-up viewer and counts nothing of it", () => {
    const sink = new FakeSink();
    const box = new Outbox(sink, { maxQueuedControlBytes: 1 << 20, maxQueuedVideoBytes: 200 * 1024 });
    expect(box.offerVideo(frame(1, 0, 3))).toBe(true);
    expect(box.offerVideo(frame(1, 1, 3))).toBe(false);
    expect(box.queuedBytes).toBeLessThan(200 * 1024);
  });

  it("purge after a pause keeps the rest of the frame already begun; after a seek it drops it too", () => {
    for (const keepBegun of [true, false]) {
      const sink = new FakeSink();
      const box = new Outbox(sink, { maxQueuedControlBytes: 1 << 20, maxQueuedVideoBytes: 1 << 20 });
      box.offerVideo(frame(1, 0, 3));
      box.offerVideo(frame(1, 1, 2));
      box.offerVideo(frame(2, 0, 1));
      box.purgeVideo(1, keepBegun);
      sink.pending = 0;
      box.pump();
      sink.pending = 0;
      box.pump();
      expect(labels(sink)).toEqual(
        keepBegun ? ["V:1:0:0", "V:1:0:1", "V:1:0:2", "V:2:0:0"] : ["V:1:0:0", "V:1:0:1", "V:2:0:0"],
      );
      expect(box.queuedBytes).toBe(0);
    }
  });

  it("a reader whose control queue passes its bound is reported", () => {
    const sink = new FakeSink();
    sink.pending = 1 << 20; // nothing drains
    const box = new Outbox(sink, { maxQueuedControlBytes: 1000, maxQueuedVideoBytes: 1 << 20 });
    expect(box.sendControl(Buffer.alloc(600))).toBe(true);
    expect(box.sendControl(Buffer.alloc(600))).toBe(false);
  });
});

describe("Outbox: frames larger than maxQueuedVideoBytes", () => {
  const BOUND = 512 * 1024;
  // 12 chunks of 64 KiB: a 768 KiB JPEG, like a 1280x720 frame of fine detail.
  const big = (n: number) => frame(1, n, 12, 64 * 1024);
  const drainAll = (sink: FakeSink, box: Outbox) => {
    for (let i = 0; i < 100 && box.queuedBytes > 0; i++) {
      sink.pending = 0;
      box.pump();
    }
    sink.pending = 0;
  };

  it("a viewer with no video queued gets the next frame whole, however large; one still behind is skipped", () => {
    const sink = new FakeSink();
    const box = new Outbox(sink, { maxQueuedControlBytes: 1 << 20, maxQueuedVideoBytes: BOUND });
    expect(big(0).bytes).toBeGreaterThan(BOUND);
    expect(box.offerVideo(big(0))).toBe(true);
    // Most of frame 0 still waits for the socket: frame 1 is skipped.
    expect(box.offerVideo(big(1))).toBe(false);
    drainAll(sink, box);
    expect(box.offerVideo(big(2))).toBe(true);
    drainAll(sink, box);
    const parts = (n: number) => labels(sink).filter((l) => l.startsWith(`V:1:${n}:`)).length;
    expect([parts(0), parts(1), parts(2)]).toEqual([12, 0, 12]);
  });

  it("a reader that keeps up gets every large frame; a stalled one is skipped and its backlog stays under the bound plus one frame", () => {
    const reading = new FakeSink();
    const stalled = new FakeSink();
    const r = new Outbox(reading, { maxQueuedControlBytes: 1 << 20, maxQueuedVideoBytes: BOUND });
    const s = new Outbox(stalled, { maxQueuedControlBytes: 1 << 20, maxQueuedVideoBytes: BOUND });
    let readingGot = 0;
    let stalledGot = 0;
    let worst = 0;
    for (let n = 0; n < 100; n++) {
      const f = big(n);
      if (r.offerVideo(f)) readingGot++;
      if (s.offerVideo(f)) stalledGot++;
      drainAll(reading, r); // the socket takes everything between frames
      worst = Math.max(worst, s.queuedBytes + stalled.writableLength); // never drained
    }
    expect(readingGot).toBe(100);
    expect(stalledGot).toBe(1);
    expect(worst).toBeLessThanOrEqual(BOUND + big(0).bytes);
  });
});
