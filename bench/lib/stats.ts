// Small statistics helpers: percentiles by nearest rank, and the
// median-with-spread summary every reported figure uses.

export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

export function sortNum(xs: readonly number[]): number[] {
  return [...xs].sort((a, b) => a - b);
}

/** Median of repeated runs with min/max, so every figure carries its spread. */
export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(xs: readonly number[]): Spread {
  const ok = xs.filter((x) => Number.isFinite(x));
  const s = sortNum(ok);
  if (s.length === 0) return { median: NaN, min: NaN, max: NaN, n: 0 };
  const mid = s.length >> 1;
  const median = s.length % 2 ? s[mid] : (s[mid - 1] + s[mid]) / 2;
  return { median, min: s[0], max: s[s.length - 1], n: s.length };
}

export function round(x: number, digits = 2): number {
  if (!Number.isFinite(x)) return x;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function fmtSpread(s: Spread, digits = 1, unit = ""): string {
  if (!Number.isFinite(s.median)) return "n/a";
  const u = unit ? ` ${unit}` : "";
  if (s.n <= 1) return `${s.median.toFixed(digits)}${u}`;
  return `${s.median.toFixed(digits)}${u} (${s.min.toFixed(digits)}–${s.max.toFixed(digits)})`;
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
