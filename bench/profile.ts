// `node --import tsx bench/profile.ts [chat|video]`: one load level against a
// core started with --cpu-prof; prints the functions with the most self time.
// Used to check whether a missed target is the core's own CPU or not.

import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clip } from "./lib/clips";
import { identities } from "./lib/keys";
import { joinMany, keepAlive } from "./lib/member";
import { sleep } from "./lib/stats";
import { attachLogs, judge } from "./lib/viewers";
import { chat } from "./suites/chat";
import { startStack, warmCache } from "./suites/video";

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

function top(dir: string, n = 15): string[] {
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  if (!file) return ["no profile written"];
  const p = JSON.parse(readFileSync(join(dir, file), "utf8")) as Profile;
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const self = new Map<string, number>();
  let total = 0;
  p.samples.forEach((id, i) => {
    const nd = byId.get(id)!;
    const f = nd.callFrame;
    const key = `${f.functionName || "(anonymous)"} ${f.url.replace(/^.*\/work\/main\//, "")}:${f.lineNumber + 1}`;
    const dt = p.timeDeltas[i] ?? 0;
    self.set(key, (self.get(key) ?? 0) + dt);
    total += dt;
  });
  return [...self.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, n)
    .map(([k, v]) => `${((v / total) * 100).toFixed(1).padStart(5)}%  ${k}`);
}

const what = process.argv[2] ?? "video";
const prof = mkdtempSync(join(tmpdir(), "sealroom-prof-"));
if (what === "video") {
  const c = await clip(640, 360, 5);
  const stack = await startStack(c.dir, "tcp", { cpuProfDir: prof });
  const ids = await identities(300);
  const members = await joinMany(stack.target, ids, "p", "v");
  const stop = keepAlive(() => members);
  await warmCache(members[0], c);
  const { logs, streamEnded } = attachLogs(members, c.durationS * c.fps);
  members[0].send({ t: "play", video: c.id, scope: "room", fromMs: 0 });
  await streamEnded;
  await sleep(800);
  const v = judge(logs, c.durationS * c.fps);
  console.log(`300 viewers: ${v.viewersAt99} at >= 99%, min ${(v.minOnTime * 100).toFixed(1)}%`);
  stop();
  for (const m of members) m.close();
  await stack.stop();
} else {
  const empty = mkdtempSync(join(tmpdir(), "sealroom-prof-lib-"));
  await chat({
    members: 100,
    transport: "tcp",
    env: "sealed",
    rates: [50, 100],
    durationMs: 5000,
    reps: 1,
    videos: empty,
    log: console.log,
    cpuProfDir: prof,
  });
}
console.log(`core self time, top functions (${prof}):`);
for (const l of top(prof)) console.log(l);
process.exit(0);
