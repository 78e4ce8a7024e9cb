// Exit codes shared by every subcommand (sysexits-style where one fits).
export const EXIT = {
  ok: 0,
  /** Runtime failure: a crash, or a fatal error from the server. */
  failure: 1,
  /** Bad flags or arguments. */
  usage: 2,
  /** Could not reach the peer (core down, bridge cannot reach core). */
  unavailable: 69,
  /** Could not bind the port or read a file we were told to use. */
  cantCreate: 73,
  /** The peer's TLS certificate is not the one pinned or first seen. */
  untrusted: 77,
} as const;
