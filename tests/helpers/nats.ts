// The cluster tests' nats-server: the same code `sealroom start --cluster`
// uses (common/nats.ts), a fresh temp store dir and a free loopback port each;
// and cores clustered on it.

import { findNatsServer, startNats as start, type NatsServer } from "../../common/nats";
import { openClusterNode, type ClusterNode } from "../../server/cluster/node";
import type { CoreOptions, CoreServer } from "../../server/server";
import { startCore } from "./core";

export type { NatsServer } from "../../common/nats";

export const NATS_SERVER = findNatsServer() ?? "/usr/sbin/nats-server";

export function natsServerInstalled(): boolean {
  return findNatsServer() !== null;
}

/** Starts nats-server -js on a free port in a temp dir; throws naming the package when it is not installed. */
export function startNats(): Promise<NatsServer> {
  return start();
}

/**
 * Cores of one cluster on a real nats-server, in this process: each its own
 * node (`${ns}${name}`) and JetStream store in namespace ns, with short
 * presence timings; `core` gives each core's other options (limits, a logger).
 */
export async function clusterCores(
  natsUrl: string,
  ns: string,
  names: readonly string[],
  core: (name: string) => Omit<CoreOptions, "cluster" | "store"> = () => ({}),
): Promise<{ cores: CoreServer[]; nodes: ClusterNode[] }> {
  const out = { cores: [] as CoreServer[], nodes: [] as ClusterNode[] };
  for (const name of names) {
    const node = await openClusterNode({
      url: natsUrl,
      node: `${ns}${name}`,
      namespace: ns,
      limits: { presenceTtlMs: 4_000, presenceHeartbeatMs: 1_000 },
    });
    out.nodes.push(node);
    out.cores.push(await startCore({ ...core(name), cluster: node, store: node.store }));
  }
  return out;
}
