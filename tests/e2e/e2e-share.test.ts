// The share link the room offers is one a friend can open: on a page opened
// as localhost it carries the origin the bridge reports (/api/share-origin);
// on a page opened by any other name it is that page's own origin.

import type { Browser } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startBridge, type RunningBridge } from "../../bridge/bridge";
import { makeSelfSigned } from "../../common/tls";
import { startCore } from "../helpers/core";
import { createRoom, ensureWebBuilt, launchChromium, newUser, WEB_DIST } from "../helpers/browser";

type Core = Awaited<ReturnType<typeof startCore>>;

let core: Core;
let browser: Browser;
const bridges: RunningBridge[] = [];

beforeAll(async () => {
  await ensureWebBuilt();
  core = await startCore();
  browser = await launchChromium(["--host-resolver-rules=MAP sealroom-lan.test 127.0.0.1"]);
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(bridges.map((b) => b.stop()));
  await core?.stop();
});

async function bridge(opts: Parameters<typeof startBridge>[0]): Promise<RunningBridge> {
  const b = await startBridge({
    host: "127.0.0.1",
    port: 0,
    core: { host: core.host, port: core.port },
    web: WEB_DIST,
    ...opts,
  });
  bridges.push(b);
  return b;
}

/** The link "Copy share link" copies, once the page has settled on it. */
async function linkOnPage(page: import("playwright").Page, base: string, want: RegExp): Promise<string> {
  await createRoom(page, base, "alice");
  const button = page.getByRole("button", { name: "Copy share link" });
  await expect.poll(() => button.getAttribute("data-share-link"), { timeout: 10_000 }).toMatch(want);
  return (await button.getAttribute("data-share-link"))!;
}

describe("share link", () => {
  it("on localhost carries the origin the bridge reports, and copies that", async () => {
    // A documentation address (TEST-NET-1): only ever a string here, never dialled.
    const b = await bridge({ shareOrigin: "http://192.0.2.10:7780" });
    const u = await newUser(browser);
    await u.context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: b.url });
    const link = await linkOnPage(u.page, b.url, /^http:\/\/192\.0\.2\.10:7780\/r\//);
    const room = await u.page.getByTestId("room-id").textContent();
    // A v2 room: the link carries the secret in its fragment.
    expect(link).toMatch(new RegExp(`^http://192\\.0\\.2\\.10:7780/r/${room}#[A-Za-z0-9_-]{22}$`));
    await u.page.getByRole("button", { name: "Copy share link" }).click();
    await u.page.getByRole("button", { name: "Link copied" }).waitFor();
    expect(await u.page.evaluate(() => navigator.clipboard.readText())).toBe(link);
    expect(u.errors).toEqual([]);
    await u.context.close();
  });

  it("on localhost with a loopback-only bridge stays the page's own origin", async () => {
    const b = await bridge({});
    expect(await (await fetch(`${b.url}/api/share-origin`)).json()).toEqual({ origin: null });
    const u = await newUser(browser);
    const link = await linkOnPage(u.page, b.url, /\/r\//);
    expect(new URL(link).origin).toBe(new URL(b.url).origin);
    expect(u.errors).toEqual([]);
    await u.context.close();
  });

  it("on a page opened by another name is that page's origin, whatever the bridge reports", async () => {
    const cert = makeSelfSigned({ commonName: "sealroom-lan.test", bits: 2048 });
    const b = await bridge({
      tls: { certPem: cert.certPem, keyPem: cert.keyPem },
      shareOrigin: "https://192.0.2.10:7780",
    });
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 }, ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const base = `https://sealroom-lan.test:${b.port}`;
    await createRoom(page, base, "alice");
    // Give the page the time it would take to ask the bridge, then check it did not.
    await page.waitForTimeout(500);
    const link = await page.getByRole("button", { name: "Copy share link" }).getAttribute("data-share-link");
    expect(link).toMatch(new RegExp(`^${base.replace(/\./g, "\\.")}/r/`));
    await context.close();
  });

  it("ignores an answer that is not an http(s) origin of another machine", async () => {
    const b = await bridge({ shareOrigin: "http://127.0.0.1:1" });
    const u = await newUser(browser);
    await createRoom(u.page, b.url, "alice");
    await u.page.waitForTimeout(500);
    const link = await u.page.getByRole("button", { name: "Copy share link" }).getAttribute("data-share-link");
    expect(new URL(link!).origin).toBe(new URL(b.url).origin);
    await u.context.close();
  });
});
