// End-to-end plumbing for the web app: builds web/dist when it is missing or
// older than its sources, starts the real core and the real bridge on port 0,
// and drives Debian's Chromium through Playwright's library API.

import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { chromium, type Browser, type BrowserContext, type Page } from "playwright";

export const ROOT = fileURLToPath(new URL("../..", import.meta.url));
export const WEB_DIST = path.join(ROOT, "web", "dist");

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

function newestMtime(p: string): number {
  const st = statSync(p);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const e of readdirSync(p)) {
    if (e === "dist" || e === "node_modules") continue;
    newest = Math.max(newest, newestMtime(path.join(p, e)));
  }
  return newest;
}

function isStale(): boolean {
  const index = path.join(WEB_DIST, "index.html");
  if (!existsSync(index)) return true;
  const built = statSync(index).mtimeMs;
  const sources = [path.join(ROOT, "web"), path.join(ROOT, "protocol"), path.join(ROOT, "vite.config.ts")];
  return sources.some((s) => existsSync(s) && newestMtime(s) > built);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * Builds the web app once. Test files may run in parallel workers, so a lock
 * directory keeps two builds from writing web/dist at the same time.
 */
export async function ensureWebBuilt(): Promise<void> {
  if (!isStale()) return;
  const lock = path.join(ROOT, "node_modules", ".cache", "sealroom-web-build.lock");
  mkdirSync(path.dirname(lock), { recursive: true });
  const deadline = Date.now() + 120_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch {
      // A crashed build leaves its lock behind; a minute is far longer than a build.
      const st = statSync(lock, { throwIfNoEntry: false });
      if (st && Date.now() - st.mtimeMs > 60_000) rmSync(lock, { recursive: true, force: true });
      if (Date.now() > deadline) throw new Error("timed out waiting for another web build");
      await sleep(200);
    }
  }
  try {
    if (!isStale()) return;
    const { build } = await import("vite");
    await build({ configFile: path.join(ROOT, "vite.config.ts"), logLevel: "error" });
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
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
export async function startStack(coreOpts: Record<string, unknown> = {}): Promise<Stack> {
  const { startCore } = await import("./core");
  const { startBridge } = await import("../../bridge/bridge");
  const core = await startCore(coreOpts);
  const coreTarget = { host: core.host, port: core.port };
  let bridge: Awaited<ReturnType<typeof startBridge>> | null = await startBridge({ host: "127.0.0.1", port: 0, core: coreTarget, web: WEB_DIST });
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
      bridge ??= await startBridge({ host: "127.0.0.1", port, core: coreTarget, web: WEB_DIST });
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

export async function newUser(browser: Browser, opts: { viewport?: { width: number; height: number } } = {}): Promise<User> {
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
