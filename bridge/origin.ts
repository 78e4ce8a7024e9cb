// Which browser pages may open a WebSocket through the bridge (docs/protocol.md
// section 10). Pure functions over header values, so they are testable alone.
//
// Allowed: no Origin header (not a browser), an Origin whose host:port equals
// the request's Host, or an Origin listed with --allow-origin. Everything
// else, including the opaque Origin "null", is refused with HTTP 403.

/** `scheme://host[:port]` in URL-normalized form, or null if value is not an http(s) origin. */
export function normalizeOrigin(value: string): string | null {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return null;
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") return null;
  if (url.username || url.password || (url.pathname !== "/" && url.pathname !== "") || url.search || url.hash)
    return null;
  return url.origin;
}

export type OriginVerdict = { ok: true } | { ok: false; reason: string };

export function checkOrigin(
  origin: string | undefined,
  hostHeader: string | undefined,
  allowed: ReadonlySet<string>,
): OriginVerdict {
  if (origin === undefined) return { ok: true };
  const norm = normalizeOrigin(origin);
  if (norm === null) return { ok: false, reason: `origin '${clip(origin)}' is not allowed` };
  if (allowed.has(norm)) return { ok: true };
  if (hostHeader !== undefined && sameHost(norm, hostHeader)) return { ok: true };
  return { ok: false, reason: `origin '${clip(origin)}' is not allowed (use --allow-origin to permit it)` };
}

/**
 * Compares the Origin's host:port with the Host header, both normalized the
 * same way (lowercase, the scheme's default port dropped), so that
 * `Host: example.com:443` matches `Origin: https://example.com`.
 */
function sameHost(origin: string, hostHeader: string): boolean {
  const o = new URL(origin);
  let h: URL;
  try {
    h = new URL(`${o.protocol}//${hostHeader}`);
  } catch {
    return false;
  }
  // A Host header with a path, userinfo or query is malformed; never a match.
  if (
    h.username ||
    h.password ||
    h.pathname !== "/" ||
    h.search ||
    h.hash ||
    `${o.protocol}//${hostHeader}`.includes("@")
  )
    return false;
  return h.host === o.host;
}

function clip(s: string): string {
  const printable = s.replace(/[^\x20-\x7e]/g, "?");
  return printable.length > 100 ? printable.slice(0, 100) + "..." : printable;
}
