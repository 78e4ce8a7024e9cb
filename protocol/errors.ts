// Error codes of docs/protocol.md section 7.

export const ERROR_CODES = [
  "bad_frame",
  "bad_json",
  "unknown_type",
  "unsupported_version",
  "bad_hello",
  "bad_request",
  "bad_key",
  "bad_proof",
  "bad_name",
  "name_taken",
  "bad_room",
  "room_full",
  "server_full",
  "timeout",
  "rate_limited",
  "too_large",
  "unknown_recipient",
  "unknown_video",
  "unknown_stream",
  "not_allowed",
  "replaced",
  "internal",
  // Cap "library2" (docs/protocol.md section 2b).
  "unknown_track",
  "bad_subtitles",
  "no_poster",
  /** v2: a v1 hello for a v2 room, or a v2 hello for a v1 room (docs/protocol.md section 12). */
  "version",
  /** v2: the hello's admission proof or room binding does not verify. */
  "not_admitted",
  // durable log (docs/protocol.md section 2c): the message was not stored, so no ack; resend later
  "store_full",
  "store_failed",
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** A request the server refuses; `fatal` decides whether the session survives. */
export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly fatal: boolean,
    readonly ref?: string,
  ) {
    super(message);
    this.name = "ProtocolError";
  }
}
