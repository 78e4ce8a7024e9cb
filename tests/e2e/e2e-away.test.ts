// A v2 room in two real browsers through the real bridge and core: a member
// closes its tab (away, still a member), the other writes, and the member
// opens the link again in a new tab of the same profile (its v2 keys from
// IndexedDB) and reads what it missed, in order, once, never "no key yet".

import type { Browser } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  createRoom,
  ensureWebBuilt,
  joinByLink,
  launchChromium,
  newUser,
  startStack,
  watchErrors,
  type Stack,
} from "../helpers/browser";

let stack: Stack;
let browser: Browser;

beforeAll(async () => {
  await ensureWebBuilt();
  stack = await startStack();
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe("web app, v2 room: back from away", () => {
  it("a closed tab reopened from the link reads the messages sent meanwhile", async () => {
    const alice = await newUser(browser);
    const bob = await newUser(browser);
    const link = await createRoom(alice.page, stack.url, "alice");
    await joinByLink(bob.page, link, "bob");
    await expect.poll(() => alice.page.locator("li.member:not(.away)").count()).toBe(2);
    const say = async (text: string) => {
      await alice.page.getByLabel("Message").fill(text);
      await alice.page.getByLabel("Message").press("Enter");
    };
    await say("before");
    await bob.page.locator("li.msg", { hasText: "before" }).waitFor();

    await bob.page.close();
    await expect.poll(() => alice.page.locator("li.member.away", { hasText: "bob" }).count()).toBe(1);
    for (let i = 1; i <= 3; i++) await say(`while away ${i}`);
    // Stored (acknowledged) before bob is back.
    await expect
      .poll(() => alice.page.locator('li.msg.mine:not([data-status="pending"])').count(), { timeout: 15_000 })
      .toBe(4);

    const page = await bob.context.newPage();
    const errors: string[] = [];
    watchErrors(page, errors);
    await joinByLink(page, link, "bob");
    const missed = page.locator("li.msg", { hasText: "while away" });
    await expect.poll(() => missed.count(), { timeout: 15_000 }).toBe(3);
    await expect(missed.allTextContents()).resolves.toEqual([
      expect.stringContaining("while away 1"),
      expect.stringContaining("while away 2"),
      expect.stringContaining("while away 3"),
    ]);
    await expect(page.locator("li.msg.unverified").count()).resolves.toBe(0);
    expect(errors).toEqual([]);
    await alice.context.close();
    await bob.context.close();
  });
});
