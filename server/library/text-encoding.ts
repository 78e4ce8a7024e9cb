// Turns the bytes of a subtitle file into text: UTF-8 or UTF-16 when the bytes
// say so, else the most plausible of a few legacy encodings people still ship
// subtitles in. Pure (TextDecoder only), so it is unit-tested on byte arrays.

/** Tried in this order; on equal scores the earlier one wins. */
export const LEGACY_ENCODINGS = ["windows-1252", "iso-8859-15", "windows-1251", "shift_jis", "gb18030"] as const;

/** Below this share of plausible non-ASCII characters a decoding is not believed. */
export const MIN_PLAUSIBILITY = 0.85;

const SCORE_SAMPLE_CHARS = 64 * 1024;
const MAX_CONTROL_SHARE = 0.01;

function controlShare(text: string): number {
  if (text.length === 0) return 0;
  let n = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0d && c !== 0x0c) || c === 0x7f) n++;
  }
  return n / text.length;
}

export type Decoded =
  { ok: true; text: string; encoding: string; warning: string | null } | { ok: false; warning: string };

// WHATWG windows-1252 bytes 0x80-0x9F. Node 20.18.3+ decodes "windows-1252" as
// ISO-8859-1 (nodejs/node#60888, #56542: C1 controls instead of € ’ “ ”), so
// this one encoding is decoded here: Latin-1 plus this block, per the spec.
const CP1252_HIGH = [
  0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021, 0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
  0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014, 0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
];

/** Non-fatal decoding in one of LEGACY_ENCODINGS. */
export function decodeLegacy(bytes: Uint8Array, label: string): string {
  if (label !== "windows-1252") return new TextDecoder(label).decode(bytes);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
    .toString("latin1")
    .replace(/[\x80-\x9f]/g, (c) => String.fromCharCode(CP1252_HIGH[c.charCodeAt(0) - 0x80]));
}

function decodeStrict(bytes: Uint8Array, label: string): string | null {
  try {
    return new TextDecoder(label, { fatal: true, ignoreBOM: false }).decode(bytes);
  } catch {
    return null;
  }
}

/** UTF-16 without a BOM shows itself by a NUL in every other byte of ASCII text. */
function utf16WithoutBom(bytes: Uint8Array): "utf-16le" | "utf-16be" | null {
  const n = Math.min(bytes.length - (bytes.length % 2), 4096);
  if (n < 8) return null;
  let evenZero = 0;
  let oddZero = 0;
  for (let i = 0; i < n; i += 2) {
    if (bytes[i] === 0) evenZero++;
    if (bytes[i + 1] === 0) oddZero++;
  }
  const pairs = n / 2;
  if (oddZero > pairs * 0.4 && evenZero < pairs * 0.05) return "utf-16le";
  if (evenZero > pairs * 0.4 && oddZero < pairs * 0.05) return "utf-16be";
  return null;
}

type Script = "latin" | "cyrillic" | "greek" | "cjk" | "hangul" | "other";

function scriptOf(ch: string): Script {
  if (/\p{Script=Latin}/u.test(ch)) return "latin";
  if (/\p{Script=Cyrillic}/u.test(ch)) return "cyrillic";
  if (/\p{Script=Greek}/u.test(ch)) return "greek";
  // Japanese mixes kanji and kana inside one word; treat them as one family.
  if (/[\p{Script=Han}\p{Script=Hiragana}\p{Script=Katakana}\u30fc]/u.test(ch)) return "cjk";
  if (/\p{Script=Hangul}/u.test(ch)) return "hangul";
  return "other";
}

// Punctuation that real subtitles use beyond ASCII: quotes, dashes, ellipsis,
// NBSP, guillemets, degree, euro, inverted marks, CJK and full-width punctuation.
const COMMON_SYMBOL =
  /[\u00a0\u00ab\u00bb\u00b0\u00a9\u00ae\u00a1\u00bf\u00b7\u2010-\u2027\u2030-\u205e\u20ac\u266a\u266b\u3000-\u303f\uff01-\uff60]/u;

/**
 * Share (0..1) of the non-ASCII characters of `text` that look like real text:
 * no controls or replacement characters, letters in words of one script,
 * Latin words mostly ASCII (Cyrillic read as windows-1252 is all accents),
 * no case flips inside a word (Chinese read as windows-1251 is).
 */
export function plausibility(text: string): number {
  let nonAscii = 0;
  let bad = 0;
  const chars = Array.from(text);
  let i = 0;
  while (i < chars.length) {
    const ch = chars[i];
    const code = ch.codePointAt(0) ?? 0;
    if (/[\p{L}\p{M}]/u.test(ch)) {
      let j = i;
      while (j < chars.length && /[\p{L}\p{M}]/u.test(chars[j])) j++;
      const word = chars.slice(i, j);
      const wordNonAscii = word.filter((c) => (c.codePointAt(0) ?? 0) > 0x7f).length;
      if (wordNonAscii > 0) {
        nonAscii += wordNonAscii;
        if (!plausibleWord(word, wordNonAscii)) bad += wordNonAscii;
      }
      i = j;
      continue;
    }
    if (code > 0x7f) {
      nonAscii++;
      if (!COMMON_SYMBOL.test(ch) && !/\p{N}/u.test(ch)) bad++;
    } else if (code < 0x20 && ch !== "\n" && ch !== "\r" && ch !== "\t") {
      // A control byte in a text file is strong evidence against the whole decoding.
      nonAscii++;
      bad += 4;
    }
    i++;
  }
  if (nonAscii === 0) return 1;
  return Math.max(0, 1 - bad / nonAscii);
}

function plausibleWord(word: string[], nonAscii: number): boolean {
  const scripts = new Set(word.map(scriptOf));
  if (scripts.size > 1 || scripts.has("other")) return false;
  if (word.some((c) => /[\uff61-\uff9f]/u.test(c))) return false; // half-width katakana: GB read as Shift_JIS
  if (scripts.has("latin") && word.length >= 4 && nonAscii * 2 > word.length) return false;
  for (let k = 1; k < word.length; k++) {
    if (/\p{Ll}/u.test(word[k - 1]) && /\p{Lu}/u.test(word[k])) return false;
  }
  return true;
}

/** Bytes to text, or a one-line warning saying why the bytes are not text we can read. */
export function decodeSubtitleBytes(bytes: Uint8Array): Decoded {
  if (bytes.length >= 3 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
    const text = decodeStrict(bytes, "utf-8");
    if (text !== null) return { ok: true, text, encoding: "utf-8", warning: null };
    return { ok: false, warning: "the file starts with a UTF-8 byte order mark but is not valid UTF-8" };
  }
  const bom16 =
    bytes.length >= 2 && bytes[0] === 0xff && bytes[1] === 0xfe
      ? "utf-16le"
      : bytes.length >= 2 && bytes[0] === 0xfe && bytes[1] === 0xff
        ? "utf-16be"
        : null;
  const utf16 = bom16 ?? utf16WithoutBom(bytes);
  if (utf16) {
    const text = decodeStrict(bytes, utf16);
    if (text !== null)
      return { ok: true, text, encoding: utf16, warning: bom16 ? null : `no byte order mark; read as ${utf16}` };
    return { ok: false, warning: `the file looks like ${utf16} but is not valid ${utf16}` };
  }
  const utf8 = decodeStrict(bytes, "utf-8");
  if (utf8 !== null) {
    // NUL and other controls are valid UTF-8 but no subtitle contains them in bulk.
    if (controlShare(utf8.slice(0, SCORE_SAMPLE_CHARS)) > MAX_CONTROL_SHARE)
      return { ok: false, warning: "binary data, not a text file; no subtitles read" };
    return { ok: true, text: utf8, encoding: "utf-8", warning: null };
  }
  // Judge on a sample cut at a line end (so no character is split), then decode the whole file once.
  let sample = bytes.subarray(0, SCORE_SAMPLE_CHARS);
  if (sample.length < bytes.length) {
    const nl = sample.lastIndexOf(0x0a);
    if (nl > 0) sample = sample.subarray(0, nl + 1);
  }
  let best: { label: string; score: number } | null = null;
  for (const label of LEGACY_ENCODINGS) {
    const score = plausibility(decodeLegacy(sample, label));
    if (!best || score > best.score) best = { label, score };
  }
  if (best && best.score >= MIN_PLAUSIBILITY) {
    return {
      ok: true,
      text: decodeLegacy(bytes, best.label),
      encoding: best.label,
      warning: `not UTF-8; assumed ${best.label}`,
    };
  }
  return {
    ok: false,
    warning: `not text in UTF-8, UTF-16 or any of ${LEGACY_ENCODINGS.join(", ")}; no subtitles read`,
  };
}
