// Serves the built web app (web/dist) read-only.
//
// - Only files that resolve inside the root (after symlinks) are served;
//   a path with a `..` segment, a backslash or a NUL is refused with 400.
// - `/` and `/r/<anything>` (room links) get index.html: the app routes itself.
// - Files under /assets/ carry a content hash in their name (vite), so they are
//   cached for a year; everything else is revalidated each time.
// - If the dist directory has no index.html, every page is a 503 that says how
//   to build it (and, when the bridge tried to build it and failed, why); this
//   is checked per request, so building later just works.

import { createReadStream } from "node:fs";
import { realpath, stat } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import { extname, resolve, sep } from "node:path";

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".mjs": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".json": "application/json; charset=utf-8",
  ".map": "application/json; charset=utf-8",
  ".webmanifest": "application/manifest+json; charset=utf-8",
  ".txt": "text/plain; charset=utf-8",
  ".svg": "image/svg+xml",
  ".png": "image/png",
  ".jpg": "image/jpeg",
  ".jpeg": "image/jpeg",
  ".gif": "image/gif",
  ".webp": "image/webp",
  ".avif": "image/avif",
  ".ico": "image/x-icon",
  ".woff": "font/woff",
  ".woff2": "font/woff2",
  ".ttf": "font/ttf",
  ".wasm": "application/wasm",
};

/**
 * Default Content-Security-Policy for the app's pages. An end-to-end
 * encrypted app's worst enemy is injected script, so only same-origin scripts
 * run; WebSockets go to this same origin ('self' covers ws:/wss: in CSP 3);
 * video frames are shown from blob: URLs.
 */
export const DEFAULT_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' blob: data:",
  "media-src 'self' blob:",
  "connect-src 'self'",
  "worker-src 'self' blob:",
  "object-src 'none'",
  "base-uri 'none'",
  "frame-ancestors 'none'",
  "form-action 'none'",
].join("; ");

export interface StaticOptions {
  /** The web dist directory (absolute or relative to the cwd). */
  root: string;
  /** Content-Security-Policy for HTML responses; null sends none. */
  csp?: string | null;
  /** Why there is no build (a failed build's error), shown on the 503 page. */
  problem?: string;
}

export type StaticHandler = (req: IncomingMessage, res: ServerResponse) => void;

type Resolved =
  { kind: "file"; path: string; size: number; mtime: Date } | { kind: "status"; status: number; message: string };

export function createStaticHandler(opts: StaticOptions): StaticHandler {
  const root = resolve(opts.root);
  const csp = opts.csp === undefined ? DEFAULT_CSP : opts.csp;

  return (req, res) => {
    void serve(req, res).catch((e: unknown) => {
      if (!res.headersSent) sendText(res, 500, "internal error\n");
      else res.destroy(e as Error);
    });
  };

  async function serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    res.setHeader("X-Content-Type-Options", "nosniff");
    // Room links carry the room name: never leak them to other sites.
    res.setHeader("Referrer-Policy", "no-referrer");
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("Allow", "GET, HEAD");
      return sendText(res, 405, "method not allowed\n");
    }
    const realRoot = await realpath(root).catch(() => null);
    const index = realRoot ? await fileAt(realRoot, resolve(realRoot, "index.html")) : null;
    if (!realRoot || !index) return sendNotBuilt(res, opts.problem);

    const target = await resolveRequest(realRoot, req.url ?? "/");
    if (target.kind === "status") return sendText(res, target.status, target.message);
    const isIndex = target.path === index.path;
    sendFile(
      req,
      res,
      target,
      isIndex ? "no-cache" : cacheControlFor(target.path, realRoot),
      isIndex || target.path.endsWith(".html") ? csp : null,
    );
  }
}

async function resolveRequest(root: string, rawUrl: string): Promise<Resolved> {
  const q = rawUrl.indexOf("?");
  const rawPath = q === -1 ? rawUrl : rawUrl.slice(0, q);
  if (!rawPath.startsWith("/")) return { kind: "status", status: 400, message: "bad request path\n" };
  let path: string;
  try {
    path = decodeURIComponent(rawPath);
  } catch {
    return { kind: "status", status: 400, message: "bad request path\n" };
  }
  // Checked after decoding, so %2e%2e and %2f are caught too.
  if (path.includes("\0") || path.includes("\\") || path.split("/").some((seg) => seg === ".." || seg === ".")) {
    return { kind: "status", status: 400, message: "bad request path\n" };
  }
  if (path === "/" || path === "/index.html" || path.startsWith("/r/")) {
    const index = await fileAt(root, resolve(root, "index.html"));
    return index ?? notFound();
  }
  // Dotfiles (.git, .env) are never part of a vite build; refuse to reveal them.
  if (path.split("/").some((seg) => seg.startsWith("."))) return notFound();
  const file = await fileAt(root, resolve(root, "." + path));
  return file ?? notFound();
}

/** The file at candidate if it is a regular file whose real path is inside root. */
async function fileAt(root: string, candidate: string): Promise<Extract<Resolved, { kind: "file" }> | null> {
  if (!isInside(root, candidate)) return null;
  const real = await realpath(candidate).catch(() => null);
  if (!real || !isInside(root, real)) return null;
  const st = await stat(real).catch(() => null);
  if (!st || !st.isFile()) return null;
  return { kind: "file", path: real, size: st.size, mtime: st.mtime };
}

function isInside(root: string, p: string): boolean {
  return p === root || p.startsWith(root.endsWith(sep) ? root : root + sep);
}

function notFound(): Resolved {
  return { kind: "status", status: 404, message: "not found\n" };
}

function cacheControlFor(path: string, root: string): string {
  return path.startsWith(resolve(root, "assets") + sep) ? "public, max-age=31536000, immutable" : "no-cache";
}

function sendFile(
  req: IncomingMessage,
  res: ServerResponse,
  file: Extract<Resolved, { kind: "file" }>,
  cacheControl: string,
  csp: string | null,
): void {
  const lastModified = new Date(Math.floor(file.mtime.getTime() / 1000) * 1000);
  const since = req.headers["if-modified-since"];
  res.setHeader("Content-Type", CONTENT_TYPES[extname(file.path).toLowerCase()] ?? "application/octet-stream");
  res.setHeader("Cache-Control", cacheControl);
  res.setHeader("Last-Modified", lastModified.toUTCString());
  if (csp) {
    res.setHeader("Content-Security-Policy", csp);
    res.setHeader("X-Frame-Options", "DENY");
  }
  if (since !== undefined && !Number.isNaN(Date.parse(since)) && lastModified.getTime() <= Date.parse(since)) {
    res.statusCode = 304;
    res.end();
    return;
  }
  res.statusCode = 200;
  res.setHeader("Content-Length", file.size);
  if (req.method === "HEAD") {
    res.end();
    return;
  }
  const stream = createReadStream(file.path);
  stream.on("error", (e) => res.destroy(e));
  stream.pipe(res);
}

function sendText(res: ServerResponse, status: number, body: string): void {
  res.statusCode = status;
  res.setHeader("Content-Type", "text/plain; charset=utf-8");
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.end(body);
}

function sendNotBuilt(res: ServerResponse, problem: string | undefined): void {
  const why = problem === undefined ? "" : `<p>Building it failed:</p>\n<pre>${escapeHtml(problem)}</pre>\n`;
  const body = `<!doctype html>
<meta charset="utf-8">
<title>Sealroom: web app not built</title>
<h1>Web app not built</h1>
<p>The bridge found no <code>index.html</code> in its web directory (<code>--web</code>).</p>
${why}<p>Build it with <code>npm run build:web</code>, then reload this page.</p>
`;
  res.statusCode = 503;
  res.setHeader("Content-Type", "text/html; charset=utf-8");
  res.setHeader("Cache-Control", "no-store");
  res.setHeader("Retry-After", "10");
  res.setHeader("Content-Length", Buffer.byteLength(body));
  res.end(body);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
