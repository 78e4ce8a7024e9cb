// The hub (server/hub.ts) without sockets: presence, replacement and routing,
// driven through MemberPeer with plain-object peers and a recording video port.

import { beforeEach, describe, expect, it } from "vitest";
import type { Cap } from "../../protocol/caps";
import type { RawMessage } from "../../protocol/codec";
import { ProtocolError } from "../../protocol/errors";
import { FRAME_HEADER, KIND_CONTROL } from "../../protocol/framing";
import { DEFAULT_LIMITS, type Limits } from "../../protocol/limits";
import {
  ENVELOPE_ALG,
  type ClientMessageOf,
  type Envelope,
  type LeftReason,
  type ServerMessage,
  type StreamInfo,
} from "../../protocol/messages";
import type { VerifiedHello } from "../../server/handshake";
import { Hub } from "../../server/hub";
import { silentLogger } from "../../server/log";
import { MemoryStore } from "../../server/store/memoryStore";
import type { MemberPeer, Peer, VideoFrameOut, VideoService } from "../../server/ports";

/** A member id: 22 characters of the id alphabet. */
const idOf = (who: string) => who.padEnd(22, "x");
const ALICE = idOf("alice");
const BOB = idOf("bob");
const CAROL = idOf("carol");
const DAVE = idOf("dave");

let nextConn = 1;

/** A connection as the hub sees it: records what it is told, as plain data. */
class FakePeer implements MemberPeer {
  readonly connId = nextConn++;
  memberId = "";
  room = "";
  caps: ReadonlySet<Cap> = new Set();
  /** Encoded frames handed over by the hub, the Buffers themselves. */
  readonly frames: Buffer[] = [];
  /** Control messages sent one at a time (welcome, ack, pong). */
  readonly controls: ServerMessage[] = [];
  readonly failures: Array<{ code: string; message: string }> = [];
  readonly charges: Array<{ bytes: number; recipients: number; mid: string }> = [];
  /** What chargeSend answers. */
  budgetOk = true;

  sendControl(msg: ServerMessage): void {
    this.controls.push(msg);
  }
  sendFrame(frame: Buffer): void {
    this.frames.push(frame);
  }
  offerVideo(_frame: VideoFrameOut): boolean {
    return true;
  }
  purgeVideo(_sid: number, _keepBegun: boolean): void {}
  chargeSend(bytes: number, recipients: number, mid: string): boolean {
    this.charges.push({ bytes, recipients, mid });
    return this.budgetOk;
  }
  admit(memberId: string, room: string, caps: ReadonlySet<Cap>): void {
    this.memberId = memberId;
    this.room = room;
    this.caps = caps;
  }
  fail(code: "replaced" | "internal", message: string): void {
    this.failures.push({ code, message });
  }

  /** The frames decoded back into messages. */
  received(): Array<Record<string, unknown>> {
    return this.frames.map((f) => {
      expect(f[4]).toBe(KIND_CONTROL);
      expect(f.readUInt32BE(0)).toBe(f.length - 4);
      return JSON.parse(f.subarray(FRAME_HEADER).toString("utf8")) as Record<string, unknown>;
    });
  }
  /** Everything it was told, in message types, frames and controls apart. */
  kinds(): { frames: unknown[]; controls: string[] } {
    return { frames: this.received().map((m) => m.t), controls: this.controls.map((m) => m.t) };
  }
  clear(): void {
    this.frames.length = 0;
    this.controls.length = 0;
  }
}

/** The video port: records what the hub tells it. */
class FakeVideo implements VideoService {
  readonly calls: string[] = [];
  readonly handled: Array<{ peer: Peer; msg: ClientMessageOf<"videos" | "play" | "control"> }> = [];
  stream: StreamInfo | null = null;
  roomStream(room: string): StreamInfo | null {
    this.calls.push(`roomStream ${room}`);
    return this.stream;
  }
  join(peer: Peer): void {
    this.calls.push(`join ${peer.connId}`);
  }
  leave(peer: Peer): void {
    this.calls.push(`leave ${peer.connId}`);
  }
  roomEmpty(room: string): void {
    this.calls.push(`roomEmpty ${room}`);
  }
  handle(peer: Peer, msg: ClientMessageOf<"videos" | "play" | "control">): void {
    this.handled.push({ peer, msg });
  }
  close(): void {}
}

function hello(
  id: string,
  name: string,
  room = "lobby",
  extra: { encKey?: string; agent?: string } = {},
): VerifiedHello {
  return {
    id,
    hello: {
      t: "hello",
      v: 1,
      name,
      room,
      encKey: extra.encKey ?? "RU5D",
      sigKey: "U0lH",
      encKeySig: "U0lHUw==",
      proof: "UFJPT0Y=",
      ...(extra.agent !== undefined ? { agent: extra.agent } : {}),
    },
  };
}

function envelope(recipients: string[]): Envelope {
  return {
    alg: ENVELOPE_ALG,
    iv: "AAAAAAAAAAAAAAAA",
    ct: "Y2lwaGVydGV4dC13aXRoLWEtdGFnLTEyMzQ1Ng==",
    keys: Object.fromEntries(recipients.map((r) => [r, "a2V5"])),
    sig: "c2ln",
  };
}

function send(mid: string, env: Envelope, to?: string[]): RawMessage {
  return { t: "send", mid, ...(to ? { to } : {}), env };
}

/** The ProtocolError `fn` throws (fails the test when it throws nothing or something else). */
async function refusal(fn: () => unknown): Promise<ProtocolError> {
  try {
    await fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ProtocolError);
    return err as ProtocolError;
  }
  throw new Error("expected a ProtocolError, nothing was thrown");
}

const NOW = 1_700_000_000_000;
let clock = NOW;
let video: FakeVideo;
let hub: Hub;

function makeHub(limits: Partial<Limits> = {}): Hub {
  video = new FakeVideo();
  hub = new Hub({ ...DEFAULT_LIMITS, ...limits }, video, silentLogger, () => clock);
  return hub;
}

/** Seats a fresh peer for `id` and returns it. */
async function seat(id: string, name: string, room = "lobby"): Promise<FakePeer> {
  const p = new FakePeer();
  await hub.join(p, hello(id, name, room));
  return p;
}

/** Lets the room log's append (and the delivery after it) settle. */
const settle = () => new Promise((r) => setImmediate(r));

beforeEach(() => {
  clock = NOW;
  makeHub();
});

describe("Hub: joining", () => {
  it("admits the peer, welcomes it with the members and limits, then hands it to video", async () => {
    video.stream = null;
    const a = new FakePeer();
    await hub.join(a, hello(ALICE, "Alice", "lobby", { agent: "test/1" }));
    expect(a.memberId).toBe(ALICE);
    expect(a.room).toBe("lobby");
    expect(a.controls).toHaveLength(1);
    const w = a.controls[0];
    expect(w).toMatchObject({
      t: "welcome",
      id: ALICE,
      room: "lobby",
      limits: {
        maxFrame: DEFAULT_LIMITS.maxFrame,
        maxEnvelope: DEFAULT_LIMITS.maxEnvelope,
        maxRecipients: DEFAULT_LIMITS.maxRecipients,
      },
      stream: null,
    });
    if (w.t !== "welcome") throw new Error("not a welcome");
    expect(w.members).toEqual([
      { id: ALICE, name: "Alice", encKey: "RU5D", sigKey: "U0lH", encKeySig: "U0lHUw==", agent: "test/1", since: NOW },
    ]);
    // The joiner is not told about itself.
    expect(a.frames).toHaveLength(0);
    // video.join comes after the welcome was built (which asked roomStream).
    expect(video.calls).toEqual(["roomStream lobby", `join ${a.connId}`]);
    expect(hub.roomCount).toBe(1);
  });

  it("tells the members already there `joined`, and lists them all in the newcomer's welcome", async () => {
    const a = await seat(ALICE, "Alice");
    clock += 5_000;
    const b = await seat(BOB, "Bob");
    expect(a.received()).toEqual([
      {
        t: "joined",
        member: { id: BOB, name: "Bob", encKey: "RU5D", sigKey: "U0lH", encKeySig: "U0lHUw==", since: NOW + 5_000 },
      },
    ]);
    expect(b.frames).toHaveLength(0);
    const w = b.controls[0];
    if (w.t !== "welcome") throw new Error("not a welcome");
    expect(w.members.map((m) => [m.id, m.name, m.since])).toEqual([
      [ALICE, "Alice", NOW],
      [BOB, "Bob", NOW + 5_000],
    ]);
  });

  it("passes the room's stream into the welcome", async () => {
    const stream: StreamInfo = {
      sid: 7,
      video: "clip",
      scope: "room",
      by: ALICE,
      width: 64,
      height: 36,
      fps: 30,
      durationMs: 1000,
      posMs: 400,
      state: "playing",
    };
    video.stream = stream;
    const b = await seat(BOB, "Bob");
    expect(b.controls[0]).toMatchObject({ t: "welcome", stream });
  });

  it("keeps rooms apart", async () => {
    const a = await seat(ALICE, "Alice", "one");
    const b = await seat(BOB, "Bob", "two");
    expect(a.frames).toHaveLength(0);
    expect(b.controls[0]).toMatchObject({ t: "welcome", room: "two", members: [{ id: BOB }] });
    expect(hub.roomCount).toBe(2);
  });

  it("refuses a name another member holds (case-insensitively) with a fatal name_taken, telling no one", async () => {
    const a = await seat(ALICE, "Alice");
    const intruder = new FakePeer();
    const err = await refusal(() => hub.join(intruder, hello(BOB, "ALICE")));
    expect(err.code).toBe("name_taken");
    expect(err.fatal).toBe(true);
    expect(err.ref).toBe("hello");
    expect(intruder.memberId).toBe("");
    expect(intruder.controls).toHaveLength(0);
    expect(a.frames).toHaveLength(0);
    expect(video.calls.filter((c) => c.startsWith("join"))).toEqual([`join ${a.connId}`]);
    // The name is free in another room.
    await expect(seat(BOB, "Alice", "elsewhere")).resolves.toBeDefined();
  });

  it("refuses a member past maxMembersPerRoom with a fatal room_full, but still lets a seated one reconnect", async () => {
    makeHub({ maxMembersPerRoom: 2 });
    const a = await seat(ALICE, "Alice");
    await seat(BOB, "Bob");
    a.clear();
    const c = new FakePeer();
    const err = await refusal(() => hub.join(c, hello(CAROL, "Carol")));
    expect(err.code).toBe("room_full");
    expect(err.fatal).toBe(true);
    expect(err.message).toContain("2 members");
    expect(c.controls).toHaveLength(0);
    expect(a.frames).toHaveLength(0);
    // Bob connecting again takes his own seat, so the full room does not refuse him.
    const b2 = new FakePeer();
    await hub.join(b2, hello(BOB, "Bob"));
    expect(b2.controls[0]).toMatchObject({ t: "welcome", id: BOB });
  });
});

/** A verified v2 hello (server/admission.ts checked it): the room's key and the member's public v2 fields. */
function helloV2(id: string, name: string, room: string, vkByte: number): VerifiedHello {
  const b = (n: number, fill: number) => Buffer.alloc(n, fill).toString("base64");
  return {
    ...hello(id, name, room),
    v2: {
      vk: b(32, vkByte),
      member: { sig2: b(32, 1), dh2: b(32, 2), link: b(256, 3), admission: { iat: NOW, sig: b(64, 4) } },
    },
  };
}

describe("Hub: the version of a room", () => {
  it("a v2 room id stays v2 when the in-memory cache (maxV2Rooms) has forgotten it: the store keeps its key", async () => {
    makeHub({ maxV2Rooms: 1 });
    const a = await seat2(ALICE, "Alice", "v2-one", 7);
    hub.leave(a, "quit");
    // another v2 room pushes the first one out of the cache
    const b = await seat2(BOB, "Bob", "v2-two", 8);
    hub.leave(b, "quit");
    const err = await refusal(() => hub.join(new FakePeer(), hello(CAROL, "Carol", "v2-one")));
    expect(err).toMatchObject({ code: "version", fatal: true });
    expect(err.message).toMatch(/room link/);
    // the v2 room opens again from its link
    const a2 = new FakePeer();
    await hub.join(a2, helloV2(ALICE, "Alice", "v2-one", 7));
    expect(a2.controls[0]).toMatchObject({ t: "welcome", room: "v2-one" });
  });

  it("a v1 room with a member away refuses a v2 hello for its id; the refused hello binds nothing", async () => {
    const a = await seat(ALICE, "Alice", "plain");
    hub.leave(a, "closed"); // away: still a member
    const err = await refusal(() => hub.join(new FakePeer(), helloV2(BOB, "Bob", "plain", 9)));
    expect(err).toMatchObject({ code: "version", fatal: true, message: expect.stringMatching(/without a room link/) });
    const a2 = new FakePeer();
    await hub.join(a2, hello(ALICE, "Alice", "plain"));
    expect(a2.controls[0]).toMatchObject({ t: "welcome", room: "plain" });
    expect((await seat(BOB, "Bob", "plain")).controls[0]).toMatchObject({ t: "welcome" });
  });

  it("after a restart (a new hub on the same store): a v2 room refuses a v1 hello, a v1 room with a member away a v2 hello", async () => {
    const store = new MemoryStore({ now: () => clock });
    const mk = () => new Hub(DEFAULT_LIMITS, new FakeVideo(), silentLogger, () => clock, store);
    hub = mk();
    const v2 = await seat2(ALICE, "Alice", "was-v2", 5);
    hub.leave(v2, "quit"); // nobody left: only the key says it is v2
    const v1 = await seat(BOB, "Bob", "was-v1");
    hub.leave(v1, "closed");
    await settle();
    hub = mk();
    expect(await refusal(() => hub.join(new FakePeer(), hello(CAROL, "Carol", "was-v2")))).toMatchObject({
      code: "version",
      message: expect.stringMatching(/room link/),
    });
    expect(await refusal(() => hub.join(new FakePeer(), helloV2(CAROL, "Carol", "was-v1", 6)))).toMatchObject({
      code: "version",
      message: expect.stringMatching(/without a room link/),
    });
    const back = new FakePeer();
    await hub.join(back, hello(BOB, "Bob", "was-v1"));
    expect(back.controls[0]).toMatchObject({ t: "welcome", room: "was-v1" });
    const again = new FakePeer();
    await hub.join(again, helloV2(ALICE, "Alice", "was-v2", 5));
    expect(again.controls[0]).toMatchObject({ t: "welcome", room: "was-v2" });
  });
});

describe("Hub: the version of a room made before room keys were stored", () => {
  it("stored v2 member records say v2: a v1 hello is refused, the first v2 hello stores the room's key", async () => {
    const store = new MemoryStore({ now: () => clock });
    const v2 = helloV2(ALICE, "Alice", "legacy", 3).v2!;
    await store.putMember("legacy", {
      id: ALICE,
      name: "Alice",
      encKey: "RU5D",
      sigKey: "U0lH",
      encKeySig: "U0lHUw==",
      joinedAt: NOW,
      lastSeen: NOW,
      v2: v2.member,
    });
    hub = new Hub(DEFAULT_LIMITS, new FakeVideo(), silentLogger, () => clock, store);
    expect(await store.roomVk("legacy")).toBeNull();
    expect(await refusal(() => hub.join(new FakePeer(), hello(BOB, "Bob", "legacy")))).toMatchObject({
      code: "version",
      message: expect.stringMatching(/room link/),
    });
    const b = new FakePeer();
    await hub.join(b, helloV2(BOB, "Bob", "legacy", 3));
    expect(b.controls[0]).toMatchObject({ t: "welcome", room: "legacy" });
    expect(await store.roomVk("legacy")).toBe(v2.vk);
  });
});

/** Seats a fresh peer for `id` with a v2 hello for `room` under the key made of `vkByte`. */
async function seat2(id: string, name: string, room: string, vkByte: number): Promise<FakePeer> {
  const p = new FakePeer();
  await hub.join(p, helloV2(id, name, room, vkByte));
  return p;
}

describe("Hub: replacing a connection", () => {
  it("fails the old connection with `replaced`, tells the others nothing, and keeps the member's `since`", async () => {
    const a = await seat(ALICE, "Alice");
    const b1 = await seat(BOB, "Bob");
    a.clear();
    video.calls.length = 0;
    clock += 60_000;
    const b2 = new FakePeer();
    await hub.join(b2, hello(BOB, "Bob"));

    expect(b1.failures).toEqual([{ code: "replaced", message: expect.any(String) as string }]);
    expect(b2.failures).toHaveLength(0);
    expect(a.frames).toHaveLength(0); // neither left nor joined
    expect(video.calls).toEqual([`leave ${b1.connId}`, "roomStream lobby", `join ${b2.connId}`]);
    const w = b2.controls[0];
    if (w.t !== "welcome") throw new Error("not a welcome");
    expect(w.members.find((m) => m.id === BOB)?.since).toBe(NOW);
    expect(w.members).toHaveLength(2);

    // The old connection closing afterwards is not the member leaving.
    hub.leave(b1, "closed");
    expect(a.frames).toHaveLength(0);
    expect(hub.roomCount).toBe(1);
    // Messages now reach the new connection only.
    hub.handle(a, send("m1", envelope([BOB])));
    await settle();
    expect(b1.frames).toHaveLength(0);
    expect(b2.received().map((m) => m.t)).toEqual(["msg"]);
  });

  it("announces the replacement as `joined` when the member's name or key changed", async () => {
    const a = await seat(ALICE, "Alice");
    await seat(BOB, "Bob");
    a.clear();
    await hub.join(new FakePeer(), hello(BOB, "Robert"));
    expect(a.received()).toEqual([
      { t: "joined", member: expect.objectContaining({ id: BOB, name: "Robert", since: NOW }) as unknown },
    ]);
    a.clear();
    await hub.join(new FakePeer(), hello(BOB, "Robert", "lobby", { encKey: "TkVX" }));
    expect(a.received()).toEqual([
      { t: "joined", member: expect.objectContaining({ id: BOB, encKey: "TkVX" }) as unknown },
    ]);
    // Bob's old name is free again.
    await expect(seat(CAROL, "Bob")).resolves.toBeDefined();
  });
});

describe("Hub: leaving", () => {
  for (const reason of ["quit", "timeout", "closed", "error"] as const satisfies readonly LeftReason[]) {
    it(`tells the others \`left\` with reason ${reason} and lets video stop serving the peer`, async () => {
      const a = await seat(ALICE, "Alice");
      const b = await seat(BOB, "Bob");
      const c = await seat(CAROL, "Carol");
      a.clear();
      b.clear();
      video.calls.length = 0;
      hub.leave(c, reason);
      expect(a.received()).toEqual([{ t: "left", id: CAROL, reason }]);
      expect(b.received()).toEqual([{ t: "left", id: CAROL, reason }]);
      expect(c.frames).toHaveLength(0);
      expect(video.calls).toEqual([`leave ${c.connId}`]);
      // The seat and the name are free.
      const w = (await seat(DAVE, "Carol")).controls[0];
      if (w.t !== "welcome") throw new Error("not a welcome");
      expect(w.members.map((m) => m.id)).toEqual([ALICE, BOB, DAVE]);
    });
  }

  it("ignores a peer that was never seated", async () => {
    const a = await seat(ALICE, "Alice");
    a.clear();
    const stranger = new FakePeer();
    stranger.admit(BOB, "lobby", new Set());
    hub.leave(stranger, "closed");
    expect(a.frames).toHaveLength(0);
    expect(video.calls).not.toContain(`leave ${stranger.connId}`);
  });

  it("drops a room once its last member left, and tells video the room is empty", async () => {
    const a = await seat(ALICE, "Alice");
    const b = await seat(BOB, "Bob");
    await seat(CAROL, "Carol", "other");
    expect(hub.roomCount).toBe(2);
    hub.leave(a, "quit");
    expect(hub.roomCount).toBe(2);
    expect(video.calls).not.toContain("roomEmpty lobby");
    hub.leave(b, "quit");
    expect(hub.roomCount).toBe(1);
    expect(video.calls.at(-1)).toBe("roomEmpty lobby");
    // Coming back makes a new, empty room: nobody from before is listed.
    const w = (await seat(DAVE, "Dave")).controls[0];
    if (w.t !== "welcome") throw new Error("not a welcome");
    expect(w.members.map((m) => m.id)).toEqual([DAVE]);
  });
});

describe("Hub: routing `send`", () => {
  let a: FakePeer, b: FakePeer, c: FakePeer;
  beforeEach(async () => {
    a = await seat(ALICE, "Alice");
    b = await seat(BOB, "Bob");
    c = await seat(CAROL, "Carol");
    for (const p of [a, b, c]) p.clear();
    clock = NOW + 42;
  });

  it("delivers to the named recipients only, as a `msg` carrying the envelope as sent, and acks the count", async () => {
    const env = envelope([BOB]);
    hub.handle(a, send("m-1", env, [BOB]));
    await settle();
    expect(b.received()).toEqual([{ t: "msg", from: ALICE, mid: "m-1", to: [BOB], at: NOW + 42, env }]);
    expect(c.frames).toHaveLength(0);
    expect(a.frames).toHaveLength(0);
    expect(a.controls).toEqual([{ t: "ack", mid: "m-1", delivered: 1 }]);
  });

  it("encodes a message once: the same Buffer object goes to every recipient", async () => {
    hub.handle(a, send("m-2", envelope([BOB, CAROL])));
    await settle();
    expect(b.frames).toHaveLength(1);
    expect(c.frames).toHaveLength(1);
    expect(b.frames[0]).toBe(c.frames[0]);
    expect(b.received()[0]).toMatchObject({ t: "msg", from: ALICE, to: [BOB, CAROL] });
    expect(a.controls).toEqual([{ t: "ack", mid: "m-2", delivered: 2 }]);
    // The sender was charged that frame's bytes once per recipient.
    expect(a.charges).toEqual([{ bytes: b.frames[0].length, recipients: 2, mid: "m-2" }]);
  });

  it("forwards envelope fields this version does not know, byte for byte", async () => {
    const env = { ...envelope([BOB]), future: { x: [1, 2] } };
    hub.handle(a, { t: "send", mid: "m-f", to: [BOB], env });
    await settle();
    const body = b.frames[0].subarray(FRAME_HEADER).toString("utf8");
    expect(body.endsWith(`,"env":${JSON.stringify(env)}}`)).toBe(true);
  });

  it("refuses a recipient not in the room with unknown_recipient, delivering to no one", async () => {
    const err = await refusal(() => hub.handle(a, send("m-3", envelope([BOB, DAVE]), [BOB, DAVE])));
    expect(err.code).toBe("unknown_recipient");
    expect(err.fatal).toBe(false);
    expect(err.ref).toBe("m-3");
    expect(err.message).toContain(DAVE);
    expect(b.frames).toHaveLength(0);
    expect(a.controls).toHaveLength(0);
    expect(a.charges).toHaveLength(0);
  });

  it("refuses a recipient the envelope has no key for with unknown_recipient", async () => {
    const err = await refusal(() => hub.handle(a, send("m-4", envelope([BOB]), [BOB, CAROL])));
    expect(err.code).toBe("unknown_recipient");
    expect(err.message).toContain(`env.keys has no entry for ${CAROL}`);
    expect(b.frames).toHaveLength(0);
    expect(c.frames).toHaveLength(0);
  });

  it("acks a repeated mid again with the first count and does not deliver it twice", async () => {
    hub.handle(a, send("dup", envelope([BOB, CAROL])));
    await settle();
    hub.handle(a, send("dup", envelope([BOB, CAROL])));
    await settle();
    expect(b.frames).toHaveLength(1);
    expect(c.frames).toHaveLength(1);
    expect(a.controls).toEqual([
      { t: "ack", mid: "dup", delivered: 2 },
      { t: "ack", mid: "dup", delivered: 2 },
    ]);
    expect(a.charges).toHaveLength(1);
    // Mids are per sender: Bob may use the same one.
    hub.handle(b, send("dup", envelope([ALICE]), [ALICE]));
    await settle();
    expect(a.received().map((m) => [m.t, m.from])).toEqual([["msg", BOB]]);
  });

  it("delivers nothing and acks nothing when the sender's budget refuses, and does not remember the mid", async () => {
    a.budgetOk = false;
    hub.handle(a, send("m-5", envelope([BOB, CAROL])));
    await settle();
    expect(a.charges).toEqual([{ bytes: expect.any(Number) as number, recipients: 2, mid: "m-5" }]);
    expect(b.frames).toHaveLength(0);
    expect(c.frames).toHaveLength(0);
    expect(a.controls).toHaveLength(0);
    // Refused is not done: once the budget allows, the same mid goes out.
    a.budgetOk = true;
    hub.handle(a, send("m-5", envelope([BOB, CAROL])));
    await settle();
    expect(b.frames).toHaveLength(1);
    expect(a.controls).toEqual([{ t: "ack", mid: "m-5", delivered: 2 }]);
  });

  it("refuses malformed sends with a non-fatal bad_request naming the mid", async () => {
    const cases: Array<[RawMessage, string]> = [
      [{ t: "send", mid: "m-6", to: [BOB] }, "m-6"], // no env
      [{ t: "send", mid: "m-7", to: [BOB], env: { ...envelope([BOB]), alg: "rot13" } }, "m-7"],
      [{ t: "send", mid: "m-8", to: [BOB, BOB], env: envelope([BOB]) }, "m-8"], // duplicate recipient
      [{ t: "send", mid: "m-9", to: ["not-an-id"], env: envelope([BOB]) }, "m-9"],
      [{ t: "send", mid: "has space", to: [BOB], env: envelope([BOB]) }, "has space"],
    ];
    for (const [raw, ref] of cases) {
      const err = await refusal(() => hub.handle(a, raw));
      expect(err.code, JSON.stringify(raw)).toBe("bad_request");
      expect(err.fatal).toBe(false);
      expect(err.ref).toBe(ref);
    }
    expect(b.frames).toHaveLength(0);
    expect(a.controls).toHaveLength(0);
  });

  it("refuses a send that names its sender, or more than maxRecipients, with bad_request", async () => {
    const self = await refusal(() => hub.handle(a, send("m-10", envelope([ALICE, BOB]), [BOB, ALICE])));
    expect(self.code).toBe("bad_request");
    expect(self.message).toContain("names the sender");
    expect(b.frames).toHaveLength(0);

    makeHub({ maxRecipients: 1 });
    const [x, y] = [await seat(ALICE, "Alice"), await seat(BOB, "Bob")];
    await seat(CAROL, "Carol");
    y.clear();
    const many = await refusal(() => hub.handle(x, send("m-11", envelope([BOB, CAROL]))));
    expect(many.code).toBe("bad_request");
    expect(many.message).toContain("more than 1 recipients");
    expect(y.frames).toHaveLength(0);
  });

  it("refuses an envelope over maxEnvelope with too_large", async () => {
    makeHub({ maxEnvelope: 300 });
    const [x, y] = [await seat(ALICE, "Alice"), await seat(BOB, "Bob")];
    y.clear();
    const env = { ...envelope([BOB]), ct: "A".repeat(400) };
    const err = await refusal(() => hub.handle(x, send("m-12", env, [BOB])));
    expect(err.code).toBe("too_large");
    expect(err.ref).toBe("m-12");
    expect(y.frames).toHaveLength(0);
  });
});

describe("Hub: other messages", () => {
  it("answers ping with pong, refuses a second hello fatally and an unknown type not, and passes video requests on", async () => {
    const a = await seat(ALICE, "Alice");
    a.clear();
    hub.handle(a, { t: "ping", ts: 123 });
    expect(a.controls).toEqual([{ t: "pong", ts: 123 }]);

    const again = await refusal(() => hub.handle(a, { ...hello(ALICE, "Alice").hello }));
    expect([again.code, again.fatal]).toEqual(["bad_hello", true]);
    const unknown = await refusal(() => hub.handle(a, { t: "teleport" }));
    expect([unknown.code, unknown.fatal]).toEqual(["unknown_type", false]);

    hub.handle(a, { t: "play", video: "clip", scope: "room" });
    hub.handle(a, { t: "videos" });
    expect(video.handled.map((h) => [h.peer, h.msg.t])).toEqual([
      [a, "play"],
      [a, "videos"],
    ]);
  });
});
