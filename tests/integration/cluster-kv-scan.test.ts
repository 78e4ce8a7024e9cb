// The cluster's KV listings (room members, members online in a room, a
// sender's receipts) finish promptly and complete while a key they list is
// written at the same moment, on a real nats-server. KV keys() and history()
// waited 30 s there (nats-server 2.9 miscounts the consumer's pending), which
// stalled a hello loading a room past the client's handshake timeout
// (durable-receipts "alice resumed again" timed out 3 times in 40 loaded runs).

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { openClusterNode, type ClusterNode } from "../../server/cluster/node";
import type { MemberRecord } from "../../server/store/roomStore";
import { natsServerInstalled, startNats, type NatsServer } from "../helpers/nats";

const id = (s: string) => s.padEnd(22, "x").slice(0, 22);
const IDS = [id("alice"), id("bob"), id("carol")];
const record = (who: string, seen: number): MemberRecord => ({
  id: who,
  name: who.slice(0, 5),
  encKey: "e",
  sigKey: "s",
  encKeySig: "k",
  joinedAt: 1,
  lastSeen: seen,
});
const env = JSON.stringify({ alg: "RSA-OAEP-256+A256GCM", iv: "AAAAAAAAAAAAAAAA", ct: "ct", keys: {}, sig: "c2ln" });

/** Rounds of a listing raced by one write: with keys() a third or so hung 30 s, so 30 rounds all but surely hit it. */
const ROUNDS = 30;
/** Each listing on a loaded 2-core machine: tens of ms; the defect is 30 000 ms. */
const BOUND_MS = 5_000;

/** Runs `list` while `write` lands 0-4 ms into it; fails on the first round slower than BOUND_MS. */
async function raced<T>(
  rounds: number,
  write: (i: number) => Promise<unknown>,
  list: () => Promise<T>,
  check: (r: T) => void,
) {
  let slowest = 0;
  for (let i = 0; i < rounds; i++) {
    const w = (async () => {
      await new Promise((r) => setTimeout(r, Math.random() * 4));
      await write(i);
    })();
    const t0 = Date.now();
    let timer: NodeJS.Timeout | undefined;
    const got = await Promise.race([
      list(),
      new Promise<"slow">((r) => (timer = setTimeout(() => r("slow"), BOUND_MS))),
    ]);
    clearTimeout(timer);
    await w;
    if (got === "slow")
      throw new Error(`round ${i}: the listing took over ${BOUND_MS} ms while a key it lists was written`);
    slowest = Math.max(slowest, Date.now() - t0);
    check(got);
  }
  return slowest;
}

describe.runIf(natsServerInstalled() || process.env.CI)(
  "cluster KV listings raced by a write",
  { timeout: 60_000 },
  () => {
    let nats: NatsServer;
    let node: ClusterNode;
    beforeAll(async () => {
      nats = await startNats();
      node = await openClusterNode({ url: nats.url, node: "kvscan", namespace: `kv${process.pid % 10_000}` });
    });
    afterAll(async () => {
      await node?.close({ store: true });
      await nats?.cleanup();
    });

    it("the room's member records: every member, promptly, while one record is refreshed", async () => {
      const s = node.store;
      const now = Date.now();
      for (const m of IDS) await s.putMember("kvroom", record(m, now));
      const slowest = await raced(
        ROUNDS,
        (i) => s.putMember("kvroom", record(IDS[0], now + i + 1)),
        () => s.members("kvroom"),
        (got) => expect(got.map((m) => m.id).sort()).toEqual([...IDS].sort()),
      );
      console.log(`members() raced by a put, ${ROUNDS} rounds: slowest ${slowest} ms`);
    });

    it("members online in a room: every one, promptly, while one's presence is written again", async () => {
      const p = node.presence;
      for (const m of IDS) await p.online("kvroom", m);
      const slowest = await raced(
        ROUNDS,
        () => p.online("kvroom", IDS[1]),
        () => p.onlineIn("kvroom"),
        (got) => expect(got.map((o) => o.id).sort()).toEqual([...IDS].sort()),
      );
      console.log(`onlineIn() raced by a put, ${ROUNDS} rounds: slowest ${slowest} ms`);
    });

    it("a sender's receipts on resume: every untold count, promptly, while one of them grows", async () => {
      const s = node.store;
      const [alice, bob, carol] = IDS;
      const seqs: number[] = [];
      // each opened by bob (1 of 2); round i adds carol's receipt to entry 2 + i
      // and raises what alice was told of entry 1: a key of each bucket rewritten
      for (let i = 0; i < ROUNDS + 2; i++) {
        const { seq } = await s.append("kvrx", { from: alice, mid: `m${i}`, to: [bob, carol], env, at: Date.now() });
        seqs.push(seq);
        await s.markDelivered("kvrx", seq, bob);
      }
      await s.markTold("kvrx", alice, seqs[1], 1); // told: left out
      const slowest = await raced(
        ROUNDS,
        (i) => Promise.all([s.markDelivered("kvrx", seqs[2 + i], carol), s.markTold("kvrx", alice, seqs[1], i + 2)]),
        () => s.receiptsFor("kvrx", alice, 100),
        (got) => {
          expect(got.map((n) => n.seq)).toEqual([seqs[0], ...seqs.slice(2)]);
          expect(got[0]).toEqual({ seq: seqs[0], mid: "m0", delivered: 1, recipients: 2 });
        },
      );
      console.log(`receiptsFor() raced by a receipt, ${ROUNDS} rounds: slowest ${slowest} ms`);
    });
  },
);
