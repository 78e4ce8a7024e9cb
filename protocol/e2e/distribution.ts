// Key distribution: a sender's chain key wrapped for one admitted member
// (ephemeral X25519 + HKDF + AES-256-GCM) and signed by the sender. The core
// routes it like a direct message and cannot open it.

import { fromBase64, toBase64 } from "../base64";
import { isAdmitted, type AdmittedMember } from "./admission";
import type { Identity2 } from "./identity2";
import {
  aesGcmDecrypt,
  aesGcmEncrypt,
  concat,
  ed25519Sign,
  ed25519Verify,
  generateAgreementKeyPair,
  hkdf,
  utf8,
  wipe,
  x25519,
  type Bytes,
} from "./primitives";

import { DISTRIBUTION_ALG } from "./algs";
export { DISTRIBUTION_ALG };

export interface KeyDistribution {
  alg: typeof DISTRIBUTION_ALG;
  room: string;
  from: string;
  to: string;
  /** The chain and the index the wrapped chain key stands at. */
  epoch: string;
  n: number;
  /** base64 raw ephemeral X25519 public key. */
  eph: string;
  /** base64 AES-256-GCM of the 32-byte chain key, with its tag. */
  ct: string;
  /** base64 Ed25519 signature by the sender's v2 key. */
  sig: string;
}

export function distributionHeader(d: Pick<KeyDistribution, "room" | "from" | "to" | "epoch" | "n">): string {
  return `sealroom-skd-v2\n${d.room}\n${d.from}\n${d.to}\n${d.epoch}\n${d.n}`;
}

export function distributionSigString(d: Omit<KeyDistribution, "alg" | "sig">): string {
  return `${distributionHeader(d)}\n${d.eph}\n${d.ct}`;
}

async function wrapKey(
  shared: Bytes,
  eph: Bytes,
  recipientDh: Bytes,
  header: string,
): Promise<{ key: Bytes; iv: Bytes }> {
  const okm = await hkdf(shared, concat(eph, recipientDh), utf8(header), 44);
  return { key: okm.slice(0, 32), iv: okm.slice(32) };
}

/** Wraps a chain key for one member; refuses a member whose admission was not verified. */
export async function wrapChainKey(
  sender: Identity2,
  recipient: AdmittedMember,
  p: { room: string; epoch: string; n: number; chainKey: Bytes },
): Promise<KeyDistribution> {
  if (!isAdmitted(recipient)) throw new Error("refusing a key for a member not admitted by the room link");
  if (recipient.room !== p.room) throw new Error("refusing a key for a member admitted to another room");
  if (p.chainKey.length !== 32) throw new Error("a chain key is 32 bytes");
  const head = { room: p.room, from: sender.id, to: recipient.id, epoch: p.epoch, n: p.n };
  const eph = await generateAgreementKeyPair();
  const shared = await x25519(eph.privateKey, recipient.dh2Bytes);
  const header = distributionHeader(head);
  const { key, iv } = await wrapKey(shared, eph.publicKey, recipient.dh2Bytes, header);
  wipe(shared);
  const ct = toBase64(await aesGcmEncrypt(key, iv, p.chainKey, utf8(header)));
  wipe(key);
  const body = { ...head, eph: toBase64(eph.publicKey), ct };
  const sig = toBase64(await ed25519Sign(sender.sigPrivate2, utf8(distributionSigString(body))));
  return { alg: DISTRIBUTION_ALG, ...body, sig };
}

export type OpenedDistribution =
  { ok: true; epoch: string; n: number; chainKey: Bytes } | { ok: false; reason: string };

/**
 * Opens a distribution meant for `me` from an admitted sender: signature
 * first, then the wrapped key, under `me`'s agreement key or one of `past`
 * (the keys of its earlier connections: what was wrapped for it while away).
 */
export async function openDistribution(
  me: Identity2,
  sender: AdmittedMember,
  d: KeyDistribution,
  room: string,
  past: readonly { privateKey: CryptoKey; publicKey: Bytes }[] = [],
): Promise<OpenedDistribution> {
  if (!isAdmitted(sender)) return { ok: false, reason: "sender not admitted by the room link" };
  if (d.alg !== DISTRIBUTION_ALG) return { ok: false, reason: `unknown algorithm ${String(d.alg)}` };
  if (d.room !== room || sender.room !== room) return { ok: false, reason: "distribution for another room" };
  if (d.to !== me.id) return { ok: false, reason: "distribution for another member" };
  if (d.from !== sender.id) return { ok: false, reason: "distribution from another sender" };
  if (!Number.isSafeInteger(d.n) || d.n < 0) return { ok: false, reason: "bad chain index" };
  const sig = fromBase64(d.sig);
  const eph = fromBase64(d.eph);
  const ct = fromBase64(d.ct);
  const { alg: _alg, sig: _sig, ...body } = d;
  if (!sig || !eph || !ct || !(await ed25519Verify(sender.sig2Bytes, sig, utf8(distributionSigString(body))))) {
    return { ok: false, reason: "signature does not verify" };
  }
  const header = distributionHeader(d);
  for (const k of [{ privateKey: me.dhPrivate2, publicKey: me.dh2Bytes }, ...past]) {
    let shared: Bytes;
    try {
      shared = await x25519(k.privateKey, eph);
    } catch {
      return { ok: false, reason: "bad ephemeral key" };
    }
    const { key, iv } = await wrapKey(shared, eph, k.publicKey, header);
    wipe(shared);
    const chainKey = await aesGcmDecrypt(key, iv, ct, utf8(header));
    wipe(key);
    if (chainKey && chainKey.length === 32) return { ok: true, epoch: d.epoch, n: d.n, chainKey };
  }
  return { ok: false, reason: "decryption failed" };
}
