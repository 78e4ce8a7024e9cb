// The cluster's named limits (`--limit NAME=N` with --cluster; docs/security.md):
// NATS link health, presence TTL and heartbeat, JetStream's duplicate window,
// how many sends of one connection may wait on a PubAck at once, and the
// lead a shared party's play or seek is anchored ahead by.

import { DEFAULT_LINK_LIMITS } from "./link";
import { DEFAULT_PRESENCE_LIMITS } from "./presence";

export const DEFAULT_CLUSTER_LIMITS = {
  ...DEFAULT_LINK_LIMITS,
  ...DEFAULT_PRESENCE_LIMITS,
  /** JetStream's Msg-Id window (capped by retentionAgeMs); older repeats are caught by the mids bucket. */
  duplicateWindowMs: 120_000,
  /** Sends of one connection waiting for JetStream's PubAck at once; past it a send gets store_failed (no ack; the client sends it again). */
  clusterAckPending: 64,
  /** A room play, seek or resume is anchored this far ahead, so every core's decoder has started when the party moves (server/cluster/sharedStream.ts). */
  partyLeadMs: 200,
};
export type ClusterLimits = typeof DEFAULT_CLUSTER_LIMITS;

export function isClusterLimit(name: string): name is keyof ClusterLimits {
  return Object.hasOwn(DEFAULT_CLUSTER_LIMITS, name);
}

/** Defaults with overrides, checked: whole numbers >= 1, TTL >= 2 x heartbeat (>= 100 ms), probe < cutoff. */
export function clusterLimits(over: Partial<ClusterLimits> = {}): ClusterLimits {
  const l = { ...DEFAULT_CLUSTER_LIMITS, ...over };
  for (const [k, v] of Object.entries(l))
    if (!Number.isSafeInteger(v) || v < 1) throw new RangeError(`${k} must be a whole number >= 1, got ${v}`);
  if (l.presenceHeartbeatMs < 100)
    throw new RangeError(`presenceHeartbeatMs must be at least 100, got ${l.presenceHeartbeatMs}`);
  if (l.presenceTtlMs < 2 * l.presenceHeartbeatMs)
    throw new RangeError(
      `presenceTtlMs (${l.presenceTtlMs}) must be at least twice presenceHeartbeatMs (${l.presenceHeartbeatMs})`,
    );
  if (l.natsProbeMs >= l.natsCutoffMs)
    throw new RangeError(`natsProbeMs (${l.natsProbeMs}) must be below natsCutoffMs (${l.natsCutoffMs})`);
  return l;
}
