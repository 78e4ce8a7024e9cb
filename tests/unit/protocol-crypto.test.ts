// protocol/crypto.ts on WebCrypto, cross-checked against node-forge, an
// independent RSA implementation: what one wraps or signs, the other opens or
// verifies.

import forge from "node-forge";
import { beforeAll, describe, expect, it } from "vitest";
import { fromBase64, toBase64 } from "../../protocol/base64";
import {
  encKeySigString,
  generateKeyPairs,
  helloProofString,
  identityFromKeyPairs,
  makeHello,
  memberId,
  msgSigString,
  openEnvelope,
  safetyCode,
  sealEnvelope,
  verifyMember,
  verifyPss,
  type Identity,
  type KeyPairs,
} from "../../protocol/crypto";
import { memberIdOf } from "../../server/keys";

const subtle = globalThis.crypto.subtle;
const bin = (u: Uint8Array) => forge.util.binary.raw.encode(u);
const unbin = (s: string) => new Uint8Array(forge.util.binary.raw.decode(s));
const sha256 = () => forge.md.sha256.create();
const pss = () => forge.pss.create({ md: sha256(), mgf: forge.mgf.mgf1.create(sha256()), saltLength: 32 });
const oaep = () => ({ md: sha256(), mgf1: { md: sha256() } });

async function forgePrivate(k: CryptoKey): Promise<forge.pki.rsa.PrivateKey> {
  const der = new Uint8Array(await subtle.exportKey("pkcs8", k));
  const info = forge.asn1.fromDer(bin(der));
  return forge.pki.privateKeyFromAsn1(info) as forge.pki.rsa.PrivateKey;
}
const forgePublic = (spkiB64: string) =>
  forge.pki.publicKeyFromAsn1(forge.asn1.fromDer(bin(fromBase64(spkiB64)!))) as forge.pki.rsa.PublicKey;

let pairsA: KeyPairs, pairsB: KeyPairs;
let a: Identity, b: Identity;
beforeAll(async () => {
  [pairsA, pairsB] = await Promise.all([
    generateKeyPairs({ extractable: true }),
    generateKeyPairs({ extractable: true }),
  ]);
  [a, b] = await Promise.all([identityFromKeyPairs(pairsA), identityFromKeyPairs(pairsB)]);
});

describe("identity", () => {
  it("member id is base64url SHA-256 of the sigKey DER, 22 chars, same as the server computes", async () => {
    expect(a.id).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(await memberId(a.sigKey)).toBe(a.id);
    expect(memberIdOf(Buffer.from(a.sigKey, "base64"))).toBe(a.id);
    const digest = forge.md.sha256
      .create()
      .update(bin(fromBase64(a.sigKey)!))
      .digest()
      .getBytes();
    expect(Buffer.from(digest, "binary").toString("base64url").slice(0, 22)).toBe(a.id);
  });

  it("exports SPKI with the rsaEncryption OID for both key types", () => {
    for (const k of [a.encKey, a.sigKey]) {
      const asn1 = forge.asn1.fromDer(bin(fromBase64(k)!));
      const oid = forge.asn1.derToOid(
        ((asn1.value as forge.asn1.Asn1[])[0].value as forge.asn1.Asn1[])[0].value as string,
      );
      expect(oid).toBe("1.2.840.113549.1.1.1");
      expect(forgePublic(k).n.bitLength()).toBe(2048);
    }
  });

  it("safety codes are 12 digits and differ between members", () => {
    expect(safetyCode(a.id)).toMatch(/^\d{4} \d{4} \d{4}$/);
    expect(safetyCode(a.id)).not.toBe(safetyCode(b.id));
    expect(safetyCode(a.id)).toBe(safetyCode(a.id));
  });

  it("verifyMember rejects a swapped encKey or a wrong id", async () => {
    const m = { id: a.id, name: "a", encKey: a.encKey, sigKey: a.sigKey, encKeySig: a.encKeySig, since: 0 };
    expect(await verifyMember(m)).toBe(true);
    expect(await verifyMember({ ...m, encKey: b.encKey })).toBe(false);
    expect(await verifyMember({ ...m, id: b.id })).toBe(false);
  });
});

describe("signatures: RSA-PSS SHA-256, salt 32, interoperable with node-forge", () => {
  it("forge verifies the hello proof and encKeySig made by WebCrypto", async () => {
    const h = await makeHello(a, { nonce: "bm9uY2U=", room: "r", name: "Ann" });
    const pub = forgePublic(a.sigKey);
    const verify = (text: string, sig: string) => {
      const md = sha256().update(text, "utf8");
      return pub.verify(md.digest().getBytes(), bin(fromBase64(sig)!), pss());
    };
    expect(verify(helloProofString("bm9uY2U=", "r", "Ann", a.encKey), h.proof)).toBe(true);
    expect(verify(encKeySigString(a.encKey), h.encKeySig)).toBe(true);
    expect(verify(helloProofString("bm9uY2U=", "r", "Bob", a.encKey), h.proof)).toBe(false);
  });

  it("WebCrypto verifies a signature made by forge", async () => {
    const priv = await forgePrivate(pairsA.sig.privateKey);
    const md = sha256().update("made by forge", "utf8");
    const sig = toBase64(unbin(priv.sign(md, pss())));
    expect(await verifyPss(a.sigKey, "made by forge", sig)).toBe(true);
    expect(await verifyPss(a.sigKey, "made by forgE", sig)).toBe(false);
    expect(await verifyPss(b.sigKey, "made by forge", sig)).toBe(false);
  });
});

describe("envelopes: RSA-OAEP SHA-256 + AES-256-GCM", () => {
  it("forge unwraps the AES key WebCrypto wrapped, and decrypts the ciphertext with the AAD", async () => {
    const env = await sealEnvelope(a, { room: "r1", mid: "m1", text: "héllo ✓", ts: 5, recipients: [b] });
    expect(Object.keys(env.keys)).toEqual([b.id]);
    const priv = await forgePrivate(pairsB.enc.privateKey);
    const aesKey = priv.decrypt(bin(fromBase64(env.keys[b.id])!), "RSA-OAEP", oaep());
    expect(aesKey.length).toBe(32);
    const ct = fromBase64(env.ct)!;
    const decipher = forge.cipher.createDecipher("AES-GCM", aesKey);
    decipher.start({
      iv: bin(fromBase64(env.iv)!),
      additionalData: `r1\n${a.id}\nm1`,
      tagLength: 128,
      tag: forge.util.createBuffer(bin(ct.subarray(ct.length - 16))),
    });
    decipher.update(forge.util.createBuffer(bin(ct.subarray(0, ct.length - 16))));
    expect(decipher.finish()).toBe(true);
    expect(JSON.parse(forge.util.decodeUtf8(decipher.output.getBytes()))).toEqual({ text: "héllo ✓", ts: 5 });
    // and forge verifies the message signature
    const md = sha256().update(msgSigString("r1", a.id, "m1", env), "utf8");
    expect(forgePublic(a.sigKey).verify(md.digest().getBytes(), bin(fromBase64(env.sig)!), pss())).toBe(true);
  });

  it("WebCrypto unwraps a key forge wrapped", async () => {
    const raw = forge.random.getBytesSync(32);
    const wrapped = forgePublic(b.encKey).encrypt(raw, "RSA-OAEP", oaep());
    const out = new Uint8Array(await subtle.decrypt({ name: "RSA-OAEP" }, pairsB.enc.privateKey, unbin(wrapped)));
    expect(bin(out)).toBe(raw);
  });

  it("opens for the recipient; refuses tampering, wrong AAD, a foreign signer, and non-recipients", async () => {
    const env = await sealEnvelope(a, { room: "r1", mid: "m2", text: "secret", ts: 9, recipients: [b] });
    const base = { room: "r1", from: a.id, mid: "m2", env, senderSigKey: a.sigKey };
    expect(await openEnvelope(b, base)).toEqual({ ok: true, text: "secret", ts: 9 });
    const flip = (s: string) => toBase64(fromBase64(s)!.map((x, i) => (i === 3 ? x ^ 1 : x)));
    expect((await openEnvelope(b, { ...base, env: { ...env, ct: flip(env.ct) } })).ok).toBe(false);
    expect((await openEnvelope(b, { ...base, mid: "m3" })).ok).toBe(false);
    expect((await openEnvelope(b, { ...base, room: "r2" })).ok).toBe(false);
    expect((await openEnvelope(b, { ...base, senderSigKey: b.sigKey })).ok).toBe(false);
    expect(
      (await openEnvelope(b, { ...base, env: { ...env, keys: { ...env.keys, [a.id]: env.keys[b.id] } } })).ok,
    ).toBe(false);
    expect(await openEnvelope(a, base)).toEqual({ ok: false, reason: "no key for this member" });
  });

  it("a server that re-signs cannot pass: the signature is bound to the sender's key", async () => {
    const env = await sealEnvelope(a, { room: "r1", mid: "m4", text: "x", ts: 0, recipients: [b] });
    const forged = await sealEnvelope(b, { room: "r1", mid: "m4", text: "evil", ts: 0, recipients: [b] });
    const r = await openEnvelope(b, {
      room: "r1",
      from: a.id,
      mid: "m4",
      env: { ...env, ct: forged.ct, sig: forged.sig },
      senderSigKey: a.sigKey,
    });
    expect(r.ok).toBe(false);
  });
});
