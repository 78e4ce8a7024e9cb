import { defineConfig } from "vitest/config";

// Node-side tests only: the web app is exercised end to end in real Chromium
// (tests/e2e), so no jsdom project is needed.
export default defineConfig({
  test: {
    include: ["tests/**/*.test.ts"],
    environment: "node",
    pool: "forks",
    // Two cores: pacing tests measure wall-clock time, so keep parallelism low.
    maxWorkers: 2,
    testTimeout: 30_000,
    hookTimeout: 60_000,
  },
});
