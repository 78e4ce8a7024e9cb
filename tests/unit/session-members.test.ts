// Unit tests of protocol/members.ts without a session: verification of
// announced members, the member list, and key continuity. Crypto is real.

import { beforeAll, describe, expect, it } from "vitest";
import { generateIdentity, safetyCode, type Identity } from "../../protocol/crypto";
import { MemoryKeyStore, type KeyStore } from "../../protocol/keyContinuity";
import { continuityChange, memberEntry, Members } from "../../protocol/members";
import type { Member } from "../../protocol/messages";

let alice: Identity, bob: Identity, carol: Identity, mallory: Identity;

beforeAll(async () => {
  [alice, bob, carol, mallory] = await Promise.all([0, 1, 2, 3].map(() => generateIdentity()));
});

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

describe("memberEntry", () => {
  it("verifies a genuine member and gives its safety code", async () => {
    const e = await memberEntry(memberOf(bob, "bob"), alice);
    expect(e).toMatchObject({ verified: true, self: false, safetyCode: safetyCode(bob.id) });
    expect(e.safetyCode).toMatch(/^\d{4} \d{4} \d{4}$/);
  });

  it("refuses an encKey signed by someone else, an id that is not the key's hash, and garbage keys", async () => {
    expect(
      (await memberEntry({ ...memberOf(bob, "bob"), encKey: mallory.encKey, encKeySig: mallory.encKeySig }, alice))
        .verified,
    ).toBe(false);
    expect((await memberEntry({ ...memberOf(bob, "bob"), id: carol.id }, alice)).verified).toBe(false);
    expect((await memberEntry({ ...memberOf(bob, "bob"), sigKey: "AAAA" }, alice)).verified).toBe(false);
  });

  it("marks our own entry as self, and refuses one that carries our id with another key", async () => {
    expect(await memberEntry(memberOf(alice, "alice"), alice)).toMatchObject({ verified: true, self: true });
    // Mallory's keys verify on their own; claimed as our id they are still not us.
    const e = await memberEntry(memberOf(mallory, "alice"), { id: mallory.id, sigKey: alice.sigKey });
    expect(e).toMatchObject({ verified: false, self: true });
  });
});

describe("Members", () => {
  it("adds, replaces, removes and lists who may receive", async () => {
    const list = new Members();
    const [a, b, forged] = await Promise.all([
      memberEntry(memberOf(alice, "alice"), alice),
      memberEntry(memberOf(bob, "bob"), alice),
      memberEntry({ ...memberOf(carol, "carol"), encKey: mallory.encKey, encKeySig: mallory.encKeySig }, alice),
    ]);
    list.reset([a, b, forged]);
    expect([...list.recipientIds()]).toEqual([bob.id]);
    expect(list.add(b)).toBe(true);
    expect(list.remove(bob.id)).toBe(b);
    expect(list.remove(bob.id)).toBeNull();
    expect(list.add(b)).toBe(false);
    expect(list.view.size).toBe(3);
  });

  it("a view taken before a reset keeps showing the old members", async () => {
    const list = new Members();
    list.reset([await memberEntry(memberOf(bob, "bob"), alice)]);
    const before = list.view;
    list.reset([await memberEntry(memberOf(carol, "carol"), alice)]);
    expect([...before.keys()]).toEqual([bob.id]);
    expect([...list.view.keys()]).toEqual([carol.id]);
  });

  it("calls a message direct when it leaves out a verified member other than the sender", async () => {
    const list = new Members();
    list.reset(
      await Promise.all(
        [memberOf(alice, "alice"), memberOf(bob, "bob"), memberOf(carol, "carol")].map((m) => memberEntry(m, alice)),
      ),
    );
    expect(list.isDirect(bob.id, [alice.id, carol.id])).toBe(false);
    expect(list.isDirect(bob.id, [alice.id])).toBe(true);
    // Unverified members do not count: nobody could have sealed for them.
    list.add(await memberEntry({ ...memberOf(mallory, "m"), id: carol.id }, alice));
    expect(list.isDirect(bob.id, [alice.id])).toBe(false);
  });

  it("checks direct recipients with messages people can read", async () => {
    const list = new Members();
    list.reset(
      await Promise.all(
        [
          memberOf(alice, "alice"),
          memberOf(bob, "bob"),
          { ...memberOf(carol, "carol"), encKey: mallory.encKey, encKeySig: mallory.encKeySig },
        ].map((m) => memberEntry(m, alice)),
      ),
    );
    expect(() => list.checkRecipients([])).toThrow(/no recipient/);
    expect(() => list.checkRecipients([bob.id, bob.id])).toThrow(/duplicate/);
    expect(() => list.checkRecipients([mallory.id])).toThrow(/not in the room/);
    expect(() => list.checkRecipients([alice.id])).toThrow(/yourself/);
    expect(() => list.checkRecipients([carol.id])).toThrow(/carol's keys do not verify/);
    expect(() => list.checkRecipients([bob.id])).not.toThrow();
  });
});

describe("continuityChange", () => {
  it("reports a name that comes back with another id, and skips self and unverified members", async () => {
    const store = new MemoryKeyStore();
    expect(await continuityChange(store, "r", await memberEntry(memberOf(bob, "Bob"), alice))).toBeNull();
    expect(await continuityChange(store, "r", await memberEntry(memberOf(mallory, "bob"), alice))).toEqual({
      room: "r",
      name: "bob",
      oldId: bob.id,
      newId: mallory.id,
    });
    expect(
      await continuityChange(store, "r", await memberEntry({ ...memberOf(carol, "bob"), id: bob.id }, alice)),
    ).toBeNull();
    expect(await continuityChange(store, "r", await memberEntry(memberOf(alice, "alice"), alice))).toBeNull();
    expect(store.get("r", "alice")).toBeUndefined();
    expect(store.get("r", "bob")).toBe(mallory.id);
  });

  it("passes on a failing store", async () => {
    const broken: KeyStore = {
      get: () => Promise.reject(new Error("disk gone")),
      set: () => {},
    };
    await expect(continuityChange(broken, "r", await memberEntry(memberOf(bob, "bob"), alice))).rejects.toThrow(
      /disk gone/,
    );
  });
});
