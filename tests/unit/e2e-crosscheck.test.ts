// protocol/e2e/primitives.ts on WebCrypto, cross-checked against @noble/curves
// and @noble/hashes (an independent, audited implementation) and against the
// RFC 8032, RFC 7748 and RFC 5869 test vectors.

import { ed25519, x25519 as nobleX25519 } from "@noble/curves/ed25519.js";
import { hkdf as nobleHkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 as nobleSha256 } from "@noble/hashes/sha2.js";
import { describe, expect, it } from "vitest";
import { deriveRoomKeys, roomIdFor } from "../../protocol/e2e/roomSecret";
import { chainStep } from "../../protocol/e2e/senderKeys";
import {
  ed25519Sign,
  ed25519Verify,
  exportPrivatePkcs8,
  generateAgreementKeyPair,
  generateSigningKeyPair,
  hkdf,
  hmacSha256,
  keyPairFromSeed,
  randomBytes,
  sha256,
  utf8,
  x25519,
} from "../../protocol/e2e/primitives";

const hex = (s: string) => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array) => Buffer.from(b).toString("hex");
/** The 32-byte seed at the end of an RFC 8410 PKCS#8 private key. */
const seedOf = (pkcs8: Uint8Array) => pkcs8.slice(pkcs8.length - 32);

describe("RFC test vectors", () => {
  it("RFC 8032 Ed25519 test 1: public key from the seed, and the signature of the empty message", async () => {
    const seed = hex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
    const pair = await keyPairFromSeed("Ed25519", seed);
    expect(toHex(pair.publicKey)).toBe("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    const sig = await ed25519Sign(pair.privateKey, new Uint8Array(0));
    expect(toHex(sig)).toBe(
      "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b",
    );
    expect(await ed25519Verify(pair.publicKey, sig, new Uint8Array(0))).toBe(true);
    expect(await ed25519Verify(pair.publicKey, sig, new Uint8Array([0]))).toBe(false);
  });

  it("RFC 7748 section 6.1: Alice's and Bob's public keys and shared secret", async () => {
    const a = await keyPairFromSeed("X25519", hex("77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a"));
    const b = await keyPairFromSeed("X25519", hex("5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb"));
    expect(toHex(a.publicKey)).toBe("8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a");
    expect(toHex(b.publicKey)).toBe("de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f");
    const shared = "4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742";
    expect(toHex(await x25519(a.privateKey, b.publicKey))).toBe(shared);
    expect(toHex(await x25519(b.privateKey, a.publicKey))).toBe(shared);
  });

  it("RFC 7748 section 5.2 vector 1 (an unclamped scalar and u-coordinate)", async () => {
    const k = await keyPairFromSeed("X25519", hex("a546e36bf0527c9d3b16154b82465edd62144c0ac1fc5a18506a2244ba449ac4"));
    const out = await x25519(k.privateKey, hex("e6db6867583030db3594c1a424b15f7c726624ec26b3353b10a903a6d0ab1c4c"));
    expect(toHex(out)).toBe("c3da55379de9c6908e94ea4df28d084f32eccf03491c71f754b4075577a28552");
  });

  it("X25519 refuses a low-order public key (all-zero shared secret)", async () => {
    const k = await generateAgreementKeyPair();
    await expect(x25519(k.privateKey, new Uint8Array(32))).rejects.toThrow();
  });

  it("RFC 5869 HKDF-SHA-256 test case 1", async () => {
    const okm = await hkdf(
      new Uint8Array(22).fill(0x0b),
      hex("000102030405060708090a0b0c"),
      hex("f0f1f2f3f4f5f6f7f8f9"),
      42,
    );
    expect(toHex(okm)).toBe("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865");
  });
});

describe("WebCrypto against @noble", () => {
  it("WebCrypto Ed25519 signatures verify under noble, and noble's under WebCrypto", async () => {
    for (let i = 0; i < 8; i++) {
      const wc = await generateSigningKeyPair({ extractable: true });
      const msg = randomBytes(1 + i * 37);
      const sig = await ed25519Sign(wc.privateKey, msg);
      expect(ed25519.verify(sig, msg, wc.publicKey)).toBe(true);
      // Ed25519 is deterministic: noble signs the same seed to the same bytes.
      const seed = seedOf(await exportPrivatePkcs8(wc.privateKey));
      expect(toHex(ed25519.sign(msg, seed))).toBe(toHex(sig));

      const nSeed = randomBytes(32);
      const nPub = ed25519.getPublicKey(nSeed);
      const nSig = ed25519.sign(msg, nSeed);
      expect(await ed25519Verify(nPub, nSig, msg)).toBe(true);
      const bad = nSig.slice();
      bad[i] ^= 1;
      expect(await ed25519Verify(nPub, bad, msg)).toBe(false);
    }
  });

  it("the PKCS#8 seed import gives noble's getPublicKey(seed), for Ed25519 and X25519", async () => {
    for (let i = 0; i < 8; i++) {
      const seed = randomBytes(32);
      expect(toHex((await keyPairFromSeed("Ed25519", seed)).publicKey)).toBe(toHex(ed25519.getPublicKey(seed)));
      expect(toHex((await keyPairFromSeed("X25519", seed)).publicKey)).toBe(toHex(nobleX25519.getPublicKey(seed)));
    }
  });

  it("X25519 shared secrets agree between WebCrypto and noble", async () => {
    for (let i = 0; i < 8; i++) {
      const wc = await generateAgreementKeyPair({ extractable: true });
      const wcSeed = seedOf(await exportPrivatePkcs8(wc.privateKey));
      const nSeed = randomBytes(32);
      const nPub = nobleX25519.getPublicKey(nSeed);
      const viaWc = await x25519(wc.privateKey, nPub);
      expect(toHex(viaWc)).toBe(toHex(nobleX25519.getSharedSecret(nSeed, wc.publicKey)));
      expect(toHex(viaWc)).toBe(toHex(nobleX25519.getSharedSecret(wcSeed, nPub)));
    }
  });

  it("HKDF, HMAC and SHA-256 agree byte for byte", async () => {
    for (let i = 0; i < 16; i++) {
      const ikm = randomBytes(1 + i * 5);
      const salt = randomBytes(i % 3 === 0 ? 0 : 32);
      const info = randomBytes(i * 3);
      const len = [16, 32, 44, 64, 100][i % 5];
      expect(toHex(await hkdf(ikm, salt, info, len))).toBe(toHex(nobleHkdf(nobleSha256, ikm, salt, info, len)));
      expect(toHex(await hmacSha256(ikm, info))).toBe(toHex(hmac(nobleSha256, ikm, info)));
      expect(toHex(await sha256(ikm))).toBe(toHex(nobleSha256(ikm)));
    }
  });

  it("the sender-key chain equals a noble HMAC chain for 50 steps", async () => {
    let ck = randomBytes(32);
    let nck = ck.slice();
    for (let i = 0; i < 50; i++) {
      const s = await chainStep(ck);
      expect(toHex(s.messageKey)).toBe(toHex(hmac(nobleSha256, nck, new Uint8Array([1]))));
      nck = hmac(nobleSha256, nck, new Uint8Array([2]));
      expect(toHex(s.next)).toBe(toHex(nck));
      ck = s.next;
    }
  });

  it("the room's admission key and room id match a noble derivation from the secret", async () => {
    const secret = randomBytes(16);
    const keys = await deriveRoomKeys(secret);
    const seed = nobleHkdf(nobleSha256, secret, utf8("sealroom-v2"), utf8("sealroom-v2 admission key"), 32);
    const vk = ed25519.getPublicKey(seed);
    expect(toHex(keys.verificationKey)).toBe(toHex(vk));
    const id = Buffer.from(nobleSha256(new Uint8Array([...utf8("sealroom-v2 room id\n"), ...vk])))
      .toString("base64url")
      .slice(0, 22);
    expect(keys.room).toBe(id);
    expect(await roomIdFor(vk)).toBe(id);
    // The admission key signs what noble verifies with the derived public key.
    const msg = utf8("proof");
    expect(ed25519.verify(await ed25519Sign(keys.admissionPrivate, msg), msg, vk)).toBe(true);
    expect(keys.admissionPrivate.extractable).toBe(false);
  });
});
