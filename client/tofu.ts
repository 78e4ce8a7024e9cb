// Trust on first use of the core's TLS certificate: without a pin and without
// a CA that vouches for it, the fingerprint first seen for a core (host:port)
// is remembered beside the identity and every later one must match it
// (common/tls.ts certificateProblem does the comparing).

import type { TrustOnFirstUse } from "../common/tls";
import { corePinsPathFor, FileKeyStore } from "./knownKeys";

/** Where fingerprints are kept: a namespace and a key, like the member-key store. */
export interface PinStore {
  get(space: string, key: string): string | undefined;
  set(space: string, key: string, value: string): void;
}

const SPACE = "tls";

/** `core`: "host:port" as printed; `onFirstUse`: told once, when a core's first certificate is remembered. */
export function coreTrust(store: PinStore, core: string, onFirstUse: (fingerprint: string) => void): TrustOnFirstUse {
  return {
    known: () => store.get(SPACE, core),
    remember: (fp) => {
      const first = store.get(SPACE, core) === undefined;
      store.set(SPACE, core, fp);
      if (first) onFirstUse(fp);
    },
  };
}

/** The store beside the identity file (known-cores.json), shared by every identity in that directory. */
export function corePins(identityFile: string, onError: (message: string) => void): PinStore {
  return new FileKeyStore(corePinsPathFor(identityFile), onError);
}
