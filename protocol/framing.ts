// Length-prefixed frames (docs/protocol.md section 1):
//   u32 BE length (kind + body) | u8 kind | body
// The decoder is streaming: TCP may split or merge frames arbitrarily, and it
// never buffers more than one frame (at most maxFrame + 4 bytes).

export const KIND_CONTROL = 0x01;
export const KIND_VIDEO = 0x02;
/** Server to client only, and only to a client that declared the "audio" cap (docs/protocol.md 5a). */
export const KIND_AUDIO = 0x03;
export const FRAME_HEADER = 5;

export interface WireFrame {
  kind: number;
  /** A view into the received bytes; copy it if you keep it past the callback. */
  body: Uint8Array;
}

export type FrameErrorCode = "bad_frame" | "too_large";

export class FrameError extends Error {
  constructor(
    readonly code: FrameErrorCode,
    message: string,
  ) {
    super(message);
    this.name = "FrameError";
  }
}

export function encodeFrame(kind: number, body: Uint8Array): Uint8Array {
  const out = new Uint8Array(FRAME_HEADER + body.length);
  writeHeader(out, kind, body.length);
  out.set(body, FRAME_HEADER);
  return out;
}

/** Writes the 5-byte header for a frame whose body has bodyLength bytes. */
export function writeHeader(out: Uint8Array, kind: number, bodyLength: number, offset = 0): void {
  const len = bodyLength + 1;
  out[offset] = len >>> 24;
  out[offset + 1] = (len >>> 16) & 0xff;
  out[offset + 2] = (len >>> 8) & 0xff;
  out[offset + 3] = len & 0xff;
  out[offset + 4] = kind;
}

export interface DecoderOptions {
  maxFrame: number;
  /** Kinds this side accepts; anything else is `bad_frame`. */
  kinds: ReadonlySet<number>;
}

export class FrameDecoder {
  private chunks: Uint8Array[] = [];
  private buffered = 0;
  private failed: FrameError | null = null;

  constructor(private readonly opts: DecoderOptions) {}

  /** True while part of a frame is buffered (for the incomplete-frame timeout). */
  get pending(): boolean {
    return this.buffered > 0;
  }

  /**
   * Feeds bytes; calls onFrame for each complete frame. Throws FrameError on
   * the first protocol violation, judged as early as the header allows, and
   * keeps throwing it afterwards: a broken stream cannot be resynchronised.
   */
  push(data: Uint8Array, onFrame: (frame: WireFrame) => void): void {
    if (this.failed) throw this.failed;
    let buf: Uint8Array;
    if (this.buffered === 0) {
      buf = data;
    } else {
      this.chunks.push(data);
      this.buffered += data.length;
      // Join the pieces only once the whole frame is here: a 1 MiB frame that
      // arrives in 64 KiB reads is copied once, not sixteen times.
      const head = this.peek(5);
      this.checkHeader(head, 0, head.length);
      if (head.length < 4 || this.buffered < 4 + readLength(head, 0)) return;
      buf = concat(this.chunks, this.buffered);
      this.chunks = [];
      this.buffered = 0;
    }
    let off = 0;
    while (buf.length - off >= 4) {
      const len = this.checkHeader(buf, off, buf.length - off);
      if (buf.length - off < 4 + len) break;
      onFrame({ kind: buf[off + 4], body: buf.subarray(off + 5, off + 4 + len) });
      off += 4 + len;
    }
    if (off < buf.length) {
      // Copy the tail so the caller's (possibly large) chunk can be freed.
      const tail = buf.slice(off);
      this.checkHeader(tail, 0, tail.length);
      this.chunks = [tail];
      this.buffered = tail.length;
    }
  }

  /** Validates as much of the header as `avail` bytes allow; returns the length field. */
  private checkHeader(buf: Uint8Array, off: number, avail: number): number {
    if (avail < 4) return 0;
    const len = readLength(buf, off);
    if (len === 0) this.fail("bad_frame", "frame length 0");
    if (len > this.opts.maxFrame) this.fail("too_large", `frame length ${len} over maxFrame ${this.opts.maxFrame}`);
    if (avail >= 5 && !this.opts.kinds.has(buf[off + 4])) {
      this.fail("bad_frame", `frame kind 0x${buf[off + 4].toString(16).padStart(2, "0")} not allowed`);
    }
    return len;
  }

  private peek(n: number): Uint8Array {
    const out = new Uint8Array(Math.min(n, this.buffered));
    let o = 0;
    for (const c of this.chunks) {
      if (o >= out.length) break;
      const take = Math.min(c.length, out.length - o);
      out.set(c.subarray(0, take), o);
      o += take;
    }
    return out;
  }

  private fail(code: FrameErrorCode, message: string): never {
    this.chunks = [];
    this.buffered = 0;
    this.failed = new FrameError(code, message);
    throw this.failed;
  }
}

function readLength(buf: Uint8Array, off: number): number {
  return ((buf[off] << 24) >>> 0) + (buf[off + 1] << 16) + (buf[off + 2] << 8) + buf[off + 3];
}

function concat(parts: Uint8Array[], total: number): Uint8Array {
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
