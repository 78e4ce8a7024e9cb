import { defineConfig } from "vitest/config";

// Node-side tests only: the web app is exercised end to end in real Chromium
// (tests/e2e-*), so no jsdom project is needed. The browser tests run as a
// second group, after the rest, so Chromium does not compete for the two
// cores with the tests that measure real-time pacing.
const shared = {
  environment: "node" as const,
  pool: "forks" as const,
  testTimeout: 30_000,
  hookTimeout: 60_000,
};

export default defineConfig({
  test: {
    maxWorkers: 2,
    projects: [
      {
        test: {
          ...shared,
          name: "node",
          include: ["tests/**/*.test.ts"],
          exclude: ["tests/e2e-*.test.ts"],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: "browser",
          include: ["tests/e2e-*.test.ts"],
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
