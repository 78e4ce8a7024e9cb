// Draws a stream's JPEG frames on a canvas at their presentation times.
// Decoding goes through createImageBitmap, which decodes off the main
// thread; the pacer decides which decoded frame is due; a rAF loop draws.

import { FramePacer } from "./framePacer";

/** Decodes in flight past which new frames are dropped (the decoder is behind). */
const MAX_DECODING = 6;
const FPS_WINDOW_MS = 1_000;
/**
 * On the shared stream clock a frame due within this much after the rAF time
 * is drawn now: what is drawn shows at the next display refresh, so drawing
 * only frames already due would show each one most of a refresh late (and
 * the sound, scheduled exactly, ahead of it). Half a 60 Hz refresh centres it.
 */
const PRESENT_AHEAD_MS = 8;

export interface RendererCounters {
  received: number;
  drawn: number;
  /** Frames dropped here: late on arrival, skipped by the pacer, or not decodable in time. */
  droppedLocal: number;
  decodeErrors: number;
  fps: number;
  /** ptsMs of the frame on the canvas, or null before the first one. */
  shownPts: number | null;
  /** How late (ms, negative: early) the last frame was drawn against its due time. */
  drawErrorMs: number;
}

export class VideoRenderer {
  private readonly ctx: CanvasRenderingContext2D;
  private readonly pacer: FramePacer<ImageBitmap>;
  private gen = 0;
  private decoding = 0;
  private raf = 0;
  private drawTimes: number[] = [];
  private destroyed = false;
  /** Nothing drawn since the last reset: show the first frame at once, before its due time. */
  private blank = true;
  readonly counters: RendererCounters = {
    received: 0,
    drawn: 0,
    droppedLocal: 0,
    decodeErrors: 0,
    fps: 0,
    shownPts: null,
    drawErrorMs: 0,
  };
  /** Called with each drawn frame (pts and the rAF time it was drawn at), for tests and the A/V offset. */
  onDraw: ((ptsMs: number, atMs: number) => void) | null = null;

  constructor(private readonly canvas: HTMLCanvasElement) {
    const ctx = canvas.getContext("2d", { alpha: false });
    if (!ctx) throw new Error("canvas 2D context unavailable");
    this.ctx = ctx;
    this.ctx.fillStyle = "#000";
    this.ctx.fillRect(0, 0, canvas.width, canvas.height);
    this.pacer = new FramePacer<ImageBitmap>({
      onDrop: (bmp, why) => {
        bmp.close();
        if (why !== "reset") this.counters.droppedLocal++;
      },
    });
    this.raf = requestAnimationFrame(this.loop);
  }

  /** Present at the stream clock's time (anchor + pts + playout delay) when it is known. */
  setClock(clock: ((ptsMs: number) => number | null) | null): void {
    this.pacer.clock = clock;
  }

  push(f: { ptsMs: number; jpeg: Uint8Array }): void {
    if (this.destroyed) return;
    this.counters.received++;
    // A hidden tab draws nothing (rAF sleeps): decoding for it is wasted work.
    if (this.decoding >= MAX_DECODING || document.hidden) {
      this.counters.droppedLocal++;
      return;
    }
    this.decoding++;
    const gen = this.gen;
    createImageBitmap(new Blob([f.jpeg as Uint8Array<ArrayBuffer>], { type: "image/jpeg" })).then(
      (bmp) => {
        this.decoding--;
        if (this.destroyed || gen !== this.gen) {
          bmp.close();
          return;
        }
        this.pacer.push(f.ptsMs, bmp, performance.now());
      },
      () => {
        this.decoding--;
        this.counters.decodeErrors++;
      },
    );
  }

  /** After a pause, resume or seek: drop what is queued and re-anchor the clock. */
  reset(): void {
    this.gen++;
    this.pacer.reset();
    this.blank = true;
  }

  destroy(): void {
    this.destroyed = true;
    cancelAnimationFrame(this.raf);
    this.pacer.reset();
  }

  private loop = (now: number): void => {
    if (this.destroyed) return;
    const next = this.pacer.peek();
    const f = this.pacer.take(next && this.pacer.sharedClock(next.ptsMs) ? now + PRESENT_AHEAD_MS : now);
    // On the shared clock the poster is not drawn early: every viewer shows the first frame at its time.
    if (!f && this.blank && !this.pacer.sharedClock(this.pacer.peek()?.ptsMs ?? 0)) {
      // The jitter delay should not delay the first picture: show it as a
      // poster now (it stays queued and is drawn again when due).
      const first = this.pacer.peek();
      if (first) {
        this.ctx.drawImage(first.item, 0, 0, this.canvas.width, this.canvas.height);
        this.blank = false;
        this.canvas.dataset.drawn = String(this.counters.drawn + 1);
      }
    }
    if (f) {
      this.blank = false;
      const { width, height } = this.canvas;
      this.ctx.drawImage(f.item, 0, 0, width, height);
      f.item.close();
      this.counters.drawn++;
      this.counters.shownPts = f.ptsMs;
      this.counters.drawErrorMs = now - (this.pacer.dueAt(f.ptsMs) ?? now);
      this.onDraw?.(f.ptsMs, now);
      this.drawTimes.push(now);
      // For tests and diagnostics: the page can tell a frame was drawn.
      this.canvas.dataset.drawn = String(this.counters.drawn);
    }
    while (this.drawTimes.length > 0 && this.drawTimes[0] < now - FPS_WINDOW_MS) this.drawTimes.shift();
    this.counters.fps = this.drawTimes.length;
    this.raf = requestAnimationFrame(this.loop);
  };
}
