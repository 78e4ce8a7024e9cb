// Key continuity that survives reloads: per room, the member id last seen
// under each name, in localStorage (ids are public, nothing secret here).
// Bounded, so a long-lived profile does not grow without end.

import type { KeyStore } from "../../../protocol/keyContinuity";

const STORAGE_KEY = "sealroom.knownKeys.v1";
const MAX_ENTRIES = 2_000;

export class LocalKeyStore implements KeyStore {
  private map: Map<string, string>;

  constructor() {
    this.map = new Map();
    try {
      const raw = localStorage.getItem(STORAGE_KEY);
      const parsed: unknown = raw ? JSON.parse(raw) : [];
      if (Array.isArray(parsed)) {
        for (const e of parsed) if (Array.isArray(e) && typeof e[0] === "string" && typeof e[1] === "string") this.map.set(e[0], e[1]);
      }
    } catch {
      this.map = new Map();
    }
  }

  get(room: string, nameKey: string): string | undefined {
    return this.map.get(`${room}\n${nameKey}`);
  }

  set(room: string, nameKey: string, id: string): void {
    const k = `${room}\n${nameKey}`;
    this.map.delete(k);
    this.map.set(k, id);
    while (this.map.size > MAX_ENTRIES) this.map.delete(this.map.keys().next().value as string);
    try {
      localStorage.setItem(STORAGE_KEY, JSON.stringify([...this.map]));
    } catch {
      /* storage full or disabled: continuity lasts for this page only */
    }
  }
}
