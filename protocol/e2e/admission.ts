// Admission proofs: the room's admission key (derived from the link secret)
// signs a member's id and v2 keys. Members and the core verify them with the
// verification key alone; only a holder of the secret can make one.

import { fromBase64, toBase64 } from "../base64";
import { verifyIdentity2, type PublicIdentity2 } from "./identity2";
import { ed25519Sign, ed25519Verify, utf8, type Bytes } from "./primitives";
import { roomIdFor, type RoomKeys } from "./roomSecret";

/** How far in the future an issued-at may be (clock skew between members). */
export const ADMISSION_MAX_SKEW_MS = 10 * 60_000;

export interface AdmissionProof {
  /** ms epoch when the member made it. */
  iat: number;
  /** base64 Ed25519 signature by the room's admission key. */
  sig: string;
}

export function admissionString(room: string, m: Pick<PublicIdentity2, "id" | "sig2" | "dh2">, iat: number): string {
  return `sealroom-admit-v2\n${room}\n${m.id}\n${m.sig2}\n${m.dh2}\n${iat}`;
}

export async function makeAdmissionProof(
  keys: RoomKeys,
  m: Pick<PublicIdentity2, "id" | "sig2" | "dh2">,
  iat = Date.now(),
): Promise<AdmissionProof> {
  const sig = await ed25519Sign(keys.admissionPrivate, utf8(admissionString(keys.room, m, iat)));
  return { iat, sig: toBase64(sig) };
}

export type AdmissionCheck = { ok: true } | { ok: false; reason: string };

/**
 * What the core checks at hello, and every member for every other member:
 * the room id is the one bound to this key, and the proof is the key's
 * signature over this member's id and v2 keys. `maxAgeMs` rejects old proofs
 * where a caller wants fresh ones (the core at hello).
 */
export async function checkAdmissionProof(
  verificationKey: Bytes,
  room: string,
  m: Pick<PublicIdentity2, "id" | "sig2" | "dh2">,
  proof: AdmissionProof,
  opts: { now?: number; maxAgeMs?: number } = {},
): Promise<AdmissionCheck> {
  if ((await roomIdFor(verificationKey)) !== room)
    return { ok: false, reason: "the room id is not bound to this verification key" };
  const now = opts.now ?? Date.now();
  if (!Number.isSafeInteger(proof.iat) || proof.iat > now + ADMISSION_MAX_SKEW_MS)
    return { ok: false, reason: "admission proof issued in the future" };
  if (opts.maxAgeMs !== undefined && now - proof.iat > opts.maxAgeMs)
    return { ok: false, reason: "admission proof expired" };
  const sig = fromBase64(proof.sig);
  if (!sig || !(await ed25519Verify(verificationKey, sig, utf8(admissionString(room, m, proof.iat))))) {
    return { ok: false, reason: "not admitted by the room link" };
  }
  return { ok: true };
}

// ---- admitted members -----------------------------------------------------------

/** A member whose v1->v2 link and admission proof both verified; only `admitMember` makes one. */
export interface AdmittedMember extends PublicIdentity2 {
  readonly room: string;
  readonly sig2Bytes: Bytes;
  readonly dh2Bytes: Bytes;
}

// Runtime brand: an object literal shaped like an AdmittedMember is not one, so
// key distribution cannot be talked into wrapping for an unchecked member.
const admitted = new WeakSet<object>();

export function isAdmitted(m: object): m is AdmittedMember {
  return admitted.has(m);
}

export async function admitMember(
  verificationKey: Bytes,
  room: string,
  m: PublicIdentity2,
  proof: AdmissionProof,
  opts: { now?: number; maxAgeMs?: number } = {},
): Promise<{ ok: true; member: AdmittedMember } | { ok: false; reason: string }> {
  if (!(await verifyIdentity2(m))) return { ok: false, reason: "v2 keys are not signed by the member's identity" };
  const check = await checkAdmissionProof(verificationKey, room, m, proof, opts);
  if (!check.ok) return check;
  const member: AdmittedMember = Object.freeze({
    id: m.id,
    sigKey: m.sigKey,
    sig2: m.sig2,
    dh2: m.dh2,
    link: m.link,
    room,
    sig2Bytes: fromBase64(m.sig2)!,
    dh2Bytes: fromBase64(m.dh2)!,
  });
  admitted.add(member);
  return { ok: true, member };
}
