// JPEG -> RGBA with jpeg-js (pure JS), bounded so a hostile frame cannot make
// the decoder allocate without limit; null for a frame that does not decode.

import jpeg from "jpeg-js";
import type { Image } from "./watchView";

/** Frames are at most video size; this is far above any the core sends. */
const MAX_MEGAPIXELS = 40;
const MAX_DECODE_MB = 256;

export function decodeJpeg(data: Uint8Array): Image | null {
  try {
    const img = jpeg.decode(data, { useTArray: true, formatAsRGBA: true, maxResolutionInMP: MAX_MEGAPIXELS, maxMemoryUsageInMB: MAX_DECODE_MB });
    return img.width > 0 && img.height > 0 ? { width: img.width, height: img.height, data: img.data } : null;
  } catch {
    return null;
  }
}
