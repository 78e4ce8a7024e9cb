// Ed25519, X25519, HKDF-SHA-256, HMAC-SHA-256 and AES-256-GCM on WebCrypto, so
// the browser and the native client run the very same v2 crypto.

const subtle = globalThis.crypto.subtle;

export type Bytes = Uint8Array<ArrayBuffer>;

// ---- bytes ---------------------------------------------------------------------

export function randomBytes(n: number): Bytes {
  return globalThis.crypto.getRandomValues(new Uint8Array(n));
}

export function concat(...parts: Uint8Array[]): Bytes {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Constant-time enough for comparing public values; never used on secrets in a loop an attacker can time. */
export function bytesEqual(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  let d = 0;
  for (let i = 0; i < a.length; i++) d |= a[i] ^ b[i];
  return d === 0;
}

export function wipe(b: Uint8Array): void {
  b.fill(0);
}

// ---- hashes and KDFs -----------------------------------------------------------

export async function sha256(data: Uint8Array<ArrayBuffer>): Promise<Bytes> {
  return new Uint8Array(await subtle.digest("SHA-256", data));
}

export async function hmacSha256(key: Uint8Array<ArrayBuffer>, data: Uint8Array<ArrayBuffer>): Promise<Bytes> {
  const k = await subtle.importKey("raw", key, { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
  return new Uint8Array(await subtle.sign("HMAC", k, data));
}

/** RFC 5869 HKDF-SHA-256, `length` bytes. */
export async function hkdf(
  ikm: Uint8Array<ArrayBuffer>,
  salt: Uint8Array<ArrayBuffer>,
  info: Uint8Array<ArrayBuffer>,
  length: number,
): Promise<Bytes> {
  const k = await subtle.importKey("raw", ikm, "HKDF", false, ["deriveBits"]);
  return new Uint8Array(await subtle.deriveBits({ name: "HKDF", hash: "SHA-256", salt, info }, k, length * 8));
}

// ---- AES-256-GCM ---------------------------------------------------------------

export async function aesGcmEncrypt(key: Bytes, iv: Bytes, plaintext: Bytes, aad: Bytes): Promise<Bytes> {
  const k = await subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
  return new Uint8Array(await subtle.encrypt({ name: "AES-GCM", iv, additionalData: aad }, k, plaintext));
}

/** Null when the tag does not verify (wrong key, tampered ciphertext or AAD). */
export async function aesGcmDecrypt(key: Bytes, iv: Bytes, ciphertext: Bytes, aad: Bytes): Promise<Bytes | null> {
  try {
    const k = await subtle.importKey("raw", key, "AES-GCM", false, ["decrypt"]);
    return new Uint8Array(await subtle.decrypt({ name: "AES-GCM", iv, additionalData: aad }, k, ciphertext));
  } catch {
    return null;
  }
}

// ---- Ed25519 and X25519 --------------------------------------------------------

export interface KeyPairOptions {
  /** Only the native client, which stores its keys in a file, asks for extractable private keys. */
  extractable?: boolean;
}

export interface RawKeyPair {
  privateKey: CryptoKey;
  /** The 32-byte raw public key. */
  publicKey: Bytes;
}

// RFC 8410 PKCS#8 wrappers for a bare 32-byte private key: SEQUENCE { version 0,
// AlgorithmIdentifier { OID 1.3.101.112 (Ed25519) or 1.3.101.110 (X25519) }, OCTET STRING { OCTET STRING seed } }.
const PKCS8_PREFIX = {
  Ed25519: [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04, 0x20],
  X25519: [0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x6e, 0x04, 0x22, 0x04, 0x20],
} as const;

type Curve = keyof typeof PKCS8_PREFIX;
const USAGES: Record<Curve, KeyUsage[]> = { Ed25519: ["sign"], X25519: ["deriveBits"] };

async function generate(curve: Curve, opts: KeyPairOptions): Promise<RawKeyPair> {
  const usages: KeyUsage[] = curve === "Ed25519" ? ["sign", "verify"] : ["deriveBits"];
  const pair = (await subtle.generateKey({ name: curve }, opts.extractable ?? false, usages)) as CryptoKeyPair;
  return { privateKey: pair.privateKey, publicKey: new Uint8Array(await subtle.exportKey("raw", pair.publicKey)) };
}

export const generateSigningKeyPair = (opts: KeyPairOptions = {}): Promise<RawKeyPair> => generate("Ed25519", opts);
export const generateAgreementKeyPair = (opts: KeyPairOptions = {}): Promise<RawKeyPair> => generate("X25519", opts);

/**
 * A key pair from a 32-byte private seed (RFC 8032 / RFC 7748 private key).
 * WebCrypto cannot import a raw private key, so the seed goes in a PKCS#8
 * wrapper; it cannot compute a public key either, so the key is imported once
 * extractable to read the public half from its JWK, and then again as asked.
 */
export async function keyPairFromSeed(curve: Curve, seed: Uint8Array, opts: KeyPairOptions = {}): Promise<RawKeyPair> {
  if (seed.length !== 32) throw new Error("a private seed is 32 bytes");
  const pkcs8 = concat(Uint8Array.from(PKCS8_PREFIX[curve]), seed);
  try {
    const tmp = await subtle.importKey("pkcs8", pkcs8, { name: curve }, true, USAGES[curve]);
    const jwk = await subtle.exportKey("jwk", tmp);
    const publicKey = fromB64Url(jwk.x ?? "");
    if (publicKey.length !== 32) throw new Error("no public key in the JWK");
    const privateKey = await subtle.importKey(
      "pkcs8",
      pkcs8,
      { name: curve },
      opts.extractable ?? false,
      USAGES[curve],
    );
    return { privateKey, publicKey };
  } finally {
    wipe(pkcs8);
  }
}

/** PKCS#8 of an extractable private key (the native client's identity file). */
export async function exportPrivatePkcs8(key: CryptoKey): Promise<Bytes> {
  return new Uint8Array(await subtle.exportKey("pkcs8", key));
}

export async function importPrivatePkcs8(curve: Curve, pkcs8: Bytes, opts: KeyPairOptions = {}): Promise<CryptoKey> {
  return subtle.importKey("pkcs8", pkcs8, { name: curve }, opts.extractable ?? false, USAGES[curve]);
}

export async function ed25519Sign(privateKey: CryptoKey, data: Bytes): Promise<Bytes> {
  return new Uint8Array(await subtle.sign("Ed25519", privateKey, data));
}

// Verification keys are imported once each: a room of N members would
// otherwise import a key for every message.
const verifyKeys = new Map<string, Promise<CryptoKey>>();

function importVerifyKey(publicKey: Bytes): Promise<CryptoKey> {
  const cacheKey = String.fromCharCode(...publicKey);
  let p = verifyKeys.get(cacheKey);
  if (!p) {
    p = subtle.importKey("raw", publicKey, { name: "Ed25519" }, true, ["verify"]);
    if (verifyKeys.size >= 4096) verifyKeys.clear();
    verifyKeys.set(cacheKey, p);
    p.catch(() => verifyKeys.delete(cacheKey));
  }
  return p;
}

/** False for a bad signature and for a malformed key or signature alike. */
export async function ed25519Verify(publicKey: Bytes, signature: Bytes, data: Bytes): Promise<boolean> {
  if (publicKey.length !== 32 || signature.length !== 64) return false;
  try {
    return await subtle.verify("Ed25519", await importVerifyKey(publicKey), signature, data);
  } catch {
    return false;
  }
}

/** The 32-byte X25519 shared secret; throws on a low-order public key (all-zero output). */
export async function x25519(privateKey: CryptoKey, publicKey: Bytes): Promise<Bytes> {
  if (publicKey.length !== 32) throw new Error("an X25519 public key is 32 bytes");
  const pub = await subtle.importKey("raw", publicKey, { name: "X25519" }, true, []);
  const shared = new Uint8Array(await subtle.deriveBits({ name: "X25519", public: pub }, privateKey, 256));
  if (shared.every((b) => b === 0)) throw new Error("X25519 public key of low order");
  return shared;
}

// ---- encodings -----------------------------------------------------------------

const B64URL_RE = /^[A-Za-z0-9_-]*$/;

export function toB64Url(bytes: Uint8Array): string {
  let bin = "";
  for (let i = 0; i < bytes.length; i += 0x8000) bin += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(bin).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

/** Unpadded base64url, strictly; an empty array for anything else (callers check the length). */
export function fromB64Url(s: string): Bytes {
  if (!B64URL_RE.test(s) || s.length % 4 === 1) return new Uint8Array(0);
  const bin = atob(s.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - (s.length % 4)) % 4));
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  // Reject non-canonical encodings (stray low bits), so one value has one spelling.
  return toB64Url(out) === s ? out : new Uint8Array(0);
}

export function utf8(s: string): Bytes {
  return new TextEncoder().encode(s);
}
