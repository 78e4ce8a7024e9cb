// `node --import tsx bench/profile.ts [chat|video|audio|silent] [viewers]`: one load level against a
// core started with --cpu-prof; prints the functions with the most self time
// (and, for audio/silent, the inclusive time of the fan-out path).
// Used to check whether a missed target is the core's own CPU or not.

import { mkdtempSync, readdirSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { clip } from "./lib/clips";
import { identities } from "./lib/keys";
import { joinMany, keepAlive } from "./lib/member";
import { sleep } from "./lib/stats";
import { attachLogs, judge } from "./lib/viewers";
import { soundClip } from "./suites/audio";
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

function load(dir: string): Profile | null {
  const file = readdirSync(dir).find((f) => f.endsWith(".cpuprofile"));
  return file ? (JSON.parse(readFileSync(join(dir, file), "utf8")) as Profile) : null;
}

/** Inclusive time (ms) of each function ("name file.ts"): samples with it anywhere on the stack. */
function inclusive(dir: string, names: readonly string[]): string[] {
  const p = load(dir) as (Profile & { nodes: (Node & { children?: number[] })[] }) | null;
  if (!p) return ["no profile written"];
  const parent = new Map<number, number>();
  for (const nd of p.nodes) for (const c of nd.children ?? []) parent.set(c, nd.id);
  const byId = new Map(p.nodes.map((x) => [x.id, x]));
  const ms = new Map<string, number>(names.map((n) => [n, 0]));
  let total = 0;
  p.samples.forEach((id, i) => {
    const dt = (p.timeDeltas[i] ?? 0) / 1000;
    total += dt;
    const seen = new Set<string>();
    for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
      const f = byId.get(cur)!.callFrame;
      const fn = `${f.functionName} ${f.url.replace(/^.*\//, "")}`;
      if (ms.has(fn) && !seen.has(fn)) {
        seen.add(fn);
        ms.set(fn, ms.get(fn)! + dt);
      }
    }
  });
  return names
    .map((n) => `${ms.get(n)!.toFixed(0).padStart(7)} ms  ${n}`)
    .concat([`${total.toFixed(0).padStart(7)} ms  (profile)`]);
}

function top(dir: string, n = 15): string[] {
  const p = load(dir);
  if (!p) return ["no profile written"];
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
} else if (what === "audio" || what === "silent") {
  // One room stream of a clip with sound to n viewers, with ("audio") or without the audio cap.
  const n = Number(process.argv[3] ?? 300);
  const c = await soundClip(640, 360, 5);
  const stack = await startStack(c.dir, "tcp", { cpuProfDir: prof });
  const ids = await identities(n);
  const caps = what === "audio" ? ["audio", "clock"] : undefined;
  const members = await joinMany(stack.target, ids, "p", "v", 16, 0, undefined, caps);
  const stop = keepAlive(() => members);
  await warmCache(members[0]!, c);
  const { logs, streamEnded } = attachLogs(members, c.durationS * c.fps);
  const c0 = stack.core.cpu();
  const t0 = performance.now();
  members[0]!.send({ t: "play", video: c.id, scope: "room", fromMs: 0 });
  await streamEnded;
  const cpu = (stack.core.cpu() - c0) / ((performance.now() - t0) / 1000);
  await sleep(800);
  const v = judge(logs, c.durationS * c.fps);
  console.log(
    `${n} viewers ${what}: ${v.viewersAt99} at >= 99%, min ${(v.minOnTime * 100).toFixed(1)}%, core ${(cpu * 100).toFixed(1)}% CPU`,
  );
  stop();
  for (const m of members) m.close();
  await stack.stop();
  console.log("inclusive:");
  for (const l of inclusive(prof, [
    "fanOut streamManager.ts",
    "tick audioFanout.ts",
    "pump audioFanout.ts",
    "offerAudio outbox.ts",
    "offerVideo outbox.ts",
    "pump outbox.ts",
    "deferredPump outbox.ts",
    "uncork stream_duplex.js",
    "writevGeneric stream_base_commons.js",
    "writeGeneric stream_base_commons.js",
    "onData connection.ts",
    "processTimers timers.js",
    "processTicksAndRejections task_queues.js",
  ]))
    console.log(l);
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
