// Reduces the markup of a cue (SRT's <i>/<b>/<font>, WebVTT's <c.x>/<v Name>/
// <ruby>/timestamps, ASS override blocks like {\an8}) to plain text plus a tiny
// style set carried as data. Nothing here is ever HTML: a tag we do not know,
// such as <script> or <img onerror=...>, stays in the text as the characters
// the author typed, so a client that renders text as text is safe by design.

export interface CueSpan {
  text: string;
  italic?: true;
  bold?: true;
}

export interface CueMarkup {
  /** Plain text, lines joined by "\n". */
  text: string;
  /** Present only when some of the text is styled; the spans' texts join to `text`. */
  spans?: CueSpan[];
  /** {\an7}..{\an9}: the author wanted the cue at the top of the picture. */
  top?: true;
}

export interface MarkupOptions {
  /** WebVTT escapes & < > as character references; SRT has no such rule. */
  entities: boolean;
}

// Tags we understand and drop (keeping their content), by name.
const DROPPED_TAGS = new Set(["u", "s", "font", "c", "v", "lang", "ruby", "span"]);
const TAG = /^<(\/?)([a-zA-Z]+)(?:[.\s][^<>]*)?>/;
const TIMESTAMP_TAG = /^<\d{1,2}:\d{2}(?::\d{2})?[.,]\d{1,3}>/;
const ASS_BLOCK = /^\{\\[^{}]*\}/;

const NAMED_ENTITIES: Record<string, string> = {
  amp: "&",
  lt: "<",
  gt: ">",
  quot: '"',
  apos: "'",
  nbsp: "\u00a0",
  lrm: "\u200e",
  rlm: "\u200f",
};

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]{1,6}|#\d{1,7}|[a-zA-Z]{2,6});/g, (whole, body: string) => {
    if (body[0] === "#") {
      const code = body[1] === "x" || body[1] === "X" ? parseInt(body.slice(2), 16) : parseInt(body.slice(1), 10);
      // Controls and surrogates would be a way to smuggle odd characters in; keep them literal.
      if (!Number.isFinite(code) || code < 0x20 || (code >= 0xd800 && code <= 0xdfff) || code > 0x10ffff) return whole;
      return String.fromCodePoint(code);
    }
    return NAMED_ENTITIES[body] ?? whole;
  });
}

interface Style {
  italic: number;
  bold: number;
}

export function reduceMarkup(raw: string, opts: MarkupOptions): CueMarkup {
  const spans: CueSpan[] = [];
  const style: Style = { italic: 0, bold: 0 };
  let top = false;
  let inRubyText = 0;
  let buf = "";
  const flush = () => {
    if (buf.length === 0) return;
    const span: CueSpan = { text: buf };
    if (style.italic > 0) span.italic = true;
    if (style.bold > 0) span.bold = true;
    const last = spans[spans.length - 1];
    if (last && last.italic === span.italic && last.bold === span.bold) last.text += buf;
    else spans.push(span);
    buf = "";
  };
  let i = 0;
  while (i < raw.length) {
    const c = raw[i];
    // Tags are short; a bounded look-ahead keeps a cue of 1,000 "<" linear.
    const rest = c === "<" || c === "{" ? raw.slice(i, i + 300) : "";
    if (c === "<") {
      const ts = TIMESTAMP_TAG.exec(rest);
      if (ts) {
        i += ts[0].length;
        continue;
      }
      const m = TAG.exec(rest);
      const name = m?.[2].toLowerCase();
      if (m && name && (name === "i" || name === "b" || name === "rt" || DROPPED_TAGS.has(name))) {
        const closing = m[1] === "/";
        if (name === "i" || name === "b") {
          flush();
          const key = name === "i" ? "italic" : "bold";
          style[key] = Math.max(0, style[key] + (closing ? -1 : 1));
        } else if (name === "rt") {
          // Ruby text is a reading aid above the base text; plain text keeps the base only.
          inRubyText = Math.max(0, inRubyText + (closing ? -1 : 1));
        }
        i += m[0].length;
        continue;
      }
    } else if (c === "{") {
      const m = ASS_BLOCK.exec(rest);
      if (m) {
        flush();
        for (const o of m[0].matchAll(/\\(an?)(\d{1,2})|\\([ib])([01])/g)) {
          if (o[1]) {
            const n = Number(o[2]);
            top = o[1] === "an" ? n >= 7 && n <= 9 : n >= 5 && n <= 7; // legacy \aN: 5-7 are the top row
          } else {
            const key = o[3] === "i" ? "italic" : "bold";
            style[key] = o[4] === "1" ? 1 : 0;
          }
        }
        i += m[0].length;
        continue;
      }
    } else if (raw[i] === "\\" && (raw[i + 1] === "N" || raw[i + 1] === "n" || raw[i + 1] === "h")) {
      // ASS line break and hard space, as they appear in SRTs converted from ASS.
      if (inRubyText === 0) buf += raw[i + 1] === "h" ? "\u00a0" : "\n";
      i += 2;
      continue;
    }
    if (inRubyText === 0) buf += raw[i];
    i++;
  }
  flush();
  for (const s of spans) if (opts.entities) s.text = decodeEntities(s.text);
  // Tidy lines: trim each, drop empty ones, across span boundaries.
  const tidy = tidyLines(spans);
  const out: CueMarkup = { text: tidy.map((s) => s.text).join("") };
  if (tidy.some((s) => s.italic || s.bold)) out.spans = tidy;
  if (top) out.top = true;
  return out;
}

/** Trims every line and removes blank ones while keeping span styles. */
function tidyLines(spans: CueSpan[]): CueSpan[] {
  // Split spans into lines of spans.
  const lines: CueSpan[][] = [[]];
  for (const s of spans) {
    const parts = s.text.replace(/\r/g, "").split("\n");
    parts.forEach((part, k) => {
      if (k > 0) lines.push([]);
      if (part.length > 0) lines[lines.length - 1].push({ ...s, text: part });
    });
  }
  const kept: CueSpan[][] = [];
  for (const line of lines) {
    if (line.length === 0) continue;
    line[0].text = line[0].text.replace(/^[ \t\u00a0]+/, "");
    const last = line[line.length - 1];
    last.text = last.text.replace(/[ \t\u00a0]+$/, "");
    const nonEmpty = line.filter((s) => s.text.length > 0);
    if (nonEmpty.length > 0) kept.push(nonEmpty);
  }
  const out: CueSpan[] = [];
  kept.forEach((line, k) => {
    if (k > 0) line[0] = { ...line[0], text: `\n${line[0].text}` };
    for (const s of line) {
      const prev = out[out.length - 1];
      if (prev && prev.italic === s.italic && prev.bold === s.bold) prev.text += s.text;
      else out.push({ ...s });
    }
  });
  return out;
}
