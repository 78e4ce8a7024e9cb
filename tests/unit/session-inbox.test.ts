// Unit tests of protocol/inbox.ts without a session: opening received
// messages and showing each (from, mid) once. Crypto is real.

import { beforeAll, describe, expect, it } from "vitest";
import { generateIdentity, sealEnvelope, type Identity } from "../../protocol/crypto";
import { Inbox } from "../../protocol/inbox";
import { memberEntry, Members } from "../../protocol/members";
import type { Member, ServerMessageOf } from "../../protocol/messages";

const ROOM = "inboxroom";
let alice: Identity, bob: Identity, carol: Identity, mallory: Identity;
let members: Members;

function memberOf(identity: Identity, name: string): Member {
  return {
    id: identity.id,
    name,
    encKey: identity.encKey,
    sigKey: identity.sigKey,
    encKeySig: identity.encKeySig,
    agent: "test/0",
    since: 1,
  };
}

beforeAll(async () => {
  [alice, bob, carol, mallory] = await Promise.all([0, 1, 2, 3].map(() => generateIdentity()));
  members = new Members();
  members.reset(
    await Promise.all(
      [memberOf(alice, "alice"), memberOf(bob, "bob"), memberOf(carol, "carol")].map((m) => memberEntry(m, alice)),
    ),
  );
});

async function msg(
  sealer: Identity,
  p: { from?: string; mid: string; text: string; to?: string[] },
): Promise<ServerMessageOf<"msg">> {
  const env = await sealEnvelope(sealer, {
    room: ROOM,
    mid: p.mid,
    text: p.text,
    ts: 7,
    recipients: [{ id: alice.id, encKey: alice.encKey }],
  });
  return { t: "msg", from: p.from ?? sealer.id, mid: p.mid, to: p.to ?? [alice.id, carol.id], env, at: 9 };
}

describe("Inbox", () => {
  it("opens a message and drops repeats of the same (from, mid), not the same mid from another sender", async () => {
    const inbox = new Inbox(alice, ROOM, 100);
    const m = await msg(bob, { mid: "m1", text: "hello" });
    expect(await inbox.open(m, members)).toMatchObject({
      ok: true,
      text: "hello",
      ts: 7,
      at: 9,
      from: bob.id,
      name: "bob",
      direct: false,
    });
    expect(await inbox.open(m, members)).toBeNull();
    expect(await inbox.open(await msg(carol, { mid: "m1", text: "mine", to: [alice.id] }), members)).toMatchObject({
      ok: true,
      text: "mine",
      direct: true,
    });
  });

  it("reports a forged copy once, and still shows the genuine one that follows", async () => {
    const inbox = new Inbox(alice, ROOM, 100);
    const forged = await msg(mallory, { from: bob.id, mid: "m2", text: "fake" });
    const first = await inbox.open(forged, members);
    expect(first?.ok).toBe(false);
    expect(first).not.toHaveProperty("text");
    expect(await inbox.open(forged, members)).toBeNull();
    expect(await inbox.open(await msg(bob, { mid: "m2", text: "real" }), members)).toMatchObject({
      ok: true,
      text: "real",
    });
    expect(await inbox.open(forged, members)).toBeNull();
  });

  it("says why when the sender is unknown or unverified", async () => {
    const inbox = new Inbox(alice, ROOM, 100);
    expect(await inbox.open(await msg(mallory, { mid: "m3", text: "x" }), members)).toMatchObject({
      ok: false,
      name: null,
      reason: expect.stringMatching(/not a member/),
    });
    const withForged = new Members();
    withForged.reset([
      await memberEntry({ ...memberOf(bob, "bob"), encKey: mallory.encKey, encKeySig: mallory.encKeySig }, alice),
    ]);
    expect(await inbox.open(await msg(bob, { mid: "m4", text: "x" }), withForged)).toMatchObject({
      ok: false,
      name: "bob",
      reason: expect.stringMatching(/do not verify/),
    });
  });

  it("remembers at most maxSeen pairs, forgetting the oldest first", async () => {
    const inbox = new Inbox(alice, ROOM, 2);
    const [m1, m2, m3] = await Promise.all(["a", "b", "c"].map((mid) => msg(bob, { mid, text: mid })));
    for (const m of [m1, m2, m3]) expect(await inbox.open(m, members)).not.toBeNull();
    expect(await inbox.open(m3, members)).toBeNull();
    expect(await inbox.open(m2, members)).toBeNull();
    expect(await inbox.open(m1, members)).toMatchObject({ ok: true, text: "a" });
  });
});
