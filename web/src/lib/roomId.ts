const BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** 16 base62 characters (about 95 bits): unguessable, and valid as a protocol room. */
export function randomRoomId(length = 16): string {
  let out = "";
  // Rejection sampling keeps every character equally likely (248 = 4 * 62).
  while (out.length < length) {
    for (const b of crypto.getRandomValues(new Uint8Array(length * 2))) {
      if (b < 248 && out.length < length) out += BASE62[b % 62];
    }
  }
  return out;
}
