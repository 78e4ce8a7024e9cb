// A dependency-free SVG chart: small multiples of line and bar panels, enough
// for docs/benchmarks.svg.

export interface Series {
  name: string;
  points: [number, number][];
}

export interface LinePanel {
  kind: "line";
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  logY?: boolean;
  series: Series[];
  /** Horizontal reference lines. */
  refs?: { y: number; label: string }[];
}

export interface BarPanel {
  kind: "bar";
  title: string;
  yLabel: string;
  bars: { label: string; value: number; note?: string }[];
  refs?: { y: number; label: string }[];
}

export type Panel = LinePanel | BarPanel;

const COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b", "#17becf"];
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

function niceTicks(lo: number, hi: number, n = 5): number[] {
  const span = hi - lo || 1;
  const step0 = span / n;
  const mag = 10 ** Math.floor(Math.log10(step0));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= step0) ?? step0;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + 1e-9; v += step) out.push(Number(v.toPrecision(6)));
  return out;
}

function logTicks(lo: number, hi: number): number[] {
  const out: number[] = [];
  for (let e = Math.floor(Math.log10(lo)); e <= Math.ceil(Math.log10(hi)); e++)
    for (const m of [1, 2, 5]) {
      const v = m * 10 ** e;
      if (v >= lo * 0.999 && v <= hi * 1.001) out.push(v);
    }
  return out;
}

const fmt = (v: number) => (Math.abs(v) >= 1000 ? `${v / 1000}k` : `${Number(v.toPrecision(3))}`);

function panelSvg(p: Panel, x0: number, y0: number, w: number, h: number): string {
  const m = { l: 58, r: 12, t: 28, b: 64 };
  const pw = w - m.l - m.r;
  const ph = h - m.t - m.b;
  const parts: string[] = [
    `<g transform="translate(${x0},${y0})">`,
    `<text x="${w / 2}" y="16" text-anchor="middle" font-size="14" font-weight="bold">${esc(p.title)}</text>`,
  ];
  const frame = `<rect x="${m.l}" y="${m.t}" width="${pw}" height="${ph}" fill="none" stroke="#999"/>`;
  if (p.kind === "line") {
    const xs = p.series.flatMap((s) => s.points.map((q) => q[0]));
    const ys = p.series.flatMap((s) => s.points.map((q) => q[1])).concat((p.refs ?? []).map((r) => r.y));
    let [xlo, xhi] = [Math.min(...xs), Math.max(...xs)];
    let [ylo, yhi] = [Math.min(0, ...ys), Math.max(...ys) * 1.08];
    if (p.logY) [ylo, yhi] = [Math.max(Math.min(...ys.filter((y) => y > 0)) / 1.5, 1e-3), Math.max(...ys) * 1.5];
    if (xlo === xhi) [xlo, xhi] = [xlo * 0.9, xhi * 1.1 + 1];
    const sx = (x: number) =>
      m.l + (p.logX ? (Math.log(x) - Math.log(xlo)) / (Math.log(xhi) - Math.log(xlo)) : (x - xlo) / (xhi - xlo)) * pw;
    const sy = (y: number) =>
      m.t +
      ph -
      (p.logY
        ? (Math.log(Math.max(y, ylo)) - Math.log(ylo)) / (Math.log(yhi) - Math.log(ylo))
        : (y - ylo) / (yhi - ylo)) *
        ph;
    parts.push(frame);
    for (const t of p.logX ? logTicks(xlo, xhi) : niceTicks(xlo, xhi))
      parts.push(
        `<line x1="${sx(t)}" x2="${sx(t)}" y1="${m.t + ph}" y2="${m.t + ph + 4}" stroke="#999"/><text x="${sx(t)}" y="${m.t + ph + 16}" text-anchor="middle" font-size="11">${fmt(t)}</text>`,
      );
    for (const t of p.logY ? logTicks(ylo, yhi) : niceTicks(ylo, yhi))
      parts.push(
        `<line x1="${m.l}" x2="${m.l + pw}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/><text x="${m.l - 5}" y="${sy(t) + 4}" text-anchor="end" font-size="11">${fmt(t)}</text>`,
      );
    for (const r of p.refs ?? [])
      parts.push(
        `<line x1="${m.l}" x2="${m.l + pw}" y1="${sy(r.y)}" y2="${sy(r.y)}" stroke="#444" stroke-dasharray="5,4"/><text x="${m.l + pw - 4}" y="${sy(r.y) - 4}" text-anchor="end" font-size="11" fill="#444">${esc(r.label)}</text>`,
      );
    p.series.forEach((s, i) => {
      const c = COLORS[i % COLORS.length];
      const pts = s.points.filter(([, y]) => Number.isFinite(y));
      parts.push(
        `<polyline fill="none" stroke="${c}" stroke-width="2" points="${pts.map(([x, y]) => `${sx(x).toFixed(1)},${sy(y).toFixed(1)}`).join(" ")}"/>`,
      );
      for (const [x, y] of pts)
        parts.push(`<circle cx="${sx(x).toFixed(1)}" cy="${sy(y).toFixed(1)}" r="3" fill="${c}"/>`);
    });
    parts.push(
      `<text x="${m.l + pw / 2}" y="${m.t + ph + 32}" text-anchor="middle" font-size="12">${esc(p.xLabel)}</text>`,
    );
    parts.push(
      `<text transform="translate(14,${m.t + ph / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(p.yLabel)}</text>`,
    );
    // Legend under the axis label, two per row.
    p.series.forEach((s, i) => {
      const lx = m.l + (i % 2) * (pw / 2);
      const ly = m.t + ph + 46 + Math.floor(i / 2) * 14;
      parts.push(
        `<rect x="${lx}" y="${ly - 8}" width="10" height="10" fill="${COLORS[i % COLORS.length]}"/><text x="${lx + 14}" y="${ly + 1}" font-size="11">${esc(s.name)}</text>`,
      );
    });
  } else {
    const vals = p.bars.map((b) => b.value).concat((p.refs ?? []).map((r) => r.y));
    const yhi = Math.max(...vals.filter(Number.isFinite), 1e-9) * 1.15;
    const sy = (y: number) => m.t + ph - (y / yhi) * ph;
    parts.push(frame);
    for (const t of niceTicks(0, yhi))
      parts.push(
        `<line x1="${m.l}" x2="${m.l + pw}" y1="${sy(t)}" y2="${sy(t)}" stroke="#eee"/><text x="${m.l - 5}" y="${sy(t) + 4}" text-anchor="end" font-size="11">${fmt(t)}</text>`,
      );
    const bw = pw / p.bars.length;
    p.bars.forEach((b, i) => {
      const x = m.l + i * bw + bw * 0.15;
      const v = Number.isFinite(b.value) ? b.value : 0;
      parts.push(
        `<rect x="${x}" y="${sy(v)}" width="${bw * 0.7}" height="${m.t + ph - sy(v)}" fill="${COLORS[i % COLORS.length]}"/>`,
      );
      parts.push(
        `<text x="${x + bw * 0.35}" y="${sy(v) - 4}" text-anchor="middle" font-size="11">${esc(b.note ?? fmt(v))}</text>`,
      );
      parts.push(
        `<text x="${x + bw * 0.35}" y="${m.t + ph + 16}" text-anchor="middle" font-size="11">${esc(b.label)}</text>`,
      );
    });
    for (const r of p.refs ?? [])
      parts.push(
        `<line x1="${m.l}" x2="${m.l + pw}" y1="${sy(r.y)}" y2="${sy(r.y)}" stroke="#444" stroke-dasharray="5,4"/><text x="${m.l + pw - 4}" y="${sy(r.y) - 4}" text-anchor="end" font-size="11" fill="#444">${esc(r.label)}</text>`,
      );
    parts.push(
      `<text transform="translate(14,${m.t + ph / 2}) rotate(-90)" text-anchor="middle" font-size="12">${esc(p.yLabel)}</text>`,
    );
  }
  parts.push("</g>");
  return parts.join("\n");
}

/** Panels in a grid, `cols` per row. */
export function renderSvg(title: string, subtitle: string, panels: Panel[], cols = 2, pw = 520, ph = 330): string {
  const rows = Math.ceil(panels.length / cols);
  const W = cols * pw;
  const H = rows * ph + 48;
  const body = panels.map((p, i) => panelSvg(p, (i % cols) * pw, 48 + Math.floor(i / cols) * ph, pw, ph)).join("\n");
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif">
<rect width="100%" height="100%" fill="white"/>
<text x="${W / 2}" y="20" text-anchor="middle" font-size="16" font-weight="bold">${esc(title)}</text>
<text x="${W / 2}" y="38" text-anchor="middle" font-size="11" fill="#555">${esc(subtitle)}</text>
${body}
</svg>
`;
}
