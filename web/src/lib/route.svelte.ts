// Two places exist: the landing page ("/") and a room ("/r/<room>"). The
// bridge answers every /r/* with index.html, so links and reloads land here.

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

export function shareLink(room: string): string {
  return `${location.origin}${roomPath(room)}`;
}

class Router {
  route = $state<Route>(parseRoute(location.pathname));

  constructor() {
    window.addEventListener("popstate", () => {
      this.route = parseRoute(location.pathname);
    });
  }

  go(path: string): void {
    if (path !== location.pathname) history.pushState(null, "", path);
    this.route = parseRoute(path);
  }
}

export const router = new Router();
