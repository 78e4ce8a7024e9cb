// The core's token buckets on a simulated clock: costs per take, debt for a
// take over the burst, one flood watch per connection, and what the default
// send budget lets through (the largest legitimate message, a flood).

import { describe, expect, it } from "vitest";
import { generateIdentity, sealEnvelope } from "../../protocol/crypto";
import { DEFAULT_LIMITS, MAX_TEXT_CHARS } from "../../protocol/limits";
import {
  connectionLimiters,
  FloodWatch,
  RateLimiter,
  SendBudgets,
  sendCosts,
  TokenBucket,
  type BudgetLimits,
  type RateVerdict,
} from "../../server/ratelimit";
import { msgFrame } from "../../server/wire";

const limiter = (rate: number, burst: number, fatalMs = 5_000) =>
  new RateLimiter([new TokenBucket(rate, burst, 0)], new FloodWatch(fatalMs));

/** A fresh connection's limiters, for a member whose send buckets are new. */
function fresh(l: BudgetLimits, now = 0) {
  const c = connectionLimiters(l, now);
  return { frames: c.frames, sends: c.sends(new SendBudgets(l, 10).of("member", now)) };
}

describe("RateLimiter", () => {
  it("serves the burst, then the rate; tells once a second; a flood lasting fatalMs is fatal", () => {
    const r = limiter(50, 100, 5_000);
    const at0 = Array.from({ length: 101 }, () => r.take(0));
    expect(at0.slice(0, 100).every((v) => v === "ok")).toBe(true);
    expect(at0[100]).toBe("drop_and_tell");
    expect(r.take(10)).toBe("drop"); // 10 ms: half a token
    expect(r.take(30)).toBe("ok"); // 30 ms: 1.5 tokens
    // 200 frames a second from here on: 50 pass, the rest dropped, told once a second.
    const seen: RateVerdict[] = [];
    for (let t = 35; t < 4_900; t += 5) seen.push(r.take(t));
    const told = seen.filter((v) => v === "drop_and_tell").length;
    expect(told).toBeGreaterThanOrEqual(4);
    expect(told).toBeLessThanOrEqual(5);
    expect(seen.filter((v) => v === "ok").length).toBeLessThanOrEqual(Math.ceil(50 * 4.9) + 1);
    expect(seen).not.toContain("fatal");
    let last: RateVerdict = "ok";
    for (let t = 4_900; t <= 5_100 && last !== "fatal"; t += 5) last = r.take(t);
    expect(last).toBe("fatal");
  });

  it("a quiet second ends a flood", () => {
    const r = limiter(1, 1, 2_000);
    expect(r.take(0)).toBe("ok");
    expect(r.take(100)).toBe("drop_and_tell"); // a flood begins
    expect(r.take(900)).toBe("drop");
    expect(r.take(2_500)).toBe("ok"); // 1.6 s without a drop
    expect(r.take(2_600)).toBe("drop_and_tell"); // a new flood, told again
    // 3.3 s after the first flood began, but only 0.8 s into this one.
    expect(r.take(3_400)).toBe("drop");
  });

  it("charges a cost per take, all buckets or none", () => {
    const two = new RateLimiter(
      [new TokenBucket(1_000, 10_000, 0), new TokenBucket(100, 1_000, 0)],
      new FloodWatch(5_000),
    );
    expect(two.take(0, [6_000, 600])).toBe("ok");
    // The first bucket has 4,000 left, the second only 400: nothing is spent.
    expect(two.take(0, [3_000, 500])).toBe("drop_and_tell");
    expect(two.take(0, [4_000, 400])).toBe("ok");
    expect(two.take(0, [1, 1])).not.toBe("ok");
  });

  it("a take over the whole burst passes from a full bucket and leaves it in debt", () => {
    const r = limiter(1_000, 1_000);
    expect(r.take(0, [5_000])).toBe("ok");
    expect(r.take(3_000, [1])).not.toBe("ok"); // 4,000 in debt, 3,000 repaid
    expect(r.take(4_001, [1])).toBe("ok");
    expect(r.take(4_002, [5_000])).not.toBe("ok"); // not full: waits
  });

  it("a connection's frame and send limiters share one flood watch: one rate_limited a second in all", () => {
    const { frames, sends } = fresh({
      ...DEFAULT_LIMITS,
      rateLimitBurst: 1,
      fanoutBytesPerSec: 1,
      fanoutBurstBytes: 10,
      recipientBytesPerSec: 1,
      recipientBurstBytes: 10,
    });
    expect(frames.take(0)).toBe("ok");
    expect(sends.take(0, sendCosts(5, 2))).toBe("ok");
    expect(frames.take(1)).toBe("drop_and_tell");
    expect(sends.take(2, sendCosts(5, 2))).toBe("drop");
  });
});

describe("SendBudgets", () => {
  it("gives a member the same buckets on every connection: a reconnect brings no fresh burst", () => {
    const l = { ...DEFAULT_LIMITS, recipientBytesPerSec: 1, recipientBurstBytes: 1_000 };
    const book = new SendBudgets(l, 10);
    const first = connectionLimiters(l, 0).sends(book.of("flooder", 0));
    expect(first.take(0, sendCosts(1_000, 1))).toBe("ok");
    const second = connectionLimiters(l, 10).sends(book.of("flooder", 10));
    expect(second.take(10, sendCosts(1_000, 1))).toBe("drop_and_tell");
    // Someone else's budget is their own.
    expect(connectionLimiters(l, 10).sends(book.of("other", 10)).take(10, sendCosts(1_000, 1))).toBe("ok");
  });

  it("forgets the least recently joined past its cap", () => {
    const book = new SendBudgets(DEFAULT_LIMITS, 3);
    const a = book.of("a", 0);
    book.of("b", 0);
    book.of("c", 0);
    expect(book.of("a", 0)).toBe(a); // a is now the most recent
    book.of("d", 0); // b goes
    expect(book.size).toBe(3);
    expect(book.of("a", 0)).toBe(a);
    const b = book.of("b", 0);
    expect(book.of("b", 0)).toBe(b);
    expect(book.size).toBe(3);
  });
});

describe("the default send budget", () => {
  it("lets the largest legitimate message through at typing rates; to one member, 18 at once and 2 a second", async () => {
    // 4,000 characters that JSON escapes to 6 bytes each, sealed with 4096-bit
    // keys for a full room: the largest envelope a v1 client makes.
    const bits = 4096;
    // One identity signs and stands in for every recipient's key (same sizes).
    const me = await generateIdentity({ modulusLength: bits });
    const n = DEFAULT_LIMITS.maxMembersPerRoom - 1;
    const ids = Array.from({ length: n }, (_, i) => `${me.id.slice(0, 16)}${String(i).padStart(6, "0")}`);
    const env = await sealEnvelope(me, {
      room: "r",
      mid: "m".repeat(22),
      text: "\u0001".repeat(MAX_TEXT_CHARS),
      ts: Date.now(),
      recipients: ids.map((id) => ({ id, encKey: me.encKey })),
    });
    const envJson = JSON.stringify(env);
    expect(Buffer.byteLength(envJson)).toBeLessThanOrEqual(DEFAULT_LIMITS.maxEnvelope);
    const bytes = msgFrame({ t: "msg", from: me.id, mid: "m".repeat(22), to: ids, at: Date.now() }, envJson).length;
    console.log(
      `[budget] largest legitimate msg frame ${bytes} bytes to ${n} recipients: ${((bytes * n) / 1e6).toFixed(1)} MB of fan-out`,
    );

    // Someone pastes two at once, then one a second for a minute.
    const { sends } = fresh(DEFAULT_LIMITS);
    expect(sends.take(0, sendCosts(bytes, n))).toBe("ok");
    expect(sends.take(0, sendCosts(bytes, n))).toBe("ok");
    for (let t = 1_000; t <= 60_000; t += 1_000) expect(sends.take(t, sendCosts(bytes, n)), `at ${t} ms`).toBe("ok");
    // The same message to one member, as fast as frames allow (50/s): 18 at
    // once, then about 2 a second (recipientBytesPerSec), for 5 s.
    const one = fresh(DEFAULT_LIMITS).sends;
    let ok = 0;
    for (let t = 0; t < 5_000; t += 20) if (one.take(t, sendCosts(bytes, 1)) === "ok") ok++;
    expect(ok).toBeGreaterThanOrEqual(18 + 2 * 5 - 1);
    expect(ok).toBeLessThanOrEqual(
      Math.ceil((DEFAULT_LIMITS.recipientBurstBytes + 5 * DEFAULT_LIMITS.recipientBytesPerSec) / bytes) + 1,
    );
  });

  it("what one sender can add to any one recipient stays under the burst plus 0.5 MiB/s, whatever it sends", () => {
    const { sends } = fresh(DEFAULT_LIMITS);
    const frame = 200 * 1024 + 600;
    let got = 0;
    let verdicts: RateVerdict[] = [];
    for (let t = 0; t < 4_900; t += 20) {
      const v = sends.take(t, sendCosts(frame, 6));
      verdicts.push(v);
      if (v === "ok") got += frame;
      expect(got).toBeLessThanOrEqual(
        DEFAULT_LIMITS.recipientBurstBytes + (DEFAULT_LIMITS.recipientBytesPerSec * t) / 1000 + frame,
      );
    }
    expect(verdicts.filter((v) => v === "drop_and_tell").length).toBeGreaterThanOrEqual(4);
    // Still at it 5 s after the first drop: fatal.
    verdicts = [];
    for (let t = 4_900; t < 6_000; t += 20) verdicts.push(sends.take(t, sendCosts(frame, 6)));
    expect(verdicts).toContain("fatal");
  });
});
