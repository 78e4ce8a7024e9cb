// Subtitle bytes to text: BOMs, UTF-16, legacy encodings picked by plausibility, garbage refused.

import { describe, expect, it } from "vitest";
import { decodeLegacy, decodeSubtitleBytes, plausibility } from "../../server/library/text-encoding";

/** An encoder for a legacy encoding, built by inverting the decoder (Node has no legacy encoders). */
function encoderFor(label: string): (text: string) => Uint8Array {
  const dec = { decode: (b: Uint8Array) => decodeLegacy(b, label) };
  const map = new Map<string, number[]>();
  for (let b = 0; b < 0x80; b++) map.set(String.fromCharCode(b), [b]);
  for (let b = 0x80; b < 0x100; b++) {
    const s = dec.decode(Uint8Array.of(b));
    if (s.length === 1 && s !== "\ufffd" && !map.has(s)) map.set(s, [b]);
  }
  if (label === "shift_jis" || label === "gb18030") {
    for (let lead = 0x81; lead <= 0xfe; lead++) {
      for (let trail = 0x40; trail <= 0xfe; trail++) {
        const s = dec.decode(Uint8Array.of(lead, trail));
        if (s.length === 1 && s !== "\ufffd" && !map.has(s)) map.set(s, [lead, trail]);
      }
    }
  }
  return (text) => {
    const out: number[] = [];
    for (const ch of text) {
      const bytes = map.get(ch);
      if (!bytes) throw new Error(`${label} cannot encode ${JSON.stringify(ch)}`);
      out.push(...bytes);
    }
    return Uint8Array.from(out);
  };
}

const srt = (lines: string[]) =>
  lines.map((l, k) => `${k + 1}\n00:00:0${k + 1},000 --> 00:00:0${k + 2},000\n${l}\n`).join("\n");

const FRENCH = srt(["Un café, s’il vous plaît.", "Ça va très bien, élève.", "Où est la fenêtre ? Déjà vu."]);
const RUSSIAN = srt(["Привет, как дела?", "Это тест субтитров.", "Ещё один день, всё хорошо."]);
const JAPANESE = srt(["こんにちは、世界。", "字幕のテストです。", "明日また会いましょう。"]);
const CHINESE = srt(["你好，世界。", "这是字幕测试。", "我们明天再见吧。"]);

describe("decodeSubtitleBytes", () => {
  it("reads UTF-8 with and without a BOM, and drops the BOM", () => {
    const plain = new TextEncoder().encode(FRENCH);
    const bom = Uint8Array.from([0xef, 0xbb, 0xbf, ...plain]);
    for (const bytes of [plain, bom]) {
      const r = decodeSubtitleBytes(bytes);
      expect(r).toMatchObject({ ok: true, encoding: "utf-8", warning: null });
      if (r.ok) expect(r.text).toBe(FRENCH);
    }
  });

  it("reads UTF-16 LE and BE by their BOM", () => {
    const le = Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(RUSSIAN, "utf16le")]);
    const be = Buffer.from(le);
    be.swap16();
    expect(decodeSubtitleBytes(le)).toEqual({ ok: true, text: RUSSIAN, encoding: "utf-16le", warning: null });
    expect(decodeSubtitleBytes(be)).toEqual({ ok: true, text: RUSSIAN, encoding: "utf-16be", warning: null });
  });

  it("reads UTF-16 LE without a BOM and says so", () => {
    const r = decodeSubtitleBytes(Buffer.from(FRENCH, "utf16le"));
    expect(r.ok && r.encoding).toBe("utf-16le");
    expect(r.ok && r.text).toBe(FRENCH);
    expect(r.ok && r.warning).toMatch(/no byte order mark/);
  });

  const legacy: Array<[string, string, string]> = [
    ["windows-1252", "French 'café'", FRENCH],
    ["iso-8859-15", "French with the euro sign at 0xA4", srt(["Ça coûte 5 € à l'œil."])],
    ["windows-1251", "Cyrillic", RUSSIAN],
    ["shift_jis", "Japanese", JAPANESE],
    ["gb18030", "Chinese", CHINESE],
  ];
  for (const [label, what, text] of legacy) {
    it(`picks ${label} for ${what} text and warns which encoding was assumed`, () => {
      const r = decodeSubtitleBytes(encoderFor(label)(text));
      expect(r.ok).toBe(true);
      if (!r.ok) return;
      expect(r.encoding).toBe(label);
      expect(r.text).toBe(text);
      expect(r.warning).toBe(`not UTF-8; assumed ${label}`);
    });
  }

  it("refuses garbage bytes with a clear warning", () => {
    // A fixed-seed LCG: the same bytes every run.
    let x = 12345;
    const bytes = new Uint8Array(4096).map(() => {
      x = (x * 1103515245 + 12345) >>> 0;
      return x >>> 24;
    });
    const r = decodeSubtitleBytes(bytes);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.warning).toMatch(/^not text in UTF-8, UTF-16 or any of windows-1252, .*; no subtitles read$/);
  });

  it("refuses binary data that happens to be valid UTF-8 (NULs, controls)", () => {
    const r = decodeSubtitleBytes(new Uint8Array(4096));
    expect(r).toEqual({ ok: false, warning: "binary data, not a text file; no subtitles read" });
  });

  it("refuses a file with a UTF-8 BOM and invalid UTF-8 after it", () => {
    const r = decodeSubtitleBytes(Uint8Array.from([0xef, 0xbb, 0xbf, 0x41, 0xff, 0xfe, 0x41]));
    expect(r.ok).toBe(false);
  });
});

describe("plausibility", () => {
  it("scores real text high and mis-decoded text low", () => {
    const ru1251 = encoderFor("windows-1251")(RUSSIAN);
    expect(plausibility(decodeLegacy(ru1251, "windows-1251"))).toBe(1);
    expect(plausibility(decodeLegacy(ru1251, "windows-1252"))).toBeLessThan(0.85);
    const fr1252 = encoderFor("windows-1252")(FRENCH);
    expect(plausibility(decodeLegacy(fr1252, "windows-1252"))).toBe(1);
    expect(plausibility(decodeLegacy(fr1252, "windows-1251"))).toBeLessThan(0.85);
    // The curly apostrophe is 0x92: windows-1252 reads it as ’, Latin-1 decoders as a C1 control.
    expect(decodeLegacy(Uint8Array.of(0x92, 0x80), "windows-1252")).toBe("\u2019\u20ac");
    expect(plausibility("plain ASCII")).toBe(1);
  });
});
