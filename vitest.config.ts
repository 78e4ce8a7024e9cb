import { svelte } from "@sveltejs/vite-plugin-svelte";
import { defineConfig } from "vitest/config";

// Test projects chosen by folder (tests/<kind>/):
//   unit/         logic behind ports, no sockets or processes
//   integration/  the real core and bridge on ephemeral ports, real sockets, real ffmpeg
//   fuzz/         mutated input against real parsers, sessions and servers
//   soak/         resource bounds and kill -9 chaos (SEALROOM_LONG=1 for the long runs)
//   e2e/          the web app in Debian's Chromium
// The browser tests run as the last group, so Chromium does not compete for
// the two cores with the tests that measure real-time pacing.
const shared = {
  environment: "node" as const,
  pool: "forks" as const,
  testTimeout: 30_000,
  hookTimeout: 60_000,
};

// The web app's stores (web/src/lib/**/*.svelte.ts) use runes: the unit
// project compiles them as the browser gets them (client output, real $state
// proxies), while imports still resolve for Node. Only svelte(), never
// svelteTesting(), which would make `ws` resolve to its browser stub.
const svelteStores = svelte({
  configFile: false,
  compilerOptions: { runes: true },
  dynamicCompileOptions: () => ({ generate: "client" }),
});

const SYNC_E2E = ["tests/e2e/e2e-party-sync.test.ts", "tests/e2e/e2e-cluster-party.test.ts"];

export default defineConfig({
  test: {
    maxWorkers: 2,
    projects: [
      {
        plugins: [svelteStores],
        test: { ...shared, name: "unit", include: ["tests/unit/**/*.test.ts"], sequence: { groupOrder: 0 } },
      },
      {
        test: {
          ...shared,
          name: "integration",
          include: ["tests/integration/**/*.test.ts", "tests/fuzz/**/*.test.ts", "tests/soak/**/*.test.ts"],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          ...shared,
          name: "e2e",
          include: ["tests/e2e/**/*.test.ts"],
          exclude: SYNC_E2E,
          sequence: { groupOrder: 1 },
        },
      },
      // The two that measure viewer skew in Chromium each run alone, last: with
      // another browser test beside them on two cores, a page can stall for a
      // second and the skew measures the machine (one full run: p95 400 ms).
      ...SYNC_E2E.map((file, i) => ({
        test: { ...shared, name: `e2e-sync-${i + 1}`, include: [file], sequence: { groupOrder: 2 + i } },
      })),
    ],
  },
});
