// `node --import tsx bench/cluster-party.ts [--viewers 60] [--seconds 10] [--width 640 --height 360]`
// Per-node CPU of one watch party shared by three cluster cores (N raw
// viewers spread over them, N/3 each, the party started on c0) next to a lone
// core with the same N viewers, in the same run: each core's own process (the
// fan-out, pacing, control) and its decoder (the ffmpeg children it runs),
// over the first `seconds` of the party, from /proc. Viewers are bench members
// (bench/lib/member.ts) that count whole frames. On this 2-core machine the
// three nodes, nats-server and the load generator share the CPUs, so the
// figures to plan with are per node (what a machine per node would each pay),
// not the sum or a capacity.

import { parseArgs } from "node:util";
import { startNats } from "../common/nats";
import { clip } from "./lib/clips";
import { identities } from "./lib/keys";
import { joinMany, parseBody, type Member } from "./lib/member";
import { treeCpu } from "./lib/procs";
import { cpuMsOf, sleep, spawnCore, stopProc, type Spawned } from "../tests/helpers/security-support";

const { values } = parseArgs({
  options: {
    viewers: { type: "string", default: "60" },
    seconds: { type: "string", default: "10" },
    width: { type: "string", default: "640" },
    height: { type: "string", default: "360" },
  },
});
const N = Number(values.viewers);
const SECONDS = Number(values.seconds);
const FPS = 30;

interface Usage {
  /** The core process itself, ms. */
  core: number;
  /** Its ffmpeg children (decoding), ms. */
  decode: number;
}

const usage = (p: Spawned): Usage => {
  const core = cpuMsOf(p.pid);
  return { core, decode: Math.round(treeCpu(p.pid) * 1000) - core };
};
const minus = (a: Usage, b: Usage): Usage => ({ core: a.core - b.core, decode: a.decode - b.decode });

/** Whole frames each viewer got (first chunk of each frame of its own stream's sid). */
function countFrames(members: Member[]): () => { counts: number[]; first: number[] } {
  const counts = members.map(() => 0);
  const first = members.map(() => -1);
  members.forEach((m, i) => {
    let sid = -1;
    m.onControl = (t, body) => {
      if (t === "stream") sid = parseBody<{ sid: number }>(body).sid;
    };
    m.onVideo = (b) => {
      if (b.readUInt32BE(0) !== sid || b.readUInt16BE(12) !== 0) return;
      counts[i]!++;
      if (first[i] === -1) first[i] = b.readUInt32BE(4);
    };
  });
  return () => ({ counts: [...counts], first: [...first] });
}

async function party(label: string, procs: Spawned[], ports: number[], room: string, videoId: string) {
  const ids = await identities(N);
  const members: Member[] = [];
  // spread: viewer i on ports[i % ports.length]
  for (let k = 0; k < ports.length; k++) {
    const mine = ids.filter((_, i) => i % ports.length === k);
    members.push(
      ...(await joinMany({ transport: "tcp", host: "127.0.0.1", port: ports[k] }, mine, room, `${label}${k}-`)),
    );
  }
  const frames = countFrames(members);
  await sleep(1_000); // joins settle (every joined goes to everyone)
  const idle0 = procs.map(usage);
  await sleep(SECONDS * 1000);
  const idle = procs.map((p, i) => minus(usage(p), idle0[i]!));
  const c0 = procs.map(usage);
  members[0]!.send({ t: "play", video: videoId, scope: "room" });
  await sleep(SECONDS * 1000);
  const cpu = procs.map((p, i) => minus(usage(p), c0[i]!));
  const got = frames();
  for (const m of members) m.close();
  return { cpu, idle, got };
}

// room size: the viewers plus a margin, above the default 256 when asked for more
const ROOM = ["--limit", `maxMembersPerRoom=${Math.max(256, N + 8)}`];
const c = await clip(Number(values.width), Number(values.height), Math.max(20, SECONDS + 10), FPS);
const nats = await startNats();
const single = await spawnCore(["--port", "0", "--store", "memory", "--videos", c.dir, ...ROOM]);
const cores: Spawned[] = [];
for (let i = 0; i < 3; i++)
  cores.push(
    await spawnCore([
      "--port",
      "0",
      "--videos",
      c.dir,
      "--cluster",
      nats.url,
      "--node",
      `v${i}`,
      "--cluster-namespace",
      `party${process.pid}`,
      ...ROOM,
    ]),
  );
try {
  const natsProc = { pid: nats.pid(), port: nats.port, proc: undefined as never };
  const one = await party("s", [single], [single.port], "bench-party-single", c.id);
  const three = await party(
    "c",
    [...cores, natsProc],
    cores.map((x) => x.port),
    "bench-party-cluster",
    c.id,
  );
  const perS = (ms: number) => (ms / SECONDS).toFixed(1);
  const expected = SECONDS * FPS;
  const frameShare = ({ counts, first }: { counts: number[]; first: number[] }) => {
    const s = [...counts].sort((a, b) => a - b);
    const f = [...first].sort((a, b) => a - b);
    return `${(s[0]! / expected).toFixed(2)} / ${(s[Math.floor(s.length / 2)]! / expected).toFixed(2)} (first frame index median ${f[Math.floor(f.length / 2)]}, max ${f.at(-1)})`;
  };
  console.log(
    `\none party, ${c.width}x${c.height}@${FPS}, ${N} viewers, the first ${SECONDS} s of the party; CPU in ms per s (party minus the idle ${SECONDS} s before it, idle in brackets); ratio = this node's party CPU / the lone core's:\n`,
  );
  console.log("| process | viewers there | core process | decoder (ffmpeg) | both | ratio to the lone core |");
  console.log("|---|---|---|---|---|---|");
  const base = one.cpu[0]!.core - one.idle[0]!.core + (one.cpu[0]!.decode - one.idle[0]!.decode);
  const row = (name: string, viewers: string, u: Usage, idle: Usage) => {
    const both = u.core - idle.core + (u.decode - idle.decode);
    console.log(
      `| ${name} | ${viewers} | ${perS(u.core - idle.core)} (${perS(idle.core)}) | ${perS(u.decode - idle.decode)} | ${perS(both)} | ${(both / base).toFixed(2)} |`,
    );
    return both;
  };
  row("lone core (memory store, no NATS)", String(N), one.cpu[0]!, one.idle[0]!);
  let sum = 0;
  for (let i = 0; i < 3; i++)
    sum += row(`cluster core v${i}${i === 0 ? " (started it)" : ""}`, String(N / 3), three.cpu[i]!, three.idle[i]!);
  row("nats-server", "-", three.cpu[3]!, three.idle[3]!);
  console.log(`| three cores together | ${N} | | | ${perS(sum)} | ${(sum / base).toFixed(2)} |`);
  console.log(
    `\nframes per viewer of the ${expected} due (min / median): lone core ${frameShare(one.got)}, cluster ${frameShare(three.got)}`,
  );
} finally {
  await stopProc(single);
  for (const x of cores) await stopProc(x);
  await nats.cleanup();
}
process.exit(0);
