// Unit tests of protocol/watchedStreams.ts without a session: which streams are
// watched, and which joined frames get through.

import { describe, expect, it } from "vitest";
import type { StreamInfo } from "../../protocol/messages";
import { Streams } from "../../protocol/watchedStreams";
import { writeChunkHeader } from "../../protocol/videoChunk";

function info(sid: number): StreamInfo {
  return {
    sid,
    video: "v.mp4",
    scope: "self",
    by: "x".repeat(22),
    width: 2,
    height: 2,
    fps: 30,
    durationMs: 1000,
    posMs: 0,
    state: "playing",
  };
}

function chunk(sid: number, frame: number, part: number, parts: number, bytes: number[]): Uint8Array {
  const b = new Uint8Array(16 + bytes.length);
  writeChunkHeader(b, { sid, frame, ptsMs: frame * 10, part, parts });
  b.set(bytes, 16);
  return b;
}

describe("Streams", () => {
  it("follows watch, update and end; updates for an unknown sid change nothing", () => {
    const s = new Streams();
    s.watch(info(1));
    s.watch(info(2));
    s.update(1, "paused", 500);
    s.update(9, "paused", 1);
    expect(s.view.get(1)).toMatchObject({ state: "paused", posMs: 500, video: "v.mp4" });
    expect(s.view.has(9)).toBe(false);
    for (const sid of s.sids()) s.end(sid);
    expect(s.view.size).toBe(0);
  });

  it("joins the chunks of a watched stream and drops frames of others", () => {
    const s = new Streams();
    s.watch(info(3));
    expect(s.push(chunk(3, 1, 0, 2, [1, 2]))).toBeNull();
    const f = s.push(chunk(3, 1, 1, 2, [3]));
    expect(f).toMatchObject({ sid: 3, frame: 1, ptsMs: 10 });
    expect([...(f?.jpeg ?? [])]).toEqual([1, 2, 3]);
    expect(s.push(chunk(4, 1, 0, 1, [9]))).toBeNull();
  });

  it("does not start joining frames of a stream it is not watching", () => {
    const s = new Streams();
    // The first half arrives while sid 4 is not watched: it must not be kept.
    expect(s.push(chunk(4, 1, 0, 2, [1]))).toBeNull();
    s.watch(info(4));
    expect(s.push(chunk(4, 1, 1, 2, [2]))).toBeNull();
    // Frames that start once it is watched are joined.
    s.push(chunk(4, 2, 0, 2, [3]));
    expect([...(s.push(chunk(4, 2, 1, 2, [4]))?.jpeg ?? [])]).toEqual([3, 4]);
  });

  it("forgets a half-joined frame when its stream ends", () => {
    const s = new Streams();
    s.watch(info(5));
    s.push(chunk(5, 2, 0, 2, [1]));
    s.end(5);
    s.watch(info(5));
    expect(s.push(chunk(5, 2, 1, 2, [2]))).toBeNull();
  });
});
