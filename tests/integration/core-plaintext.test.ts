// The server never sees plaintext: a message carrying a unique marker goes
// through a real core process, and the marker appears in nothing it received
// (recorded by a relay in front of it), nothing it logged (at debug level) and
// nothing it held (a heap snapshot taken while the members are connected),
// nor in its room log on disk (rooms.db and its WAL under --data-dir).

import { randomBytes } from "node:crypto";
import { mkdtempSync, readdirSync, readFileSync, statSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join as pathJoin } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { openEnvelope, sealEnvelope } from "../../protocol/crypto";
import { runSealroom, type Proc } from "../helpers/proc";
import { identity, join } from "../helpers/wire";

let server: Proc;
let relay: net.Server;
const received: Buffer[] = [];
const dir = mkdtempSync(pathJoin(tmpdir(), "sealroom-plain-"));

beforeAll(async () => {
  server = runSealroom(["server", "--port", "0", "--log-level", "debug", "--data-dir", pathJoin(dir, "data")], { cwd: dir, nodeArgs: ["--heapsnapshot-signal=SIGUSR2"] });
  const port = Number((await server.waitFor(/listening on [^:]+:(\d+)/))[1]);
  relay = net.createServer((c) => {
    const up = net.connect(port, "127.0.0.1");
    c.on("data", (d) => {
      received.push(Buffer.from(d));
      up.write(d);
    });
    up.pipe(c);
    c.on("close", () => up.destroy());
    up.on("close", () => c.destroy());
    c.on("error", () => {});
    up.on("error", () => {});
  });
  await new Promise<void>((r) => relay.listen(0, "127.0.0.1", r));
});
afterAll(async () => {
  relay?.close();
  server.child.kill("SIGTERM");
  await server.exited;
});

function encodings(marker: string): Buffer[] {
  const m = Buffer.from(marker, "utf8");
  const out = [m, Buffer.from(marker, "utf16le"), Buffer.from(JSON.stringify(marker).slice(1, -1))];
  // base64 of the marker at each of the three alignments, minus the edge characters
  for (let shift = 0; shift < 3; shift++) {
    const b64 = Buffer.concat([Buffer.alloc(shift, 0x20), m]).toString("base64");
    out.push(Buffer.from(b64.slice(4, -4)));
  }
  return out;
}

it("a unique marker never reaches the server in any form", async () => {
  const marker = `PLAINTEXT-MARKER-${randomBytes(12).toString("hex")}`;
  const port = (relay.address() as net.AddressInfo).port;
  const room = "plain";
  const a = await join(port, { name: "alice", room, id: await identity(0) });
  const b = await join(port, { name: "bob", room, id: await identity(1) });
  for (let i = 0; i < 3; i++) {
    const mid = `p${i}`;
    const env = await sealEnvelope(a.identity, { room, mid, text: `${marker} #${i}`, ts: Date.now(), recipients: [b.identity, a.identity] });
    a.peer.send({ t: "send", mid, to: [b.identity.id], env });
    const msg = await b.peer.next((m) => m.t === "msg" && m.mid === mid);
    const opened = await openEnvelope(b.identity, { room, from: a.identity.id, mid, env: msg.env as typeof env, senderSigKey: a.identity.sigKey });
    expect(opened).toMatchObject({ ok: true, text: `${marker} #${i}` }); // the recipient does see it
  }

  // heap snapshot of the server while both are connected and after routing
  server.child.kill("SIGUSR2");
  let snap = "";
  for (let i = 0; i < 200 && !snap; i++) {
    await new Promise((r) => setTimeout(r, 100));
    const f = readdirSync(dir).find((n) => n.endsWith(".heapsnapshot"));
    if (f) {
      const size = statSync(pathJoin(dir, f)).size;
      await new Promise((r) => setTimeout(r, 300));
      if (size > 0 && statSync(pathJoin(dir, f)).size === size) snap = pathJoin(dir, f);
    }
  }
  expect(snap, "heap snapshot written").not.toBe("");
  const heap = readFileSync(snap);
  expect(heap.length).toBeGreaterThan(1_000_000);
  // sanity: the snapshot does hold what the server legitimately saw (a member name)
  expect(heap.includes("alice")).toBe(true);

  const bytesIn = Buffer.concat(received);
  expect(bytesIn.length).toBeGreaterThan(3000);
  const logs = Buffer.from(server.stdout() + server.stderr());
  expect(logs.includes("routed")).toBe(true); // debug logging was on

  // the room log on disk: the ciphertext is there (so this looks at the right bytes), the marker is not
  const stored = Buffer.concat(readdirSync(pathJoin(dir, "data")).filter((f) => f.startsWith("rooms.db")).map((f) => readFileSync(pathJoin(dir, "data", f))));
  const ct = received.length > 0 ? (await b.peer.next((m) => m.t === "msg" && m.mid === "p2")).env as { ct: string } : null;
  expect(stored.includes(Buffer.from(ct!.ct.slice(0, 40))), "the stored log holds the ciphertext").toBe(true);
  for (const enc of encodings(marker)) {
    expect(stored.includes(enc), `stored ${enc}`).toBe(false);
    expect(bytesIn.includes(enc), `received ${enc}`).toBe(false);
    expect(logs.includes(enc), `logged ${enc}`).toBe(false);
    expect(heap.includes(enc), `held ${enc}`).toBe(false);
  }
  a.peer.close();
  b.peer.close();
}, 60_000);
