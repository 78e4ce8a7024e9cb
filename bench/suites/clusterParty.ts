// Cluster suite, one watch party: N raw viewers on the lone core, then the
// same N spread over the three cluster cores; each process's CPU (the core
// itself and its ffmpeg children apart) over the party's first seconds minus
// the same time before it, as ratios to the lone core.

import { cpuMsOf } from "../../tests/helpers/security-support";
import { clip } from "../lib/clips";
import { identities } from "../lib/keys";
import { joinMany, parseBody, type Member } from "../lib/member";
import { sleep, sortNum } from "../lib/stats";
import { treeMs, type Rig } from "./clusterRig";

export interface PartyNode {
  name: string;
  viewers: number;
  /** The core process itself (fan-out, pacing, control), ms CPU per s, party minus idle. */
  coreMsPerS: number;
  /** Its ffmpeg children (decoding), ms CPU per s, party minus idle. */
  decodeMsPerS: number;
  /** The core process's idle rate before the party, ms per s. */
  idleCoreMsPerS: number;
  bothMsPerS: number;
  /** bothMsPerS / the lone core's. */
  ratio: number;
}

export interface FrameShare {
  /** Whole frames got / due: the worst viewer and the median one. */
  min: number;
  median: number;
  /** Index of each viewer's first frame: median and max (0 = the party's first). */
  firstMedian: number;
  firstMax: number;
}

export interface ClusterParty {
  clip: string;
  viewers: number;
  seconds: number;
  lone: PartyNode;
  nodes: PartyNode[];
  nats: PartyNode;
  /** The three nodes together. */
  sum: { bothMsPerS: number; ratio: number };
  frames: { lone: FrameShare; cluster: FrameShare };
}

interface Usage {
  core: number;
  decode: number;
}

const usage = (pid: number): Usage => {
  const core = cpuMsOf(pid);
  return { core, decode: Math.max(0, treeMs(pid) - core) };
};
const minus = (a: Usage, b: Usage): Usage => ({ core: a.core - b.core, decode: a.decode - b.decode });

/** Whole frames each viewer got (first chunk of each frame of its own stream's sid). */
function countFrames(members: Member[]): () => { counts: number[]; first: number[] } {
  const counts = members.map(() => 0);
  const first = members.map(() => -1);
  members.forEach((m, i) => {
    let streamId = -1;
    m.onControl = (t, body) => {
      if (t === "stream") streamId = parseBody<{ sid: number }>(body).sid;
    };
    m.onVideo = (b) => {
      if (b.readUInt32BE(0) !== streamId || b.readUInt16BE(12) !== 0) return;
      counts[i]!++;
      if (first[i] === -1) first[i] = b.readUInt32BE(4);
    };
  });
  return () => ({ counts: [...counts], first: [...first] });
}

async function party(
  label: string,
  pids: number[],
  ports: number[],
  room: string,
  videoId: string,
  viewers: number,
  seconds: number,
): Promise<{ cpu: Usage[]; idle: Usage[]; counts: number[]; first: number[]; per: number[] }> {
  const ids = await identities(viewers);
  const members: Member[] = [];
  const per: number[] = [];
  for (let k = 0; k < ports.length; k++) {
    const mine = ids.filter((_x, i) => i % ports.length === k);
    per.push(mine.length);
    members.push(
      ...(await joinMany({ transport: "tcp", host: "127.0.0.1", port: ports[k]! }, mine, room, `${label}${k}-`)),
    );
  }
  try {
    const frames = countFrames(members);
    await sleep(1_000); // joins settle (every join goes to everyone)
    const idle0 = pids.map(usage);
    await sleep(seconds * 1000);
    const idle = pids.map((p, i) => minus(usage(p), idle0[i]!));
    const c0 = pids.map(usage);
    members[0]!.send({ t: "play", video: videoId, scope: "room" });
    await sleep(seconds * 1000);
    const cpu = pids.map((p, i) => minus(usage(p), c0[i]!));
    return { cpu, idle, per, ...frames() };
  } finally {
    for (const m of members) m.close();
    await sleep(500);
  }
}

/** The party's clip: 640x360@30 by default, long enough for `seconds` of party. */
export function partyClip(seconds: number, width = 640, height = 360) {
  return clip(width, height, Math.max(20, seconds + 10), 30);
}

/**
 * N raw viewers of one room party on the lone core, then the same N spread over
 * the three cluster cores (N/3 each, the party started from c0): CPU per node
 * over the first `seconds` of the party minus the `seconds` before it. The rig's
 * videos dir must hold `videoId` and its cores allow N members per room.
 */
export async function clusterParty(
  rig: Rig,
  o: { viewers: number; seconds: number; videoId: string; clipName: string; log: (s: string) => void },
): Promise<ClusterParty> {
  const { viewers: n, seconds } = o;
  const one = await party("s", [rig.lone.pid], [rig.lone.port], "bench-party-lone", o.videoId, n, seconds);
  const three = await party(
    "c",
    [...rig.cores.map((c) => c.pid), rig.nats.pid()],
    rig.cores.map((c) => c.port),
    "bench-party-cluster",
    o.videoId,
    n,
    seconds,
  );
  const node = (name: string, viewers: number, u: Usage, idle: Usage, base: number): PartyNode => {
    const core = (u.core - idle.core) / seconds;
    const decode = (u.decode - idle.decode) / seconds;
    return {
      name,
      viewers,
      coreMsPerS: core,
      decodeMsPerS: decode,
      idleCoreMsPerS: idle.core / seconds,
      bothMsPerS: core + decode,
      ratio: base ? (core + decode) / base : NaN,
    };
  };
  const lone = node("lone core (memory store, no NATS)", n, one.cpu[0]!, one.idle[0]!, 0);
  const base = lone.bothMsPerS;
  lone.ratio = 1;
  const nodes = [0, 1, 2].map((i) =>
    node(`cluster core c${i}${i === 0 ? " (started it)" : ""}`, three.per[i]!, three.cpu[i]!, three.idle[i]!, base),
  );
  const nats = node("nats-server", 0, three.cpu[3]!, three.idle[3]!, base);
  const sumBoth = nodes.reduce((s, x) => s + x.bothMsPerS, 0);
  const due = seconds * 30;
  const share = (r: { counts: number[]; first: number[] }): FrameShare => {
    const c = sortNum(r.counts);
    const f = sortNum(r.first);
    return {
      min: (c[0] ?? 0) / due,
      median: (c[c.length >> 1] ?? 0) / due,
      firstMedian: f[f.length >> 1] ?? -1,
      firstMax: f.at(-1) ?? -1,
    };
  };
  const res: ClusterParty = {
    clip: o.clipName,
    viewers: n,
    seconds,
    lone,
    nodes,
    nats,
    sum: { bothMsPerS: sumBoth, ratio: sumBoth / base },
    frames: { lone: share(one), cluster: share(three) },
  };
  o.log(
    `    party, ${n} viewers: lone core ${base.toFixed(0)} ms/s; per cluster node ${nodes.map((x) => `${x.bothMsPerS.toFixed(0)} (x${x.ratio.toFixed(2)})`).join(", ")}; three together x${res.sum.ratio.toFixed(2)}; nats-server ${nats.bothMsPerS.toFixed(1)} ms/s`,
  );
  return res;
}
