// Sound through the real core: the catalogue's audio fields, AUDIO frames
// paced with the frames of the same stream, track choice per viewer, pause,
// seek and late joiners, the stream clock, and the bad inputs (no audio, 5.1,
// a corrupt audio stream, an unknown track, a v1 client, a stalled viewer),
// on the sync sample made with the real ffmpeg.

import { execFile } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { promisify } from "node:util";
import { ffmpegPath } from "../../server/video/ffmpeg";
import { tmpdir } from "node:os";
import { join as pathJoin } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AUDIO_FLAG_DISCONTINUITY, readAudioPacket, type AudioPacketHeader } from "../../protocol/audioPacket";
import { FrameAssembler } from "../../protocol/videoChunk";
import type { CoreServer } from "../../server/server";
import { makeSyncSample } from "../../scripts/make-sync-sample";
import { startCore } from "../helpers/core";
import { identity, join, type WirePeer } from "../helpers/wire";

const lib = mkdtempSync(pathJoin(tmpdir(), "sealroom-audio-lib-"));
let core: CoreServer;
const CAPS = ["audio", "clock"];

beforeAll(async () => {
  await Promise.all([
    makeSyncSample(pathJoin(lib, "sync.mp4"), { durationS: 8 }),
    makeSyncSample(pathJoin(lib, "surround.mp4"), { durationS: 3, variant: "surround51" }),
    makeSyncSample(pathJoin(lib, "silent.mp4"), { durationS: 3, variant: "none" }),
    makeSyncSample(pathJoin(lib, "broken.mp4"), { durationS: 3, variant: "corrupt" }),
    loudClip(pathJoin(lib, "loud.mp4")),
  ]);
  // A small audio bound (16 KiB, ~1.3 s) so the stalled-viewer test sees packets skipped within a short clip;
  // a long soundStartWaitMs so a loaded machine's slow cold ffmpeg still starts each stream with its sound.
  core = await startCore({
    videos: { dir: lib, cacheDir: pathJoin(lib, ".cache"), limits: { soundStartWaitMs: 5000 } },
    limits: { maxStreams: 8, maxQueuedAudioBytes: 16 * 1024 },
  });
}, 90_000);
afterAll(() => core.stop());

/** 720p noise-like frames (far more than socket buffers hide) with a loud tone. */
async function loudClip(out: string): Promise<void> {
  const bin = await ffmpegPath();
  await promisify(execFile)(
    bin,
    [
      "-hide_banner",
      "-loglevel",
      "error",
      "-y",
      "-f",
      "lavfi",
      "-i",
      "testsrc2=size=1280x720:rate=30:duration=6",
      "-f",
      "lavfi",
      "-i",
      "sine=frequency=440:sample_rate=48000:duration=6",
      "-c:v",
      "libx264",
      "-preset",
      "veryfast",
      "-crf",
      "16",
      "-pix_fmt",
      "yuv420p",
      "-c:a",
      "aac",
      "-b:a",
      "128k",
      "-shortest",
      out,
    ],
    { timeout: 120_000 },
  );
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface Pkt extends AudioPacketHeader {
  at: number;
  bytes: number;
}

/** Follows a peer's AUDIO frames and complete video frames as they come, with arrival times. */
function follow(peer: WirePeer) {
  const audio: Pkt[] = [];
  const frames: { sid: number; ptsMs: number; at: number }[] = [];
  const asm = new FrameAssembler();
  let a = 0;
  let v = 0;
  peer.onData(() => {
    for (; a < peer.audio.length; a++) {
      const p = readAudioPacket(peer.audio[a]!);
      if (p) audio.push({ ...p.header, at: performance.now(), bytes: p.data.length });
    }
    for (; v < peer.video.length; v++) {
      const f = asm.push(peer.video[v]!);
      if (f) frames.push({ sid: f.sid, ptsMs: f.ptsMs, at: performance.now() });
    }
  });
  return { audio, frames };
}

async function member(name: string, room: string, i: number, caps?: string[]) {
  const m = await join(core.port, { name, room, id: await identity(i), ...(caps ? { caps } : {}) });
  return { ...m, got: follow(m.peer) };
}

async function startRoom(peer: WirePeer, video: string, fromMs = 0) {
  peer.send({ t: "play", video, scope: "room", fromMs });
  return (await peer.nextT("stream", 15_000)).sid;
}

describe("catalogue", () => {
  it("describes each video's sound to audio clients only; 5.1 is downmixed, none says why", async () => {
    const a = await member("hears", "cat-a", 0, CAPS);
    const v1 = await member("v1", "cat-b", 1);
    a.peer.send({ t: "videos" });
    v1.peer.send({ t: "videos" });
    const items = (await a.peer.nextT("videos", 15_000)).items;
    const byId = Object.fromEntries(items.map((i) => [i.id, i.audio]));
    expect(byId["sync.mp4"]).toEqual({
      tracks: [
        { index: 0, language: "eng", title: null, codec: "aac", channels: 2, downmix: false, problem: null },
        { index: 1, language: "fra", title: null, codec: "aac", channels: 2, downmix: false, problem: null },
      ],
      noSound: null,
    });
    expect(byId["surround.mp4"]!.tracks[0]).toMatchObject({ channels: 6, downmix: true });
    expect(byId["silent.mp4"]).toEqual({ tracks: [], noSound: "no audio stream" });
    for (const item of (await v1.peer.nextT("videos", 15_000)).items) expect(Object.keys(item)).not.toContain("audio");
    a.peer.close();
    v1.peer.close();
  });
});

describe("a watch party with sound", () => {
  it("audio viewers get the head then paced 20 ms packets on the frames' clock; a v1 viewer gets exactly v1", async () => {
    const a = await member("alice", "party", 0, CAPS);
    const b = await member("bob", "party", 1); // v1: no caps
    const t0 = performance.now();
    const sid = await startRoom(a.peer, "sync.mp4");
    const info = await a.peer.next((m) => m.t === "audio" && m.sid === sid, 10_000);
    expect(info).toMatchObject({ track: 0, codec: "opus", rate: 48000, channels: 2, head: expect.any(String) });
    expect(
      Buffer.from(info.head as string, "base64")
        .subarray(0, 8)
        .toString(),
    ).toBe("OpusHead");
    const clock = await a.peer.next((m) => m.t === "streamClock" && m.sid === sid && m.anchorCore !== null, 10_000);
    expect(clock).toMatchObject({ delayMs: 250 });
    await sleep(2000);
    const elapsed = performance.now() - t0;
    const pk = a.got.audio.filter((p) => p.sid === sid);
    expect(pk.length).toBeGreaterThan(60); // ~2 s of 20 ms packets
    expect(pk.every((p) => p.durationSamples === 960 && p.track === 0 && p.bytes > 0)).toBe(true);
    for (let i = 1; i < pk.length; i++) {
      expect(pk[i]!.seq).toBe(pk[i - 1]!.seq + 1);
      expect(pk[i]!.ptsSamples).toBe(pk[i - 1]!.ptsSamples + 960);
    }
    expect(pk[0]!.flags & AUDIO_FLAG_DISCONTINUITY).toBe(1);
    // A cold start (no packet decoded yet) begins with its sound: the picture waited for it, so
    // the file's first packet (the pre-roll before pts 0) and frame 0 are both sent, sound first.
    const frames = a.got.frames.filter((f) => f.sid === sid);
    expect(pk[0]!.ptsSamples).toBeLessThanOrEqual(0);
    expect(frames[0]!.ptsMs).toBe(0);
    expect(pk[0]!.at).toBeLessThanOrEqual(frames[0]!.at);
    // Paced, not a burst: nothing far ahead of real time (lead 120 ms + startup slack).
    const maxPtsMs = pk[pk.length - 1]!.ptsSamples / 48;
    expect(maxPtsMs).toBeLessThan(elapsed + 400);
    expect(maxPtsMs).toBeGreaterThan(1000);
    // The same clock as frames: a packet arrives about the lead before the frame of its time.
    const lead: number[] = [];
    for (const f of frames.slice(5)) {
      const p = pk.find((q) => q.ptsSamples / 48 >= f.ptsMs);
      if (p) lead.push(f.at - p.at);
    }
    lead.sort((x, y) => x - y);
    const median = lead[lead.length >> 1]!;
    expect(median).toBeGreaterThan(40);
    expect(median).toBeLessThan(250);
    // The v1 viewer: frames, and no AUDIO frame (its TCP framing would have rejected kind 0x03 and closed), no new messages.
    expect(b.peer.closed).toBe(false);
    expect(b.got.frames.length).toBeGreaterThan(30);
    expect(b.peer.audio.length).toBe(0);
    expect(b.peer.messages.some((m) => m.t === "audio" || m.t === "streamClock")).toBe(false);
    // Pong: `now` only for the clock client.
    a.peer.send({ t: "ping", ts: 1 });
    b.peer.send({ t: "ping", ts: 2 });
    expect(await a.peer.next((m) => m.t === "pong" && m.ts === 1)).toMatchObject({ now: expect.any(Number) });
    expect(Object.keys(await b.peer.next((m) => m.t === "pong" && m.ts === 2))).toEqual(["t", "ts"]);
    // audioTrack from a client that did not declare audio is what v1 says of an unknown type.
    b.peer.send({ t: "audioTrack", sid, track: 1 });
    expect(await b.peer.next((m) => m.t === "error" && m.ref === "audioTrack")).toMatchObject({
      code: "unknown_type",
      fatal: false,
    });
    a.peer.send({ t: "control", sid, action: "stop" });
    a.peer.close();
    b.peer.close();
  }, 30_000);

  it("each viewer picks its own track; an unknown track is a clear non-fatal error", async () => {
    const a = await member("a", "tracks", 0, CAPS);
    const c = await member("c", "tracks", 2, CAPS);
    const sid = await startRoom(a.peer, "sync.mp4");
    await a.peer.next((m) => m.t === "audio" && m.track === 0, 10_000);
    await c.peer.next((m) => m.t === "audio" && m.track === 0, 10_000);
    const from = c.peer.messages.length;
    c.peer.send({ t: "audioTrack", sid, track: 1 });
    await c.peer.next((m) => m.t === "audio" && m.track === 1, 10_000, from);
    await sleep(800);
    const cTracks = new Set(c.got.audio.slice(-10).map((p) => p.track));
    const aTracks = new Set(a.got.audio.slice(-10).map((p) => p.track));
    expect([...cTracks]).toEqual([1]);
    expect([...aTracks]).toEqual([0]);
    c.peer.send({ t: "audioTrack", sid, track: 7 });
    expect(await c.peer.next((m) => m.t === "error" && m.ref === "audioTrack")).toMatchObject({
      code: "unknown_track",
      fatal: false,
      message: expect.stringContaining("no audio track 7"),
    });
    // Still watching and hearing after the error.
    const n = c.got.audio.length;
    await sleep(400);
    expect(c.got.audio.length).toBeGreaterThan(n + 5);
    expect(c.peer.closed).toBe(false);
    a.peer.send({ t: "control", sid, action: "stop" });
    a.peer.close();
    c.peer.close();
  }, 30_000);

  it("pause stops the sound with the picture, seek moves it, a late joiner hears from the position", async () => {
    const a = await member("a", "ctl", 0, CAPS);
    const sid = await startRoom(a.peer, "sync.mp4");
    await a.peer.next((m) => m.t === "audio" && m.sid === sid, 10_000);
    await sleep(800);
    a.peer.send({ t: "control", sid, action: "pause" });
    await a.peer.next((m) => m.t === "streamClock" && m.anchorCore === null, 5000);
    await sleep(150);
    const atPause = a.got.audio.length;
    await sleep(700);
    expect(a.got.audio.length).toBe(atPause);
    a.peer.send({ t: "control", sid, action: "seek", toMs: 5000 });
    a.peer.send({ t: "control", sid, action: "resume" });
    await a.peer.next((m) => m.t === "streamClock" && m.anchorCore !== null && (m.posMs as number) >= 4900, 5000);
    await sleep(500);
    const after = a.got.audio.slice(atPause);
    expect(after.length).toBeGreaterThan(10);
    // From the position itself: the packet that is playing at 5,000 ms (none passed over).
    expect(after[0]!.ptsSamples / 48).toBeGreaterThan(4980);
    expect(after[0]!.ptsSamples / 48).toBeLessThanOrEqual(5000);
    expect(after[0]!.flags & AUDIO_FLAG_DISCONTINUITY).toBe(1);
    const late = await member("late", "ctl", 3, CAPS);
    expect(late.welcome.stream?.sid).toBe(sid);
    await late.peer.next((m) => m.t === "audio" && m.track === 0, 5000);
    await late.peer.next((m) => m.t === "streamClock" && m.anchorCore !== null, 5000);
    await sleep(400);
    expect(late.got.audio.length).toBeGreaterThan(5);
    expect(late.got.audio[0]!.ptsSamples / 48).toBeGreaterThan(5200);
    a.peer.send({ t: "control", sid, action: "stop" });
    a.peer.close();
    late.peer.close();
  }, 30_000);
});

describe("bad input", () => {
  it("no audio: the picture plays and the viewer is told why there is no sound", async () => {
    const a = await member("a", "silent", 0, CAPS);
    const sid = await startRoom(a.peer, "silent.mp4");
    expect(await a.peer.next((m) => m.t === "audio" && m.sid === sid, 5000)).toMatchObject({
      track: null,
      reason: "no audio stream",
    });
    await sleep(800);
    expect(a.got.frames.length).toBeGreaterThan(10);
    expect(a.got.audio.length).toBe(0);
    a.peer.close();
  }, 20_000);

  it("5.1 plays as stereo packets", async () => {
    const a = await member("a", "surround", 0, CAPS);
    const sid = await startRoom(a.peer, "surround.mp4");
    expect(await a.peer.next((m) => m.t === "audio" && m.sid === sid, 10_000)).toMatchObject({ track: 0, channels: 2 });
    await sleep(800);
    expect(a.got.audio.length).toBeGreaterThan(20);
    a.peer.close();
  }, 20_000);

  it("a corrupt audio stream: the picture plays, the viewer and then the catalogue say why there is no sound", async () => {
    const a = await member("a", "broken", 0, CAPS);
    const sid = await startRoom(a.peer, "broken.mp4");
    const info = await a.peer.next((m) => m.t === "audio" && m.sid === sid && m.track === null, 10_000);
    expect(info.reason).toMatch(/cannot be decoded/);
    await sleep(600);
    expect(a.got.frames.length).toBeGreaterThan(10);
    a.peer.send({ t: "videos" });
    const items = (await a.peer.nextT("videos", 10_000)).items;
    const audio = items.find((i) => i.id === "broken.mp4")!.audio!;
    expect(audio.tracks[0]!.problem).toMatch(/corrupt audio stream/);
    expect(audio.noSound).toMatch(/no playable audio/);
    a.peer.close();
  }, 20_000);

  it("a viewer that stops reading during a loud party is skipped, bounded; the others keep every packet", async () => {
    const [a, stall] = await Promise.all([member("reader", "stall", 0, CAPS), member("stopper", "stall", 1, CAPS)]);
    stall.peer.pause();
    const keep = setInterval(() => stall.peer.send({ t: "ping", ts: 0 }), 1000);
    const sid = await startRoom(a.peer, "loud.mp4");
    let maxQueued = 0;
    while (!a.peer.messages.some((m) => m.t === "streamEnd")) {
      maxQueued = Math.max(maxQueued, core.queuedBytes());
      await sleep(50);
    }
    clearInterval(keep);
    const got = a.got.audio.filter((p) => p.sid === sid);
    expect(got.length).toBeGreaterThan(250); // ~6 s at 50 a second
    expect(got.slice(1).every((p, i) => p.seq === got[i]!.seq + 1)).toBe(true);
    // 512 KiB of video + 16 KiB of audio for the stalled viewer, plus a little control traffic.
    expect(maxQueued).toBeLessThan(512 * 1024 + 16 * 1024 + 80 * 1024);
    stall.peer.resume();
    await stall.peer.next((m) => m.t === "streamEnd", 5000);
    expect(stall.peer.closed).toBe(false);
    // It was skipped packets (and frames) rather than having them all buffered: the stream ended before it read again.
    const s = stall.got.audio.filter((p) => p.sid === sid);
    expect(s.length).toBeLessThan(got.length - 50);
    expect(s.slice(1).every((p, i) => p.seq > s[i]!.seq)).toBe(true);
    a.peer.close();
    stall.peer.close();
  }, 40_000);
});
