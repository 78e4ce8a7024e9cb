// End-to-end crypto on WebCrypto (`globalThis.crypto.subtle`), so the browser
// and the native client run the very same code (docs/protocol.md sections 2 and 4).

import { fromBase64, toBase64, toBase64Url, utf8 } from "./base64";
import { MAX_TEXT_CHARS } from "./limits";
import { ENVELOPE_ALG, type AnyEnvelope, type Envelope, type Hello, type Member } from "./messages";

const subtle = globalThis.crypto.subtle;

export const OAEP_ALG = { name: "RSA-OAEP", hash: "SHA-256" } as const;
export const PSS_ALG = { name: "RSA-PSS", hash: "SHA-256" } as const;
const PSS_SIGN = { name: "RSA-PSS", saltLength: 32 } as const;
const RSA_E = new Uint8Array([1, 0, 1]);

/** The two key pairs a member holds, and what it publishes of them. */
export interface Identity {
  encPrivate: CryptoKey;
  sigPrivate: CryptoKey;
  encKey: string;
  sigKey: string;
  encKeySig: string;
  id: string;
}

export interface KeyPairs {
  enc: CryptoKeyPair;
  sig: CryptoKeyPair;
}

/** Fresh RSA key pairs; private keys non-extractable unless asked (the native client stores them). */
export async function generateKeyPairs(
  opts: { extractable?: boolean; modulusLength?: number } = {},
): Promise<KeyPairs> {
  const modulusLength = opts.modulusLength ?? 2048;
  const extractable = opts.extractable ?? false;
  const [enc, sig] = await Promise.all([
    subtle.generateKey({ ...OAEP_ALG, modulusLength, publicExponent: RSA_E }, extractable, ["encrypt", "decrypt"]),
    subtle.generateKey({ ...PSS_ALG, modulusLength, publicExponent: RSA_E }, extractable, ["sign", "verify"]),
  ]);
  return { enc, sig };
}

export async function identityFromKeyPairs(pairs: KeyPairs): Promise<Identity> {
  const [encDer, sigDer] = await Promise.all([
    subtle.exportKey("spki", pairs.enc.publicKey),
    subtle.exportKey("spki", pairs.sig.publicKey),
  ]);
  const encKey = toBase64(new Uint8Array(encDer));
  const sigKey = toBase64(new Uint8Array(sigDer));
  const [encKeySig, id] = await Promise.all([
    sign(pairs.sig.privateKey, encKeySigString(encKey)),
    memberIdFromDer(new Uint8Array(sigDer)),
  ]);
  return { encPrivate: pairs.enc.privateKey, sigPrivate: pairs.sig.privateKey, encKey, sigKey, encKeySig, id };
}

export async function generateIdentity(
  opts: { extractable?: boolean; modulusLength?: number } = {},
): Promise<Identity> {
  return identityFromKeyPairs(await generateKeyPairs(opts));
}

// ---- ids and fingerprints ----------------------------------------------------

/** base64url(SHA-256(sigKey DER)), first 22 characters. */
export async function memberIdFromDer(sigKeyDer: Uint8Array<ArrayBuffer>): Promise<string> {
  const h = new Uint8Array(await subtle.digest("SHA-256", sigKeyDer));
  return toBase64Url(h).slice(0, 22);
}

export async function memberId(sigKey: string): Promise<string | null> {
  const der = fromBase64(sigKey);
  return der ? memberIdFromDer(der) : null;
}

/** Twelve digits from the id's first 40 bits: short enough to read aloud. */
export function safetyCode(id: string): string {
  const b64 = id.slice(0, 8).replace(/-/g, "+").replace(/_/g, "/");
  const bytes = fromBase64(b64) ?? new Uint8Array(6);
  let n = 0;
  for (let i = 0; i < 5; i++) n = n * 256 + bytes[i];
  const digits = String(n % 1e12).padStart(12, "0");
  return `${digits.slice(0, 4)} ${digits.slice(4, 8)} ${digits.slice(8)}`;
}

/** Full SHA-256 of the signing key, hex in groups of four, for out-of-band comparison. */
export async function fingerprint(sigKey: string): Promise<string> {
  const der = fromBase64(sigKey);
  if (!der) return "invalid key";
  const h = new Uint8Array(await subtle.digest("SHA-256", der));
  const hex = [...h].map((b) => b.toString(16).padStart(2, "0")).join("");
  return hex.match(/.{4}/g)!.join(" ");
}

// ---- signed strings ------------------------------------------------------------

export function encKeySigString(encKey: string): string {
  return `sealroom-enckey-v1\n${encKey}`;
}

export function helloProofString(nonce: string, room: string, name: string, encKey: string): string {
  return `sealroom-hello-v1\n${nonce}\n${room}\n${name}\n${encKey}`;
}

export function msgAad(room: string, from: string, mid: string): string {
  return `${room}\n${from}\n${mid}`;
}

/** Keys sorted by byte order of the ids (all ASCII, so code-unit order is byte order). */
export function msgSigString(
  room: string,
  from: string,
  mid: string,
  env: Pick<Envelope, "iv" | "ct" | "keys">,
): string {
  const k = Object.keys(env.keys)
    .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))
    .map((id) => `${id}=${env.keys[id]}`)
    .join(",");
  return `sealroom-msg-v1\n${room}\n${from}\n${mid}\n${env.iv}\n${env.ct}\n${k}`;
}

async function sign(key: CryptoKey, text: string): Promise<string> {
  return toBase64(new Uint8Array(await subtle.sign(PSS_SIGN, key, utf8(text))));
}

// Imported public keys are cached: a room of N members would otherwise
// re-import N SPKI blobs for every message.
const publicKeys = new Map<string, Promise<CryptoKey>>();

function importPublic(spki: string, alg: typeof OAEP_ALG | typeof PSS_ALG, usage: KeyUsage): Promise<CryptoKey> {
  const cacheKey = `${alg.name}:${spki}`;
  let p = publicKeys.get(cacheKey);
  if (!p) {
    const der = fromBase64(spki);
    p = der ? subtle.importKey("spki", der, alg, true, [usage]) : Promise.reject(new Error("key is not base64"));
    if (publicKeys.size >= 2048) publicKeys.clear();
    publicKeys.set(cacheKey, p);
    p.catch(() => publicKeys.delete(cacheKey));
  }
  return p;
}

export async function verifyPss(sigKey: string, text: string, signature: string): Promise<boolean> {
  const sig = fromBase64(signature);
  if (!sig) return false;
  try {
    return await subtle.verify(PSS_SIGN, await importPublic(sigKey, PSS_ALG, "verify"), sig, utf8(text));
  } catch {
    return false;
  }
}

// ---- session -----------------------------------------------------------------

export async function makeHello(
  identity: Identity,
  p: { nonce: string; room: string; name: string; agent?: string; caps?: readonly string[] },
): Promise<Hello> {
  const proof = await sign(identity.sigPrivate, helloProofString(p.nonce, p.room, p.name, identity.encKey));
  return {
    t: "hello",
    v: 1,
    name: p.name,
    room: p.room,
    encKey: identity.encKey,
    sigKey: identity.sigKey,
    encKeySig: identity.encKeySig,
    proof,
    ...(p.agent !== undefined ? { agent: p.agent } : {}),
    ...(p.caps !== undefined && p.caps.length > 0 ? { caps: [...p.caps] } : {}),
  };
}

/**
 * A client checks every member the server announces: the id must be the hash
 * of the signing key and the encryption key must be signed by it, so a server
 * cannot pair someone's identity with a key of its own.
 */
export async function verifyMember(m: Member): Promise<boolean> {
  if ((await memberId(m.sigKey)) !== m.id) return false;
  return verifyPss(m.sigKey, encKeySigString(m.encKey), m.encKeySig);
}

// ---- messages ------------------------------------------------------------------

export interface Recipient {
  id: string;
  encKey: string;
}

export async function sealEnvelope(
  identity: Identity,
  p: { room: string; mid: string; text: string; ts: number; recipients: readonly Recipient[] },
): Promise<Envelope> {
  const rawKey = globalThis.crypto.getRandomValues(new Uint8Array(32));
  const iv = globalThis.crypto.getRandomValues(new Uint8Array(12));
  const aes = await subtle.importKey("raw", rawKey, "AES-GCM", false, ["encrypt"]);
  const plaintext = utf8(JSON.stringify({ text: p.text, ts: p.ts }));
  const ct = new Uint8Array(
    await subtle.encrypt(
      { name: "AES-GCM", iv, additionalData: utf8(msgAad(p.room, identity.id, p.mid)) },
      aes,
      plaintext,
    ),
  );
  const wrapped = await Promise.all(
    p.recipients.map(async (r) => {
      const key = await importPublic(r.encKey, OAEP_ALG, "encrypt");
      return [r.id, toBase64(new Uint8Array(await subtle.encrypt(OAEP_ALG, key, rawKey)))] as const;
    }),
  );
  const body = { iv: toBase64(iv), ct: toBase64(ct), keys: Object.fromEntries(wrapped) };
  const sig = await sign(identity.sigPrivate, msgSigString(p.room, identity.id, p.mid, body));
  return { alg: ENVELOPE_ALG, ...body, sig };
}

export type Opened = { ok: true; text: string; ts: number } | { ok: false; reason: string };

/** Verifies before decrypting; any failure yields a reason, never text. */
export async function openEnvelope(
  identity: Identity,
  p: { room: string; from: string; mid: string; env: AnyEnvelope; senderSigKey: string },
): Promise<Opened> {
  const { env } = p;
  if (env.alg !== ENVELOPE_ALG) return { ok: false, reason: `unknown algorithm ${env.alg}` };
  if (!(await verifyPss(p.senderSigKey, msgSigString(p.room, p.from, p.mid, env), env.sig))) {
    return { ok: false, reason: "signature does not verify" };
  }
  const wrapped = Object.hasOwn(env.keys, identity.id) ? fromBase64(env.keys[identity.id]) : null;
  const iv = fromBase64(env.iv);
  const ct = fromBase64(env.ct);
  if (!wrapped || !iv || !ct) return { ok: false, reason: "no key for this member" };
  let plain: Uint8Array;
  try {
    const raw = await subtle.decrypt(OAEP_ALG, identity.encPrivate, wrapped);
    const aes = await subtle.importKey("raw", raw, "AES-GCM", false, ["decrypt"]);
    plain = new Uint8Array(
      await subtle.decrypt({ name: "AES-GCM", iv, additionalData: utf8(msgAad(p.room, p.from, p.mid)) }, aes, ct),
    );
  } catch {
    return { ok: false, reason: "decryption failed" };
  }
  let body: unknown;
  try {
    body = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(plain));
  } catch {
    return { ok: false, reason: "plaintext is not JSON" };
  }
  const { text, ts } = (body ?? {}) as { text?: unknown; ts?: unknown };
  if (typeof text !== "string" || typeof ts !== "number" || [...text].length > MAX_TEXT_CHARS) {
    return { ok: false, reason: "plaintext has the wrong shape" };
  }
  return { ok: true, text, ts };
}
