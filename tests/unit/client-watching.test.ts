// Unit tests of client/watching.ts: which stream is current, its position,
// frame rate and the status line, with a hand-driven clock.

import { describe, expect, it } from "vitest";
import { WatchedStreams } from "../../client/watching";
import { streamInfo } from "../helpers/fakeSession";

function make() {
  const clock = { t: 10_000 };
  return { clock, w: new WatchedStreams(() => clock.t) };
}

describe("WatchedStreams", () => {
  it("has no current stream and no status before a stream starts", () => {
    const { w } = make();
    expect(w.current).toBeNull();
    expect(w.status()).toBeNull();
    expect(w.changed(1, "paused", 0)).toBeUndefined();
    expect(w.stats(1, 1, 1)).toBeUndefined();
    expect(w.end(1)).toBeUndefined();
  });

  it("the last stream started is current; when it ends, the latest one left takes over", () => {
    const { w } = make();
    w.start(streamInfo({ sid: 1, video: "one.mp4" }));
    w.start(streamInfo({ sid: 2, video: "two.mp4" }));
    w.start(streamInfo({ sid: 3, video: "three.mp4" }));
    expect(w.current).toBe(3);
    expect(w.end(3)?.info.video).toBe("three.mp4");
    expect(w.current).toBe(2);
    // Ending one that is not current leaves the current one alone.
    w.end(1);
    expect(w.current).toBe(2);
    w.end(2);
    expect(w.current).toBeNull();
    expect(w.status()).toBeNull();
  });

  it("a stream announced again becomes current, keeping its place among the others", () => {
    const { w } = make();
    w.start(streamInfo({ sid: 1 }));
    w.start(streamInfo({ sid: 2 }));
    w.start(streamInfo({ sid: 1, posMs: 4_000 }));
    expect(w.current).toBe(1);
    expect(w.get(1)?.lastPtsMs).toBe(4_000);
    w.end(1);
    expect(w.current).toBe(2);
  });

  it("follows position, state and drops in the status line", () => {
    const { w } = make();
    w.start(streamInfo({ sid: 7, video: "sample\u0007.mp4", durationMs: 125_000, posMs: 2_000 }));
    expect(w.status()).toBe("playing sample\ufffd.mp4 0:02/2:05 0 fps, 0 dropped");
    w.frame(7, 3_000);
    w.stats(7, 50, 4);
    expect(w.status()).toBe("playing sample\ufffd.mp4 0:03/2:05 1 fps, 4 dropped");
    expect(w.changed(7, "paused", 61_000)?.info).toMatchObject({ state: "paused", posMs: 61_000 });
    expect(w.status()).toBe("paused sample\ufffd.mp4 1:01/2:05 1 fps, 4 dropped");
    // Frames of a stream not watched change nothing.
    w.frame(8, 99_000);
    expect(w.get(7)?.lastPtsMs).toBe(61_000);
  });

  it("counts the frames of the last second only", () => {
    const { w, clock } = make();
    w.start(streamInfo({ sid: 7 }));
    for (let i = 0; i < 30; i++) {
      w.frame(7, i * 33);
      clock.t += 33;
    }
    const s = w.get(7)!;
    expect(w.fps(s)).toBe(30);
    clock.t += 500;
    expect(w.fps(s)).toBe(15);
    clock.t += 1_000;
    expect(w.fps(s)).toBe(0);
    // The window is pruned as frames arrive, so it stays bounded.
    w.frame(7, 5_000);
    expect(s.frameTimes).toHaveLength(1);
  });
});
