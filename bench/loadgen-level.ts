// One video fan-out ladder or one sound level of the 640x360 clip, on its own,
// to judge the load generator: `node --import tsx bench/loadgen-level.ts
// tcp 200,1000` (video ladder) or `... tcp 1000 sound|silent` (sound suite).
// Add `node --cpu-prof` to see where this process's CPU goes, SOUND_DEBUG=1
// (sound levels) to list the frames and packets that were late or missing.

import { clip } from "./lib/clips";
import type { Transport } from "./lib/link";
import { soundClip, soundLevel } from "./suites/audio";
import { fanout } from "./suites/video";

const [transport = "tcp", ladderArg = "1000", mode = "video"] = process.argv.slice(2);
if (!["tcp", "bridge", "websockify"].includes(transport) || !/^\d+(,\d+)*$/.test(ladderArg)) {
  console.error("usage: loadgen-level.ts tcp|bridge|websockify N[,N...] [video|sound|silent]");
  process.exit(2);
}
const ladder = ladderArg.split(",").map(Number);
const log = (s: string) => console.log(s);
if (mode === "video") {
  await fanout(await clip(640, 360, 10), transport as Transport, ladder, log);
} else {
  const sc = await soundClip(640, 360, 10);
  for (const n of ladder) await soundLevel(sc, transport as Transport, n, mode === "sound", log);
}
process.exit(0);
