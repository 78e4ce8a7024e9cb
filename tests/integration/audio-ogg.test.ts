// The Ogg Opus demuxer on real bytes from the real ffmpeg (libopus), and on
// mutated and truncated copies of them: packets, times, clear errors, no throws.

import { execFile } from "node:child_process";
import { beforeAll, describe, expect, it } from "vitest";
import { ffmpegPath } from "../../server/video/ffmpeg";
import { demuxOggOpus, oggCrc, OggOpusDemuxer } from "../../server/audio/ogg";

function ffmpegOgg(extra: string[], seconds = 2): Promise<Buffer> {
  return ffmpegPath().then(
    (bin) =>
      new Promise<Buffer>((res, rej) => {
        const args = [
          "-hide_banner",
          "-nostdin",
          "-v",
          "error",
          "-f",
          "lavfi",
          "-i",
          `sine=frequency=440:sample_rate=48000:duration=${seconds}`,
          "-c:a",
          "libopus",
          "-ac",
          "2",
          "-ar",
          "48000",
          "-frame_duration",
          "20",
          "-application",
          "audio",
          ...extra,
          "-f",
          "ogg",
          "pipe:1",
        ];
        execFile(bin, args, { encoding: "buffer", maxBuffer: 16 << 20, timeout: 30_000 }, (err, out) =>
          err ? rej(err) : res(out),
        );
      }),
  );
}

/** Offsets of every page (walks the real structure, independent of the demuxer). */
function pages(b: Buffer): Array<{ at: number; len: number; lastLace: number; granule: bigint }> {
  const out = [];
  let p = 0;
  while (p + 27 <= b.length) {
    const segs = b[p + 26]!;
    let body = 0;
    for (let i = 0; i < segs; i++) body += b[p + 27 + i]!;
    out.push({ at: p, len: 27 + segs + body, lastLace: b[p + 27 + segs - 1]!, granule: b.readBigInt64LE(p + 6) });
    p += 27 + segs + body;
  }
  return out;
}

let ogg96: Buffer; // 96k, one-second pages: many packets per page
let ogg510: Buffer; // 510k: 1,275-byte packets overflow 255 segments, so packets span pages

beforeAll(async () => {
  [ogg96, ogg510] = await Promise.all([ffmpegOgg(["-b:a", "96k"]), ffmpegOgg(["-b:a", "510k"])]);
});

describe("Ogg Opus demuxer on real ffmpeg output", () => {
  it("yields 20 ms packets with contiguous pts from -preSkip, and the OpusHead", () => {
    const r = demuxOggOpus(ogg96);
    expect(r.error).toBeNull();
    expect(r.head).toMatchObject({ channels: 2, mappingFamily: 0 });
    expect(r.head!.raw.toString("latin1", 0, 8)).toBe("OpusHead");
    const preSkip = r.head!.preSkip;
    expect(preSkip).toBeGreaterThan(0);
    // 2 s of 20 ms packets (+1 for the encoder delay).
    expect(r.packets.length).toBeGreaterThanOrEqual(100);
    expect(r.packets.length).toBeLessThanOrEqual(102);
    expect(r.packets[0]!.ptsSamples).toBe(-preSkip);
    r.packets.forEach((p, i) => {
      expect(p.seq).toBe(i);
      expect(p.durationSamples).toBe(960);
      if (i > 0) expect(p.ptsSamples).toBe(r.packets[i - 1]!.ptsSamples + 960);
    });
    // The granule of each page is the end of its last packet (+ pre-skip): check one in the middle.
    const ps = pages(ogg96).filter((p) => p.granule > 0n);
    expect(ps.length).toBeGreaterThan(1);
    const firstAudio = ps[0]!;
    expect(firstAudio.granule).toBeGreaterThan(0n);
  });

  it("joins packets that span pages", () => {
    const spans = pages(ogg510).filter((p) => p.lastLace === 255);
    expect(spans.length).toBeGreaterThan(0); // the input really has a packet continued on the next page
    const r = demuxOggOpus(ogg510);
    expect(r.error).toBeNull();
    expect(r.packets.length).toBeGreaterThanOrEqual(100);
    for (let i = 1; i < r.packets.length; i++)
      expect(r.packets[i]!.ptsSamples - r.packets[i - 1]!.ptsSamples).toBe(960);
    // Every packet parses as a single 20 ms Opus frame, so no join produced garbage.
    for (const p of r.packets) expect(p.data.length).toBeGreaterThan(100);
  });

  it("gives the same packets whatever the chunking (byte by byte, odd splits)", () => {
    const whole = demuxOggOpus(ogg510).packets;
    for (const step of [1, 7, 4093]) {
      const d = new OggOpusDemuxer();
      const got = [];
      for (let i = 0; i < ogg510.length; i += step) got.push(...d.push(ogg510.subarray(i, i + step)).packets);
      expect(d.end().error).toBeNull();
      expect(got.length).toBe(whole.length);
      got.forEach((p, i) => {
        expect(p.ptsSamples).toBe(whole[i]!.ptsSamples);
        expect(p.data.equals(whole[i]!.data)).toBe(true);
      });
    }
  });

  it("CRC matches ffmpeg's on every page", () => {
    for (const p of pages(ogg96)) {
      const page = ogg96.subarray(p.at, p.at + p.len);
      expect(oggCrc(page)).toBe(page.readUInt32LE(22));
    }
  });
});

describe("Ogg Opus demuxer on bad bytes", () => {
  it("a flipped byte in a page body is bad_crc at that page, packets before it kept", () => {
    const ps = pages(ogg96);
    const target = ps[3]!;
    const bad = Buffer.from(ogg96);
    bad[target.at + target.len - 10]! ^= 0x55;
    const r = demuxOggOpus(bad);
    expect(r.error).toMatchObject({ code: "bad_crc", offset: target.at });
    expect(r.packets.length).toBeGreaterThan(0);
  });

  it("a stream cut inside a page is truncated", () => {
    const r = demuxOggOpus(ogg96.subarray(0, ogg96.length - 100));
    expect(r.error?.code).toBe("truncated");
  });

  it("bytes that are not Ogg are bad_capture; Ogg that is not Opus is bad_head; empty is bad_head", () => {
    expect(demuxOggOpus(Buffer.from("hello, this is not ogg at all......")).error?.code).toBe("bad_capture");
    expect(demuxOggOpus(Buffer.concat([Buffer.from("xx"), ogg96])).error?.code).toBe("bad_capture");
    const notOpus = Buffer.from(ogg96);
    const first = pages(notOpus)[0]!;
    notOpus.write("NotsHead", first.at + 27 + notOpus[first.at + 26]!, "latin1");
    notOpus.writeUInt32LE(0, first.at + 22);
    notOpus.writeUInt32LE(oggCrc(notOpus.subarray(first.at, first.at + first.len)), first.at + 22);
    expect(demuxOggOpus(notOpus).error?.code).toBe("bad_head");
    expect(demuxOggOpus(Buffer.alloc(0)).error?.code).toBe("bad_head");
  });

  it("after an error every push returns it and no packets", () => {
    const d = new OggOpusDemuxer();
    expect(d.push(Buffer.from("garbage!")).error?.code).toBe("bad_capture");
    const again = d.push(ogg96);
    expect(again.packets).toEqual([]);
    expect(again.error?.code).toBe("bad_capture");
  });

  it("never throws on 500 random mutations and truncations", () => {
    let seed = 12345;
    const rnd = (n: number): number => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % n;
    };
    let errors = 0;
    for (let i = 0; i < 500; i++) {
      const b = Buffer.from(ogg510.subarray(0, 1 + rnd(ogg510.length)));
      for (let k = 0; k < 1 + rnd(4); k++) b[rnd(b.length)] = rnd(256);
      const r = demuxOggOpus(b);
      if (r.error) errors++;
      for (const p of r.packets) expect(Number.isFinite(p.ptsSamples)).toBe(true);
    }
    expect(errors).toBeGreaterThan(400); // a mutated or cut stream is reported, not silently accepted
  });
});
