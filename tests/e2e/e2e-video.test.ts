// Watch parties in real browsers: the core decodes the sample clip, paces
// JPEG frames through the bridge, and each page draws them on a canvas. The
// assertions look at the canvas pixels, not at internal state.

import { existsSync } from "node:fs";
import path from "node:path";
import type { Browser, Page } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ROOT,
  canvasSignature,
  createRoom,
  ensureWebBuilt,
  joinByLink,
  launchChromium,
  newUser,
  startStack,
  type Stack,
  type User,
} from "../helpers/browser";

const VIDEOS = path.join(ROOT, "videos");
const hasVideo =
  existsSync(path.join(ROOT, "server", "video", "service.ts")) && existsSync(path.join(VIDEOS, "sample.mp4"));

const ROOM_CANVAS = '.player[data-scope="room"] canvas';
const SELF_CANVAS = '.player[data-scope="self"] canvas';

/** Samples the canvas twice, `gapMs` apart. */
async function changesOver(page: Page, selector: string, gapMs: number): Promise<boolean> {
  const a = await canvasSignature(page, selector);
  await page.waitForTimeout(gapMs);
  const b = await canvasSignature(page, selector);
  return a !== b;
}

/** Clicks inside the page and times until the canvas reports its first drawn frame. */
async function timeToFirstFrame(page: Page, buttonLabel: string, canvasSelector: string): Promise<number> {
  return page.evaluate(
    ({ buttonLabel, canvasSelector }) =>
      new Promise<number>((resolve, reject) => {
        const button = document.querySelector<HTMLButtonElement>(`button[aria-label="${buttonLabel}"]`);
        if (!button) return reject(new Error(`no button ${buttonLabel}`));
        const t0 = performance.now();
        button.click();
        const deadline = t0 + 10_000;
        const check = () => {
          const c = document.querySelector<HTMLCanvasElement>(canvasSelector);
          if (c && Number(c.dataset.drawn ?? 0) >= 1) return resolve(performance.now() - t0);
          if (performance.now() > deadline) return reject(new Error("no frame within 10 s"));
          requestAnimationFrame(check);
        };
        check();
      }),
    { buttonLabel, canvasSelector },
  );
}

describe.skipIf(!hasVideo)("watch parties in the browser", () => {
  let stack: Stack;
  let browser: Browser;
  let alice: User;
  let bob: User;

  beforeAll(async () => {
    await ensureWebBuilt();
    stack = await startStack({ videos: VIDEOS });
    browser = await launchChromium();
    alice = await newUser(browser);
    bob = await newUser(browser);
    const link = await createRoom(alice.page, stack.url, "alice");
    await joinByLink(bob.page, link, "bob");
  }, 120_000);

  afterAll(async () => {
    await browser?.close();
    await stack?.stop();
  });

  it("lists the library with title, duration, resolution and size", async () => {
    for (const u of [alice, bob]) {
      const item = u.page.locator('li.video[data-video-id="sample.mp4"]');
      await item.waitFor();
      const facts = await item.locator(".facts").textContent();
      expect(facts).toContain("0:10");
      expect(facts).toContain("640×360");
      expect(facts).toMatch(/\d+ KB|\d+\.\d MB/);
    }
  });

  it("plays for the room: both canvases move, and both say who started it", async () => {
    const ms = await timeToFirstFrame(alice.page, "Play Sample for the room", ROOM_CANVAS);
    console.log(`play (room) -> first frame drawn on canvas: ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(5_000);
    await bob.page.locator(ROOM_CANVAS).waitFor();
    await expect.poll(() => bob.page.getByTestId("party").textContent()).toContain("Watch party started by alice");
    await expect.poll(() => alice.page.getByTestId("party").textContent()).toContain("Watch party started by you");
    await expect.poll(() => changesOver(alice.page, ROOM_CANVAS, 400), { timeout: 5_000 }).toBe(true);
    await expect.poll(() => changesOver(bob.page, ROOM_CANVAS, 400), { timeout: 5_000 }).toBe(true);
    // The overlay counts what arrived and what was drawn.
    await expect
      .poll(async () => Number((await bob.page.getByTestId("stats").textContent())?.match(/received (\d+)/)?.[1] ?? 0))
      .toBeGreaterThan(10);
  });

  it("pause stops the picture for everyone; resume moves it again", async () => {
    await bob.page.getByRole("button", { name: "Pause" }).click();
    await expect.poll(() => alice.page.getByTestId("party").textContent()).toContain("paused by bob");
    // Frames already in flight finish; after that nothing changes.
    await alice.page.waitForTimeout(400);
    expect(await changesOver(alice.page, ROOM_CANVAS, 800)).toBe(false);
    expect(await changesOver(bob.page, ROOM_CANVAS, 800)).toBe(false);
    await alice.page.getByRole("button", { name: "Play", exact: true }).click();
    await expect.poll(() => bob.page.getByTestId("party").textContent()).toContain("resumed by alice");
    await expect.poll(() => changesOver(bob.page, ROOM_CANVAS, 400), { timeout: 5_000 }).toBe(true);
  });

  it("seeks from the seek bar, for everyone", async () => {
    await bob.page.locator('.player[data-scope="room"] input.seek').fill("7000");
    await expect.poll(() => alice.page.getByTestId("party").textContent()).toContain("moved by bob");
    await expect
      .poll(() => alice.page.locator('.player[data-scope="room"] .time').textContent(), { timeout: 5_000 })
      .toMatch(/^0:0[789] \/ 0:10$/);
  });

  it("plays a self stream for one viewer only, beside the room stream", async () => {
    // Restart the room stream so it outlasts this test.
    await alice.page.getByRole("button", { name: "Play Sample for the room" }).click();
    const ms = await timeToFirstFrame(bob.page, "Play Sample for me", SELF_CANVAS);
    console.log(`play (self) -> first frame drawn on canvas: ${ms.toFixed(0)} ms`);
    await expect.poll(() => changesOver(bob.page, SELF_CANVAS, 400), { timeout: 5_000 }).toBe(true);
    await expect(bob.page.locator('.player[data-scope="self"]').getByTestId("party").textContent()).resolves.toContain(
      "Playing for you only",
    );
    expect(await alice.page.locator(SELF_CANVAS).count()).toBe(0);
    await bob.page.locator('.player[data-scope="self"]').getByRole("button", { name: "Stop" }).click();
    await expect.poll(() => bob.page.locator(SELF_CANVAS).count()).toBe(0);
    await bob.page.locator(".ended", { hasText: "stopped" }).waitFor();
  });

  it("streamEnd clears the player in every browser, with the reason", async () => {
    await alice.page.locator(ROOM_CANVAS).waitFor();
    await alice.page.getByRole("button", { name: "Stop for everyone" }).click();
    for (const u of [alice, bob]) {
      await expect.poll(() => u.page.locator(ROOM_CANVAS).count()).toBe(0);
      await u.page.locator(".ended", { hasText: "(watch party) stopped" }).waitFor();
    }
  });

  it("logged no console errors", () => {
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });
});

if (!hasVideo) {
  describe("watch parties in the browser", () => {
    it.skip("needs the core's video service (server/video/service.ts) and videos/sample.mp4", () => {});
  });
}
