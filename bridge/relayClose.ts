// The WebSocket close codes the relay uses (RFC 6455 section 7.4.1) and the
// limit on a close reason; shared by the relay and its two directions.

export const CLOSE = {
  normal: 1000,
  goingAway: 1001,
  protocolError: 1002,
  unsupportedData: 1003,
  tooBig: 1009,
  internalError: 1011,
} as const;

/** Why a direction stops relaying: the WebSocket is closed with this. */
export interface CloseReason {
  readonly code: number;
  readonly reason: string;
}

/** Close reasons are limited to 123 bytes of UTF-8. */
export function clipReason(reason: string): string {
  let r = reason;
  while (Buffer.byteLength(r) > 123) r = r.slice(0, -1);
  return r;
}
