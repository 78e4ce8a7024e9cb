// The cue timeline: active cues at a position and the next change, checked against a brute-force oracle.

import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { CueTimeline } from "../../server/library/cue-timeline";
import type { Cue } from "../../server/library/subtitle-parse";

const cue = (startMs: number, endMs: number, text: string): Cue => ({ startMs, endMs, text });

describe("CueTimeline", () => {
  const t = new CueTimeline([cue(5000, 8000, "second"), cue(1000, 6000, "first"), cue(9000, 10000, "last")]);

  it("answers with the active cues in start order, joined by newline", () => {
    expect(t.textAt(0)).toBe("");
    expect(t.textAt(1000)).toBe("first");
    expect(t.textAt(5500)).toBe("first\nsecond");
    expect(t.textAt(6000)).toBe("second"); // end is exclusive
    expect(t.textAt(8500)).toBe("");
    expect(t.cuesAt(9999).map((c) => c.text)).toEqual(["last"]);
    expect(t.textAt(10000)).toBe("");
  });

  it("says when the answer next changes, for one timer per change", () => {
    expect(t.nextChange(-1)).toBe(1000);
    expect(t.nextChange(1000)).toBe(5000);
    expect(t.nextChange(5500)).toBe(6000);
    expect(t.nextChange(8000)).toBe(9000);
    expect(t.nextChange(10000)).toBeNull();
  });

  it("handles an empty list", () => {
    const empty = new CueTimeline([]);
    expect(empty.cuesAt(5)).toEqual([]);
    expect(empty.nextChange(0)).toBeNull();
  });

  it("agrees with a linear scan on random overlapping cue lists", () => {
    const arb = fc.array(fc.tuple(fc.integer({ min: 0, max: 2000 }), fc.integer({ min: 1, max: 500 })), {
      maxLength: 60,
    });
    fc.assert(
      fc.property(
        arb,
        fc.array(fc.integer({ min: -10, max: 2600 }), { minLength: 1, maxLength: 20 }),
        (spans, probes) => {
          const cues = spans.map(([s, d], k) => cue(s, s + d, `c${k}`));
          const tl = new CueTimeline(cues);
          const sorted = [...cues].sort((a, b) => a.startMs - b.startMs || a.endMs - b.endMs);
          for (const ms of probes) {
            expect(tl.cuesAt(ms)).toEqual(sorted.filter((c) => c.startMs <= ms && ms < c.endMs));
            const bounds = cues.flatMap((c) => [c.startMs, c.endMs]).filter((b) => b > ms);
            expect(tl.nextChange(ms)).toBe(bounds.length ? Math.min(...bounds) : null);
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it("stays fast on a large list with a cue spanning everything", () => {
    const cues = Array.from({ length: 20_000 }, (_, k) => cue(k * 1000, k * 1000 + 900, `c${k}`));
    cues.push(cue(0, 20_000_000, "sign"));
    const tl = new CueTimeline(cues);
    const t0 = performance.now();
    let found = 0;
    for (let k = 0; k < 100_000; k++) found += tl.cuesAt((k * 197) % 20_000_000).length;
    const ms = performance.now() - t0;
    expect(found).toBeGreaterThan(100_000);
    // A linear scan would take seconds here; the tree answers 100,000 queries in well under one.
    expect(ms).toBeLessThan(2_000);
  });
});

describe("cuePages", () => {
  it("splits a long track into pages that each fit the byte budget, losing nothing", async () => {
    const { cuePages } = await import("../../server/library/cue-pages");
    const cues = Array.from({ length: 5_000 }, (_, k) =>
      cue(k * 1000, k * 1000 + 900, `line ${k} é ${"x".repeat(k % 50)}`),
    );
    const pages = cuePages(cues, 64 * 1024);
    expect(pages.length).toBeGreaterThan(1);
    for (const p of pages) expect(Buffer.byteLength(JSON.stringify(p))).toBeLessThanOrEqual(64 * 1024);
    expect(pages.flat()).toEqual(cues);
    expect(cuePages([], 1000)).toEqual([]);
  });
});
