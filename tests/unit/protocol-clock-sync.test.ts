// ClockSync over a simulated jittery path (60-100 ms each way, random,
// independent per direction, with spikes): the offset error stays within a few ms.

import { describe, expect, it } from "vitest";
import { ClockSync, pingIntervalMs } from "../../protocol/clockSync";

function rng(seed: number): () => number {
  return () => {
    seed = (seed * 1664525 + 1013904223) >>> 0;
    return seed / 2 ** 32;
  };
}

/** Runs `pings` round trips; the core clock is local + trueOffset (+ drift ppm). */
function simulate(seed: number, pings: number, trueOffset: number, opts: { spikes?: boolean; driftPpm?: number } = {}) {
  const r = rng(seed);
  const sync = new ClockSync();
  let local = 1_000_000 + r() * 1e6;
  const coreAt = (l: number) => l + trueOffset + ((opts.driftPpm ?? 0) * (l - 1_000_000)) / 1e6;
  for (let i = 0; i < pings; i++) {
    let up = 60 + 40 * r();
    let down = 60 + 40 * r();
    // Asymmetric spikes: one direction queues for 100-400 ms now and then.
    if (opts.spikes && r() < 0.2) {
      if (r() < 0.5) up += 100 + 300 * r();
      else down += 100 + 300 * r();
    }
    const sent = local;
    const core = coreAt(sent + up);
    const recv = sent + up + down;
    sync.add({ sentLocal: sent, core, recvLocal: recv });
    local = recv + pingIntervalMs(i);
  }
  return { sync, error: sync.offsetMs - (coreAt(local) - local) };
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(p * s.length))]!;
}

describe("ClockSync", () => {
  it("is exact on a symmetric fixed path, and maps both ways", () => {
    const s = new ClockSync();
    for (let i = 0; i < 5; i++) s.add({ sentLocal: i * 1000, core: i * 1000 + 40 + 5000, recvLocal: i * 1000 + 80 });
    expect(s.offsetMs).toBe(5000);
    expect(s.toCoreTime(100)).toBe(5100);
    expect(s.toLocalTime(s.toCoreTime(123.5))).toBe(123.5);
    expect(s.quality).toMatchObject({ samples: 5, bestRttMs: 80, boundMs: 40, spreadMs: 0, ready: true });
  });

  it("over 60-100 ms random each way, 32 pings: |error| p50 and p95 within a few ms over 400 runs", () => {
    const errs: number[] = [];
    for (let seed = 1; seed <= 400; seed++) errs.push(Math.abs(simulate(seed, 32, 12_345.6).error));
    const p50 = pct(errs, 0.5);
    const p95 = pct(errs, 0.95);
    console.log(
      `clock offset |error| over 400 runs: p50 ${p50.toFixed(2)} ms, p95 ${p95.toFixed(2)} ms, max ${Math.max(...errs).toFixed(2)} ms`,
    );
    expect(p50).toBeLessThan(3);
    expect(p95).toBeLessThan(6);
  });

  it("asymmetric 100-400 ms spikes in 20% of trips do not move the estimate", () => {
    const errs: number[] = [];
    for (let seed = 1; seed <= 400; seed++) errs.push(Math.abs(simulate(seed, 32, -777, { spikes: true }).error));
    expect(pct(errs, 0.95)).toBeLessThan(8);
  });

  it("follows drift with its window (100 ppm over 200 pings)", () => {
    const { error } = simulate(7, 200, 0, { driftPpm: 100 });
    expect(Math.abs(error)).toBeLessThan(10);
  });

  it("ignores impossible samples and is not ready before minSamples", () => {
    const s = new ClockSync();
    expect(s.add({ sentLocal: 10, core: 5, recvLocal: 5 })).toBe(false);
    expect(s.add({ sentLocal: NaN, core: 5, recvLocal: 15 })).toBe(false);
    expect(s.quality.ready).toBe(false);
    expect(s.add({ sentLocal: 0, core: 50, recvLocal: 20 })).toBe(true);
    expect(s.quality).toMatchObject({ samples: 1, ready: false });
  });
});
