// A member's v2 keys (Ed25519 signing, X25519 agreement) and the one-time
// signature of its v1 RSA identity over them, so the member id stays the same.

import { fromBase64, toBase64 } from "../base64";
import { memberId, verifyPss, PSS_ALG, type Identity } from "../crypto";
import {
  bytesEqual,
  ed25519Sign,
  ed25519Verify,
  x25519,
  exportPrivatePkcs8,
  generateAgreementKeyPair,
  generateSigningKeyPair,
  importPrivatePkcs8,
  utf8,
  type Bytes,
  type KeyPairOptions,
} from "./primitives";

const subtle = globalThis.crypto.subtle;

/** What a member publishes of its v2 keys; `link` is the v1 RSA-PSS signature over them. */
export interface PublicIdentity2 {
  id: string;
  /** v1 RSA-PSS SPKI (base64): its hash is `id`. */
  sigKey: string;
  /** Raw Ed25519 public key, base64. */
  sig2: string;
  /** Raw X25519 public key, base64. */
  dh2: string;
  link: string;
}

export interface Identity2 extends PublicIdentity2 {
  sigPrivate2: CryptoKey;
  dhPrivate2: CryptoKey;
  sig2Bytes: Bytes;
  dh2Bytes: Bytes;
}

export function linkString(id: string, sig2: string, dh2: string): string {
  return `sealroom-v2-keys\n${id}\n${sig2}\n${dh2}`;
}

/**
 * New v2 keys, signed once by the v1 signing key; the id is the v1 id.
 * A session keeps its signing key and makes a new agreement key at each
 * connection (groupSession.ts, keyStore2.ts): key distributions are wrapped
 * to `dh2`, so an agreement key kept longer would let whoever steals it open
 * more recorded distributions.
 */
export async function generateIdentity2(v1: Identity, opts: KeyPairOptions = {}): Promise<Identity2> {
  const [s, d] = await Promise.all([generateSigningKeyPair(opts), generateAgreementKeyPair(opts)]);
  return linkIdentity2(v1, s.privateKey, s.publicKey, d.privateKey, d.publicKey);
}

/** The v2 identity of these two key pairs, the pair linked by a fresh signature of the v1 key. */
export function linkedIdentity2(
  v1: Identity,
  sig: { privateKey: CryptoKey; publicKey: Bytes },
  dh: { privateKey: CryptoKey; publicKey: Bytes },
): Promise<Identity2> {
  return linkIdentity2(v1, sig.privateKey, sig.publicKey, dh.privateKey, dh.publicKey);
}

async function linkIdentity2(
  v1: Identity,
  sigPrivate2: CryptoKey,
  sig2Bytes: Bytes,
  dhPrivate2: CryptoKey,
  dh2Bytes: Bytes,
): Promise<Identity2> {
  const sig2 = toBase64(sig2Bytes);
  const dh2 = toBase64(dh2Bytes);
  const link = toBase64(
    new Uint8Array(
      await subtle.sign({ name: PSS_ALG.name, saltLength: 32 }, v1.sigPrivate, utf8(linkString(v1.id, sig2, dh2))),
    ),
  );
  return { id: v1.id, sigKey: v1.sigKey, sig2, dh2, link, sigPrivate2, dhPrivate2, sig2Bytes, dh2Bytes };
}

/** True when the id is the hash of the v1 key and the v1 key signed these v2 keys. */
export async function verifyIdentity2(p: PublicIdentity2): Promise<boolean> {
  const s = fromBase64(p.sig2);
  const d = fromBase64(p.dh2);
  if (!s || s.length !== 32 || !d || d.length !== 32) return false;
  if ((await memberId(p.sigKey)) !== p.id) return false;
  return verifyPss(p.sigKey, linkString(p.id, p.sig2, p.dh2), p.link);
}

export function publicIdentity2(i: Identity2): PublicIdentity2 {
  return { id: i.id, sigKey: i.sigKey, sig2: i.sig2, dh2: i.dh2, link: i.link };
}

/** A fresh agreement key for the same signing key (a new connection of a member that stores its v2 signing key). */
export async function refreshAgreementKey(v1: Identity, i: Identity2): Promise<Identity2> {
  const d = await generateAgreementKeyPair();
  return linkIdentity2(v1, i.sigPrivate2, i.sig2Bytes, d.privateKey, d.publicKey);
}

// ---- storage (native client only: its keys must be extractable) ---------------
// The agreement key is stored too only for symmetry with the brief's native
// client; the recommended use is refreshAgreementKey at each connection.

export interface StoredIdentity2 {
  sig2Pkcs8: string;
  dh2Pkcs8: string;
  sig2: string;
  dh2: string;
  link: string;
}

export async function exportIdentity2(i: Identity2): Promise<StoredIdentity2> {
  const [s, d] = await Promise.all([exportPrivatePkcs8(i.sigPrivate2), exportPrivatePkcs8(i.dhPrivate2)]);
  return { sig2Pkcs8: toBase64(s), dh2Pkcs8: toBase64(d), sig2: i.sig2, dh2: i.dh2, link: i.link };
}

/** Loads stored v2 keys for this v1 identity; refuses keys the v1 key did not sign. */
export async function importIdentity2(
  v1: Identity,
  st: StoredIdentity2,
  opts: KeyPairOptions = {},
): Promise<Identity2> {
  const s = fromBase64(st.sig2Pkcs8);
  const d = fromBase64(st.dh2Pkcs8);
  const sb = fromBase64(st.sig2);
  const db = fromBase64(st.dh2);
  if (!s || !d || !sb || !db) throw new Error("stored v2 keys are not base64");
  const pub: PublicIdentity2 = { id: v1.id, sigKey: v1.sigKey, sig2: st.sig2, dh2: st.dh2, link: st.link };
  if (!(await verifyIdentity2(pub))) throw new Error("stored v2 keys are not signed by this identity");
  const [sigPrivate2, dhPrivate2] = await Promise.all([
    importPrivatePkcs8("Ed25519", s, opts),
    importPrivatePkcs8("X25519", d, opts),
  ]);
  // The private keys must be the halves of the signed public keys, or this member would sign what no one verifies.
  const probe = utf8("sealroom-v2 key check");
  const tmp = await generateAgreementKeyPair();
  const [sigOk, mine, theirs] = await Promise.all([
    ed25519Sign(sigPrivate2, probe).then((sig) => ed25519Verify(sb, sig, probe)),
    x25519(dhPrivate2, tmp.publicKey),
    x25519(tmp.privateKey, db),
  ]);
  if (!sigOk || !bytesEqual(mine, theirs)) throw new Error("stored v2 private keys do not match their public keys");
  return { ...pub, sigPrivate2, dhPrivate2, sig2Bytes: sb, dh2Bytes: db };
}
