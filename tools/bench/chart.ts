/**
 * The bench's chart: tok/s against position, one line per system, as SVG; turned into PNG with
 * rsvg-convert (librsvg2-bin) where it is installed, as the memory map's PNG is.
 */
import { spawnSync } from "node:child_process";
import { writeFileAtomic } from "../../host/core/files.ts";

export interface Series {
  name: string;
  points: [number, number][]; // (position, tok/s)
  dashed: boolean; // peers dashed, slimedge solid
}

/** Tableau 20: 20 distinguishable colours; each series gets its own (checked by test/bench-report.test.ts). */
export const COLORS = [
  "#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
  "#a0cbe8", "#ffbe7d", "#ff9d9a", "#86bcb6", "#8cd17d", "#f1ce63", "#d4a6c8", "#fabfd2", "#d7b5a6", "#79706e",
];
/** Past 20 series the colours repeat with another dash pattern, so no two series look alike. */
const DASHES = ["", "2 3", "8 3 2 3"];
const PEER_DASHES = ["6 4", "12 3 3 3", "4 2 1 2"];
const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");

/** `ticks`: the positions the bench measured, marked on the x axis (default: five even steps). */
export function chartSvg(title: string, series: Series[], ticks?: number[]): string {
  const W = 980;
  const H = 560;
  const left = 70;
  const right = 250;
  const top = 50;
  const bottom = 60;
  const xs = series.flatMap((s) => s.points.map((p) => p[0]));
  const ys = series.flatMap((s) => s.points.map((p) => p[1]));
  const xMax = Math.max(1, ...xs, ...(ticks ?? []));
  const yMax = niceCeil(Math.max(1, ...ys));
  const px = (x: number) => left + (x / xMax) * (W - left - right);
  const py = (y: number) => H - bottom - (y / yMax) * (H - top - bottom);
  const out: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${left}" y="28" font-size="15" font-weight="bold">${esc(title)}</text>`,
  ];
  for (let i = 0; i <= 5; i++) {
    const y = (yMax * i) / 5;
    out.push(`<line x1="${left}" x2="${W - right}" y1="${py(y)}" y2="${py(y)}" stroke="#ddd"/>`);
    out.push(`<text x="${left - 6}" y="${py(y) + 4}" text-anchor="end">${Math.round(y)}</text>`);
  }
  for (const x of ticks ?? [0, 1, 2, 3, 4].map((i) => Math.round((xMax * i) / 4))) {
    out.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${H - bottom}" y2="${H - bottom + 5}" stroke="#333"/>`);
    out.push(`<line x1="${px(x)}" x2="${px(x)}" y1="${top}" y2="${H - bottom}" stroke="#eee"/>`);
    out.push(`<text x="${px(x)}" y="${H - bottom + 18}" text-anchor="middle">${x}</text>`);
  }
  out.push(`<text x="${(left + W - right) / 2}" y="${H - 18}" text-anchor="middle">position (tokens in the context)</text>`);
  out.push(`<text x="18" y="${(top + H - bottom) / 2}" transform="rotate(-90 18 ${(top + H - bottom) / 2})" text-anchor="middle">decode tok/s</text>`);
  out.push(`<line x1="${left}" x2="${left}" y1="${top}" y2="${H - bottom}" stroke="#333"/><line x1="${left}" x2="${W - right}" y1="${H - bottom}" y2="${H - bottom}" stroke="#333"/>`);
  series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const cycle = Math.floor(i / COLORS.length) % DASHES.length;
    const dash = s.dashed ? PEER_DASHES[cycle] : DASHES[cycle]; // peers dashed, slimedge solid, in the first 20
    const d = s.points.map(([x, y], j) => `${j ? "L" : "M"}${px(x).toFixed(1)},${py(y).toFixed(1)}`).join("");
    out.push(`<path d="${d}" fill="none" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ""} data-series="${esc(s.name)}"/>`);
    const ly = top + 14 + i * 20;
    out.push(`<line x1="${W - right + 14}" x2="${W - right + 44}" y1="${ly - 4}" y2="${ly - 4}" stroke="${color}" stroke-width="2"${dash ? ` stroke-dasharray="${dash}"` : ""}/>`);
    out.push(`<text x="${W - right + 50}" y="${ly}">${esc(s.name)}</text>`);
  });
  out.push("</svg>");
  return out.join("\n");
}

function niceCeil(v: number): number {
  const p = 10 ** Math.floor(Math.log10(v));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

/** Writes `png` (through an SVG next to it); returns what was written, or says why only the SVG was. */
export function writeChart(png: string, svg: string): string {
  const svgPath = png.replace(/\.png$/i, "") + ".svg";
  writeFileAtomic(svgPath, svg, "chart");
  const r = spawnSync("rsvg-convert", [svgPath], { maxBuffer: 256 << 20 });
  if (r.error || r.status !== 0) return `wrote ${svgPath}; no PNG: rsvg-convert ${r.error ? "is not installed (Debian: librsvg2-bin)" : `failed: ${r.stderr.toString().trim()}`}`;
  writeFileAtomic(png, r.stdout, "chart");
  return `wrote ${png} (and ${svgPath})`;
}
