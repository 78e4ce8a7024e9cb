// What the modules of the JetStream room store share: its clients, buckets, limits, clock and write tracking.

import type { NatsConnection } from "@nats-io/transport-node";
import { StorageType, type JetStreamClient, type JetStreamManager } from "@nats-io/jetstream";
import { Kvm, type KV } from "@nats-io/kv";
import type { StoreLimits } from "../../store/limits";
import { bucketName } from "./layout";

/** The KV buckets of the layout (layout.ts), opened once per store. */
export interface Buckets {
  mids: KV;
  receipts: KV;
  told: KV;
  members: KV;
  streams: KV;
  logs: KV;
  vks: KV;
}

/** Handed by the facade (jetstreamStore.ts) to each module, so none opens its own clients. */
export interface JsParts {
  readonly limits: StoreLimits;
  readonly now: () => number;
  readonly namespace: string;
  /** Stream and bucket replicas. */
  readonly replicas: number;
  /** JetStream's duplicate window of each room stream, already capped by retentionAgeMs. */
  readonly dupWindowMs: number;
  readonly js: JetStreamClient;
  readonly jsm: Promise<JetStreamManager>;
  readonly kv: Promise<Buckets>;
  /** A write the operation does not wait for: close() still does. */
  track(p: Promise<unknown>): void;
}

/** Creates the buckets (or opens those another core made); the per-message ones expire with the log's age limit. */
export async function openBuckets(nc: NatsConnection, ns: string, replicas: number, ageMs: number): Promise<Buckets> {
  const kvm = new Kvm(nc);
  const opt = { history: 1, replicas, storage: StorageType.File };
  const [mids, receipts, told, members, streams, logs, vks] = await Promise.all([
    kvm.create(bucketName(ns, "mids"), { ...opt, ttl: ageMs }),
    kvm.create(bucketName(ns, "receipts"), { ...opt, ttl: ageMs }),
    kvm.create(bucketName(ns, "told"), { ...opt, ttl: ageMs }),
    kvm.create(bucketName(ns, "members"), opt),
    kvm.create(bucketName(ns, "streams"), opt),
    kvm.create(bucketName(ns, "logs"), opt),
    kvm.create(bucketName(ns, "vks"), opt),
  ]);
  return { mids, receipts, told, members, streams, logs, vks };
}
