// The room link's secret and what clients derive from it: the admission key
// pair and the room id bound to its public half. The secret never leaves clients.

import { fromB64Url, hkdf, keyPairFromSeed, randomBytes, sha256, toB64Url, utf8, wipe, type Bytes } from "./primitives";

/** 128 bits: out of reach for guessing; 22 base64url characters in the link's fragment. */
export const ROOM_SECRET_BYTES = 16;
/** Longer secrets are accepted (a link made by another client), up to this. */
export const MAX_ROOM_SECRET_BYTES = 64;
/** A v2 room id: this many base64url characters of SHA-256 over the verification key (132 bits). */
export const V2_ROOM_ID_CHARS = 22;

const SALT = utf8("sealroom-v2");
const ADMISSION_INFO = utf8("sealroom-v2 admission key");
const ROOM_ID_PREFIX = utf8("sealroom-v2 room id\n");

export interface RoomKeys {
  room: string;
  /** Raw Ed25519 public key: what the core is given to check admission proofs. */
  verificationKey: Bytes;
  /** Non-extractable: makes admission proofs; never leaves the client. */
  admissionPrivate: CryptoKey;
}

export function generateRoomSecret(): string {
  return toB64Url(randomBytes(ROOM_SECRET_BYTES));
}

/** The secret's bytes, or the reason a link's fragment is not one (for people). */
export function parseRoomSecret(s: string): { ok: true; secret: Bytes } | { ok: false; reason: string } {
  const secret = fromB64Url(s);
  if (secret.length === 0) return { ok: false, reason: "the room secret is not base64url" };
  if (secret.length < ROOM_SECRET_BYTES)
    return { ok: false, reason: `the room secret is shorter than ${ROOM_SECRET_BYTES * 8} bits` };
  if (secret.length > MAX_ROOM_SECRET_BYTES) return { ok: false, reason: "the room secret is too long" };
  return { ok: true, secret };
}

/** Binding the id to the key: a room id names exactly one verification key, so nobody can squat it with another. */
export async function roomIdFor(verificationKey: Bytes): Promise<string> {
  return toB64Url(await sha256(new Uint8Array([...ROOM_ID_PREFIX, ...verificationKey]))).slice(0, V2_ROOM_ID_CHARS);
}

export async function deriveRoomKeys(secret: Bytes): Promise<RoomKeys> {
  const seed = await hkdf(secret, SALT, ADMISSION_INFO, 32);
  try {
    const pair = await keyPairFromSeed("Ed25519", seed);
    return {
      room: await roomIdFor(pair.publicKey),
      verificationKey: pair.publicKey,
      admissionPrivate: pair.privateKey,
    };
  } finally {
    wipe(seed);
  }
}

export function roomLink(origin: string, room: string, secret: string): string {
  return `${origin.replace(/\/+$/, "")}/r/${room}#${secret}`;
}

/** Room and secret from `https://host/r/<room>#<secret>`; the room must be the one the secret derives. */
export async function parseRoomLink(
  link: string,
): Promise<{ ok: true; room: string; keys: RoomKeys } | { ok: false; reason: string }> {
  let url: URL;
  try {
    url = new URL(link);
  } catch {
    return { ok: false, reason: "not a room link" };
  }
  const m = /^\/r\/([A-Za-z0-9_-]{1,64})\/?$/.exec(url.pathname);
  if (!m) return { ok: false, reason: "a room link looks like https://host/r/ROOM#SECRET" };
  const parsed = parseRoomSecret(url.hash.replace(/^#/, ""));
  if (!parsed.ok) return parsed;
  const keys = await deriveRoomKeys(parsed.secret);
  if (keys.room !== m[1]) return { ok: false, reason: "the secret in this link is not the secret of this room" };
  return { ok: true, room: keys.room, keys };
}
