// The terminal watch screen: the current stream's frames drawn as half-block
// cells on the alternate screen, letterboxed to the terminal's size, with a
// status line and a subtitle line at the bottom. Newest frame wins: while a
// frame is being written, arriving frames replace each other unseen (and are
// never decoded), so a slow terminal gets fewer frames, never a queue.
// Terminal and time behind the `Out` and `Clock` ports.

import { safe } from "../terminalText";
import { Bytes, encodeCells, toCells } from "./halfBlock";
import { downscale, fit, type Fit } from "./scale";

/** The terminal: process.stdout, or a fake in unit tests. */
export interface Out {
  /** `done` once the bytes are handed to the terminal (the next frame waits for it). */
  write(data: Buffer, done: () => void): void;
  readonly columns: number;
  readonly rows: number;
  /** Returns the unsubscribe. */
  onResize(listener: () => void): () => void;
}

export interface Clock {
  now(): number;
  /** Runs `fn` after the current burst of events (setImmediate). */
  soon(fn: () => void): void;
}

export interface Image {
  width: number;
  height: number;
  /** RGBA. */
  data: Uint8Array;
}

export type Decode = (jpeg: Uint8Array) => Image | null;

export interface WatchStats {
  offered: number;
  drawn: number;
  /** Frames replaced by a newer one before they could be drawn (never decoded). */
  skipped: number;
  /** Frames that did not decode. */
  bad: number;
}

/** Lines under the picture: the status, then the subtitle. */
export const RESERVED_ROWS = 2;
const FPS_WINDOW_MS = 1_000;

export const ENTER = "\x1b[?1049h\x1b[?25l\x1b[0m\x1b[2J";
export const LEAVE = "\x1b[0m\x1b[?25h\x1b[?1049l";
/**
 * After a resize while watching, the chat screen is cleared as well: tmux
 * brings rows of the alternate screen back into the main one when the window
 * changed size meanwhile, which would leave parts of the picture in the chat.
 */
export const LEAVE_RESIZED = LEAVE + "\x1b[2J\x1b[H";

export const realClock: Clock = { now: () => performance.now(), soon: (fn) => void setImmediate(fn) };

export class WatchView {
  private on = false;
  private pending: Uint8Array | null = null;
  private lastImage: Image | null = null;
  private scheduled = false;
  private writing = false;
  /** Cells on screen and where; null: the next draw is a full one. */
  private screen: { cells: Uint32Array; fit: Fit } | null = null;
  private cleared = true;
  private statusText = "";
  private subtitleText: string | null = null;
  private linesDirty = true;
  private drawTimes: number[] = [];
  private offResize: (() => void) | null = null;
  private resizedWhileOpen = false;
  private readonly bytes = new Bytes();
  private readonly counts: WatchStats = { offered: 0, drawn: 0, skipped: 0, bad: 0 };
  private rgb: Uint8Array | undefined;

  constructor(
    private readonly out: Out,
    private readonly decode: Decode,
    private readonly clock: Clock = realClock,
  ) {}

  get active(): boolean {
    return this.on;
  }

  get stats(): Readonly<WatchStats> {
    return this.counts;
  }

  /** Frames drawn in the last second. */
  drawnFps(): number {
    const now = this.clock.now();
    return this.drawTimes.filter((t) => now - t <= FPS_WINDOW_MS).length;
  }

  /** Switches to the alternate screen and starts drawing. */
  open(): void {
    if (this.on) return;
    this.on = true;
    this.screen = null;
    this.cleared = true;
    this.linesDirty = true;
    this.resizedWhileOpen = false;
    this.offResize = this.out.onResize(() => this.resized());
    this.out.write(Buffer.from(ENTER), () => {});
    this.kick();
  }

  /** Stops drawing and gives the terminal back as it was. Safe to call at any time, more than once. */
  close(): void {
    if (!this.on) return;
    this.on = false;
    this.pending = null;
    this.lastImage = null;
    this.screen = null;
    this.offResize?.();
    this.offResize = null;
    this.out.write(Buffer.from(this.resizedWhileOpen ? LEAVE_RESIZED : LEAVE), () => {});
  }

  /** A frame of the watched stream; only the newest one waiting is ever decoded. */
  offer(jpeg: Uint8Array): void {
    if (!this.on) return;
    this.counts.offered++;
    if (this.pending) this.counts.skipped++;
    this.pending = jpeg;
    this.kick();
  }

  /** The status line (made terminal-safe here). */
  setStatus(text: string): void {
    if (text === this.statusText) return;
    this.statusText = text;
    this.linesDirty = true;
    this.kick();
  }

  /** The subtitle line under the status; null clears it. */
  setSubtitle(text: string | null): void {
    if (text === this.subtitleText) return;
    this.subtitleText = text;
    this.linesDirty = true;
    this.kick();
  }

  private resized(): void {
    this.resizedWhileOpen = true;
    this.screen = null;
    this.cleared = false;
    this.linesDirty = true;
    this.kick();
  }

  private kick(): void {
    if (!this.on || this.scheduled || this.writing) return;
    this.scheduled = true;
    this.clock.soon(() => {
      this.scheduled = false;
      this.draw();
    });
  }

  private draw(): void {
    if (!this.on) return;
    const jpeg = this.pending;
    this.pending = null;
    if (jpeg) {
      const img = this.decode(jpeg);
      if (img) this.lastImage = img;
      else this.counts.bad++;
    }
    const needPicture = (jpeg !== null && this.lastImage !== null) || (this.screen === null && this.lastImage !== null);
    if (!needPicture && !this.linesDirty && this.cleared) return;

    const b = this.bytes;
    b.reset();
    const cols = Math.max(1, this.out.columns);
    const rows = Math.max(1, this.out.rows);
    if (!this.cleared) {
      b.ascii("\x1b[0m\x1b[2J");
      this.cleared = true;
    }
    if (needPicture && this.lastImage) {
      const img = this.lastImage;
      const f = fit(img.width, img.height, cols, rows - RESERVED_ROWS);
      if (f) {
        const prev = this.screen;
        const sameSpot =
          prev !== null &&
          prev.fit.cols === f.cols &&
          prev.fit.rows === f.rows &&
          prev.fit.col0 === f.col0 &&
          prev.fit.row0 === f.row0;
        if (prev && !sameSpot) b.ascii("\x1b[0m\x1b[2J");
        this.rgb = downscale(img.data, img.width, img.height, f.width, f.height, this.rgb);
        const cells = toCells(this.rgb, f.width, f.height);
        encodeCells(b, cells, sameSpot ? prev.cells : null, f.cols, f.rows, f.col0, f.row0);
        this.screen = { cells, fit: f };
        if (prev && !sameSpot) this.linesDirty = true;
        if (jpeg) {
          this.counts.drawn++;
          const now = this.clock.now();
          this.drawTimes.push(now);
          while (this.drawTimes.length && now - this.drawTimes[0] > FPS_WINDOW_MS) this.drawTimes.shift();
        }
      }
    }
    if (this.linesDirty && rows >= 1) {
      this.linesDirty = false;
      // Never the last column of the last row: writing it may scroll the screen.
      const width = cols - 1;
      if (rows >= RESERVED_ROWS) {
        b.moveTo(rows - 1, 1);
        b.ascii("\x1b[0;7m" + clip(safe(this.statusText), width) + "\x1b[0m\x1b[K");
      }
      b.moveTo(rows, 1);
      const sub = this.subtitleText === null ? "" : clip(safe(this.subtitleText), width);
      const pad = Math.max(0, Math.floor((width - [...sub].length) / 2));
      b.ascii("\x1b[0m\x1b[K" + " ".repeat(pad) + (sub ? "\x1b[1m" + sub + "\x1b[0m" : ""));
    }
    if (b.length === 0) return;
    this.writing = true;
    this.out.write(b.take(), () => {
      this.writing = false;
      if (this.pending || this.linesDirty || this.screen === null) this.kick();
    });
  }
}

/** At most `width` code points. */
function clip(text: string, width: number): string {
  const cps = [...text];
  return cps.length <= width ? text : cps.slice(0, Math.max(0, width - 1)).join("") + "…";
}

/** process.stdout (a TTY) as an `Out`. */
export function ttyOut(stream: NodeJS.WriteStream): Out {
  return {
    write: (data, done) => void stream.write(data, () => done()),
    get columns() {
      return stream.columns || 80;
    },
    get rows() {
      return stream.rows || 24;
    },
    onResize(listener) {
      stream.on("resize", listener);
      return () => stream.off("resize", listener);
    },
  };
}
