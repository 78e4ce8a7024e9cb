// How a failed web build is reported (bridge/webBuild.ts buildErrorText): on
// the console and on the bridge's 503 page, so plain, short and without paths.

import path from "node:path";
import { expect, it } from "vitest";
import { buildErrorText, ROOT } from "../../bridge/webBuild";

it("drops colours, the native backtrace and the repository path; clips", () => {
  const raw = new Error(
    `Build failed with 1 error:\n\n\x1b[31m[UNRESOLVED_IMPORT] \x1b[0mCould not resolve './x' in ${path.join(ROOT, "web/src/main.ts")}\n\nStack backtrace:\n   0: <unknown>\n`,
  );
  expect(buildErrorText(raw)).toBe(
    "Build failed with 1 error:\n\n[UNRESOLVED_IMPORT] Could not resolve './x' in web/src/main.ts",
  );
  expect(buildErrorText("x".repeat(5000), 100)).toBe("x".repeat(100) + "...");
  expect(buildErrorText(new Error(""))).toBe("Error");
});
