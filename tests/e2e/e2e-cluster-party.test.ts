// One watch party across two cores, in Chromium: two `sealroom server
// --cluster` processes on a real nats-server (each with its own clock origin),
// a bridge for each, and a page on each bridge. Alice (core 0) plays the sync
// sample (frame index in the pixels) for the room; Bob (core 1) pauses and
// resumes it from his page; both pages are sampled at the same wall-clock
// instants, as in e2e-party-sync, and each frame's first drawn moment is
// compared across the two cores.

import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBridge } from "../../bridge/bridge";
import { makeSyncSample } from "../../scripts/make-sync-sample";
import { WEB_DIST, createRoom, ensureWebBuilt, joinByLink, launchChromium, watchErrors } from "../helpers/browser";
import { decodeFrameCode } from "../helpers/frameCode";
import { natsServerInstalled, startNats, type NatsServer } from "../helpers/nats";
import { spawnCore, stopProc, type Spawned } from "../helpers/security-support";

const FPS = 30;
const FRAME_MS = 1000 / FPS;
const PARTY_MS = 14_000;

type Draw = { wall: number; code: number | null };

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
}
const fmt = (xs: number[]) =>
  `n=${xs.length} p50=${percentile(xs, 50).toFixed(1)} p95=${percentile(xs, 95).toFixed(1)} max=${Math.max(...xs).toFixed(1)} ms`;

/** Every drawn frame's wall time and the index read from its pixels. */
async function instrument(page: Page): Promise<void> {
  await page.waitForFunction(
    () => Object.keys((globalThis as { __sealroomPlayers?: object }).__sealroomPlayers ?? {}).length > 0,
    null,
    { timeout: 20_000 },
  );
  await page.evaluate(
    ({ decodeSrc }) => {
      const decode = new Function(`return (${decodeSrc})`)() as (
        d: Uint8ClampedArray,
        w: number,
        h: number,
      ) => number | null;
      const g = globalThis as unknown as {
        __sealroomPlayers: Record<
          string,
          { renderer: { onDraw: ((p: number, at: number) => void) | null }; canvas: HTMLCanvasElement }
        >;
        __draws: { wall: number; code: number | null }[];
      };
      const draws: { wall: number; code: number | null }[] = (g.__draws = []);
      const player = Object.values(g.__sealroomPlayers)[0]!;
      const ctx2d = player.canvas.getContext("2d")!;
      const w = player.canvas.width;
      const strip = Math.ceil(w / 20);
      player.renderer.onDraw = (_pts, at) => {
        const img = ctx2d.getImageData(0, 0, w, strip);
        draws.push({ wall: performance.timeOrigin + at, code: decode(img.data, w, strip) });
      };
    },
    { decodeSrc: decodeFrameCode.toString() },
  );
}

const drawsOf = (page: Page) => page.evaluate(() => (globalThis as unknown as { __draws: Draw[] }).__draws);

function firstShown(draws: Draw[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const d of draws) if (d.code !== null && !m.has(d.code)) m.set(d.code, d.wall);
  return m;
}

function shownAt(draws: Draw[], t: number): number | null {
  let lo = 0;
  let hi = draws.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (draws[mid]!.wall <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? null : draws[lo - 1]!.code;
}

describe.runIf(natsServerInstalled() || process.env.CI)("a watch party across two cores, in Chromium", () => {
  let nats: NatsServer;
  const cores: Spawned[] = [];
  const bridges: Awaited<ReturnType<typeof startBridge>>[] = [];
  let browser: Browser;
  let alice: Page;
  let bob: Page;
  const errors: string[] = [];
  let dir: string;

  beforeAll(async () => {
    await ensureWebBuilt();
    dir = mkdtempSync(path.join(os.tmpdir(), "sealroom-xparty-"));
    await makeSyncSample(path.join(dir, "lib", "sync.mp4"), { durationS: 30 });
    nats = await startNats();
    for (let i = 0; i < 2; i++)
      cores.push(
        await spawnCore([
          "--port",
          "0",
          "--videos",
          path.join(dir, "lib"),
          "--cache-dir",
          path.join(dir, `cache${i}`),
          "--cluster",
          nats.url,
          "--node",
          `w${i}`,
          "--cluster-namespace",
          `xp${process.pid}`,
        ]),
      );
    for (const c of cores)
      bridges.push(
        await startBridge({ host: "127.0.0.1", port: 0, core: { host: "127.0.0.1", port: c.port }, web: WEB_DIST }),
      );
    browser = await launchChromium();
    const page = async () => {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
      const p = await ctx.newPage();
      watchErrors(p, errors);
      return p;
    };
    alice = await page();
    bob = await page();
    const link = await createRoom(alice, bridges[0]!.url, "alice");
    const other = new URL(link);
    other.host = new URL(bridges[1]!.url).host; // the same room link, through the other bridge to the other core
    await joinByLink(bob, other.toString(), "bob");
    await alice.locator(".toasts").getByText("bob joined").waitFor({ timeout: 20_000 });
  }, 180_000);

  afterAll(async () => {
    await browser?.close();
    for (const b of bridges) await b.stop();
    for (const c of cores) await stopProc(c);
    await nats?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("pages on two cores show the same frame at the same moment; a pause and resume from the second core reach the first", async () => {
    const t0 = Date.now();
    await alice.getByRole("button", { name: "Play Sync for the room" }).click();
    await instrument(alice);
    await instrument(bob);
    await alice.waitForTimeout(PARTY_MS / 2);
    // Bob, on the other core, pauses: Alice's player stops too.
    const bobPlay = bob.locator('.player[data-scope="room"] button.play');
    await bobPlay.click();
    const pausedAt = Date.now();
    // Alice's player says paused (streamState from her core), then draws nothing more
    const alicePlay = alice.locator('.player[data-scope="room"] button.play');
    await expect.poll(() => alicePlay.getAttribute("aria-label"), { timeout: 10_000 }).toBe("Play");
    await alice.waitForTimeout(300);
    const aliceNow = async () => (await drawsOf(alice)).length;
    const before = await aliceNow();
    await alice.waitForTimeout(700);
    expect(await aliceNow()).toBeLessThanOrEqual(before + 1); // at most a frame already due as the pause landed
    await bobPlay.click();
    await expect.poll(() => alicePlay.getAttribute("aria-label"), { timeout: 10_000 }).toBe("Pause");
    const resumedAt = Date.now();
    await alice.waitForTimeout(PARTY_MS / 2);
    const end = Date.now();

    const [a, b] = await Promise.all([drawsOf(alice), drawsOf(bob)]);
    expect(a.filter((d) => d.code !== null).length).toBeGreaterThan((PARTY_MS / 1000) * FPS * 0.7);
    expect(b.filter((d) => d.code !== null).length).toBeGreaterThan((PARTY_MS / 1000) * FPS * 0.7);
    const settle = (w: number) => w - t0 < 1500 || (w > pausedAt - 500 && w < resumedAt + 1000);
    const fa = firstShown(a);
    const fb = firstShown(b);
    const skew: number[] = [];
    for (const [code, wa] of fa) {
      const wb = fb.get(code);
      if (wb === undefined || settle(wa)) continue;
      skew.push(Math.abs(wa - wb));
    }
    const sampled: number[] = [];
    for (let t = t0 + 1500; t < end - 500; t += 50) {
      if (settle(t)) continue;
      const ia = shownAt(a, t);
      const ib = shownAt(b, t);
      if (ia === null || ib === null) continue;
      sampled.push(Math.abs(ia - ib) * FRAME_MS);
    }
    console.log(`cross-core viewer skew in Chromium (first shown, core 0 vs core 1): ${fmt(skew)}`);
    console.log(`cross-core viewer skew in Chromium (sampled every 50 ms, frame index x 33.3 ms): ${fmt(sampled)}`);
    expect(skew.length).toBeGreaterThan((PARTY_MS / 1000) * FPS * 0.4);
    // One frame, plus 1 ms for the jitter of rAF timestamps (a 33.5 ms pair is a one-frame pair).
    expect(percentile(skew, 95)).toBeLessThanOrEqual(FRAME_MS + 1);
    // As in e2e-party-sync: instants sampled every 50 ms also catch a page a rAF tick before the other
    // turning to the next frame; that view is held to two frames, the first-shown figure to one.
    expect(percentile(sampled, 95)).toBeLessThanOrEqual(2 * FRAME_MS + 1);
    expect(errors).toEqual([]);
  }, 120_000);
});
