// Key continuity ("trust on first use"): per room, the member id last seen
// under each name. A name that comes back with a different id means a new
// key: maybe a reinstall, maybe an impostor, so people are told.

import { nameKey } from "./names";

/** Sync or async, so a browser can back it with localStorage or IndexedDB. */
export interface KeyStore {
  get(room: string, nameKey: string): string | undefined | Promise<string | undefined>;
  set(room: string, nameKey: string, id: string): void | Promise<void>;
}

/**
 * Remembers for the life of the process, at most `max` entries, oldest
 * forgotten first. Persistent stores (a file, localStorage) extend it with
 * `restore` and `save`.
 */
export class MemoryKeyStore implements KeyStore {
  private map = new Map<string, string>();

  constructor(private readonly max = 10_000) {}

  get(room: string, name: string): string | undefined {
    return this.map.get(`${room}\n${name}`);
  }

  set(room: string, name: string, id: string): void {
    const k = `${room}\n${name}`;
    this.map.delete(k);
    this.map.set(k, id);
    while (this.map.size > this.max) this.map.delete(this.map.keys().next().value as string);
    this.save(JSON.stringify([...this.map]));
  }

  /** Loads what `save` was given; anything malformed is skipped. */
  protected restore(json: string): void {
    const parsed: unknown = JSON.parse(json);
    if (!Array.isArray(parsed)) return;
    for (const e of parsed)
      if (Array.isArray(e) && typeof e[0] === "string" && typeof e[1] === "string") this.map.set(e[0], e[1]);
  }

  /** Called after every change with the whole store as JSON. */
  protected save(_json: string): void {}
}

export interface KeyChange {
  room: string;
  name: string;
  oldId: string;
  newId: string;
}

/** Records `id` under `name`; returns the change when the name had another id. */
export async function noteKey(store: KeyStore, room: string, name: string, id: string): Promise<KeyChange | null> {
  const key = nameKey(name);
  const old = await store.get(room, key);
  if (old !== id) await store.set(room, key, id);
  return old !== undefined && old !== id ? { room, name, oldId: old, newId: id } : null;
}
