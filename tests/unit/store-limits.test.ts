// The room store's named limits: defaults, one-line refusals, and the away
// grace never outliving retention; resumeCheck's three answers at the edges.

import { describe, expect, it } from "vitest";
import { DEFAULT_STORE_LIMITS, effectiveAwayGraceMs, storeLimits } from "../../server/store/limits";
import { resumeCheck } from "../../server/store/roomStore";

describe("store limits", () => {
  it("has the documented defaults", () => {
    expect(storeLimits()).toEqual(DEFAULT_STORE_LIMITS);
    expect(DEFAULT_STORE_LIMITS.retentionMessages).toBe(10_000);
    expect(DEFAULT_STORE_LIMITS.retentionBytes).toBe(64 * 1_048_576);
    expect(DEFAULT_STORE_LIMITS.retentionAgeMs).toBe(7 * 86_400_000);
    expect(DEFAULT_STORE_LIMITS.awayGraceMs).toBe(86_400_000);
  });

  it("refuses a non-integer, zero or negative limit by name", () => {
    expect(() => storeLimits({ retentionMessages: 0 })).toThrow(/retentionMessages must be an integer >= 1, not 0/);
    expect(() => storeLimits({ retentionBytes: 1.5 })).toThrow(/retentionBytes/);
    expect(() => storeLimits({ groupCommitMs: -1 })).toThrow(/groupCommitMs must be an integer >= 0/);
    expect(storeLimits({ groupCommitMs: 0 }).groupCommitMs).toBe(0);
  });

  it("never keeps an away member longer than retention", () => {
    expect(effectiveAwayGraceMs(storeLimits({ retentionAgeMs: 3_600_000 }))).toBe(3_600_000);
    expect(effectiveAwayGraceMs(storeLimits({ awayGraceMs: 60_000 }))).toBe(60_000);
  });

  it("tells ok, gap and future apart at the edges of the range", () => {
    const r = { oldest: 11, last: 20 };
    expect(resumeCheck(10, r)).toBe("ok");
    expect(resumeCheck(9, r)).toBe("gap");
    expect(resumeCheck(20, r)).toBe("ok");
    expect(resumeCheck(21, r)).toBe("future");
    expect(resumeCheck(5, { oldest: 6, last: 5 })).toBe("ok"); // empty after retention, nothing missed
    expect(resumeCheck(4, { oldest: 6, last: 5 })).toBe("gap");
  });
});
