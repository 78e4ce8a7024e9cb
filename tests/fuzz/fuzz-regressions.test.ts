// Inputs the socket fuzzer found, kept as regression tests against an
// in-process core.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { CoreServer } from "../../server/server";
import { startCore } from "../helpers/core";
import { identity, join, WirePeer } from "../helpers/wire";
import { frameOf } from "../helpers/fuzz-mutate";

let core: CoreServer;
beforeAll(async () => {
  core = await startCore();
});
afterAll(() => core.stop());

const deepArray = (n: number) => "[".repeat(n) + "]".repeat(n);
const deepObject = (n: number) => '{"a":'.repeat(n) + "1" + "}".repeat(n);

describe("fuzz regressions", () => {
  it("an env nested 100,000 levels deep is bad_request, not an internal error, and the session goes on", async () => {
    // JSON.parse accepts the nesting; JSON.stringify (the envelope size check) overflowed the stack.
    const { peer } = await join(core.port, { name: "deep", room: "regress", id: await identity(0) });
    peer.sendRaw(frameOf(`{"t":"send","mid":"d1","env":${deepArray(200_000)}}`));
    peer.sendRaw(frameOf(`{"t":"send","mid":"d2","env":{"alg":"RSA-OAEP-256+A256GCM","keys":${deepObject(100_000)}}}`));
    peer.send({ t: "ping", ts: 42 });
    await peer.next((m) => m.t === "pong" && m.ts === 42);
    const errors = peer.messages.filter((m) => m.t === "error");
    expect(errors.map((e) => [e.code, e.ref, e.fatal])).toEqual([
      ["bad_request", "d1", false],
      ["bad_request", "d2", false],
    ]);
    expect(peer.closed).toBe(false);
    peer.close();
  });

  it("a ping before hello with a non-finite ts (1e999) is not answered with ts null", async () => {
    const peer = await WirePeer.connect(core.port);
    await peer.nextT("challenge");
    peer.sendRaw(frameOf('{"t":"ping","ts":1e999}'));
    await peer.waitClosed();
    expect(peer.messages.some((m) => m.t === "pong")).toBe(false);
    expect(peer.messages.find((m) => m.t === "error")).toMatchObject({ code: "bad_hello", fatal: true });
  });
});
