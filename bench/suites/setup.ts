// Time to first frame after `play` (cold: a fresh core process and cache;
// warm: the same video played again), connection setup (challenge ->
// welcome) with RSA-2048 identities, and core memory per idle member.

import type { Clip } from "../lib/clips";
import { identities } from "../lib/keys";
import type { Transport } from "../lib/link";
import { joinMany, joinMember, keepAlive, parseBody, type Member } from "../lib/member";
import { percentile, sleep, sortNum, spread, type Spread } from "../lib/stats";
import { startStack } from "./video";

function firstFrame(m: Member, clip: Clip, fromMs = 0): Promise<{ ttff: number; sid: number }> {
  return new Promise((resolve, reject) => {
    let sid = -1;
    const t0 = performance.now();
    const timer = setTimeout(() => reject(new Error("no first frame in 30 s")), 30_000);
    m.onControl = (t, body) => {
      if (t === "stream") sid = parseBody<{ sid: number }>(body).sid;
      if (t === "error") reject(new Error(Buffer.from(body).toString()));
    };
    m.onVideo = (b) => {
      const buf = b as Buffer;
      if (buf.readUInt32BE(0) !== sid) return;
      if (buf.readUInt16BE(12) === buf.readUInt16BE(14) - 1) {
        clearTimeout(timer);
        m.onVideo = () => {};
        resolve({ ttff: performance.now() - t0, sid });
      }
    };
    m.send({ t: "play", video: clip.id, scope: "self", fromMs });
  });
}

export interface TtffResult {
  transport: Transport;
  coldMs: Spread;
  warmMs: Spread;
}

export async function ttff(clip: Clip, transport: Transport, samples: number): Promise<TtffResult> {
  const cold: number[] = [];
  const warm: number[] = [];
  const [id] = await identities(1);
  for (let s = 0; s < samples; s++) {
    const stack = await startStack(clip.dir, transport);
    try {
      const m = await joinMember(stack.target, id, "ttff", "t");
      const c = await firstFrame(m, clip);
      cold.push(c.ttff);
      m.send({ t: "control", sid: c.sid, action: "stop" });
      await sleep(200);
      for (let k = 0; k < 3; k++) {
        const w = await firstFrame(m, clip);
        warm.push(w.ttff);
        m.send({ t: "control", sid: w.sid, action: "stop" });
        await sleep(100);
      }
      m.close();
    } finally {
      await stack.stop();
    }
  }
  return { transport, coldMs: spread(cold), warmMs: spread(warm) };
}

export interface SetupResult {
  transport: Transport;
  joins: number;
  /** challenge -> welcome, ms (client PSS signing + core verification + round trips). */
  setupMs: Spread;
  setupP99: number;
  /** hello written -> welcome, ms. */
  serverMs: Spread;
}

export async function connectionSetup(videos: string, transport: Transport, joins: number): Promise<SetupResult> {
  const stack = await startStack(videos, transport);
  const ids = await identities(joins);
  const setup: number[] = [];
  const server: number[] = [];
  try {
    // Sequential joins into rooms of 10: the cost of one join, not of a stampede.
    for (let i = 0; i < joins; i++) {
      const m = await joinMember(stack.target, ids[i], `s${Math.floor(i / 10)}`, `m${i}`);
      if (i >= 3) {
        setup.push(m.timing.setupMs);
        server.push(m.timing.serverMs);
      }
      m.close();
    }
  } finally {
    await stack.stop();
  }
  return {
    transport,
    joins,
    setupMs: spread(setup),
    setupP99: percentile(sortNum(setup), 99),
    serverMs: spread(server),
  };
}

export interface IdleMemory {
  members: number;
  rooms: number;
  baselineMiB: number;
  afterMiB: number;
  /** (RSS after - baseline) / members, KiB, over repetitions. */
  perMemberKiB: Spread;
  /** Slope between the half and the full count, KiB per member. */
  marginalKiB: Spread;
}

export async function idleMemory(videos: string, members: number, roomSize: number, reps: number): Promise<IdleMemory> {
  const per: number[] = [];
  const marginal: number[] = [];
  let base = 0;
  let after = 0;
  const ids = await identities(roomSize);
  for (let r = 0; r < reps; r++) {
    const stack = await startStack(videos, "tcp");
    const all: Member[] = [];
    const stop = keepAlive(() => all);
    try {
      // Warm the code paths (and the heap) with one small room first.
      all.push(...(await joinMany(stack.target, ids.slice(0, 10), "warm", "w")));
      await sleep(1500);
      const rss0 = stack.core.rss();
      const rooms = Math.ceil(members / roomSize);
      let rssHalf = 0;
      for (let k = 0; k < rooms; k++) {
        all.push(
          ...(await joinMany(
            stack.target,
            ids.slice(0, Math.min(roomSize, members - k * roomSize)),
            `idle${k}`,
            "m",
            16,
          )),
        );
        if (k === Math.floor(rooms / 2) - 1) {
          await sleep(1500);
          rssHalf = stack.core.rss();
        }
      }
      await sleep(2500);
      const rss1 = stack.core.rss();
      base = rss0 / 1024;
      after = rss1 / 1024;
      per.push((rss1 - rss0) / members);
      const halfCount = Math.floor(rooms / 2) * roomSize;
      if (rssHalf) marginal.push((rss1 - rssHalf) / (members - halfCount));
    } finally {
      stop();
      for (const m of all) m.close();
      await stack.stop();
    }
  }
  return {
    members,
    rooms: Math.ceil(members / roomSize),
    baselineMiB: base,
    afterMiB: after,
    perMemberKiB: spread(per),
    marginalKiB: spread(marginal),
  };
}
