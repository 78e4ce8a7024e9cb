// The core's CPU per viewer and frame tick in the outbox alone, silent vs with
// a tick's audio: real Outboxes over real loopback sockets (read by a child
// process, so only the writer's CPU is counted), 30 ticks a second as a
// stream sends them. Steadier than the whole-stack sound levels, which
// include joins, the pacer and the load generator on a shared machine.
// `node --import tsx bench/outbox-cost.ts [viewers] [ticks] [rounds]` (default 200 150 5).

import { fork } from "node:child_process";
import { createServer, type Socket } from "node:net";
import { fileURLToPath } from "node:url";
import { Outbox } from "../server/outbox";
import type { AudioPacketOut, VideoFrameOut } from "../server/ports";

if (process.argv[2] === "--reader") {
  // Child: n connections to the port, everything read and dropped.
  const { connect } = await import("node:net");
  const [port, n] = [Number(process.argv[3]), Number(process.argv[4])];
  for (let i = 0; i < n; i++) connect(port, "127.0.0.1").on("data", () => {});
  process.on("disconnect", () => process.exit(0));
} else {
  const viewers = Number(process.argv[2] ?? 200);
  const ticks = Number(process.argv[3] ?? 150);
  const rounds = Number(process.argv[4] ?? 5);
  const sockets: Socket[] = [];
  const server = createServer((s) => {
    s.setNoDelay(true);
    sockets.push(s);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const child = fork(fileURLToPath(import.meta.url), ["--reader", String(port), String(viewers)], {
    execArgv: ["--import", "tsx"],
  });
  while (sockets.length < viewers) await new Promise((r) => setTimeout(r, 20));
  const limits = { maxQueuedControlBytes: 1 << 20, maxQueuedVideoBytes: 1 << 20, maxQueuedAudioBytes: 64 * 1024 };
  const boxes = sockets.map((s) => new Outbox(s, limits));
  sockets.forEach((s, i) => s.on("drain", () => boxes[i]!.pump()));
  const jpeg = Buffer.alloc(14_000, 7); // about a 640x360 testsrc2 frame
  const frameOf = (i: number): VideoFrameOut => {
    const head = Buffer.alloc(21, 1);
    return { sid: 1, frame: i, chunks: [{ head, data: jpeg }], bytes: 21 + jpeg.length };
  };
  // 50 packets a second at 30 ticks: one or two 21 + ~200-byte AUDIO frames a tick, one Buffer per lane.
  const audioOf = (i: number): AudioPacketOut => ({
    sid: 1,
    head: Buffer.alloc((i % 3 === 2 ? 1 : 2) * 221, 2),
  });
  const legacy = (b: Outbox) => (b as unknown as { offerAudio?: (a: AudioPacketOut) => boolean }).offerAudio;
  async function run(sound: boolean): Promise<number> {
    const c0 = process.cpuUsage();
    for (let t = 0; t < ticks; t++) {
      const f = frameOf(t);
      const a = sound ? audioOf(t) : null;
      for (const b of boxes) {
        // The outbox before one-offer-per-viewer: offerAudio, then offerVideo.
        const old = legacy(b);
        if (a && old) {
          old.call(b, a);
          b.offerVideo(f);
        } else if (a) b.offerVideo(f, a);
        else b.offerVideo(f);
      }
      await new Promise((r) => setTimeout(r, 1000 / 30));
    }
    const c = process.cpuUsage(c0);
    return (c.user + c.system) / (viewers * ticks); // us per viewer-tick
  }
  await run(false); // warm-up
  const silent: number[] = [];
  const sound: number[] = [];
  // Alternating which goes first, so a drift of the machine's load falls on both alike.
  for (let r = 0; r < rounds; r++) {
    if (r % 2 === 0) {
      silent.push(await run(false));
      sound.push(await run(true));
    } else {
      sound.push(await run(true));
      silent.push(await run(false));
    }
  }
  const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[xs.length >> 1]!;
  const [si, so] = [med(silent), med(sound)];
  console.log(
    `outbox (${legacy(boxes[0]!) ? "offerAudio + offerVideo" : "one offer"}), ${viewers} viewers x ${ticks} ticks, median of ${rounds}: ` +
      `silent ${si.toFixed(2)} us, with sound ${so.toFixed(2)} us per viewer-tick (${so >= si ? "+" : ""}${(((so - si) / si) * 100).toFixed(1)}%); ` +
      `silent ${silent.map((x) => x.toFixed(2)).join("/")}, sound ${sound.map((x) => x.toFixed(2)).join("/")}`,
  );
  child.kill();
  for (const s of sockets) s.destroy();
  server.close();
}
