// Encoders for outgoing frames, all in one place. A message sent to many
// members is encoded once and the same Buffer written to each of them; a
// video frame is cut into chunks once per stream and shared by its viewers.

import { FRAME_HEADER, KIND_CONTROL, KIND_VIDEO, writeHeader } from "../protocol/framing";
import { MAX_CHUNK_BYTES, VIDEO_CHUNK_HEADER } from "../protocol/limits";
import type { Msg, ServerMessage } from "../protocol/messages";
import { writeChunkHeader } from "../protocol/videoChunk";
import type { VideoFrameOut, WireChunk } from "./ports";
import type { VideoFrame } from "./video/types";

export function controlFrame(msg: ServerMessage): Buffer {
  return frameOf(JSON.stringify(msg));
}

/**
 * A `msg` whose envelope is spliced in as the JSON the hub already made to
 * measure it: envelopes are the bulk of a message (a wrapped key per
 * recipient), so they are serialized once per send, not twice.
 */
export function msgFrame(head: Omit<Msg, "env">, envJson: string): Buffer {
  const json = JSON.stringify(head);
  return frameOf(`${json.slice(0, -1)},"env":${envJson}}`);
}

function frameOf(json: string): Buffer {
  const len = Buffer.byteLength(json);
  const buf = Buffer.allocUnsafe(FRAME_HEADER + len);
  writeHeader(buf, KIND_CONTROL, len);
  buf.write(json, FRAME_HEADER, "utf8");
  return buf;
}

/** Cuts one frame into wire chunks: headers are new, JPEG bytes are slices of the cached frame. */
export function chunkFrame(sid: number, frame: VideoFrame): VideoFrameOut {
  const jpeg = frame.jpeg;
  const parts = Math.max(1, Math.ceil(jpeg.length / MAX_CHUNK_BYTES));
  const chunks: WireChunk[] = [];
  let bytes = 0;
  for (let part = 0; part < parts; part++) {
    const data = jpeg.subarray(part * MAX_CHUNK_BYTES, Math.min(jpeg.length, (part + 1) * MAX_CHUNK_BYTES));
    const head = Buffer.allocUnsafe(FRAME_HEADER + VIDEO_CHUNK_HEADER);
    writeHeader(head, KIND_VIDEO, VIDEO_CHUNK_HEADER + data.length);
    writeChunkHeader(head, { sid, frame: frame.index, ptsMs: Math.round(frame.ptsMs), part, parts }, FRAME_HEADER);
    chunks.push({ head, data });
    bytes += head.length + data.length;
  }
  return { sid, frame: frame.index, chunks, bytes };
}
