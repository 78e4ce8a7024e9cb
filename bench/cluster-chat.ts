// `node --import tsx bench/cluster-chat.ts [--rate 20] [--seconds 10] [--receivers 9]`
// A CLI over the cluster suite's chat part (bench/suites/cluster.ts, also in
// `npm run bench -- --only cluster`): chat latency from 1 sender to the
// receivers through a lone core and through 1, 2 and 3 cores of a cluster on
// JetStream in one run (ratios to the lone core), and each node's CPU per
// message; prints the markdown tables docs/benchmarks.md shows.

import { parseArgs } from "node:util";
import { clusterChat, natsCheck, startRig } from "./suites/cluster";
import { chatTables } from "./suites/clusterTables";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "20" },
    seconds: { type: "string", default: "10" },
    receivers: { type: "string", default: "9" },
  },
});
const nc = natsCheck();
if (!nc.ok) {
  console.error(nc.reason);
  process.exit(69);
}
const videos = mkdtempSync(join(tmpdir(), "sealroom-bench-empty-"));
const rig = await startRig({ videos });
try {
  const log = (s: string) => process.stdout.write(s + "\n");
  const r = await clusterChat(rig, {
    rate: Number(values.rate),
    seconds: Number(values.seconds),
    receivers: Number(values.receivers),
    log,
  });
  log("\n" + chatTables(r).join("\n"));
} finally {
  await rig.stop();
  rmSync(videos, { recursive: true, force: true });
}
process.exit(0);
