// Text for people: parsing clock times, and making untrusted strings safe to
// print. Names and message text come from other people (and a server that may
// lie), so they never reach the terminal with control or bidi characters.

// C0 and C1 controls but \n, DEL, and the bidi overrides/isolates and line
// separators that can make text display as something it is not.
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
