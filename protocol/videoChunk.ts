// VIDEO chunk header (docs/protocol.md section 6): sid, frame, ptsMs, part, parts.

import { VIDEO_CHUNK_HEADER } from "./limits";

export interface ChunkHeader {
  sid: number;
  frame: number;
  ptsMs: number;
  part: number;
  parts: number;
}

export function writeChunkHeader(out: Uint8Array, h: ChunkHeader, offset = 0): void {
  const dv = new DataView(out.buffer, out.byteOffset + offset, VIDEO_CHUNK_HEADER);
  dv.setUint32(0, h.sid);
  dv.setUint32(4, h.frame);
  dv.setUint32(8, h.ptsMs);
  dv.setUint16(12, h.part);
  dv.setUint16(14, h.parts);
}

/** Null when the body cannot be a chunk (too short, or part outside parts). */
export function readChunk(body: Uint8Array): { header: ChunkHeader; data: Uint8Array } | null {
  if (body.length < VIDEO_CHUNK_HEADER) return null;
  const dv = new DataView(body.buffer, body.byteOffset, VIDEO_CHUNK_HEADER);
  const header = {
    sid: dv.getUint32(0),
    frame: dv.getUint32(4),
    ptsMs: dv.getUint32(8),
    part: dv.getUint16(12),
    parts: dv.getUint16(14),
  };
  if (header.parts < 1 || header.part >= header.parts) return null;
  return { header, data: body.subarray(VIDEO_CHUNK_HEADER) };
}

/**
 * Joins the chunks of (sid, frame) in order. A frame is dropped when a later
 * frame of the same sid begins before it completes, so memory stays at one
 * frame per stream whatever arrives.
 */
/** A whole JPEG a client received: one video frame of stream `sid`. */
export interface ReceivedFrame {
  sid: number;
  frame: number;
  ptsMs: number;
  jpeg: Uint8Array;
}

export class FrameAssembler {
  private current = new Map<
    number,
    { frame: number; ptsMs: number; parts: Uint8Array[]; next: number; bytes: number }
  >();

  /** Returns the joined JPEG when the chunk completes its frame. */
  push(body: Uint8Array): ReceivedFrame | null {
    const c = readChunk(body);
    if (!c) return null;
    const { sid, frame, ptsMs, part, parts } = c.header;
    let cur = this.current.get(sid);
    if (part === 0) {
      cur = { frame, ptsMs, parts: [], next: 0, bytes: 0 };
      this.current.set(sid, cur);
    }
    if (!cur || cur.frame !== frame || cur.next !== part) return null;
    cur.parts.push(c.data.slice());
    cur.bytes += c.data.length;
    cur.next++;
    if (cur.next < parts) return null;
    this.current.delete(sid);
    const jpeg = new Uint8Array(cur.bytes);
    let o = 0;
    for (const p of cur.parts) {
      jpeg.set(p, o);
      o += p.length;
    }
    return { sid, frame, ptsMs, jpeg };
  }

  forget(sid: number): void {
    this.current.delete(sid);
  }
}
