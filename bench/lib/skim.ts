// The load generator's frame reader: it skims media frames (VIDEO, AUDIO)
// for their first HEAD_BYTES bytes and their length and skips the body
// without copying or joining it across socket reads; only the few header
// bytes of a frame that straddles reads are kept. Control frames (small,
// rare) are copied whole. Two framings feed it: the length-prefixed TCP
// stream, and unmasked server-to-client WebSocket frames carrying kind + body
// (the bridge). A thousand viewers at 30 frames/s made the old reader
// (FrameDecoder: tail slices, concatenation of every straddling frame) the
// bench's bottleneck instead of the core.

import { KIND_AUDIO, KIND_CONTROL, KIND_VIDEO } from "../../protocol/framing";

/** The chunk header every media consumer reads (sid, frame, pts, part, parts; audio: sid, seq, pts). */
export const HEAD_BYTES = 16;

export interface SkimSink {
  /** `head` is a view of the body's first min(length, HEAD_BYTES) bytes, valid only during the call. */
  media(kind: number, head: Buffer, length: number): void;
  /** A copy of the whole body: the caller may keep it. */
  control(body: Buffer): void;
}

export type Framing = "length" | "ws";

const WS_BINARY = 0x2;
const WS_CLOSE = 0x8;

/**
 * Header bytes a frame needs before its payload, judged from `have` bytes of
 * it (0 = cannot tell yet). Length framing: u32 length + kind. WebSocket:
 * 2 bytes, extended length, then the payload's kind byte for binary frames.
 */
function headerSize(framing: Framing, h: Buffer, have: number): number {
  if (framing === "length") return 5;
  if (have < 2) return 0;
  if (h[1]! & 0x80) throw new Error("masked frame from the server");
  const len7 = h[1]! & 0x7f;
  const ext = len7 === 126 ? 2 : len7 === 127 ? 8 : 0;
  return 2 + ext + ((h[0]! & 0x0f) === WS_BINARY ? 1 : 0);
}

export class SkimReader {
  private readonly hdr = Buffer.alloc(16);
  private hdrHave = 0;
  /** Inside a frame's body: its kind (-1 for a WebSocket frame skipped whole), length, bytes still to come. */
  private inBody = false;
  private kind = 0;
  private length = 0;
  private left = 0;
  private readonly head = Buffer.alloc(HEAD_BYTES);
  private headHave = 0;
  private ctl: Buffer | null = null;
  private ctlHave = 0;
  /** Set once a WebSocket close frame arrived. */
  closed = false;

  constructor(
    private readonly framing: Framing,
    private readonly maxFrame: number,
    private readonly sink: SkimSink,
  ) {}

  /** Feeds buf[start, end); throws on a malformed stream (the caller drops the connection). */
  push(buf: Buffer, start: number, end: number): void {
    let off = start;
    while (off < end) {
      if (!this.inBody) {
        // Fast path: the whole header, and often the whole frame, is in this read.
        if (this.hdrHave === 0 && this.framing === "length" && end - off >= 5) {
          const len = buf.readUInt32BE(off);
          const kind = buf[off + 4]!;
          off += 5;
          const bodyLen = this.check(len, kind);
          if (end - off >= bodyLen) {
            this.deliverWhole(kind, buf, off, bodyLen);
            off += bodyLen;
            continue;
          }
          this.begin(kind, bodyLen);
          continue;
        }
        let need = headerSize(this.framing, this.hdr, this.hdrHave);
        while (this.hdrHave < (need || 2) && off < end) {
          this.hdr[this.hdrHave++] = buf[off++]!;
          need = headerSize(this.framing, this.hdr, this.hdrHave);
        }
        if (need === 0 || this.hdrHave < need) return;
        this.hdrHave = 0;
        this.beginFromHeader(need);
        if (this.left === 0) this.finish();
        continue;
      }
      const take = Math.min(this.left, end - off);
      if (this.ctl) {
        buf.copy(this.ctl, this.ctlHave, off, off + take);
        this.ctlHave += take;
      } else if (this.kind >= 0 && this.headHave < HEAD_BYTES) {
        const h = Math.min(HEAD_BYTES - this.headHave, take);
        buf.copy(this.head, this.headHave, off, off + h);
        this.headHave += h;
      }
      off += take;
      this.left -= take;
      if (this.left === 0) this.finish();
    }
  }

  /** Validates a length-prefixed header; returns the body length. */
  private check(len: number, kind: number): number {
    if (len === 0) throw new Error("frame length 0");
    if (len > this.maxFrame) throw new Error(`frame length ${len} over ${this.maxFrame}`);
    if (kind !== KIND_VIDEO && kind !== KIND_AUDIO && kind !== KIND_CONTROL) throw new Error(`frame kind ${kind}`);
    return len - 1;
  }

  private beginFromHeader(size: number): void {
    const h = this.hdr;
    if (this.framing === "length") {
      this.begin(h[4]!, this.check(h.readUInt32BE(0), h[4]!));
      return;
    }
    const opcode = h[0]! & 0x0f;
    if (!(h[0]! & 0x80)) throw new Error("fragmented WebSocket message");
    const len7 = h[1]! & 0x7f;
    const len = len7 === 126 ? h.readUInt16BE(2) : len7 === 127 ? Number(h.readBigUInt64BE(2)) : len7;
    if (opcode === WS_CLOSE) this.closed = true;
    if (opcode !== WS_BINARY) {
      // Close, ping, pong, text: skipped (the bridge sends binary messages only).
      this.kind = -1;
      this.inBody = true;
      this.left = len;
      return;
    }
    const kind = h[size - 1]!;
    this.begin(kind, this.check(len, kind));
  }

  private begin(kind: number, bodyLen: number): void {
    this.inBody = true;
    this.kind = kind;
    this.length = bodyLen;
    this.left = bodyLen;
    this.headHave = 0;
    if (kind === KIND_CONTROL) {
      this.ctl = Buffer.allocUnsafe(bodyLen);
      this.ctlHave = 0;
    }
  }

  private finish(): void {
    this.inBody = false;
    const kind = this.kind;
    if (kind < 0) return;
    if (this.ctl) {
      const c = this.ctl;
      this.ctl = null;
      this.sink.control(c);
    } else this.sink.media(kind, this.head.subarray(0, this.headHave), this.length);
  }

  private deliverWhole(kind: number, buf: Buffer, off: number, bodyLen: number): void {
    if (kind === KIND_CONTROL) this.sink.control(Buffer.from(buf.subarray(off, off + bodyLen)));
    else this.sink.media(kind, buf.subarray(off, off + Math.min(bodyLen, HEAD_BYTES)), bodyLen);
  }
}
