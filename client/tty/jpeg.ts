// JPEG -> RGBA with jpeg-js (pure JS), bounded so a hostile frame cannot make
// the decoder allocate without limit; null for a frame that does not decode.

import jpeg from "jpeg-js";
import type { Image } from "./watchView";

/** 4K (3840x2160 is 8.3 MP) at most: a frame that claims more is refused before any allocation. */
const MAX_MEGAPIXELS = 9;
const MAX_DECODE_MB = 128;

export function decodeJpeg(data: Uint8Array): Image | null {
  try {
    const img = jpeg.decode(data, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: MAX_MEGAPIXELS,
      maxMemoryUsageInMB: MAX_DECODE_MB,
    });
    return img.width > 0 && img.height > 0 ? { width: img.width, height: img.height, data: img.data } : null;
  } catch {
    return null;
  }
}
