// End-to-end plumbing for the web app: builds web/dist when it is missing or
// older than its sources, starts the real core and the real bridge on port 0,
// and drives Debian's Chromium through Playwright's library API.

import { ensureWebBuilt as buildWeb, ROOT, WEB_DIST } from "../../bridge/webBuild";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright";

export { ROOT, WEB_DIST };

const CHROMIUM_ARGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--no-first-run",
];

// ---- build ---------------------------------------------------------------------

/** The same staleness check and lock `sealroom start` uses. */
export async function ensureWebBuilt(): Promise<void> {
  await buildWeb();
}

// ---- servers -------------------------------------------------------------------

export interface Stack {
  url: string;
  core: { host: string; port: number };
  /** Stops the bridge only: every browser loses its WebSocket, the core keeps running. */
  bridgeDown(): Promise<void>;
  /** Starts the bridge again on the same port, so pages reconnect to the same URL. */
  bridgeUp(): Promise<void>;
  stop(): Promise<void>;
}

/** The real core and the real bridge, wired together, on ephemeral ports. */
export async function startStack(
  coreOpts: Record<string, unknown> = {},
  bridgeOpts: { allowHosts?: readonly string[] } = {},
): Promise<Stack> {
  const { startCore } = await import("./core");
  const { startBridge } = await import("../../bridge/bridge");
  const core = await startCore(coreOpts);
  const coreTarget = { host: core.host, port: core.port };
  const common = { host: "127.0.0.1", core: coreTarget, web: WEB_DIST, ...bridgeOpts };
  let bridge: Awaited<ReturnType<typeof startBridge>> | null = await startBridge({ ...common, port: 0 });
  const port = bridge.port;
  return {
    url: bridge.url,
    core: coreTarget,
    async bridgeDown() {
      await bridge?.stop();
      bridge = null;
    },
    async bridgeUp() {
      // Reusing the port this bridge was given a moment ago: the pages' URL
      // has to stay the same for them to reconnect.
      bridge ??= await startBridge({ ...common, port });
    },
    async stop() {
      await bridge?.stop();
      await core.stop();
    },
  };
}

// ---- browser -------------------------------------------------------------------

export async function launchChromium(extraArgs: readonly string[] = []): Promise<Browser> {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_PATH ?? "/usr/bin/chromium",
    headless: true,
    args: [...CHROMIUM_ARGS, ...extraArgs],
  });
}

/** A page in its own context (its own profile: own IndexedDB, own identity). */
export interface User {
  context: BrowserContext;
  page: Page;
  /** console.error lines and uncaught exceptions seen on the page. */
  errors: string[];
}

export async function newUser(
  browser: Browser,
  opts: { viewport?: { width: number; height: number } } = {},
): Promise<User> {
  const context = await browser.newContext({ viewport: opts.viewport ?? { width: 1280, height: 800 } });
  const page = await context.newPage();
  const errors: string[] = [];
  watchErrors(page, errors);
  return { context, page, errors };
}

export function watchErrors(page: Page, errors: string[]): void {
  page.on("console", (m) => {
    if (m.type() === "error") errors.push(`console: ${m.text()}`);
  });
  page.on("pageerror", (e) => errors.push(`pageerror: ${e.message}`));
}

/** Opens a room link, answers the name prompt if asked, waits until the room shows. */
export async function joinByLink(page: Page, link: string, name: string): Promise<void> {
  await page.goto(link);
  const nameBox = page.getByLabel("Your name");
  const roomId = page.getByTestId("room-id");
  await Promise.race([nameBox.waitFor(), roomId.waitFor()]);
  if (await nameBox.isVisible()) {
    await nameBox.fill(name);
    await page.getByRole("button", { name: "Join" }).click();
  }
  await roomId.waitFor();
}

/** Creates a room from the landing page; returns its share link. */
export async function createRoom(page: Page, baseUrl: string, name: string): Promise<string> {
  await page.goto(baseUrl);
  await page.getByLabel("Your name").fill(name);
  await page.getByRole("button", { name: "Create room" }).click();
  await page.getByTestId("room-id").waitFor();
  const link = await page.getByRole("button", { name: "Copy share link" }).getAttribute("data-share-link");
  if (!link) throw new Error("no share link on the page");
  return link;
}

/** The member id the page is connected as (its own entry in the member list). */
export async function selfId(page: Page): Promise<string> {
  const id = await page.locator("li.member.self").getAttribute("data-member-id");
  if (!id) throw new Error("own member entry not found");
  return id;
}

/** A cheap fingerprint of what a canvas shows: sampled pixels hashed in the page. */
export async function canvasSignature(page: Page, selector: string): Promise<string> {
  return page.locator(selector).evaluate((el) => {
    const c = el as HTMLCanvasElement;
    const probe = document.createElement("canvas");
    probe.width = 64;
    probe.height = 36;
    const ctx = probe.getContext("2d")!;
    ctx.drawImage(c, 0, 0, probe.width, probe.height);
    const d = ctx.getImageData(0, 0, probe.width, probe.height).data;
    let h = 2166136261;
    let lit = 0;
    for (let i = 0; i < d.length; i += 4) {
      h = Math.imul(h ^ (d[i] + 3 * d[i + 1] + 7 * d[i + 2]), 16777619);
      if (d[i] + d[i + 1] + d[i + 2] > 60) lit++;
    }
    return `${lit}:${(h >>> 0).toString(16)}`;
  });
}
