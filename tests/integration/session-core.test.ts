// ClientSession over the real TCP connector against the real core, where the
// server's part matters: an ack lost with the connection is recovered by a
// resend with the same mid, and the core's dedupe delivers it only once.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { tcpConnector } from "../../client/tcp";
import { decodeRaw } from "../../protocol/codec";
import { generateIdentity, openEnvelope, type Identity } from "../../protocol/crypto";
import { KIND_CONTROL } from "../../protocol/framing";
import { ClientSession, type Connector, type SessionEvents } from "../../protocol/session";
import { startCore } from "../helpers/core";
import { join, type WirePeer } from "../helpers/wire";
import { until } from "../helpers/poll";

let core: Awaited<ReturnType<typeof startCore>>;
let alice: Identity;

beforeAll(async () => {
  core = await startCore();
  alice = await generateIdentity();
});
afterAll(() => core?.stop());

describe("session against the real core", () => {
  it("resends after a lost ack; the core acknowledges again and delivers once", async () => {
    const room = "lostack";
    const bob: { peer: WirePeer; identity: Identity } = await join(core.port, { name: "bob", room });
    const tcp = tcpConnector({ host: "127.0.0.1", port: core.port });
    let dropNextAck = true;
    // The first ack never arrives: the connection "breaks" just as it comes in.
    const lossy: Connector = (h) => {
      const t = tcp({
        onOpen: () => h.onOpen(),
        onClose: (r) => h.onClose(r),
        onFrame: (kind, body) => {
          if (dropNextAck && kind === KIND_CONTROL) {
            const r = decodeRaw(body);
            if (r.ok && r.raw.t === "ack") {
              dropNextAck = false;
              t.close();
              h.onClose("simulated loss");
              return;
            }
          }
          h.onFrame(kind, body);
        },
      });
      return t;
    };
    const s = new ClientSession({
      identity: alice,
      name: "alice",
      room,
      agent: "test",
      connect: lossy,
      reconnect: { minMs: 20, maxMs: 50 },
    });
    const acks: SessionEvents["ack"][] = [];
    const welcomes: SessionEvents["welcome"][] = [];
    s.on("ack", (a) => acks.push(a));
    s.on("welcome", (w) => welcomes.push(w));
    s.start();
    try {
      await until(() => s.state === "online", "online");
      const mid = s.sendText("exactly once");
      await until(() => welcomes.length === 2, "reconnect");
      await until(() => acks.length === 1, "ack after resend");
      expect(acks[0]).toEqual({ mid, delivered: 1 });
      expect(s.pendingCount).toBe(0);
      s.stop();
      // Bob sees alice leave only after everything she sent.
      await bob.peer.next((m) => m.t === "left" && m.id === alice.id);
      const copies = bob.peer.messages.filter((m) => m.t === "msg" && m.mid === mid);
      expect(copies).toHaveLength(1);
      const copy = copies[0] as unknown as {
        from: string;
        mid: string;
        env: Parameters<typeof openEnvelope>[1]["env"];
      };
      const opened = await openEnvelope(bob.identity, {
        room,
        from: copy.from,
        mid,
        env: copy.env,
        senderSigKey: alice.sigKey,
      });
      expect(opened).toMatchObject({ ok: true, text: "exactly once" });
    } finally {
      s.stop();
      bob.peer.close();
    }
  });
});
