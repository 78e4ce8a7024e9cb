// Subtitles and posters in real browsers (cap "library2"): the library panel
// shows a poster, duration, resolution and subtitle languages, and refreshes
// by itself when a file is added; each viewer chooses its own track (and the
// choice is remembered across a reload); cues are timed by the stream and
// drawn over the picture as text, so `<script>` and `<img onerror>` cues are
// shown as the characters they are and never run. Screenshots go to
// docs/screenshots/ with SEALROOM_SCREENSHOTS=1 (as in e2e-screens).

import { copyFile, mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  ROOT,
  createRoom,
  ensureWebBuilt,
  joinByLink,
  launchChromium,
  newUser,
  startStack,
  type Stack,
  type User,
} from "../helpers/browser";

const SHOTS =
  process.env.SEALROOM_SCREENSHOTS === "1"
    ? path.join(ROOT, "docs", "screenshots")
    : path.join(os.tmpdir(), "sealroom-screenshots");
const SAMPLE = path.join(ROOT, "videos", "sample.mp4");
const ROOM = '.player[data-scope="room"]';

const SRT = `1
00:00:00,000 --> 00:00:03,000
<i>Welcome</i> to the party

2
00:00:03,000 --> 00:00:06,000
<script>window.__xss = 1</script>

3
00:00:06,000 --> 00:00:09,500
<img src=x onerror="window.__xss = 2">
`;
const VTT = `WEBVTT

00:00.000 --> 00:09.500
Bienvenue à la fête
`;

let root: string;
let lib: string;
let stack: Stack;
let browser: Browser;
let alice: User;
let bob: User;

const overlay = (p: Page) => p.locator(`${ROOM} [data-testid="subtitles"]`);

async function seek(p: Page, ms: number): Promise<void> {
  await p.locator(`${ROOM} input.seek`).fill(String(ms));
}

beforeAll(async () => {
  await ensureWebBuilt();
  root = await mkdtemp(path.join(os.tmpdir(), "sealroom-e2e-subs-"));
  lib = path.join(root, "videos");
  await mkdir(lib);
  await copyFile(SAMPLE, path.join(lib, "sample.mp4"));
  await writeFile(path.join(lib, "sample.en.srt"), SRT);
  await writeFile(path.join(lib, "sample.fr.vtt"), VTT);
  stack = await startStack({
    videos: { dir: lib, cacheDir: path.join(root, "cache"), libraryLimits: { watchDebounceMs: 200 } },
  });
  browser = await launchChromium();
  mkdirSync(SHOTS, { recursive: true });
  alice = await newUser(browser);
  bob = await newUser(browser, { viewport: { width: 360, height: 740 } });
  const link = await createRoom(alice.page, stack.url, "alice");
  await joinByLink(bob.page, link, "bob");
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
  if (root) await rm(root, { recursive: true, force: true });
});

describe("subtitles and posters in the browser", () => {
  it("shows a poster, duration, resolution and subtitle languages in the library", async () => {
    const item = alice.page.locator('li.video[data-video-id="sample.mp4"]');
    await item.waitFor();
    const img = item.getByTestId("poster");
    await img.waitFor({ timeout: 20_000 });
    await expect.poll(() => img.evaluate((e) => (e as HTMLImageElement).naturalWidth), { timeout: 10_000 }).toBe(320);
    expect(await img.getAttribute("src")).toMatch(/^blob:/);
    const facts = await item.textContent();
    expect(facts).toContain("0:10");
    expect(facts).toContain("640×360");
    expect(await item.getByTestId("subtitle-languages").textContent()).toBe("Subtitles: English, French");
    await alice.page.locator(".library").screenshot({ path: path.join(SHOTS, "library-posters.png") });
  });

  it("each viewer chooses its own track; markup cues are text, never HTML", async () => {
    await alice.page.getByRole("button", { name: "Play Sample for the room" }).click();
    await alice.page.locator(`${ROOM} canvas`).waitFor();
    await bob.page.locator(`${ROOM} canvas`).waitFor();
    await alice.page.getByRole("button", { name: "Pause" }).click();
    await seek(alice.page, 1000);
    await alice.page.locator(`${ROOM} select[aria-label="Subtitles"]`).selectOption({ label: "English" });
    await expect.poll(() => overlay(alice.page).textContent(), { timeout: 10_000 }).toContain("Welcome to the party");
    expect(await overlay(alice.page).locator("span.italic").textContent()).toBe("Welcome");
    // Bob chose nothing: nothing is shown to him.
    expect(await bob.page.locator(`${ROOM} select[aria-label="Subtitles"]`).inputValue()).toBe("");
    expect(await overlay(bob.page).count()).toBe(0);
    await alice.page.locator(ROOM).screenshot({ path: path.join(SHOTS, "subtitles-desktop.png") });

    await seek(alice.page, 4000);
    await expect
      .poll(() => overlay(alice.page).textContent(), { timeout: 10_000 })
      .toContain("<script>window.__xss = 1</script>");
    await alice.page.locator(ROOM).screenshot({ path: path.join(SHOTS, "subtitles-markup.png") });
    await seek(alice.page, 7000);
    await expect
      .poll(() => overlay(alice.page).textContent(), { timeout: 10_000 })
      .toContain('<img src=x onerror="window.__xss = 2">');
    expect(await overlay(alice.page).locator("script, img").count()).toBe(0);
    await alice.page.waitForTimeout(300);
    expect(await alice.page.evaluate(() => (window as unknown as { __xss?: number }).__xss)).toBeUndefined();
  });

  it("is readable at phone width (bob picks French)", async () => {
    await bob.page.locator(`${ROOM} select[aria-label="Subtitles"]`).selectOption({ label: "French" });
    await expect.poll(() => overlay(bob.page).textContent(), { timeout: 10_000 }).toContain("Bienvenue à la fête");
    const cue = overlay(bob.page).locator(".cue").first();
    const px = await cue.evaluate((e) => parseFloat(getComputedStyle(e).fontSize));
    expect(px).toBeGreaterThanOrEqual(15);
    const box = await cue.boundingBox();
    const stage = await bob.page.locator(`${ROOM} .stage`).boundingBox();
    expect(box && stage && box.x >= stage.x && box.x + box.width <= stage.x + stage.width + 1).toBe(true);
    // Alice still sees her own English line.
    expect(await overlay(alice.page).textContent()).toContain("<img");
    await bob.page.screenshot({ path: path.join(SHOTS, "subtitles-phone.png") });
  });

  it("follows the stream: resume plays the cues on, and the choice survives a reload", async () => {
    await seek(alice.page, 2000);
    await alice.page.getByRole("button", { name: "Play", exact: true }).click();
    // From 2 s, the 3 s boundary passes while playing: the line changes by itself.
    await expect.poll(() => overlay(alice.page).textContent(), { timeout: 10_000 }).toContain("<script>");
    await alice.page.reload();
    await alice.page.locator(`${ROOM} canvas`).waitFor({ timeout: 20_000 });
    const select = alice.page.locator(`${ROOM} select[aria-label="Subtitles"]`);
    await expect
      .poll(async () => (await select.locator("option:checked").textContent()) ?? "", { timeout: 10_000 })
      .toBe("English");
    await expect.poll(async () => (await overlay(alice.page).count()) > 0, { timeout: 10_000 }).toBe(true);
  });

  it("the library panel refreshes by itself when a video is added", async () => {
    await copyFile(SAMPLE, path.join(lib, "second_clip.mp4"));
    await alice.page.locator('li.video[data-video-id="second_clip.mp4"]').waitFor({ timeout: 15_000 });
    await bob.page.locator('li.video[data-video-id="second_clip.mp4"]').waitFor({ timeout: 15_000 });
  });

  it("logged no console errors", () => {
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });
});
