// Names and rooms (PROTOCOL.md sections 2 and 9).

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
