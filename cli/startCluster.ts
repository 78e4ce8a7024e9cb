// `sealroom start --cluster N`: a local demo cluster: nats-server with
// JetStream (the same code the cluster tests use, common/nats.ts; a clear
// error naming the package when it is missing), then N cores joined to it as
// nodes core1..coreN on consecutive ports. The bridge is started by start.ts
// with all N cores in its --core list.

import { join } from "node:path";
import { startNats, type NatsServer } from "../common/nats";
import { UsageError } from "../common/args";

export const MAX_DEMO_CORES = 9;

export function parseClusterCount(value: string | undefined): number | null {
  if (value === undefined) return null;
  if (!/^\d{1,2}$/.test(value) || Number(value) < 1 || Number(value) > MAX_DEMO_CORES) {
    throw new UsageError(`--cluster must be a number of cores from 1 to ${MAX_DEMO_CORES}, got '${value}'`);
  }
  return Number(value);
}

/** nats-server for the demo, its JetStream store kept in <dataDir>/nats so the rooms survive a restart. */
export function startDemoNats(dataDir: string): Promise<NatsServer> {
  return startNats({ dir: join(dataDir, "nats") });
}

/** The `sealroom server` arguments of demo core i (0-based): its port (0 stays 0: each picks a free one) and node name. */
export function demoCoreArgs(i: number, corePort: number, natsUrl: string): string[] {
  return ["--port", String(corePort === 0 ? 0 : corePort + i), "--cluster", natsUrl, "--node", `core${i + 1}`];
}
