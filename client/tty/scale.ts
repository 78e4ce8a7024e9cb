// Where the picture goes on the terminal and the picture at that size: fit a
// source inside a cell area keeping its aspect ratio (letterboxed, centred;
// two pixels per cell vertically), and an area-average downscale of RGBA to
// RGB. Pure.

export interface Fit {
  /** Picture size in cells. */
  cols: number;
  rows: number;
  /** Top-left cell of the picture, 0-based, inside the area. */
  col0: number;
  row0: number;
  /** Picture size in pixels: cols x 2*rows (a half-block cell is two square-ish pixels). */
  width: number;
  height: number;
}

/** `areaCols` x `areaRows` cells; null when the area is empty. */
export function fit(srcW: number, srcH: number, areaCols: number, areaRows: number): Fit | null {
  if (srcW <= 0 || srcH <= 0 || areaCols <= 0 || areaRows <= 0) return null;
  const scale = Math.min(areaCols / srcW, (2 * areaRows) / srcH);
  const cols = Math.max(1, Math.min(areaCols, Math.round(srcW * scale)));
  const rows = Math.max(1, Math.min(areaRows, Math.round((srcH * scale) / 2)));
  return {
    cols,
    rows,
    col0: Math.floor((areaCols - cols) / 2),
    row0: Math.floor((areaRows - rows) / 2),
    width: cols,
    height: 2 * rows,
  };
}

/** Per destination index, the first and one-past-last source index of its box (at least one). */
function boxes(src: number, dst: number): Int32Array {
  const b = new Int32Array(dst * 2);
  for (let i = 0; i < dst; i++) {
    const a = Math.min(src - 1, Math.floor((i * src) / dst));
    const z = Math.max(a + 1, Math.min(src, Math.floor(((i + 1) * src) / dst)));
    b[2 * i] = a;
    b[2 * i + 1] = z;
  }
  return b;
}

/**
 * RGBA (`src`, sw x sh) -> RGB (dw x dh): each destination pixel is the mean
 * of its source box, so detail averages out instead of aliasing; a source
 * smaller than the destination repeats pixels (nearest). Every source pixel is
 * read at most once per destination row band: cost ~ sw*sh.
 */
export function downscale(
  src: Uint8Array,
  sw: number,
  sh: number,
  dw: number,
  dh: number,
  out?: Uint8Array,
): Uint8Array {
  const dst = out && out.length >= dw * dh * 3 ? out : new Uint8Array(dw * dh * 3);
  const xb = boxes(sw, dw);
  const yb = boxes(sh, dh);
  const sumR = new Uint32Array(dw);
  const sumG = new Uint32Array(dw);
  const sumB = new Uint32Array(dw);
  for (let y = 0; y < dh; y++) {
    sumR.fill(0);
    sumG.fill(0);
    sumB.fill(0);
    const y0 = yb[2 * y];
    const y1 = yb[2 * y + 1];
    for (let sy = y0; sy < y1; sy++) {
      const row = sy * sw * 4;
      for (let x = 0; x < dw; x++) {
        let r = 0;
        let g = 0;
        let b = 0;
        const x1 = xb[2 * x + 1];
        for (let sx = xb[2 * x]; sx < x1; sx++) {
          const p = row + sx * 4;
          r += src[p];
          g += src[p + 1];
          b += src[p + 2];
        }
        sumR[x] += r;
        sumG[x] += g;
        sumB[x] += b;
      }
    }
    const rowsIn = y1 - y0;
    for (let x = 0; x < dw; x++) {
      const n = rowsIn * (xb[2 * x + 1] - xb[2 * x]);
      const d = (y * dw + x) * 3;
      dst[d] = Math.round(sumR[x] / n);
      dst[d + 1] = Math.round(sumG[x] / n);
      dst[d + 2] = Math.round(sumB[x] / n);
    }
  }
  return dst;
}
