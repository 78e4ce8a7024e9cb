// Receipts to the sender (server/delivery.ts) over the memory store, with
// plain-object peers: a count reaches a sender connected here, or goes to the
// other cores when it is not; a resuming sender gets the counts it missed,
// once; no connection is told the same (seq, D) twice, nor a lower count after
// a higher one. And the cross-core note's check off the wire (cluster/bus.ts).

import { describe, expect, it } from "vitest";
import type { Cap } from "../../protocol/caps";
import type { ServerMessage } from "../../protocol/messages";
import { parseDeliveredNote } from "../../server/cluster/bus";
import { Durable, type SenderNote } from "../../server/delivery";
import { silentLogger } from "../../server/log";
import type { MemberPeer, VideoFrameOut } from "../../server/ports";
import { MemoryStore } from "../../server/store/memoryStore";

const idOf = (who: string) => who.padEnd(22, "x");
const A = idOf("alice");
const B = idOf("bob");
const C = idOf("carol");
const ROOM = "r";
const env = JSON.stringify({ alg: "RSA-OAEP-256+A256GCM", iv: "AAAAAAAAAAAAAAAA", ct: "c".repeat(24), keys: {} });

let nextConn = 1;
class FakePeer implements MemberPeer {
  readonly connId = nextConn++;
  readonly controls: ServerMessage[] = [];
  isClosed = false;
  constructor(
    readonly memberId: string,
    readonly room = ROOM,
    readonly caps: ReadonlySet<Cap> = new Set<Cap>(["durable"]),
  ) {}
  sendControl(msg: ServerMessage): void {
    this.controls.push(msg);
  }
  sendFrame(_frame: Buffer): void {}
  offerVideo(_frame: VideoFrameOut): boolean {
    return true;
  }
  purgeVideo(): void {}
  chargeSend(): boolean {
    return true;
  }
  admit(): void {}
  fail(): void {}
  delivered(): [number, number, number][] {
    return this.controls.flatMap((m) =>
      m.t === "delivered" ? [[m.seq, m.delivered, m.of] as [number, number, number]] : [],
    );
  }
}

function setup(resumeReceipts = 256) {
  const store = new MemoryStore();
  const durable = new Durable({
    store,
    log: silentLogger,
    now: Date.now,
    awayGraceMs: 60_000,
    resumeReceipts,
    expired: () => {},
  });
  const send = (mid: string, to = [B, C]) => store.append(ROOM, { from: A, mid, to, env, at: Date.now() });
  return { store, durable, send };
}

const tick = () => new Promise((r) => setTimeout(r, 5));

describe("receipts to the sender", () => {
  it("tells a sender connected here, and hands the count to the other cores when it is not", async () => {
    const { durable, send } = setup();
    await send("m1");
    await send("m2");
    const alice = new FakePeer(A);
    const elsewhere: SenderNote[] = [];
    await durable.receipts(new FakePeer(B), [1, 1, 2], (id) => (id === A ? alice : null));
    expect(alice.delivered()).toEqual([
      [1, 1, 2],
      [2, 1, 2],
    ]);
    await durable.receipts(
      new FakePeer(C),
      [1],
      () => null,
      (_room, n) => elsewhere.push(n),
    );
    expect(elsewhere).toEqual([{ from: A, seq: 1, mid: "m1", delivered: 2, recipients: 2 }]);
    // a repeated receipt is news to no one
    await durable.receipts(
      new FakePeer(C),
      [1],
      () => null,
      (_room, n) => elsewhere.push(n),
    );
    expect(elsewhere).toHaveLength(1);
  });

  it("never tells one connection the same (seq, D) twice, nor a lower count after a higher one", () => {
    const { durable } = setup();
    const alice = new FakePeer(A);
    const n = (seq: number, delivered: number): SenderNote => ({
      from: A,
      seq,
      mid: `m${seq}`,
      delivered,
      recipients: 3,
    });
    durable.tellSender(alice, n(1, 2));
    durable.tellSender(alice, n(1, 2)); // a live note and a resume crossing
    durable.tellSender(alice, n(1, 1)); // notes from two cores out of order
    durable.tellSender(alice, n(1, 3));
    durable.tellSender(new FakePeer(B), n(1, 3)); // not bob's message
    const v1 = new FakePeer(A, ROOM, new Set());
    durable.tellSender(v1, n(1, 3)); // a v1 client gets no `delivered`
    expect(alice.delivered()).toEqual([
      [1, 2, 3],
      [1, 3, 3],
    ]);
    expect(v1.controls).toEqual([]);
  });

  it("a resuming sender gets, after `resumed`, each count it missed once; the next resume none", async () => {
    const { store, durable, send } = setup();
    await send("m1");
    await send("m2");
    await send("m3", [B]);
    const first = new FakePeer(A);
    await durable.resume(first, undefined);
    await durable.receipts(new FakePeer(B), [1], (id) => (id === A ? first : null));
    expect(first.delivered()).toEqual([[1, 1, 2]]);
    first.isClosed = true; // away: what follows is counted without it
    await durable.receipts(new FakePeer(B), [2, 3], () => null);
    await durable.receipts(new FakePeer(C), [1, 2], () => null);
    await tick();
    const back = new FakePeer(A);
    await durable.resume(back, { room: ROOM, seq: 3 });
    expect(back.controls.map((m) => m.t)).toEqual(["resumed", "delivered", "delivered", "delivered"]);
    expect(back.delivered()).toEqual([
      [1, 2, 2],
      [2, 2, 2],
      [3, 1, 1],
    ]);
    await tick();
    expect(await store.receiptsFor(ROOM, A, 10)).toEqual([]);
    const again = new FakePeer(A);
    await durable.resume(again, { room: ROOM, seq: 3 });
    expect(again.controls.map((m) => m.t)).toEqual(["resumed"]);
  });

  it("a resume sends at most resumeReceipts counts, the newest; the older ones at the next resume", async () => {
    const { durable, send } = setup(2);
    for (let i = 1; i <= 3; i++) await send(`m${i}`, [B]);
    await durable.receipts(new FakePeer(B), [1, 2, 3], () => null);
    const one = new FakePeer(A);
    await durable.resume(one, undefined);
    expect(one.delivered().map(([seq]) => seq)).toEqual([2, 3]);
    await tick();
    const two = new FakePeer(A);
    await durable.resume(two, undefined);
    expect(two.delivered().map(([seq]) => seq)).toEqual([1]);
  });
});

describe("the cross-core delivered note off the wire", () => {
  const enc = (o: unknown) => new TextEncoder().encode(JSON.stringify(o));
  const good = { room: ROOM, seq: 4, mid: "m4", from: A, delivered: 2, recipients: 3, node: "b", t: 1 };
  it("takes a well-formed note of another core for this room", () => {
    expect(parseDeliveredNote(ROOM, "a", enc(good))).toEqual(good);
  });
  it("drops its own notes, other rooms' and anything malformed", () => {
    expect(parseDeliveredNote(ROOM, "b", enc(good))).toBeNull();
    expect(parseDeliveredNote("other", "a", enc(good))).toBeNull();
    for (const bad of [
      { ...good, seq: 0 },
      { ...good, seq: 1.5 },
      { ...good, mid: "has space" },
      { ...good, mid: "" },
      { ...good, from: "short" },
      { ...good, delivered: 4 },
      { ...good, delivered: 0 },
      { ...good, recipients: "3" },
      { ...good, node: 7 },
    ])
      expect(parseDeliveredNote(ROOM, "a", enc(bad)), JSON.stringify(bad)).toBeNull();
    expect(parseDeliveredNote(ROOM, "a", new TextEncoder().encode("{not json"))).toBeNull();
  });
});
