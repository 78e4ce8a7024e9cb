// A v2 room on the SQLite store across a core restart: the core reloads its
// members (all away) with their v2 keys and admission, so a member that was
// away through the restart is still admitted, is wrapped the chain key, and
// reads what was sent after the restart when it comes back.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { tcpConnector } from "../../client/tcp";
import { generateIdentity, type Identity } from "../../protocol/crypto";
import { MemoryV2KeyStore, type V2KeyStore } from "../../protocol/e2e/keyStore2";
import { deriveRoomKeys, generateRoomSecret, parseRoomSecret, type RoomKeys } from "../../protocol/e2e/roomSecret";
import { MemoryCursorStore } from "../../protocol/resume";
import { ClientSession, type Connector, type ReceivedMessage, type SessionEvents } from "../../protocol/session";
import type { CoreServer } from "../../server/server";
import { startCore } from "../helpers/core";

const cores: CoreServer[] = [];
afterAll(async () => {
  for (const c of cores) await c.stop();
});

function until(cond: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const poll = () => {
      if (cond()) resolve();
      else if (Date.now() > deadline) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(poll, 10);
    };
    poll();
  });
}

async function newRoom(): Promise<RoomKeys> {
  const p = parseRoomSecret(generateRoomSecret());
  if (!p.ok) throw new Error(p.reason);
  return deriveRoomKeys(p.secret);
}

interface M {
  s: ClientSession;
  got: ReceivedMessage[];
  events: { [K in keyof SessionEvents]?: SessionEvents[K][] };
  vanish(): void;
}
type Stores = { cursors: MemoryCursorStore; v2: V2KeyStore };
const stores = (): Stores => ({ cursors: new MemoryCursorStore(), v2: new MemoryV2KeyStore() });

/** One run of a durable v2 client (its cursors and v2 keys kept in `st` between runs). */
function member(c: CoreServer, identity: Identity, name: string, keys: RoomKeys, st: Stores): M {
  let cut = () => {};
  const m: M = { s: null as unknown as ClientSession, got: [], events: {}, vanish: () => cut() };
  const connect: Connector = (h) => {
    const t = tcpConnector({ host: "127.0.0.1", port: c.port })(h);
    cut = () => {
      t.close();
      h.onClose("gone");
    };
    return t;
  };
  m.s = new ClientSession({
    identity,
    name,
    room: keys.room,
    agent: "test",
    connect,
    reconnect: false,
    roomKeys: keys,
    cursors: st.cursors,
    v2KeyStore: st.v2,
    v2Limits: { earlyWaitMs: 3_000 },
  });
  m.s.on("message", (r) => m.got.push(r));
  for (const ev of ["ack", "resumed", "presence"] as const)
    m.s.on(ev, (e) => ((m.events[ev] ??= []) as unknown[]).push(e));
  m.s.start();
  return m;
}

const shown = (m: M) => m.got.map((r) => (r.ok ? r.text : `FAILED: ${r.reason}`));

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
