// Key continuity that survives reloads: per room, the member id last seen
// under each name, in localStorage (ids are public, nothing secret here).
// Bounded, so a long-lived profile does not grow without end.

import { MemoryKeyStore } from "../../../protocol/keyContinuity";

const STORAGE_KEY = "sealroom.knownKeys.v1";
export class LocalKeyStore extends MemoryKeyStore {
  constructor() {
    super(2_000);
    try {
      const raw = localStorage.getItem(STORAGE_KEY);
      if (raw) this.restore(raw);
    } catch {
      /* unreadable: start afresh */
    }
  }

  protected override save(json: string): void {
    try {
      localStorage.setItem(STORAGE_KEY, json);
    } catch {
      /* storage full or disabled: continuity lasts for this page only */
    }
  }
}
