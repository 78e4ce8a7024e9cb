// The core's v2 rules with raw peers: key distributions go to their `to`
// alone and only from their sender, a v2 envelope is refused in a v1 room and
// over maxEnvelopeV2, and a room message in a v2 room arrives with `to: []`.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateIdentity, type Identity } from "../../protocol/crypto";
import { deriveRoomKeys, generateRoomSecret, parseRoomSecret, type RoomKeys } from "../../protocol/e2e/roomSecret";
import { startCore } from "../helpers/core";
import { join } from "../helpers/wire";

let core: Awaited<ReturnType<typeof startCore>>;
const ids: Identity[] = [];

beforeAll(async () => {
  core = await startCore({ limits: { maxEnvelopeV2: 2_000 } });
  for (let i = 0; i < 3; i++) ids.push(await generateIdentity());
});
afterAll(() => core?.stop());

async function v2Room(): Promise<RoomKeys> {
  const p = parseRoomSecret(generateRoomSecret());
  if (!p.ok) throw new Error(p.reason);
  return deriveRoomKeys(p.secret);
}

const dist = (room: string, from: string, to: string) => ({
  alg: "sealroom-skd-v2",
  room,
  from,
  to,
  epoch: "E".repeat(22),
  n: 0,
  eph: "A".repeat(43) + "=",
  ct: "A".repeat(64),
  sig: "A".repeat(86) + "==",
});
type P = Awaited<ReturnType<typeof join>>;
/** The error whose message matches (the peer keeps every message it got). */
const errorLike = (p: P, re: RegExp) => p.peer.next((m) => m.t === "error" && re.test(String(m.message)));

const env = (ct = "A".repeat(40)) => ({
  alg: "sealroom-sk-v2",
  epoch: "E".repeat(22),
  n: 0,
  ct,
  sig: "A".repeat(86) + "==",
});

describe("core: v2 rooms", () => {
  it("routes each distribution to its member alone; refuses one from another sender or in a v1 room", async () => {
    const keys = await v2Room();
    const a = await join(core.port, { name: "a", room: keys.room, id: ids[0], v2: keys });
    const b = await join(core.port, { name: "b", room: keys.room, id: ids[1], v2: keys });
    const c = await join(core.port, { name: "c", room: keys.room, id: ids[2], v2: keys });
    expect(c.welcome.members.every((m) => m.v2 !== undefined)).toBe(true);
    a.peer.send({ t: "keys", dists: [dist(keys.room, ids[0].id, ids[1].id)] });
    const got = await b.peer.nextT("keys");
    expect(got.dist).toMatchObject({ from: ids[0].id, to: ids[1].id });
    a.peer.send({ t: "keys", dists: [dist(keys.room, ids[1].id, ids[2].id)] });
    expect(await errorLike(a, /another member/)).toMatchObject({ code: "bad_request", fatal: false });
    a.peer.send({ t: "keys", dists: [dist("elsewhere", ids[0].id, ids[2].id)] });
    expect(await errorLike(a, /another room/)).toMatchObject({ code: "bad_request" });
    // A room message: flat, `to: []` for the whole room.
    a.peer.send({ t: "send", mid: "m1", env: env() });
    const m = await c.peer.nextT("msg");
    expect(m).toMatchObject({ from: ids[0].id, mid: "m1", to: [] });
    expect(await a.peer.nextT("ack")).toMatchObject({ mid: "m1", delivered: 2 });
    a.peer.send({ t: "send", mid: "big", env: env("A".repeat(4000)) });
    expect(await errorLike(a, /maxEnvelopeV2/)).toMatchObject({ code: "too_large", ref: "big" });
    await new Promise((r) => setTimeout(r, 100));
    expect(c.peer.messages.filter((x) => x.t === "keys")).toHaveLength(0);
    for (const p of [a, b, c]) p.peer.close();

    const v1 = await join(core.port, { name: "old", room: "plainv1" });
    const v1b = await join(core.port, { name: "old2", room: "plainv1" });
    v1.peer.send({ t: "keys", dists: [dist("plainv1", v1.identity.id, v1b.identity.id)] });
    expect(await errorLike(v1, /keys: this is a v1 room/)).toMatchObject({ code: "bad_request" });
    v1.peer.send({ t: "send", mid: "v2in1", env: env() });
    expect(await errorLike(v1, /v2 envelope in a v1 room/)).toMatchObject({ code: "bad_request", ref: "v2in1" });
    expect(v1b.peer.messages.some((x) => x.t === "msg" || x.t === "keys")).toBe(false);
    v1.peer.close();
    v1b.peer.close();
  });
});
