// Capabilities a client declares in `hello.caps` (docs/protocol.md section 2a).
// The core sends a frame kind, message or field beyond v1 only to a client
// that declared the capability for it, so a v1 client gets exactly what the
// v1 contract promises. Unknown names are ignored, never an error, so clients
// may declare capabilities a core does not have yet.
//
// Browser-safe: no node: imports.

/** The capabilities this implementation knows; each feature adds its own name here. */
export const KNOWN_CAPS = [
  // Subtitles, posters and library change notes (docs/protocol.md section 2b):
  // videos.items[].subtitles/poster, subtitles -> subtitleCues, poster, videosChanged.
  "library2",
  // Video frames at the small size of a terminal viewer (docs/protocol.md section 2b).
  "smallVideo",
  // The durable room log (docs/protocol.md section 2c): msg.seq, ack.seq,
  // hello.resume, resumed / historyGap, receipt / delivered, presence and
  // away members in welcome. One name, because the parts only make sense together.
  "durable",
] as const satisfies readonly string[];

export type Cap = (typeof KNOWN_CAPS)[number];

/** At most this many names, each at most MAX_CAP_CHARS, in one hello. */
export const MAX_CAPS = 32;
export const MAX_CAP_CHARS = 32;

/** The known capabilities among those declared (duplicates and unknown names dropped). */
export function knownCaps(declared: readonly string[] | undefined): ReadonlySet<Cap> {
  const known = new Set<string>(KNOWN_CAPS);
  const out = new Set<Cap>();
  for (const c of declared ?? []) if (known.has(c)) out.add(c as Cap);
  return out;
}
