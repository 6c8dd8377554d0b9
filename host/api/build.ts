/**
 * plan() and build(): what fits on a board, and a board-ready artifact folder — what `slimedge plan` and
 * `slimedge build` do (host/cli/plan.ts and build.ts print what these return).
 */
import { basename, dirname, join, resolve } from "node:path";
import { type ArenaPlan, type AttentionMode, type CacheDtype, type WeightDtype, DECODER_WEIGHTS, planArena } from "../core/plan.ts";
import { planOptionsFor } from "../core/lowered.ts";
import { fail, type SlimError } from "../core/errors.ts";
import { isMultiHead } from "../core/model.ts";
import { readTextTokenizer } from "../core/tokenizers.ts";
import { getBoard } from "../../boards/index.ts";
import { boardPlanOptions, overBudget, planOnBoard, refusedBeforeSlimify, slimDecisions } from "../../tools/package/fit.ts";
import { commandTokenizerBytes } from "../../tools/package/command-tokenizer.ts";
import { calibrationTokens } from "../../tools/convert/calibrate.ts";
import type { BuildResult } from "../../tools/package/build.ts";
import { findTokenizer, loadModelTokenizer, lowerSource, openModel } from "./model.ts";

export interface PlanOptions {
  /** A checkpoint or a .slim file; default: the shipped model. */
  checkpoint?: string;
  /** Board profile name (`boards()` lists them). */
  board: string;
  /** Context of one plan to map and check against the board; without it only the fit table. */
  ctx?: number;
  /** Attention of the `ctx` plan: slim or auto (default: slimify's per-layer decision), or vanilla. */
  mode?: AttentionMode | "auto";
  /** Weight storage of the `ctx` plan (default f32). */
  weights?: WeightDtype;
  /** Cache row storage of the `ctx` plan (default f32). */
  cache?: CacheDtype;
  /** Slimify threshold that decides, per cache precision, which layers stay slim (default 1e-3). */
  threshold?: number;
  /** The tokenizer `build` would embed (default: the model's own); its bytes are planned. */
  tokenizer?: string;
}

export interface PlanReport {
  /** What `slimedge plan` prints: the fit table and, with `ctx`, that plan's memory map and verdict. */
  text: string;
  /** The `ctx` plan: every byte of the arena; null without `ctx`. */
  plan: ArenaPlan | null;
  /** Set when the `ctx` plan does not fit the board (E_FIT); its sentence is not repeated in `text`. */
  error: SlimError | null;
  /** The standalone command's tokenizer bytes planned beside the decoder, as `build` places them; 0: no tokenizer found, not counted. */
  tokenizerBytes: number;
}

/** The largest context per weight and cache precision that fits a board, slim vs vanilla; with `ctx`, that plan. */
export function plan(o: PlanOptions): PlanReport {
  const board = getBoard(o.board);
  const src = openModel(o.checkpoint);
  // The slim column and a slim plan follow slimify's per-layer decision at each cache precision, measured
  // on the model's calibration set as `run` without a prompt, `build` and `convert` measure it (a .slim file
  // carries the one decision it was converted with).
  const tok = findTokenizer(src, o.tokenizer);
  const text = tok ? readTextTokenizer(tok.kind, tok.bytes, tok.source, src.config.vocabSize) : null;
  const calibration = text && src.model && isMultiHead(src.config) ? calibrationTokens(src.config, text) : undefined;
  const decisions = src.model && isMultiHead(src.config) ? slimDecisions(src.model, o.threshold ?? 1e-3, calibration) : src.slim?.modes;
  // `build` places the standalone command beside the decoder: its tokenizer, block, piece index, sampler and io
  // buffers. They are planned here too, so every context the table lists is one `build` makes.
  const tokenizerBytes = text ? commandTokenizerBytes(text, src.config.vocabSize).length : 0;
  const query = { ctx: o.ctx, mode: o.mode === "vanilla" ? ("vanilla" as const) : ("slim" as const), weights: o.weights ?? "f32", kCache: o.cache ?? "f32" };
  return { ...planOnBoard(src.config, board, query, decisions, tokenizerBytes), tokenizerBytes };
}

export interface BuildOptions {
  /** A .slim file (its stored weights and layer modes), or a checkpoint to slimify and lower; default: the shipped model. */
  checkpoint?: string;
  /** Board profile name (`boards()` lists them). */
  board: string;
  /** Context length to plan for. */
  ctx: number;
  /** Attention of a checkpoint: auto (default: slimify decides per layer), slim or vanilla. */
  mode?: AttentionMode | "auto";
  /** Weight storage of a checkpoint (default f32; the decoder runs f32 and q8_0); a .slim builds what it stores. */
  weights?: WeightDtype;
  /** Cache row storage (default f32); slimify decides the slim layers at that precision, as plan() does. */
  cache?: CacheDtype;
  /** The SIMD build: true, false, or undefined for what the board's runtime has. */
  simd?: boolean;
  /** tokenizer.json or tokenizer.bin to embed (default: the model's own). */
  tokenizer?: string;
  /** Largest V-reconstruction error a slim layer may have (default 1e-3). */
  threshold?: number;
  /** Output folder (default: build/<board> under the current directory). */
  out?: string;
  /** Each of the build's steps as it starts: step i of n. */
  onProgress?: (step: number, total: number, what: string) => void;
  /** Things the caller should know (layers kept vanilla and why), one sentence each. */
  onNote?: (note: string) => void;
}

export interface Built extends BuildResult {
  /** The artifacts' base name: the checkpoint's name (models/<name>/model.bin gives <name>). */
  name: string;
  /** The folder written. */
  out: string;
}

/**
 * An artifact folder for a board: the reactor .wasm and the standalone WASI .cmd.wasm with their memory fixed
 * to the plan, the firmware's .core.wasm, plan.json and the memory map — each written whole, or none.
 */
export async function build(o: BuildOptions): Promise<Built> {
  const board = getBoard(o.board);
  const mode = o.mode ?? "auto";
  if (!Number.isInteger(o.ctx) || o.ctx < 1) fail("E_FLAG", `--ctx: expected a whole number ≥ 1, got ${o.ctx}`);
  if (o.weights !== undefined && !DECODER_WEIGHTS.includes(o.weights))
    fail("E_FLAG", `--weights ${o.weights}: the decoder runs ${DECODER_WEIGHTS.join(" and ")} weights; \`slimedge plan\` sizes ${o.weights}`);
  const cache = o.cache ?? "f32";
  // progress from the first step: reading and slimifying the model, loading the packager, then the build's own steps
  const STEPS = 9;
  const say = (i: number, what: string) => o.onProgress?.(i, STEPS, what);
  say(1, `read ${o.checkpoint ?? "the shipped model"} and its tokenizer`);
  const src = openModel(o.checkpoint);
  // the command's own form of the tokenizer: one clear line now rather than a packaging failure later
  const tokenizer = loadModelTokenizer(src, o.tokenizer);
  const tokBytes = commandTokenizerBytes(tokenizer, src.config.vocabSize);
  // ctx is checked before the slim transform and the packager: the stored modes of a .slim, or the smallest
  // plan slimify could choose, must fit the board (tools/package/fit.ts refusedBeforeSlimify)
  const planOptions = { ...(src.slim ? planOptionsFor(src.slim.lowered) : { weights: o.weights ?? "f32" }), kCache: cache, tokenizerBytes: tokBytes.length };
  const early = src.slim ? overBudget(planArena(src.config, o.ctx, src.slim.modes, boardPlanOptions(board, planOptions)), board) : refusedBeforeSlimify(src.config, o.ctx, board, mode, planOptions);
  if (early) throw early;
  // slimify decides on the model's calibration set, as `plan` and `run` without a prompt do
  const slimifyOptions = { threshold: o.threshold ?? 1e-3, prompt: calibrationTokens(src.config, tokenizer), kCache: cache };
  say(2, src.slim ? "stored layers and weights as they are" : `slimify at ${cache} cache rows and lower to ${o.weights ?? "f32"} weights`);
  const { lowered, layers, notes } = lowerSource(src, { mode, weights: o.weights, slimify: slimifyOptions });
  for (const n of notes) o.onNote?.(n);
  const out = o.out ?? join("build", board.name);
  const stem = basename(src.path).replace(/\.[^.]*$/, "");
  const name = stem === "model" ? basename(dirname(resolve(src.path))) : stem; // models/<name>/model.bin -> <name>
  // loaded here, not at start-up: binaryen takes a while to load, and only `build` needs it
  say(3, "load the packager (binaryen)");
  const { buildLowered } = await import("../../tools/package/build.ts");
  const simd = o.simd === undefined ? "auto" : o.simd ? "on" : "off";
  const result = await buildLowered(lowered, layers, tokBytes, { name, board, ctx: o.ctx, simd, kCache: cache, out, onStep: (i, _n, what) => say(i + 3, what) });
  return { ...result, name, out };
}
