// Remembered volume and mute for the player. Same rules as ../prefs.ts:
// storage may be missing or throw, and nothing here is worth failing over.

const VOLUME_KEY = "sealroom.volume";
const MUTED_KEY = "sealroom.muted";

function read(key: string): string | null {
  try {
    return globalThis.localStorage?.getItem(key) ?? null;
  } catch {
    return null;
  }
}

function write(key: string, value: string): void {
  try {
    globalThis.localStorage?.setItem(key, value);
  } catch {
    /* storage unavailable: forget silently */
  }
}

/** Clamps to [0, 1]; anything unreadable is the default. */
export function parseVolume(raw: string | null, fallback = 0.8): number {
  const v = raw === null ? NaN : Number(raw);
  return Number.isFinite(v) ? Math.min(1, Math.max(0, v)) : fallback;
}

export const audioPrefs = {
  get volume(): number {
    return parseVolume(read(VOLUME_KEY));
  },
  set volume(v: number) {
    write(VOLUME_KEY, String(parseVolume(String(v))));
  },
  get muted(): boolean {
    return read(MUTED_KEY) === "1";
  },
  set muted(m: boolean) {
    write(MUTED_KEY, m ? "1" : "0");
  },
};

/** Gain actually applied: perceptual (squared) so the slider's middle is not nearly full loudness. */
export function gainFor(volume: number, muted: boolean): number {
  return muted ? 0 : volume * volume;
}
