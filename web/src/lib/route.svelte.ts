// Two places exist: the landing page ("/") and a room ("/r/<room>"). The
// bridge answers every /r/* with index.html, so links and reloads land here.
// Share links carry an origin a friend can open: on a page opened as
// `localhost` that is the one the bridge reports (/api/share-origin).

import { isRoom } from "../../../protocol/names";

export type Route = { page: "landing" } | { page: "room"; room: string } | { page: "badRoom"; raw: string };

export function parseRoute(pathname: string): Route {
  const m = /^\/r\/([^/]*)\/?$/.exec(pathname);
  if (!m) return { page: "landing" };
  let raw: string;
  try {
    raw = decodeURIComponent(m[1]);
  } catch {
    raw = m[1];
  }
  return isRoom(raw) ? { page: "room", room: raw } : { page: "badRoom", raw };
}

export function roomPath(room: string): string {
  return `/r/${encodeURIComponent(room)}`;
}

/** Names that mean "this machine": a link with one of them is useless to anyone else. */
export function isLoopbackHost(hostname: string): boolean {
  const h = hostname.toLowerCase().replace(/^\[|\]$/g, "");
  return h === "localhost" || h.endsWith(".localhost") || h === "::1" || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

/** The origin in a /api/share-origin answer, or null when it is absent or not a plain http(s) origin. */
export function parseShareOrigin(body: unknown): string | null {
  if (typeof body !== "object" || body === null || !("origin" in body)) return null;
  const o = (body as { origin: unknown }).origin;
  if (typeof o !== "string" || o.length > 300) return null;
  try {
    const u = new URL(o);
    return (u.protocol === "https:" || u.protocol === "http:") && u.origin === o && !isLoopbackHost(u.hostname)
      ? o
      : null;
  } catch {
    return null;
  }
}

class ShareOrigin {
  origin = $state(location.origin);

  constructor() {
    if (isLoopbackHost(location.hostname)) void this.ask();
  }

  private async ask(): Promise<void> {
    try {
      const res = await fetch("/api/share-origin", { cache: "no-store" });
      if (!res.ok) return;
      const o = parseShareOrigin(await res.json());
      // Same scheme only: an https page never hands out an http link.
      if (o !== null && new URL(o).protocol === location.protocol) this.origin = o;
    } catch {
      // An older bridge without the endpoint: keep this page's own origin.
    }
  }
}

const share = new ShareOrigin();

/** With the v2 secret of this page's fragment, when it has one: the link carries the secret, never a request. */
export function shareLink(room: string): string {
  return `${share.origin}${roomPath(room)}${location.hash}`;
}

class Router {
  route = $state<Route>(parseRoute(location.pathname));

  constructor() {
    window.addEventListener("popstate", () => {
      this.route = parseRoute(location.pathname);
    });
  }

  /** `path` may end in a v2 link's #secret: it stays in the address bar, never in a request. */
  go(path: string): void {
    const url = new URL(path, location.href);
    if (url.pathname !== location.pathname || url.hash !== location.hash)
      history.pushState(null, "", url.pathname + url.hash);
    this.route = parseRoute(url.pathname);
  }
}

export const router = new Router();
