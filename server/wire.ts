// Encoders for outgoing frames. A message sent to many members is encoded
// once and the same Buffer written to each of them.

import { FRAME_HEADER, KIND_CONTROL, writeHeader } from "../protocol/framing";
import type { ServerMessage } from "../protocol/messages";

export function controlFrame(msg: ServerMessage): Buffer {
  const json = JSON.stringify(msg);
  const len = Buffer.byteLength(json);
  const buf = Buffer.allocUnsafe(FRAME_HEADER + len);
  writeHeader(buf, KIND_CONTROL, len);
  buf.write(json, FRAME_HEADER, "utf8");
  return buf;
}
