// Builds web/dist when it is missing or older than its sources. Shared by
// `sealroom start`, `sealroom bridge` (without --web) and the browser tests;
// a lock directory keeps two builds (parallel test workers, or start + tests)
// from writing web/dist at once.

import { existsSync, mkdirSync, readdirSync, rmSync, statSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";

export const ROOT = fileURLToPath(new URL("..", import.meta.url));
export const WEB_DIST = path.join(ROOT, "web", "dist");

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

export function isWebStale(): boolean {
  const index = path.join(WEB_DIST, "index.html");
  if (!existsSync(index)) return true;
  const built = statSync(index).mtimeMs;
  const sources = [path.join(ROOT, "web"), path.join(ROOT, "protocol"), path.join(ROOT, "vite.config.ts")];
  return sources.some((s) => existsSync(s) && newestMtime(s) > built);
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Returns true when it built. */
export async function ensureWebBuilt(): Promise<boolean> {
  if (!isWebStale()) return false;
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
    if (!isWebStale()) return false;
    const { build } = await import("vite").catch((e: Error) => {
      // vite is a dev dependency: absent after `npm ci --omit=dev`.
      throw new Error(
        `cannot load vite to build the web app (${e.message.split("\n")[0]}); install the dev dependencies (npm ci) or run npm run build:web where they are`,
      );
    });
    // Silent: the caller reports a failure once, from the thrown error (see buildErrorText).
    await build({ configFile: path.join(ROOT, "vite.config.ts"), logLevel: "silent" });
    return true;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * A build error as plain text for the console and the 503 page: no terminal
 * colours, no native stack backtrace, paths relative to the repository (the
 * page should not tell visitors where it lives on disk), at most maxChars.
 */
export function buildErrorText(e: unknown, maxChars = 4000): string {
  const raw = e instanceof Error ? e.message || String(e) : String(e);
  let text = raw.replace(/\x1b\[[0-9;]*[A-Za-z]/g, "");
  const backtrace = text.indexOf("\nStack backtrace:");
  if (backtrace !== -1) text = text.slice(0, backtrace);
  text = text.split(ROOT).join("");
  text = text.trim();
  return text.length > maxChars ? text.slice(0, maxChars) + "..." : text;
}
