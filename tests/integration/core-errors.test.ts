// Every condition of docs/protocol.md section 9 gets its code and fatality, and a
// bystander pair in another room keeps chatting throughout.

import { generateKeyPairSync, randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { makeHello, sealEnvelope, type Identity } from "../../protocol/crypto";
import { KIND_CONTROL, KIND_VIDEO, encodeFrame } from "../../protocol/framing";
import type { CoreServer } from "../../server/server";
import { startCore } from "../helpers/core";
import { identity, join, WirePeer, type Received } from "../helpers/wire";

let core: CoreServer;
let bystanders: Awaited<ReturnType<typeof join>>[];

beforeAll(async () => {
  core = await startCore({ limits: { maxMembersPerRoom: 3 } });
  bystanders = [
    await join(core.port, { name: "by1", room: "bystand", id: await identity(5) }),
    await join(core.port, { name: "by2", room: "bystand", id: await identity(6) }),
  ];
});
afterAll(() => core.stop());

let bySeq = 0;
/** The bystanders still exchange a message end to end. */
async function bystandersWork(): Promise<void> {
  const [a, b] = bystanders;
  const mid = `by-${++bySeq}`;
  const env = await sealEnvelope(a.identity, {
    room: "bystand",
    mid,
    text: "still here",
    ts: 0,
    recipients: [b.identity],
  });
  a.peer.send({ t: "send", mid, to: [b.identity.id], env });
  await b.peer.next((m) => m.t === "msg" && m.mid === mid);
}

async function fatalError(p: WirePeer, code: string): Promise<Received> {
  const e = await p.next((m) => m.t === "error");
  expect(e).toMatchObject({ code, fatal: true });
  await p.waitClosed();
  return e;
}

async function helloWith(
  over: Record<string, unknown>,
  id?: Identity,
  base: { name?: string; room?: string } = {},
): Promise<WirePeer> {
  const p = await WirePeer.connect(core.port);
  const ch = await p.nextT("challenge");
  const h = await makeHello(id ?? (await identity(0)), {
    nonce: ch.nonce,
    room: base.room ?? "errs",
    name: base.name ?? "eve",
  });
  p.send({ ...h, ...over });
  return p;
}

const spki = (bits: number, e = 65537) =>
  generateKeyPairSync("rsa", { modulusLength: bits, publicExponent: e })
    .publicKey.export({ type: "spki", format: "der" })
    .toString("base64");

describe("framing errors are fatal", () => {
  const cases: [string, Uint8Array, string][] = [
    ["length 0", new Uint8Array([0, 0, 0, 0]), "bad_frame"],
    ["unknown kind", new Uint8Array([0, 0, 0, 2, 7, 0]), "bad_frame"],
    ["a VIDEO frame from a client", encodeFrame(KIND_VIDEO, new Uint8Array(16)), "bad_frame"],
    ["length over maxFrame, judged from the header", new Uint8Array([0, 0x10, 0, 1]), "too_large"],
    ["invalid UTF-8", encodeFrame(KIND_CONTROL, new Uint8Array([0xff, 0xfe, 0x7b])), "bad_json"],
    ["not JSON", encodeFrame(KIND_CONTROL, new TextEncoder().encode("{nope")), "bad_json"],
    ["JSON that is not an object", encodeFrame(KIND_CONTROL, new TextEncoder().encode("[1,2]")), "bad_json"],
    ["t missing", encodeFrame(KIND_CONTROL, new TextEncoder().encode('{"x":1}')), "bad_json"],
    ["t not a string", encodeFrame(KIND_CONTROL, new TextEncoder().encode('{"t":5}')), "bad_json"],
  ];
  for (const [what, bytes, code] of cases) {
    it(`${what} -> ${code}`, async () => {
      const p = await WirePeer.connect(core.port);
      await p.nextT("challenge");
      p.sendRaw(bytes);
      await fatalError(p, code);
      await bystandersWork();
    });
  }

  it("the same errors after hello make the room see left(error)", async () => {
    const a = await join(core.port, { name: "watcher", room: "frames-after", id: await identity(0) });
    const b = await join(core.port, { name: "breaker", room: "frames-after", id: await identity(1) });
    b.peer.sendRaw(new Uint8Array([0, 0, 0, 0]));
    await fatalError(b.peer, "bad_frame");
    expect(await a.peer.nextT("left")).toEqual({ t: "left", id: b.identity.id, reason: "error" });
    a.peer.close();
  });

  it("10,000 random bytes end only that connection", async () => {
    const p = await WirePeer.connect(core.port);
    await p.nextT("challenge");
    p.sendRaw(randomBytes(10_000));
    const e = await p.next((m) => m.t === "error");
    expect(["bad_frame", "too_large", "bad_json"]).toContain(e.code);
    expect(e.fatal).toBe(true);
    await p.waitClosed();
    await bystandersWork();
  });

  it("a frame split across many writes is reassembled", async () => {
    const p = await WirePeer.connect(core.port);
    await p.nextT("challenge");
    const frame = encodeFrame(KIND_CONTROL, new TextEncoder().encode('{"t":"ping","ts":42}'));
    for (const b of frame) {
      p.sendRaw(new Uint8Array([b]));
      await new Promise((r) => setTimeout(r, 2));
    }
    expect(await p.nextT("pong")).toEqual({ t: "pong", ts: 42 });
    // two frames merged in one write
    p.sendRaw(
      new Uint8Array([
        ...encodeFrame(KIND_CONTROL, new TextEncoder().encode('{"t":"ping","ts":1}')),
        ...encodeFrame(KIND_CONTROL, new TextEncoder().encode('{"t":"ping","ts":2}')),
      ]),
    );
    await p.next((m) => m.t === "pong" && m.ts === 2);
    p.close();
  });
});

describe("hello errors are fatal", () => {
  it("anything but hello or ping before hello -> bad_hello", async () => {
    const p = await WirePeer.connect(core.port);
    await p.nextT("challenge");
    p.send({ t: "ping", ts: 1 });
    await p.nextT("pong");
    p.send({ t: "videos" });
    const e = await fatalError(p, "bad_hello");
    expect(e.ref).toBe("videos");
  });

  it("hello of the wrong shape -> bad_hello", async () => {
    await fatalError(await helloWith({ name: 5 }), "bad_hello");
    await fatalError(await helloWith({ proof: "not base64!" }), "bad_hello");
    await fatalError(await helloWith({ agent: "x".repeat(65) }), "bad_hello");
  });

  it("a second hello -> bad_hello", async () => {
    const a = await join(core.port, { name: "twice", room: "errs2", id: await identity(0) });
    a.peer.send({ t: "hello", v: 1 });
    await fatalError(a.peer, "bad_hello");
  });

  it("v other than 1 and 2 -> unsupported_version; v 2 without its fields -> bad_hello", async () => {
    await fatalError(await helloWith({ v: 3 }), "unsupported_version");
    await fatalError(await helloWith({ v: 2 }), "bad_hello");
  });

  it("keys outside the rules -> bad_key", async () => {
    await fatalError(await helloWith({ sigKey: spki(1024) }), "bad_key");
    await fatalError(await helloWith({ encKey: spki(1024) }), "bad_key");
    await fatalError(await helloWith({ sigKey: spki(2048, 3) }), "bad_key");
    await fatalError(await helloWith({ encKey: Buffer.from("garbage").toString("base64") }), "bad_key");
    const ec = generateKeyPairSync("ec", { namedCurve: "P-256" })
      .publicKey.export({ type: "spki", format: "der" })
      .toString("base64");
    await fatalError(await helloWith({ sigKey: ec }), "bad_key");
  });

  it("a proof or encKeySig that does not verify -> bad_proof", async () => {
    const other = await identity(1);
    await fatalError(
      await helloWith({ proof: (await makeHello(other, { nonce: "AAAA", room: "errs", name: "eve" })).proof }),
      "bad_proof",
    );
    await fatalError(await helloWith({ encKeySig: other.encKeySig }), "bad_proof");
    // someone else's public key alone proves nothing
    await fatalError(await helloWith({ sigKey: other.sigKey }), "bad_proof");
    // the proof covers the nonce: a replayed hello fails on a new connection
    const p1 = await WirePeer.connect(core.port);
    const ch = await p1.nextT("challenge");
    const h = await makeHello(await identity(0), { nonce: ch.nonce, room: "errs", name: "eve" });
    p1.close();
    const p2 = await WirePeer.connect(core.port);
    await p2.nextT("challenge");
    p2.send(h);
    await fatalError(p2, "bad_proof");
  });

  it("names outside the rules -> bad_name", async () => {
    for (const name of ["", " alice", "alice ", "a".repeat(33), "al<ice>", "bob\n", "e\u0301"]) {
      await fatalError(await helloWith({}, undefined, { name }), "bad_name");
    }
  });

  it("accepts Unicode letters and digits, spaces, _ - . and 32 code points", async () => {
    for (const [i, name] of ["Zoë Ä_1.-", "名前", "𝒜".repeat(32)].entries()) {
      const a = await join(core.port, { name, room: `names${i}`, id: await identity(0) });
      expect(a.welcome.members[0].name).toBe(name);
      a.peer.close();
    }
  });

  it("rooms outside the rules -> bad_room", async () => {
    for (const room of ["", "a b", "r".repeat(65), "../x", "é"]) {
      await fatalError(await helloWith({}, undefined, { room }), "bad_room");
    }
  });

  it("a name in use, compared case-insensitively -> name_taken", async () => {
    const a = await join(core.port, { name: "Alice", room: "taken", id: await identity(0) });
    await fatalError(await helloWith({}, await identity(1), { name: "aLICE", room: "taken" }), "name_taken");
    a.peer.close();
  });

  it("a full room -> room_full", async () => {
    const ms = [];
    for (let i = 0; i < 3; i++) ms.push(await join(core.port, { name: `m${i}`, room: "full", id: await identity(i) }));
    await fatalError(await helloWith({}, await identity(3), { name: "m3", room: "full" }), "room_full");
    for (const m of ms) m.peer.close();
  });
});

describe("request errors are not fatal", () => {
  it("unknown t -> unknown_type, and the session goes on", async () => {
    const a = await join(core.port, { name: "newer", room: "req1", id: await identity(0) });
    a.peer.send({ t: "teleport", to: "mars" });
    expect(await a.peer.nextT("error")).toMatchObject({ code: "unknown_type", fatal: false, ref: "teleport" });
    a.peer.send({ t: "ping", ts: 7 });
    expect(await a.peer.nextT("pong")).toEqual({ t: "pong", ts: 7 });
    a.peer.close();
  });

  it("fields of the wrong shape -> bad_request, nothing delivered", async () => {
    const room = "req2";
    const a = await join(core.port, { name: "a", room, id: await identity(0) });
    const b = await join(core.port, { name: "b", room, id: await identity(1) });
    const env = await sealEnvelope(a.identity, { room, mid: "ok", text: "x", ts: 0, recipients: [b.identity] });
    const bad: [object, string][] = [
      [{ t: "send", mid: "", to: [b.identity.id], env }, ""],
      [{ t: "send", mid: "x".repeat(65), to: [b.identity.id], env }, "x".repeat(65)],
      [{ t: "send", mid: "has space", to: [b.identity.id], env }, "has space"],
      [{ t: "send", mid: "m-empty", to: [], env }, "m-empty"],
      [{ t: "send", mid: "m-dup", to: [b.identity.id, b.identity.id], env }, "m-dup"],
      [{ t: "send", mid: "m-self", to: [a.identity.id], env }, "m-self"],
      [{ t: "send", mid: "m-iv", to: [b.identity.id], env: { ...env, iv: "AAAA" } }, "m-iv"],
      [{ t: "send", mid: "m-noenv", to: [b.identity.id] }, "m-noenv"],
      [{ t: "play", video: "x", scope: "everyone" }, "play"],
      [{ t: "control", sid: 1, action: "rewind" }, "control"],
      [{ t: "control", sid: -1, action: "pause" }, "control"],
      [{ t: "control", sid: 1, action: "seek" }, "control"],
      [{ t: "ping" }, "ping"],
    ];
    for (const [msg, ref] of bad) {
      a.peer.send(msg);
      const e = await a.peer.next((m) => m.t === "error" && m.ref === ref);
      expect(e).toMatchObject({ code: "bad_request", fatal: false });
    }
    await new Promise((r) => setTimeout(r, 50));
    expect(b.peer.messages.some((m) => m.t === "msg")).toBe(false);
    // still usable
    a.peer.send({ t: "send", mid: "ok", to: [b.identity.id], env });
    expect(await a.peer.nextT("ack")).toEqual({ t: "ack", mid: "ok", delivered: 1 });
    a.peer.close();
    b.peer.close();
  });

  it("a room message to 256 members with 4096-bit keys fits maxEnvelope", async () => {
    // 256 wrapped keys of 4096-bit RSA plus 4,000 four-byte characters
    const keys: Record<string, string> = {};
    for (let i = 0; i < 256; i++) keys[`${String(i).padStart(3, "0")}${"k".repeat(19)}`] = "A".repeat(684);
    const env = { alg: "RSA-OAEP-256+A256GCM", iv: "A".repeat(16), ct: "A".repeat(21_400), keys, sig: "A".repeat(684) };
    const { DEFAULT_LIMITS } = await import("../../protocol/limits");
    expect(Buffer.byteLength(JSON.stringify(env))).toBeLessThan(DEFAULT_LIMITS.maxEnvelope);
  });

  it("env over maxEnvelope -> too_large (not fatal)", async () => {
    const room = "req3";
    const a = await join(core.port, { name: "a", room, id: await identity(0) });
    const b = await join(core.port, { name: "b", room, id: await identity(1) });
    const env = await sealEnvelope(a.identity, { room, mid: "big", text: "x", ts: 0, recipients: [b.identity] });
    a.peer.send({ t: "send", mid: "big", to: [b.identity.id], env: { ...env, ct: "A".repeat(270_000) } });
    expect(await a.peer.nextT("error")).toMatchObject({ code: "too_large", ref: "big", fatal: false });
    a.peer.send({ t: "ping", ts: 1 });
    await a.peer.nextT("pong");
    expect(b.peer.messages.some((m) => m.t === "msg")).toBe(false);
    a.peer.close();
    b.peer.close();
  });

  it("a recipient not in the room, or missing from keys -> unknown_recipient", async () => {
    const room = "req4";
    const a = await join(core.port, { name: "a", room, id: await identity(0) });
    const b = await join(core.port, { name: "b", room, id: await identity(1) });
    const c = await join(core.port, { name: "c", room: "req4-elsewhere", id: await identity(2) });
    const env = await sealEnvelope(a.identity, {
      room,
      mid: "u1",
      text: "x",
      ts: 0,
      recipients: [b.identity, c.identity],
    });
    a.peer.send({ t: "send", mid: "u1", to: [b.identity.id, c.identity.id], env });
    expect(await a.peer.nextT("error")).toMatchObject({ code: "unknown_recipient", ref: "u1", fatal: false });
    const d = await join(core.port, { name: "d", room, id: await identity(3) });
    const env2 = await sealEnvelope(a.identity, { room, mid: "u2", text: "x", ts: 0, recipients: [b.identity] });
    a.peer.send({ t: "send", mid: "u2", env: env2 }); // to absent: b and d, but d has no key
    expect(await a.peer.next((m) => m.t === "error" && m.ref === "u2")).toMatchObject({ code: "unknown_recipient" });
    await new Promise((r) => setTimeout(r, 50));
    expect([b, c, d].some((x) => x.peer.messages.some((m) => m.t === "msg"))).toBe(false);
    for (const x of [a, b, c, d]) x.peer.close();
  });

  it("video requests without a library -> unknown_video / unknown_stream", async () => {
    const a = await join(core.port, { name: "v", room: "req5", id: await identity(0) });
    a.peer.send({ t: "play", video: "../../etc/passwd", scope: "self" });
    expect(await a.peer.nextT("error")).toMatchObject({ code: "unknown_video", fatal: false });
    a.peer.send({ t: "control", sid: 99, action: "pause" });
    expect(await a.peer.next((m) => m.t === "error" && m.code === "unknown_stream")).toMatchObject({ fatal: false });
    a.peer.close();
  });
});

describe("delivery rules", () => {
  it("to absent means everyone but the sender; msg.to is the resolved list", async () => {
    const room = "all1";
    const [a, b, c] = [
      await join(core.port, { name: "a", room, id: await identity(0) }),
      await join(core.port, { name: "b", room, id: await identity(1) }),
      await join(core.port, { name: "c", room, id: await identity(2) }),
    ];
    const env = await sealEnvelope(a.identity, {
      room,
      mid: "r1",
      text: "all",
      ts: 0,
      recipients: [b.identity, c.identity, a.identity],
    });
    a.peer.send({ t: "send", mid: "r1", env });
    expect(await a.peer.nextT("ack")).toMatchObject({ delivered: 2 });
    for (const x of [b, c])
      expect((await x.peer.nextT("msg")).to.sort()).toEqual([b.identity.id, c.identity.id].sort());
    await new Promise((r) => setTimeout(r, 30));
    expect(a.peer.messages.some((m) => m.t === "msg")).toBe(false);
    for (const x of [a, b, c]) x.peer.close();
  });

  it("a resent mid is acked with the original count and not delivered twice, across reconnects", async () => {
    const room = "dedupe";
    const a = await join(core.port, { name: "a", room, id: await identity(0) });
    const b = await join(core.port, { name: "b", room, id: await identity(1) });
    const env = await sealEnvelope(a.identity, { room, mid: "d1", text: "once", ts: 0, recipients: [b.identity] });
    a.peer.send({ t: "send", mid: "d1", to: [b.identity.id], env });
    expect(await a.peer.nextT("ack")).toMatchObject({ delivered: 1 });
    a.peer.close();
    await b.peer.nextT("left");
    const a2 = await join(core.port, { name: "a", room, id: a.identity });
    const c = await join(core.port, { name: "c", room, id: await identity(2) });
    a2.peer.send({ t: "send", mid: "d1", env: { ...env, ct: env.ct.replace(/^./, "B") } });
    expect(await a2.peer.nextT("ack")).toEqual({ t: "ack", mid: "d1", delivered: 1 });
    await new Promise((r) => setTimeout(r, 50));
    expect(b.peer.messages.filter((m) => m.t === "msg")).toHaveLength(1);
    expect(c.peer.messages.some((m) => m.t === "msg")).toBe(false);
    for (const x of [a2, b, c]) x.peer.close();
  });

  it("a new connection with the same id replaces the old one; the others see nothing", async () => {
    const room = "replace";
    const a = await join(core.port, { name: "a", room, id: await identity(0), agent: "one" });
    const b = await join(core.port, { name: "b", room, id: await identity(1) });
    const a2 = await join(core.port, { name: "a", room, id: a.identity, agent: "one" });
    await fatalError(a.peer, "replaced");
    expect(a2.welcome.members.find((m) => m.id === a.identity.id)?.since).toBe(a.welcome.members[0].since);
    await new Promise((r) => setTimeout(r, 50));
    expect(b.peer.messages.filter((m) => m.t === "left" || m.t === "joined")).toEqual([]);
    // a renamed replacement is announced again with the updated member
    const a3 = await join(core.port, { name: "a-renamed", room, id: a.identity, agent: "two" });
    await fatalError(a2.peer, "replaced");
    const j = await b.peer.nextT("joined");
    expect(j.member).toMatchObject({ id: a.identity.id, name: "a-renamed", agent: "two" });
    expect(b.peer.messages.some((m) => m.t === "left")).toBe(false);
    for (const x of [a3, b]) x.peer.close();
  });
});
