// A fresh room id: 16 characters of [A-Za-z0-9] (about 95 bits), so a room
// nobody was told about cannot be guessed.

const ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";

export function newRoomId(length = 16): string {
  let out = "";
  while (out.length < length) {
    for (const b of globalThis.crypto.getRandomValues(new Uint8Array(length))) {
      // 248 = 4 * 62: rejecting the rest keeps every character equally likely.
      if (b < 248 && out.length < length) out += ALPHABET[b % 62];
    }
  }
  return out;
}
