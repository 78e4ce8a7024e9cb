// `sealroom server --cluster URL --node NAME`: the flags, their one-line
// errors, and joining the cluster with the exit code for each refusal (a taken
// node name is a usage error, 2; NATS unreachable is 69), kept here so
// server/main.ts only wires them in.

import { UsageError } from "../../common/args";
import { EXIT } from "../../common/exit";
import { clusterLimits, DEFAULT_CLUSTER_LIMITS, isClusterLimit, type ClusterLimits } from "./limits";
import { NatsUnreachable, NODE_NAME_RE, openClusterNode, type ClusterNode, type ClusterNodeOptions } from "./node";
import { NodeNameTaken } from "./presence";
import type { StoreLimits } from "../store/limits";

export const CLUSTER_FLAGS = {
  cluster: { type: "string" },
  node: { type: "string" },
  "cluster-namespace": { type: "string" },
} as const;

export const CLUSTER_USAGE = `  --cluster URL       join a cluster: rooms span every core on this NATS JetStream (nats://host:4222,
                      a comma-separated list for a NATS cluster); without it the core runs alone, no NATS
  --node NAME         this core's name in the cluster (1-64 of A-Z a-z 0-9 _ -), unique while it is alive
  --cluster-namespace NS  separates clusters sharing one NATS (1-16 letters or digits; default main)
  --limit NAME=N      with --cluster also: ${Object.keys(DEFAULT_CLUSTER_LIMITS).join(", ")}
`;

export interface ClusterFlags {
  cluster?: string;
  node?: string;
  "cluster-namespace"?: string;
}

/** The cluster's share of --limit (other names are left to the core's and the store's parsers). */
export function parseClusterLimits(values: string[] | undefined): Partial<ClusterLimits> {
  const out: Partial<ClusterLimits> = {};
  for (const v of values ?? []) {
    const m = /^([A-Za-z]+)=(\d+)$/.exec(v);
    if (m && isClusterLimit(m[1])) out[m[1]] = Number(m[2]);
  }
  return out;
}

/** Null without --cluster; else the checked options. Throws UsageError with one line. */
export function clusterConfig(
  values: ClusterFlags,
  limitArgs: string[] | undefined,
): Omit<ClusterNodeOptions, "storeLimits"> | null {
  const limits = parseClusterLimits(limitArgs);
  if (values.cluster === undefined) {
    if (values.node !== undefined) throw new UsageError("--node goes with --cluster");
    if (values["cluster-namespace"] !== undefined) throw new UsageError("--cluster-namespace goes with --cluster");
    const names = Object.keys(limits);
    if (names.length) throw new UsageError(`--limit ${names[0]} goes with --cluster`);
    return null;
  }
  const urls = values.cluster.split(",").map((u) => u.trim());
  for (const u of urls) {
    if (!/^(nats|tls):\/\/[^\s/]+(:\d{1,5})?\/?$/.test(u))
      throw new UsageError(
        `--cluster must be a nats://HOST:PORT URL (or a comma-separated list), got '${values.cluster}'`,
      );
  }
  if (values.node === undefined) throw new UsageError("--cluster needs --node NAME (this core's name in the cluster)");
  if (!NODE_NAME_RE.test(values.node))
    throw new UsageError(`--node must be 1-64 letters, digits, _ or -, got '${values.node}'`);
  const ns = values["cluster-namespace"] ?? "main";
  if (!/^[A-Za-z0-9]{1,16}$/.test(ns))
    throw new UsageError(`--cluster-namespace must be 1-16 letters or digits, got '${ns}'`);
  try {
    clusterLimits(limits);
  } catch (e) {
    throw new UsageError(`--limit: ${(e as Error).message}`);
  }
  return { url: urls.join(","), node: values.node, namespace: ns, limits };
}

/** Joins the cluster, or says in one line why not and with which exit code. */
export async function joinCluster(
  cfg: Omit<ClusterNodeOptions, "storeLimits">,
  storeLimits: Partial<StoreLimits>,
): Promise<ClusterNode | { code: number; message: string }> {
  try {
    return await openClusterNode({ ...cfg, storeLimits });
  } catch (e) {
    if (e instanceof NodeNameTaken) return { code: EXIT.usage, message: e.message };
    if (e instanceof NatsUnreachable) return { code: EXIT.unavailable, message: e.message };
    return { code: EXIT.failure, message: `cannot join the cluster at ${cfg.url}: ${(e as Error).message}` };
  }
}
