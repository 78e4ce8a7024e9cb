// Server memory per idle member: a core process, then 1,000 and 2,000 members
// joined from this process (rooms of 10, RSA-2048 identities); RSS of the core
// read from /proc after each step settles. Run:
//   node --import tsx bench/idle-memory.ts [members=2000]
// CORE_NODE_ARGS="" compares with V8's default heap settings.

import { readFileSync } from "node:fs";
import { SERVER_NODE_FLAGS } from "../common/nodeFlags";
import { generateIdentity } from "../protocol/crypto";
import { join, type WirePeer } from "../tests/helpers/wire";
import { runSealroom } from "../tests/helpers/proc";

const total = Number(process.argv[2] ?? 2000);
const rssKiB = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, "utf8"))![1]);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

// As `bin/sealroom server` runs, unless CORE_NODE_ARGS says otherwise ("" for V8's defaults).
const nodeArgs =
  process.env.CORE_NODE_ARGS !== undefined
    ? process.env.CORE_NODE_ARGS.split(" ").filter(Boolean)
    : [...SERVER_NODE_FLAGS];
const core = runSealroom(
  ["server", "--port", "0", "--log-level", "warn", "--limit", "maxConnectionsPerAddress=100000"],
  { nodeArgs },
);
const port = Number((await core.waitFor(/listening on [^:]+:(\d+)/))[1]);
const pid = core.child.pid!;
const ids = await Promise.all(Array.from({ length: 10 }, () => generateIdentity({ extractable: true })));
await sleep(1500);
const steps: { members: number; rssKiB: number }[] = [{ members: 0, rssKiB: rssKiB(pid) }];
const peers: WirePeer[] = [];
for (let n = 0; n < total;) {
  const batch = [];
  for (let k = 0; k < 50 && n < total; k++, n++) {
    batch.push(
      join(port, { name: `m${n % 10}`, room: `room${Math.floor(n / 10)}`, id: ids[n % 10] }).then((m) =>
        peers.push(m.peer),
      ),
    );
  }
  await Promise.all(batch);
  if (n % 1000 === 0) {
    await sleep(3000);
    steps.push({ members: n, rssKiB: rssKiB(pid) });
  }
}
const keep = setInterval(() => peers.forEach((p) => p.send({ t: "ping", ts: 0 })), 15_000);
await sleep(5000);
steps.push({ members: total, rssKiB: rssKiB(pid) });
clearInterval(keep);
const first = steps[0];
const last = steps.at(-1)!;
const mid = steps.find((s) => s.members === total / 2) ?? first;
console.log(
  JSON.stringify({
    steps,
    perMemberKiB: (last.rssKiB - first.rssKiB) / total,
    marginalKiB: (last.rssKiB - mid.rssKiB) / (total - mid.members),
  }),
);
for (const p of peers) p.close();
core.child.kill("SIGTERM");
await core.exited;
