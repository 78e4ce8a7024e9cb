// The video streams this connection is watching, as the server last described
// them, and the frames joined from their chunks. Chunks of a stream not (or no
// longer) watched are dropped before joining, so a half-built frame is kept
// only per watched stream: control messages and chunks keep their order on
// the wire, so `stream` comes before its first chunk and `streamEnd` after its
// last.
//
// Browser-safe: no node: imports.

import type { StreamInfo } from "./messages";
import { FrameAssembler, readChunk, type ReceivedFrame } from "./videoChunk";

export class Streams {
  private map = new Map<number, StreamInfo>();
  private assembler = new FrameAssembler();

  get view(): ReadonlyMap<number, StreamInfo> {
    return this.map;
  }

  /** A stream started or was described again. */
  watch(info: StreamInfo): void {
    this.map.set(info.sid, info);
  }

  /** Play state changed; unknown sids are ignored. */
  update(sid: number, state: StreamInfo["state"], posMs: number): void {
    const s = this.map.get(sid);
    if (s) this.map.set(sid, { ...s, state, posMs });
  }

  end(sid: number): void {
    this.map.delete(sid);
    this.assembler.forget(sid);
  }

  /** Sids being watched, copied so the caller may end them while iterating. */
  sids(): number[] {
    return [...this.map.keys()];
  }

  /** Takes one video chunk; the whole frame once its last chunk is in. */
  push(body: Uint8Array): ReceivedFrame | null {
    const c = readChunk(body);
    if (!c || !this.map.has(c.header.sid)) return null;
    return this.assembler.push(body);
  }
}
