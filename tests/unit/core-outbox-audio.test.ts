// The outbox's audio queue without a socket: packets go out ahead of queued
// video (so a lagging viewer loses frames first), are skipped past their own
// bound, and are purged per stream.

import { describe, expect, it } from "vitest";
import { Outbox, type Sink } from "../../server/outbox";
import type { AudioPacketOut, VideoFrameOut } from "../../server/ports";

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

function frame(sid: number, n: number, parts: number, size = 40 * 1024): VideoFrameOut {
  const chunks = Array.from({ length: parts }, (_, p) => ({
    head: Buffer.from(`V:${sid}:${n}:${p}|`),
    data: Buffer.alloc(size),
  }));
  return { sid, frame: n, chunks, bytes: chunks.reduce((a, c) => a + c.head.length + c.data.length, 0) };
}
const pkt = (sid: number, n: number, size = 240): AudioPacketOut => ({
  sid,
  head: Buffer.from(`A:${sid}:${n}|`),
  data: Buffer.alloc(size),
});
const labels = (s: FakeSink) => s.written.filter((b) => b.length < 100).map((b) => b.toString().replace(/\|$/, ""));
const limits = { maxQueuedControlBytes: 1 << 20, maxQueuedVideoBytes: 512 * 1024, maxQueuedAudioBytes: 4096 };

describe("Outbox audio", () => {
  it("writes queued audio before queued video chunks, after control", () => {
    const sink = new FakeSink();
    const box = new Outbox(sink, limits);
    box.offerVideo(frame(1, 0, 4)); // two chunks fill the 64 KiB high-water mark, two wait
    box.offerAudio(pkt(1, 0));
    box.offerAudio(pkt(1, 1));
    box.sendControl(Buffer.from("C:x"));
    sink.pending = 0; // the socket drained
    box.pump();
    expect(labels(sink)).toEqual(["V:1:0:0", "V:1:0:1", "C:x", "A:1:0", "A:1:1", "V:1:0:2", "V:1:0:3"]);
  });

  it("skips packets past maxQueuedAudioBytes for a viewer that does not read, and counts them in queuedBytes", () => {
    const sink = new FakeSink();
    sink.pending = 1 << 20; // stalled socket
    const box = new Outbox(sink, limits);
    let taken = 0;
    for (let i = 0; i < 100; i++) if (box.offerAudio(pkt(1, i))) taken++;
    expect(taken).toBeLessThan(20);
    expect(taken).toBeGreaterThan(10);
    expect(box.queuedBytes).toBeLessThanOrEqual(4096 + 260);
    expect(sink.written.length).toBe(0);
  });

  it("purges one stream's queued packets only", () => {
    const sink = new FakeSink();
    sink.pending = 1 << 20;
    const box = new Outbox(sink, limits);
    box.offerAudio(pkt(1, 0));
    box.offerAudio(pkt(2, 0));
    box.offerAudio(pkt(1, 1));
    box.purgeAudio(1);
    sink.pending = 0;
    box.pump();
    expect(labels(sink)).toEqual(["A:2:0"]);
    expect(box.queuedBytes).toBe(0);
  });
});
