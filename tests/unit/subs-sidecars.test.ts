// Sidecar subtitle names to videos and languages; language tags and labels; embedded stream listing.

import { describe, expect, it } from "vitest";
import { interpretSubtitleStreams } from "../../server/library/embedded-subs";
import { languageLabel, normalizeLanguage } from "../../server/library/language";
import { matchSidecars } from "../../server/library/sidecars";

describe("matchSidecars", () => {
  it("gives each video its sidecars with the language from the infix", () => {
    const names = [
      "film.mp4",
      "film.srt",
      "film.en.srt",
      "film.fr.vtt",
      "film.pt-BR.srt",
      "film.eng.forced.srt",
      "film.commentary.srt",
      "other.mkv",
      "notes.txt",
    ];
    const m = matchSidecars(names, ["film.mp4", "other.mkv"]);
    expect(m.get("film.mp4")?.map((s) => [s.name, s.lang, s.format, s.flags, s.extra])).toEqual([
      ["film.commentary.srt", "und", "srt", [], ["commentary"]],
      ["film.en.srt", "en", "srt", [], []],
      ["film.eng.forced.srt", "en", "srt", ["forced"], []],
      ["film.fr.vtt", "fr", "vtt", [], []],
      ["film.pt-BR.srt", "pt-BR", "srt", [], []],
      ["film.srt", "und", "srt", [], []],
    ]);
    expect(m.has("other.mkv")).toBe(false);
  });

  it("gives a name to the video with the longest matching stem", () => {
    const m = matchSidecars(["a.srt", "a.part2.srt", "a.part2.de.srt"], ["a.mp4", "a.part2.mp4"]);
    expect(m.get("a.mp4")?.map((s) => s.name)).toEqual(["a.srt"]);
    expect(m.get("a.part2.mp4")?.map((s) => [s.name, s.lang])).toEqual([
      ["a.part2.de.srt", "de"],
      ["a.part2.srt", "und"],
    ]);
  });

  it("ignores hidden files, other extensions and names that are not entries", () => {
    const m = matchSidecars([".film.srt", "film.srt.bak", "film.ass", "sub/film.srt"], ["film.mp4"]);
    expect(m.size).toBe(0);
  });
});

describe("languages", () => {
  it("normalizes tags to one spelling", () => {
    expect(normalizeLanguage("EN")).toBe("en");
    expect(normalizeLanguage("pt_br")).toBe("pt-BR");
    expect(normalizeLanguage("zh-hant")).toBe("zh-Hant");
    expect(normalizeLanguage("fre")).toBe("fr");
    expect(normalizeLanguage("commentary")).toBeNull();
    expect(normalizeLanguage("e1")).toBeNull();
  });

  it("labels them for people", () => {
    expect(languageLabel("en")).toBe("English");
    expect(languageLabel("pt-BR")).toMatch(/Portuguese/);
    expect(languageLabel("und")).toBe("Unknown language");
  });
});

describe("interpretSubtitleStreams", () => {
  it("lists text streams with their relative index and drops bitmap ones", () => {
    const json = {
      streams: [
        { codec_name: "subrip", tags: { language: "eng", title: "Full" }, disposition: { default: 1, forced: 0 } },
        { codec_name: "hdmv_pgs_subtitle", tags: { language: "fre" } },
        { codec_name: "ass", tags: {}, disposition: { default: 0, forced: 1 } },
        { codec_name: 42 },
      ],
    };
    expect(interpretSubtitleStreams(json)).toEqual([
      { n: 0, codec: "subrip", lang: "en", title: "Full", default: true, forced: false },
      { n: 2, codec: "ass", lang: "und", title: null, default: false, forced: true },
    ]);
    expect(interpretSubtitleStreams(null)).toEqual([]);
    expect(interpretSubtitleStreams({ streams: "x" })).toEqual([]);
  });
});
