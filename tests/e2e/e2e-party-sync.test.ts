// A watch party with sound, measured: two Chromium pages (one of them behind
// a proxy adding 60-100 ms of jittery delay each way between the page and the
// bridge) and the native client in one room, playing the sync sample (frame
// index in the pixels, a flash and a beep every 2 s). Viewer skew: every
// frame's first drawn moment (wall clock, frame index read from the canvas
// pixels; for the native client from the recorded JPEG's pixels and its
// presentAt) across viewers, and all viewers sampled at the same instants.
// Lip sync: each flash as drawn on the canvas against the matching beep as
// heard, from an AudioWorklet tap between the player's gain and the speakers.
// Pauses and seeks happen during the party. The viewer who never clicked has
// its AudioContext blocked (suspended, as a browser's autoplay policy does;
// headless Chromium never blocks, so the page's AudioContext is made to start
// suspended): it sees the notice and one click turns sound on.
// SEALROOM_LONG=1: a 60 s party (the default is ~20 s).

import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { Browser, Page } from "playwright";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeJpeg } from "../../client/tty/jpeg";
import { makeSyncSample } from "../../scripts/make-sync-sample";
import {
  ROOT,
  createRoom,
  ensureWebBuilt,
  joinByLink,
  launchChromium,
  startStack,
  watchErrors,
  type Stack,
} from "../helpers/browser";
import { startDelayProxy, type DelayProxy } from "../helpers/delayProxy";
import { decodeFrameCode } from "../helpers/frameCode";

const LONG = process.env.SEALROOM_LONG === "1";
const PARTY_S = LONG ? 60 : 20;
const FPS = 30;
const FRAME_MS = 1000 / FPS;
const BIN = path.join(ROOT, "bin", "sealroom");

const TAP = `
class Tap extends AudioWorkletProcessor {
  constructor() { super(); this.quiet = 0; }
  process(inputs, outputs) {
    const i = inputs[0], o = outputs[0];
    for (let c = 0; c < o.length; c++) if (i[c]) o[c].set(i[c]);
    const ch = i[0];
    if (ch) for (let k = 0; k < ch.length; k++) {
      if (Math.abs(ch[k]) > 0.05) { if (this.quiet > 4800) this.port.postMessage(currentFrame + k); this.quiet = 0; }
      else this.quiet++;
    }
    return true;
  }
}
registerProcessor("tap", Tap);`;

type Ev = { event: string; [k: string]: unknown };

interface PageLog {
  /** lag: drawn minus due on the page's own stream clock. */
  draws: { wall: number; code: number | null; lag?: number | null }[];
  beeps: number[];
  tapError: string | null;
}

function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
}
const stats = (xs: number[]) => ({
  n: xs.length,
  p50: percentile(xs, 50),
  p95: percentile(xs, 95),
  max: Math.max(...xs),
});
const fmt = (s: ReturnType<typeof stats>) =>
  `n=${s.n} p50=${s.p50.toFixed(1)} p95=${s.p95.toFixed(1)} max=${s.max.toFixed(1)} ms`;

/** Hooks the page's player: every drawn frame's wall time and the index read from its pixels; beeps heard through a tap. */
async function instrument(page: Page, tap: boolean): Promise<void> {
  await page.waitForFunction(
    () => Object.keys((globalThis as { __sealroomPlayers?: object }).__sealroomPlayers ?? {}).length > 0,
    null,
    { timeout: 20_000 },
  );
  await page.evaluate(
    async ({ decodeSrc, tapSrc, tap }) => {
      const decode = new Function(`return (${decodeSrc})`)() as (
        d: Uint8ClampedArray,
        w: number,
        h: number,
      ) => number | null;
      const g = globalThis as unknown as {
        __sealroomPlayers: Record<
          string,
          {
            renderer: { onDraw: ((p: number, at: number) => void) | null };
            sound: { output: { ctx: AudioContext; gain: GainNode; heardAt(t: number): number } } | null;
            canvas: HTMLCanvasElement;
          }
        >;
        __log: PageLog;
      };
      const log: PageLog = (g.__log = { draws: [], beeps: [], tapError: null });
      const player = Object.values(g.__sealroomPlayers)[0]!;
      const ctx2d = player.canvas.getContext("2d")!;
      const w = player.canvas.width;
      const strip = Math.ceil(w / 20);
      const r = player.renderer as unknown as { pacer: { dueAt(p: number): number | null } };
      player.renderer.onDraw = (pts, at) => {
        const img = ctx2d.getImageData(0, 0, w, strip);
        const due = r.pacer.dueAt(pts);
        log.draws.push({
          wall: performance.timeOrigin + at,
          code: decode(img.data, w, strip),
          lag: due === null ? null : at - due,
        });
      };
      if (!tap || !player.sound) return;
      try {
        const out = player.sound.output;
        await out.ctx.audioWorklet.addModule(URL.createObjectURL(new Blob([tapSrc], { type: "text/javascript" })));
        const node = new AudioWorkletNode(out.ctx, "tap", { outputChannelCount: [2] });
        out.gain.disconnect();
        out.gain.connect(node);
        node.connect(out.ctx.destination);
        node.port.onmessage = (e) =>
          log.beeps.push(performance.timeOrigin + out.heardAt((e.data as number) / out.ctx.sampleRate));
      } catch (e) {
        log.tapError = String(e);
      }
    },
    { decodeSrc: decodeFrameCode.toString(), tapSrc: TAP, tap },
  );
}

const pageLog = (page: Page) => page.evaluate(() => (globalThis as unknown as { __log: PageLog }).__log);

/** First moment each frame index is shown, per viewer. */
function firstShown(draws: { wall: number; code: number | null }[]): Map<number, number> {
  const m = new Map<number, number>();
  for (const d of draws) if (d.code !== null && !m.has(d.code)) m.set(d.code, d.wall);
  return m;
}

/** The frame index shown at wall time t: the last draw at or before t. */
function shownAt(draws: { wall: number; code: number | null }[], t: number): number | null {
  let lo = 0;
  let hi = draws.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (draws[mid]!.wall <= t) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? null : draws[lo - 1]!.code;
}

describe("a watch party with sound, in sync", () => {
  let stack: Stack;
  let proxy: DelayProxy;
  let browser: Browser;
  let alice: Page;
  let bob: Page;
  let carol: ChildProcessWithoutNullStreams;
  const carolEvents: Ev[] = [];
  const errors: string[] = [];
  let dir: string;
  let rec: string;

  beforeAll(async () => {
    await ensureWebBuilt();
    dir = mkdtempSync(path.join(os.tmpdir(), "sealroom-party-"));
    rec = path.join(dir, "rec");
    await makeSyncSample(path.join(dir, "lib", "sync.mp4"), { durationS: PARTY_S + 20 });
    stack = await startStack({ videos: { dir: path.join(dir, "lib"), cacheDir: path.join(dir, "cache") } });
    const bridge = new URL(stack.url);
    proxy = await startDelayProxy({ target: { host: bridge.hostname, port: Number(bridge.port) } });
    browser = await launchChromium();
    const page = async () => {
      const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 }, bypassCSP: true }); // bypassCSP: the test's blob: AudioWorklet tap
      const p = await ctx.newPage();
      watchErrors(p, errors);
      return p;
    };
    alice = await page();
    bob = await page();
    const link = await createRoom(alice, stack.url, "alice");
    const viaProxy = new URL(link);
    viaProxy.host = `127.0.0.1:${proxy.port}`;
    // Bob's name is remembered, so opening the link joins without any click: his page never had a user gesture.
    await bob.addInitScript(() => {
      localStorage.setItem("sealroom.name", "bob");
      // Headless Chromium starts every AudioContext running whatever the autoplay policy; a blocked
      // context looks like this to the page (state "suspended" until resume() from a click).
      const Orig = globalThis.AudioContext;
      globalThis.AudioContext = class extends Orig {
        constructor(o?: AudioContextOptions) {
          super(o);
          void this.suspend();
        }
      };
    });
    await joinByLink(bob, viaProxy.toString(), "bob");
    // The room link (with its secret: rooms are end-to-end v2) admits the terminal client too.
    carol = spawn(
      process.execPath,
      [
        BIN,
        "client",
        "--json",
        "--name",
        "carol",
        "--link",
        link,
        "--core",
        `${stack.core.host}:${stack.core.port}`,
        "--record",
        rec,
      ],
      {
        env: { ...process.env, XDG_CONFIG_HOME: path.join(dir, "config") },
        stdio: ["pipe", "pipe", "pipe"],
      },
    );
    let rest = "";
    carol.stdout.setEncoding("utf8");
    carol.stdout.on("data", (d: string) => {
      const lines = (rest + d).split("\n");
      rest = lines.pop()!;
      for (const l of lines) if (l.trim()) carolEvents.push(JSON.parse(l) as Ev);
    });
    await alice.locator(".toasts").getByText("carol joined").waitFor({ timeout: 20_000 });
  }, 180_000);

  afterAll(async () => {
    if (carol && carol.exitCode === null) carol.kill("SIGKILL");
    await browser?.close();
    await proxy?.stop();
    await stack?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it(`two browsers (one behind 60-100 ms jitter) and the native client show the same frame at the same moment, in lip sync, over a ${PARTY_S} s party with a pause and a seek`, async () => {
    const t0 = Date.now();
    await alice.getByRole("button", { name: "Play Sync for the room" }).click();
    await instrument(alice, true);
    await instrument(bob, true);
    // Bob never clicked: his browser blocks the sound, the player says so, one click turns it on.
    const notice = bob.getByTestId("sound-blocked");
    await notice.waitFor({ timeout: 10_000 });
    await notice.click();
    await expect.poll(() => bob.getByTestId("sound-blocked").count()).toBe(0);
    const sid = Number(await alice.locator('.player[data-scope="room"]').getAttribute("data-sid"));

    const third = (PARTY_S * 1000) / 3;
    await alice.waitForTimeout(third);
    await alice.locator('.player[data-scope="room"] button.play').click();
    await alice.waitForTimeout(1000);
    const pausedAt = Date.now();
    await alice.locator('.player[data-scope="room"] button.play').click();
    const resumedAt = Date.now();
    await alice.waitForTimeout(third);
    // Seek from the seek bar (forward 4 s), as a user would.
    const seekTo = Math.round(Date.now() - t0 - 1000 + 4000);
    await alice.evaluate(
      ({ sid, to }) => {
        const input = document.querySelector<HTMLInputElement>(`.player[data-sid="${sid}"] input.seek`)!;
        input.value = String(to);
        input.dispatchEvent(new Event("change", { bubbles: true }));
      },
      { sid, to: seekTo },
    );
    const seekAt = Date.now();
    await alice.waitForTimeout(third);
    const end = Date.now();

    const [a, b] = await Promise.all([pageLog(alice), pageLog(bob)]);
    expect(a.tapError).toBeNull();
    // The native client: each frame's presentAt (its stream clock) and the frame index read from the recorded JPEG's pixels.
    const cDraws: { wall: number; code: number | null }[] = [];
    for (const e of carolEvents) {
      if (e.event !== "frame" || e.sid !== sid || typeof e.presentAt !== "number" || typeof e.file !== "string")
        continue;
      let code: number | null = null;
      try {
        const img = decodeJpeg(readFileSync(e.file));
        if (img) code = decodeFrameCode(img.data, img.width, img.height);
      } catch {
        /* not written yet */
      }
      cDraws.push({ wall: e.presentAt, code });
    }
    cDraws.sort((x, y) => x.wall - y.wall);
    expect(a.draws.filter((d) => d.code !== null).length).toBeGreaterThan(PARTY_S * FPS * 0.7);
    expect(b.draws.filter((d) => d.code !== null).length).toBeGreaterThan(PARTY_S * FPS * 0.7);
    expect(cDraws.filter((d) => d.code !== null).length).toBeGreaterThan(PARTY_S * FPS * 0.7);

    // Skew 1: for every frame all three showed, latest minus earliest first-shown moment.
    const fa = firstShown(a.draws);
    const fb = firstShown(b.draws);
    const fc = firstShown(cDraws);
    const skew: number[] = [];
    const skewAB: number[] = [];
    // Leave out the first second after the start and each change (the clock sync and the first frames settle).
    const settle = (w: number) =>
      w - t0 < 1500 || (w > pausedAt - 1000 && w < resumedAt + 1000) || (w > seekAt - 200 && w < seekAt + 1000);
    for (const [code, wa] of fa) {
      const wb = fb.get(code);
      const wc = fc.get(code);
      if (wb === undefined || wc === undefined || settle(wa)) continue;
      skew.push(Math.max(wa, wb, wc) - Math.min(wa, wb, wc));
      skewAB.push(Math.abs(wa - wb));
    }
    // Skew 2: all viewers sampled at the same instants, every 50 ms: the frame each shows, as a time difference.
    const sampled: number[] = [];
    for (let t = t0 + 1500; t < end - 500; t += 50) {
      if (settle(t)) continue;
      const idx = [shownAt(a.draws, t), shownAt(b.draws, t), shownAt(cDraws, t)];
      if (idx.some((i) => i === null)) continue;
      const n = idx as number[];
      const d = Math.max(...n) - Math.min(...n);
      sampled.push(d * FRAME_MS);
    }
    // Lip sync: each flash frame (index % 60 == 0) as drawn, against the nearest beep heard on the same page.
    const lip = (log: PageLog): number[] => {
      const out: number[] = [];
      for (const [code, wall] of firstShown(log.draws)) {
        if (code % (2 * FPS) !== 0) continue;
        const near = log.beeps.reduce((best, h) => (Math.abs(h - wall) < Math.abs(best - wall) ? h : best), Infinity);
        if (Math.abs(near - wall) < 500) out.push(near - wall);
      }
      // The first pair is a warm-up: just after an AudioContext starts (or is
      // resumed by the click on bob's page) its output timestamp is not yet
      // valid, and one beep measured 129-141 ms off while every later one was
      // within 10 ms. Every later beep counts.
      return out.slice(1);
    };
    const lipA = lip(a);
    const lipB = lip(b);
    const s = stats(skew);
    console.log(
      `viewer skew (first shown, 3 viewers, one behind 60-100 ms jitter): ${fmt(s)}; alice-bob ${fmt(stats(skewAB))}`,
    );
    console.log(`viewer skew (sampled every 50 ms, frame index x 33.3 ms): ${fmt(stats(sampled))}`);
    console.log(
      `lip sync (beep heard - flash drawn): alice ${lipA.map((x) => x.toFixed(1)).join(", ")}; bob ${lipB.map((x) => x.toFixed(1)).join(", ")}`,
    );
    expect(skew.length).toBeGreaterThan(PARTY_S * FPS * 0.4);
    // One frame, plus 1 ms for the jitter of rAF timestamps (a 33.5 ms pair is a one-frame pair).
    expect(s.p95).toBeLessThanOrEqual(FRAME_MS + 1);
    // The figure is the first moment each frame is shown (above: one
    // frame at p95). Instants sampled every 50 ms also catch viewers in the
    // middle of the seek's purge and restart, one page a frame or two before
    // another: that view is held to two frames.
    expect(percentile(sampled, 95)).toBeLessThanOrEqual(2 * FRAME_MS + 1);
    expect(lipA.length + lipB.length).toBeGreaterThanOrEqual(Math.floor(PARTY_S / 2) - 2);
    // The goal is +-20 ms (ITU-R BT.1359 detectability: 45 ms early, 125 ms late); the p95 bound leaves a frame of
    // rAF granularity for a loaded CI machine.
    const lipAll = [...lipA, ...lipB].map(Math.abs);
    console.log(
      `lip sync |error|: ${fmt(stats(lipAll))}; draw lag (alice, drawn - due): ${fmt(stats(a.draws.map((d) => d.lag ?? NaN).filter(Number.isFinite)))}`,
    );
    expect(percentile(lipAll, 50)).toBeLessThanOrEqual(20);
    expect(percentile(lipAll, 95)).toBeLessThanOrEqual(35);

    // The native client wrote the sound beside the frames.
    const opus = readFileSync(path.join(rec, `${sid}.opus`));
    expect(opus.subarray(0, 4).toString()).toBe("OggS");
    expect(opus.length).toBeGreaterThan(10_000);
    expect(carolEvents.some((e) => e.event === "audio" && e.track === 0)).toBe(true);
    expect(errors).toEqual([]);
  }, 150_000);

  it("the player's sound controls: stats, volume and mute remembered, a track picker for two tracks", async () => {
    await expect
      .poll(async () => (await bob.getByTestId("stats-audio").textContent()) ?? "")
      .toMatch(/\d+ ms buffered · A\/V [+-]?\d+ ms/);
    await bob.getByTestId("volume").fill("0.3");
    await bob.getByTestId("mute").click();
    expect(
      await bob.evaluate(() => [localStorage.getItem("sealroom.volume"), localStorage.getItem("sealroom.muted")]),
    ).toEqual(["0.3", "1"]);
    const picker = bob.getByTestId("audio-track");
    expect(await picker.locator("option").allTextContents()).toEqual(["eng", "fra", "No sound"]);
    await picker.selectOption("1");
    await expect.poll(() => picker.inputValue()).toBe("1");
    // Alice still hears track 0: the choice is bob's own.
    expect(await alice.getByTestId("audio-track").inputValue()).toBe("0");
    await bob.reload();
    await bob.getByTestId("room-id").waitFor();
    await bob.getByTestId("volume").waitFor();
    expect(await bob.getByTestId("mute").getAttribute("aria-pressed")).toBe("true");
  }, 60_000);
});
