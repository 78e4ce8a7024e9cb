// Two real browsers, the real bridge and the real core: joining by share
// link, presence, end-to-end chat both ways, leaving, and coming back as the
// same member after a reload.

import type { Browser } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createRoom, ensureWebBuilt, joinByLink, launchChromium, newUser, selfId, startStack, type Stack, type User } from "./helpers/browser";

let stack: Stack;
let browser: Browser;
const users: User[] = [];

beforeAll(async () => {
  await ensureWebBuilt();
  stack = await startStack();
  browser = await launchChromium();
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

async function user(): Promise<User> {
  const u = await newUser(browser);
  users.push(u);
  return u;
}

function messageIn(u: User, text: string) {
  return u.page.locator("li.msg", { hasText: text });
}

describe("web app through bridge and core", () => {
  let alice: User;
  let bob: User;
  let link: string;

  it("creates a room and lets a second browser join by share link", async () => {
    alice = await user();
    bob = await user();
    link = await createRoom(alice.page, stack.url, "alice");
    expect(link).toMatch(/\/r\/[0-9A-Za-z]{16}$/);
    expect(new URL(alice.page.url()).pathname).toBe(new URL(link).pathname);

    const t0 = Date.now();
    await joinByLink(bob.page, link, "bob");
    // Both see both, each with a safety code.
    await expect.poll(() => bob.page.locator("li.member").count()).toBe(2);
    const joinMs = Date.now() - t0;
    console.log(`share link -> room visible (incl. name entry, keygen, handshake): ${joinMs} ms`);
    await expect.poll(() => alice.page.locator("li.member").count()).toBe(2);
    await expect(alice.page.locator(".toasts").getByText("bob joined").count()).resolves.toBe(1);
    const bobEntryInAlice = alice.page.locator("li.member", { hasText: "bob" });
    await expect(bobEntryInAlice.locator(".safety").textContent()).resolves.toMatch(/^\d{4} \d{4} \d{4}$/);
    // The safety code for bob is the same on both sides.
    const own = await bob.page.locator("li.member.self .safety").textContent();
    await expect(bobEntryInAlice.locator(".safety").textContent()).resolves.toBe(own);
  });

  it("shows the full fingerprint on click", async () => {
    const entry = alice.page.locator("li.member", { hasText: "bob" });
    await entry.locator("button.code").click();
    await expect.poll(() => entry.locator(".fingerprint").textContent()).toMatch(/^([0-9a-f]{4} ){15}[0-9a-f]{4}$/);
  });

  it("chats browser to browser both ways, verified", async () => {
    await alice.page.getByLabel("Message").fill("hello bob, from alice");
    await alice.page.getByLabel("Message").press("Enter");
    const got = messageIn(bob, "hello bob, from alice");
    await got.waitFor();
    await expect(got.locator(".badge.ok").textContent()).resolves.toContain("verified");
    await expect(got.locator(".to").textContent()).resolves.toBe("to everyone");
    // The sender's copy goes from pending to acknowledged.
    await expect.poll(() => messageIn(alice, "hello bob, from alice").getAttribute("data-status")).toBe("sent");

    await bob.page.getByLabel("Message").fill("hi alice — bob here");
    await bob.page.getByRole("button", { name: "Send", exact: true }).click();
    const back = messageIn(alice, "hi alice — bob here");
    await back.waitFor();
    await expect(back.locator(".badge.ok").textContent()).resolves.toContain("verified");
    await expect(back.locator(".who").textContent()).resolves.toBe("bob");
  });

  it("sends to selected members only, and says so", async () => {
    const carol = await user();
    await joinByLink(carol.page, link, "carol");
    await expect.poll(() => alice.page.locator("li.member").count()).toBe(3);
    await alice.page.getByLabel("Write to carol only").check();
    await expect(alice.page.locator("#composer-to").textContent()).resolves.toContain("to: carol only");
    await alice.page.getByLabel("Message").fill("just for carol");
    await alice.page.getByLabel("Message").press("Enter");
    const got = messageIn(carol, "just for carol");
    await got.waitFor();
    await expect(got.locator(".to").textContent()).resolves.toBe("to you");
    // Bob receives nothing of it (give it the time the message took to carol).
    await alice.page.waitForTimeout(300);
    await expect(messageIn(bob, "just for carol").count()).resolves.toBe(0);
    await alice.page.getByRole("button", { name: "Send to everyone" }).first().click();
    await expect(alice.page.locator("#composer-to").textContent()).resolves.toContain("to: everyone");
    await carol.context.close();
    await expect.poll(() => alice.page.locator("li.member").count()).toBe(2);
  });

  it("turns a closed tab into `left` for the others", async () => {
    const dave = await user();
    await joinByLink(dave.page, link, "dave");
    await expect.poll(() => bob.page.locator("li.member").count()).toBe(3);
    await dave.page.close();
    await expect.poll(() => bob.page.locator("li.member").count()).toBe(2);
    await bob.page.locator(".toasts").getByText(/dave (disconnected|left)/).waitFor();
  });

  it("comes back as the same member after a reload", async () => {
    const before = await selfId(bob.page);
    await bob.page.reload();
    await bob.page.getByTestId("room-id").waitFor();
    await expect.poll(() => bob.page.locator("li.member").count()).toBe(2);
    expect(await selfId(bob.page)).toBe(before);
    // Alice still has exactly one bob, and can still talk to him.
    await expect.poll(() => alice.page.locator("li.member", { hasText: "bob" }).count()).toBe(1);
    await alice.page.getByLabel("Message").fill("welcome back");
    await alice.page.getByLabel("Message").press("Enter");
    await messageIn(bob, "welcome back").waitFor();
  });

  it("logged no console errors", () => {
    for (const u of users) expect(u.errors).toEqual([]);
  });
});
