// One core's membership of a cluster (`sealroom server --cluster URL --node
// NAME`): opens the NATS link, claims the node name in presence (refused with
// NodeNameTaken while a live core holds it), then the JetStream room store and
// the cross-core bus, in that order, so a refused name touches nothing. close()
// undoes it in reverse: members away at once, the name free, the link closed.

import { openLink, type NatsLink } from "./link";
import { Presence } from "./presence";
import { Bus } from "./bus";
import { JetStreamStore } from "./jetstreamStore";
import { clusterLimits, type ClusterLimits } from "./limits";
import type { StoreLimits } from "../store/limits";

export interface ClusterNodeOptions {
  /** nats://host:port (a comma-separated list for a NATS cluster). */
  url: string;
  node: string;
  /** Separates clusters sharing one NATS: [A-Za-z0-9]{1,16}; default "main". */
  namespace?: string;
  /** Stream and bucket replicas: 1 on one nats-server, 3 on a NATS cluster. */
  replicas?: number;
  limits?: Partial<ClusterLimits>;
  storeLimits?: Partial<StoreLimits>;
}

export interface ClusterNode {
  readonly node: string;
  readonly limits: ClusterLimits;
  readonly link: NatsLink;
  readonly presence: Presence;
  readonly store: JetStreamStore;
  readonly bus: Bus;
  /** Clean stop (idempotent). The store is closed by whoever holds it as its RoomStore (the core), or here with `store: true`. */
  close(opts?: { store?: boolean }): Promise<void>;
}

/** Thrown when NATS cannot be reached at start (the core exits 69). */
export class NatsUnreachable extends Error {
  override name = "NatsUnreachable";
}

export const NODE_NAME_RE = /^[A-Za-z0-9_-]{1,64}$/;

export async function openClusterNode(opts: ClusterNodeOptions): Promise<ClusterNode> {
  if (!NODE_NAME_RE.test(opts.node)) throw new RangeError("--node must be 1-64 letters, digits, _ or -");
  const limits = clusterLimits(opts.limits);
  const servers = opts.url.split(",").map((s) => s.trim());
  let link: NatsLink;
  try {
    link = await openLink({ servers, name: `sealroom-${opts.node}`, limits });
  } catch (e) {
    throw new NatsUnreachable(`cannot reach NATS at ${opts.url}: ${(e as Error).message}`);
  }
  const ns = opts.namespace ?? "main";
  const replicas = opts.replicas ?? 1;
  let presence: Presence;
  try {
    presence = await Presence.start({ nc: link.nc, node: opts.node, namespace: ns, replicas, limits });
  } catch (e) {
    await link.close().catch(() => {});
    throw e;
  }
  let bus: Bus;
  let store: JetStreamStore;
  try {
    store = new JetStreamStore({
      nc: link.nc,
      namespace: ns,
      replicas,
      duplicateWindowMs: limits.duplicateWindowMs,
      ...(opts.storeLimits ? { limits: opts.storeLimits } : {}),
    });
    bus = await Bus.start({ nc: link.nc, node: opts.node, namespace: ns, replicas });
  } catch (e) {
    await presence.close().catch(() => {});
    await link.close().catch(() => {});
    throw e;
  }
  let closing: Promise<void> | null = null;
  return {
    node: opts.node,
    limits,
    link,
    presence,
    store,
    bus,
    close(o = {}) {
      closing ??= (async () => {
        bus.close();
        await presence.close().catch(() => {});
        if (o.store) await store.close().catch(() => {});
        await link.close().catch(() => {});
      })();
      return closing;
    },
  };
}
