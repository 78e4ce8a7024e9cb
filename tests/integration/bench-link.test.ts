// The bench's load-generator links (bench/lib/link.ts: skimming reader, one
// reused read buffer, the minimal WebSocket client for the bridge) against the
// real core and bridge: a bench viewer over TCP and one through the bridge see
// every video chunk, with the same chunk headers and byte counts,
// as a full-decoding test peer in the same room.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join as pathJoin } from "node:path";
import { afterAll, beforeAll, expect, it } from "vitest";
import { startBridge, type RunningBridge } from "../../bridge/bridge";
import { joinMember, parseBody, type Member } from "../../bench/lib/member";
import { FrameLog } from "../../bench/lib/viewers";
import type { CoreServer } from "../../server/server";
import { makeClip } from "../../scripts/make-sample";
import { startCore } from "../helpers/core";
import { identity, join } from "../helpers/wire";

const lib = mkdtempSync(pathJoin(tmpdir(), "sealroom-bench-link-"));
let core: CoreServer;
let bridge: RunningBridge;
let wsUrl: string;

beforeAll(async () => {
  await makeClip(pathJoin(lib, "clip.mp4"), { durationS: 2, width: 640, height: 360, fps: 30 });
  core = await startCore({ videos: { dir: lib, cacheDir: pathJoin(lib, ".cache") } });
  bridge = await startBridge({ host: "127.0.0.1", port: 0, core: { host: core.host, port: core.port } });
  wsUrl = `${bridge.url.replace(/^http/, "ws")}/ws`;
}, 60_000);
afterAll(async () => {
  await bridge.stop();
  await core.stop();
});

/** Header fields of every complete chunk a bench member saw, and its body bytes. */
function record(m: Member, frames: number): { log: FrameLog; heads: string[] } {
  const log = new FrameLog(frames);
  const heads: string[] = [];
  m.onVideo = (h, n) => {
    heads.push(`${h.subarray(4, 16).toString("hex")}:${n}`);
    log.chunk(h, n);
  };
  m.onControl = (t, body) => {
    if (t === "stream") log.sid = parseBody<{ sid: number }>(body).sid;
  };
  return { log, heads };
}

it("bench viewers over TCP and the bridge get the same chunks as a full decoder", async () => {
  const room = "bench-link";
  const frames = 60;
  const ref = await join(core.port, { name: "ref", room, id: await identity(0) });
  const tcp = await joinMember({ transport: "tcp", host: core.host, port: core.port }, await identity(1), room, "t");
  const web = await joinMember({ transport: "bridge", url: wsUrl }, await identity(2), room, "w");
  const a = record(tcp, frames);
  const b = record(web, frames);
  ref.peer.send({ t: "play", video: "clip.mp4", scope: "room" });
  await ref.peer.nextT("streamEnd", 30_000);
  await new Promise((r) => setTimeout(r, 500));

  const refHeads = ref.peer.video.map((v) => `${Buffer.from(v.subarray(4, 16)).toString("hex")}:${v.length}`);
  const refBytes = ref.peer.video.reduce((s, v) => s + v.length, 0);
  expect(refHeads.length).toBeGreaterThanOrEqual(frames);
  expect(a.heads).toEqual(refHeads);
  expect(b.heads).toEqual(refHeads);
  for (const { log } of [a, b]) {
    expect(log.bytes).toBe(refBytes);
    expect(log.arrivals.filter((x) => x > 0).length).toBe(frames);
  }
  // Sending works on both (a control frame from each reaches the core and is answered).
  for (const m of [tcp, web]) {
    const pong = new Promise<string>((res) => (m.onControl = (t) => t === "pong" && res(t)));
    m.send({ t: "ping", ts: 1 });
    expect(await pong).toBe("pong");
  }
  tcp.close();
  web.close();
  ref.peer.close();
});
