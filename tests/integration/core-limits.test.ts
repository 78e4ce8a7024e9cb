// Timeouts, rate limits, connection caps and shutdown, on a core with short
// limits so the rules can be exercised in test time.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KIND_CONTROL, encodeFrame } from "../../protocol/framing";
import type { CoreServer } from "../../server/server";
import { startCore } from "../helpers/core";
import { identity, join, WirePeer } from "../helpers/wire";

let core: CoreServer;
beforeAll(async () => {
  core = await startCore({
    sweepMs: 50,
    limits: { helloTimeoutMs: 400, idleTimeoutMs: 1500, partialFrameTimeoutMs: 400, rateLimitFatalMs: 1500 },
  });
});
afterAll(() => core.stop());

const ping = (ts: number) => encodeFrame(KIND_CONTROL, new TextEncoder().encode(JSON.stringify({ t: "ping", ts })));

describe("timeouts", () => {
  it("no hello in time -> timeout (fatal)", async () => {
    const p = await WirePeer.connect(core.port);
    await p.nextT("challenge");
    const t0 = Date.now();
    expect(await p.nextT("error")).toMatchObject({ code: "timeout", fatal: true });
    expect(Date.now() - t0).toBeGreaterThanOrEqual(350);
    await p.waitClosed();
  });

  it("a silent member -> timeout, and the room hears left(timeout)", async () => {
    const a = await join(core.port, { name: "talker", room: "idle", id: await identity(0) });
    // Keep the talker alive from the start: b's join may take longer than the idle limit.
    const keepAlive = setInterval(() => a.peer.send({ t: "ping", ts: 0 }), 100);
    const b = await join(core.port, { name: "sleeper", room: "idle", id: await identity(1) });
    try {
      expect(await b.peer.nextT("error")).toMatchObject({ code: "timeout", fatal: true });
      expect(await a.peer.nextT("left")).toEqual({ t: "left", id: b.identity.id, reason: "timeout" });
    } finally {
      clearInterval(keepAlive);
      a.peer.close();
    }
  });

  it("a frame not complete in time -> timeout even while bytes trickle in", async () => {
    const p = await WirePeer.connect(core.port);
    await p.nextT("challenge");
    const frame = ping(1);
    p.sendRaw(frame.subarray(0, 6));
    let i = 6;
    const trickle = setInterval(() => i < frame.length - 1 && p.sendRaw(frame.subarray(i, ++i)), 100);
    try {
      expect(await p.nextT("error")).toMatchObject({ code: "timeout", fatal: true });
    } finally {
      clearInterval(trickle);
    }
  });
});

describe("rate limit", () => {
  it("a flood of pings: the burst is served, the rest dropped with at most one rate_limited a second, then closed", async () => {
    const a = await join(core.port, { name: "flooder", room: "flood", id: await identity(0) });
    const b = await join(core.port, { name: "calm", room: "flood", id: await identity(1) });
    const keepAlive = setInterval(() => b.peer.send({ t: "ping", ts: 0 }), 100);
    const t0 = Date.now();
    const burst = new Uint8Array(Buffer.concat(Array.from({ length: 300 }, () => ping(1))));
    a.peer.sendRaw(burst);
    const first = await a.peer.next((m) => m.t === "error");
    expect(first).toMatchObject({ code: "rate_limited", fatal: false, ref: "ping" });
    // keep flooding until the server gives up on us
    const flood = setInterval(() => !a.peer.closed && a.peer.sendRaw(burst.subarray(0, 20 * ping(0).length)), 20);
    try {
      await a.peer.waitClosed(5000);
    } finally {
      clearInterval(flood);
    }
    const errors = a.peer.messages.filter((m) => m.t === "error");
    expect(errors.at(-1)).toMatchObject({ code: "rate_limited", fatal: true });
    const nonFatal = errors.filter((e) => !e.fatal).length;
    const seconds = (Date.now() - t0) / 1000;
    expect(nonFatal).toBeLessThanOrEqual(Math.ceil(seconds) + 1);
    const pongs = a.peer.messages.filter((m) => m.t === "pong").length;
    expect(pongs).toBeGreaterThanOrEqual(100);
    expect(pongs).toBeLessThan(100 + 50 * (seconds + 1));
    expect(await b.peer.nextT("left")).toMatchObject({ id: a.identity.id, reason: "error" });
    b.peer.send({ t: "ping", ts: 5 });
    await b.peer.next((m) => m.t === "pong" && m.ts === 5);
    clearInterval(keepAlive);
    b.peer.close();
  });
});

describe("connection caps", () => {
  it("server_full instead of challenge at the connection limit", async () => {
    const small = await startCore({ limits: { maxConnections: 2 } });
    const ps = [await WirePeer.connect(small.port), await WirePeer.connect(small.port)];
    for (const p of ps) await p.nextT("challenge");
    const third = await WirePeer.connect(small.port);
    expect(await third.nextT("error")).toMatchObject({ code: "server_full", fatal: true });
    expect(third.messages.some((m) => m.t === "challenge")).toBe(false);
    await third.waitClosed();
    ps[0].close();
    await new Promise((r) => setTimeout(r, 50));
    const fourth = await WirePeer.connect(small.port);
    await fourth.nextT("challenge");
    fourth.close();
    ps[1].close();
    await small.stop();
  });

  it("per-address cap, with trusted addresses exempt", async () => {
    const capped = await startCore({ limits: { maxConnectionsPerAddress: 3 }, trusted: () => false });
    const ps = [];
    for (let i = 0; i < 3; i++) {
      ps.push(await WirePeer.connect(capped.port));
      await ps[i].nextT("challenge");
    }
    const over = await WirePeer.connect(capped.port);
    expect(await over.nextT("error")).toMatchObject({ code: "server_full", fatal: true });
    for (const p of ps) p.close();
    await capped.stop();

    const bridgeLike = await startCore({ limits: { maxConnectionsPerAddress: 3 } }); // loopback is trusted
    const many = [];
    for (let i = 0; i < 6; i++) {
      many.push(await WirePeer.connect(bridgeLike.port));
      await many[i].nextT("challenge");
    }
    for (const p of many) p.close();
    await bridgeLike.stop();
  });
});

describe("slow readers and shutdown", () => {
  it("a member that never reads is closed once its queue passes the bound; others unaffected", async () => {
    const small = await startCore({
      limits: { maxQueuedControlBytes: 256 * 1024, rateLimitPerSec: 1000, rateLimitBurst: 1000 },
    });
    const reader = await join(small.port, { name: "reader", room: "slow", id: await identity(0) });
    const stuck = await join(small.port, { name: "stuck", room: "slow", id: await identity(1) });
    stuck.peer.pause();
    const { sealEnvelope } = await import("../../protocol/crypto");
    const sealed = await sealEnvelope(reader.identity, {
      room: "slow",
      mid: "x",
      text: "y",
      ts: 0,
      recipients: [stuck.identity],
    });
    // The core routes ciphertext it cannot read: a large one fills queues fast.
    const env = { ...sealed, ct: "A".repeat(60_000) };
    let mid = 0;
    while (!reader.peer.messages.some((m) => m.t === "left") && mid < 3000) {
      for (let i = 0; i < 20; i++) reader.peer.send({ t: "send", mid: `s${mid++}`, to: [stuck.identity.id], env });
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await reader.peer.nextT("left")).toMatchObject({ id: stuck.identity.id, reason: "closed" });
    reader.peer.send({ t: "ping", ts: 9 });
    await reader.peer.next((m) => m.t === "pong" && m.ts === 9);
    reader.peer.close();
    stuck.peer.close();
    await small.stop();
  });

  it("stop() tells every member and closes every socket", async () => {
    const s = await startCore();
    const a = await join(s.port, { name: "a", room: "bye", id: await identity(0) });
    await s.stop();
    expect(await a.peer.nextT("error")).toMatchObject({ code: "internal", fatal: true });
    await a.peer.waitClosed();
  });
});

describe("send budget", () => {
  const envFor = async (
    from: Awaited<ReturnType<typeof join>>,
    room: string,
    to: Awaited<ReturnType<typeof join>>[],
  ) => {
    const { sealEnvelope } = await import("../../protocol/crypto");
    return sealEnvelope(from.identity, { room, mid: "x", text: "hello", ts: 0, recipients: to.map((m) => m.identity) });
  };

  it("costs a message's bytes times its recipients: what passes to one member is refused to three", async () => {
    const { msgFrame } = await import("../../server/wire");
    const ids = await Promise.all([0, 1, 2, 3].map((i) => identity(i)));
    // Size the burst from the frame the core will build: room for one send to 3, not two.
    const probe = msgFrame(
      { t: "msg", from: ids[0].id, mid: "m1", to: ids.slice(1).map((i) => i.id), at: Date.now() },
      JSON.stringify({ pad: "x".repeat(1500) }),
    ).length;
    const small = await startCore({ limits: { fanoutBurstBytes: 5 * probe, fanoutBytesPerSec: 1 } });
    try {
      const [a, b, c, d] = [
        await join(small.port, { name: "a", room: "fan", id: ids[0] }),
        await join(small.port, { name: "b", room: "fan", id: ids[1] }),
        await join(small.port, { name: "c", room: "fan", id: ids[2] }),
        await join(small.port, { name: "d", room: "fan", id: ids[3] }),
      ];
      const env = await envFor(a, "fan", [b, c, d]);
      const frame = msgFrame(
        { t: "msg", from: a.identity.id, mid: "m1", to: [b, c, d].map((m) => m.identity.id), at: Date.now() },
        JSON.stringify(env),
      ).length;
      // The burst (5 probes) holds one send to 3 (3 frames) and then one to 1, but not a second to 3.
      expect(frame).toBeGreaterThan(probe * 0.84);
      expect(frame).toBeLessThanOrEqual(probe * 1.25);
      a.peer.send({ t: "send", mid: "m1", env });
      expect(await a.peer.nextT("ack")).toMatchObject({ mid: "m1", delivered: 3 });
      a.peer.send({ t: "send", mid: "m2", env });
      expect(await a.peer.nextT("error")).toEqual({
        t: "error",
        code: "rate_limited",
        message: expect.any(String),
        ref: "m2",
        fatal: false,
      });
      a.peer.send({ t: "send", mid: "m3", to: [b.identity.id], env });
      expect(await a.peer.next((m) => m.t === "ack" && m.mid === "m3")).toMatchObject({ delivered: 1 });
      // m2 reached nobody.
      await b.peer.next((m) => m.t === "msg" && m.mid === "m3");
      expect(b.peer.messages.some((m) => m.t === "msg" && m.mid === "m2")).toBe(false);
      for (const m of [a, b, c, d]) m.peer.close();
    } finally {
      await small.stop();
    }
  });

  it("belongs to the member, not the connection: reconnecting brings no fresh burst", async () => {
    const small = await startCore({ limits: { recipientBurstBytes: 20_000, recipientBytesPerSec: 1 } });
    try {
      const b = await join(small.port, { name: "b", room: "again", id: await identity(1) });
      let a = await join(small.port, { name: "a", room: "again", id: await identity(0) });
      const env = { ...(await envFor(a, "again", [b])), ct: "A".repeat(8_000) };
      a.peer.send({ t: "send", mid: "r1", env });
      a.peer.send({ t: "send", mid: "r2", env });
      expect(await a.peer.next((m) => m.t === "ack" && m.mid === "r2")).toMatchObject({ delivered: 1 });
      a.peer.send({ t: "send", mid: "r3", env });
      expect(await a.peer.nextT("error")).toMatchObject({ code: "rate_limited", ref: "r3", fatal: false });
      // The same member on a new connection (the old one is replaced).
      a = await join(small.port, { name: "a", room: "again", id: await identity(0) });
      a.peer.send({ t: "send", mid: "r4", env });
      expect(await a.peer.nextT("error")).toMatchObject({ code: "rate_limited", ref: "r4", fatal: false });
      expect(a.peer.messages.some((m) => m.t === "ack")).toBe(false);
      a.peer.close();
      b.peer.close();
    } finally {
      await small.stop();
    }
  });
});
