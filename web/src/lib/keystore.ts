// This browser profile's identity: two RSA key pairs kept in IndexedDB as
// CryptoKey objects (structured clone). The private halves are generated
// non-extractable, so script on this origin can use them but never read
// them out; a reload comes back as the same member id.

import { generateKeyPairs, identityFromKeyPairs, type Identity, type KeyPairs } from "../../../protocol/crypto";

const DB_NAME = "sealroom";
export const STORE = "keys";
const KEY = "identity-v1";

/** The profile's key database (also keystore2.ts: v2 keys in the same object store). */
export function openDb(): Promise<IDBDatabase> {
  return new Promise((resolve, reject) => {
    const req = indexedDB.open(DB_NAME, 1);
    req.onupgradeneeded = () => req.result.createObjectStore(STORE);
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error("IndexedDB open failed"));
    req.onblocked = () => reject(new Error("IndexedDB is blocked by another tab"));
  });
}

export function request<T>(req: IDBRequest<T>): Promise<T> {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error ?? new Error("IndexedDB request failed"));
  });
}

function isKeyPairs(v: unknown): v is KeyPairs {
  const p = v as Partial<KeyPairs> | undefined;
  const ok = (k: CryptoKeyPair | undefined) => k?.privateKey instanceof CryptoKey && k.publicKey instanceof CryptoKey;
  return !!p && ok(p.enc) && ok(p.sig);
}

let cached: Promise<Identity> | null = null;

/** Loads this profile's identity, creating it on first use. */
export function loadIdentity(): Promise<Identity> {
  cached ??= load().catch((e) => {
    cached = null;
    throw e;
  });
  return cached;
}

async function load(): Promise<Identity> {
  let db: IDBDatabase;
  try {
    db = await openDb();
  } catch {
    // Private windows in some browsers have no IndexedDB: still usable, just
    // a new identity per page load.
    return identityFromKeyPairs(await generateKeyPairs({ extractable: false }));
  }
  try {
    const existing = await request(db.transaction(STORE).objectStore(STORE).get(KEY));
    if (isKeyPairs(existing)) return identityFromKeyPairs(existing);
    const fresh = await generateKeyPairs({ extractable: false });
    // add() fails if another tab stored its keys meanwhile; then use theirs,
    // so every tab of a profile is the same member.
    try {
      await request(db.transaction(STORE, "readwrite").objectStore(STORE).add(fresh, KEY));
      return identityFromKeyPairs(fresh);
    } catch {
      const winner = await request(db.transaction(STORE).objectStore(STORE).get(KEY));
      return identityFromKeyPairs(isKeyPairs(winner) ? winner : fresh);
    }
  } finally {
    db.close();
  }
}
