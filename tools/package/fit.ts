/**
 * Does it fit, and how much context do I get? (ARCHITECTURE.md, "Boards and fit".) Planning against a board
 * profile: for each weight precision × K-cache precision, the largest context whose arena fits the board's
 * linear memory, in slim mode (K-cache only) and in vanilla mode (K+V cache). Every size comes from
 * planArena; nothing here counts bytes on its own.
 *
 * A plan fits when its whole pages fit: the module's memory is min == max == plan.pages (ARCHITECTURE.md,
 * "Arena"), and a runtime allocates pages, not bytes, so pages × 64 KiB is what the board must provide.
 */
import { type Model, type ModelConfig, isMultiHead } from "../../host/core/model.ts";
import { type LoweredModel, planOptionsFor } from "../../host/core/lowered.ts";
import { slimify } from "../convert/slimify.ts";
import { SlimError } from "../../host/core/errors.ts";
import {
  type ArenaPlan,
  type AttentionMode,
  type CacheDtype,
  type PlanOptions,
  type WeightDtype,
  PAGE_BYTES,
  formatMemoryMap,
  layerModes,
  planArena,
  groupSizeFor,
} from "../../host/core/plan.ts";
import type { Throughput } from "../../host/core/estimate.ts";
import type { BoardProfile } from "../../boards/index.ts";
import { formatBytes } from "../../host/core/format.ts";
import { statSync } from "node:fs";
import { packagePath } from "../../host/core/package-root.ts";
import { type BoardMemory, boardMemory, formatBoardMemory, weightsInFlash } from "../../boards/runtimes.ts";

export const WEIGHT_DTYPES: readonly WeightDtype[] = ["f32", "f16", "q8_0", "q4_0"];
export const CACHE_DTYPES: readonly CacheDtype[] = ["f32", "f16", "q8"];

/** Plan options that shape the arena but are not the two precisions the table varies. */
export type FitOptions = Pick<PlanOptions, "groupSize" | "slimKeys" | "tokenizerBytes"> & {
  /**
   * Per-layer modes of the "slim" column: one list for every row, or one per cache precision (what
   * slimDecisions gives: slimify keeps a V-cache where K's rounding, amplified by W_KV, costs too much).
   * Default: every layer slim.
   */
  slimLayers?: AttentionMode[] | Partial<Record<CacheDtype, AttentionMode[]>>;
};

/**
 * The per-layer slim/vanilla decision slimify makes for this model at each cache precision, measured on
 * `calibration` (the model's calibration set, tools/convert/calibrate.ts calibrationTokens; none: slimify's
 * random inputs) with `threshold` as in `slimedge slimify`. Weight precision does not enter: slim layers
 * keep W_K and W_KV in f32 under every weight dtype (host/core/plan.ts).
 */
export function slimDecisions(model: Model, threshold?: number, calibration?: readonly number[]): Record<CacheDtype, AttentionMode[]> {
  const out = {} as Record<CacheDtype, AttentionMode[]>;
  for (const kCache of CACHE_DTYPES) out[kCache] = slimify(model, { threshold, kCache, prompt: calibration }).layers.map((l) => l.mode);
  return out;
}

/** The "slim" column's modes at one cache precision. */
function slimModesAt(c: ModelConfig, kCache: CacheDtype, slimLayers: FitOptions["slimLayers"]): AttentionMode[] {
  if (!isMultiHead(c)) return layerModes(c, "vanilla");
  if (slimLayers === undefined || Array.isArray(slimLayers)) return layerModes(c, "slim", slimLayers as AttentionMode[] | undefined);
  return layerModes(c, "slim", slimLayers[kCache]);
}

/**
 * The plan `build` places for a lowered model: the decoder's regions and, with the command's tokenizer bytes,
 * the standalone command's own (tokenizer, command block, piece index, sampler, io), token by token. `plan`
 * sizes the same regions with the same options (fitReport with `tokenizerBytes`), so a context `plan` lists
 * is one `build` makes (test/plan-build.test.ts).
 */
export function buildPlan(lowered: LoweredModel, ctx: number, o: { kCache?: CacheDtype; tokenizerBytes: number; board?: BoardProfile }): ArenaPlan {
  return planArena(lowered.config, ctx, lowered.modes, {
    ...planOptionsFor(lowered),
    kCache: o.kCache ?? "f32",
    tokenizerBytes: o.tokenizerBytes,
    readOnlyInFlash: o.board ? weightsInFlash(o.board) : false,
  });
}

/** The plan options a board adds: its native firmware reads the weights in place from flash (plan.flash). */
export const boardPlanOptions = (board: BoardProfile, o: PlanOptions = {}): PlanOptions => ({ ...o, readOnlyInFlash: weightsInFlash(board) });

/**
 * `build`'s check before slimify and the compiler: null when some layer choice slimify could make fits at
 * `ctx`, else the refusal. A slim layer drops its V-cache but keeps W_K and W_KV in f32 (more weight bytes
 * under f16 and quantized weights), and the layers share one shape, so the smallest plan is every layer slim
 * or every layer vanilla — not always the slim one (a small model at f16 weights fits more context vanilla).
 */
export function refusedBeforeSlimify(c: ModelConfig, ctx: number, board: BoardProfile, mode: AttentionMode | "auto", o: PlanOptions): SlimError | null {
  const choices = mode === "vanilla" || !isMultiHead(c) ? [layerModes(c, "vanilla")] : [layerModes(c, "slim"), layerModes(c, "vanilla")];
  const plans = choices.map((modes) => planArena(c, ctx, modes, boardPlanOptions(board, o)));
  if (plans.some((p) => fits(p, board))) return null;
  return overBudget(plans.reduce((a, b) => (b.totalBytes < a.totalBytes ? b : a)), board);
}

/** Bytes the runtime allocates for a plan: its whole pages. */
export const arenaBytes = (plan: ArenaPlan): number => plan.pages * PAGE_BYTES;

/**
 * Bytes of the read-only regions (weights, RoPE table, tokenizer) the board's native firmware reads in place from
 * flash: plan.flash, or for a plan made without `readOnlyInFlash` (`run --board` plans as the host runs) the
 * same regions' bytes on a board that reads them in place; 0 where the whole arena is RAM.
 */
export function inPlaceBytes(plan: ArenaPlan, board?: BoardProfile): number {
  if (board && !weightsInFlash(board)) return 0; // its firmware copies them (WAMR), whatever the order
  if (plan.flash) return plan.flash.size;
  if (!board) return 0;
  return regionSize(plan, "weights") + regionSize(plan, "rope_table") + regionSize(plan, "tokenizer");
}

/**
 * Bytes of the arena the board's RAM holds: its whole pages, or with the weights in flash every region but
 * those, which the native firmware's arena is sized to (no page rounding: it is a C array).
 */
export const ramArenaBytes = (plan: ArenaPlan, board?: BoardProfile): number => {
  const inPlace = inPlaceBytes(plan, board);
  return inPlace > 0 ? plan.totalBytes - inPlace : arenaBytes(plan);
};

/** The module the board firmware runs (build/command.scalar.wasm, no weights): what WAMR keeps in RAM. */
const CORE_MODULE = packagePath("build", "command.scalar.wasm");
/** Its size, or a bound above what it has been when it is not built yet. */
export function coreModuleBytes(): number {
  try {
    return statSync(CORE_MODULE).size;
  } catch {
    return 48 * 1024;
  }
}

/**
 * Everything the board holds for this plan (boards/runtimes.ts): linear memory, the module bytes its runtime
 * keeps, the runtime, the wasm and native stacks, the firmware and the system; null on boards with an OS.
 */
export const ramUse = (plan: ArenaPlan, board: BoardProfile, moduleBytes = coreModuleBytes()): BoardMemory | null =>
  boardMemory(board, ramArenaBytes(plan, board), moduleBytes);

/** What the board's flash holds for a plan (host/ship/flash/partitions.ts lays it out); all in bytes. */
export interface FlashUse {
  /** Partition table, NVS and PHY data: everything before the factory app at 0x10000. */
  tables: number;
  /** The factory app partition (the firmware; `flash --app-size`'s default). */
  app: number;
  /** The model partition: the .cmd.wasm (module code + plan, weights, RoPE table, tokenizer, command block) and its check, in 4 KiB sectors. */
  model: number;
  /** Of the model: the read-only regions the native firmware reads in place (0 when it copies them). */
  inPlace: number;
  /** The artifact partition: reactor, core module and plan.json, bounded from the module's size. */
  artifact: number;
  total: number;
  flash: number;
}

const SECTOR = 0x1000;
const sectors = (n: number) => Math.ceil(n / SECTOR) * SECTOR;
/** Bytes before the factory app partition, and its default size (host/ship/flash/partitions.ts). */
const FLASH_TABLES_BYTES = 0x10000;
const FLASH_APP_BYTES = 0x100000;

/**
 * The flash a plan's images take on the board (null for boards without SPI flash): what `slimedge flash`
 * lays out with the default app partition. The model image is the module's code plus every planned data
 * segment; the artifact bundle is bounded by two modules and 64 KiB for plan.json.
 */
export function flashUse(plan: ArenaPlan, board: BoardProfile, moduleBytes = coreModuleBytes()): FlashUse | null {
  if (board.flashBytes === null) return null;
  const size = (name: string) => regionSize(plan, name);
  const data = size("plan") + size("weights") + size("rope_table") + size("tokenizer") + size("command");
  const model = sectors(moduleBytes + data + 64);
  const artifact = sectors(2 * moduleBytes + 64 * 1024);
  const total = FLASH_TABLES_BYTES + FLASH_APP_BYTES + model + artifact;
  return { tables: FLASH_TABLES_BYTES, app: FLASH_APP_BYTES, model, inPlace: inPlaceBytes(plan, board), artifact, total, flash: board.flashBytes };
}

/** "tables 65536 + app 1048576 + model 602112 (weights and RoPE table 540672 read in place) + artifact 131072 = 1847296 of 4194304 bytes of flash" */
export function formatFlashUse(f: FlashUse): string {
  return (
    `tables ${f.tables} + app ${f.app} + model ${f.model}${f.inPlace ? ` (weights, RoPE table and tokenizer ${f.inPlace} read in place)` : ""} + ` +
    `artifact ${f.artifact} = ${f.total} of ${f.flash} bytes of flash`
  );
}

/**
 * Whether the plan fits the board: the arena's RAM part in the linear memory, everything together in the
 * board's RAM, and the images in its flash.
 */
export const fits = (plan: ArenaPlan, board: BoardProfile): boolean => {
  if (ramArenaBytes(plan, board) > board.linearMemoryBytes) return false;
  const ram = ramUse(plan, board);
  if (ram !== null && ram.total > ram.ram) return false;
  const flash = flashUse(plan, board);
  return flash === null || flash.total <= flash.flash;
};

/**
 * Largest ctx in [1, seq_len] whose plan fits the board, or 0 when even ctx 1 does not. Binary search: every
 * ctx-dependent region (caches, RoPE table, attention scores, prompt buffer) grows with ctx.
 */
export function maxContext(c: ModelConfig, board: BoardProfile, modes: AttentionMode[], opts: PlanOptions = {}): number {
  const ok = (ctx: number) => fits(planArena(c, ctx, modes, boardPlanOptions(board, opts)), board);
  if (!ok(1)) return 0;
  let lo = 1; // fits
  let hi = c.seqLen + 1; // first ctx known not to fit (or past the end)
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (ok(mid)) lo = mid;
    else hi = mid;
  }
  return lo;
}

export interface FitRow {
  weights: WeightDtype;
  kCache: CacheDtype;
  /** Bytes of the weights region at this precision (null with `slim` and `vanilla`, see there). */
  weightsBytes: number | null;
  /** K (+V) cache bytes per context position, all layers. */
  slimBytesPerToken: number;
  vanillaBytesPerToken: number;
  /** Per-layer modes the slim column was planned with at this cache precision. */
  slimModes: AttentionMode[];
  /** Largest context that fits (0: not even ctx 1); null when the group size does not divide the model's widths. */
  slim: number | null;
  vanilla: number | null;
}

export interface FitReport {
  board: BoardProfile;
  config: ModelConfig;
  /** False for grouped-query models: they always run vanilla, so both columns are the same. */
  slimApplies: boolean;
  rows: FitRow[];
}

/** The slim-vs-vanilla context table of a model on a board, for every weight × K-cache precision. */
export function fitReport(c: ModelConfig, board: BoardProfile, opts: FitOptions = {}): FitReport {
  const { slimLayers, ...planOpts } = opts;
  const vanillaModes = layerModes(c, "vanilla");
  // The group size a row's weights get (none: they cannot be grouped, the row is n/a).
  const groupOf = (weights: WeightDtype): number => {
    if (planOpts.groupSize !== undefined) return planOpts.groupSize;
    try {
      return groupSizeFor(c, weights);
    } catch (e) {
      if (e instanceof SlimError) return 0;
      throw e;
    }
  };
  const rows: FitRow[] = [];
  for (const weights of WEIGHT_DTYPES) {
    const group = groupOf(weights);
    const groupFits = !weights.startsWith("q") || (group > 0 && [c.dim, c.hiddenDim].every((n) => n % group === 0));
    for (const kCache of CACHE_DTYPES) {
      const slimModes = slimModesAt(c, kCache, slimLayers);
      const o: PlanOptions = boardPlanOptions(board, { ...planOpts, weights, kCache });
      const one = groupFits ? planArena(c, 1, slimModes, o) : planArena(c, 1, slimModes, { ...o, weights: "f32" });
      rows.push({
        weights,
        kCache,
        weightsBytes: groupFits ? regionSize(one, "weights") : null,
        slimModes,
        slimBytesPerToken: one.contextBytes,
        vanillaBytesPerToken: one.vanillaContextBytes,
        slim: groupFits ? maxContext(c, board, slimModes, o) : null,
        vanilla: groupFits ? maxContext(c, board, vanillaModes, o) : null,
      });
    }
  }
  return { board, config: c, slimApplies: isMultiHead(c), rows };
}

const regionSize = (plan: ArenaPlan, name: string) => plan.regions.find((r) => r.name === name)?.size ?? 0;

/** A board's figures as host/estimate.ts takes them: the SIMD rate when the runtime has SIMD there. */
export const boardThroughput = (board: BoardProfile): Throughput => ({
  memoryBytesPerSecond: board.throughput.memoryBytesPerSecond,
  macsPerSecond: board.throughput.f32MacsPerSecond.simd ?? board.throughput.f32MacsPerSecond.scalar,
});

// ---------------------------------------------------------------------------------------------------------
// words and tables

/** "slim", "vanilla", or the per-layer letters of a hybrid plan ("SSV…"). */
export function modeLabel(modes: AttentionMode[]): string {
  if (modes.every((m) => m === "slim")) return "slim";
  if (modes.every((m) => m === "vanilla")) return "vanilla";
  return `hybrid ${modes.map((m) => (m === "slim" ? "S" : "V")).join("")}`;
}

/** A plain-text table with a rule under the header; `align` has one letter per column, "l" or "r". */
function table(header: string[], rows: string[][], align: string): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) =>
    cells.map((s, i) => (align[i] === "r" ? s.padStart(widths[i]) : s.padEnd(widths[i]))).join("  ").trimEnd();
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...rows.map(line)].join("\n");
}

/** The `slimedge boards` table. */
export function formatBoardTable(boards: BoardProfile[]): string {
  const rows = boards.map((b) => [
    b.name,
    formatBytes(b.linearMemoryBytes),
    String(b.linearMemoryBytes / PAGE_BYTES),
    b.arenaMemory,
    b.flashBytes === null ? "—" : formatBytes(b.flashBytes),
    b.runtime,
    b.simd ? "yes" : "no",
    b.cpu.clockMHz === null ? `${b.cpu.core}, ${b.cpu.cores} cores` : `${b.cpu.core}, ${b.cpu.cores}×${b.cpu.clockMHz} MHz`,
  ]);
  return table(["board", "linear memory", "pages", "in", "flash", "runtime", "SIMD", "cpu"], rows, "lrrlrlll");
}

/** A header line for a model's shape. */
export function formatModelShape(c: ModelConfig): string {
  return (
    `model: dim ${c.dim}, hidden ${c.hiddenDim}, ${c.nLayers} layers, ${c.nHeads} heads (${c.nKvHeads} K/V), ` +
    `vocab ${c.vocabSize}, seq_len ${c.seqLen}`
  );
}

/** The fit table: what slim attention buys on this board, per weight × K-cache precision. */
/** The fit report as `slimedge plan` prints it, cell by cell (the web page shows the same cells). */
export interface FitCells {
  shape: string; // the model's shape line
  board: string; // the board line
  title: string; // the table's heading
  headers: string[];
  align: string; // "l" or "r" per column
  rows: string[][];
  notes: string[];
}

export function fitCells(r: FitReport): FitCells {
  const b = r.board;
  const full = r.config.seqLen;
  const ctx = (n: number | null) => (n === null ? "n/a" : n === full ? `${n} (all)` : String(n));
  const gain = (row: FitRow): string => {
    if (row.slim === null || row.vanilla === null) return "";
    if (row.slim === 0) return "—";
    if (row.vanilla === 0) return "slim only";
    if (row.slim === row.vanilla) return row.slim === full ? "both all" : "1.00×";
    return `${row.slim === full ? "≥ " : ""}${(row.slim / row.vanilla).toFixed(2)}×`;
  };
  // Where slimify keeps V-caches, the slim column is a hybrid: say so in every row it applies to.
  const hybrid = r.slimApplies && r.rows.some((row) => row.slimModes.some((m) => m === "vanilla"));
  const rows = r.rows.map((row) => [
    row.weights,
    row.kCache,
    row.weightsBytes === null ? "n/a" : formatBytes(row.weightsBytes),
    formatBytes(row.slimBytesPerToken),
    formatBytes(row.vanillaBytesPerToken),
    ...(hybrid ? [modeLabel(row.slimModes)] : []),
    ctx(row.slim),
    ctx(row.vanilla),
    gain(row),
  ]);
  const notes: string[] = [];
  if (hybrid) {
    const byCache = new Map(r.rows.map((row) => [row.kCache, row.slimModes]));
    const kept = [...byCache]
      .filter(([, modes]) => modes.includes("vanilla"))
      .map(([k, modes]) => {
        const kept = modes.flatMap((m, l) => (m === "vanilla" ? [l] : []));
        if (kept.length === modes.length) return `${k} cache rows: every layer keeps a V-cache (slim saves nothing)`;
        return `${k} cache rows: layer${kept.length > 1 ? "s" : ""} ${kept.join(", ")} of ${modes.length} keep${kept.length > 1 ? "" : "s"} a V-cache`;
      });
    notes.push(
      `note: "slim" is slimify's per-layer decision at each cache precision, not all slim — ${kept.join("; ")} ` +
        `(V reconstruction error over the threshold; S = slim, V = V-cache kept)`,
    );
  }
  if (!r.slimApplies)
    notes.push(
      `note: the model has ${r.config.nKvHeads} K/V heads for ${r.config.nHeads} query heads (grouped-query attention): it runs vanilla, so slim = vanilla`,
    );
  if (r.rows.some((row) => row.slim === null)) notes.push("note: n/a = the quantization group size does not divide dim and hidden_dim");
  return {
    shape: formatModelShape(r.config),
    board:
      `board: ${b.name} — ${b.title}: ${formatBytes(b.linearMemoryBytes)} of linear memory in ${b.arenaMemory}, ` +
      `${b.runtime}, ${b.simd ? "SIMD" : "no SIMD"}`,
    title: `largest context that fits (ctx ≤ seq_len ${full}; "all" = the whole seq_len):`,
    headers: hybrid
      ? ["weights", "K-cache", "weights size", "slim cache/pos", "vanilla cache/pos", "slim layers", "slim ctx", "vanilla ctx", "slim gain"]
      : ["weights", "K-cache", "weights size", "slim cache/pos", "vanilla cache/pos", "slim ctx", "vanilla ctx", "slim gain"],
    align: hybrid ? "llrrrlrrr" : "llrrrrrr",
    rows,
    notes,
  };
}

export function formatFitReport(r: FitReport): string {
  const f = fitCells(r);
  return [f.shape, f.board, "", f.title, table(f.headers, f.rows, f.align), ...f.notes].join("\n");
}

// ---------------------------------------------------------------------------------------------------------
// verdicts on one plan

/** The options a plan was made with, to re-plan it at another ctx. */
const optionsOf = (plan: ArenaPlan): PlanOptions => ({
  weights: plan.weights,
  kCache: plan.kCache,
  groupSize: plan.groupSize,
  slimKeys: plan.slimKeys,
  tokenizerBytes: plan.command?.tokenizerBytes ?? plan.tokenizer?.size ?? 0,
  readOnlyInFlash: plan.flash !== null,
});

/** "slim, f32 weights, f32 K-cache" */
const describe = (plan: ArenaPlan) => `${modeLabel(plan.modes)}, ${plan.weights} weights, ${plan.kCache} K-cache`;

/** "R of L bytes of RAM" for the arena: its pages, or with the weights in flash its RAM part. */
function arenaNeed(plan: ArenaPlan, board: BoardProfile): string {
  const need = ramArenaBytes(plan, board);
  const inPlace = inPlaceBytes(plan, board);
  return inPlace > 0
    ? `${need} bytes = ${formatBytes(need)} of RAM for the arena (weights, RoPE table and tokenizer, ${inPlace} bytes, read in place from flash)`
    : `${need} bytes = ${plan.pages} pages = ${formatBytes(need)}`;
}

/** "; flash: tables … = N of M bytes of flash", or nothing for boards without SPI flash. */
const flashNote = (plan: ArenaPlan, board: BoardProfile): string => {
  const f = flashUse(plan, board);
  return f ? `; flash: ${formatFlashUse(f)}` : "";
};

/** One line: the plan's RAM against the board's linear memory and RAM, and its flash against the board's flash. */
export function fitSummary(plan: ArenaPlan, board: BoardProfile): string {
  const need = ramArenaBytes(plan, board);
  const share = ((100 * need) / board.linearMemoryBytes).toFixed(0);
  const ram = ramUse(plan, board);
  return fits(plan, board)
    ? `fits ${board.name}: ctx ${plan.ctx} (${describe(plan)}) needs ${arenaNeed(plan, board)} of ${formatBytes(board.linearMemoryBytes)} (${share} %)` +
        (ram ? `; RAM: ${formatBoardMemory(ram)}` : "") +
        flashNote(plan, board)
    : overBudget(plan, board)!.message;
}

/**
 * Null when the plan fits the board; otherwise the E_FIT error to throw: one line with the bytes needed
 * against the bytes available — RAM and flash, whichever is exceeded, both named — and the largest context
 * that would fit with the same mode and precisions.
 */
export function overBudget(plan: ArenaPlan, board: BoardProfile): SlimError | null {
  if (fits(plan, board)) return null;
  const need = ramArenaBytes(plan, board);
  const ram = ramUse(plan, board);
  const flash = flashUse(plan, board);
  const best = maxContext(plan.config, board, plan.modes, optionsOf(plan));
  const weights = plan.regions.find((r) => r.name === "weights")?.size ?? 0;
  const advice =
    best > 0
      ? `${modeLabel(plan.modes)} fits up to ctx ${best}`
      : `not even ctx 1 fits (${describe(plan)}; the weights alone are ${formatBytes(weights)})`;
  const ramLine = ram ? `RAM: ${formatBoardMemory(ram)}` : `arena ${need} of ${board.linearMemoryBytes} bytes of linear memory`;
  if (flash && flash.total > flash.flash)
    return new SlimError(
      "E_FIT",
      `does not fit ${board.name}: ctx ${plan.ctx} (${describe(plan)}) needs ${flash.total} bytes of flash, ` +
        `${flash.total - flash.flash} more than the board's ${flash.flash} (${formatFlashUse(flash)}); ${ramLine}; ${advice}`,
    );
  if (need <= board.linearMemoryBytes && ram) {
    return new SlimError(
      "E_FIT",
      `does not fit ${board.name}: ctx ${plan.ctx} (${describe(plan)}) needs ${ram.total} bytes of RAM with ${board.runtime}, ` +
        `${ram.total - ram.ram} more than the board's ${ram.ram} (${formatBoardMemory(ram)})${flashNote(plan, board)}; ` +
        (best > 0 ? `${modeLabel(plan.modes)} fits up to ctx ${best}` : `not even ctx 1 fits (${describe(plan)})`),
    );
  }
  const inPlace = inPlaceBytes(plan, board) > 0;
  const parts = plan.regions.filter((r) => !inPlace || !["weights", "rope_table", "tokenizer"].includes(r.name)).map((r) => `${r.name} ${formatBytes(r.size)}`);
  if (!inPlace && need > plan.totalBytes) parts.push(`page padding ${formatBytes(need - plan.totalBytes)}`);
  return new SlimError(
    "E_FIT",
    `does not fit ${board.name}: ctx ${plan.ctx} (${describe(plan)}) needs ${arenaNeed(plan, board)} (${parts.join(", ")}) of ` +
      `${board.linearMemoryBytes} bytes = ${formatBytes(board.linearMemoryBytes)} linear memory${flashNote(plan, board)}; ${advice}`,
  );
}

// ---------------------------------------------------------------------------------------------------------
// `slimedge plan`

export interface PlanQuery {
  /** Context of one plan to map and check; none: the table only. */
  ctx?: number;
  mode: AttentionMode;
  weights: WeightDtype;
  kCache: CacheDtype;
}

/**
 * What `slimedge plan` prints: the fit table and, given a ctx, that plan's memory map and verdict. `error` is
 * the E_FIT error to report when the plan does not fit (its sentence is not repeated in `text`).
 */
export function planOnBoard(
  c: ModelConfig,
  board: BoardProfile,
  q: PlanQuery,
  slimLayers?: FitOptions["slimLayers"],
  tokenizerBytes = 0,
): { text: string; plan: ArenaPlan | null; error: SlimError | null } {
  const table = formatFitReport(fitReport(c, board, { slimLayers, tokenizerBytes }));
  if (q.ctx === undefined) return { text: table, plan: null, error: null };
  const modes = q.mode === "slim" ? slimModesAt(c, q.kCache, slimLayers) : layerModes(c, "vanilla");
  const plan = planArena(c, q.ctx, modes, boardPlanOptions(board, { weights: q.weights, kCache: q.kCache, tokenizerBytes }));
  const error = overBudget(plan, board);
  const lines = [table, "", `memory map of ctx ${q.ctx} (${describe(plan)}):`, formatMemoryMap(plan)];
  if (!error) lines.push(fitSummary(plan, board));
  return { text: lines.join("\n"), plan, error };
}
