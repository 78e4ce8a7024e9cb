// One contract, three drivers: the same suite runs against the memory store, a
// real SQLite file in a temp dir and a real nats-server with JetStream
// (server/store/roomStore.ts, server/cluster/jetstreamStore.ts); the durable
// cases (reopen, kill -9 mid-write) run against SQLite and JetStream (whose
// kill -9 cases live in tests/integration/cluster-faults.test.ts).

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { NatsConnection } from "@nats-io/transport-node";
import { connect } from "@nats-io/transport-node";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { JetStreamStore, roomToken } from "../../server/cluster/jetstreamStore";
import type { StoreLimits } from "../../server/store/limits";
import { MemoryStore } from "../../server/store/memoryStore";
import {
  entryBytes,
  resumeCheck,
  StoreError,
  type AppendEntry,
  type MemberRecord,
  type RoomStore,
} from "../../server/store/roomStore";
import { SqliteStore } from "../../server/store/sqliteStore";
import { natsServerInstalled, startNats, type NatsServer } from "../helpers/nats";
import { ackedThenKilled } from "../helpers/killedWriter";

const id = (s: string) => s.padEnd(22, "x").slice(0, 22);
const A = id("alice");
const B = id("bob");
const C = id("carol");
const D = id("dave");
const env = (n: number | string) =>
  JSON.stringify({ alg: "RSA-OAEP-256+A256GCM", iv: "AAAAAAAAAAAAAAAA", ct: `ct-${n}`, keys: {}, sig: "c2ln" });
/** A v2 room's verification key as a hello carries it: 32 bytes, base64. */
const vkOf = (n: number) => Buffer.alloc(32, n).toString("base64");
const entry = (mid: string, to: string[] = [B, C], at = 1_000, from = A): AppendEntry => ({
  from,
  mid,
  to,
  env: env(mid),
  at,
});

interface Clock {
  t: number;
}
interface Driver {
  name: string;
  durable: boolean;
  /** Has its own kill -9 test elsewhere (the SQLite one spawns a writer on a dir). */
  killTest?: boolean;
  /** What one entry counts against retentionBytes in this driver (JetStream: its stored size, see jetstreamStore.ts). */
  sizeOf?: (s: RoomStore, room: string, e: AppendEntry) => Promise<number>;
  open(dir: string, limits?: Partial<StoreLimits>, clock?: Clock): RoomStore;
}
const drivers: Driver[] = [
  {
    name: "memory",
    durable: false,
    open: (_d, limits, clock) => new MemoryStore({ limits, now: clock ? () => clock.t : () => 10_000 }),
  },
  {
    name: "sqlite",
    durable: true,
    killTest: true,
    open: (d, limits, clock) => new SqliteStore(d, { limits, now: clock ? () => clock.t : () => 10_000 }),
  },
];

// JetStream: one real nats-server for the file; each temp dir is a namespace of its own
let nats: NatsServer | null = null;
let nc: NatsConnection | null = null;
if (natsServerInstalled() || process.env.CI) {
  drivers.push({
    name: "jetstream",
    durable: true,
    sizeOf: async (s, room, e) => {
      await s.append(room, e);
      return (s as JetStreamStore).logBytes(room);
    },
    open: (d, limits, clock) =>
      new JetStreamStore({
        nc: nc!,
        namespace: d.slice(-6).replace(/[^A-Za-z0-9]/g, "0"),
        limits,
        now: clock ? () => clock.t : () => 10_000,
      }),
  });
  beforeAll(async () => {
    nats = await startNats();
    nc = await connect({ servers: nats.url });
  });
}

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
  await nc?.close();
  await nats?.cleanup();
});

describe.each(drivers)("room store contract: $name", (driver) => {
  let open: RoomStore[] = [];
  let dir = "";
  const make = (limits?: Partial<StoreLimits>, clock?: Clock) => {
    const s = driver.open(dir, limits, clock);
    open.push(s);
    return s;
  };
  const fresh = (limits?: Partial<StoreLimits>, clock?: Clock) => {
    dir = mkdtempSync(join(tmpdir(), "sealroom-store-"));
    dirs.push(dir);
    return make(limits, clock);
  };
  const reopen = async (s: RoomStore, limits?: Partial<StoreLimits>, clock?: Clock) => {
    await s.close();
    return make(limits, clock);
  };
  afterEach(async () => {
    for (const s of open) await s.close();
    open = [];
  });

  it("gives seqs 1, 2, 3... per room and returns the envelope bytes exactly", async () => {
    const s = fresh();
    const weird = JSON.stringify({ ct: 'é ✓ \u2028 "q" \\', keys: { [B]: "x" }, extra: [1, { y: null }] });
    expect(await s.append("r1", entry("a"))).toEqual({ seq: 1, duplicate: false });
    expect(await s.append("r1", { ...entry("b"), env: weird })).toEqual({ seq: 2, duplicate: false });
    expect(await s.append("r2", entry("a"))).toEqual({ seq: 1, duplicate: false });
    const seqs = await Promise.all(["c", "d", "e"].map((m) => s.append("r1", entry(m))));
    expect(seqs.map((r) => r.seq)).toEqual([3, 4, 5]);
    const got = await s.readAfter("r1", B, 0, 100);
    expect(got.map((e) => [e.seq, e.mid])).toEqual([
      [1, "a"],
      [2, "b"],
      [3, "c"],
      [4, "d"],
      [5, "e"],
    ]);
    expect(got[1]).toEqual({ seq: 2, from: A, mid: "b", to: [B, C], env: weird, at: 1_000 });
    expect(await s.seqRange("r1")).toEqual({ oldest: 1, last: 5 });
    expect(await s.seqRange("nobody")).toEqual({ oldest: 1, last: 0 });
  });

  it("answers a repeated (room, from, mid) with the original seq, also within one batch", async () => {
    const s = fresh();
    await s.append("r", entry("m1"));
    expect(await s.append("r", { ...entry("m1"), env: env("other") })).toEqual({ seq: 1, duplicate: true });
    expect(await s.append("r", entry("m1", [B], 1_000, B))).toEqual({ seq: 2, duplicate: false }); // another sender
    expect(await s.append("r2", entry("m1"))).toEqual({ seq: 1, duplicate: false }); // another room
    const both = await Promise.all([s.append("r", entry("m2")), s.append("r", entry("m2"))]);
    expect(both).toEqual([
      { seq: 3, duplicate: false },
      { seq: 3, duplicate: true },
    ]);
    expect((await s.readAfter("r", B, 0, 10)).map((e) => e.env)).toEqual([env("m1"), env("m1"), env("m2")]);
  });

  it("reads after a cursor, in pages of at most limit and maxReadBatch", async () => {
    const s = fresh({ maxReadBatch: 4 });
    for (let i = 1; i <= 10; i++) await s.append("r", entry(`m${i}`));
    expect((await s.readAfter("r", B, 0, 2)).map((e) => e.seq)).toEqual([1, 2]);
    expect((await s.readAfter("r", B, 2, 100)).map((e) => e.seq)).toEqual([3, 4, 5, 6]);
    expect((await s.readAfter("r", B, 8, 100)).map((e) => e.seq)).toEqual([9, 10]);
    expect(await s.readAfter("r", B, 10, 100)).toEqual([]);
    expect(await s.readAfter("r", B, 3, 0)).toEqual([]);
  });

  it("hands each recipient only what named it (a sender is no recipient of its own)", async () => {
    const s = fresh();
    await s.append("r", entry("1", [B, C]));
    await s.append("r", entry("2", [C]));
    await s.append("r", entry("3", [B], 1_000, C));
    await s.append("r", entry("4", []));
    expect((await s.readAfter("r", B, 0, 10)).map((e) => e.mid)).toEqual(["1", "3"]);
    expect((await s.readAfter("r", C, 0, 10)).map((e) => e.mid)).toEqual(["1", "2"]);
    expect(await s.readAfter("r", A, 0, 10)).toEqual([]);
    expect(await s.readAfter("r", D, 0, 10)).toEqual([]);
    expect(await s.seqRange("r")).toEqual({ oldest: 1, last: 4 });
  });

  it("keeps at most retentionMessages per room, oldest first out, seqs never reused", async () => {
    const s = fresh({ retentionMessages: 5 });
    for (let i = 1; i <= 8; i++) await s.append("r", entry(`m${i}`));
    await s.append("other", entry("x"));
    expect(await s.seqRange("r")).toEqual({ oldest: 4, last: 8 });
    expect((await s.readAfter("r", B, 0, 100)).map((e) => e.seq)).toEqual([4, 5, 6, 7, 8]);
    expect(await s.seqRange("other")).toEqual({ oldest: 1, last: 1 });
    // a pruned mid is forgotten with its entry: accepted again as new
    expect(await s.append("r", entry("m1"))).toEqual({ seq: 9, duplicate: false });
    expect(await s.append("r", entry("m6"))).toEqual({ seq: 6, duplicate: true });
  });

  it("keeps at most retentionBytes per room (entryBytes), but always the newest entry", async () => {
    const one = driver.sizeOf ? await driver.sizeOf(fresh(), "probe", entry("m1")) : entryBytes(entry("m1"));
    const s = driver.sizeOf ? make({ retentionBytes: one * 3 + 5 }) : fresh({ retentionBytes: one * 3 + 5 });
    for (let i = 1; i <= 6; i++) await s.append("r", entry(`m${i}`));
    expect(await s.seqRange("r")).toEqual({ oldest: 4, last: 6 });
    const big = { ...entry("big"), env: JSON.stringify({ ct: "z".repeat(one * 5) }) };
    if (driver.sizeOf) {
      // JetStream's max_bytes cannot keep one entry above the limit: refused, nothing else harmed
      await expect(s.append("r", big)).rejects.toMatchObject({ code: "store_full" });
      expect(await s.seqRange("r")).toEqual({ oldest: 4, last: 6 });
      return;
    }
    expect(await s.append("r", big)).toEqual({ seq: 7, duplicate: false });
    expect(await s.seqRange("r")).toEqual({ oldest: 7, last: 7 });
    expect((await s.readAfter("r", B, 0, 10)).map((e) => e.mid)).toEqual(["big"]);
  });

  it("drops entries older than retentionAgeMs by the store's clock", async () => {
    const clock = { t: 100_000 };
    const s = fresh({ retentionAgeMs: 10_000 }, clock);
    await s.append("r", entry("old1", [B], 100_000));
    await s.append("r", entry("old2", [B], 101_000));
    await s.append("r", entry("new", [B], 105_000));
    clock.t = 111_500; // old1 and old2 are past 10 s, new is not
    expect(await s.seqRange("r")).toEqual({ oldest: 3, last: 3 });
    expect((await s.readAfter("r", B, 0, 10)).map((e) => e.mid)).toEqual(["new"]);
    expect(await s.markDelivered("r", 1, B)).toBeNull();
    await s.sweep();
    expect(await s.seqRange("r")).toEqual({ oldest: 3, last: 3 });
    expect(await s.append("r", entry("old1", [B], 111_500))).toEqual({ seq: 4, duplicate: false });
    clock.t = 200_000;
    expect(await s.seqRange("r")).toEqual({ oldest: 5, last: 4 });
    expect(await s.readAfter("r", B, 0, 10)).toEqual([]);
    expect(await s.append("r", entry("next", [B], 200_000))).toEqual({ seq: 5, duplicate: false });
  });

  it("tells a resume cursor that is fine, behind retention (gap) or from the future", async () => {
    const s = fresh({ retentionMessages: 3 });
    for (let i = 1; i <= 6; i++) await s.append("r", entry(`m${i}`));
    const range = await s.seqRange("r");
    expect(range).toEqual({ oldest: 4, last: 6 });
    expect(resumeCheck(3, range)).toBe("ok"); // next wanted is 4: nothing missing
    expect(resumeCheck(6, range)).toBe("ok");
    expect(resumeCheck(2, range)).toBe("gap"); // 3 is gone
    expect(resumeCheck(0, range)).toBe("gap");
    expect(resumeCheck(7, range)).toBe("future");
    expect(resumeCheck(0, await s.seqRange("empty"))).toBe("ok");
  });

  it("records receipts only from recipients, once each", async () => {
    const s = fresh();
    await s.append("r", entry("m1", [B, C]));
    expect(await s.deliveredCount("r", 1)).toBe(0);
    expect(await s.markDelivered("r", 1, B)).toEqual({ from: A, mid: "m1", recipients: 2, delivered: 1, added: true });
    expect(await s.markDelivered("r", 1, B)).toEqual({ from: A, mid: "m1", recipients: 2, delivered: 1, added: false });
    expect(await s.markDelivered("r", 1, D)).toBeNull(); // not a recipient: cannot confirm for others
    expect(await s.markDelivered("r", 1, A)).toBeNull(); // nor the sender
    expect(await s.markDelivered("r", 2, B)).toBeNull(); // no such seq
    expect(await s.markDelivered("r2", 1, B)).toBeNull(); // no such room
    expect(await s.markDelivered("r", 1, C)).toMatchObject({ delivered: 2, added: true });
    expect(await s.deliveredCount("r", 1)).toBe(2);
    expect(await s.deliveredCount("r", 9)).toBe(0);
  });

  it("gives a sender the counts it was not told (receiptsFor), the newest `limit` in seq order; markTold keeps the highest", async () => {
    const s = fresh();
    await s.append("r", entry("m1", [B, C])); // 1
    await s.append("r", entry("m2", [B])); // 2
    await s.append("r", entry("b1", [A, C], 1_000, B)); // 3: bob's, not alice's
    await s.append("r", entry("m3", [B, C])); // 4
    expect(await s.receiptsFor("r", A, 10)).toEqual([]); // nothing confirmed yet
    await s.markDelivered("r", 1, B);
    await s.markDelivered("r", 2, B);
    await s.markDelivered("r", 3, A);
    await s.markDelivered("r", 4, C);
    expect(await s.receiptsFor("r", A, 10)).toEqual([
      { seq: 1, mid: "m1", delivered: 1, recipients: 2 },
      { seq: 2, mid: "m2", delivered: 1, recipients: 1 },
      { seq: 4, mid: "m3", delivered: 1, recipients: 2 },
    ]);
    expect(await s.receiptsFor("r", B, 10)).toEqual([{ seq: 3, mid: "b1", delivered: 1, recipients: 2 }]);
    // the newest two of three, still in seq order
    expect((await s.receiptsFor("r", A, 2)).map((n) => n.seq)).toEqual([2, 4]);
    expect(await s.receiptsFor("r", A, 0)).toEqual([]);
    await s.markTold("r", A, 1, 1);
    await s.markTold("r", A, 4, 1);
    await s.markTold("r", B, 2, 1); // not bob's message: nothing happens
    expect((await s.receiptsFor("r", A, 10)).map((n) => n.seq)).toEqual([2]);
    // a count that grows past what was told is due again, with its current value
    await s.markDelivered("r", 1, C);
    expect(await s.receiptsFor("r", A, 10)).toEqual([
      { seq: 1, mid: "m1", delivered: 2, recipients: 2 },
      { seq: 2, mid: "m2", delivered: 1, recipients: 1 },
    ]);
    await s.markTold("r", A, 1, 2);
    await s.markTold("r", A, 1, 1); // lower than told: kept at 2
    await s.markTold("r", A, 2, 1);
    expect(await s.receiptsFor("r", A, 10)).toEqual([]);
    expect(await s.receiptsFor("none", A, 10)).toEqual([]);
    await s.markTold("none", A, 1, 1); // no such room: nothing, no error
    await expect(s.markTold("r", A, 1, -1)).rejects.toMatchObject({ code: "bad_input" });
    await expect(s.receiptsFor("r", "short", 1)).rejects.toMatchObject({ code: "bad_input" });
  });

  it.runIf(driver.name === "jetstream")(
    "counts receipts stored under the key layout before (<T>.<seq> -> ids)",
    async () => {
      const s = fresh() as JetStreamStore;
      await s.append("r", entry("m1", [B, C, D]));
      const { Kvm } = await import("@nats-io/kv");
      const kv = await new Kvm(nc!).open(`sr_${s.namespace}_receipts`);
      await kv.put(`${roomToken("r")}.1`, JSON.stringify([B]));
      expect(await s.deliveredCount("r", 1)).toBe(1);
      expect(await s.markDelivered("r", 1, B)).toMatchObject({ delivered: 1, added: false });
      expect(await s.markDelivered("r", 1, C)).toMatchObject({ delivered: 2, added: true });
      expect(await s.deliveredCount("r", 1)).toBe(2);
    },
  );

  it("leaves out of receiptsFor what retention dropped", async () => {
    const s = fresh({ retentionMessages: 2 });
    await s.append("r", entry("m1", [B]));
    await s.markDelivered("r", 1, B);
    await s.append("r", entry("m2", [B]));
    await s.markDelivered("r", 2, B);
    await s.append("r", entry("m3", [B])); // m1 goes
    expect((await s.receiptsFor("r", A, 10)).map((n) => n.mid)).toEqual(["m2"]);
  });

  it("keeps members across connections, refreshes lastSeen, forgets the left and the long away", async () => {
    const clock = { t: 1_000_000 };
    const s = fresh({ awayGraceMs: 60_000 }, clock);
    const m = (who: string, name: string, seen: number): MemberRecord => ({
      id: who,
      name,
      encKey: "ZW5j",
      sigKey: "c2ln",
      encKeySig: "ZWtz",
      joinedAt: 1_000_000,
      lastSeen: seen,
    });
    await s.putMember("r", { ...m(B, "bob", 1_000_000), agent: "web/1" });
    await s.putMember("r", m(C, "carol", 1_000_000));
    await s.putMember("r", m(D, "dave", 1_000_000));
    await s.putMember("r", { ...m(C, "carol2", 1_000_000) }); // replaced, not added
    expect((await s.members("r")).map((x) => x.name).sort()).toEqual(["bob", "carol2", "dave"]);
    expect((await s.members("r")).find((x) => x.id === B)).toEqual({ ...m(B, "bob", 1_000_000), agent: "web/1" });
    await s.memberLeft("r", D);
    clock.t = 1_050_000;
    await s.memberSeen("r", B, 1_050_000);
    await s.memberSeen("r", B, 1_020_000); // never goes back
    clock.t = 1_090_000; // carol away 90 s > grace 60 s; bob 40 s
    const now = await s.members("r");
    expect(now.map((x) => [x.name, x.lastSeen])).toEqual([["bob", 1_050_000]]);
    await s.sweep();
    clock.t = 1_050_000; // swept for good: carol does not come back when the clock does
    expect((await s.members("r")).map((x) => x.name)).toEqual(["bob"]);
    expect(await s.members("elsewhere")).toEqual([]);
  });

  it("keeps a v2 member's keys and admission proof exactly; a v1 record stays without them; bad ones are refused", async () => {
    const clock = { t: 1_000_000 };
    const s = fresh({ awayGraceMs: 60_000 }, clock);
    const v2 = {
      sig2: Buffer.alloc(32, 1).toString("base64"),
      dh2: Buffer.alloc(32, 2).toString("base64"),
      link: Buffer.alloc(256, 3).toString("base64"),
      admission: { iat: 999_000, sig: Buffer.alloc(64, 4).toString("base64") },
    };
    const rec = (who: string, name: string, extra: Partial<MemberRecord> = {}): MemberRecord => ({
      id: who,
      name,
      encKey: "ZW5j",
      sigKey: "c2ln",
      encKeySig: "ZWtz",
      joinedAt: 1_000_000,
      lastSeen: 1_000_000,
      ...extra,
    });
    // what a caller's object carries beyond the fields is not stored
    await s.putMember("r", { ...rec(B, "bob"), v2: { ...v2, extra: "x" } as typeof v2 });
    await s.putMember("r", rec(C, "carol"));
    const got = await s.members("r");
    expect(got.find((m) => m.id === B)).toEqual(rec(B, "bob", { v2 }));
    expect(got.find((m) => m.id === C)).toEqual(rec(C, "carol"));
    expect("v2" in got.find((m) => m.id === C)!).toBe(false);
    // lastSeen refreshed: the keys stay; a new connection's record replaces them (a new dh2)
    await s.memberSeen("r", B, 1_010_000);
    expect((await s.members("r")).find((m) => m.id === B)).toEqual(rec(B, "bob", { v2, lastSeen: 1_010_000 }));
    const dh2 = Buffer.alloc(32, 9).toString("base64");
    await s.putMember("r", rec(B, "bob", { v2: { ...v2, dh2 } }));
    expect((await s.members("r")).find((m) => m.id === B)?.v2?.dh2).toBe(dh2);
    // and a record without them (an older core's write) drops them
    await s.putMember("r", rec(B, "bob"));
    expect((await s.members("r")).find((m) => m.id === B)?.v2).toBeUndefined();
    for (const bad of [
      { ...v2, sig2: "short" },
      { ...v2, admission: { iat: 1.5, sig: v2.admission.sig } },
      { sig2: v2.sig2, dh2: v2.dh2, link: v2.link },
      "not an object",
    ])
      await expect(s.putMember("r", rec(D, "dave", { v2: bad as typeof v2 }))).rejects.toMatchObject({
        name: "StoreError",
        code: "bad_input",
      });
    expect((await s.members("r")).map((m) => m.id)).not.toContain(D);
    if (driver.durable) {
      await s.putMember("r", rec(B, "bob", { v2 }));
      const again = await reopen(s, { awayGraceMs: 60_000 }, clock);
      expect((await again.members("r")).find((m) => m.id === B)).toEqual(rec(B, "bob", { v2 }));
    }
  });

  it("never keeps a member away longer than retention", async () => {
    const clock = { t: 1_000_000 };
    const s = fresh({ awayGraceMs: 86_400_000, retentionAgeMs: 30_000 }, clock);
    await s.putMember("r", {
      id: B,
      name: "bob",
      encKey: "e",
      sigKey: "s",
      encKeySig: "k",
      joinedAt: 1_000_000,
      lastSeen: 1_000_000,
    });
    clock.t = 1_029_000;
    expect(await s.members("r")).toHaveLength(1);
    clock.t = 1_031_000;
    expect(await s.members("r")).toHaveLength(0);
  });

  it("keeps each room's stream state, replaced and cleared", async () => {
    const s = fresh();
    const st = { sid: 7, video: "sample.mp4", by: B, state: "playing" as const, posMs: 1234.5, atMs: 99_000 };
    expect(await s.stream("r")).toBeNull();
    await s.setStream("r", st);
    await s.setStream("r2", { ...st, sid: 8 });
    expect(await s.stream("r")).toEqual(st);
    await s.setStream("r", { ...st, state: "paused", posMs: 5000, atMs: 100_000 });
    expect(await s.stream("r")).toEqual({ ...st, state: "paused", posMs: 5000, atMs: 100_000 });
    await s.setStream("r", null);
    expect(await s.stream("r")).toBeNull();
    expect((await s.stream("r2"))?.sid).toBe(8);
  });

  it("refuses bad input with bad_input and a closed store with store_closed", async () => {
    const s = fresh();
    const bad: [string, AppendEntry][] = [
      ["", entry("m")],
      ["r", { ...entry("m"), from: "short" }],
      ["r", { ...entry("m"), mid: "has space" }],
      ["r", { ...entry("m"), mid: "" }],
      ["r", { ...entry("m"), to: ["nope"] }],
      ["r", { ...entry("m"), env: "" }],
      ["r", { ...entry("m"), at: Number.NaN }],
    ];
    for (const [room, e] of bad)
      await expect(s.append(room, e)).rejects.toMatchObject({ name: "StoreError", code: "bad_input" });
    await expect(
      s.setStream("r", { sid: 1, video: "v", by: B, state: "stopped" as "paused", posMs: 0, atMs: 0 }),
    ).rejects.toBeInstanceOf(StoreError);
    expect(await s.seqRange("r")).toEqual({ oldest: 1, last: 0 });
    await s.close();
    await expect(s.append("r", entry("m"))).rejects.toMatchObject({ code: "store_closed" });
    await expect(s.readAfter("r", B, 0, 1)).rejects.toMatchObject({ code: "store_closed" });
  });

  it.runIf(driver.durable)("keeps everything across a clean close and reopen, and continues the seqs", async () => {
    const clock = { t: 10_000 };
    let s = fresh({ retentionMessages: 3 }, clock);
    for (let i = 1; i <= 5; i++) await s.append("r", entry(`m${i}`, [B, C], 10_000));
    await s.markDelivered("r", 5, B);
    await s.putMember("r", {
      id: B,
      name: "bob",
      encKey: "e",
      sigKey: "s",
      encKeySig: "k",
      joinedAt: 1,
      lastSeen: 10_000,
    });
    await s.setStream("r", { sid: 3, video: "v.mp4", by: B, state: "paused", posMs: 42_000, atMs: 9_000 });
    s = await reopen(s, { retentionMessages: 3 }, clock);
    expect(await s.seqRange("r")).toEqual({ oldest: 3, last: 5 });
    expect(await s.append("r", entry("m5"))).toEqual({ seq: 5, duplicate: true });
    expect(await s.append("r", entry("m6"))).toEqual({ seq: 6, duplicate: false });
    expect(await s.deliveredCount("r", 5)).toBe(1);
    expect(await s.receiptsFor("r", A, 10)).toEqual([{ seq: 5, mid: "m5", delivered: 1, recipients: 2 }]);
    await s.markTold("r", A, 5, 1);
    expect((await s.readAfter("r", C, 0, 10)).map((e) => e.mid)).toEqual(["m4", "m5", "m6"]);
    expect((await s.members("r")).map((m) => m.name)).toEqual(["bob"]);
    expect(await s.stream("r")).toMatchObject({ sid: 3, posMs: 42_000, state: "paused" });
    // writes that were queued but not yet committed at close() are committed by it
    const p = s.append("r", entry("m7"));
    s = await reopen(s, { retentionMessages: 3 }, clock);
    expect(await p).toEqual({ seq: 7, duplicate: false });
    expect((await s.seqRange("r")).last).toBe(7);
    expect(await s.receiptsFor("r", A, 10)).toEqual([]); // told survives the reopen
  });

  it("gives each room's log an id: 16 random bytes base64url, the same on every ask, another per room and per store", async () => {
    const s = fresh();
    const [a1, a2] = await Promise.all([s.logId("r1"), s.logId("r1")]); // two asks at once: one id
    expect(a1).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(a2).toBe(a1);
    await s.append("r1", entry("a"));
    expect(await s.logId("r1")).toBe(a1);
    await s.append("r2", entry("a")); // a log made by an append, asked for later
    const b = await s.logId("r2");
    expect(b).toMatch(/^[A-Za-z0-9_-]{22}$/);
    expect(b).not.toBe(a1);
    // another store (a restarted memory store, a new SQLite file, another namespace): another log, another id
    const t = fresh();
    await t.append("r1", entry("a"));
    expect(await t.logId("r1")).not.toBe(a1);
    await s.close();
    await expect(s.logId("r1")).rejects.toMatchObject({ code: "store_closed" });
    await expect(t.logId("")).rejects.toMatchObject({ code: "bad_input" });
  });

  it.runIf(driver.durable)("keeps each room's log id across a clean close and reopen", async () => {
    let s = fresh();
    await s.append("r", entry("a"));
    const log = await s.logId("r");
    const other = await s.logId("never-written");
    s = await reopen(s);
    expect(await s.logId("r")).toBe(log);
    expect(await s.logId("never-written")).toBe(other);
    expect(await s.append("r", entry("b"))).toEqual({ seq: 2, duplicate: false });
    expect(await s.logId("r")).toBe(log);
  });

  it.runIf(driver.name === "jetstream")(
    "two cores on one namespace see one log id, also when both ask first at the same moment",
    async () => {
      const s1 = fresh();
      const s2 = make();
      const [l1, l2] = await Promise.all([s1.logId("shared"), s2.logId("shared")]);
      expect(l1).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect(l2).toBe(l1);
      await s1.close();
      const s3 = make(); // a core restarted on the namespace
      expect(await s3.logId("shared")).toBe(l1);
    },
  );

  it.runIf(driver.name === "sqlite")(
    "a file from before log ids gets its table at open (an id per room from then on), kept across reopens",
    async () => {
      let s = fresh();
      await s.append("r", entry("a"));
      await s.close();
      open = [];
      const Database = (await import("better-sqlite3")).default;
      const db = new Database(join(dir, "rooms.db"));
      db.exec("DROP TABLE room_logs");
      db.close();
      s = make();
      const log = await s.logId("r");
      expect(log).toMatch(/^[A-Za-z0-9_-]{22}$/);
      expect((await s.seqRange("r")).last).toBe(1);
      s = await reopen(s);
      expect(await s.logId("r")).toBe(log);
    },
  );

  it("binds a v2 room id to one verification key, once: a second, different key is refused", async () => {
    const s = fresh();
    const [k1, k2] = [vkOf(1), vkOf(2)];
    expect(await s.roomVk("r")).toBeNull();
    expect(await s.createRoomVk("r", k1)).toBe(k1);
    expect(await s.createRoomVk("r", k2)).toBe(k1); // not stored: the first key stays
    expect(await s.createRoomVk("r", k1)).toBe(k1);
    expect(await s.roomVk("r")).toBe(k1);
    expect(await s.roomVk("other")).toBeNull();
    // two first creates at once on one store: one key wins, both callers hear it
    const both = await Promise.all([s.createRoomVk("c", k2), s.createRoomVk("c", k1)]);
    expect(both[1]).toBe(both[0]);
    expect(await s.roomVk("c")).toBe(both[0]);
    // a room with only its key (no entries, no members) is not forgotten by the sweep
    await s.sweep();
    expect(await s.roomVk("r")).toBe(k1);
    // the other room state is untouched by it
    expect(await s.seqRange("r")).toEqual({ oldest: 1, last: 0 });
    expect(await s.members("r")).toEqual([]);
    for (const [room, vk] of [
      ["", k1],
      ["r2", "short"],
      ["r2", Buffer.alloc(31, 1).toString("base64")],
      ["r2", 42 as unknown as string],
    ] as const)
      await expect(s.createRoomVk(room, vk)).rejects.toMatchObject({ name: "StoreError", code: "bad_input" });
    expect(await s.roomVk("r2")).toBeNull();
    await expect(s.roomVk("")).rejects.toMatchObject({ code: "bad_input" });
    if (driver.durable) {
      const again = await reopen(s);
      expect(await again.roomVk("r")).toBe(k1);
      expect(await again.createRoomVk("r", k2)).toBe(k1);
      expect(await again.roomVk("c")).toBe(both[0]);
    } else {
      await s.close();
    }
    await expect(s.roomVk("r")).rejects.toMatchObject({ code: "store_closed" });
  });

  it.runIf(driver.name === "jetstream")(
    "two cores creating one v2 room at the same moment: one key wins, on both and after a restart",
    async () => {
      const s1 = fresh();
      const s2 = make();
      for (let i = 0; i < 5; i++) {
        const room = `race${i}`;
        const [w1, w2] = await Promise.all([s1.createRoomVk(room, vkOf(10 + i)), s2.createRoomVk(room, vkOf(20 + i))]);
        expect([vkOf(10 + i), vkOf(20 + i)]).toContain(w1);
        expect(w2).toBe(w1);
        expect(await s1.roomVk(room)).toBe(w1);
        expect(await s2.roomVk(room)).toBe(w1);
      }
      // a core that never created it sees it, and cannot replace it
      const s3 = make();
      const first = await s1.roomVk("race0");
      expect(await s3.roomVk("race0")).toBe(first);
      expect(await s3.createRoomVk("race0", vkOf(99))).toBe(first);
      expect(await s2.roomVk("race0")).toBe(first);
    },
  );

  it.runIf(driver.name === "sqlite")(
    "a file from before room keys gets its table at open; v2 room keys are kept from then on",
    async () => {
      let s = fresh();
      await s.append("r", entry("a"));
      await s.close();
      open = [];
      const Database = (await import("better-sqlite3")).default;
      const db = new Database(join(dir, "rooms.db"));
      db.exec("DROP TABLE IF EXISTS room_keys");
      db.close();
      s = make();
      expect(await s.roomVk("v2")).toBeNull();
      expect(await s.createRoomVk("v2", vkOf(5))).toBe(vkOf(5));
      s = await reopen(s);
      expect(await s.roomVk("v2")).toBe(vkOf(5));
      expect((await s.seqRange("r")).last).toBe(1);
    },
  );

  it.runIf(driver.killTest === true)(
    "after kill -9 mid-write has every append whose promise resolved, and nothing half-written",
    async () => {
      await fresh().close();
      open = [];
      const { acked, signal } = await ackedThenKilled(["tests/helpers/store-writer.ts", dir], 3_000, 20_000);
      expect(signal).toBe("SIGKILL");
      const s = make();
      const range = await s.seqRange("killroom");
      expect(range.oldest).toBe(1);
      expect(range.last).toBeGreaterThanOrEqual(acked.size);
      const stored = new Map<string, number>();
      const reader = "readerAAAAAAAAAAAAAAAAA".slice(0, 22);
      for (let cursor = 0; ;) {
        const page = await s.readAfter("killroom", reader, cursor, 1_000);
        if (page.length === 0) break;
        for (const e of page) {
          expect(e.env).toBe(JSON.stringify({ alg: "test", ct: e.mid.repeat(40), keys: {} }));
          expect(e.seq).toBe(cursor + 1); // contiguous: no hole, no half entry
          stored.set(e.mid, e.seq);
          cursor = e.seq;
        }
      }
      expect(stored.size).toBe(range.last);
      for (const [mid, seq] of acked) expect(stored.get(mid), mid).toBe(seq);
      await s.close();
      open = [];
      const Database = (await import("better-sqlite3")).default;
      const db = new Database(join(dir, "rooms.db"), { readonly: true });
      expect(db.pragma("integrity_check", { simple: true })).toBe("ok");
      db.close();
    },
  );
});
