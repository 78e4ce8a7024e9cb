// CPU of the core (with its ffmpeg) to serve the 10 s 640x360 30 fps sample
// as a room stream to 1 and to 50 viewers, cold (decode included) and warm
// (frames cached), and time from `play` to the first complete frame. Run:
//   node --import tsx bench/serve-cost.ts [viewers...=1 50]

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { identities } from "./lib/keys";
import { joinMany, parseBody, type Member } from "./lib/member";
import { ROOT, startCoreProc } from "./lib/procs";

const counts = process.argv
  .slice(2)
  .map(Number)
  .filter((n) => n > 0);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function play(members: Member[], label: string, cpu: () => number) {
  let firstFrameMs = 0;
  const frames = new Array(members.length).fill(0);
  const t0 = performance.now();
  const ended = new Promise<void>((resolve) => {
    members.forEach((m, i) => {
      m.onVideo = (b) => {
        if (b.readUInt16BE(12) !== b.readUInt16BE(14) - 1) return;
        frames[i]++;
        if (!firstFrameMs && i === 0) firstFrameMs = performance.now() - t0;
      };
      m.onControl = (t, body) => {
        if (t === "streamEnd" && i === 0 && parseBody<{ reason: string }>(body).reason === "finished") resolve();
      };
    });
  });
  const before = cpu();
  members[0].send({ t: "play", video: "sample.mp4", scope: "room" });
  await ended;
  const used = cpu() - before;
  return {
    label,
    viewers: members.length,
    cpuSeconds: +used.toFixed(3),
    firstFrameMs: +firstFrameMs.toFixed(1),
    minFrames: Math.min(...frames),
  };
}

const results = [];
for (const n of counts.length ? counts : [1, 50]) {
  const core = await startCoreProc({
    videos: join(ROOT, "videos"),
    cacheDir: mkdtempSync(join(tmpdir(), "sealroom-cost-")),
    limits: { maxMembersPerRoom: 1000 },
    ...(process.env.CORE_NODE_ARGS !== undefined
      ? { nodeArgs: process.env.CORE_NODE_ARGS.split(" ").filter(Boolean) }
      : {}),
  });
  try {
    const ids = await identities(n);
    const members = await joinMany({ transport: "tcp", host: core.host, port: core.port } as never, ids, "cost", "v");
    await sleep(1000);
    const idle0 = core.cpu();
    await sleep(2000);
    const idlePerSec = (core.cpu() - idle0) / 2;
    results.push({ ...(await play(members, "cold", () => core.cpu())), idleCpuPerSec: +idlePerSec.toFixed(3) });
    await sleep(500);
    results.push(await play(members, "warm", () => core.cpu()));
    for (const m of members) m.close();
  } finally {
    await core.stop();
  }
}
console.table(results);
console.log(JSON.stringify(results));
