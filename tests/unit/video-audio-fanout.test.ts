// StreamAudio (server/video/audioFanout.ts) over a scripted decoder and plain
// peers: lanes per track share one buffer per tick between viewers (tickFor,
// which the stream offers with the frame), packets
// follow the position with the lead, v1 peers get nothing, choices and
// repositioning behave.

import { describe, expect, it } from "vitest";
import { readAudioPacket } from "../../protocol/audioPacket";
import { FRAME_HEADER } from "../../protocol/framing";
import type { Cap } from "../../protocol/caps";
import type { ServerMessage } from "../../protocol/messages";
import { AudioPacketCache } from "../../server/audio/cache";
import type { AudioDecodeSink } from "../../server/audio/decode";
import type { AudioTrack } from "../../server/audio/tracks";
import type { AudioPacketOut, Peer } from "../../server/ports";
import { StreamAudio } from "../../server/video/audioFanout";

const HEAD = Buffer.concat([Buffer.from("OpusHead"), Buffer.from([1, 2, 0x38, 0x01, 0x80, 0xbb, 0, 0, 0, 0, 0])]);
const track = (index: number): AudioTrack => ({
  index,
  language: index ? "fra" : "eng",
  title: null,
  codec: "aac",
  channels: 2,
  channelLayout: "stereo",
  downmix: false,
  problem: null,
});

/** 10 s of 20 ms packets, delivered at once. */
function cache(): AudioPacketCache {
  return new AudioPacketCache({
    decode: async (_path: string, t: number, sink: AudioDecodeSink) => {
      sink.onHead({ channels: 2, preSkip: 312, inputSampleRate: 48000, outputGainQ8: 0, mappingFamily: 0, raw: HEAD });
      sink.onPackets(
        Array.from({ length: 500 }, (_, i) => ({
          seq: i,
          ptsSamples: i * 960 - 312,
          durationSamples: 960,
          ptsMs: (i * 960 - 312) / 48,
          data: Buffer.from([t, i & 0xff]),
        })),
      );
      return { ok: true, packets: 500, durationMs: 10_000 };
    },
  });
}

function peer(connId: number, caps: Cap[]) {
  const got: AudioPacketOut[] = [];
  const msgs: ServerMessage[] = [];
  const p: Peer = {
    connId,
    memberId: `m${connId}`,
    room: "r",
    caps: new Set(caps),
    sendControl: (m) => msgs.push(m),
    sendFrame: (f) => msgs.push(JSON.parse(f.subarray(FRAME_HEADER).toString()) as ServerMessage),
    offerVideo: () => true,
    purgeVideo: () => {},
    purgeAudio: () => {},
  };
  return { p, got, msgs };
}

const flush = () => new Promise((r) => setTimeout(r, 0));
type TestPeer = ReturnType<typeof peer>;
/** A frame tick as the stream runs it: tick, then each viewer's share offered with the frame. */
function tick(s: StreamAudio, posMs: number, viewers: readonly TestPeer[]): void {
  s.tick(posMs);
  for (const v of viewers) {
    const a = s.tickFor(v.p.connId);
    if (a) v.got.push(a);
  }
}
const ptsOf = (o: AudioPacketOut): number[] => {
  const out: number[] = [];
  const all = o.head;
  for (let off = 0; off < all.length;) {
    const len = all.readUInt32BE(off);
    out.push(readAudioPacket(all.subarray(off + 5, off + 4 + len))!.header.ptsSamples);
    off += 4 + len;
  }
  return out;
};

describe("StreamAudio", () => {
  it("sends packets up to pts + lead, the same buffer to every viewer of a track, nothing to a v1 peer", async () => {
    const a = peer(1, ["audio"]);
    const b = peer(2, ["audio"]);
    const v1 = peer(3, []);
    const s = new StreamAudio({
      sid: 7,
      key: "k",
      path: "/x",
      tracks: [track(0), track(1)],
      noSound: null,
      cache: cache(),
      leadMs: 100,
    });
    for (const x of [a, b, v1]) s.add(x.p, 0);
    await flush();
    expect(a.msgs[0]).toMatchObject({ t: "audio", sid: 7, track: 0, head: HEAD.toString("base64") });
    expect(v1.msgs).toEqual([]);
    tick(s, 0, [a, b, v1]);
    tick(s, 33, [a, b, v1]);
    expect(a.got.length).toBe(2);
    expect(a.got[0]).toBe(b.got[0]); // one shared buffer, not a copy per viewer
    expect(ptsOf(a.got[0]!).map((x) => x / 48)).toEqual([-6.5, 13.5, 33.5, 53.5, 73.5, 93.5]);
    expect(ptsOf(a.got[1]!).every((x) => x / 48 <= 133)).toBe(true);
    expect(v1.got).toEqual([]);
  });

  it("a viewer's own track; an unknown one is an error value; seek restarts at the position", async () => {
    const a = peer(1, ["audio"]);
    const b = peer(2, ["audio"]);
    const s = new StreamAudio({
      sid: 1,
      key: "k",
      path: "/x",
      tracks: [track(0), track(1)],
      noSound: null,
      cache: cache(),
    });
    s.add(a.p, 0);
    s.add(b.p, 0);
    await flush();
    expect(s.choose(b.p, 1)).toBeNull();
    expect(s.choose(b.p, 9)).toMatchObject({ code: "unknown_track" });
    await flush();
    expect(b.msgs.at(-1)).toMatchObject({ t: "audio", track: 1 });
    expect(s.laneCount()).toBe(2);
    s.reposition(5000);
    tick(s, 5000, [a, b]);
    const first = ptsOf(b.got.at(-1)!)[0]! / 48;
    expect(first).toBeGreaterThanOrEqual(4980);
    expect(first).toBeLessThan(5020);
    const pa = a.got.at(-1)!;
    const all = pa.head;
    expect(readAudioPacket(all.subarray(5, 5 + all.readUInt32BE(0) - 1))!.header.flags & 1).toBe(1);
    s.remove(b.p);
    expect(s.laneCount()).toBe(1);
    s.close();
    expect(s.laneCount()).toBe(0);
  });

  it("tickFor gives a tick's packets once: null when nothing new is due, for a v1 peer, or for sound off", async () => {
    const a = peer(1, ["audio"]);
    const v1 = peer(2, []);
    const s = new StreamAudio({ sid: 3, key: "k", path: "/x", tracks: [track(0)], noSound: null, cache: cache() });
    s.add(a.p, 0);
    s.add(v1.p, 0);
    await flush();
    s.tick(0);
    expect(s.tickFor(1)).not.toBeNull();
    expect(s.tickFor(2)).toBeNull();
    s.tick(0); // the same position again: everything up to it + lead already went out
    expect(s.tickFor(1)).toBeNull();
    s.tick(40);
    expect(ptsOf(s.tickFor(1)!).length).toBeGreaterThan(0);
    expect(s.choose(a.p, null)).toBeNull();
    s.tick(80);
    expect(s.tickFor(1)).toBeNull();
  });

  it("whenReady: a promise while the sound at the position is not decoded, settled by its packets or by the bound", async () => {
    let release!: () => void;
    const gated = new AudioPacketCache({
      decode: async (_path: string, _t: number, sink: AudioDecodeSink) => {
        sink.onHead({
          channels: 2,
          preSkip: 312,
          inputSampleRate: 48000,
          outputGainQ8: 0,
          mappingFamily: 0,
          raw: HEAD,
        });
        await new Promise<void>((r) => (release = r));
        sink.onPackets(
          Array.from({ length: 10 }, (_, i) => ({
            seq: i,
            ptsSamples: i * 960 - 312,
            durationSamples: 960,
            ptsMs: (i * 960 - 312) / 48,
            data: Buffer.from([i]),
          })),
        );
        return { ok: true, packets: 10, durationMs: 200 };
      },
    });
    const a = peer(1, ["audio"]);
    const s = new StreamAudio({ sid: 1, key: "k", path: "/x", tracks: [track(0)], noSound: null, cache: gated });
    expect(s.whenReady(0, 1000)).toBeNull(); // no lane yet: nothing to wait for
    s.add(a.p, 0);
    await flush();
    const wait = s.whenReady(0, 60_000);
    expect(wait).not.toBeNull();
    let settled = false;
    void wait!.then(() => (settled = true));
    await flush();
    expect(settled).toBe(false);
    release();
    await flush();
    expect(settled).toBe(true);
    expect(s.whenReady(0, 1000)).toBeNull(); // decoded now
    // Past what will ever be decoded once it ended: nothing to wait for either.
    expect(s.whenReady(5000, 1000)).toBeNull();
    s.close();

    // A decoder that never delivers: the bound settles the wait.
    const stuck = new AudioPacketCache({ decode: () => new Promise(() => {}) });
    const b = peer(2, ["audio"]);
    const s2 = new StreamAudio({ sid: 2, key: "k2", path: "/y", tracks: [track(0)], noSound: null, cache: stuck });
    s2.add(b.p, 0);
    const t0 = performance.now();
    await s2.whenReady(0, 50);
    expect(performance.now() - t0).toBeGreaterThanOrEqual(45);
    expect(s2.whenReady(0, 0)).toBeNull(); // a zero bound never holds
  });

  it("without a playable track says why", () => {
    const a = peer(1, ["audio"]);
    const s = new StreamAudio({ sid: 1, key: "k", path: "/x", tracks: [], noSound: "no audio stream", cache: cache() });
    s.add(a.p, 0);
    expect(a.msgs).toEqual([{ t: "audio", sid: 1, track: null, reason: "no audio stream" }]);
  });
});
