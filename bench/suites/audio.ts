// Sound's cost and delivery: the Opus ffmpeg's CPU next to the frames'
// ffmpeg for the same clip; one room stream with sound to many "audio"
// viewers (each must get >= 99% of frames and of packets on time), with the
// core's CPU per extra viewer with and without sound; and the warm time from
// `play` to the first packet.

import { execFile } from "node:child_process";
import { existsSync, mkdirSync } from "node:fs";
import { join } from "node:path";
import { opusArgs } from "../../server/audio/decode";
import { ffmpegPath } from "../../server/video/ffmpeg";
import { transcodeArgs } from "../../server/video/transcode";
import { CLIP_DIR, type Clip } from "../lib/clips";
import { identities } from "../lib/keys";
import type { Transport } from "../lib/link";
import { joinMany, joinMember, keepAlive, parseBody, type Member } from "../lib/member";
import { sleep } from "../lib/stats";
import { attachLogs, judge, lateByIndex, ON_TIME_MS } from "../lib/viewers";
import { startStack, warmCache } from "./video";

/** A moving picture with a tone: testsrc2 H.264 + AAC stereo. */
export async function soundClip(width: number, height: number, durationS: number): Promise<Clip> {
  const dir = join(CLIP_DIR, `${width}x${height}-${durationS}s-sound`);
  mkdirSync(dir, { recursive: true });
  const id = `bench-${height}p-sound.mp4`;
  const path = join(dir, id);
  if (!existsSync(path)) {
    const bin = await ffmpegPath();
    await new Promise<void>((res, rej) =>
      execFile(
        bin,
        [
          "-v",
          "error",
          "-y",
          "-f",
          "lavfi",
          "-i",
          `testsrc2=size=${width}x${height}:rate=30:duration=${durationS}`,
          "-f",
          "lavfi",
          "-i",
          `sine=frequency=440:sample_rate=48000:duration=${durationS}`,
          "-c:v",
          "libx264",
          "-preset",
          "medium",
          "-crf",
          "28",
          "-pix_fmt",
          "yuv420p",
          "-c:a",
          "aac",
          "-b:a",
          "128k",
          "-ac",
          "2",
          "-shortest",
          path,
        ],
        { timeout: 300_000 },
        (e) => (e ? rej(e) : res()),
      ),
    );
  }
  return { dir, id, path, width, height, fps: 30, durationS };
}

function childCpu(bin: string, args: string[]): Promise<number> {
  return new Promise((res, rej) =>
    execFile("bash", ["-c", '"$@" >/dev/null; times', "_", bin, ...args], { timeout: 300_000 }, (err, out) => {
      if (err) return rej(err);
      const line = out.trim().split("\n").at(-1) ?? "";
      const secs = [...line.matchAll(/(\d+)m([\d.]+)s/g)].map((m) => Number(m[1]) * 60 + Number(m[2]));
      res((secs[0] ?? 0) + (secs[1] ?? 0));
    }),
  );
}

export interface AudioDecodeCost {
  clip: string;
  /** CPU seconds per second of video. */
  videoCpu: number;
  audioCpu: number;
  ratio: number;
}

/** CPU per second of video of the frames' ffmpeg (to `out`, the stream size) and of the Opus ffmpeg, medians of reps. */
export async function audioDecodeCost(
  clip: Clip,
  out: { width: number; height: number } = { width: clip.width, height: clip.height },
  reps = 3,
): Promise<AudioDecodeCost> {
  const bin = await ffmpegPath();
  const v: number[] = [];
  const a: number[] = [];
  for (let i = 0; i < reps; i++) {
    v.push(await childCpu(bin, transcodeArgs(clip.path, out, clip.fps, 5)));
    a.push(await childCpu(bin, opusArgs(clip.path, 0)));
  }
  const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
  const videoCpu = med(v) / clip.durationS;
  const audioCpu = med(a) / clip.durationS;
  return {
    clip: `${clip.width}x${clip.height}@${clip.fps} -> ${out.width}x${out.height}`,
    videoCpu,
    audioCpu,
    ratio: audioCpu / videoCpu,
  };
}

export interface SoundLevel {
  transport: Transport;
  viewers: number;
  sound: boolean;
  framesAt99: number;
  packetsAt99: number;
  minPacketsOnTime: number;
  coreCpu: number;
  /** The bridge (or websockify) process's CPU per wall second; null direct. */
  relayCpu?: number | null;
  /** This bench process's CPU (every viewer's sockets and frame reading) per wall second. */
  loadgenCpu?: number;
  closed: number;
  passed: boolean;
}

/** Arrival per packet index (pts / 20 ms), for one viewer. */
class PacketLog {
  arrivals: Float64Array;
  sid = -1;
  constructor(readonly packets: number) {
    this.arrivals = new Float64Array(packets + 8);
  }
  packet(b: Buffer, length: number): void {
    if (length <= 16 || b.length < 12 || b.readUInt32BE(0) !== this.sid) return;
    const i = Math.round(b.readInt32BE(8) / 960) + 1; // the first packet is at -preSkip
    if (i >= 0 && i < this.arrivals.length && !this.arrivals[i]) this.arrivals[i] = performance.now();
  }
}

/**
 * On time means no later than the frame of the same moment would be on time:
 * arrival - pts - (the frames' anchor, earliest arrival - pts over all
 * frames) <= ON_TIME_MS. (Packets go out ahead of their frame, in bursts of a
 * tick, so their own earliest arrival - pts is no anchor.)
 */
function judgePackets(logs: readonly PacketLog[], anchor: number): { at99: number; min: number } {
  const fr = logs.map((l) => {
    let ok = 0;
    for (let i = 1; i <= l.packets; i++)
      if (l.arrivals[i] && l.arrivals[i]! - (i - 1) * 20 - anchor <= ON_TIME_MS) ok++;
    return ok / l.packets;
  });
  return { at99: fr.filter((f) => f >= 0.99).length, min: Math.min(...fr) };
}

/** One room stream of the clip to n viewers (with or without the "audio" cap) on a fresh stack. */
export async function soundLevel(
  clip: Clip,
  transport: Transport,
  n: number,
  sound: boolean,
  log: (s: string) => void,
): Promise<SoundLevel> {
  const stack = await startStack(clip.dir, transport);
  const members: Member[] = [];
  const stopPing = keepAlive(() => members);
  try {
    const caps = sound ? ["audio", "clock"] : undefined;
    const ids = await identities(n);
    const room = "sound";
    members.push(await joinMember(stack.target, ids[0], room, "v0", 30_000, undefined, caps));
    await warmCache(members[0], clip);
    members.push(...(await joinMany(stack.target, ids.slice(1, n), room, "v", 16, 1, undefined, caps)));
    await sleep(500);
    const frames = Math.ceil(clip.durationS * clip.fps);
    const { logs, streamEnded } = attachLogs(members, frames);
    const plogs = members.map((m, i) => {
      const pl = new PacketLog(Math.floor(clip.durationS * 50) - 2);
      m.onAudio = (b, n) => pl.packet(b, n);
      const prev = m.onControl;
      m.onControl = (t, body) => {
        if (t === "stream") pl.sid = parseBody<{ sid: number }>(body).sid;
        prev(t, body);
      };
      void i;
      return pl;
    });
    const c0 = stack.core.cpu();
    const r0 = stack.relay?.cpu() ?? 0;
    const l0 = process.cpuUsage();
    const t0 = performance.now();
    members[0].send({ t: "play", video: clip.id, scope: "room", fromMs: 0 });
    const reason = await Promise.race([streamEnded, sleep(clip.durationS * 1000 + 30_000).then(() => "timeout")]);
    const wall = (performance.now() - t0) / 1000;
    const c1 = stack.core.cpu();
    const r1 = stack.relay?.cpu() ?? 0;
    const lu = process.cpuUsage(l0);
    await sleep(1000);
    const v = judge(logs, frames);
    let anchor = Infinity;
    for (const l of logs)
      for (let i = 0; i < frames; i++) if (l.arrivals[i]) anchor = Math.min(anchor, l.arrivals[i]! - l.pts[i]!);
    if (process.env.SOUND_DEBUG) {
      // Where a level fails: per frame / packet index, the viewers that got it late or never.
      log(`    frames late/missing: ${lateByIndex(logs, frames, 0, (l, i) => l.pts[i]! + anchor)}`);
      if (sound)
        log(
          `    packets late/missing: ${lateByIndex(plogs, plogs[0]!.packets + 1, 1, (_, i) => (i - 1) * 20 + anchor)}`,
        );
    }
    const p = sound ? judgePackets(plogs, anchor) : { at99: n, min: 1 };
    const closed = members.filter((m) => m.link.closed).length;
    const level: SoundLevel = {
      transport,
      viewers: n,
      sound,
      framesAt99: v.viewersAt99,
      packetsAt99: p.at99,
      minPacketsOnTime: p.min,
      coreCpu: (c1 - c0) / wall,
      relayCpu: stack.relay ? (r1 - r0) / wall : null,
      loadgenCpu: (lu.user + lu.system) / 1e6 / wall,
      closed,
      passed: v.viewersAt99 === n && p.at99 === n && closed === 0 && reason === "finished",
    };
    log(
      `    ${level.transport} ${n} viewers ${sound ? "with sound" : "silent"}: frames ${level.framesAt99}/${n} at >=99% on time, packets ${level.packetsAt99}/${n} (min ${(p.min * 100).toFixed(1)}%), core ${(level.coreCpu * 100).toFixed(1)}% CPU${level.relayCpu != null ? `, relay ${(level.relayCpu * 100).toFixed(0)}%` : ""}, loadgen ${((level.loadgenCpu ?? 0) * 100).toFixed(0)}%${level.passed ? "" : " FAIL"}`,
    );
    return level;
  } finally {
    stopPing();
    for (const m of members) m.close();
    await stack.stop();
  }
}

export interface FirstSound {
  warmMs: number[];
  firstFrameMs: number[];
  /** The first play from 0, whose sound is not decoded yet (its frames are): play to first packet and to first frame. */
  coldSoundMs?: number;
  coldFrameMs?: number;
}

/** Warm (cache decoded) time from `play` to the first AUDIO packet and to the first complete frame's first chunk, direct. */
export async function firstSound(clip: Clip, samples: number): Promise<FirstSound> {
  const stack = await startStack(clip.dir, "tcp");
  const [id] = await identities(1);
  const m = await joinMember(stack.target, id!, "first", "f0", 30_000, undefined, ["audio", "clock"]);
  const out: FirstSound = { warmMs: [], firstFrameMs: [] };
  try {
    await warmCache(m, clip);
    for (let i = 0; i < samples + 1; i++) {
      let sound = 0;
      let frame = 0;
      const t0 = performance.now();
      const done = new Promise<void>((res) => {
        m.onAudio = () => {
          if (!sound) sound = performance.now() - t0;
          if (frame) res();
        };
        m.onVideo = () => {
          if (!frame) frame = performance.now() - t0;
          if (sound) res();
        };
      });
      m.send({ t: "play", video: clip.id, scope: "self", fromMs: 0 });
      await Promise.race([done, sleep(10_000)]);
      // The first play also decodes the audio track; the others are warm.
      if (i === 0) {
        out.coldSoundMs = sound || NaN;
        out.coldFrameMs = frame || NaN;
      } else {
        out.warmMs.push(sound || NaN);
        out.firstFrameMs.push(frame || NaN);
      }
      await sleep(300);
    }
  } finally {
    m.close();
    await stack.stop();
  }
  return out;
}
