// The outbox's audio without a socket: a tick's audio comes with its frame in
// one offer; for a viewer that keeps up it is written in the frame's first
// write, for a backed-up one it is queued on its own (within its bound) even
// though the frame is skipped, and goes out ahead of queued video.

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
  head: Buffer.concat([Buffer.from(`A:${sid}:${n}|`), Buffer.alloc(size)]),
});
/** What each write starts with: "A:1:0", "V:1:0:0", "C:x", or "A:1:0+V:1:0:0" for one write of both. */
const labels = (s: FakeSink) =>
  s.written
    .filter((b) => b[0] !== 0)
    .map(
      (b) =>
        [...b.toString("latin1").matchAll(/([ACV](?::\w+)+)\|/g)].map((m) => m[1]).join("+") || b.toString("latin1"),
    );
const limits = { maxQueuedControlBytes: 1 << 20, maxQueuedVideoBytes: 512 * 1024, maxQueuedAudioBytes: 4096 };

describe("Outbox audio", () => {
  it("writes a keeping-up viewer's audio and the frame's first chunk header as one Buffer, shared by viewers", () => {
    const [s1, s2] = [new FakeSink(), new FakeSink()];
    const [b1, b2] = [new Outbox(s1, limits), new Outbox(s2, limits)];
    const a = pkt(1, 0);
    const f = frame(1, 0, 1, 20_000);
    expect(b1.offerVideo(f, a)).toBe(true);
    expect(b2.offerVideo(f, a)).toBe(true);
    // As many writes as a silent viewer: the lead, then the JPEG slice.
    expect(s1.written.length).toBe(2);
    expect(labels(s1)).toEqual(["A:1:0+V:1:0:0"]);
    expect(s1.written[1]).toBe(f.chunks[0]!.data);
    expect(s2.written[0]).toBe(s1.written[0]); // built once, not per viewer
    // The bytes on the wire are what the separate writes gave: audio, then the chunk.
    expect(Buffer.concat(s1.written).equals(Buffer.concat([a.head, f.chunks[0]!.head, f.chunks[0]!.data]))).toBe(true);
    expect(b1.queuedBytes).toBe(0);
  });

  it("a multi-chunk frame: the lead, then the other chunks while the socket takes them, the rest queued", () => {
    const sink = new FakeSink();
    const box = new Outbox(sink, limits);
    expect(box.offerVideo(frame(1, 0, 3), pkt(1, 0))).toBe(true);
    expect(labels(sink)).toEqual(["A:1:0+V:1:0:0", "V:1:0:1"]);
    sink.pending = 0;
    box.pump();
    expect(labels(sink)).toEqual(["A:1:0+V:1:0:0", "V:1:0:1", "V:1:0:2"]);
    expect(box.queuedBytes).toBe(0);
  });

  it("writes queued audio after control and before queued video chunks", () => {
    const sink = new FakeSink();
    const box = new Outbox(sink, limits);
    box.offerVideo(frame(1, 0, 4)); // two chunks fill the 64 KiB high-water mark, two wait
    expect(box.offerVideo(frame(1, 1, 1), pkt(1, 0))).toBe(true);
    box.sendControl(Buffer.from("C:x|"));
    sink.pending = 0; // the socket drained
    box.pump();
    expect(labels(sink)).toEqual(["V:1:0:0", "V:1:0:1", "C:x", "A:1:0", "V:1:0:2", "V:1:0:3"]);
  });

  it("a backed-up viewer: the frame is skipped, its audio still queued and written first on drain", () => {
    const sink = new FakeSink();
    const box = new Outbox(sink, { ...limits, maxQueuedVideoBytes: 100 * 1024 });
    expect(box.offerVideo(frame(1, 0, 3), pkt(1, 0))).toBe(true); // the lead and one more chunk go out
    expect(box.offerVideo(frame(1, 1, 3), pkt(1, 1))).toBe(false); // backed up: frame skipped...
    expect(box.queuedBytes).toBe(40 * 1024 + 8 + 240 + 6); // ...its audio kept
    sink.pending = 0;
    box.pump();
    expect(labels(sink)).toEqual(["A:1:0+V:1:0:0", "V:1:0:1", "A:1:1", "V:1:0:2"]);
  });

  it("a stalled viewer's audio stays under maxQueuedAudioBytes while its frames are skipped", () => {
    const sink = new FakeSink();
    sink.pending = 1 << 20; // stalled socket
    const box = new Outbox(sink, limits);
    let frames = 0;
    let taken = 0;
    for (let i = 0; i < 100; i++) {
      const a = pkt(1, i);
      if (box.offerVideo(frame(1, i, 1, 1000), a)) frames++;
      // queuedBytes grows by the packet when it was taken
      taken = Math.round((box.queuedBytes - 1000 - 8) / a.head.length);
    }
    expect(frames).toBe(1); // the first frame only: video queued from then on
    expect(taken).toBeGreaterThan(10);
    expect(taken).toBeLessThan(20);
    expect(box.queuedBytes).toBeLessThanOrEqual(1008 + 4096 + 260);
    expect(sink.written.length).toBe(0);
  });

  it("purges one stream's queued packets only", () => {
    const sink = new FakeSink();
    sink.pending = 1 << 20;
    const box = new Outbox(sink, limits);
    box.offerVideo(frame(1, 0, 1, 100), pkt(1, 0));
    box.offerVideo(frame(2, 0, 1, 100), pkt(2, 0));
    box.offerVideo(frame(1, 1, 1, 100), pkt(1, 1));
    box.purgeAudio(1);
    box.purgeVideo(1, false);
    box.purgeVideo(2, false);
    sink.pending = 0;
    box.pump();
    expect(labels(sink)).toEqual(["A:2:0"]);
    expect(box.queuedBytes).toBe(0);
  });

  it("a v1 or silent viewer (no audio) gets exactly its frame's chunks, as before", () => {
    const sink = new FakeSink();
    const box = new Outbox(sink, limits);
    const f = frame(1, 0, 1, 20_000);
    expect(box.offerVideo(f)).toBe(true);
    expect(sink.written).toEqual([f.chunks[0]!.head, f.chunks[0]!.data]);
  });
});
