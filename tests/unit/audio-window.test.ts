// The audio cache's decode window (server/audio/cache.ts) over a scripted
// decode port that honours the start and the gate like ffmpeg does: decoding
// stops decodeAheadSec past the furthest reader and resumes as it moves,
// packets behind the slowest reader are dropped (readers' cursors re-based),
// a far seek starts a decode at the target on the file's timeline, idle
// tracks stop decoding and stay warm.

import { describe, expect, it } from "vitest";
import { AudioPacketCache, NEAR_MS, type AudioDecodeFn } from "../../server/audio/cache";
import type { AudioDecodeResult } from "../../server/audio/decode";
import type { OpusPacket } from "../../server/audio/ogg";
import { readAudioPacket } from "../../protocol/audioPacket";
import type { AudioPacketOut, Peer } from "../../server/ports";
import { StreamAudio } from "../../server/video/audioFanout";

const HEAD = Buffer.concat([Buffer.from("OpusHead"), Buffer.from([1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0])]);
const PRE_SKIP = 312;
/** Packets the scripted decoder hands over at a time (one second, like a pipe's chunk). */
const BATCH = 50;

interface Run {
  startMs: number;
  result: string | null;
}

/** A file of durationMs of sound: 20 ms packets from startMs (minus pre-skip), a batch per macrotask while the gate is open. */
function scripted(durationMs: number, runs: Run[]): AudioDecodeFn {
  return (_path, _track, sink, signal, from) =>
    new Promise((resolve) => {
      const startMs = from?.startMs ?? 0;
      const run: Run = { startMs, result: null };
      runs.push(run);
      const done = (r: AudioDecodeResult): void => {
        run.result = r.ok ? "ok" : r.reason;
        resolve(r);
      };
      sink.onHead({
        channels: 2,
        preSkip: PRE_SKIP,
        inputSampleRate: 48000,
        outputGainQ8: 0,
        mappingFamily: 0,
        raw: HEAD,
      });
      let i = 0;
      const step = (): void => {
        if (signal.aborted) return done({ ok: false, reason: "aborted", detail: "aborted" });
        if (from?.gate && !from.gate.open) return from.gate.onOpen(() => setImmediate(step));
        const batch: OpusPacket[] = [];
        while (batch.length < BATCH && startMs + i * 20 < durationMs) {
          const pts = startMs * 48 - PRE_SKIP + i * 960;
          batch.push({
            seq: i,
            ptsSamples: pts,
            durationSamples: 960,
            ptsMs: pts / 48,
            data: Buffer.alloc(200, i & 0xff),
          });
          i++;
        }
        if (batch.length === 0) return done({ ok: true, packets: i, durationMs: durationMs - startMs });
        sink.onPackets(batch);
        setImmediate(step);
      };
      signal.addEventListener("abort", () => setImmediate(step), { once: true });
      setImmediate(step);
    });
}

/** Lets the scripted decoder run until its gate closes (or it ends). */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 40; i++) await new Promise((r) => setImmediate(r));
};

function setup(durationMs: number, aheadSec = 5, behindSec = 3) {
  const runs: Run[] = [];
  const cache = new AudioPacketCache({ aheadSec, behindSec, decode: scripted(durationMs, runs) });
  return { runs, cache };
}

describe("audio decode window", () => {
  it("decodes only aheadSec past the reader, resumes as it moves, drops what is behind, keeps the cursor on its packet", async () => {
    const { runs, cache } = setup(2 * 3600_000); // a 2 h film
    const lease = cache.acquire("film", "/f.mp4", 0, 0);
    await settle();
    // Stopped at the window (plus at most the batch that crossed it), not run to the end.
    expect(lease.buffer.endMs).toBeGreaterThanOrEqual(5000);
    expect(lease.buffer.endMs).toBeLessThanOrEqual(5000 + 1000);
    let cursor = lease.buffer.indexAt(0);
    for (let pos = 0; pos <= 60_000; pos += 500) {
      const held = lease.buffer.packets[cursor];
      const next = lease.need(pos, cursor);
      // Re-based onto what is kept: the same packet object as before the call.
      if (held) expect(lease.buffer.packets[next]).toBe(held);
      await settle();
      cursor = lease.buffer.indexAt(pos);
      const p = lease.buffer.packets[cursor]!;
      expect(p.ptsSamples).toBeLessThanOrEqual(pos * 48);
      expect(p.ptsSamples + p.durationSamples).toBeGreaterThan(pos * 48);
    }
    // After a minute: ahead of the reader by the window, behind it by behindSec (+ a trim batch), nothing more.
    expect(lease.buffer.endMs).toBeGreaterThanOrEqual(65_000);
    expect(lease.buffer.endMs).toBeLessThanOrEqual(66_000);
    expect(lease.buffer.firstMs).toBeGreaterThanOrEqual(60_000 - 3000 - 1100);
    const oneSecond = 50 * (200 + 64);
    expect(cache.heldBytes("film", 0)).toBeLessThanOrEqual(11 * oneSecond);
    expect(runs.map((r) => r.startMs)).toEqual([0]);
    lease.release();
    cache.close();
  });

  it("a far seek starts a decode at the target, on the file's timeline; a near one does not", async () => {
    const { runs, cache } = setup(600_000);
    const lease = cache.acquire("v", "/v.mp4", 1, 1000);
    await settle();
    const first = lease.buffer;
    lease.need(100_000, 0);
    expect(runs.map((r) => r.startMs)).toEqual([1000, 100_000]);
    await settle();
    expect(lease.buffer).not.toBe(first);
    expect(lease.buffer.packets[0]!.ptsSamples).toBe(100_000 * 48 - PRE_SKIP);
    expect(lease.buffer.head?.raw).toEqual(HEAD);
    // The first segment had no reader left: stopped and dropped.
    expect(runs[0]!.result).toBe("aborted");
    expect(cache.heldBytes("v", 1)).toBe(lease.buffer.bytes);
    // Within what is decoded (+ NEAR_MS): the same decoder serves it.
    const near = lease.buffer.endMs + NEAR_MS - 500;
    expect(lease.need(near, 0)).toBe(lease.buffer.indexAt(near));
    expect(runs.length).toBe(2);
    // Behind the oldest packet kept: a new decode there.
    await settle();
    lease.need(50_000, 0);
    expect(runs.map((r) => r.startMs)).toEqual([1000, 100_000, 50_000]);
    lease.release();
    cache.close();
  });

  it("two readers far apart get a segment each; each window follows its own reader", async () => {
    const { runs, cache } = setup(600_000);
    const a = cache.acquire("v", "/v.mp4", 0, 0);
    const b = cache.acquire("v", "/v.mp4", 0, 200_000);
    await settle();
    expect(runs.map((r) => r.startMs)).toEqual([0, 200_000]);
    expect(a.buffer).not.toBe(b.buffer);
    expect(a.buffer.endMs).toBeLessThanOrEqual(6000);
    expect(b.buffer.endMs).toBeLessThanOrEqual(206_000);
    // b comes back to a's region: both share a's segment, b's is dropped.
    b.need(2000, 0);
    expect(b.buffer).toBe(a.buffer);
    expect(runs[1]!.result).toBe(null); // the abort lands on the next turn
    await settle();
    expect(runs[1]!.result).toBe("aborted");
    // The window follows the furthest of the two.
    b.need(4000, 0);
    await settle();
    expect(a.buffer.endMs).toBeGreaterThanOrEqual(9000);
    a.release();
    b.release();
    cache.close();
  });

  it("an idle track stops decoding and stays warm for a replay from the start", async () => {
    const { runs, cache } = setup(8000, 20);
    const a = cache.acquire("short", "/s.mp4", 0, 0);
    await settle();
    expect(a.buffer.state).toBe("ready"); // 8 s is within the window: decoded to the end
    a.release();
    const b = cache.acquire("short", "/s.mp4", 0, 0);
    expect(b.buffer.state).toBe("ready");
    expect(b.buffer.indexAt(0)).toBe(0);
    expect(runs.length).toBe(1);
    b.release();

    const long = setup(600_000);
    const c = long.cache.acquire("long", "/l.mp4", 0, 0);
    await settle();
    c.release(); // waiting at the window when released: stopped, its packets kept
    await settle();
    expect(long.runs[0]!.result).toBe("aborted");
    const d = long.cache.acquire("long", "/l.mp4", 0, 1000);
    expect(d.buffer.packets.length).toBeGreaterThan(0);
    expect(long.runs.length).toBe(1);
    // Past the end of the stopped segment: a new decode there.
    d.need(d.buffer.endMs + 100, 0);
    expect(long.runs.length).toBe(2);
    d.release();
    cache.close();
    long.cache.close();
  });

  it("through StreamAudio: ticks move the window, a far seek plays the new segment's packets, flagged", async () => {
    const { runs, cache } = setup(600_000);
    const got: AudioPacketOut[] = [];
    const peer: Peer = {
      connId: 1,
      memberId: "m1",
      room: "r",
      caps: new Set(["audio"]),
      sendControl: () => {},
      sendFrame: () => {},
      offerVideo: () => true,
      purgeVideo: () => {},
      purgeAudio: () => {},
    };
    const track = {
      index: 0,
      language: "eng",
      title: null,
      codec: "aac",
      channels: 2,
      channelLayout: "stereo",
      downmix: false,
      problem: null,
    };
    const s = new StreamAudio({ sid: 3, key: "k", path: "/x", tracks: [track], noSound: null, cache });
    s.add(peer, 0);
    await settle();
    // The stream hands each viewer its tick's audio with the frame (tickFor).
    const tick = (pos: number): void => {
      s.tick(pos);
      const o = s.tickFor(peer.connId);
      if (o) got.push(o);
    };
    for (let pos = 0; pos <= 20_000; pos += 1000) {
      tick(pos);
      await settle();
    }
    expect(runs.map((r) => r.startMs)).toEqual([0]);
    s.reposition(300_000);
    await settle();
    tick(300_000);
    expect(runs.map((r) => r.startMs)).toEqual([0, 300_000]);
    const last = got.at(-1)!;
    const all = last.head;
    const first = readAudioPacket(all.subarray(5, 4 + all.readUInt32BE(0)))!.header;
    expect(Math.abs(first.ptsSamples / 48 - 300_000)).toBeLessThan(20);
    expect(first.flags & 1).toBe(1);
    s.close();
    cache.close();
  });
});
