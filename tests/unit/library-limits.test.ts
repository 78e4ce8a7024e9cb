// `--limit NAME=N` takes the library's limits (subtitles, posters, watcher,
// small frames) next to the protocol's and the video pipeline's.

import { describe, expect, it } from "vitest";
import { UsageError } from "../../common/args";
import { parseAllLimits } from "../../server/main";
import { LIBRARY_DEFAULTS } from "../../server/library/limits";

describe("--limit with library limits", () => {
  it("puts them in their own set", () => {
    const r = parseAllLimits(["posterWidth=160", "smallVideoWidth=192", "maxStreams=2", "decodeAheadSec=5"]);
    expect(r.library).toEqual({ posterWidth: 160, smallVideoWidth: 192 });
    expect(r.limits).toEqual({ maxStreams: 2 });
    expect(r.video).toEqual({ decodeAheadSec: 5 });
    expect(() => parseAllLimits(["posterWidht=160"])).toThrow(UsageError);
  });

  it("every library limit has a positive default and is in docs/security.md", async () => {
    const { readFile } = await import("node:fs/promises");
    const doc = await readFile(new URL("../../docs/security.md", import.meta.url), "utf8");
    for (const [name, value] of Object.entries(LIBRARY_DEFAULTS)) {
      expect(value).toBeGreaterThan(0);
      expect(doc, name).toContain(`\`${name}\``);
    }
  });
});
