// `node --import tsx bench/cluster-store.ts [--rate 1000] [--seconds 3] [--resume 10000] [--cross 2000]`
// A CLI over the cluster suite's room-log part (bench/suites/cluster.ts, also
// in `npm run bench -- --only cluster`): append latency (p50/p99) at a steady
// rate for the memory, SQLite and JetStream room stores in one run (ratios to
// memory), CPU of this process and of nats-server per 1,000 appends, a resume
// of missed entries from JetStream, and cross-core notify latency.

import { parseArgs } from "node:util";
import { startNats } from "../common/nats";
import { clusterStore, natsCheck } from "./suites/cluster";
import { storeTables } from "./suites/clusterTables";

const { values } = parseArgs({
  options: {
    rate: { type: "string", default: "1000" },
    seconds: { type: "string", default: "3" },
    resume: { type: "string", default: "10000" },
    cross: { type: "string", default: "2000" },
  },
});
const nc = natsCheck();
if (!nc.ok) {
  console.error(nc.reason);
  process.exit(69);
}
const nats = await startNats();
try {
  const log = (s: string) => process.stdout.write(s + "\n");
  const r = await clusterStore(nats, {
    rate: Number(values.rate),
    seconds: Number(values.seconds),
    resume: Number(values.resume),
    crossSamples: Number(values.cross),
    log,
  });
  log("\n" + storeTables(r).join("\n"));
} finally {
  await nats.cleanup();
}
process.exit(0);
