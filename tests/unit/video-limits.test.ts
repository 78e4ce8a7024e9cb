// `--limit NAME=N` takes the video pipeline's limits next to the protocol's,
// each to its own set, and still refuses names it does not know.

import { describe, expect, it } from "vitest";
import { UsageError } from "../../common/args";
import { parseAllLimits, parseLimits } from "../../server/main";
import { VIDEO_LIMITS } from "../../server/video/limits";

describe("--limit with video limits", () => {
  it("splits protocol and video limits", () => {
    const { limits, video } = parseAllLimits([
      "maxStreams=3",
      "decodeAheadSec=5",
      "maxDecodersPerMember=1",
      "minFreeDiskBytes=0",
    ]);
    expect(limits).toEqual({ maxStreams: 3 });
    expect(video).toEqual({ decodeAheadSec: 5, maxDecodersPerMember: 1, minFreeDiskBytes: 0 });
    expect(parseLimits(["decodeAheadSec=5", "maxFrame=9"])).toEqual({ maxFrame: 9 });
  });

  it("refuses unknown names and non-numbers, video or not", () => {
    for (const bad of ["decodeAheadSec=soon", "decodeAhead=5", "maxDecoders=-1", "toString=1", "__proto__=1"]) {
      expect(() => parseAllLimits([bad]), bad).toThrow(UsageError);
    }
  });

  it("every video limit has a positive default and is listed in docs/security.md", async () => {
    const { readFile } = await import("node:fs/promises");
    const doc = await readFile(new URL("../../docs/security.md", import.meta.url), "utf8");
    for (const [name, value] of Object.entries(VIDEO_LIMITS)) {
      expect(value).toBeGreaterThan(0);
      expect(doc, name).toContain(`| \`${name}\` |`);
    }
  });
});
