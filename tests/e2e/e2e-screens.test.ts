// The screens people see: a plain-HTTP LAN address gets the HTTPS page
// instead of a broken app, the room fits a 360 px phone, notices never cover
// the composer, and the main screens are saved to docs/screenshots/ for the
// README.

import { mkdirSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Locator } from "playwright";
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

// The committed screenshots are refreshed only on request
// (SEALROOM_SCREENSHOTS=1), so an ordinary test run leaves the tree clean.
const SHOTS =
  process.env.SEALROOM_SCREENSHOTS === "1"
    ? path.join(ROOT, "docs", "screenshots")
    : path.join(os.tmpdir(), "sealroom-screenshots");
const VIDEOS = path.join(ROOT, "videos");

let stack: Stack;
let browser: Browser;

beforeAll(async () => {
  await ensureWebBuilt();
  // sealroom-lan.test stands for a LAN name the operator allowed (--allow-host).
  stack = await startStack({ videos: VIDEOS }, { allowHosts: ["sealroom-lan.test"] });
  browser = await launchChromium();
  mkdirSync(SHOTS, { recursive: true });
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe("screens", () => {
  it("explains HTTPS instead of breaking on a plain-HTTP non-local address", async () => {
    // A name that is not localhost makes the page a non-secure context, as a
    // LAN address would; the resolver rule points it at the local bridge.
    const port = new URL(stack.url).port;
    const lan = await launchChromium(["--host-resolver-rules=MAP sealroom-lan.test 127.0.0.1"]);
    try {
      const page = await lan.newPage();
      const errors: string[] = [];
      page.on("pageerror", (e) => errors.push(e.message));
      await page.goto(`http://sealroom-lan.test:${port}/r/someroom`);
      expect(await page.evaluate(() => window.isSecureContext)).toBe(false);
      await expect(page.getByRole("heading", { level: 1 }).textContent()).resolves.toBe(
        "Sealroom needs HTTPS here: run the bridge with --https",
      );
      expect(errors).toEqual([]);
      await page.screenshot({ path: path.join(SHOTS, "needs-https.png") });
    } finally {
      await lan.close();
    }
  });

  it("validates the name on the landing page with a clear message", async () => {
    const u = await newUser(browser);
    await u.page.goto(stack.url);
    const box = u.page.getByLabel("Your name");
    await box.fill("bad<name>");
    await expect(u.page.getByText("Use letters, digits, spaces and _ - . only.").count()).resolves.toBe(1);
    expect(await u.page.getByRole("button", { name: "Create room" }).isDisabled()).toBe(true);
    await box.fill("x".repeat(33));
    await expect(u.page.getByText("Names are 1 to 32 characters.").count()).resolves.toBe(1);
    // Surrounding spaces are trimmed for the user, not held against them.
    await box.fill("  Alice ");
    expect(await u.page.getByRole("button", { name: "Create room" }).isDisabled()).toBe(false);
    await box.fill("Alice");
    await u.page.screenshot({ path: path.join(SHOTS, "landing.png") });
    expect(u.errors).toEqual([]);
    await u.context.close();
  });

  it("captures a room with chat, a watch party, and fits 360 px without sideways scrolling", async () => {
    const alice: User = await newUser(browser);
    const bob: User = await newUser(browser);
    const link = await createRoom(alice.page, stack.url, "alice");
    await joinByLink(bob.page, link, "bob");
    await expect.poll(() => alice.page.locator("li.member").count()).toBe(2);
    const say = async (u: User, text: string) => {
      await u.page.getByLabel("Message").fill(text);
      await u.page.getByLabel("Message").press("Enter");
    };
    await say(
      alice,
      "Hi Bob! Compare safety codes? Mine ends in " +
        (await alice.page.locator("li.member.self .safety").textContent())?.slice(-4),
    );
    await bob.page.locator("li.msg").first().waitFor();
    await say(bob, "Matches what I see. Shall we watch the sample?");
    await alice.page.locator("li.msg", { hasText: "Shall we watch" }).waitFor();
    await alice.page.locator("li.member", { hasText: "bob" }).locator("button.code").click();
    await alice.page.locator(".fingerprint", { hasText: /[0-9a-f]{4} / }).waitFor();
    await alice.page
      .getByText("bob joined")
      .waitFor({ state: "detached", timeout: 10_000 })
      .catch(() => {});
    await alice.page.screenshot({ path: path.join(SHOTS, "room-chat.png") });

    await alice.page.locator('li.video[data-video-id="sample.mp4"]').waitFor();
    await alice.page.getByRole("button", { name: "Play Sample for the room" }).click();
    await bob.page.locator('.player[data-scope="room"] canvas[data-drawn]').waitFor();
    await say(bob, "Looks great here.");
    await bob.page.waitForTimeout(1500);
    await bob.page.screenshot({ path: path.join(SHOTS, "watch-party.png") });

    await bob.page.setViewportSize({ width: 360, height: 780 });
    await bob.page.waitForTimeout(300);
    const overflow = await bob.page.evaluate(
      () => document.documentElement.scrollWidth - document.documentElement.clientWidth,
    );
    expect(overflow).toBeLessThanOrEqual(0);
    await bob.page.screenshot({ path: path.join(SHOTS, "room-mobile.png"), fullPage: true });
    expect(alice.errors).toEqual([]);
    expect(bob.errors).toEqual([]);
  });

  // Issue 9 part 6: at 1280x800 the join toast sat on the Send button.
  for (const [label, viewport, shot] of [
    ["desktop", { width: 1280, height: 800 }, "room-toast.png"],
    ["phone", { width: 390, height: 844 }, "room-toast-mobile.png"],
  ] as const) {
    it(`shows join toasts in view without covering the composer, Send or the header buttons (${label} ${viewport.width}x${viewport.height})`, async () => {
      const alice = await newUser(browser, { viewport });
      const bob = await newUser(browser);
      const carol = await newUser(browser);
      const link = await createRoom(alice.page, stack.url, "alice");
      // Two people arriving together: two toasts stacked.
      await Promise.all([joinByLink(bob.page, link, "bob"), joinByLink(carol.page, link, "carol")]);
      await alice.page.locator(".toast", { hasText: "bob joined" }).waitFor();
      await alice.page.locator(".toast", { hasText: "carol joined" }).waitFor();
      // Where a person typing looks: the composer in view at the bottom of
      // the window (on a phone the page scrolls; the browser puts a focused
      // field there).
      await alice.page.getByLabel("Message").fill("typing while people join");
      await alice.page.evaluate(() => {
        const form = document.querySelector("form.composer")!.getBoundingClientRect();
        window.scrollBy(0, form.bottom - window.innerHeight + 8);
      });
      const toasts = await alice.page.locator(".toast").all();
      expect(toasts.length).toBeGreaterThanOrEqual(2);
      const boxes = await Promise.all(toasts.map(boxOf));
      const t: Box = {
        x: Math.min(...boxes.map((b) => b.x)),
        y: Math.min(...boxes.map((b) => b.y)),
        width: Math.max(...boxes.map((b) => b.x + b.width)) - Math.min(...boxes.map((b) => b.x)),
        height: Math.max(...boxes.map((b) => b.y + b.height)) - Math.min(...boxes.map((b) => b.y)),
      };
      for (const [what, el] of [
        ["composer", alice.page.locator("form.composer")],
        ["Send button", alice.page.getByRole("button", { name: "Send" })],
        ["message box", alice.page.getByLabel("Message")],
        ["Copy share link", alice.page.getByRole("button", { name: "Copy share link" })],
        ["Leave", alice.page.getByRole("button", { name: "Leave" })],
      ] as const) {
        const b = await boxOf(el);
        expect(intersects(t, b), `toasts ${JSON.stringify(t)} cover the ${what} ${JSON.stringify(b)}`).toBe(false);
      }
      // A notice nobody can see is no notice: it is inside the window.
      expect(t.y).toBeGreaterThanOrEqual(0);
      expect(t.y + t.height).toBeLessThanOrEqual(viewport.height);
      expect(t.x + t.width).toBeLessThanOrEqual(viewport.width);
      await alice.page.screenshot({ path: path.join(SHOTS, shot) });
      expect(alice.errors).toEqual([]);
      await Promise.all([alice, bob, carol].map((u) => u.context.close()));
    });
  }
});

type Box = { x: number; y: number; width: number; height: number };

async function boxOf(l: Locator): Promise<Box> {
  const b = await l.boundingBox();
  if (b === null) throw new Error("element is not visible");
  return b;
}

function intersects(a: Box, b: Box): boolean {
  return a.x < b.x + b.width && b.x < a.x + a.width && a.y < b.y + b.height && b.y < a.y + a.height;
}
