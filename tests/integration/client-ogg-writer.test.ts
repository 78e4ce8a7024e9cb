// The native client's Ogg Opus writer (--record) against the core's demuxer
// and the real ffmpeg: real packets of the sync sample written out and read
// back packet for packet, and the file decodes with ffmpeg.

import { execFile } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, it } from "vitest";
import { OggOpusWriter } from "../../client/oggWriter";
import { decodeAudio } from "../../server/audio/decode";
import { demuxOggOpus, type OpusHead, type OpusPacket } from "../../server/audio/ogg";
import { ffmpegPath } from "../../server/video/ffmpeg";
import { makeSyncSample } from "../../scripts/make-sync-sample";

describe("OggOpusWriter", () => {
  it("writes what the demuxer reads back exactly, and ffmpeg decodes it", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "sealroom-ogg-"));
    const src = await makeSyncSample(path.join(dir, "s.mp4"), { durationS: 2 });
    let head: OpusHead | null = null;
    const packets: OpusPacket[] = [];
    const r = await decodeAudio(src, 0, { onHead: (h) => (head = h), onPackets: (p) => packets.push(...p) });
    expect(r.ok).toBe(true);
    const w = new OggOpusWriter(head!.raw);
    const parts = [
      w.headers(),
      ...packets.map((p, i) => w.packet(p.data, p.ptsSamples, p.durationSamples, i === packets.length - 1)),
    ];
    const file = Buffer.concat(parts);
    const back = demuxOggOpus(file);
    expect(back.error).toBeNull();
    expect(back.head?.raw.equals(head!.raw)).toBe(true);
    expect(back.packets.length).toBe(packets.length);
    back.packets.forEach((p, i) => {
      expect(p.ptsSamples).toBe(packets[i]!.ptsSamples);
      expect(p.data.equals(packets[i]!.data)).toBe(true);
    });
    const out = path.join(dir, "s.opus");
    writeFileSync(out, file);
    const { stderr } = await promisify(execFile)(await ffmpegPath(), ["-v", "error", "-i", out, "-f", "null", "-"]);
    expect(stderr.trim()).toBe("");
  }, 30_000);
});
