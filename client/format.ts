// Text for people: clock times, sizes, and making untrusted strings safe to
// print. Names and message text come from other people (and a server that may
// lie), so they never reach the terminal with control or bidi characters.

// C0 and C1 controls but \n, DEL, and the bidi overrides/isolates and line
// separators that can make text display as something it is not.
// eslint-disable-next-line no-control-regex
const UNSAFE = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

/** One terminal-safe string; newlines kept only when `multiline`. */
export function safe(text: string, multiline = false): string {
  const cleaned = text.replace(UNSAFE, (c) => (c === "\t" ? " " : "\ufffd"));
  return multiline ? cleaned : cleaned.replace(/\n/g, " ");
}

/** Continuation lines of a multi-line message, indented under the first. */
export function indentLines(text: string, indent: string): string {
  return text.split("\n").join("\n" + indent);
}

/** "m:ss" or "h:mm:ss". */
export function formatClock(ms: number): string {
  const total = Math.max(0, Math.floor(ms / 1000));
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = total % 60;
  const ss = String(s).padStart(2, "0");
  return h > 0 ? `${h}:${String(m).padStart(2, "0")}:${ss}` : `${m}:${ss}`;
}

/** "5", "1.5", "0:05", "1:02:03" -> ms; null when not a time. */
export function parseClock(text: string): number | null {
  const m = /^(?:(?:(\d+):)?(\d+):)?(\d+(?:\.\d+)?)$/.exec(text.trim());
  if (!m) return null;
  const h = Number(m[1] ?? 0);
  const min = Number(m[2] ?? 0);
  const s = Number(m[3]);
  if ((m[2] !== undefined && s >= 60) || (m[1] !== undefined && min >= 60)) return null;
  return Math.round(((h * 60 + min) * 60 + s) * 1000);
}

export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(0)} KB`;
  if (n < 1024 ** 3) return `${(n / 1024 / 1024).toFixed(1)} MB`;
  return `${(n / 1024 ** 3).toFixed(2)} GB`;
}
