import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeClip } from "../../scripts/make-sample";
import { FrameCache } from "../../server/video/frames";
import { Pacer } from "../../server/video/pacer";
import type { Clock, EndReason, FrameSource } from "../../server/video/pacer";
import type { VideoFrame } from "../../server/video/types";
import { silentLogger } from "../../server/log";

/** Manual clock: timers fire only inside advance(), optionally late by `jitter()` ms. */
class FakeClock implements Clock {
  t = 0;
  timersSet = 0;
  private seq = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  constructor(private readonly jitter: () => number = () => 0) {}
  now(): number {
    return this.t;
  }
  setTimer(fn: () => void, ms: number): unknown {
    this.timersSet++;
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + ms + this.jitter(), fn });
    return id;
  }
  clearTimer(h: unknown): void {
    this.timers.delete(h as number);
  }
  /** Lets time pass, firing due timers in order and settling promises after each. */
  async advance(ms: number): Promise<void> {
    const end = this.t + ms;
    for (;;) {
      await settle();
      let first: [number, { at: number; fn: () => void }] | undefined;
      for (const e of this.timers) if (e[1].at <= end && (!first || e[1].at < first[1].at)) first = e;
      if (!first) break;
      this.timers.delete(first[0]);
      this.t = Math.max(this.t, first[1].at);
      first[1].fn();
    }
    this.t = end;
    await settle();
  }
}

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await Promise.resolve();
}

/** Frames of a 30 fps video; `available` models how far the transcode has got. */
class ArraySource implements FrameSource {
  readonly fps = 30;
  available: number;
  error: Error | null = null;
  private readonly waiters: Array<{ i: number; resolve: (f: VideoFrame | null) => void }> = [];
  constructor(
    readonly total: number,
    private readonly opts: { available?: number; spilled?: boolean } = {},
  ) {
    this.available = opts.available ?? total;
  }
  get frameCount(): number | undefined {
    return this.available >= this.total || this.error ? this.available : undefined;
  }
  ptsOf(i: number): number {
    return Math.round((i * 1000) / this.fps);
  }
  indexAt(ms: number): number {
    let i = Math.max(0, Math.floor((ms * this.fps) / 1000));
    if (this.ptsOf(i + 1) <= ms) i++;
    return this.frameCount === undefined ? i : Math.min(i, this.frameCount - 1);
  }
  frame(i: number): VideoFrame {
    return { index: i, ptsMs: this.ptsOf(i), jpeg: Buffer.from([i & 0xff]) };
  }
  get(i: number): VideoFrame | undefined {
    return !this.opts.spilled && i < this.available ? this.frame(i) : undefined;
  }
  waitFor(i: number): Promise<VideoFrame | null> {
    if (i < this.available) return Promise.resolve(this.frame(i));
    if (this.frameCount !== undefined) return Promise.resolve(null);
    return new Promise((resolve) => this.waiters.push({ i, resolve }));
  }
  produce(upTo: number, error: Error | null = null): void {
    this.available = Math.min(upTo, this.total);
    this.error = error;
    for (const w of this.waiters.splice(0)) {
      if (w.i < this.available) w.resolve(this.frame(w.i));
      else if (this.frameCount !== undefined) w.resolve(null);
      else this.waiters.push(w);
    }
  }
}

function record(source: FrameSource, clock: Clock) {
  const frames: Array<{ index: number; at: number }> = [];
  const ends: Array<{ reason: EndReason; at: number }> = [];
  const pacer = new Pacer({
    source,
    clock,
    onFrame: (f) => frames.push({ index: f.index, at: clock.now() }),
    onEnd: (reason) => ends.push({ reason, at: clock.now() }),
  });
  return { pacer, frames, ends };
}

describe("Pacer pinned to a shared anchor (playAt)", () => {
  it("pacers started at different times show frame k at anchor + pts_k, a late one from the frame due now", async () => {
    const clock = new FakeClock();
    const src = new ArraySource(300);
    const a = record(src, clock);
    a.pacer.playAt(0, 1000); // the party starts at t=1000
    expect(a.pacer.positionMs).toBe(0); // held at posMs until the anchor's time comes
    expect(a.pacer.anchorMs).toBe(1000);
    await clock.advance(400);
    const b = record(src, clock);
    b.pacer.playAt(0, 1000); // a second core hears the anchor 400 ms later
    await clock.advance(1100); // t = 1500
    const c = record(src, clock);
    c.pacer.playAt(0, 1000); // a third joins 500 ms into the party
    expect(c.pacer.positionMs).toBe(500);
    await clock.advance(1000);
    for (const r of [a, b, c]) for (const f of r.frames) expect(f.at).toBe(1000 + src.ptsOf(f.index));
    expect(a.frames[0]).toEqual({ index: 0, at: 1000 });
    expect(b.frames.map((f) => f.index)).toEqual(a.frames.map((f) => f.index));
    expect(c.frames[0]).toEqual({ index: src.indexAt(500), at: 1500 }); // frame 15 (pts 500) is due at 1500: sent then
    expect(c.frames.length).toBeGreaterThan(25);
    expect(c.pacer.stats.skipped).toBe(0); // nothing sent in a burst: the past frames were never due here
  });

  it("waiting for the transcode never moves the anchor: frames too late are passed over", async () => {
    const clock = new FakeClock();
    const src = new ArraySource(300, { available: 0 });
    const frames: Array<{ index: number; at: number }> = [];
    const pacer = new Pacer({
      source: src,
      clock,
      pinnedLateMs: 50,
      onFrame: (f) => frames.push({ index: f.index, at: clock.now() }),
      onEnd: () => {},
    });
    pacer.playAt(0, 0);
    await clock.advance(300); // the decoder is slow to start
    expect(frames).toEqual([]);
    expect(pacer.anchorMs).toBe(0); // still the party's anchor while waiting
    expect(pacer.positionMs).toBe(300); // the party moves on meanwhile
    src.produce(300);
    await clock.advance(200);
    // The frame waited for (0) is 300 ms late: passed over, as is every frame due more than 50 ms ago.
    expect(frames[0]!.index).toBeGreaterThanOrEqual(src.indexAt(250));
    for (const f of frames) expect(f.at - src.ptsOf(f.index)).toBeLessThanOrEqual(50);
    expect(pacer.stats.stalls).toBe(0);
    expect(pacer.anchorMs).toBe(0);
    // From there on, on the anchor exactly.
    for (const f of frames.slice(1)) expect(f.at).toBe(src.ptsOf(f.index));
  });

  it("moves a playing or paused pacer to a new anchor; pause and seek leave the pin", async () => {
    const clock = new FakeClock();
    const src = new ArraySource(300);
    const { pacer, frames } = record(src, clock);
    pacer.start(0);
    await clock.advance(500);
    pacer.pause();
    pacer.playAt(3000, 700); // resume the party at 3 s, anchored at t=700
    expect(pacer.isPinned).toBe(true);
    expect(pacer.state).toBe("playing");
    const n = frames.length;
    await clock.advance(400);
    expect(frames[n]).toEqual({ index: 90, at: 700 });
    for (const f of frames.slice(n)) expect(f.at).toBe(700 + src.ptsOf(f.index) - 3000);
    pacer.pause();
    expect(pacer.positionMs).toBe(3200);
    pacer.seek(100);
    expect(pacer.isPinned).toBe(false);
  });
});

describe("Pacer: the first frame of a start, seek or resume", () => {
  /** A clock whose next timer fires `lateMs` late, once: the call that started the pacer took that long. */
  it("is never passed over when the first tick comes late: the anchor moves to it instead", async () => {
    let late = 100;
    const clock = new FakeClock(() => {
      const l = late;
      late = 0;
      return l;
    });
    const src = new ArraySource(300);
    const r = record(src, clock);
    r.pacer.start(1000);
    await clock.advance(200);
    expect(r.frames[0]).toEqual({ index: 30, at: 100 }); // frame 30 (pts 1000), 100 ms late, not frame 33
    expect(r.pacer.stats.skipped).toBe(0);
    expect(r.pacer.anchorMs).toBe(100 - 1000);
    // Later frames keep the new anchor: frame 31 at 100 + 33.
    expect(r.frames[1]).toEqual({ index: 31, at: 100 + src.ptsOf(31) - 1000 });
    // Once running, a late tick still skips (an event-loop stall).
    late = 100;
    const before = r.frames.length;
    await clock.advance(200);
    expect(r.pacer.stats.skipped).toBeGreaterThan(0);
    expect(r.frames.length).toBeGreaterThan(before);
  });

  it("waits for holdStart (the stream's sound) with the clock standing still, then starts there", async () => {
    const clock = new FakeClock();
    const src = new ArraySource(300);
    const frames: Array<{ index: number; at: number }> = [];
    const holds: number[] = [];
    let release!: () => void;
    const pacer = new Pacer({
      source: src,
      clock,
      onFrame: (f) => frames.push({ index: f.index, at: clock.now() }),
      onEnd: () => {},
      holdStart: (pos) => {
        holds.push(pos);
        return holds.length === 1 ? new Promise<void>((res) => (release = res)) : null;
      },
    });
    pacer.start(500);
    await clock.advance(120);
    expect(frames).toEqual([]);
    expect(pacer.positionMs).toBe(500); // held while the sound decodes
    expect(pacer.anchorMs).toBeNull(); // no clock announced while held
    release();
    await clock.advance(0);
    expect(frames[0]).toEqual({ index: src.indexAt(500), at: 120 });
    expect(pacer.stats.skipped).toBe(0);
    await clock.advance(100);
    expect(frames.length).toBe(4); // 120, 153, 186, 220 (frames 15..18)
    // A seek asks again (null: the sound is there), a pinned party never does.
    pacer.seek(2000);
    await clock.advance(1);
    expect(holds).toEqual([500, 2000]);
    pacer.playAt(3000, clock.now());
    await clock.advance(50);
    expect(holds).toEqual([500, 2000]);
  });

  it("a seek while held drops the hold: the old promise starts nothing", async () => {
    const clock = new FakeClock();
    const src = new ArraySource(300);
    const frames: number[] = [];
    const releases: Array<() => void> = [];
    const pacer = new Pacer({
      source: src,
      clock,
      onFrame: (f) => frames.push(f.index),
      onEnd: () => {},
      holdStart: () => new Promise<void>((res) => releases.push(res)),
    });
    pacer.start(0);
    await clock.advance(10);
    pacer.seek(5000);
    await clock.advance(10);
    releases[0]!();
    await clock.advance(10);
    expect(frames).toEqual([]);
    releases[1]!();
    await clock.advance(1);
    expect(frames).toEqual([src.indexAt(5000)]);
  });
});

describe("Pacer (injected clock)", () => {
  it("emits each frame at its timestamp and ends after the last frame's duration", async () => {
    const clock = new FakeClock();
    const src = new ArraySource(60);
    const { pacer, frames, ends } = record(src, clock);
    pacer.start(0);
    expect(frames).toEqual([]); // never inside start()
    await clock.advance(5000);
    expect(frames.map((f) => f.index)).toEqual([...Array(60).keys()]);
    frames.forEach((f) => expect(f.at).toBe(src.ptsOf(f.index)));
    expect(ends).toEqual([{ reason: "finished", at: 2000 }]);
    expect(pacer.state).toBe("ended");
    expect(pacer.positionMs).toBe(2000);
  });

  it("does not drift when every timer fires late", async () => {
    let k = 0;
    const clock = new FakeClock(() => [3, 7, 1, 12, 0][k++ % 5]);
    const src = new ArraySource(300);
    const { pacer, frames, ends } = record(src, clock);
    pacer.start(0);
    await clock.advance(20_000);
    expect(frames.length + pacer.stats.skipped).toBe(300);
    // Each frame is late only by its own timer's lateness, never by the sum.
    for (const f of frames) expect(f.at - src.ptsOf(f.index)).toBeLessThanOrEqual(12);
    expect(ends.length).toBe(1);
    expect(ends[0].at - 10_000).toBeLessThanOrEqual(12);
  });

  it("pause stops frames and holds the position; resume continues with the next frame", async () => {
    const clock = new FakeClock();
    const src = new ArraySource(300);
    const { pacer, frames } = record(src, clock);
    pacer.start(0);
    await clock.advance(1010);
    expect(frames.at(-1)?.index).toBe(30);
    pacer.pause();
    expect(pacer.state).toBe("paused");
    const n = frames.length;
    await clock.advance(5000);
    expect(frames.length).toBe(n);
    expect(pacer.positionMs).toBe(1010);
    pacer.resume();
    expect(pacer.positionMs).toBe(1010);
    await clock.advance(100);
    expect(frames.slice(n).map((f) => f.index)).toEqual([31, 32, 33]);
    // Frame 31 (pts 1033) is shown 23 ms after resuming at 1010.
    expect(frames[n].at).toBe(6010 + 23);
    expect(pacer.stats.skipped).toBe(0);
  });

  it("seek lands on the target frame and keeps playing or paused", async () => {
    const clock = new FakeClock();
    const src = new ArraySource(300);
    const { pacer, frames } = record(src, clock);
    pacer.start(0);
    await clock.advance(500);
    pacer.seek(5000);
    const n = frames.length;
    expect(pacer.positionMs).toBe(5000);
    await clock.advance(0);
    expect(frames[n]).toEqual({ index: 150, at: 500 });
    await clock.advance(100);
    expect(pacer.positionMs).toBe(5100);

    pacer.pause();
    pacer.seek(1234);
    expect(pacer.state).toBe("paused");
    expect(pacer.positionMs).toBe(1234);
    const m = frames.length;
    await clock.advance(1000);
    expect(frames.length).toBe(m); // no frame while paused, not even the seek target
    pacer.resume();
    await clock.advance(0);
    expect(frames[m].index).toBe(37); // pts 1233: the frame on screen at 1234
    pacer.seek(99_999);
    expect(pacer.positionMs).toBe(10_000); // clamped to the duration
  });

  it("skips to the frame due now after an event-loop stall instead of bursting", async () => {
    const clock = new FakeClock();
    const src = new ArraySource(300);
    const frames: Array<{ index: number; at: number }> = [];
    const pacer = new Pacer({
      source: src,
      clock,
      onFrame: (f) => {
        frames.push({ index: f.index, at: clock.now() });
        if (f.index === 10) clock.t += 300; // the loop was blocked for 300 ms
      },
      onEnd: () => {},
    });
    pacer.start(0);
    await clock.advance(1000);
    const after = frames.findIndex((f) => f.index > 10);
    // 333 + 300 = 633 ms: frame 19 (pts 633) is due, 11..18 are skipped.
    expect(frames[after]).toEqual({ index: 19, at: 633 });
    expect(pacer.stats.skipped).toBe(8);
    // Back on the original schedule afterwards.
    expect(frames[after + 1]).toEqual({ index: 20, at: 667 });
  });

  it("waits for the transcode without polling, holding the clock, then continues", async () => {
    const clock = new FakeClock();
    const src = new ArraySource(90, { available: 10 });
    const { pacer, frames, ends } = record(src, clock);
    pacer.start(0);
    await clock.advance(300);
    expect(frames.length).toBe(10);
    const timers = clock.timersSet;
    await clock.advance(2000);
    expect(clock.timersSet).toBe(timers); // nothing scheduled while waiting
    expect(pacer.positionMs).toBe(333); // stands at frame 10, the one awaited
    src.produce(90);
    await clock.advance(0);
    expect(frames[10]).toEqual({ index: 10, at: 2300 });
    expect(pacer.stats.skipped).toBe(0);
    expect(pacer.stats.stalls).toBe(1);
    await clock.advance(3000);
    expect(frames.length).toBe(90);
    expect(frames[89].at).toBe(2300 + src.ptsOf(89) - src.ptsOf(10));
    expect(ends.map((e) => e.reason)).toEqual(["finished"]);
  });

  it("keeps exact time when every frame must be read asynchronously (spilled)", async () => {
    const clock = new FakeClock(() => 2);
    const src = new ArraySource(60, { spilled: true });
    const { pacer, frames } = record(src, clock);
    pacer.start(0);
    await clock.advance(3000);
    expect(frames.length).toBe(60);
    for (const f of frames) expect(f.at - src.ptsOf(f.index)).toBe(2);
    expect(pacer.stats.stalls).toBe(0);
  });

  it("ends with 'error' when the transcode fails, and never after stop()", async () => {
    const clock = new FakeClock();
    const src = new ArraySource(300, { available: 5 });
    const a = record(src, clock);
    a.pacer.start(0);
    await clock.advance(500);
    src.produce(8, new Error("ffmpeg died"));
    await clock.advance(500);
    expect(a.frames.length).toBe(8);
    expect(a.ends.map((e) => e.reason)).toEqual(["error"]);

    const b = record(new ArraySource(300), clock);
    b.pacer.start(0);
    await clock.advance(100);
    b.pacer.stop();
    const n = b.frames.length;
    await clock.advance(20_000);
    expect(b.frames.length).toBe(n);
    expect(b.ends).toEqual([]);
  });
});

describe("Pacer (real time, real decode)", () => {
  let root: string;
  let clip: string;
  let cache: FrameCache;

  beforeAll(async () => {
    root = await mkdtemp(join(tmpdir(), "sealroom-pacer-"));
    clip = join(root, "clip.mp4");
    await makeClip(clip, { durationS: 4, width: 320, height: 180, fps: 30 });
    cache = new FrameCache({ logger: silentLogger, cacheDir: join(root, "cache") });
  });

  afterAll(async () => {
    await cache.close();
    await rm(root, { recursive: true, force: true });
  });

  it("plays a 4 s clip in about 4 s, starting while it is still decoding", async () => {
    const video = cache.open(clip, "clip", { width: 320, height: 180 }, 30);
    const sent: number[] = [];
    const t0 = performance.now();
    const reason = await new Promise<EndReason>((resolve) => {
      const pacer = new Pacer({ source: video, onFrame: (f) => sent.push(f.index), onEnd: resolve });
      pacer.start(0);
    });
    const elapsed = performance.now() - t0;
    cache.release(video);
    expect(reason).toBe("finished");
    expect(elapsed).toBeGreaterThan(3600);
    expect(elapsed).toBeLessThan(4400);
    expect(sent[0]).toBe(0);
    expect(sent.at(-1)).toBe(119);
    expect(sent.length).toBeGreaterThan(114); // a loaded CI box may skip a few, never more
  });

  it("a real event-loop stall skips ahead rather than bursting", async () => {
    const video = cache.open(clip, "clip", { width: 320, height: 180 }, 30);
    await video.waitFor(1e9);
    const sent: Array<{ index: number; at: number }> = [];
    let pacer: Pacer | undefined;
    await new Promise<void>((resolve) => {
      pacer = new Pacer({
        source: video,
        onFrame: (f) => {
          sent.push({ index: f.index, at: performance.now() });
          if (f.index === 10) {
            const until = performance.now() + 300;
            while (performance.now() < until) {
              // deliberately block the event loop
            }
          }
          if (f.index >= 40) {
            pacer?.stop();
            resolve();
          }
        },
        onEnd: () => resolve(),
      });
      pacer.start(0);
    });
    cache.release(video);
    const k = sent.findIndex((s) => s.index > 10);
    expect(sent[k].index).toBeGreaterThanOrEqual(18);
    // No burst: in the 50 ms after the stall only frames actually due then go
    // out (1-2, 3 with timer jitter), not the 9 that were missed.
    const burst = sent.filter((s) => s.at >= sent[k].at && s.at < sent[k].at + 50).length;
    expect(burst).toBeLessThanOrEqual(3);
    expect(pacer?.stats.skipped).toBeGreaterThanOrEqual(7);
  });
});
