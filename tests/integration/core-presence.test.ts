import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { sealEnvelope, openEnvelope } from "../../protocol/crypto";
import type { CoreServer } from "../../server/server";
import { startCore } from "../helpers/core";
import { identity, join } from "../helpers/wire";

let core: CoreServer;
beforeAll(async () => {
  core = await startCore();
});
afterAll(() => core.stop());

describe("presence", () => {
  it("challenge carries a 32-byte nonce and the server version", async () => {
    const { WirePeer } = await import("../helpers/wire");
    const p = await WirePeer.connect(core.port);
    const ch = await p.nextT("challenge");
    expect(ch.v).toBe(1);
    expect(Buffer.from(ch.nonce, "base64")).toHaveLength(32);
    expect(ch.server).toMatch(/^sealroom\//);
    p.close();
  });

  it("welcome, joined, left(quit) within a room, and nothing across rooms", async () => {
    const a = await join(core.port, { name: "alice", room: "pres1", id: await identity(0), agent: "test/1" });
    expect(a.welcome.id).toBe(a.identity.id);
    expect(a.welcome.members.map((m) => m.name)).toEqual(["alice"]);
    expect(a.welcome.limits).toEqual({ maxFrame: 1048576, maxEnvelope: 262144, maxRecipients: 256 });
    expect(a.welcome.stream).toBeNull();

    const c = await join(core.port, { name: "carol", room: "pres-other", id: await identity(2) });
    const b = await join(core.port, { name: "bob", room: "pres1", id: await identity(1) });
    expect(b.welcome.members.map((m) => m.name).sort()).toEqual(["alice", "bob"]);
    const joined = await a.peer.nextT("joined");
    expect(joined.member).toMatchObject({
      id: b.identity.id,
      name: "bob",
      encKey: b.identity.encKey,
      sigKey: b.identity.sigKey,
    });
    expect(typeof joined.member.since).toBe("number");

    b.peer.send({ t: "quit" });
    const left = await a.peer.nextT("left");
    expect(left).toEqual({ t: "left", id: b.identity.id, reason: "quit" });
    await b.peer.waitClosed();
    expect(b.peer.messages.filter((m) => m.t !== "welcome" && m.t !== "challenge")).toEqual([]);

    // carol (another room) heard nothing of it
    await new Promise((r) => setTimeout(r, 50));
    expect(c.peer.messages.map((m) => m.t)).toEqual(["challenge", "welcome"]);
    a.peer.close();
    c.peer.close();
  });

  it("routes an encrypted message only to its recipients and acks the sender", async () => {
    const room = "route1";
    const a = await join(core.port, { name: "alice", room, id: await identity(0) });
    const b = await join(core.port, { name: "bob", room, id: await identity(1) });
    const c = await join(core.port, { name: "carol", room, id: await identity(2) });
    const env = await sealEnvelope(a.identity, { room, mid: "m1", text: "hi bob", ts: 1, recipients: [b.identity] });
    a.peer.send({ t: "send", mid: "m1", to: [b.identity.id], env });
    const ack = await a.peer.nextT("ack");
    expect(ack).toEqual({ t: "ack", mid: "m1", delivered: 1 });
    const msg = await b.peer.nextT("msg");
    expect(msg.from).toBe(a.identity.id);
    expect(msg.env).toEqual(env);
    expect(msg.to).toEqual([b.identity.id]);
    const opened = await openEnvelope(b.identity, {
      room,
      from: msg.from,
      mid: msg.mid,
      env: msg.env,
      senderSigKey: a.identity.sigKey,
    });
    expect(opened).toEqual({ ok: true, text: "hi bob", ts: 1 });
    await new Promise((r) => setTimeout(r, 50));
    expect(c.peer.messages.some((m) => m.t === "msg")).toBe(false);
    // fields of a later envelope version travel through untouched
    const env2 = {
      ...(await sealEnvelope(a.identity, { room, mid: "m2", text: "v2", ts: 2, recipients: [b.identity] })),
      hint: { v: 2 },
    };
    a.peer.send({ t: "send", mid: "m2", to: [b.identity.id], env: env2 });
    const raw = await b.peer.next((m) => m.t === "msg" && m.mid === "m2");
    expect(raw.env).toEqual(env2);
    for (const x of [a, b, c]) x.peer.close();
  });
});
