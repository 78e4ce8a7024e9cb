// The web app's v2 keys between page loads (protocol/e2e/keyStore2.ts): per
// identity and room, the Ed25519 signing key and the X25519 agreement key(s),
// kept as non-extractable CryptoKeys in IndexedDB beside the identity
// (keystore.ts), so a member that closed its tab reads, when it is back, what
// was sent to it meanwhile. Script on this origin can use them, never read
// them out.

import { isV2KeyRecord, type V2KeyRecord, type V2KeyStore } from "../../../protocol/e2e/keyStore2";
import { openDb, request, STORE } from "./keystore";

/** Structured-clone storage of one value per key: IndexedDB in the page, a Map in unit tests. */
export interface CloneKv {
  get(key: string): Promise<unknown>;
  put(key: string, value: unknown): Promise<void>;
}

/** The profile's IndexedDB object store; fails (and the session keeps keys in memory) where there is none. */
export const indexedDbKv: CloneKv = {
  async get(key) {
    const db = await openDb();
    try {
      return await request(db.transaction(STORE).objectStore(STORE).get(key));
    } finally {
      db.close();
    }
  },
  async put(key, value) {
    const db = await openDb();
    try {
      await request(db.transaction(STORE, "readwrite").objectStore(STORE).put(value, key));
    } finally {
      db.close();
    }
  },
};

export class IdbV2KeyStore implements V2KeyStore {
  readonly extractable = false;

  constructor(
    private readonly selfId: string,
    private readonly kv: CloneKv = indexedDbKv,
  ) {}

  private key(room: string): string {
    return `v2:${this.selfId}:${room}`;
  }

  async load(room: string): Promise<V2KeyRecord | null> {
    const v = await this.kv.get(this.key(room));
    return isV2KeyRecord(v) ? v : null;
  }

  async save(room: string, rec: V2KeyRecord): Promise<void> {
    await this.kv.put(this.key(room), { sig: rec.sig, dh: [...rec.dh] });
  }
}
