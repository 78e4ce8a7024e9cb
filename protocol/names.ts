// Names and rooms (docs/protocol.md sections 2 and 9).

const NAME_RE = /^[\p{L}\p{N}_.\- ]+$/u;
const ROOM_RE = /^[A-Za-z0-9_-]{1,64}$/;
export const ID_RE = /^[A-Za-z0-9_-]{22}$/;

/** What a client sends: trimmed and NFC-normalised. */
export function canonicalName(input: string): string {
  return input.trim().normalize("NFC");
}

/** Null when valid, else the reason (for people). */
export function nameProblem(name: string): string | null {
  if (name !== name.trim()) return "name has leading or trailing spaces";
  if (name !== name.normalize("NFC")) return "name is not NFC-normalised";
  const len = [...name].length;
  if (len < 1 || len > 32) return "name must be 1 to 32 characters";
  if (!NAME_RE.test(name)) return "name may hold only letters, digits, spaces and _ - .";
  return null;
}

export function nameKey(name: string): string {
  return name.normalize("NFC").toLowerCase();
}

export function isRoom(room: string): boolean {
  return ROOM_RE.test(room);
}

const BASE62 = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

/** A fresh room id: 16 base62 characters (about 95 bits), so a room nobody was told about cannot be guessed. */
export function newRoomId(length = 16): string {
  let out = "";
  while (out.length < length) {
    for (const b of globalThis.crypto.getRandomValues(new Uint8Array(length))) {
      // 248 = 4 * 62: rejecting the rest keeps every character equally likely.
      if (b < 248 && out.length < length) out += BASE62[b % 62];
    }
  }
  return out;
}
