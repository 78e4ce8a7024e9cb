// A v2 room (opened from a room link) across two real cores of a cluster on a
// real nats-server: members on different cores see each other as admitted,
// read each other's room and direct messages, a member that goes away on one
// core and comes back on the other reads what it missed, and a member a core
// seated without admission is flagged by the members on the other core too.
// A room made v2 on one core is v2 on every core: a v1 hello for its id on a
// core that never saw a v2 hello for it is refused with `version`.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { generateIdentity, makeHello } from "../../protocol/crypto";
import { makeAdmissionProof } from "../../protocol/e2e/admission";
import { generateIdentity2 } from "../../protocol/e2e/identity2";
import type { ClusterNode } from "../../server/cluster/node";
import { isKeyEntry } from "../../server/keyRouting";
import type { CoreServer } from "../../server/server";
import { clusterCores, natsServerInstalled, startNats, type NatsServer } from "../helpers/nats";
import { WirePeer, type Received } from "../helpers/wire";
import { newRoom, shown, stores, until, v2Member as member, type V2Member as M } from "../helpers/v2Member";

let nats: NatsServer;
const nodes: ClusterNode[] = [];
let A: CoreServer;
let B: CoreServer;

const admissions = (m: M) => [...m.s.members.values()].map((e) => [e.member.name, e.admission?.ok ?? null]);

describe.runIf(natsServerInstalled() || process.env.CI)("a v2 room across two cores", { timeout: 60_000 }, () => {
  beforeAll(async () => {
    nats = await startNats();
    const c = await clusterCores(nats.url, `v2c${process.pid % 100_000}`, ["a", "b"]);
    nodes.push(...c.nodes);
    [A, B] = c.cores;
  }, 30_000);

  afterAll(async () => {
    for (const c of [A, B]) await c?.stop();
    for (const n of nodes) await n.close();
    await nats?.cleanup();
  });

  it("two members on A, one on B: all admitted, room messages both ways and a direct message A->B read as text; B goes away and reads what it missed back on A", async () => {
    const keys = await newRoom();
    const [ia, ic, ib] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
    const [sa, sc, sb] = [stores(), stores(), stores()];
    const a = member(A, ia, "alice", keys, sa);
    await until(() => a.s.state === "online", "alice online");
    const c = member(A, ic, "carol", keys, sc);
    const b = member(B, ib, "bob", keys, sb);
    await until(() => [a, b, c].every((x) => x.s.members.size === 3), "three members everywhere");
    // Members on the other core are v2 members with a valid admission, not "not admitted".
    for (const x of [a, b, c])
      expect(
        admissions(x).every(([, ok]) => ok === true),
        JSON.stringify(admissions(x)),
      ).toBe(true);

    a.s.sendText("from alice on A");
    await until(() => shown(b).length >= 1 && shown(c).length >= 1, "alice's message read");
    b.s.sendText("from bob on B");
    await until(() => shown(a).length >= 1 && shown(c).length >= 2, "bob's message read");
    expect(shown(b)).toEqual(["from alice on A"]);
    expect(shown(a)).toEqual(["from bob on B"]);
    expect(shown(c)).toEqual(["from alice on A", "from bob on B"]);

    // A direct message from A to B: only bob reads it.
    a.s.sendText("just for bob", [ib.id]);
    await until(() => shown(b).length >= 2, "bob reads the DM");
    expect(shown(b)).toEqual(["from alice on A", "just for bob"]);
    await new Promise((r) => setTimeout(r, 300));
    expect(shown(c)).toEqual(["from alice on A", "from bob on B"]);

    // The key reached bob's core in the log before the first message it opens (log order).
    const log = await nodes[0].store.readAfter(keys.room, ib.id, 0, 100);
    const firstKey = log.findIndex((e) => isKeyEntry(e) && e.from === ia.id);
    const firstMsg = log.findIndex((e) => !isKeyEntry(e) && e.from === ia.id);
    expect(firstKey).toBeGreaterThanOrEqual(0);
    expect(firstKey).toBeLessThan(firstMsg);

    // Bob goes away on B; alice and carol (on A) see it, keep talking; bob comes back on A.
    await until(() => (b.events.resumed ?? []).length === 1, "bob's cursor set");
    const readBefore = shown(b).length;
    b.vanish();
    await until(
      () => [a, c].every((x) => (x.events.presence ?? []).some((p) => p.id === ib.id && p.state === "away")),
      "bob away on A",
    );
    a.s.sendText("while bob is away 1");
    c.s.sendText("while bob is away 2");
    await until(() => (a.events.ack ?? []).length === 3 && (c.events.ack ?? []).length === 1, "stored");
    const back = member(A, ib, "bob", keys, sb);
    await until(() => (back.events.resumed ?? []).length === 1, "bob resumed on A");
    await until(() => back.got.length >= 2, "bob's replay opened");
    expect(readBefore).toBe(2);
    expect(shown(back).sort()).toEqual(["while bob is away 1", "while bob is away 2"]);
    for (const x of [a, c]) expect(x.s.members.get(ib.id)?.admission?.ok).toBe(true);
    // And live on, now all three on A.
    back.s.sendText("back on A");
    await until(() => shown(a).includes("back on A") && shown(c).includes("back on A"), "bob heard again");
    for (const x of [a, c, back]) x.s.stop();
  });

  it("a v2 room created on A: a v1 hello for its id on B (which never saw a v2 hello for it) is refused; v2 members on B get in", async () => {
    const keys = await newRoom();
    const [ia, ib] = await Promise.all([generateIdentity(), generateIdentity()]);
    const a = member(A, ia, "alice", keys, stores());
    await until(() => a.s.state === "online", "alice online on A");
    const v1 = await v1Hello(B, keys.room, "squatter");
    expect(v1).toMatchObject({ t: "error", code: "version", fatal: true });
    expect(String(v1.message)).toMatch(/room link/);
    // also with nobody online at all (the room only in the cluster's store)
    a.s.stop();
    await until(() => A.hub.roomCount === 0, "A let the room go");
    expect(await v1Hello(B, keys.room, "squatter2")).toMatchObject({ t: "error", code: "version" });
    const b = member(B, ib, "bob", keys, stores());
    await until(() => b.s.state === "online", "bob online on B");
    const a2 = member(A, ia, "alice", keys, stores());
    await until(() => a2.s.members.size === 2 && b.s.members.size === 2, "both");
    for (const x of [a2, b]) for (const e of x.s.members.values()) expect(e.admission).toEqual({ ok: true });
    a2.s.stop();
    b.s.stop();
  });

  it("a member a core seated without admission is flagged on the other core too; the admitted one is not", async () => {
    const keys = await newRoom();
    const [ia, ib, ig] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
    const a = member(A, ia, "alice", keys, stores());
    await until(() => a.s.state === "online", "alice online");
    const b = member(B, ib, "bob", keys, stores());
    await until(() => a.s.members.size === 2 && b.s.members.size === 2, "both");
    // Core B (buggy or hostile) seats a member whose proof is from another room's key:
    // its record and its presence, as B writes them for a member it admitted.
    const other = await newRoom();
    const g2 = await generateIdentity2(ig);
    const admission = await makeAdmissionProof({ ...other, room: keys.room }, g2);
    const nodeB = nodes[1];
    await nodeB.store.putMember(keys.room, {
      id: ig.id,
      name: "ghost",
      encKey: ig.encKey,
      sigKey: ig.sigKey,
      encKeySig: ig.encKeySig,
      joinedAt: Date.now(),
      lastSeen: Date.now(),
      v2: { sig2: g2.sig2, dh2: g2.dh2, link: g2.link, admission },
    });
    await nodeB.presence.online(keys.room, ig.id);
    await until(() => a.s.members.has(ig.id), "ghost seated on A");
    expect(a.s.members.get(ig.id)!.admission).toEqual({ ok: false, reason: "not admitted by the room link" });
    expect(a.s.members.get(ib.id)!.admission).toEqual({ ok: true });
    a.s.sendText("not for the ghost");
    await until(() => shown(b).includes("not for the ghost"), "bob reads");
    // No chain key was ever wrapped for it (none in the log, the shared truth of both cores).
    const forGhost = await nodes[0].store.readAfter(keys.room, ig.id, 0, 100);
    expect(forGhost.filter((e) => isKeyEntry(e))).toEqual([]);
    await nodeB.presence.left(keys.room, ig.id);
    a.s.stop();
    b.s.stop();
  });
});

/** A v1 hello (no room link) for `room` on core `c`: its first answer, a welcome or an error. */
async function v1Hello(c: CoreServer, room: string, name: string): Promise<Received> {
  const peer = await WirePeer.connect(c.port);
  const ch = await peer.nextT("challenge");
  peer.send(await makeHello(await generateIdentity(), { nonce: ch.nonce, room, name, caps: ["durable"] }));
  const got = await peer.next((m) => m.t === "welcome" || m.t === "error", 10_000);
  peer.close();
  return got;
}
