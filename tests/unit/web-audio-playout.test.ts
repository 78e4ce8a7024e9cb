// The playout math: pts -> core time -> local time -> AudioContext time, and
// the scheduler's gapless joins, late trimming and drops; volume prefs.

import { describe, expect, it } from "vitest";
import { contextTimeFor, heardLocalMs, PlayoutScheduler, presentLocalMs } from "../../web/src/lib/audio/playout";
import { gainFor, parseVolume } from "../../web/src/lib/audio/audioPrefs";
import { samplesToUs } from "../../web/src/lib/audio/opusDecoder";
import { ClockSync } from "../../protocol/clockSync";

describe("presentLocalMs / contextTimeFor", () => {
  it("anchor + pts + playout delay on the core's clock, mapped through the clock offset", () => {
    const core = new ClockSync();
    // Core runs 10 s ahead of this page.
    for (let i = 0; i < 5; i++) core.add({ sentLocal: i * 100, core: i * 100 + 10_000 + 20, recvLocal: i * 100 + 40 });
    expect(presentLocalMs(2000, { anchorCoreMs: 50_000, playoutDelayMs: 150 }, core)).toBe(
      50_000 + 2000 + 150 - 10_000,
    );
  });

  it("uses the output timestamp when valid: heard at performanceTime means scheduled at contextTime", () => {
    const stamp = { contextTime: 3.0, performanceTime: 10_000 };
    const now = { currentTime: 3.05, perfNow: 10_000, latencyS: 0.05 };
    expect(contextTimeFor(10_500, stamp, now)).toBeCloseTo(3.5, 9);
    expect(heardLocalMs(3.5, stamp, now)).toBeCloseTo(10_500, 9);
  });

  it("falls back to currentTime - output latency when the stamp is not valid yet (0/0 before start)", () => {
    const now = { currentTime: 1.0, perfNow: 5_000, latencyS: 0.04 };
    // Heard 200 ms from now: the sample must go out 40 ms earlier than that on the context's clock.
    expect(contextTimeFor(5_200, { contextTime: 0, performanceTime: 0 }, now)).toBeCloseTo(1.16, 9);
    expect(heardLocalMs(1.16, null, now)).toBeCloseTo(5_200, 9);
  });
});

describe("PlayoutScheduler", () => {
  it("joins back-to-back 20 ms packets exactly (snaps sub-ms rounding), so there is no click", () => {
    const s = new PlayoutScheduler();
    const a = s.place(1.0, 0.02, 0.5);
    const b = s.place(1.0201, 0.02, 0.5); // 0.1 ms of timestamp rounding
    expect(a).toEqual({ action: "play", when: 1.0, offsetS: 0 });
    expect(b.action === "play" && b.when).toBeCloseTo(1.02, 12);
    expect(s.bufferedS(0.5)).toBeCloseTo(0.54, 9);
  });

  it("does not snap across a real gap (a seek or a lost packet)", () => {
    const s = new PlayoutScheduler();
    s.place(1.0, 0.02, 0.5);
    const b = s.place(1.1, 0.02, 0.5);
    expect(b).toEqual({ action: "play", when: 1.1, offsetS: 0 });
  });

  it("a slightly late packet is trimmed to stay in sync; a fully late one is dropped", () => {
    const s = new PlayoutScheduler({ minLeadMs: 10 });
    // Ideal start 5 ms ago: play from 15 ms into the buffer at now + 10 ms.
    const d = s.place(0.995, 0.02, 1.0);
    expect(d.action).toBe("play");
    if (d.action === "play") {
      expect(d.when).toBeCloseTo(1.01, 12);
      expect(d.offsetS).toBeCloseTo(0.015, 12);
    }
    s.reset();
    expect(s.place(0.9, 0.02, 1.0)).toMatchObject({ action: "drop", reason: "late" });
  });

  it("drops a packet far in the future (stale anchor) rather than holding it", () => {
    const s = new PlayoutScheduler({ maxAheadMs: 2000 });
    expect(s.place(10, 0.02, 1)).toMatchObject({ action: "drop", reason: "early" });
  });

  it("reset forgets continuity", () => {
    const s = new PlayoutScheduler();
    s.place(1.0, 0.02, 0.5);
    s.reset();
    expect(s.place(1.021, 0.02, 0.5)).toEqual({ action: "play", when: 1.021, offsetS: 0 });
  });
});

describe("audio prefs and units", () => {
  it("volume parses and clamps; gain is perceptual and zero when muted", () => {
    expect(parseVolume(null)).toBe(0.8);
    expect(parseVolume("abc")).toBe(0.8);
    expect(parseVolume("1.7")).toBe(1);
    expect(parseVolume("-2")).toBe(0);
    expect(parseVolume("0.25")).toBe(0.25);
    expect(gainFor(0.5, false)).toBe(0.25);
    expect(gainFor(1, true)).toBe(0);
  });
  it("48 kHz samples to WebCodecs µs", () => {
    expect(samplesToUs(960)).toBe(20_000);
    expect(samplesToUs(-312)).toBe(-6500);
  });
});
