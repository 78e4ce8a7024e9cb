// A v2 room on the SQLite store across a core restart: the core reloads its
// members (all away) with their v2 keys and admission, so a member that was
// away through the restart is still admitted, is wrapped the chain key, and
// reads what was sent after the restart when it comes back. The room stays
// v2 through the restart (its key is in the store): a v1 hello that comes
// first is refused with `version`, and a v1 room stays v1.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { generateIdentity, makeHello } from "../../protocol/crypto";
import type { CoreServer } from "../../server/server";
import { startCore } from "../helpers/core";
import { WirePeer, join as joinV1, type Received } from "../helpers/wire";
import { newRoom, shown, stores, until, v2Member as member } from "../helpers/v2Member";

const cores: CoreServer[] = [];
afterAll(async () => {
  for (const c of cores) await c.stop();
});

describe("v2 room, SQLite store: a core restart keeps the v2 keys of members away", () => {
  it.each([false, true])(
    "bob away through a restart (store worker: %s): still admitted, reads what alice sent after it",
    async (worker) => {
      const dir = mkdtempSync(join(tmpdir(), "sealroom-v2restart-"));
      let c = await startCore({ store: { sqlite: dir, worker } });
      cores.push(c);
      const [ia, ib] = await Promise.all([generateIdentity(), generateIdentity()]);
      const keys = await newRoom();
      const [sa, sb] = [stores(), stores()];
      const a = member(c, ia, "alice", keys, sa);
      await until(() => a.s.state === "online", "alice online");
      const b = member(c, ib, "bob", keys, sb);
      await until(() => a.s.members.size === 2 && b.s.members.size === 2, "both");
      a.s.sendText("before");
      await until(() => shown(b).includes("before"), "bob reads before");
      await until(() => (b.events.resumed ?? []).length === 1, "bob's cursor set");
      b.vanish();
      await until(() => (a.events.presence ?? []).some((p) => p.id === ib.id && p.state === "away"), "bob away");

      await c.stop();
      c = await startCore({ store: { sqlite: dir, worker } });
      cores.push(c);

      // Alice reconnects (a new session, same identity and keys): bob is in her welcome, away and admitted.
      const a2 = member(c, ia, "alice", keys, sa);
      await until(() => (a2.events.resumed ?? []).length === 1 && a2.s.members.has(ib.id), "alice back, bob listed");
      expect(a2.s.members.get(ib.id)!.admission).toEqual({ ok: true });
      a2.s.sendText("after the restart");
      await until(() => (a2.events.ack ?? []).length === 1, "stored");

      const back = member(c, ib, "bob", keys, sb);
      await until(() => (back.events.resumed ?? []).length === 1, "bob resumed");
      await until(() => back.got.length >= 1, "bob's replay opened");
      expect(shown(back)).toEqual(["after the restart"]);
      for (const x of [a2, back]) for (const e of x.s.members.values()) expect(e.admission).toEqual({ ok: true });
      a2.s.stop();
      back.s.stop();
    },
  );
});

/** A v1 hello (no room link) for `room`: the core's first answer to it, a welcome or an error. */
async function v1Hello(c: CoreServer, room: string, name: string): Promise<Received> {
  const peer = await WirePeer.connect(c.port);
  const ch = await peer.nextT("challenge");
  const id = await generateIdentity();
  peer.send(await makeHello(id, { nonce: ch.nonce, room, name, caps: ["durable"] }));
  const got = await peer.next((m) => m.t === "welcome" || m.t === "error", 10_000);
  peer.close();
  return got;
}

describe("v2 room, SQLite store: the room stays v2 across a core restart", () => {
  it.each([false, true])(
    "a v1 hello first after the restart is refused with version; the v2 members then join and read the history (store worker: %s)",
    async (worker) => {
      const dir = mkdtempSync(join(tmpdir(), "sealroom-v2keep-"));
      let c = await startCore({ store: { sqlite: dir, worker } });
      cores.push(c);
      const [ia, ib, ic] = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
      const keys = await newRoom();
      const [sa, sb] = [stores(), stores()];
      const a = member(c, ia, "alice", keys, sa);
      await until(() => a.s.state === "online", "alice online");
      const b = member(c, ib, "bob", keys, sb);
      await until(() => a.s.members.size === 2 && b.s.members.size === 2, "both");
      await until(() => (b.events.resumed ?? []).length === 1, "bob's cursor set");
      b.vanish();
      await until(() => (a.events.presence ?? []).some((p) => p.id === ib.id && p.state === "away"), "bob away");
      a.s.sendText("while bob was away");
      await until(() => (a.events.ack ?? []).length === 1, "stored");
      // A second v2 room whose only member quit: no member record is left, only its log and its key.
      const empty = await newRoom();
      const d = member(c, await generateIdentity(), "dora", empty, stores());
      await until(() => d.s.state === "online", "dora online");
      d.s.sendText("dora was here");
      await until(() => (d.events.ack ?? []).length === 1, "dora's stored");
      // Everyone gone (alice away, so her message stays one from a member): the rooms are in the store only.
      a.vanish();
      d.s.stop();
      await new Promise((r) => setTimeout(r, 200)); // the quits reach the core
      await c.stop();
      c = await startCore({ store: { sqlite: dir, worker } });
      cores.push(c);

      // Anyone who saw the link's path (the room id) tries first, without the secret.
      const first = await v1Hello(c, keys.room, "squatter");
      expect(first).toMatchObject({ t: "error", code: "version", fatal: true });
      expect(String(first.message)).toMatch(/room link/);
      // And again, now that the core has the room in its cache.
      expect(await v1Hello(c, keys.room, "squatter2")).toMatchObject({ t: "error", code: "version" });
      expect(await v1Hello(c, empty.room, "squatter")).toMatchObject({ t: "error", code: "version", fatal: true });

      // Bob (away through the restart) comes back and reads what he missed; a new v2 member joins.
      const back = member(c, ib, "bob", keys, sb);
      await until(() => (back.events.resumed ?? []).length === 1, "bob resumed");
      await until(() => back.got.length >= 1, "bob's replay opened");
      expect(shown(back)).toEqual(["while bob was away"]);
      const carol = member(c, ic, "carol", keys, stores());
      await until(() => carol.s.members.size === 3 && back.s.members.has(ic.id), "carol in");
      for (const x of [back, carol]) for (const e of x.s.members.values()) expect(e.admission).toEqual({ ok: true });
      carol.s.sendText("hi from carol");
      await until(() => shown(back).includes("hi from carol"), "bob reads carol");
      const e = member(c, await generateIdentity(), "eve", empty, stores());
      await until(() => e.s.state === "online", "a v2 member opens the emptied room");
      back.s.stop();
      carol.s.stop();
      e.s.stop();
    },
  );

  it("a v1 room whose members are away stays v1 after a restart: a v2 hello for its id is refused with version", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sealroom-v1keep-"));
    let c = await startCore({ store: { sqlite: dir } });
    cores.push(c);
    // A v1 room under an id a room link would give (someone opened the path without the secret first).
    const keys = await newRoom();
    const old = await joinV1(c.port, { name: "old", room: keys.room, caps: ["durable"] });
    old.peer.close();
    await c.stop();
    c = await startCore({ store: { sqlite: dir } });
    cores.push(c);
    const late = member(c, await generateIdentity(), "new", keys, stores());
    const errs: { code: string; message: string }[] = [];
    late.s.on("error", (e) => errs.push(e));
    await until(() => errs.length > 0 || late.s.state === "online", "the v2 hello answered");
    expect(errs[0]).toMatchObject({ code: "version", message: expect.stringMatching(/without a room link/) });
    late.s.stop();
    // the v1 member still gets in
    const again = await joinV1(c.port, { name: "old", room: keys.room, id: old.identity, caps: ["durable"] });
    expect(again.welcome.members.map((m) => m.name)).toEqual(["old"]);
    again.peer.close();
  });
});
