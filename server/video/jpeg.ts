// Splits a byte stream of concatenated JPEGs (ffmpeg `-f image2pipe -c:v mjpeg`)
// into whole images by walking the marker structure. Searching for FFD9 alone
// is wrong: an APP segment may hold a complete thumbnail JPEG with its own
// EOI, and lengths tell us to skip segment payloads whatever they contain.
// Inside entropy-coded data FF is always followed by 00 (stuffing) or RSTn,
// so the first other marker there ends the scan.

const SEEK_FF = 0; // between images: looking for the FF of an SOI
const SEEK_SOI = 1; // saw FF between images: want D8
const MARKER_FF = 2; // inside an image, after a segment: want FF
const MARKER_CODE = 3; // saw FF: the next byte is the marker code (or FF fill)
const LEN_HI = 4;
const LEN_LO = 5;
const SKIP = 6; // inside a segment payload
const ENTROPY = 7; // entropy-coded data after SOS
const ENTROPY_FF = 8; // saw FF in entropy-coded data

const SOI = 0xd8;
const FF_BYTE = Buffer.from([0xff]);
const EOI = 0xd9;
const SOS = 0xda;

/** Default cap on one image, so a stream without EOI cannot grow memory without bound. */
export const DEFAULT_MAX_IMAGE_BYTES = 16 * 1024 * 1024;

function isStandalone(code: number): boolean {
  // RST0-7 and TEM carry no length.
  return (code >= 0xd0 && code <= 0xd7) || code === 0x01;
}

export class JpegSplitter {
  private state = SEEK_FF;
  /** Earlier chunks (already trimmed) of the image being assembled. */
  private parts: Buffer[] = [];
  private partsBytes = 0;
  private inImage = false;
  private marker = 0;
  private segRemaining = 0;
  /** Bytes thrown away while resynchronising; non-zero means the input was not clean JPEGs. */
  discardedBytes = 0;
  resyncs = 0;

  constructor(private readonly maxImageBytes = DEFAULT_MAX_IMAGE_BYTES) {}

  /** Bytes held for an image that has not ended yet. */
  get pendingBytes(): number {
    return this.partsBytes;
  }

  /**
   * Feeds one chunk; returns the images it completes. An image that lies within
   * this chunk is returned as a subarray of it (no copy); one spanning chunks is
   * joined once.
   */
  push(chunk: Buffer): Buffer[] {
    const out: Buffer[] = [];
    const n = chunk.length;
    // Where the current image starts in this chunk (0 if it began in an earlier one).
    let start = this.inImage ? 0 : -1;
    let i = 0;
    while (i < n) {
      switch (this.state) {
        case SEEK_FF: {
          const j = chunk.indexOf(0xff, i);
          if (j < 0) {
            this.discardedBytes += n - i;
            i = n;
          } else {
            this.discardedBytes += j - i;
            // Tentatively an image: if the FF ends this chunk, it must be kept for the next.
            this.inImage = true;
            start = j;
            this.state = SEEK_SOI;
            i = j + 1;
          }
          break;
        }
        case SEEK_SOI: {
          if (chunk[i] === SOI) {
            this.state = MARKER_FF;
            i++;
          } else {
            // Not an SOI after all; the current byte may itself be the FF of one.
            this.discardedBytes += 1 + this.partsBytes;
            this.dropImage();
            start = -1;
            this.state = SEEK_FF;
          }
          break;
        }
        case MARKER_FF: {
          if (chunk[i] === 0xff) {
            this.state = MARKER_CODE;
            i++;
          } else {
            start = this.resync(start, i);
          }
          break;
        }
        case MARKER_CODE:
        case ENTROPY_FF: {
          const code = chunk[i];
          if (code === 0xff) {
            i++; // fill byte; the marker code follows
            break;
          }
          if (this.state === ENTROPY_FF && (code === 0x00 || (code >= 0xd0 && code <= 0xd7))) {
            this.state = ENTROPY; // stuffed FF or restart marker: still entropy-coded data
            i++;
            break;
          }
          if (code === EOI) {
            out.push(this.finish(chunk, start, i + 1));
            start = -1;
            i++;
            break;
          }
          if (code === SOI) {
            // A new image began before this one ended: keep the new one, drop the truncated one.
            this.discardedBytes += this.partsBytes + Math.max(0, i - 1 - Math.max(start, 0));
            this.resyncs++;
            this.dropImage();
            this.inImage = true;
            if (i > 0) {
              start = i - 1;
            } else {
              this.parts = [FF_BYTE];
              this.partsBytes = 1;
              start = 0;
            }
            this.state = MARKER_FF;
            i++;
            break;
          }
          if (code === 0x00) {
            start = this.resync(start, i);
            break;
          }
          i++;
          if (isStandalone(code)) {
            this.state = MARKER_FF;
          } else {
            this.marker = code;
            this.state = LEN_HI;
          }
          break;
        }
        case LEN_HI:
          this.segRemaining = chunk[i] << 8;
          this.state = LEN_LO;
          i++;
          break;
        case LEN_LO: {
          const len = this.segRemaining | chunk[i];
          if (len < 2) {
            start = this.resync(start, i);
            break;
          }
          this.segRemaining = len - 2;
          this.state = SKIP;
          i++;
          break;
        }
        case SKIP: {
          const take = Math.min(this.segRemaining, n - i);
          this.segRemaining -= take;
          i += take;
          if (this.segRemaining === 0) this.state = this.marker === SOS ? ENTROPY : MARKER_FF;
          break;
        }
        case ENTROPY: {
          const j = chunk.indexOf(0xff, i);
          if (j < 0) {
            i = n;
          } else {
            this.state = ENTROPY_FF;
            i = j + 1;
          }
          break;
        }
      }
    }
    if (this.inImage) {
      const rest = start <= 0 ? chunk : chunk.subarray(start);
      if (this.partsBytes + rest.length > this.maxImageBytes) {
        this.discardedBytes += this.partsBytes + rest.length;
        this.resyncs++;
        this.dropImage();
        this.state = SEEK_FF;
      } else {
        this.parts.push(rest);
        this.partsBytes += rest.length;
      }
    }
    return out;
  }

  private finish(chunk: Buffer, start: number, end: number): Buffer {
    const image =
      this.parts.length === 0
        ? chunk.subarray(start, end)
        : Buffer.concat([...this.parts, chunk.subarray(0, end)], this.partsBytes + end);
    this.dropImage();
    this.state = SEEK_FF;
    return image;
  }

  /**
   * Abandons a malformed image; the caller re-reads byte i in SEEK_FF, which
   * always advances, so a bad stream cannot loop.
   */
  private resync(start: number, i: number): number {
    this.discardedBytes += this.partsBytes + (i - Math.max(start, 0));
    this.resyncs++;
    this.dropImage();
    this.state = SEEK_FF;
    return -1;
  }

  private dropImage(): void {
    this.parts = [];
    this.partsBytes = 0;
    this.inImage = false;
  }
}

export interface JpegInfo {
  width: number;
  height: number;
  /** The SOF marker code: 0xC0 baseline, 0xC1 extended, 0xC2 progressive. */
  sof: number;
  components: number;
}

/** Reads the frame header of a JPEG; null if there is none before the scan. */
export function readJpegInfo(buf: Buffer): JpegInfo | null {
  if (buf.length < 4 || buf[0] !== 0xff || buf[1] !== SOI) return null;
  let p = 2;
  while (p + 4 <= buf.length) {
    if (buf[p] !== 0xff) return null;
    const code = buf[p + 1];
    if (code === 0xff) {
      p++;
      continue;
    }
    if (isStandalone(code)) {
      p += 2;
      continue;
    }
    if (code === SOS || code === EOI) return null;
    const len = buf.readUInt16BE(p + 2);
    const isSof = code >= 0xc0 && code <= 0xcf && code !== 0xc4 && code !== 0xc8 && code !== 0xcc;
    if (isSof) {
      if (p + 10 > buf.length) return null;
      return {
        sof: code,
        height: buf.readUInt16BE(p + 5),
        width: buf.readUInt16BE(p + 7),
        components: buf[p + 9],
      };
    }
    p += 2 + len;
  }
  return null;
}
