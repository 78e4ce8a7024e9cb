// Zod schemas for the v2 wire objects (admission proof, v2 hello fields, key
// distribution, v2 envelope), kept apart until they are spliced into messages.ts.

import { z } from "zod";
import { isBase64 } from "../base64";
import { ID_RE } from "../names";
import { DISTRIBUTION_ALG, ENVELOPE_V2_ALG } from "./algs";

/** Distributions in one `keys` message (one per member of a full room). */
export const MAX_KEY_DISTS = 1024;

const b64 = z.string().refine(isBase64, "not base64");
const id = z.string().regex(ID_RE, "not a member id");
const room = z.string().regex(/^[A-Za-z0-9_-]{1,64}$/, "not a room id");
/** base64 of exactly n bytes (padded standard base64). */
const b64Bytes = (n: number) => b64.refine((s) => s.length === 4 * Math.ceil(n / 3), `must be ${n} bytes`);
const epoch = z.string().regex(/^[A-Za-z0-9_-]{22}$/, "epoch must be 16 bytes base64url");
const index = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
/** An Ed25519 signature. */
const sig64 = b64Bytes(64);
/** A raw 32-byte public key. */
const pub32 = b64Bytes(32);

export const AdmissionProofWire = z.object({ iat: index, sig: sig64 });

/** What a v2 hello adds to the v1 fields (v: 2). */
export const HelloV2Fields = z.object({
  v: z.literal(2),
  sig2: pub32,
  dh2: pub32,
  link: b64,
  admission: AdmissionProofWire,
  /**
   * The room's verification key, in every v2 hello: the room id is bound to it
   * (roomIdFor), so the core checks the binding and the proof without keeping
   * or trusting anything, and nobody can open the room id under another key.
   */
  vk: pub32,
  /** Possession of sig2: its signature over helloV2ProofString(nonce, room, name). */
  proof2: sig64,
});
export type HelloV2Fields = z.infer<typeof HelloV2Fields>;

/** What joined/welcome entries carry of a v2 member, so every member checks every other. */
export const MemberV2Wire = z.object({ sig2: pub32, dh2: pub32, link: b64, admission: AdmissionProofWire });
export type MemberV2Wire = z.infer<typeof MemberV2Wire>;

export function helloV2ProofString(nonce: string, room: string, name: string): string {
  return `sealroom-hello-v2\n${nonce}\n${room}\n${name}`;
}

/** Chain key ciphertext: 32 bytes plus the 16-byte tag. */
export const KeyDistributionWire = z.object({
  alg: z.literal(DISTRIBUTION_ALG),
  room,
  from: id,
  to: id,
  epoch,
  n: index,
  eph: pub32,
  ct: b64Bytes(48),
  sig: sig64,
});

export const EnvelopeV2Wire = z.object({
  alg: z.literal(ENVELOPE_V2_ALG),
  epoch,
  n: index,
  ct: b64.refine((s) => s.length >= 24, "ct shorter than a GCM tag"),
  sig: sig64,
});

// SendKeys and KeysMsg live in ../messages.ts with the other messages.
