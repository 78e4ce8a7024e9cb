// The frame-index code of the sync sample (scripts/make-sync-sample.ts): a
// row of square blocks along the top edge, 16 bits of the frame index (LSB
// first, white = 1) then a white and a black marker block. Self-contained on
// purpose: page.evaluate can run decodeFrameCode's source in a browser.

/** Code blocks per row: 16 data bits + 2 markers; the block side is width / FRAME_CODE_DIVISOR. */
export const FRAME_CODE_BITS = 16;
export const FRAME_CODE_DIVISOR = 20;

/**
 * Reads the frame index from RGBA pixels (a canvas' getImageData or a decoded
 * frame). Null when the markers are not there (not a sync-sample frame, or
 * the picture is scaled into a part of the canvas we were not given).
 */
export function decodeFrameCode(rgba: Uint8Array | Uint8ClampedArray, width: number, height: number): number | null {
  const block = width / 20;
  if (!(block >= 2) || height < block || rgba.length < width * height * 4) return null;
  const luma = (i: number): number => {
    // Mean over the middle half of the block: robust to JPEG ringing at the edges.
    const x0 = Math.floor(i * block + block / 4);
    const x1 = Math.ceil(i * block + (3 * block) / 4);
    const y0 = Math.floor(block / 4);
    const y1 = Math.ceil((3 * block) / 4);
    let sum = 0;
    let n = 0;
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const o = (y * width + x) * 4;
        sum += 0.299 * rgba[o]! + 0.587 * rgba[o + 1]! + 0.114 * rgba[o + 2]!;
        n++;
      }
    }
    return n ? sum / n : 0;
  };
  if (!(luma(16) > 192 && luma(17) < 64)) return null;
  let v = 0;
  for (let i = 0; i < 16; i++) {
    const l = luma(i);
    if (l > 160) v |= 1 << i;
    else if (l >= 96) return null; // neither black nor white: not our code
  }
  return v;
}
