// A v2 room for unit tests: members with v1 + v2 identities, admitted (or not)
// by the room's link secret.

import { generateIdentity, type Identity } from "../../protocol/crypto";
import {
  admitMember,
  makeAdmissionProof,
  type AdmissionProof,
  type AdmittedMember,
} from "../../protocol/e2e/admission";
import { generateIdentity2, publicIdentity2, type Identity2 } from "../../protocol/e2e/identity2";
import { fromB64Url } from "../../protocol/e2e/primitives";
import { deriveRoomKeys, generateRoomSecret, type RoomKeys } from "../../protocol/e2e/roomSecret";

export interface TestMember {
  v1: Identity;
  me: Identity2;
  proof: AdmissionProof;
  admitted: AdmittedMember;
}

export async function newRoom(): Promise<{ secret: string; keys: RoomKeys }> {
  const secret = generateRoomSecret();
  return { secret, keys: await deriveRoomKeys(fromB64Url(secret)) };
}

// RSA key generation dominates; 1024-bit keys keep unit tests quick (the size is not under test here).
export async function newMember(keys: RoomKeys): Promise<TestMember> {
  const v1 = await generateIdentity({ modulusLength: 1024 });
  const me = await generateIdentity2(v1);
  const proof = await makeAdmissionProof(keys, me);
  const r = await admitMember(keys.verificationKey, keys.room, publicIdentity2(me), proof);
  if (!r.ok) throw new Error(r.reason);
  return { v1, me, proof, admitted: r.member };
}
