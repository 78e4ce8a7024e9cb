// v2 room links in the browser: https://host/r/<room>#<secret>. The secret
// lives only in the URL fragment, which browsers never send (not to the
// bridge, not in the WebSocket URL): it is read here and turned into the
// room's keys, which stay in this page (the admission key non-extractable).

import { deriveRoomKeys, generateRoomSecret, parseRoomSecret, type RoomKeys } from "../../../protocol/e2e/roomSecret";

/** The secret in this page's fragment, or null for a v1 room (no fragment). */
export function fragmentSecret(hash: string = location.hash): string | null {
  const s = hash.replace(/^#/, "");
  return s === "" ? null : s;
}

/** The keys of `room` from its link's secret, or a reason for people. */
export async function keysForRoom(
  room: string,
  secret: string,
): Promise<{ ok: true; keys: RoomKeys } | { ok: false; reason: string }> {
  const parsed = parseRoomSecret(secret);
  if (!parsed.ok)
    return { ok: false, reason: `This link's secret is damaged (${parsed.reason}). Ask for the link again.` };
  const keys = await deriveRoomKeys(parsed.secret);
  if (keys.room !== room)
    return { ok: false, reason: "The secret in this link is not the secret of this room. Ask for the link again." };
  return { ok: true, keys };
}

/** A new v2 room: its id and the secret for the link's fragment. */
export async function newRoomLink(): Promise<{ room: string; secret: string }> {
  const secret = generateRoomSecret();
  const parsed = parseRoomSecret(secret);
  if (!parsed.ok) throw new Error(parsed.reason);
  return { room: (await deriveRoomKeys(parsed.secret)).room, secret };
}
