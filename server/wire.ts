// Encoders for outgoing frames. A message sent to many members is encoded
// once and the same Buffer written to each of them.

import { FRAME_HEADER, KIND_CONTROL, writeHeader } from "../protocol/framing";
import type { Msg, ServerMessage } from "../protocol/messages";

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
