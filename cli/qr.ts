// A QR code as terminal text: two modules per character with Unicode half
// blocks, light modules drawn (so it reads on the usual dark terminal), with
// a quiet zone, so a phone can scan the share link off the screen.

import qrcode from "qrcode-generator";

/** Light margin in modules around the code; scanners need some, 2 reads fine on screens. */
export const QUIET = 2;

/** The module matrix (true = dark) with the quiet zone, for text up to a few hundred bytes. */
export function qrMatrix(text: string): boolean[][] {
  const qr = qrcode(0, "L");
  qr.addData(text, "Byte");
  qr.make();
  const n = qr.getModuleCount();
  const size = n + 2 * QUIET;
  return Array.from({ length: size }, (_, r) =>
    Array.from({ length: size }, (_, c) => {
      const rr = r - QUIET;
      const cc = c - QUIET;
      return rr >= 0 && rr < n && cc >= 0 && cc < n && qr.isDark(rr, cc);
    }),
  );
}

/** Lines of half blocks: each character is the module above (upper half) and the one below. */
export function qrLines(text: string): string[] {
  const m = qrMatrix(text);
  const lines: string[] = [];
  for (let r = 0; r < m.length; r += 2) {
    let line = "";
    for (let c = 0; c < m.length; c++) {
      const top = !m[r][c];
      const bottom = r + 1 < m.length ? !m[r + 1][c] : true;
      line += top && bottom ? "█" : top ? "▀" : bottom ? "▄" : " ";
    }
    lines.push(line);
  }
  return lines;
}
