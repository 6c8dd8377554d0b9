/**
 * The arena as a picture: one bar, address 0 at the top, each region of the plan (ARCHITECTURE.md, "Arena")
 * drawn to scale, with its offset on the left and its name, size and share on the right. Regions too small to
 * see get a minimum height (and say so). Given a board, a line marks its linear-memory budget: below the bar
 * when the plan fits (with the free space), across the bar, with the overflow hatched, when it does not. On a
 * board whose firmware reads the weights in place from flash (ARCHITECTURE.md, "Weights in flash") the bar
 * is bracketed instead into what RAM holds and what stays in flash, and the verdict names both budgets.
 *
 * `writeMemoryMap` writes the picture and its text form (host/plan.ts formatMemoryMap) side by side, each
 * through a temporary name and a rename, so a reader never sees half a file.
 */
import { mkdirSync } from "node:fs";
import { writeFileAtomic } from "../../host/core/files.ts";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import { type ArenaPlan, formatMemoryMap } from "../../host/core/plan.ts";
import { fail } from "../../host/core/errors.ts";
import type { BoardProfile } from "../../boards/index.ts";
import { arenaBytes, fitSummary, flashUse, inPlaceBytes, modeLabel, ramArenaBytes } from "./fit.ts";
import { formatBytes } from "../../host/core/format.ts";

const WIDTH = 800;
const BAR_X = 250; // left edge of the bar; offsets and the budget label sit left of it
const BAR_W = 150;
const TOP = 92; // first byte of the arena
const BAR_H = 520; // height the arena's segments share
const MIN_H = 18; // smallest segment: one line of 12 px text
const FREE_MAX_H = 120; // free space below the arena is drawn to scale up to this height
const LABEL_X = BAR_X + BAR_W + 28;

/** Colours of unnamed regions (new ones the plan grows), by their order of appearance. */
const SPARE_COLORS = ["#edc948", "#ff9da7", "#86bcb6", "#d4a6c8", "#8cd17d", "#f1ce63"];

const COLORS: Record<string, string> = {
  static: "#9aa0a6",
  plan: "#c3c7cb",
  weights: "#4e79a7",
  k_cache: "#f28e2b",
  v_cache: "#e15759",
  rope_table: "#b07aa1",
  activations: "#59a14f",
  logits: "#76b7b2",
  scratch: "#bab0ac",
  tokenizer: "#9c755f",
};

/** A stretch of addresses drawn as one rectangle. */
interface Segment {
  name: string;
  offset: number;
  size: number;
  kind: "region" | "padding";
  y: number;
  h: number;
  atMinimum: boolean; // drawn taller than its scale says
}

const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
const hex = (n: number) => `0x${n.toString(16).padStart(8, "0")}`;
const px = (n: number) => String(Math.round(n * 10) / 10);
const pct = (part: number, whole: number) => (part > 0 && part / whole < 0.0005 ? "< 0.1 %" : `${((100 * part) / whole).toFixed(1)} %`);

/**
 * Bytes per pixel such that every segment is at least MIN_H tall and all of them fill BAR_H: segments below
 * the minimum are pinned to it and the rest share what is left, repeated until no new segment drops below.
 */
function scale(sizes: number[]): number {
  let pinned = new Set<number>();
  for (;;) {
    const rest = sizes.reduce((sum, s, i) => (pinned.has(i) ? sum : sum + s), 0);
    const room = BAR_H - MIN_H * pinned.size;
    const pxPerByte = rest > 0 && room > 0 ? room / rest : 0;
    const next = new Set(sizes.flatMap((s, i) => (s * pxPerByte < MIN_H ? [i] : [])));
    if (next.size === pinned.size) return pxPerByte;
    pinned = next;
  }
}

/** The SVG picture of a plan's arena, optionally against a board's linear-memory budget. */
export function memoryMapSvg(plan: ArenaPlan, board?: BoardProfile): string {
  const inPlace = inPlaceBytes(plan, board);
  const need = ramArenaBytes(plan, board); // what RAM holds
  const spans: Omit<Segment, "y" | "h" | "atMinimum">[] = plan.regions.map((r) => ({ ...r, kind: "region" }));
  if (inPlace === 0 && need > plan.totalBytes) spans.push({ name: "page padding", offset: plan.totalBytes, size: need - plan.totalBytes, kind: "padding" });
  const pxPerByte = scale(spans.map((s) => s.size));
  let y = TOP;
  const segments: Segment[] = spans.map((s) => {
    const h = Math.max(MIN_H, s.size * pxPerByte);
    const seg = { ...s, y, h, atMinimum: s.size * pxPerByte < MIN_H };
    y += h;
    return seg;
  });
  const barBottom = y;
  /** The y of a byte address, through the segments' own scales. */
  const yOf = (address: number): number => {
    const seg = segments.find((s) => address < s.offset + s.size) ?? segments[segments.length - 1];
    return seg.y + (Math.min(address - seg.offset, seg.size) / seg.size) * seg.h;
  };

  const unnamed = segments.filter((s) => s.kind === "region" && !(s.name in COLORS)).map((s) => s.name);
  const spare = (name: string) => SPARE_COLORS[unnamed.indexOf(name) % SPARE_COLORS.length];
  const out: string[] = [];
  const text = (x: number, ty: number, s: string, attrs = "") =>
    out.push(`<text x="${px(x)}" y="${px(ty)}"${attrs ? " " + attrs : ""}>${esc(s)}</text>`);

  // Title: what was planned, and the verdict against the board.
  const c = plan.config;
  text(24, 30, `slimedge arena — ctx ${plan.ctx}, ${modeLabel(plan.modes)}, ${plan.weights} weights (${plan.layout} layout), ${plan.kCache} K-cache`, 'class="title"');
  text(
    24,
    50,
    `model dim ${c.dim}, ${c.nLayers} layers, ${c.nHeads} heads, vocab ${c.vocabSize} · ` +
      (inPlace > 0
        ? `RAM ${need} bytes = ${formatBytes(need)}, flash (weights, RoPE table, tokenizer) ${inPlace} bytes = ${formatBytes(inPlace)}`
        : `${need} bytes = ${plan.pages} pages of 64 KiB = ${formatBytes(need)}`),
    'class="sub"',
  );
  const flash = board ? flashUse(plan, board) : null;
  if (board) {
    const over = need - board.linearMemoryBytes;
    const flashOver = flash ? flash.total - flash.flash : 0;
    const ramVerdict =
      over > 0
        ? `RAM ${formatBytes(need)} of ${formatBytes(board.linearMemoryBytes)}, over by ${formatBytes(over)}`
        : `RAM ${formatBytes(need)} of ${formatBytes(board.linearMemoryBytes)} (${pct(need, board.linearMemoryBytes)})`;
    const flashVerdict = !flash
      ? ""
      : flashOver > 0
        ? ` · flash ${formatBytes(flash.total)} of ${formatBytes(flash.flash)}, over by ${formatBytes(flashOver)}`
        : ` · flash ${formatBytes(flash.total)} of ${formatBytes(flash.flash)} (${pct(flash.total, flash.flash)})`;
    const bad = over > 0 || flashOver > 0;
    text(24, 70, `${bad ? "does NOT fit" : "fits"} ${board.name}: ${ramVerdict}${flashVerdict}`, `class="verdict ${bad ? "bad" : "good"}"`);
  }

  // The bar.
  let budgetY: number | null = null;
  let freeBottom = barBottom;
  if (board && inPlace === 0 && board.linearMemoryBytes < need) budgetY = yOf(board.linearMemoryBytes);
  for (const s of segments) {
    const fill = s.kind === "padding" ? "url(#padding)" : s.size === 0 ? "#fff" : (COLORS[s.name] ?? spare(s.name));
    out.push(
      `<rect class="${s.kind}${s.size === 0 ? " empty" : ""}" data-name="${esc(s.name)}" x="${BAR_X}" y="${px(s.y)}" width="${BAR_W}" height="${px(s.h)}" fill="${fill}"/>`,
    );
    // Layer boundaries inside the caches, where each layer's share is tall enough to see.
    const spans = s.name === "k_cache" ? plan.layers.map((l) => l.kCache) : s.name === "v_cache" ? plan.layers.flatMap((l) => l.vCache ?? []) : [];
    if (spans.length > 1 && s.h / spans.length >= 4)
      for (const span of spans.slice(1))
        out.push(`<line class="layer" x1="${BAR_X}" x2="${BAR_X + BAR_W}" y1="${px(yOf(span.offset))}" y2="${px(yOf(span.offset))}"/>`);
  }
  out.push(`<rect class="frame" x="${BAR_X}" y="${TOP}" width="${BAR_W}" height="${px(barBottom - TOP)}"/>`);
  if (budgetY !== null)
    out.push(`<rect class="over" x="${BAR_X}" y="${px(budgetY)}" width="${BAR_W}" height="${px(barBottom - budgetY)}" fill="url(#over)"/>`);

  // Free space of the board below the arena: to scale up to FREE_MAX_H, then drawn short and said so.
  if (board && inPlace === 0 && board.linearMemoryBytes > need) {
    const free = board.linearMemoryBytes - need;
    const h = Math.min(FREE_MAX_H, Math.max(MIN_H, free * pxPerByte));
    const clipped = free * pxPerByte > FREE_MAX_H;
    out.push(`<rect class="free" x="${BAR_X}" y="${px(barBottom)}" width="${BAR_W}" height="${px(h)}"/>`);
    if (clipped) {
      const my = barBottom + h / 2;
      out.push(`<path class="cut" d="M${BAR_X - 6} ${px(my + 3)} l${BAR_W + 12} -8 M${BAR_X - 6} ${px(my + 9)} l${BAR_W + 12} -8"/>`);
    }
    text(LABEL_X, barBottom + h / 2 + 4, `free ${formatBytes(free)}${clipped ? " (not to scale)" : ""}`, 'class="note"');
    freeBottom = barBottom + h;
    budgetY = freeBottom;
  }

  // Weights in flash: brackets left of the offsets, RAM above the read-only regions, flash beside them.
  if (plan.flash) {
    const split = yOf(plan.flash.offset);
    const bx = BAR_X - 92;
    for (const [y0, y1, label, cls] of [[TOP, split, "RAM", "ram"], [split, barBottom, "flash (read in place)", "rom"]] as const) {
      out.push(`<path class="bracket ${cls}" d="M${bx + 6} ${px(y0 + 1)} h-6 V${px(y1 - 1)} h6"/>`);
      text(bx - 6, (y0 + y1) / 2 + 4, label, `class="bracket-label ${cls}"`);
    }
  }

  // Offsets on the left (skipping any the budget label would cover), labels on the right.
  const offsetYs = [...segments.map((s) => ({ y: s.y, address: s.offset })), { y: barBottom, address: inPlace > 0 ? plan.totalBytes : need }];
  for (const o of offsetYs) {
    if (budgetY !== null && Math.abs(o.y - budgetY) < 14) continue;
    text(BAR_X - 10, o.y + 4, hex(o.address), 'class="offset"');
    out.push(`<line class="tick" x1="${BAR_X - 6}" x2="${BAR_X}" y1="${px(o.y)}" y2="${px(o.y)}"/>`);
  }
  for (const s of segments) {
    const my = s.y + s.h / 2;
    const detail =
      s.kind === "padding"
        ? `${formatBytes(s.size)} · up to whole pages`
        : s.size === 0
          ? `0 B${s.name === "v_cache" ? " · slim layers keep no V-cache" : ""}`
          : `${formatBytes(s.size)} · ${pct(s.size, inPlace > 0 ? plan.totalBytes : need)}`;
    out.push(`<line class="leader" x1="${BAR_X + BAR_W}" x2="${LABEL_X - 6}" y1="${px(my)}" y2="${px(my)}"/>`);
    out.push(
      `<text x="${LABEL_X}" y="${px(my + 4)}"><tspan class="name">${esc(s.name)}${s.atMinimum ? "*" : ""}</tspan>` +
        `<tspan class="size" dx="8">${esc(detail)}</tspan></text>`,
    );
  }

  // The board's budget line, labelled on the left with its address.
  if (board && budgetY !== null) {
    const tone = board.linearMemoryBytes < need ? "bad" : "good";
    out.push(`<line class="budget ${tone}" x1="${BAR_X - 150}" x2="${BAR_X + BAR_W + 14}" y1="${px(budgetY)}" y2="${px(budgetY)}"/>`);
    text(BAR_X - 10, budgetY - 5, `${board.name} budget ${formatBytes(board.linearMemoryBytes)}`, `class="budget-label ${tone}"`);
    text(BAR_X - 10, budgetY + 14, hex(board.linearMemoryBytes), `class="offset budget-offset ${tone}"`);
  }

  const footY = Math.max(freeBottom, budgetY ?? 0) + 40;
  const bytesPerPx = pxPerByte > 0 ? formatBytes(Math.round(1 / pxPerByte)) : "—";
  text(24, footY, `To scale, 1 px ≈ ${bytesPerPx}, except regions marked * (drawn at the ${MIN_H} px minimum). Address 0 at the top.`, 'class="note"');
  const height = footY + 20;

  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${px(height)}" viewBox="0 0 ${WIDTH} ${px(height)}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif">`,
    "<defs>",
    '<pattern id="over" width="8" height="8" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="8" height="8" fill="#d62728" fill-opacity="0.18"/><line x1="0" y1="0" x2="0" y2="8" stroke="#d62728" stroke-width="3" stroke-opacity="0.7"/></pattern>',
    '<pattern id="padding" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)"><rect width="6" height="6" fill="#f4f4f4"/><line x1="0" y1="0" x2="0" y2="6" stroke="#c8c8c8" stroke-width="2"/></pattern>',
    "<style>",
    "text { font-size: 12px; fill: #222; }",
    ".title { font-size: 16px; font-weight: bold; }",
    ".sub { font-size: 12px; fill: #555; }",
    ".verdict { font-size: 13px; font-weight: bold; }",
    ".verdict.good { fill: #2e7d32; } .verdict.bad { fill: #c62828; }",
    ".offset { font-family: DejaVu Sans Mono, Menlo, monospace; font-size: 11px; fill: #555; text-anchor: end; }",
    ".name { font-weight: bold; } .size { fill: #444; }",
    ".note { font-size: 11px; fill: #666; }",
    ".region, .padding { stroke: #fff; stroke-width: 1; }",
    ".frame { fill: none; stroke: #333; stroke-width: 1; }",
    ".free { fill: #fafafa; stroke: #999; stroke-width: 1; stroke-dasharray: 4 3; }",
    ".cut { fill: none; stroke: #999; stroke-width: 1.5; }",
    ".layer { stroke: #fff; stroke-opacity: 0.7; stroke-width: 1; }",
    ".tick, .leader { stroke: #999; stroke-width: 1; }",
    ".budget { stroke-width: 2; stroke-dasharray: 6 3; }",
    ".budget.bad { stroke: #c62828; } .budget.good { stroke: #1f5fa8; }",
    ".budget-label { font-weight: bold; text-anchor: end; }",
    ".budget-label.bad, .budget-offset.bad { fill: #c62828; } .budget-label.good, .budget-offset.good { fill: #1f5fa8; }",
    ".region.empty { stroke: #999; stroke-dasharray: 3 2; }",
    ".bracket { fill: none; stroke-width: 1.5; } .bracket.ram { stroke: #2e7d32; } .bracket.rom { stroke: #1f5fa8; }",
    ".bracket-label { font-weight: bold; text-anchor: end; } .bracket-label.ram { fill: #2e7d32; } .bracket-label.rom { fill: #1f5fa8; }",
    "</style>",
    "</defs>",
    `<rect class="background" width="${WIDTH}" height="${px(height)}" fill="#fff"/>`,
    ...out,
    "</svg>",
    "",
  ].join("\n");
}

/** Writes `text` to `path` atomically (host/core/files.ts writeFileAtomic). */
function writeAtomically(path: string, text: string): void {
  writeFileAtomic(path, text, "memory map");
}

/** The text form of the map: formatMemoryMap, and the verdict against the board when there is one. */
export function memoryMapText(plan: ArenaPlan, board?: BoardProfile): string {
  return formatMemoryMap(plan) + (board ? `\n${fitSummary(plan, board)}` : "") + "\n";
}

/** Writes memory-map.svg and memory-map.txt into `dir` (created if missing); returns their paths. */
export function writeMemoryMap(plan: ArenaPlan, dir: string, board?: BoardProfile): { svg: string; txt: string } {
  try {
    mkdirSync(dir, { recursive: true });
  } catch (e) {
    fail("E_FILE", `--out ${dir}: cannot create the folder (${(e as NodeJS.ErrnoException).code ?? String(e)})`);
  }
  const svg = join(dir, "memory-map.svg");
  const txt = join(dir, "memory-map.txt");
  writeAtomically(svg, memoryMapSvg(plan, board));
  writeAtomically(txt, memoryMapText(plan, board));
  return { svg, txt };
}
