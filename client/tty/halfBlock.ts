// RGB pixels -> half-block cells -> terminal bytes. A cell is "▀" with the
// foreground the upper pixel and the background the lower one (24-bit SGR),
// or a space on the background when both are the same colour. Given the
// previous frame's cells only the changed ones are written, each run started
// with a cursor move, colours set only when they change. Pure.

const ESC = 0x1b;
const UPPER_HALF = Buffer.from("▀", "utf8");
/** Decimal digits of 0..999, so numbers are copied rather than formatted. */
const DIGITS: Buffer[] = Array.from({ length: 1000 }, (_, i) => Buffer.from(String(i), "ascii"));

/** A growable byte buffer reused across frames (one allocation once it is big enough). */
export class Bytes {
  private buf: Buffer;
  length = 0;
  constructor(initial = 64 * 1024) {
    this.buf = Buffer.allocUnsafe(initial);
  }
  private room(n: number): void {
    if (this.length + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.length + n));
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  byte(b: number): void {
    this.room(1);
    this.buf[this.length++] = b;
  }
  bytes(b: Uint8Array): void {
    this.room(b.length);
    this.buf.set(b, this.length);
    this.length += b.length;
  }
  num(n: number): void {
    this.bytes(n < 1000 ? DIGITS[n] : Buffer.from(String(n), "ascii"));
  }
  ascii(s: string): void {
    this.room(s.length * 3);
    this.length += this.buf.write(s, this.length, "utf8");
  }
  /** CSI row ; col H, 1-based. */
  moveTo(row: number, col: number): void {
    this.byte(ESC);
    this.byte(0x5b);
    this.num(row);
    this.byte(0x3b);
    this.num(col);
    this.byte(0x48);
  }
  reset(): void {
    this.length = 0;
  }
  /** A copy of what was written: the caller may hand it to an async write. */
  take(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.length));
  }
}

/**
 * RGB (w x h, h even) -> cells: [2i] upper and [2i+1] lower colour of cell i
 * (row-major, w x h/2), each 0xRRGGBB.
 */
export function toCells(rgb: Uint8Array, w: number, h: number, out?: Uint32Array): Uint32Array {
  const rows = h >> 1;
  const cells = out && out.length === 2 * w * rows ? out : new Uint32Array(2 * w * rows);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < w; c++) {
      const up = (2 * r * w + c) * 3;
      const lo = ((2 * r + 1) * w + c) * 3;
      const i = 2 * (r * w + c);
      cells[i] = (rgb[up] << 16) | (rgb[up + 1] << 8) | rgb[up + 2];
      cells[i + 1] = (rgb[lo] << 16) | (rgb[lo + 1] << 8) | rgb[lo + 2];
    }
  }
  return cells;
}

function sgrColour(b: Bytes, kind: 38 | 48, rgb: number): void {
  b.num(kind);
  b.ascii(";2;");
  b.num(rgb >>> 16);
  b.byte(0x3b);
  b.num((rgb >>> 8) & 0xff);
  b.byte(0x3b);
  b.num(rgb & 0xff);
}

/**
 * Appends the escape bytes that draw `cells` (cols x rows) with its top-left
 * at 0-based (col0, row0). `prev`: the cells on screen now (same size), or
 * null for a full draw. Ends with SGR reset when anything was drawn. Returns
 * the number of cells written.
 */
export function encodeCells(
  b: Bytes,
  cells: Uint32Array,
  prev: Uint32Array | null,
  cols: number,
  rows: number,
  col0: number,
  row0: number,
): number {
  let fg = -1;
  let bg = -1;
  let written = 0;
  const same = prev !== null && prev.length === cells.length;
  for (let r = 0; r < rows; r++) {
    let cursorAt = -1; // column the cursor is at in this row, -1 unknown
    for (let c = 0; c < cols; c++) {
      const i = 2 * (r * cols + c);
      const up = cells[i];
      const lo = cells[i + 1];
      if (same && prev[i] === up && prev[i + 1] === lo) continue;
      if (cursorAt !== c) b.moveTo(row0 + r + 1, col0 + c + 1);
      const needFg = up !== lo && up !== fg;
      const needBg = lo !== bg;
      if (needFg || needBg) {
        b.byte(ESC);
        b.byte(0x5b);
        if (needFg) sgrColour(b, 38, up);
        if (needFg && needBg) b.byte(0x3b);
        if (needBg) sgrColour(b, 48, lo);
        b.byte(0x6d);
        if (needFg) fg = up;
        bg = lo;
      }
      if (up === lo) b.byte(0x20);
      else b.bytes(UPPER_HALF);
      cursorAt = c + 1;
      written++;
    }
  }
  if (written > 0) b.ascii("\x1b[0m");
  return written;
}
