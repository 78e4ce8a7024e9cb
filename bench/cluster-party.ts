// `node --import tsx bench/cluster-party.ts [--viewers 60] [--seconds 10] [--width 640 --height 360]`
// A CLI over the cluster suite's party part (bench/suites/cluster.ts, also in
// `npm run bench -- --only cluster`): per-node CPU of one watch party shared
// by three cluster cores (N raw viewers, N/3 each) next to a lone core with
// the same N viewers, in the same run, as ratios; the core process and its
// decoder apart. Per-node costs, not capacity: here the nodes share the CPUs.

import { parseArgs } from "node:util";
import { clusterParty, natsCheck, partyClip, startRig } from "./suites/cluster";
import { partyTables } from "./suites/clusterTables";

const { values } = parseArgs({
  options: {
    viewers: { type: "string", default: "60" },
    seconds: { type: "string", default: "10" },
    width: { type: "string", default: "640" },
    height: { type: "string", default: "360" },
  },
});
const nc = natsCheck();
if (!nc.ok) {
  console.error(nc.reason);
  process.exit(69);
}
const viewers = Number(values.viewers);
const seconds = Number(values.seconds);
const c = await partyClip(seconds, Number(values.width), Number(values.height));
// room size: the viewers plus a margin, above the default 256 when asked for more
const rig = await startRig({ videos: c.dir, limits: { maxMembersPerRoom: Math.max(256, viewers + 8) } });
try {
  const log = (s: string) => process.stdout.write(s + "\n");
  const r = await clusterParty(rig, {
    viewers,
    seconds,
    videoId: c.id,
    clipName: `${c.width}x${c.height}@${c.fps}`,
    log,
  });
  log("\n" + partyTables(r).join("\n"));
} finally {
  await rig.stop();
}
process.exit(0);
