// Two real browsers, the real bridge and the real core: joining by share
// link, presence, end-to-end chat both ways, leaving, and coming back as the
// same member after a reload.

import type { Browser } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sealEnvelope } from "../../protocol/crypto";
import { parseRoomLink } from "../../protocol/e2e/roomSecret";
import {
  createRoom,
  ensureWebBuilt,
  joinByLink,
  launchChromium,
  newUser,
  selfId,
  startStack,
  type Stack,
  type User,
} from "../helpers/browser";
import { join } from "../helpers/wire";

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
    // A v2 room: the id is bound to the key the secret derives, the secret is in the fragment only.
    expect(link).toMatch(/\/r\/[A-Za-z0-9_-]{22}#[A-Za-z0-9_-]{22}$/);
    // "Copy share link" puts exactly that link on the clipboard.
    await alice.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: stack.url });
    await alice.page.getByRole("button", { name: "Copy share link" }).click();
    await alice.page.getByRole("button", { name: "Link copied" }).waitFor();
    expect(await alice.page.evaluate(() => navigator.clipboard.readText())).toBe(link);
    expect(new URL(alice.page.url()).pathname).toBe(new URL(link).pathname);

    const t0 = Date.now();
    await joinByLink(bob.page, link, "bob");
    // Both see both, each with a safety code.
    await expect.poll(() => bob.page.locator("li.member").count()).toBe(2);
    const wallMs = Date.now() - t0;
    const marks = await bob.page.evaluate(() => ({
      join: performance.getEntriesByName("sealroom:join")[0]?.startTime ?? NaN,
      welcome: performance.getEntriesByName("sealroom:welcome")[0]?.startTime ?? NaN,
    }));
    console.log(
      `share link, first visit: Join click -> in the room ${(marks.welcome - marks.join).toFixed(0)} ms (keys generated and stored, hello, welcome); ` +
        `goto + type name + click -> both members listed: ${wallMs} ms (Playwright wall clock)`,
    );
    expect(marks.welcome).toBeGreaterThan(marks.join);
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
    // A closed browser is away, still a member (messages are kept for it), no longer online.
    await expect.poll(() => alice.page.locator("li.member:not(.away)").count()).toBe(2);
    await expect.poll(() => alice.page.locator("li.member.away", { hasText: "carol" }).count()).toBe(1);
  });

  it("turns a closed tab into `away` for the others", async () => {
    const dave = await user();
    await joinByLink(dave.page, link, "dave");
    await expect.poll(() => bob.page.locator("li.member:not(.away)").count()).toBe(3);
    await dave.page.close();
    await expect.poll(() => bob.page.locator("li.member:not(.away)").count()).toBe(2);
    await expect.poll(() => bob.page.locator("li.member.away", { hasText: "dave" }).count()).toBe(1);
    await bob.page
      .locator(".toasts")
      .getByText(/dave is away/)
      .waitFor();
  });

  it("comes back as the same member after a reload", async () => {
    const before = await selfId(bob.page);
    await bob.page.reload();
    await bob.page.getByTestId("room-id").waitFor();
    const inAt = await bob.page.evaluate(() => performance.getEntriesByName("sealroom:welcome")[0]?.startTime ?? NaN);
    console.log(
      `share link, returning (reload, keys from IndexedDB): navigation start -> in the room ${inAt.toFixed(0)} ms`,
    );
    expect(inAt).toBeGreaterThan(0);
    await expect.poll(() => bob.page.locator("li.member:not(.away)").count()).toBe(2);
    expect(await selfId(bob.page)).toBe(before);
    // Alice still has exactly one bob, and can still talk to him.
    await expect.poll(() => alice.page.locator("li.member", { hasText: "bob" }).count()).toBe(1);
    await alice.page.getByLabel("Message").fill("welcome back");
    await alice.page.getByLabel("Message").press("Enter");
    await messageIn(bob, "welcome back").waitFor();
  });

  it("shows an unverifiable message as a warning with the reason, never its text", async () => {
    // A raw protocol peer seals a real message for alice, then alters the
    // ciphertext after signing: the server routes it (shape is fine), alice
    // must refuse it.
    const parsed = await parseRoomLink(link);
    if (!parsed.ok) throw new Error(parsed.reason);
    const room = parsed.room;
    const mallory = await join(stack.core.port, { name: "mallory", room, v2: parsed.keys });
    try {
      const aliceId = await selfId(alice.page);
      const aliceMember = mallory.welcome.members.find((m) => m.id === aliceId)!;
      const env = await sealEnvelope(mallory.identity, {
        room,
        mid: "tampered-1",
        text: "SECRET TEXT THAT MUST NOT SHOW",
        ts: Date.now(),
        recipients: [{ id: aliceId, encKey: aliceMember.encKey }],
      });
      const flipped = env.ct[0] === "A" ? "B" : "A";
      mallory.peer.send({
        t: "send",
        mid: "tampered-1",
        to: [aliceId],
        env: { ...env, ct: flipped + env.ct.slice(1) },
      });
      const warn = alice.page.locator("li.msg.unverified");
      await warn.waitFor();
      await expect(warn.textContent()).resolves.toContain("Unverifiable message: signature does not verify");
      await expect(alice.page.getByText("SECRET TEXT").count()).resolves.toBe(0);
    } finally {
      mallory.peer.close();
    }
  });

  it("warns when a known name comes back with a different key", async () => {
    const first = await user();
    await joinByLink(first.page, link, "erin");
    await expect.poll(() => alice.page.locator("li.member", { hasText: "erin" }).count()).toBe(1);
    await first.context.close();
    await expect.poll(() => alice.page.locator("li.member:not(.away)", { hasText: "erin" }).count()).toBe(0);
    // Another browser profile means other keys under the same name.
    const second = await user();
    await joinByLink(second.page, link, "erin");
    const warning = alice.page.getByTestId("key-changed");
    await warning.waitFor();
    await expect(warning.textContent()).resolves.toContain("erin is back with a different key");
    await second.context.close();
    await warning.getByRole("button", { name: "Understood" }).click();
  });

  it("shows Reconnecting…, keeps what was written pending, and delivers it once back", async () => {
    const pathBefore = new URL(alice.page.url()).pathname;
    await stack.bridgeDown();
    await alice.page.getByTestId("reconnecting").waitFor();
    await expect(alice.page.getByTestId("reconnecting").textContent()).resolves.toContain("Reconnecting…");
    await alice.page.getByLabel("Message").fill("written while offline");
    await alice.page.getByLabel("Message").press("Enter");
    const mine = alice.page.locator("li.msg", { hasText: "written while offline" });
    await expect(mine.getAttribute("data-status")).resolves.toBe("pending");
    await stack.bridgeUp();
    await alice.page.getByTestId("reconnecting").waitFor({ state: "detached", timeout: 20_000 });
    await expect.poll(() => mine.getAttribute("data-status"), { timeout: 20_000 }).toBe("sent");
    const got = bob.page.locator("li.msg", { hasText: "written while offline" });
    await got.waitFor({ timeout: 20_000 });
    await expect(got.locator(".badge.ok").textContent()).resolves.toContain("verified");
    // Delivered once, and nobody was thrown out of the room.
    await bob.page.waitForTimeout(500);
    expect(await got.count()).toBe(1);
    expect(new URL(alice.page.url()).pathname).toBe(pathBefore);
  });

  it("logged no console errors", () => {
    // A dropped WebSocket is reported by Chromium itself on the console; that
    // is the reconnect test doing its job, not an app error.
    const ws = /WebSocket connection to .* failed/;
    for (const u of users) expect(u.errors.filter((e) => !ws.test(e))).toEqual([]);
  });
});
