// StreamManager (server/video/streamManager.ts) without sockets or ffmpeg: fake
// peers, a fake catalogue, a fake frame cache whose videos hold N tiny JPEGs
// at 30 fps, and Vitest's fake timers as the pacers' clock (realClock reads
// performance.now and setTimeout, both faked), advanced by hand.

import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import type { Cap } from "../../protocol/caps";
import { FRAME_HEADER, KIND_VIDEO } from "../../protocol/framing";
import { MAX_CHUNK_BYTES } from "../../protocol/limits";
import type { ServerMessage } from "../../protocol/messages";
import { readChunk } from "../../protocol/videoChunk";
import type { Peer, VideoFrameOut } from "../../server/ports";
import type { Catalogue, ResolvedVideo } from "../../server/video/catalogue";
import type { DecodedVideo, FrameCache, VideoReader } from "../../server/video/frames";
import type { FrameSource } from "../../server/video/pacer";
import { StreamManager } from "../../server/video/streamManager";
import type { VideoFrame, Size, VideoInfo } from "../../server/video/types";
import { recordingLogger } from "../helpers/log";

const FPS = 30;
/** What streams.ts uses of DecodedVideo and VideoReader; the fakes' return types check they have it. */
type VideoUse = Pick<DecodedVideo, "width" | "height" | "fps" | "indexAt" | "needsDecoder">;
type ReaderUse = Pick<
  VideoReader,
  "frameCount" | "error" | "ptsOf" | "indexAt" | "get" | "waitFor" | "needsDecoder" | "holdsDecoder" | "close"
>;
const ptsOf = (i: number) => Math.round((i * 1000) / FPS);
const idOf = (who: string) => who.padEnd(22, "x");
const ALICE = idOf("alice");
const BOB = idOf("bob");
const CAROL = idOf("carol");

// ---- fakes ------------------------------------------------------------------------------

let nextConn = 1;

/** A viewer's connection: records controls, offers and purges in one ordered log. */
class FakePeer implements Peer {
  readonly connId = nextConn++;
  readonly caps: ReadonlySet<Cap> = new Set();
  readonly controls: ServerMessage[] = [];
  readonly offers: VideoFrameOut[] = [];
  readonly purges: Array<{ sid: number; keepBegun: boolean }> = [];
  /** What offerVideo answers: false is a backed-up viewer. */
  accepts = true;
  constructor(
    readonly memberId: string,
    readonly room = "lobby",
  ) {}
  sendControl(msg: ServerMessage): void {
    this.controls.push(msg);
  }
  /** Encoded controls as given (shared between viewers), each also parsed into `controls`. */
  readonly frames: Buffer[] = [];
  sendFrame(frame: Buffer): void {
    this.frames.push(frame);
    this.controls.push(JSON.parse(frame.subarray(FRAME_HEADER).toString()) as ServerMessage);
  }
  offerVideo(frame: VideoFrameOut): boolean {
    this.offers.push(frame);
    return this.accepts;
  }
  purgeVideo(sid: number, keepBegun: boolean): void {
    this.purges.push({ sid, keepBegun });
  }
  /** Frame indices offered for `sid` (all sids when absent). */
  framesOf(sid?: number): number[] {
    return this.offers.filter((o) => sid === undefined || o.sid === sid).map((o) => o.frame);
  }
  of<T extends ServerMessage["t"]>(t: T): Array<Extract<ServerMessage, { t: T }>> {
    return this.controls.filter((m): m is Extract<ServerMessage, { t: T }> => m.t === t);
  }
}

/** One viewer's view of a FakeVideo, as the pacer's FrameSource. */
class FakeReader implements FrameSource {
  closed = false;
  /** Frames asked for after close(): a pacer still running for nobody. */
  readsAfterClose = 0;
  /** Set when this reader's start needed an ffmpeg: it holds it alone. */
  holdsDecoder = false;
  constructor(
    readonly video: FakeVideo,
    readonly owner: string | null,
  ) {}
  get frameCount(): number {
    return this.video.frames.length;
  }
  get error(): Error | null {
    return null;
  }
  ptsOf(index: number): number {
    return ptsOf(index);
  }
  indexAt(ms: number): number {
    return this.video.indexAt(ms);
  }
  // As VideoReader: a closed reader still returns frames in memory, and waits resolve null.
  get(index: number): VideoFrame | undefined {
    if (this.closed) this.readsAfterClose++;
    return this.video.frames[index];
  }
  waitFor(index: number): Promise<VideoFrame | null> {
    if (this.closed) return Promise.resolve(null);
    return Promise.resolve(this.video.frames[index] ?? null);
  }
  /** A target at or past the video's `farFrom` is outside what its running ffmpeg covers. */
  needsDecoder(index: number): boolean {
    return !this.holdsDecoder && index >= this.video.farFrom;
  }
  close(): void {
    this.closed = true;
    this.video.readerClosed(this);
  }
}

/** A decoded video: N frames of a few bytes each (or `frameBytes`), all in memory. */
class FakeVideo {
  readonly width = 64;
  readonly height = 36;
  readonly fps = FPS;
  readonly frames: VideoFrame[];
  readonly readers: FakeReader[] = [];
  refs = 0;
  /** The reader whose start spawned the running ffmpeg, if one runs. */
  decoderOf: FakeReader | null = null;
  /** Frames from here on are not covered by the running decoder (a far seek needs another). */
  farFrom = Infinity;
  constructor(
    readonly cache: FakeFrameCache,
    count: number,
    frameBytes = 4,
  ) {
    this.frames = Array.from({ length: count }, (_, index) => {
      const jpeg = Buffer.alloc(frameBytes, index & 0xff);
      jpeg[0] = 0xff;
      jpeg[1] = 0xd8;
      return { index, ptsMs: ptsOf(index), jpeg };
    });
  }
  indexAt(ms: number): number {
    if (!(ms > 0)) return 0;
    let i = Math.floor((ms * FPS) / 1000);
    if (ptsOf(i + 1) <= ms) i++;
    return Math.min(i, this.frames.length - 1);
  }
  /** A viewer starting here needs an ffmpeg unless one runs already. */
  needsDecoder(_index: number): boolean {
    return this.decoderOf === null;
  }
  reader(owner: string | null): FakeReader & ReaderUse {
    const r = new FakeReader(this, owner);
    if (this.decoderOf === null) {
      this.decoderOf = r;
      r.holdsDecoder = true;
      this.cache.decoderStarted(owner);
    }
    this.readers.push(r);
    return r;
  }
  readerClosed(r: FakeReader): void {
    if (this.decoderOf !== r) return;
    this.decoderOf = null;
    r.holdsDecoder = false;
    this.cache.decoderEnded(r.owner);
  }
}

/** The frame cache: one FakeVideo per key, decoders counted against maxDecoders and maxDecodersPerMember. */
class FakeFrameCache {
  readonly videos = new Map<string, FakeVideo>();
  readonly refusals: Array<{ owner: string; freeing: boolean }> = [];
  readonly releases: FakeVideo[] = [];
  private total = 0;
  private readonly by = new Map<string, number>();
  constructor(
    readonly limits = { maxDecoders: 8, maxDecodersPerMember: 2 },
    readonly frameBytes = 4,
  ) {}
  outputSize(source: Size): Size {
    return { width: source.width, height: source.height };
  }
  open(_path: string, key: string, _size: Size, _fps: number): FakeVideo & VideoUse {
    let v = this.videos.get(key);
    if (!v) this.videos.set(key, (v = new FakeVideo(this, catalogueFrames.get(key) ?? 90, this.frameBytes)));
    v.refs++;
    return v;
  }
  release(v: FakeVideo): void {
    this.releases.push(v);
    v.refs--;
  }
  decoderRefusal(owner: string, freeing = false): string | null {
    this.refusals.push({ owner, freeing });
    const credit = freeing ? 1 : 0;
    if (this.total - credit >= this.limits.maxDecoders)
      return `the server is at its limit of ${this.limits.maxDecoders} video decoders`;
    if ((this.by.get(owner) ?? 0) - credit >= this.limits.maxDecodersPerMember)
      return `you already have ${this.limits.maxDecodersPerMember} videos decoding (the limit)`;
    return null;
  }
  decoderStarted(owner: string | null): void {
    this.total++;
    if (owner !== null) this.by.set(owner, (this.by.get(owner) ?? 0) + 1);
  }
  decoderEnded(owner: string | null): void {
    this.total--;
    if (owner !== null) this.by.set(owner, (this.by.get(owner) ?? 0) - 1);
  }
  get decoders(): number {
    return this.total;
  }
  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** Frame counts of the library's videos (3 s at 30 fps unless listed). */
const catalogueFrames = new Map<string, number>();

function info(id: string): VideoInfo {
  const frames = catalogueFrames.get(id) ?? 90;
  return { id, title: id, durationMs: ptsOf(frames), width: 64, height: 36, fps: FPS, bytes: 1000 };
}

/** The library: every id not starting with "missing" exists. */
class FakeCatalogue {
  /** Makes list() fail, as a broken library directory would. */
  failList = false;
  list(): Promise<VideoInfo[]> {
    if (this.failList) return Promise.reject(new Error("EACCES: library unreadable"));
    return Promise.resolve([info("clip"), info("other")]);
  }
  resolve(id: unknown): Promise<ResolvedVideo | null> {
    if (typeof id !== "string" || id.startsWith("missing")) return Promise.resolve(null);
    return Promise.resolve({ info: info(id), path: `/lib/${id}`, key: id });
  }
}

// StreamManagerOptions names the concrete classes (which have private fields);
// the fakes implement the members StreamManager uses, checked by these Picks.
const asCatalogue = (c: Pick<Catalogue, "list" | "resolve">) => c as unknown as Catalogue;
type CacheUse = Pick<FrameCache, "close" | "decoderRefusal">;
const asCache = (c: FakeFrameCache & CacheUse) => c as unknown as FrameCache;

// ---- harness ------------------------------------------------------------------------------

let cache: FakeFrameCache;
let catalogue: FakeCatalogue;
let mgr: StreamManager;
let log: ReturnType<typeof recordingLogger>;

function makeManager(
  opts: { maxStreams?: number; limits?: FakeFrameCache["limits"]; frameBytes?: number } = {},
): StreamManager {
  mgr?.close();
  cache = new FakeFrameCache(opts.limits, opts.frameBytes);
  log = recordingLogger();
  catalogue = new FakeCatalogue();
  // statsMs off the 30 fps grid, so no frame is due at the same instant as the stats.
  mgr = new StreamManager({
    catalogue: asCatalogue(catalogue),
    frames: asCache(cache),
    log,
    maxStreams: opts.maxStreams ?? 4,
    statsMs: 1010,
  });
  return mgr;
}

/** Lets the catalogue's promise and the play after it run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await Promise.resolve();
}

async function advance(ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(ms);
}

function member(id: string, room = "lobby"): FakePeer {
  const p = new FakePeer(id, room);
  mgr.join(p);
  return p;
}

async function play(p: FakePeer, video: string, scope: "self" | "room", fromMs?: number): Promise<void> {
  mgr.handle(p, { t: "play", video, scope, ...(fromMs !== undefined ? { fromMs } : {}) });
  await settle();
}

function control(p: FakePeer, sid: number, action: "pause" | "resume" | "seek" | "stop", toMs?: number): void {
  mgr.handle(p, { t: "control", sid, action, ...(toMs !== undefined ? { toMs } : {}) });
}

/** The sid of the last `stream` this peer was told about. */
function sidOf(p: FakePeer): number {
  const s = p.of("stream").at(-1);
  if (!s) throw new Error(`peer ${p.connId} was told of no stream`);
  return s.sid;
}

beforeEach(() => {
  vi.useFakeTimers({ toFake: ["setTimeout", "clearTimeout", "setInterval", "clearInterval", "performance", "Date"] });
  catalogueFrames.clear();
  makeManager();
});

afterEach(() => {
  mgr.close();
  vi.useRealTimers();
});

// ---- tests ------------------------------------------------------------------------------

describe("StreamManager: starting", () => {
  it("plays a self stream to its starter only, at 30 fps from frame 0", async () => {
    const a = member(ALICE);
    const b = member(BOB);
    await play(a, "clip", "self");
    expect(a.of("stream")).toEqual([
      {
        t: "stream",
        sid: expect.any(Number) as number,
        video: "clip",
        scope: "self",
        by: ALICE,
        width: 64,
        height: 36,
        fps: FPS,
        durationMs: 3000,
        posMs: 0,
        state: "playing",
      },
    ]);
    expect(mgr.roomStream("lobby")).toBeNull();
    await advance(1000);
    // Frames 0..30 are due within the first second (frame 30 at exactly 1000 ms).
    expect(a.framesOf()).toEqual(Array.from({ length: 31 }, (_, i) => i));
    expect(b.controls).toHaveLength(0);
    expect(b.offers).toHaveLength(0);
    expect(mgr.count).toBe(1);
  });

  it("plays a room stream to every member of the room and nobody elsewhere", async () => {
    const a = member(ALICE);
    const b = member(BOB);
    const c = member(CAROL, "elsewhere");
    await play(a, "clip", "room");
    const sid = sidOf(a);
    expect(b.of("stream")).toEqual(a.of("stream"));
    expect(b.of("stream")[0]).toMatchObject({ scope: "room", by: ALICE });
    await advance(500);
    expect(a.framesOf(sid)).toEqual(b.framesOf(sid));
    expect(a.framesOf(sid).length).toBeGreaterThanOrEqual(15);
    expect(c.controls).toHaveLength(0);
    expect(c.offers).toHaveLength(0);
    expect(mgr.roomStream("lobby")).toMatchObject({ sid, state: "playing", posMs: 500 });
  });

  it("starts at fromMs", async () => {
    const a = member(ALICE);
    await play(a, "clip", "self", 2000);
    expect(a.of("stream")[0].posMs).toBe(2000);
    await advance(1);
    expect(a.framesOf()[0]).toBe(60);
  });

  it("lets a late joiner of a room stream start at the current position, without a second `stream`", async () => {
    const a = member(ALICE);
    await play(a, "clip", "room");
    await advance(1000);
    expect(mgr.roomStream("lobby")?.posMs).toBe(1000);
    const late = member(BOB);
    await advance(100);
    expect(late.of("stream")).toHaveLength(0); // its welcome described the stream
    const got = late.framesOf();
    expect(got[0]).toBeGreaterThanOrEqual(31);
    expect(got[0]).toBeLessThanOrEqual(33);
    expect(got.at(-1)).toBe(a.framesOf().at(-1));
  });

  it("refuses a video the library does not have with unknown_video", async () => {
    const a = member(ALICE);
    await play(a, "missing-one", "self");
    expect(a.controls).toEqual([
      {
        t: "error",
        code: "unknown_video",
        message: expect.stringContaining("missing-one") as string,
        ref: "play",
        fatal: false,
      },
    ]);
    expect(mgr.count).toBe(0);
    expect(cache.videos.size).toBe(0);
  });

  it("lists the library for `videos`", async () => {
    const a = member(ALICE);
    mgr.handle(a, { t: "videos" });
    await settle();
    expect(a.controls).toEqual([{ t: "videos", items: [info("clip"), info("other")] }]);
  });

  it("answers a failed library read with a non-fatal internal error and a warning", async () => {
    const a = member(ALICE);
    catalogue.failList = true;
    mgr.handle(a, { t: "videos" });
    await settle();
    expect(a.controls).toEqual([
      { t: "error", code: "internal", message: "the video request failed", ref: "videos", fatal: false },
    ]);
    expect(log.lines).toContainEqual({
      level: "warn",
      obj: { err: "EACCES: library unreadable", ref: "videos" },
      msg: "video request failed",
    });
  });
});

describe("StreamManager: fan-out", () => {
  it("cuts each frame once and offers the same chunk objects to every viewer, slices of the cached JPEG", async () => {
    makeManager({ frameBytes: MAX_CHUNK_BYTES + 1000 }); // two chunks a frame
    const a = member(ALICE);
    const b = member(BOB);
    const c = member(CAROL);
    await play(a, "clip", "room");
    await advance(100);
    const sid = sidOf(a);
    const video = cache.videos.get("clip");
    if (!video) throw new Error("no video opened");
    expect(a.offers.length).toBeGreaterThanOrEqual(3);
    for (let i = 0; i < a.offers.length; i++) {
      const out = a.offers[i];
      expect(b.offers[i]).toBe(out);
      expect(c.offers[i]).toBe(out);
      expect(out.chunks).toHaveLength(2);
      const jpeg = video.frames[out.frame].jpeg;
      // No copy of the JPEG: each chunk's data is a view of the cached frame.
      for (const ch of out.chunks) expect(ch.data.buffer).toBe(jpeg.buffer);
      expect(Buffer.concat(out.chunks.map((ch) => ch.data)).equals(jpeg)).toBe(true);
      expect(out.bytes).toBe(out.chunks.reduce((n, ch) => n + ch.head.length + ch.data.length, 0));
      // Each chunk is a whole video frame on the wire.
      out.chunks.forEach((ch, part) => {
        const wire = Buffer.concat([ch.head, ch.data]);
        expect(wire.readUInt32BE(0)).toBe(wire.length - 4);
        expect(wire[4]).toBe(KIND_VIDEO);
        const parsed = readChunk(wire.subarray(FRAME_HEADER));
        expect(parsed?.header).toEqual({ sid, frame: out.frame, ptsMs: ptsOf(out.frame), part, parts: 2 });
      });
    }
  });

  it("encodes each stream message once for all its viewers: stream, streamState and streamEnd share one Buffer", async () => {
    const a = member(ALICE);
    const b = member(BOB);
    await play(a, "clip", "room");
    const sid = mgr.roomStream("lobby")!.sid;
    await advance(100);
    control(a, sid, "pause");
    control(a, sid, "stop");
    await settle();
    const kinds = (p: FakePeer) =>
      p.frames.map((f) => (JSON.parse(f.subarray(FRAME_HEADER).toString()) as { t: string }).t);
    expect(kinds(a)).toEqual(["stream", "streamState", "streamEnd"]);
    expect(b.frames).toHaveLength(3);
    for (let i = 0; i < 3; i++) expect(b.frames[i]).toBe(a.frames[i]); // the same object: encoded once
  });

  it("skips a viewer whose offerVideo refuses, keeps the others going, and reports both in streamStats", async () => {
    // Bob is seated first, so he is offered each frame before Alice.
    const b = member(BOB);
    const a = member(ALICE);
    b.accepts = false;
    await play(a, "clip", "room");
    const sid = sidOf(a);
    await advance(1010);
    expect(a.framesOf()).toEqual(Array.from({ length: 31 }, (_, i) => i));
    // Bob was offered every frame and took none (the peer drops, nothing is kept for him).
    expect(b.framesOf()).toEqual(a.framesOf());
    const stats = (p: FakePeer) => p.of("streamStats").filter((s) => s.sid === sid);
    expect(stats(a)).toEqual([{ t: "streamStats", sid, sent: 31, dropped: 0 }]);
    expect(stats(b)).toEqual([{ t: "streamStats", sid, sent: 0, dropped: 31 }]);
    b.accepts = true;
    await advance(1010);
    expect(stats(b).at(-1)).toEqual({ t: "streamStats", sid, sent: 30, dropped: 31 });
  });
});

describe("StreamManager: control", () => {
  it("pause stops frames and keeps begun frames (purge keepBegun); resume continues from the same frame", async () => {
    const a = member(ALICE);
    const b = member(BOB);
    await play(a, "clip", "room");
    const sid = sidOf(a);
    await advance(500);
    control(b, sid, "pause");
    const last = a.framesOf().at(-1) ?? -1;
    expect(last).toBe(15);
    for (const p of [a, b]) {
      expect(p.purges).toEqual([{ sid, keepBegun: true }]);
      expect(p.of("streamState")).toEqual([{ t: "streamState", sid, state: "paused", posMs: 500, by: BOB }]);
    }
    const offered = a.offers.length;
    await advance(2000);
    expect(a.offers).toHaveLength(offered);
    expect(mgr.roomStream("lobby")).toMatchObject({ state: "paused", posMs: 500 });

    control(a, sid, "resume");
    expect(a.of("streamState").at(-1)).toEqual({ t: "streamState", sid, state: "playing", posMs: 500, by: ALICE });
    await advance(200);
    const after = a.framesOf().slice(offered);
    expect(after[0]).toBe(last + 1);
    expect(after).toEqual(Array.from({ length: after.length }, (_, i) => last + 1 + i));
    expect(mgr.roomStream("lobby")?.posMs).toBe(700);
  });

  it("seek purges every viewer's queued frames of the stream and continues from the target", async () => {
    const a = member(ALICE);
    const b = member(BOB);
    await play(a, "clip", "room");
    const sid = sidOf(a);
    await advance(300);
    control(a, sid, "seek", 2000);
    for (const p of [a, b]) {
      expect(p.purges).toEqual([{ sid, keepBegun: false }]);
      expect(p.of("streamState")).toEqual([{ t: "streamState", sid, state: "playing", posMs: 2000, by: ALICE }]);
    }
    const before = a.offers.length;
    await advance(1);
    expect(a.framesOf().slice(before)[0]).toBe(60);
    expect(b.framesOf().slice(before)[0]).toBe(60);
  });

  it("seek while paused moves the position and stays paused", async () => {
    const a = member(ALICE);
    await play(a, "clip", "self");
    const sid = sidOf(a);
    await advance(300);
    control(a, sid, "pause");
    control(a, sid, "seek", 1500);
    expect(a.of("streamState").at(-1)).toMatchObject({ state: "paused", posMs: 1500 });
    const n = a.offers.length;
    await advance(500);
    expect(a.offers).toHaveLength(n);
    control(a, sid, "resume");
    await advance(1);
    expect(a.framesOf()[n]).toBe(45);
  });

  it("stop ends the stream with streamEnd and nothing follows", async () => {
    const a = member(ALICE);
    const b = member(BOB);
    await play(a, "clip", "room");
    const sid = sidOf(a);
    await advance(300);
    control(b, sid, "stop");
    for (const p of [a, b]) {
      expect(p.controls.at(-1)).toEqual({ t: "streamEnd", sid, reason: "stopped" });
      expect(p.purges).toEqual([{ sid, keepBegun: false }]);
    }
    const counts = [a.offers.length, a.controls.length, b.offers.length, b.controls.length];
    // The pacer's timer is gone: only the stats interval is left.
    expect(vi.getTimerCount()).toBe(1);
    await advance(3000); // past the end and past stats ticks
    expect([a.offers.length, a.controls.length, b.offers.length, b.controls.length]).toEqual(counts);
    expect(mgr.count).toBe(0);
    expect(mgr.roomStream("lobby")).toBeNull();
    const video = cache.videos.get("clip");
    expect(video?.readers.every((r) => r.closed)).toBe(true);
    expect(video?.readers.map((r) => r.readsAfterClose)).toEqual([0]);
    expect(video?.refs).toBe(0);
    // Controlling it now is refused.
    control(a, sid, "pause");
    expect(a.controls.at(-1)).toMatchObject({ t: "error", code: "unknown_stream", ref: "control", fatal: false });
  });

  it("ends a stream that played to the end with `finished`", async () => {
    catalogueFrames.set("short", 10);
    const a = member(ALICE);
    await play(a, "short", "self");
    const sid = sidOf(a);
    await advance(1000);
    expect(a.framesOf()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(a.of("streamEnd")).toEqual([{ t: "streamEnd", sid, reason: "finished" }]);
    expect(mgr.count).toBe(0);
  });

  it("refuses control of a stream the member does not watch with unknown_stream", async () => {
    const a = member(ALICE);
    const b = member(BOB);
    await play(a, "clip", "self");
    const sid = sidOf(a);
    control(b, sid, "stop");
    expect(b.controls).toEqual([
      { t: "error", code: "unknown_stream", message: expect.any(String) as string, ref: "control", fatal: false },
    ]);
    await advance(100);
    expect(a.of("streamEnd")).toHaveLength(0);
    expect(a.offers.length).toBeGreaterThan(0);
  });
});

describe("StreamManager: replacing and leaving", () => {
  it("a new room play replaces the room's stream: the old one ends `replaced`, frames come from the new one only", async () => {
    const a = member(ALICE);
    const b = member(BOB);
    await play(a, "clip", "room");
    const old = sidOf(a);
    await advance(200);
    await play(b, "other", "room");
    const sid = sidOf(b);
    expect(sid).not.toBe(old);
    for (const p of [a, b]) {
      const ends = p.of("streamEnd");
      expect(ends).toEqual([{ t: "streamEnd", sid: old, reason: "replaced" }]);
      // The end comes before the new stream's start.
      expect(p.controls.indexOf(ends[0])).toBeLessThan(p.controls.findIndex((m) => m.t === "stream" && m.sid === sid));
    }
    const n = a.offers.length;
    await advance(200);
    expect(a.offers.slice(n).every((o) => o.sid === sid)).toBe(true);
    expect(a.offers.length).toBeGreaterThan(n);
    expect(mgr.count).toBe(1);
    expect(mgr.roomStream("lobby")).toMatchObject({ sid, video: "other", by: BOB });
  });

  it("a second self play replaces the member's own self stream", async () => {
    const a = member(ALICE);
    await play(a, "clip", "self");
    const old = sidOf(a);
    await play(a, "other", "self");
    expect(a.of("streamEnd")).toEqual([{ t: "streamEnd", sid: old, reason: "replaced" }]);
    expect(mgr.count).toBe(1);
  });

  it("leaving ends the member's self stream and stops its room frames; an emptied room ends its stream", async () => {
    const a = member(ALICE);
    const b = member(BOB);
    await play(a, "clip", "room");
    await play(b, "other", "self");
    expect(mgr.count).toBe(2);
    mgr.leave(b);
    expect(mgr.count).toBe(1);
    const n = b.offers.length;
    await advance(300);
    expect(b.offers).toHaveLength(n);
    expect(a.offers.length).toBeGreaterThan(0);
    mgr.leave(a);
    mgr.roomEmpty("lobby");
    expect(mgr.count).toBe(0);
    expect(cache.decoders).toBe(0);
  });

  it("refuses a play past maxStreams with server_full, but lets a stream be replaced at the limit", async () => {
    makeManager({ maxStreams: 1 });
    const a = member(ALICE);
    const b = member(BOB);
    await play(a, "clip", "self");
    await play(b, "clip", "self");
    expect(b.controls).toEqual([
      {
        t: "error",
        code: "server_full",
        message: "the server is at its limit of 1 streams",
        ref: "play",
        fatal: false,
      },
    ]);
    await advance(200);
    expect(b.offers).toHaveLength(0);
    await play(a, "other", "self");
    expect(a.of("streamEnd")).toHaveLength(1);
    expect(a.of("stream")).toHaveLength(2);
    expect(mgr.count).toBe(1);
  });
});

describe("StreamManager: decoder caps", () => {
  it("refuses a play needing one ffmpeg too many for the member (maxDecodersPerMember), clearly, and opens nothing", async () => {
    makeManager({ limits: { maxDecoders: 8, maxDecodersPerMember: 1 } });
    const a = member(ALICE);
    const a2 = member(ALICE, "den"); // the same member, in another room
    await play(a, "clip", "room");
    expect(cache.decoders).toBe(1);
    await play(a2, "other", "self");
    expect(a2.controls).toEqual([
      {
        t: "error",
        code: "server_full",
        message: "you already have 1 videos decoding (the limit)",
        ref: "play",
        fatal: false,
      },
    ]);
    expect(cache.refusals.at(-1)).toEqual({ owner: ALICE, freeing: false });
    const other = cache.videos.get("other");
    expect(other?.refs).toBe(0); // opened to ask, released on refusal
    expect(other?.readers).toHaveLength(0);
    expect(mgr.count).toBe(1);
    // Joining frames already being decoded costs no ffmpeg: allowed.
    await play(a2, "clip", "self");
    expect(a2.of("stream")).toHaveLength(1);
    expect(cache.decoders).toBe(1);
  });

  it("refuses past the server-wide maxDecoders, and credits the decoder a replaced stream frees", async () => {
    makeManager({ limits: { maxDecoders: 1, maxDecodersPerMember: 2 } });
    const a = member(ALICE);
    const b = member(BOB);
    await play(a, "clip", "self");
    await play(b, "other", "self");
    expect(b.of("error")).toEqual([
      {
        t: "error",
        code: "server_full",
        message: "the server is at its limit of 1 video decoders",
        ref: "play",
        fatal: false,
      },
    ]);
    expect(b.of("stream")).toHaveLength(0);
    // Alice replacing her own stream frees the decoder it needs.
    await play(a, "other", "self");
    expect(cache.refusals.at(-1)).toEqual({ owner: ALICE, freeing: true });
    expect(a.of("error")).toHaveLength(0);
    expect(a.of("streamEnd")).toEqual([{ t: "streamEnd", sid: expect.any(Number) as number, reason: "replaced" }]);
    expect(cache.decoders).toBe(1);
  });

  it("refuses a seek that needs another ffmpeg at the cap, leaving the stream where it was", async () => {
    makeManager({ limits: { maxDecoders: 1, maxDecodersPerMember: 2 } });
    const a = member(ALICE);
    const b = member(BOB, "den");
    await play(a, "clip", "self");
    await play(b, "clip", "self"); // shares Alice's ffmpeg
    const sid = sidOf(b);
    const video = cache.videos.get("clip");
    if (!video) throw new Error("no video opened");
    video.farFrom = 45; // the running decoder does not cover 1.5 s on
    await advance(300);
    control(b, sid, "seek", 2000);
    expect(b.controls.at(-1)).toEqual({
      t: "error",
      code: "server_full",
      message: "cannot seek there now: the server is at its limit of 1 video decoders",
      ref: "control",
      fatal: false,
    });
    expect(cache.refusals.at(-1)).toEqual({ owner: BOB, freeing: false });
    expect(b.purges).toHaveLength(0);
    const n = b.offers.length;
    await advance(100);
    expect(b.framesOf()[n]).toBeLessThan(45);
    // A seek within what is decoded needs no ffmpeg.
    control(b, sid, "seek", 1000);
    expect(b.of("streamState").at(-1)).toMatchObject({ posMs: 1000 });
  });
});
