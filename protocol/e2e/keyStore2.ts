// Where a member's v2 keys live between its sessions, per room (docs/security.md
// section 5): the Ed25519 signing key, and the X25519 agreement key the others
// wrap chain keys to while this member is away. A port: the web app keeps
// CryptoKeys in IndexedDB (web/src/lib/keystore2.ts), the terminal client a
// 0600 file beside its identity (client/keyFile2.ts), tests and the default in
// memory (one session's reconnects).
//
// Browser-safe: no node: imports.

import { fromBase64, toBase64 } from "../base64";
import {
  bytesEqual,
  ed25519Sign,
  ed25519Verify,
  generateAgreementKeyPair,
  utf8,
  x25519,
  type Bytes,
} from "./primitives";

/** Named limits of the stored v2 keys. */
export const V2_KEY_LIMITS = {
  /**
   * Agreement keys kept per room, newest first. Each connection announces a
   * new one; the older ones stay only until that connection's resume is
   * complete (the distributions wrapped to them while away have then arrived).
   */
  agreementKeysKept: 3,
};

export interface StoredKeyPair {
  privateKey: CryptoKey;
  /** The raw 32-byte public key, base64. */
  publicKey: string;
}

export interface V2KeyRecord {
  /** Ed25519, kept for good: what this member signed while away still verifies when it is back. */
  sig: StoredKeyPair;
  /** X25519, newest first: the last one announced, and older ones distributions may still be wrapped to. */
  dh: StoredKeyPair[];
}

export interface V2KeyStore {
  /** True when the keys must be extractable to be kept (a file); false for a store of CryptoKeys. */
  readonly extractable: boolean;
  load(room: string): Promise<V2KeyRecord | null>;
  save(room: string, rec: V2KeyRecord): Promise<void>;
}

/** In memory: keys outlive a connection, not the process. */
export class MemoryV2KeyStore implements V2KeyStore {
  readonly extractable = false;
  private map = new Map<string, V2KeyRecord>();

  async load(room: string): Promise<V2KeyRecord | null> {
    return this.map.get(room) ?? null;
  }

  async save(room: string, rec: V2KeyRecord): Promise<void> {
    this.map.set(room, { sig: rec.sig, dh: [...rec.dh] });
  }
}

/** A loaded record's shape, so a store that held something else yields null rather than a broken session. */
export function isV2KeyRecord(v: unknown): v is V2KeyRecord {
  const r = v as Partial<V2KeyRecord> | null;
  const pair = (p: Partial<StoredKeyPair> | undefined, alg: string) =>
    !!p &&
    p.privateKey instanceof CryptoKey &&
    p.privateKey.algorithm.name === alg &&
    typeof p.publicKey === "string" &&
    fromBase64(p.publicKey)?.length === 32;
  return (
    !!r &&
    pair(r.sig, "Ed25519") &&
    Array.isArray(r.dh) &&
    r.dh.length >= 1 &&
    r.dh.length <= V2_KEY_LIMITS.agreementKeysKept &&
    r.dh.every((p) => pair(p, "X25519"))
  );
}

/** True when every private key is the half of its public key (a file edited by hand, a mixed-up record). */
export async function keysMatch(rec: V2KeyRecord): Promise<boolean> {
  const probe = utf8("sealroom-v2 stored key check");
  try {
    const sig = await ed25519Sign(rec.sig.privateKey, probe);
    if (!(await ed25519Verify(fromBase64(rec.sig.publicKey)!, sig, probe))) return false;
    const tmp = await generateAgreementKeyPair();
    for (const d of rec.dh) {
      const [mine, theirs] = await Promise.all([
        x25519(d.privateKey, tmp.publicKey),
        x25519(tmp.privateKey, fromBase64(d.publicKey)!),
      ]);
      if (!bytesEqual(mine, theirs)) return false;
    }
    return true;
  } catch {
    return false;
  }
}

export function storedPair(privateKey: CryptoKey, publicKey: Bytes): StoredKeyPair {
  return { privateKey, publicKey: toBase64(publicKey) };
}
