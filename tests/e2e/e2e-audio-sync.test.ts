// Lip-sync measurement method, in Chromium: real Opus packets (the sync
// sample through the real ffmpeg and our demuxer) go through the page's
// WebCodecs decoder and playout scheduler; an AudioWorklet tap between the
// output gain and the speakers finds each beep's first loud sample, and the
// output timestamp turns that sample's context time into the performance.now
// moment it is heard. That moment is compared with anchor + pts, the moment
// the stream clock asks for (where the frame with the flash is drawn).

import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { build } from "esbuild";
import type { Browser, Page } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ROOT, launchChromium, newUser, type User } from "../helpers/browser";
import { makeSyncSample, SYNC_DEFAULTS } from "../../scripts/make-sync-sample";
import { decodeAudio } from "../../server/audio/decode";
import type { OpusHead, OpusPacket } from "../../server/audio/ogg";

let dir: string;
let server: Server;
let url: string;
let browser: Browser;
let user: User;
let head: OpusHead;
const packets: OpusPacket[] = [];

const TAP = `
class Tap extends AudioWorkletProcessor {
  constructor() { super(); this.quiet = 0; }
  process(inputs, outputs) {
    const i = inputs[0], o = outputs[0];
    for (let c = 0; c < o.length; c++) if (i[c]) o[c].set(i[c]);
    const ch = i[0];
    if (ch) for (let k = 0; k < ch.length; k++) {
      if (Math.abs(ch[k]) > 0.1) { if (this.quiet > 2400) this.port.postMessage(currentFrame + k); this.quiet = 0; }
      else this.quiet++;
    }
    return true;
  }
}
registerProcessor("tap", Tap);`;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "sealroom-e2e-audio-"));
  const file = await makeSyncSample(path.join(dir, "sync.mp4"), { durationS: 4 });
  const r = await decodeAudio(file, 0, { onHead: (h) => (head = h), onPackets: (p) => packets.push(...p) });
  if (!r.ok) throw new Error(`decode failed: ${r.detail}`);
  const bundle = await build({
    stdin: {
      contents: 'export * from "./audioOutput"; export * from "./opusDecoder"; export * from "./playout";',
      resolveDir: path.join(ROOT, "web/src/lib/audio"),
      loader: "ts",
    },
    bundle: true,
    format: "iife",
    globalName: "SealroomAudio",
    write: false,
    target: "es2022",
  });
  const js = bundle.outputFiles[0]!.text;
  server = createServer((req, res) => {
    if (req.url === "/audio.js") res.writeHead(200, { "content-type": "text/javascript" }).end(js);
    else if (req.url === "/tap.js") res.writeHead(200, { "content-type": "text/javascript" }).end(TAP);
    else
      res
        .writeHead(200, { "content-type": "text/html" })
        .end('<!doctype html><title>audio</title><script src="/audio.js"></script>');
  });
  await new Promise<void>((r2) => server.listen(0, "127.0.0.1", r2));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  browser = await launchChromium(["--autoplay-policy=no-user-gesture-required"]);
  user = await newUser(browser);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  await rm(dir, { recursive: true, force: true });
});

interface Measured {
  blocked: boolean;
  supported: boolean;
  errors: string[];
  expected: number[];
  heard: number[];
  scheduled: number;
  dropped: number;
  outputLatencyMs: number;
}

async function measure(page: Page, leadMs: number): Promise<Measured> {
  const b64 = (b: Buffer) => b.toString("base64");
  return page.evaluate(
    async ({ headB64, pkts, leadMs, periodS }) => {
      const A = (
        globalThis as unknown as {
          SealroomAudio: typeof import("../../web/src/lib/audio/audioOutput") &
            typeof import("../../web/src/lib/audio/opusDecoder");
        }
      ).SealroomAudio;
      const bytes = (s: string) => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
      const supported = await A.opusDecodeSupported();
      const out = new A.AudioOutput();
      const blocked = out.blocked;
      await out.resume();
      await out.ctx.audioWorklet.addModule("/tap.js");
      const tap = new AudioWorkletNode(out.ctx, "tap", { outputChannelCount: [2] });
      out.gain.disconnect();
      out.gain.connect(tap);
      tap.connect(out.ctx.destination);
      const onsetFrames: number[] = [];
      tap.port.onmessage = (e) => onsetFrames.push(e.data as number);
      // Let the output timestamp become valid before anchoring.
      await new Promise((r) => setTimeout(r, 300));
      const identity = { toLocalTime: (c: number) => c };
      const clock = { anchorCoreMs: performance.now() + leadMs, playoutDelayMs: 0 };
      const errors: string[] = [];
      const dec = A.createOpusDecoder(
        bytes(headB64),
        (d) => out.play(d, clock, identity),
        (e) => errors.push(e.message),
      );
      for (const p of pkts) dec.decode({ data: bytes(p.d), ptsSamples: p.pts, durationSamples: p.dur });
      const lastPtsMs = pkts[pkts.length - 1]!.pts / 48;
      await new Promise((r) => setTimeout(r, leadMs + lastPtsMs + 500));
      // heardAt maps a context time to the performance.now moment it leaves the speakers.
      const heard = onsetFrames.map((f) => out.heardAt(f / out.ctx.sampleRate));
      const expected = [];
      for (let t = 0; t * 1000 < lastPtsMs; t += periodS) expected.push(clock.anchorCoreMs + t * 1000);
      const st = out.stats();
      const outputLatencyMs = (out.ctx.outputLatency || 0) * 1000;
      await out.close();
      return {
        blocked,
        supported,
        errors,
        expected,
        heard,
        scheduled: st.scheduled,
        dropped: st.dropped,
        outputLatencyMs,
      };
    },
    {
      headB64: b64(head.raw),
      pkts: packets.map((p) => ({ d: b64(p.data), pts: p.ptsSamples, dur: p.durationSamples })),
      leadMs,
      periodS: SYNC_DEFAULTS.periodS,
    },
  );
}

describe("audio playout in Chromium (lip-sync method)", () => {
  it("each beep is heard at anchor + pts within +-20 ms", async () => {
    await user.page.goto(url);
    const m = await measure(user.page, 600);
    expect(m.supported).toBe(true);
    expect(m.errors).toEqual([]);
    expect(m.blocked).toBe(false); // autoplay allowed by the flag
    expect(m.dropped).toBe(0);
    expect(m.scheduled).toBeGreaterThan(190);
    expect(m.heard.length).toBe(m.expected.length);
    const errs = m.heard.map((h, i) => h - m.expected[i]!);
    console.log(
      `beep heard - scheduled (ms): ${errs.map((e) => e.toFixed(2)).join(", ")}; outputLatency ${m.outputLatencyMs.toFixed(1)} ms`,
    );
    for (const e of errs) expect(Math.abs(e)).toBeLessThanOrEqual(20);
    expect(user.errors).toEqual([]);
  });
});
