// The client side of subtitles, without sockets: pages put back together in
// order, the terminal's track choice (by number, language, off; remembered by
// language and source for the next film) and its line timed by frame ptsMs.

import { describe, expect, it } from "vitest";
import type { SubtitleCues, SubtitleTrackInfo, VideoItem } from "../../protocol/messages";
import { SubtitlePages } from "../../protocol/subtitlePages";
import { TerminalSubtitles } from "../../client/subtitles";
import { pick } from "../../web/src/lib/subtitlePrefs";

const page = (p: Partial<SubtitleCues>): SubtitleCues => ({
  t: "subtitleCues",
  video: "a.mp4",
  track: "file:a.en.srt",
  page: 0,
  pages: 1,
  cues: [],
  ...p,
});
const cue = (startMs: number, endMs: number, text: string) => ({ startMs, endMs, text });

describe("SubtitlePages", () => {
  it("joins pages in order and ignores a page out of order", () => {
    const s = new SubtitlePages();
    expect(s.accept(page({ pages: 2, cues: [cue(0, 1, "a")], warnings: ["w"] }))).toBeNull();
    expect(s.accept(page({ page: 0 + 2, pages: 2, cues: [cue(5, 6, "x")] }))).toBeNull();
    const done = s.accept(page({ page: 1, pages: 2, cues: [cue(2, 3, "b")] }));
    expect(done).toEqual({
      video: "a.mp4",
      track: "file:a.en.srt",
      cues: [cue(0, 1, "a"), cue(2, 3, "b")],
      warnings: ["w"],
    });
    // A late page of a finished track starts nothing.
    expect(s.accept(page({ page: 1, pages: 2 }))).toBeNull();
  });
});

const track = (
  id: string,
  lang: string,
  source: "file" | "embedded" = "file",
  extra: Partial<SubtitleTrackInfo> = {},
): SubtitleTrackInfo => ({
  id,
  lang,
  label: lang === "en" ? "English" : lang === "fr" ? "French" : lang,
  source,
  ...extra,
});
const video = (id: string, subtitles: SubtitleTrackInfo[]): VideoItem => ({
  id,
  title: id,
  durationMs: 10_000,
  width: 640,
  height: 360,
  fps: 30,
  bytes: 1,
  subtitles,
  poster: null,
});

function terminal() {
  const asked: string[] = [];
  const shown: Array<string | null> = [];
  const subs = new TerminalSubtitles({
    requestSubtitles: (v, t) => asked.push(`${v} ${t}`),
    show: (t) => shown.push(t),
  });
  return { subs, asked, shown };
}

describe("TerminalSubtitles", () => {
  it("chooses by number, language or label, and off", () => {
    const { subs, asked } = terminal();
    subs.videos([video("a.mp4", [track("file:a.en.srt", "en"), track("file:a.fr.vtt", "fr")])]);
    expect(subs.choose("en")).toEqual({ ok: false, message: "no stream is playing (/play ID first)" });
    subs.current("a.mp4");
    expect(subs.choose("2")).toMatchObject({ ok: true });
    expect(subs.choose("english")).toMatchObject({ ok: true });
    expect(subs.choose("de")).toEqual({ ok: false, message: "no subtitle track 'de' (try /subs)" });
    expect(subs.choose("off")).toEqual({ ok: true, text: "subtitles off" });
    expect(asked).toEqual(["a.mp4 file:a.fr.vtt", "a.mp4 file:a.en.srt"]);
  });

  it("shows the cue of the frame's time, once per change, markup as the text it is", () => {
    const { subs, shown } = terminal();
    subs.videos([video("a.mp4", [track("file:a.en.srt", "en")])]);
    subs.current("a.mp4");
    subs.choose("1");
    expect(subs.cues("a.mp4", "file:a.en.srt", [cue(1000, 2000, "one"), cue(1500, 3000, "<script>x</script>")])).toBe(
      true,
    );
    for (const ms of [0, 500, 1000, 1200, 1600, 2500, 3000, 1100]) subs.at(ms);
    expect(shown).toEqual(["one", "one / <script>x</script>", "<script>x</script>", null, "one"]);
    // Cues of a track no longer chosen are dropped.
    expect(subs.cues("a.mp4", "file:other.srt", [])).toBe(false);
  });

  it("tells its port each choice, and starts with the one it is given", () => {
    const chose: unknown[] = [];
    const asked: string[] = [];
    const subs = new TerminalSubtitles(
      { requestSubtitles: (v, t) => asked.push(`${v} ${t}`), show: () => {}, chose: (c) => chose.push(c) },
      { lang: "en", source: "file" },
    );
    subs.videos([video("a.mp4", [track("file:a.fr.srt", "fr"), track("file:a.en.srt", "en")])]);
    subs.current("a.mp4");
    expect(asked).toEqual(["a.mp4 file:a.en.srt"]);
    subs.choose("fr");
    subs.choose("off");
    expect(chose).toEqual([{ lang: "fr", source: "file" }, null]);
  });

  it("the next film starts with the same language and source", () => {
    const { subs, asked } = terminal();
    subs.videos([
      video("a.mp4", [track("file:a.fr.srt", "fr")]),
      video("b.mp4", [
        track("embedded:0", "fr", "embedded"),
        track("file:b.fr.srt", "fr"),
        track("file:b.en.srt", "en"),
      ]),
    ]);
    subs.current("a.mp4");
    subs.choose("fr");
    subs.current("b.mp4");
    expect(asked.at(-1)).toBe("b.mp4 file:b.fr.srt");
  });
});

describe("the web's remembered choice", () => {
  it("prefers the same source, then the language; forced tracks last", () => {
    const tracks = [
      track("embedded:1", "en", "embedded", { forced: true }),
      track("embedded:2", "en", "embedded"),
      track("file:x.en.srt", "en"),
    ];
    expect(pick(tracks, { lang: "en", source: "embedded" })?.id).toBe("embedded:2");
    expect(pick(tracks, { lang: "en", source: "file" })?.id).toBe("file:x.en.srt");
    expect(pick(tracks, { lang: "fr", source: "file" })).toBeNull();
    expect(pick(tracks, null)).toBeNull();
  });
});
