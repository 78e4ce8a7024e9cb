// The terminal watch mode's cost: the real client in a private tmux server
// (a real pseudo-terminal) watching the 10 s 640x360 30 fps sample with
// `/play sample.mp4 --tty`, at each window size: frames drawn per second
// against frames received (read off the watch status line), the client's CPU
// and tmux's (the terminal's side) from /proc, and the per-frame cost of
// decode, downscale and cell encoding measured in this process, on a frame
// of the size the core sends a terminal (cap "smallVideo": smallVideoWidth,
// 256 px by default). Run:
//   node --import tsx bench/tty-watch.ts [COLSxROWS ...=80x24 200x60]
// BENCH_SMALL_WIDTH=640 measures the frames as they were before smallVideo
// (the core is started with --limit smallVideoWidth=640, the full size).

import { mkdtempSync, rmSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { execFileSync } from "node:child_process";
import { Bytes, encodeCells, toCells } from "../client/tty/halfBlock";
import { decodeJpeg } from "../client/tty/jpeg";
import { downscale, fit } from "../client/tty/scale";
import { RESERVED_ROWS } from "../client/tty/watchView";
import { TMUX, Tmux } from "../tests/helpers/tmux";
import { resolveTool } from "../server/video/ffmpeg";
import { LIBRARY_DEFAULTS } from "../server/library/limits";
import { BIN, ROOT, startCoreProc, treeCpu, treeRunqWait } from "./lib/procs";

const sizes = (process.argv.slice(2).length ? process.argv.slice(2) : ["80x24", "200x60"]).map((s) => {
  const m = /^(\d+)x(\d+)$/.exec(s);
  if (!m) throw new Error(`bad size ${s} (want COLSxROWS)`);
  return { cols: Number(m[1]), rows: Number(m[2]) };
});
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Seconds of the 10 s clip measured, after the first second. */
const WINDOW_S = 7;

interface Row {
  size: string;
  streamFps: number;
  drawnFps: number;
  clientCpu: number;
  tmuxCpu: number;
  /** Share of the time the client was runnable but waiting for a CPU (the machine's other load). */
  clientWait: number;
}

async function watchAt(port: number, home: string, cols: number, rows: number): Promise<Row> {
  const term = new Tmux(TMUX!);
  const cmd = `exec '${process.execPath}' '${BIN}' client --name bench --room tty --core 127.0.0.1:${port} --identity '${join(home, `id-${cols}.json`)}' 2>/dev/null`;
  term.start(cmd, cols, rows);
  try {
    const deadline = Date.now() + 20_000;
    while (!term.capture().includes("* nobody else is here yet")) {
      if (Date.now() > deadline) throw new Error(`client did not join: ${term.capture()}`);
      await sleep(50);
    }
    const pid = term.panePid();
    const tmuxPid = term.serverPid();
    term.type("/play sample.mp4 --tty");
    await sleep(1_000);
    const c0 = treeCpu(pid);
    const q0 = treeRunqWait(pid);
    const t0 = treeCpu(tmuxPid);
    const w0 = performance.now();
    const inFps: number[] = [];
    const drawn: number[] = [];
    while (performance.now() - w0 < WINDOW_S * 1000) {
      await sleep(500);
      const m = / (\d+) fps, \d+ dropped · drawn (\d+)/.exec(term.capture());
      if (m) {
        inFps.push(Number(m[1]));
        drawn.push(Number(m[2]));
      }
    }
    const secs = (performance.now() - w0) / 1000;
    const mean = (a: number[]) => (a.length ? a.reduce((x, y) => x + y, 0) / a.length : 0);
    return {
      size: `${cols}x${rows}`,
      streamFps: mean(inFps),
      drawnFps: mean(drawn),
      clientCpu: (treeCpu(pid) - c0) / secs,
      tmuxCpu: (treeCpu(tmuxPid) - t0) / secs,
      clientWait: (treeRunqWait(pid) - q0) / secs,
    };
  } finally {
    term.kill();
  }
}

/** Width of the frames the terminal gets (LIBRARY_DEFAULTS.smallVideoWidth unless BENCH_SMALL_WIDTH says otherwise). */
const SMALL_WIDTH = Number(process.env.BENCH_SMALL_WIDTH ?? LIBRARY_DEFAULTS.smallVideoWidth);

/** A frame of the sample (at `at` seconds) as the core makes them for a terminal: ffmpeg mjpeg at -q:v 5, SMALL_WIDTH wide. */
async function sampleFrame(at: number): Promise<Uint8Array> {
  const ffmpeg = (await resolveTool("ffmpeg")).path;
  return execFileSync(ffmpeg, [
    "-v",
    "error",
    "-ss",
    String(at),
    "-i",
    join(ROOT, "videos", "sample.mp4"),
    "-frames:v",
    "1",
    "-vf",
    `scale=${SMALL_WIDTH}:-2`,
    "-c:v",
    "mjpeg",
    "-q:v",
    "5",
    "-f",
    "image2pipe",
    "-",
  ]);
}

/** Bytes written for `next` after `prev` was drawn (only the changed cells). */
function diffBytes(prev: Uint8Array, next: Uint8Array, cols: number, rows: number): number {
  const cellsOf = (j: Uint8Array) => {
    const img = decodeJpeg(j)!;
    const f = fit(img.width, img.height, cols, rows - RESERVED_ROWS)!;
    return { cells: toCells(downscale(img.data, img.width, img.height, f.width, f.height), f.width, f.height), f };
  };
  const a = cellsOf(prev);
  const b = cellsOf(next);
  const out = new Bytes();
  encodeCells(out, b.cells, a.cells, b.f.cols, b.f.rows, b.f.col0, b.f.row0);
  return out.length;
}

/** ms per frame for each step (a full redraw), on a real frame. */
function frameCost(
  frame: Uint8Array,
  cols: number,
  rows: number,
): { decode: number; scale: number; encode: number; bytes: number } {
  const first = decodeJpeg(frame)!;
  const f = fit(first.width, first.height, cols, rows - RESERVED_ROWS)!;
  const b = new Bytes();
  const n = 60;
  // Warm the JIT first: the figure is the steady cost, not the first call's.
  for (let i = 0; i < 10; i++) downscale(decodeJpeg(frame)!.data, first.width, first.height, f.width, f.height);
  let decode = 0;
  let scale = 0;
  let encode = 0;
  for (let i = 0; i < n; i++) {
    const a = performance.now();
    const img = decodeJpeg(frame)!;
    const bb = performance.now();
    const rgb = downscale(img.data, img.width, img.height, f.width, f.height);
    const c = performance.now();
    b.reset();
    encodeCells(b, toCells(rgb, f.width, f.height), null, f.cols, f.rows, f.col0, f.row0);
    b.take();
    const d = performance.now();
    decode += bb - a;
    scale += c - bb;
    encode += d - c;
  }
  return { decode: decode / n, scale: scale / n, encode: encode / n, bytes: b.length };
}

async function main(): Promise<void> {
  if (!TMUX) throw new Error("tmux is needed (apt-get install -y tmux)");
  const home = mkdtempSync(join(tmpdir(), "sealroom-ttybench-"));
  const core = await startCoreProc({
    videos: join(ROOT, "videos"),
    cacheDir: join(home, "cache"),
    limits: { smallVideoWidth: SMALL_WIDTH },
  });
  const frame = await sampleFrame(3);
  const nextFrame = await sampleFrame(3 + 1 / 30);
  try {
    console.log(
      `load average ${loadavg()
        .map((l) => l.toFixed(1))
        .join(" ")} on ${cpus().length} CPUs; terminal frames ${SMALL_WIDTH} px wide`,
    );
    console.log(
      "size     stream fps  drawn fps  client CPU  (waiting for CPU)  tmux CPU   | per frame (full redraw): decode  downscale  cells+escapes  bytes (next frame, changed cells only)",
    );
    for (const { cols, rows } of sizes) {
      const r = await watchAt(core.port, home, cols, rows);
      const c = frameCost(frame, cols, rows);
      console.log(
        `${r.size.padEnd(8)} ${r.streamFps.toFixed(1).padStart(10)} ${r.drawnFps.toFixed(1).padStart(10)} ${(r.clientCpu * 100).toFixed(0).padStart(10)}% ${(r.clientWait * 100).toFixed(0).padStart(17)}% ${(r.tmuxCpu * 100).toFixed(0).padStart(8)}%   |` +
          ` ${c.decode.toFixed(1).padStart(29)} ms ${c.scale.toFixed(1).padStart(7)} ms ${c.encode.toFixed(1).padStart(11)} ms ${String(c.bytes).padStart(7)} (${diffBytes(frame, nextFrame, cols, rows)})`,
      );
    }
  } finally {
    await core.stop();
    rmSync(home, { recursive: true, force: true });
  }
}

await main();
