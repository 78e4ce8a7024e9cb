import { describe, expect, it } from "vitest";
import fc from "fast-check";
import { backoffDelay } from "../../protocol/backoff";

describe("backoffDelay", () => {
  it("doubles up to the cap and jitters within the upper half", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 0, max: 100 }),
        fc.integer({ min: 1, max: 5_000 }),
        fc.integer({ min: 1, max: 100 }),
        fc.double({ min: 0, max: 0.999999, noNaN: true }),
        (attempt, minMs, factor, r) => {
          const maxMs = minMs * factor;
          const ceiling = Math.min(maxMs, minMs * 2 ** attempt);
          const d = backoffDelay(attempt, { minMs, maxMs }, () => r);
          expect(d).toBeGreaterThanOrEqual(Math.floor(ceiling / 2));
          expect(d).toBeLessThanOrEqual(ceiling);
        },
      ),
    );
  });

  it("grows with the attempt for the same random draw", () => {
    const o = { minMs: 100, maxMs: 10_000 };
    const ds = [0, 1, 2, 3, 4, 5, 6, 7].map((a) => backoffDelay(a, o, () => 0.5));
    expect(ds).toEqual([75, 150, 300, 600, 1200, 2400, 4800, 7500]);
  });
});
