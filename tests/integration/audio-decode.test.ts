// Audio decode with the real ffmpeg on the sync sample's variants: stereo with
// two languages, 5.1 (downmixed), none, corrupt, a missing track; the shared cache.

import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeAudio } from "../../server/audio/decode";
import { AudioPacketCache } from "../../server/audio/cache";
import type { OpusPacket } from "../../server/audio/ogg";
import { probeAudio } from "../../server/audio/tracks";
import { makeSyncSample, type SyncVariant } from "../../scripts/make-sync-sample";

let dir: string;
const files: Partial<Record<SyncVariant, string>> = {};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "sealroom-audio-"));
  for (const v of ["stereo", "surround51", "none", "corrupt"] as const)
    files[v] = await makeSyncSample(join(dir, `${v}.mp4`), { variant: v, durationS: 4 });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function collect(path: string, track: number) {
  const packets: OpusPacket[] = [];
  let channels = 0;
  const result = await decodeAudio(path, track, {
    onHead: (h) => (channels = h.channels),
    onPackets: (p) => packets.push(...p),
  });
  return { result, packets, channels };
}

describe("audio tracks (ffprobe)", () => {
  it("lists both language tracks of the stereo sample", async () => {
    const r = await probeAudio(files.stereo!);
    expect(r).toMatchObject({ ok: true, noSound: null });
    if (!r.ok) return;
    expect(r.tracks.map((t) => [t.index, t.language, t.channels, t.codec, t.downmix])).toEqual([
      [0, "eng", 2, "aac", false],
      [1, "fra", 2, "aac", false],
    ]);
  });
  it("5.1 is flagged for downmix; no audio says so", async () => {
    const s = await probeAudio(files.surround51!);
    expect(s.ok && s.tracks.every((t) => t.channels === 6 && t.downmix)).toBe(true);
    expect(await probeAudio(files.none!)).toEqual({ ok: true, tracks: [], noSound: "no audio stream" });
  });
});

describe("decodeAudio (real ffmpeg, libopus)", () => {
  it("stereo: 20 ms stereo packets covering the duration, starting at -preSkip", async () => {
    const { result, packets, channels } = await collect(files.stereo!, 1);
    expect(result.ok).toBe(true);
    expect(channels).toBe(2);
    expect(packets.length).toBeGreaterThanOrEqual(200);
    expect(packets[0]!.ptsMs).toBeLessThanOrEqual(0);
    expect(packets.every((p) => p.durationSamples === 960)).toBe(true);
    if (result.ok) expect(Math.abs(result.durationMs - 4000)).toBeLessThan(60);
    // ~96 kbit/s: 240 bytes per 20 ms on average, within VBR's spread (silence is much smaller).
    const avg = packets.reduce((s, p) => s + p.data.length, 0) / packets.length;
    expect(avg).toBeGreaterThan(10);
    expect(avg).toBeLessThan(400);
  });

  it("5.1 is downmixed to stereo", async () => {
    const { result, channels } = await collect(files.surround51!, 0);
    expect(result.ok).toBe(true);
    expect(channels).toBe(2);
  });

  it("no audio, a track that does not exist, a corrupt stream: clear failures", async () => {
    expect((await collect(files.none!, 0)).result).toMatchObject({ ok: false, reason: "no_track" });
    expect((await collect(files.stereo!, 7)).result).toMatchObject({
      ok: false,
      reason: "no_track",
      detail: expect.stringContaining("0:a:7"),
    });
    expect((await collect(files.stereo!, -1)).result).toMatchObject({ ok: false, reason: "no_track" });
    const bad = await collect(files.corrupt!, 0);
    expect(bad.result).toMatchObject({ ok: false, reason: "corrupt" });
    // ffmpeg's own words for the damage vary with where it hits ("Invalid data",
    // "Reserved bit set", ...): the reason is what callers use; the detail must say something.
    expect(bad.result.ok ? "" : bad.result.detail).toMatch(/\S/);
  });

  it("abort stops ffmpeg and resolves 'aborted'", async () => {
    const ac = new AbortController();
    const p = decodeAudio(files.stereo!, 0, { onHead() {}, onPackets: () => ac.abort() }, ac.signal);
    expect(await p).toMatchObject({ ok: false, reason: "aborted" });
  });
});

describe("AudioPacketCache", () => {
  it("decodes a (video, track) once; every reader shares the same Buffers", async () => {
    const cache = new AudioPacketCache();
    const a = cache.acquire("v1", files.stereo!, 0);
    const b = cache.acquire("v1", files.stereo!, 0);
    const c = cache.acquire("v1", files.stereo!, 1);
    expect(a.buffer).toBe(b.buffer);
    expect(c.buffer).not.toBe(a.buffer);
    await Promise.all([a.done, c.done]);
    expect(a.buffer.state).toBe("ready");
    expect(a.buffer.packets.length).toBeGreaterThan(190);
    expect(cache.size).toBe(2);
    // A seek or late join finds its packet by time.
    const i = a.buffer.indexAt(2000);
    const p = a.buffer.packets[i]!;
    expect(p.ptsSamples).toBeLessThanOrEqual(2000 * 48);
    expect(p.ptsSamples + p.durationSamples).toBeGreaterThan(2000 * 48);
    a.release();
    b.release();
    c.release();
    cache.close();
  });

  it("a failed decode is reported on the buffer and retried on the next acquire", async () => {
    const cache = new AudioPacketCache();
    const a = cache.acquire("none", files.none!, 0);
    await a.done;
    expect(a.buffer.state).toBe("failed");
    expect(a.buffer.failure?.reason).toBe("no_track");
    a.release();
    const b = cache.acquire("none", files.none!, 0);
    expect(b.buffer).not.toBe(a.buffer);
    await b.done;
    b.release();
    cache.close();
  });

  it("evicts idle tracks beyond the byte budget, never one in use", async () => {
    const cache = new AudioPacketCache({ maxIdleBytes: 1000 });
    const a = cache.acquire("v1", files.stereo!, 0);
    await a.done;
    expect(cache.size).toBe(1); // in use: kept although over budget
    a.release();
    expect(cache.size).toBe(0);
    cache.close();
  });
});
