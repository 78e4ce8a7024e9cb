// SRT and WebVTT parsing: timings, markup reduced to text and style data, bad cues counted, limits.

import { describe, expect, it } from "vitest";
import { reduceMarkup } from "../../server/library/cue-markup";
import { loadSubtitleBytes } from "../../server/library/subtitle-file";
import { parseSubtitles, parseTiming } from "../../server/library/subtitle-parse";

const GOOD_SRT = `1
00:00:01,000 --> 00:00:02,500
Hello there.

2
00:00:03,000 --> 00:00:04,000
Two lines,
second line.

3
01:02:03,456 --> 01:02:04,000
Late.
`;

const GOOD_VTT = `WEBVTT - a title

NOTE this is a comment
that spans lines

STYLE
::cue { color: red }

intro
00:01.000 --> 00:02.000 align:start position:10%
<v Roger Bingham>We are in New York City

00:00:03.000 --> 00:00:04.000
<c.yellow>Coloured</c> &amp; <b>bold</b> &lt;tag&gt;

00:05.000 --> 00:06.000
<ruby>漢字<rt>かんじ</rt></ruby> and <00:05.500>karaoke
`;

describe("parseSubtitles: SRT", () => {
  it("reads cues, indexes and multi-line text", () => {
    const r = parseSubtitles(GOOD_SRT);
    expect(r.format).toBe("srt");
    expect(r.cues).toEqual([
      { startMs: 1000, endMs: 2500, text: "Hello there." },
      { startMs: 3000, endMs: 4000, text: "Two lines,\nsecond line." },
      { startMs: 3723456, endMs: 3724000, text: "Late." },
    ]);
    expect(r.warnings).toEqual([]);
  });

  it("accepts CRLF, CR, dots for commas, short fractions and a missing blank line", () => {
    const text =
      "1\r\n00:00:01.5 --> 00:00:02,25\r\nA\r\n2\r\n00:00:03,000 --> 00:00:04,000\r\nB\r\r3\r00:00:05,000 --> 00:00:06,000\rC";
    expect(parseSubtitles(text).cues.map((c) => [c.startMs, c.endMs, c.text])).toEqual([
      [1500, 2250, "A"],
      [3000, 4000, "B"],
      [5000, 6000, "C"],
    ]);
  });

  it("skips cues with malformed timestamps, counts and reports them, keeps the rest", () => {
    const text = `1
00:00:01,000 --> 00:00:02,000
good one

2
00:00:61,000 --> 00:01:02,000
seconds out of range

3
00:00:05,000 --> 00:00:04,000
ends before it starts

4
aa:bb:cc,ddd --> 00:00:09,000
letters

5
00:00:07,000 - 00:00:08,000
no arrow

6
00:00:10,000 --> 00:00:11,000
good two
`;
    const r = parseSubtitles(text);
    expect(r.cues.map((c) => c.text)).toEqual(["good one", "good two"]);
    expect(r.counts.malformed).toBe(4);
    expect(r.warnings).toContain("4 cues skipped: unreadable timing");
  });

  it("keeps overlapping cues, sorted by start", () => {
    const text = `1\n00:00:05,000 --> 00:00:08,000\nsecond\n\n2\n00:00:01,000 --> 00:00:06,000\nfirst\n`;
    expect(parseSubtitles(text).cues.map((c) => c.text)).toEqual(["first", "second"]);
  });

  it("keeps <script> and <img onerror> as literal text, and never emits markup", () => {
    const text = `1
00:00:01,000 --> 00:00:02,000
<script>alert(1)</script>

2
00:00:02,000 --> 00:00:03,000
<img src=x onerror=alert(1)>

3
00:00:03,000 --> 00:00:04,000
<i>fine</i> <font color="#ff0000">red</font> {\\an8}top
`;
    const cues = parseSubtitles(text).cues;
    expect(cues[0].text).toBe("<script>alert(1)</script>");
    expect(cues[1].text).toBe("<img src=x onerror=alert(1)>");
    expect(cues[2]).toEqual({
      startMs: 3000,
      endMs: 4000,
      text: "fine red top",
      spans: [{ text: "fine", italic: true }, { text: " red top" }],
      top: true,
    });
  });

  it("applies the cue count and cue length limits", () => {
    const many = Array.from(
      { length: 10 },
      (_, k) =>
        `${k + 1}\n00:00:${String(k).padStart(2, "0")},000 --> 00:00:${String(k).padStart(2, "0")},500\ncue ${k}\n`,
    ).join("\n");
    const r = parseSubtitles(many, { maxCues: 3 });
    expect(r.cues.length).toBe(3);
    expect(r.counts.overLimit).toBe(7);
    expect(r.warnings.join(" ")).toMatch(/maxSubtitleCues/);
    const long = parseSubtitles(`1\n00:00:01,000 --> 00:00:02,000\n<i>${"x".repeat(50)}</i>\n`, {
      maxCueTextChars: 10,
    });
    expect(long.cues[0].text).toBe(`${"x".repeat(9)}\u2026`);
    expect(long.cues[0].spans).toEqual([{ text: `${"x".repeat(9)}\u2026`, italic: true }]);
    expect(long.counts.truncated).toBe(1);
  });
});

describe("parseSubtitles: WebVTT", () => {
  it("skips the header, NOTE and STYLE blocks, ids and settings; reduces tags and entities", () => {
    const r = parseSubtitles(GOOD_VTT);
    expect(r.format).toBe("vtt");
    expect(r.cues).toEqual([
      { startMs: 1000, endMs: 2000, text: "We are in New York City" },
      {
        startMs: 3000,
        endMs: 4000,
        text: "Coloured & bold <tag>",
        spans: [{ text: "Coloured & " }, { text: "bold", bold: true }, { text: " <tag>" }],
      },
      { startMs: 5000, endMs: 6000, text: "漢字 and karaoke" },
    ]);
  });

  it("keeps the first cue of a file that forgot the blank line after WEBVTT", () => {
    expect(
      parseSubtitles("WEBVTT\n00:01.000 --> 00:02.000\nfirst\n\n00:03.000 --> 00:04.000\nsecond\n").cues.map(
        (c) => c.text,
      ),
    ).toEqual(["first", "second"]);
  });

  it("reads what ffmpeg writes (no hours, unescaped ampersands)", () => {
    const r = parseSubtitles(
      "WEBVTT\n\n00:00.500 --> 00:01.000\n<i>Hello</i> x & more\n\n00:01.000 --> 00:02.000\nTop line\nsecond\n",
    );
    expect(r.cues).toEqual([
      {
        startMs: 500,
        endMs: 1000,
        text: "Hello x & more",
        spans: [{ text: "Hello", italic: true }, { text: " x & more" }],
      },
      { startMs: 1000, endMs: 2000, text: "Top line\nsecond" },
    ]);
  });
});

describe("reduceMarkup", () => {
  it("handles nesting, ASS overrides and line breaks as data", () => {
    expect(reduceMarkup("<b><i>both</i></b>", { entities: false })).toEqual({
      text: "both",
      spans: [{ text: "both", italic: true, bold: true }],
    });
    expect(reduceMarkup("{\\i1}lean{\\i0} up\\Nnext", { entities: false })).toEqual({
      text: "lean up\nnext",
      spans: [{ text: "lean", italic: true }, { text: " up\nnext" }],
    });
    expect(reduceMarkup("  padded  \n\n  ", { entities: false })).toEqual({ text: "padded" });
    // An entity in SRT is what the author typed; only WebVTT defines them.
    expect(reduceMarkup("&lt;b&gt;", { entities: false }).text).toBe("&lt;b&gt;");
    expect(reduceMarkup("&#0;&#x1F600;&bogus;", { entities: true }).text).toBe("&#0;\u{1F600}&bogus;");
  });
});

describe("parseTiming", () => {
  it("reads both formats and refuses nonsense", () => {
    expect(parseTiming("00:00:01,000 --> 00:00:02,000 X1:10 X2:20")).toEqual({ startMs: 1000, endMs: 2000 });
    expect(parseTiming("01:02.003 --> 01:03.000")).toEqual({ startMs: 62003, endMs: 63000 });
    expect(parseTiming("00:00:02,000 --> 00:00:02,000")).toBeNull();
    expect(parseTiming("1 --> 2")).toBeNull();
  });
});

describe("loadSubtitleBytes", () => {
  it("decodes, parses and reports the encoding and warnings together", () => {
    const bytes = Buffer.from("1\n00:00:01,000 --> 00:00:02,000\nUn caf\xe9\n\n2\nbroken --> x\nno\n", "latin1");
    const r = loadSubtitleBytes(bytes);
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.cues).toEqual([{ startMs: 1000, endMs: 2000, text: "Un café" }]);
    expect(r.encoding).toBe("windows-1252");
    expect(r.warnings).toEqual(["not UTF-8; assumed windows-1252", "1 cue skipped: unreadable timing"]);
  });

  it("says why there are no cues", () => {
    expect(loadSubtitleBytes(Buffer.from("just some text\n"))).toEqual({
      ok: false,
      reason: "no_cues",
      message: "no readable cues",
    });
    const garbage = Uint8Array.from({ length: 2048 }, (_, k) => (k * 7919) % 256);
    const r = loadSubtitleBytes(garbage);
    expect(r.ok === false && r.reason).toBe("not_text");
  });
});
