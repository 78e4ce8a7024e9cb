// interpretAudioProbe and selectTrack over ffprobe-shaped JSON: languages,
// 5.1, no audio, undecodable streams, track indexes that do not exist.

import { describe, expect, it } from "vitest";
import { interpretAudioProbe, selectTrack } from "../../server/audio/tracks";

describe("interpretAudioProbe", () => {
  it("numbers audio tracks among audio streams only, with language, channels, downmix", () => {
    const r = interpretAudioProbe({
      streams: [
        {
          index: 1,
          codec_type: "audio",
          codec_name: "aac",
          channels: 2,
          sample_rate: "48000",
          tags: { language: "ENG" },
        },
        {
          index: 2,
          codec_type: "audio",
          codec_name: "ac3",
          channels: 6,
          channel_layout: "5.1(side)",
          sample_rate: "48000",
          tags: { language: "fra", title: "VF" },
        },
        {
          index: 3,
          codec_type: "audio",
          codec_name: "mp3",
          channels: 1,
          sample_rate: "44100",
          tags: { language: "not a tag" },
        },
      ],
    });
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.noSound).toBeNull();
    expect(r.tracks.map((t) => [t.index, t.language, t.channels, t.downmix, t.title])).toEqual([
      [0, "eng", 2, false, null],
      [1, "fra", 6, true, "VF"],
      [2, "und", 1, false, null],
    ]);
  });

  it("no audio stream and only broken streams say why there is no sound", () => {
    expect(interpretAudioProbe({ streams: [] })).toEqual({ ok: true, tracks: [], noSound: "no audio stream" });
    expect(interpretAudioProbe({})).toMatchObject({ noSound: "no audio stream" });
    const broken = interpretAudioProbe({
      streams: [{ codec_type: "audio", codec_name: "aac", channels: 0, sample_rate: "0" }],
    });
    expect(broken.ok && broken.tracks[0]!.problem).toMatch(/no channels/);
    expect(broken.ok && broken.noSound).toMatch(/^no playable audio/);
    const unknown = interpretAudioProbe({ streams: [{ codec_type: "audio", channels: 2, sample_rate: "48000" }] });
    expect(unknown.ok && unknown.tracks[0]!.problem).toBe("unknown audio codec");
  });
});

describe("selectTrack", () => {
  const r = interpretAudioProbe({
    streams: [
      { codec_type: "audio", codec_name: "aac", channels: 2, sample_rate: "48000" },
      { codec_type: "audio", codec_name: "aac", channels: 0, sample_rate: "48000" },
    ],
  });
  const tracks = r.ok ? r.tracks : [];
  it("an existing playable track is chosen", () =>
    expect(selectTrack(tracks, 0)).toMatchObject({ ok: true, track: { index: 0 } }));
  it("an index that does not exist is unknown_track (not a throw)", () => {
    for (const i of [2, -1, 0.5, NaN])
      expect(selectTrack(tracks, i)).toMatchObject({ ok: false, code: "unknown_track" });
  });
  it("a broken track is unplayable_track with its reason", () =>
    expect(selectTrack(tracks, 1)).toMatchObject({
      ok: false,
      code: "unplayable_track",
      message: expect.stringContaining("no channels"),
    }));
});
