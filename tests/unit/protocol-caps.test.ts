// hello.caps: unknown names are ignored, the list is bounded, and a v1 hello
// (no caps) still parses exactly as before.
import { describe, expect, it } from "vitest";
import { KNOWN_CAPS, MAX_CAPS, knownCaps } from "../../protocol/caps";
import { Hello } from "../../protocol/messages";

const base = {
  t: "hello",
  v: 1,
  name: "Alice",
  room: "r1",
  encKey: "AA==",
  sigKey: "AA==",
  encKeySig: "AA==",
  proof: "AA==",
};

describe("capabilities", () => {
  it("keeps only known names, once each", () => {
    expect(knownCaps(undefined).size).toBe(0);
    expect(knownCaps(["no-such-cap", "no-such-cap"]).size).toBe(0);
    for (const c of KNOWN_CAPS) expect(knownCaps([c, c, "other"]).has(c)).toBe(true);
  });

  it("a v1 hello without caps parses, and one with unknown caps too", () => {
    expect(Hello.safeParse(base).success).toBe(true);
    const r = Hello.safeParse({ ...base, caps: ["future-thing"] });
    expect(r.success && r.data.caps).toEqual(["future-thing"]);
  });

  it("refuses too many, empty, over-long or non-string names", () => {
    expect(Hello.safeParse({ ...base, caps: Array.from({ length: MAX_CAPS + 1 }, (_, i) => `c${i}`) }).success).toBe(
      false,
    );
    expect(Hello.safeParse({ ...base, caps: [""] }).success).toBe(false);
    expect(Hello.safeParse({ ...base, caps: ["x".repeat(33)] }).success).toBe(false);
    expect(Hello.safeParse({ ...base, caps: [1] }).success).toBe(false);
    expect(Hello.safeParse({ ...base, caps: "audio" }).success).toBe(false);
  });
});
