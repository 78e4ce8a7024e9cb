// The cluster suite (issue 15, Performance; `npm run bench -- --only cluster`):
// chat latency through a lone core and through 1, 2 and 3 cores of a cluster
// on one nats-server in the same run (members spread over the cores), the
// JetStream room log's append cost beside the memory and SQLite stores, and
// the per-node CPU of one watch party over three cores against a lone core
// with the same viewers (clusterRig, clusterChat, clusterStore, clusterParty;
// clusterTables renders them). bench/cluster-{chat,store,party}.ts are CLIs
// over these functions. On this 2-core machine the nodes, nats-server and the
// load generator share the CPUs, so the figures are per-node costs, not capacity.

import { clusterChat, type ClusterChat } from "./clusterChat";
import { clusterParty, partyClip, type ClusterParty } from "./clusterParty";
import { natsCheck, startRig } from "./clusterRig";
import { clusterStore, type ClusterStore } from "./clusterStore";

export { natsCheck, startRig, type Rig } from "./clusterRig";
export { clusterChat, type ChatRow, type ClusterChat, type NodeCpu } from "./clusterChat";
export { clusterStore, type ClusterStore, type StoreRow } from "./clusterStore";
export { clusterParty, partyClip, type ClusterParty, type FrameShare, type PartyNode } from "./clusterParty";

export interface ClusterResult {
  /** Set when the suite did not run (nats-server missing); the rest is then absent. */
  skipped?: string;
  natsServer?: string;
  chat?: ClusterChat;
  store?: ClusterStore;
  party?: ClusterParty;
}

export interface ClusterParams {
  chat: { rate: number; seconds: number; receivers: number };
  store: { rate: number; seconds: number; resume: number; crossSamples: number };
  party: { viewers: number; seconds: number };
}

/** The whole suite on one rig; skipped with its reason when nats-server is not installed. */
export async function cluster(p: ClusterParams & { log: (s: string) => void }): Promise<ClusterResult> {
  const nc = natsCheck();
  if (!nc.ok) {
    const skipped = `cluster suite skipped: ${nc.reason}`;
    p.log(`    ${skipped}`);
    return { skipped };
  }
  const c = await partyClip(p.party.seconds);
  const rig = await startRig({ videos: c.dir, limits: { maxMembersPerRoom: Math.max(256, p.party.viewers + 8) } });
  try {
    p.log(`    chat, ${p.chat.rate} msg/s for ${p.chat.seconds} s, 1 sender -> ${p.chat.receivers} receivers`);
    const chat = await clusterChat(rig, { ...p.chat, log: p.log });
    p.log(`    room log appends at ${p.store.rate}/s for ${p.store.seconds} s`);
    const store = await clusterStore(rig.nats, { ...p.store, log: p.log });
    p.log(`    one party, ${c.width}x${c.height}@${c.fps}, ${p.party.viewers} viewers, ${p.party.seconds} s`);
    const party = await clusterParty(rig, {
      ...p.party,
      videoId: c.id,
      clipName: `${c.width}x${c.height}@${c.fps}`,
      log: p.log,
    });
    return { natsServer: nc.bin, chat, store, party };
  } finally {
    await rig.stop();
  }
}
