// Public key checks for `hello` (docs/protocol.md sections 2 and 9), on node:crypto:
// the core only ever verifies, and the native verifier is fast and can run
// off the event loop.

import { createHash, createPublicKey, verify, constants, type KeyObject } from "node:crypto";

export type KeyCheck = { ok: true; key: KeyObject } | { ok: false; message: string };

export function parseRsaSpki(der: Buffer, what: string): KeyCheck {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: der, format: "der", type: "spki" });
  } catch {
    return { ok: false, message: `${what} is not an SPKI public key` };
  }
  // keyType is "rsa" only for the rsaEncryption OID, which WebCrypto exports
  // for RSA-OAEP and RSA-PSS keys alike; "rsa-pss" keys are refused.
  if (key.asymmetricKeyType !== "rsa") return { ok: false, message: `${what} is not an rsaEncryption key` };
  const d = key.asymmetricKeyDetails;
  const bits = d?.modulusLength ?? 0;
  if (bits < 2048 || bits > 4096)
    return { ok: false, message: `${what} has a ${bits}-bit modulus (2048 to 4096 allowed)` };
  if (d?.publicExponent !== 65537n) return { ok: false, message: `${what} exponent must be 65537` };
  return { ok: true, key };
}

export function verifyPss(key: KeyObject, data: string, signature: Buffer): Promise<boolean> {
  return new Promise((resolve) => {
    verify(
      "sha256",
      Buffer.from(data, "utf8"),
      { key, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 },
      signature,
      (err, ok) => resolve(!err && ok),
    );
  });
}

export function memberIdOf(sigKeyDer: Buffer): string {
  return createHash("sha256").update(sigKeyDer).digest("base64url").slice(0, 22);
}
