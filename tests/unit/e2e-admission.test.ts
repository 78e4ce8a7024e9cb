// Room secrets and admission proofs (protocol/e2e/roomSecret.ts, admission.ts,
// identity2.ts): only the link's secret admits, for one member in one room.

import { beforeAll, describe, expect, it } from "vitest";
import { generateIdentity } from "../../protocol/crypto";
import { admitMember, checkAdmissionProof, isAdmitted, makeAdmissionProof } from "../../protocol/e2e/admission";
import {
  exportIdentity2,
  generateIdentity2,
  importIdentity2,
  publicIdentity2,
  refreshAgreementKey,
  verifyIdentity2,
} from "../../protocol/e2e/identity2";
import { fromB64Url } from "../../protocol/e2e/primitives";
import {
  deriveRoomKeys,
  parseRoomLink,
  parseRoomSecret,
  roomIdFor,
  roomLink,
  type RoomKeys,
} from "../../protocol/e2e/roomSecret";
import { newMember, newRoom, type TestMember } from "../helpers/e2eRoom";

let room: { secret: string; keys: RoomKeys };
let other: { secret: string; keys: RoomKeys };
let alice: TestMember;
let bob: TestMember;

beforeAll(async () => {
  room = await newRoom();
  other = await newRoom();
  alice = await newMember(room.keys);
  bob = await newMember(room.keys);
});

describe("room secret", () => {
  it("is 128 bits of base64url and derives the same room id and key every time", async () => {
    expect(room.secret).toMatch(/^[A-Za-z0-9_-]{22}$/);
    const again = await deriveRoomKeys(fromB64Url(room.secret));
    expect(again.room).toBe(room.keys.room);
    expect(Buffer.from(again.verificationKey).equals(Buffer.from(room.keys.verificationKey))).toBe(true);
    expect(room.keys.room).not.toBe(other.keys.room);
    expect(room.keys.admissionPrivate.extractable).toBe(false);
  });

  it("rejects short, long and malformed secrets with a reason", () => {
    expect(parseRoomSecret("abc")).toEqual({ ok: false, reason: "the room secret is shorter than 128 bits" });
    expect(parseRoomSecret("not base64!")).toMatchObject({ ok: false, reason: "the room secret is not base64url" });
    expect(parseRoomSecret("A".repeat(100))).toMatchObject({ ok: false, reason: "the room secret is too long" });
    expect(parseRoomSecret(room.secret).ok).toBe(true);
  });

  it("a link round-trips; a link whose secret belongs to another room is refused", async () => {
    const link = roomLink("https://host:8443/", room.keys.room, room.secret);
    expect(link).toBe(`https://host:8443/r/${room.keys.room}#${room.secret}`);
    const parsed = await parseRoomLink(link);
    expect(parsed.ok && parsed.room).toBe(room.keys.room);
    const swapped = await parseRoomLink(`https://host/r/${room.keys.room}#${other.secret}`);
    expect(swapped).toEqual({ ok: false, reason: "the secret in this link is not the secret of this room" });
    expect((await parseRoomLink(`https://host/r/${room.keys.room}`)).ok).toBe(false);
  });
});

describe("admission proof", () => {
  it("a proof from the secret verifies for its member, by anyone holding only the verification key", async () => {
    expect(await checkAdmissionProof(room.keys.verificationKey, room.keys.room, alice.me, alice.proof)).toEqual({
      ok: true,
    });
    expect(isAdmitted(alice.admitted)).toBe(true);
  });

  it("a proof made with the wrong secret is 'not admitted by the room link'", async () => {
    const forged = await makeAdmissionProof({ ...other.keys, room: room.keys.room }, alice.me);
    expect(await checkAdmissionProof(room.keys.verificationKey, room.keys.room, alice.me, forged)).toEqual({
      ok: false,
      reason: "not admitted by the room link",
    });
  });

  it("a proof for another member does not admit this one", async () => {
    const r = await checkAdmissionProof(room.keys.verificationKey, room.keys.room, bob.me, alice.proof);
    expect(r).toEqual({ ok: false, reason: "not admitted by the room link" });
    // Same id, other v2 keys (a core pairing a member's id with keys of its own).
    const swapped = { ...alice.me, dh2: bob.me.dh2 };
    expect((await checkAdmissionProof(room.keys.verificationKey, room.keys.room, swapped, alice.proof)).ok).toBe(false);
  });

  it("a proof for another room does not admit, and a room id is bound to its key", async () => {
    const there = await makeAdmissionProof(other.keys, alice.me);
    expect((await checkAdmissionProof(room.keys.verificationKey, room.keys.room, alice.me, there)).ok).toBe(false);
    // Squatting: the room's id with another room's verification key.
    expect(await checkAdmissionProof(other.keys.verificationKey, room.keys.room, alice.me, there)).toEqual({
      ok: false,
      reason: "the room id is not bound to this verification key",
    });
    expect(await roomIdFor(room.keys.verificationKey)).toBe(room.keys.room);
  });

  it("expired (when the caller asks for fresh proofs) and future-dated proofs are refused", async () => {
    const old = await makeAdmissionProof(room.keys, alice.me, Date.now() - 3_600_000);
    const k = room.keys.verificationKey;
    expect((await checkAdmissionProof(k, room.keys.room, alice.me, old)).ok).toBe(true);
    expect(await checkAdmissionProof(k, room.keys.room, alice.me, old, { maxAgeMs: 60_000 })).toEqual({
      ok: false,
      reason: "admission proof expired",
    });
    const future = await makeAdmissionProof(room.keys, alice.me, Date.now() + 3_600_000);
    expect(await checkAdmissionProof(k, room.keys.room, alice.me, future)).toEqual({
      ok: false,
      reason: "admission proof issued in the future",
    });
  });

  it("admitMember also requires the v1 identity's signature over the v2 keys", async () => {
    const mallory = await generateIdentity2(await generateIdentity({ modulusLength: 1024 }));
    // Mallory's v2 keys presented under Alice's id and v1 key, with a proof for them: the link fails.
    const claim = { ...publicIdentity2(alice.me), sig2: mallory.sig2, dh2: mallory.dh2 };
    const proof = await makeAdmissionProof(room.keys, claim);
    const r = await admitMember(room.keys.verificationKey, room.keys.room, claim, proof);
    expect(r).toEqual({ ok: false, reason: "v2 keys are not signed by the member's identity" });
    // An object shaped like an admitted member is not one.
    expect(isAdmitted({ ...alice.admitted })).toBe(false);
  });
});

describe("v2 identity", () => {
  it("keeps the v1 member id, and the link verifies; a wrong link does not", async () => {
    expect(alice.me.id).toBe(alice.v1.id);
    expect(await verifyIdentity2(publicIdentity2(alice.me))).toBe(true);
    expect(await verifyIdentity2({ ...publicIdentity2(alice.me), link: bob.me.link })).toBe(false);
    expect(await verifyIdentity2({ ...publicIdentity2(alice.me), id: bob.me.id })).toBe(false);
    expect(alice.me.sigPrivate2.extractable).toBe(false);
    expect(alice.me.dhPrivate2.extractable).toBe(false);
  });

  it("an extractable identity (native client) exports to PKCS#8 and loads back; a foreign link is refused", async () => {
    const v1 = await generateIdentity({ modulusLength: 1024, extractable: true });
    const me = await generateIdentity2(v1, { extractable: true });
    const stored = await exportIdentity2(me);
    const back = await importIdentity2(v1, stored);
    expect(back.sig2).toBe(me.sig2);
    expect(back.sigPrivate2.extractable).toBe(false);
    await expect(importIdentity2(alice.v1, stored)).rejects.toThrow("not signed by this identity");
    await expect(exportIdentity2(alice.me)).rejects.toThrow();
    // Private keys of another identity under these signed public keys: refused.
    const other = await exportIdentity2(await generateIdentity2(v1, { extractable: true }));
    await expect(importIdentity2(v1, { ...stored, sig2Pkcs8: other.sig2Pkcs8 })).rejects.toThrow("do not match");
    await expect(importIdentity2(v1, { ...stored, dh2Pkcs8: other.dh2Pkcs8 })).rejects.toThrow("do not match");
  });
});

describe("per-connection agreement key", () => {
  it("refreshAgreementKey keeps the id and signing key, makes a new linked dh2 a new proof must cover", async () => {
    const fresh = await refreshAgreementKey(alice.v1, alice.me);
    expect(fresh.id).toBe(alice.me.id);
    expect(fresh.sig2).toBe(alice.me.sig2);
    expect(fresh.dh2).not.toBe(alice.me.dh2);
    expect(await verifyIdentity2(publicIdentity2(fresh))).toBe(true);
    expect((await checkAdmissionProof(room.keys.verificationKey, room.keys.room, fresh, alice.proof)).ok).toBe(false);
    const proof = await makeAdmissionProof(room.keys, fresh);
    expect((await admitMember(room.keys.verificationKey, room.keys.room, publicIdentity2(fresh), proof)).ok).toBe(true);
  });
});
