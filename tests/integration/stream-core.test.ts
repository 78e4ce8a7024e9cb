// Video through the real core: catalogue, paced streams, control, watch
// parties, slow viewers and hostile ids, on clips made with the real ffmpeg.

import { mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as pathJoin } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readChunk, FrameAssembler } from "../../protocol/videoChunk";
import type { CoreServer } from "../../server/server";
import { makeClip } from "../../scripts/make-sample";
import { startCore } from "../helpers/core";
import { identity, join, type WirePeer } from "../helpers/wire";

const lib = mkdtempSync(pathJoin(tmpdir(), "sealroom-lib-"));
const outside = mkdtempSync(pathJoin(tmpdir(), "sealroom-outside-"));
let core: CoreServer;

beforeAll(async () => {
  await Promise.all([
    makeClip(pathJoin(lib, "clip.mp4"), { durationS: 4, width: 320, height: 180, fps: 30, label: false }),
    makeClip(pathJoin(lib, "big.mp4"), { durationS: 5, width: 1280, height: 720, fps: 30, label: false, crf: 18 }),
    makeClip(pathJoin(outside, "secret.mp4"), { durationS: 1, width: 160, height: 90, fps: 10, label: false }),
  ]);
  writeFileSync(pathJoin(lib, "empty.mp4"), "");
  writeFileSync(pathJoin(lib, "corrupt.mp4"), Buffer.alloc(5000, 7));
  symlinkSync(pathJoin(outside, "secret.mp4"), pathJoin(lib, "escape.mp4"));
  core = await startCore({ videos: { dir: lib, cacheDir: pathJoin(lib, ".cache") }, limits: { maxStreams: 8 } });
}, 60_000);
afterAll(() => core.stop());

interface Got {
  frame: number;
  ptsMs: number;
  at: number;
  jpeg: Uint8Array;
}

/** Complete frames of `sid` a peer has received so far, with arrival times. */
function framesOf(peer: WirePeer & { _frames?: Got[] }, sid: number): Got[] {
  return (peer as unknown as { frames: Map<number, Got[]> }).frames.get(sid) ?? [];
}

function track(peer: WirePeer): void {
  const frames = new Map<number, Got[]>();
  (peer as unknown as { frames: typeof frames }).frames = frames;
  const asm = new FrameAssembler();
  let seen = 0;
  peer.onData(() => {
    for (; seen < peer.video.length; seen++) {
      const f = asm.push(peer.video[seen]);
      if (!f) continue;
      const list = frames.get(f.sid) ?? [];
      list.push({ frame: f.frame, ptsMs: f.ptsMs, at: Date.now(), jpeg: f.jpeg });
      frames.set(f.sid, list);
    }
  });
}

async function member(name: string, room: string, i: number) {
  const m = await join(core.port, { name, room, id: await identity(i) });
  track(m.peer);
  return m;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe("catalogue", () => {
  it("lists playable files with their metadata and skips corrupt, empty and escaping ones", async () => {
    const a = await member("lister", "cat", 0);
    a.peer.send({ t: "videos" });
    const v = await a.peer.nextT("videos");
    expect(v.items).toEqual([
      { id: "big.mp4", title: "Big", durationMs: 5000, width: 1280, height: 720, fps: 30, bytes: expect.any(Number) },
      { id: "clip.mp4", title: "Clip", durationMs: 4000, width: 320, height: 180, fps: 30, bytes: expect.any(Number) },
    ]);
    a.peer.close();
  });

  it("refuses ids that are paths, encodings, escaping links or not in the catalogue", async () => {
    const a = await member("tricks", "tricks", 0);
    const ids = [
      "../clip.mp4",
      `${lib}/clip.mp4`,
      "/etc/passwd",
      "%2e%2e%2fclip.mp4",
      "..%2Fclip.mp4",
      "escape.mp4",
      "empty.mp4",
      "corrupt.mp4",
      "nope.mp4",
      "clip.mp4/",
      "./clip.mp4",
      "CLIP.MP4",
    ];
    for (const video of ids) {
      a.peer.messages.length = 0;
      a.peer.send({ t: "play", video, scope: "self" });
      expect(await a.peer.nextT("error"), video).toMatchObject({ code: "unknown_video", fatal: false, ref: "play" });
    }
    expect(core.hub.roomCount).toBeGreaterThan(0); // still alive
    a.peer.close();
  });
});

describe("self stream", () => {
  it("streams every frame as valid JPEG chunks, paced in real time, then finishes", async () => {
    const a = await member("viewer", "self1", 0);
    const t0 = Date.now();
    a.peer.send({ t: "play", video: "clip.mp4", scope: "self" });
    const st = await a.peer.nextT("stream");
    expect(st).toMatchObject({
      video: "clip.mp4",
      scope: "self",
      by: a.identity.id,
      width: 320,
      height: 180,
      fps: 30,
      durationMs: 4000,
      posMs: 0,
      state: "playing",
    });
    const end = await a.peer.next((m) => m.t === "streamEnd", 10_000);
    const elapsed = Date.now() - t0;
    expect(end).toEqual({ t: "streamEnd", sid: st.sid, reason: "finished" });
    expect(elapsed).toBeGreaterThan(3600);
    expect(elapsed).toBeLessThan(5000);
    const frames = framesOf(a.peer, st.sid);
    // 120 frames; a loaded machine may skip a few to stay in real time, but
    // every frame the server says it sent arrived whole
    const stats = a.peer.messages.filter((m) => m.t === "streamStats" && m.sid === st.sid);
    expect(frames.length).toBeGreaterThanOrEqual(90);
    expect(frames.length).toBeGreaterThanOrEqual(stats.at(-1)!.sent as number);
    expect(frames.map((f) => f.frame)).toEqual([...frames.map((f) => f.frame)].sort((x, y) => x - y));
    for (const f of frames) {
      expect([f.jpeg[0], f.jpeg[1], f.jpeg.at(-2), f.jpeg.at(-1)]).toEqual([0xff, 0xd8, 0xff, 0xd9]);
      expect(Math.abs(f.ptsMs - Math.round((f.frame * 1000) / 30))).toBeLessThanOrEqual(1);
    }
    // pacing: frame k arrives about k/30 s after the first
    const first = frames[0];
    for (const f of frames) expect(Math.abs(f.at - first.at - (f.ptsMs - first.ptsMs))).toBeLessThan(400);
    expect(stats.length).toBeGreaterThanOrEqual(3);
    a.peer.close();
  });

  it("pause stops frames, resume goes on, seek lands near its target, stop ends it", async () => {
    const a = await member("ctl", "self2", 0);
    a.peer.send({ t: "play", video: "clip.mp4", scope: "self", fromMs: 500 });
    const st = await a.peer.nextT("stream");
    expect(st.posMs).toBe(500);
    await sleep(600);
    a.peer.send({ t: "control", sid: st.sid, action: "pause" });
    const paused = await a.peer.next((m) => m.t === "streamState" && m.state === "paused");
    expect(paused).toMatchObject({ sid: st.sid, by: a.identity.id });
    expect(paused.posMs as number).toBeGreaterThan(900);
    await sleep(100); // remaining parts of a begun frame may land
    const n = framesOf(a.peer, st.sid).length;
    await sleep(700);
    expect(framesOf(a.peer, st.sid).length).toBe(n);

    a.peer.send({ t: "control", sid: st.sid, action: "seek", toMs: 3000 });
    const sought = await a.peer.next((m) => m.t === "streamState" && m.posMs === 3000);
    expect(sought.state).toBe("paused"); // seek keeps the paused state
    const chunksBefore = a.peer.video.length;
    a.peer.send({ t: "control", sid: st.sid, action: "resume" });
    await a.peer.next((m) => m.t === "streamState" && m.state === "playing");
    await sleep(400);
    const after = a.peer.video
      .slice(chunksBefore)
      .map((b) => readChunk(b)!.header)
      .filter((h) => h.sid === st.sid);
    expect(after.length).toBeGreaterThan(0);
    expect(Math.min(...after.map((h) => h.ptsMs))).toBeGreaterThanOrEqual(2950);
    expect(Math.min(...after.map((h) => h.ptsMs))).toBeLessThan(3200);

    a.peer.send({ t: "control", sid: st.sid, action: "seek", toMs: 99_999 });
    expect(
      await a.peer.next((m) => m.t === "streamState" && m.by === a.identity.id && (m.posMs as number) >= 3990),
    ).toMatchObject({ posMs: 4000 });
    a.peer.send({ t: "play", video: "clip.mp4", scope: "self" });
    expect(await a.peer.next((m) => m.t === "streamEnd" && m.sid === st.sid)).toMatchObject({
      reason: expect.stringMatching(/replaced|finished/),
    });
    const st2 = await a.peer.next((m) => m.t === "stream" && m.sid !== st.sid);
    a.peer.send({ t: "control", sid: st2.sid as number, action: "stop" });
    expect(await a.peer.next((m) => m.t === "streamEnd" && m.sid === st2.sid)).toMatchObject({ reason: "stopped" });
    const count = a.peer.video.length;
    await sleep(200);
    expect(a.peer.video.slice(count).some((b) => readChunk(b)!.header.sid === st2.sid)).toBe(false);
    a.peer.close();
  });

  it("a control on a stream the caller does not watch -> unknown_stream", async () => {
    const a = await member("owner", "self3", 0);
    const b = await member("other", "self3", 1);
    a.peer.send({ t: "play", video: "clip.mp4", scope: "self" });
    const st = await a.peer.nextT("stream");
    b.peer.send({ t: "control", sid: st.sid, action: "stop" });
    expect(await b.peer.nextT("error")).toMatchObject({ code: "unknown_stream", fatal: false, ref: "control" });
    expect(b.peer.messages.some((m) => m.t === "stream")).toBe(false);
    a.peer.close();
    b.peer.close();
  });

  it("past maxStreams a play gets server_full (not fatal); replacing one's own stream still works", async () => {
    const small = await startCore({
      videos: { dir: lib, cacheDir: pathJoin(lib, ".cache-small") },
      limits: { maxStreams: 1 },
    });
    try {
      const a = await join(small.port, { name: "first", room: "cap", id: await identity(0) });
      const b = await join(small.port, { name: "second", room: "cap", id: await identity(1) });
      a.peer.send({ t: "play", video: "clip.mp4", scope: "self" });
      const s1 = await a.peer.nextT("stream");
      b.peer.send({ t: "play", video: "clip.mp4", scope: "self" });
      expect(await b.peer.nextT("error")).toMatchObject({ code: "server_full", fatal: false, ref: "play" });
      a.peer.send({ t: "play", video: "clip.mp4", scope: "self", fromMs: 1000 });
      expect(await a.peer.next((m) => m.t === "streamEnd" && m.sid === s1.sid)).toMatchObject({ reason: "replaced" });
      await a.peer.next((m) => m.t === "stream" && m.sid !== s1.sid);
      b.peer.send({ t: "ping", ts: 1 });
      await b.peer.nextT("pong");
      a.peer.close();
      b.peer.close();
    } finally {
      await small.stop();
    }
  });

  it("50 play requests in a second leave one self stream and a working server", async () => {
    const a = await member("spammer", "self4", 0);
    for (let i = 0; i < 50; i++) {
      a.peer.send({ t: "play", video: "clip.mp4", scope: "self", fromMs: i * 10 });
      await sleep(18);
    }
    await sleep(500);
    const started = a.peer.messages.filter((m) => m.t === "stream").map((m) => m.sid);
    const ended = new Set(a.peer.messages.filter((m) => m.t === "streamEnd").map((m) => m.sid));
    expect(started.length).toBe(50);
    expect(started.filter((s) => !ended.has(s))).toHaveLength(1);
    a.peer.send({ t: "ping", ts: 3 });
    await a.peer.next((m) => m.t === "pong" && m.ts === 3);
    a.peer.close();
  });
});

describe("watch party", () => {
  it("every member gets the same frames, a late joiner joins in step, control reaches all", async () => {
    const room = "party1";
    const a = await member("host", room, 0);
    const b = await member("guest", room, 1);
    a.peer.send({ t: "play", video: "clip.mp4", scope: "room" });
    const [sa, sb] = [await a.peer.nextT("stream"), await b.peer.nextT("stream")];
    expect(sb).toEqual(sa);
    expect(sa).toMatchObject({ scope: "room", by: a.identity.id });
    await sleep(1200);
    const c = await member("late", room, 2);
    expect(c.welcome.stream).toMatchObject({ sid: sa.sid, video: "clip.mp4", scope: "room", state: "playing" });
    expect(c.welcome.stream!.posMs).toBeGreaterThan(900);
    await sleep(600);
    b.peer.send({ t: "control", sid: sa.sid, action: "pause" });
    for (const x of [a, b, c])
      expect(await x.peer.next((m) => m.t === "streamState")).toMatchObject({
        sid: sa.sid,
        state: "paused",
        by: b.identity.id,
      });
    const fa = framesOf(a.peer, sa.sid);
    const fb = new Map(framesOf(b.peer, sa.sid).map((f) => [f.frame, f]));
    const fc = framesOf(c.peer, sa.sid);
    expect(fa.length).toBeGreaterThan(40);
    // Same frames, byte for byte (a loaded machine may skip one viewer a frame now and then)
    const common = fa.filter((f) => fb.has(f.frame));
    expect(common.length / fa.length).toBeGreaterThan(0.8);
    for (const f of common) expect(Buffer.from(f.jpeg).equals(Buffer.from(fb.get(f.frame)!.jpeg))).toBe(true);
    expect(fc.length).toBeGreaterThan(5);
    expect(fc[0].ptsMs).toBeGreaterThanOrEqual(c.welcome.stream!.posMs - 100);

    // the starter leaves: the party goes on for the others
    a.peer.close();
    await b.peer.nextT("left");
    c.peer.send({ t: "control", sid: sa.sid, action: "resume" });
    await b.peer.next((m) => m.t === "streamState" && m.state === "playing");
    // a new room stream replaces the old one for everyone
    b.peer.send({ t: "play", video: "clip.mp4", scope: "room", fromMs: 1000 });
    for (const x of [b, c])
      expect(await x.peer.next((m) => m.t === "streamEnd")).toEqual({
        t: "streamEnd",
        sid: sa.sid,
        reason: "replaced",
      });
    const s2 = await c.peer.next((m) => m.t === "stream" && m.sid !== sa.sid);
    expect(s2).toMatchObject({ posMs: 1000, by: b.identity.id });
    b.peer.close();
    c.peer.close();
  });

  it("a viewer that stops reading does not slow the others, and its queue stays bounded", async () => {
    const room = "party2";
    const a = await member("reader", room, 0);
    const b = await member("stopper", room, 1);
    b.peer.pause();
    const keep = setInterval(() => b.peer.send({ t: "ping", ts: 0 }), 1000);
    // 720p frames: far more than the kernel's socket buffers can hide
    a.peer.send({ t: "play", video: "big.mp4", scope: "room" });
    const st = await a.peer.nextT("stream");
    let maxQueued = 0;
    while (!a.peer.messages.some((m) => m.t === "streamEnd")) {
      maxQueued = Math.max(maxQueued, core.queuedBytes());
      await sleep(50);
    }
    clearInterval(keep);
    // The reader was not held back by the stopped viewer: the server skipped it
    // (almost) nothing, and it received every frame the server sent it.
    const statsA = a.peer.messages.filter((m) => m.t === "streamStats" && m.sid === st.sid).at(-1)!;
    const sentA = statsA.sent as number;
    expect(sentA).toBeGreaterThan(100);
    expect(statsA.dropped as number).toBeLessThanOrEqual(Math.ceil(0.03 * sentA));
    expect(framesOf(a.peer, st.sid).length).toBeGreaterThanOrEqual(sentA);
    // 512 KiB video bound per viewer plus a little control traffic
    expect(maxQueued).toBeLessThan(600 * 1024);
    b.peer.resume();
    await b.peer.next((m) => m.t === "streamEnd", 5000);
    const stats = b.peer.messages.filter((m) => m.t === "streamStats" && m.sid === st.sid).at(-1)!;
    expect(stats.dropped as number).toBeGreaterThan(0);
    expect((stats.sent as number) + (stats.dropped as number)).toBeGreaterThanOrEqual(sentA);
    a.peer.close();
    b.peer.close();
  });
});
