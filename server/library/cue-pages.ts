// Splits a cue list into pages that each fit one control frame, so a long
// track (up to maxSubtitleCues) never needs a frame over maxFrame. The later
// wire phase sends one `subtitleCues` message per page.

import type { Cue } from "./subtitle-parse";

/** Pages in order; each page's JSON (as an array) is at most `maxBytes` UTF-8 bytes, unless one cue alone is larger. */
export function cuePages(cues: readonly Cue[], maxBytes: number): Cue[][] {
  const pages: Cue[][] = [];
  let page: Cue[] = [];
  let bytes = 2; // "[]"
  for (const cue of cues) {
    const size = Buffer.byteLength(JSON.stringify(cue)) + 1; // and a comma
    if (page.length > 0 && bytes + size > maxBytes) {
      pages.push(page);
      page = [];
      bytes = 2;
    }
    page.push(cue);
    bytes += size;
  }
  if (page.length > 0) pages.push(page);
  return pages;
}
