// Small remembered choices. localStorage may throw (disabled storage), and
// nothing here is worth failing over.

const NAME_KEY = "sealroom.name";
const JOINED_PREFIX = "sealroom.joined.";

function get(store: Storage | undefined, key: string): string | null {
  try {
    return store?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

function set(store: Storage | undefined, key: string, value: string | null): void {
  try {
    if (value === null) store?.removeItem(key);
    else store?.setItem(key, value);
  } catch {
    /* storage unavailable: forget silently */
  }
}

export const prefs = {
  get name(): string {
    return get(globalThis.localStorage, NAME_KEY) ?? "";
  },
  set name(v: string) {
    set(globalThis.localStorage, NAME_KEY, v);
  },
  /** Per tab: a reload of a room this tab had joined rejoins without asking. */
  joinedAs(room: string): string | null {
    return get(globalThis.sessionStorage, JOINED_PREFIX + room);
  },
  setJoined(room: string, name: string | null): void {
    set(globalThis.sessionStorage, JOINED_PREFIX + room, name);
  },
};
