/**
 * plan() and build(): what fits on a board, and a board-ready artifact folder — what `slimedge plan` and
 * `slimedge build` do (host/cli/plan.ts and build.ts print what these return).
 */
import { basename, dirname, join, resolve } from "node:path";
import { type ArenaPlan, type AttentionMode, type CacheDtype, type WeightDtype, DECODER_WEIGHTS, layerModes, planArena } from "../core/plan.ts";
import { planOptionsFor } from "../core/lowered.ts";
import { fail, type SlimError } from "../core/errors.ts";
import { isMultiHead } from "../core/model.ts";
import { readTextTokenizer } from "../core/tokenizers.ts";
import { getBoard } from "../../boards/index.ts";
import { overBudget, planOnBoard, slimDecisions } from "../../tools/package/fit.ts";
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
  /** Attention of the `ctx` plan: slim (default) or vanilla. */
  mode?: AttentionMode;
  /** Weight storage of the `ctx` plan (default f32). */
  weights?: WeightDtype;
  /** Cache row storage of the `ctx` plan (default f32). */
  cache?: CacheDtype;
  /** Slimify threshold that decides, per cache precision, which layers stay slim (default 1e-3). */
  threshold?: number;
}

export interface PlanReport {
  /** What `slimedge plan` prints: the fit table and, with `ctx`, that plan's memory map and verdict. */
  text: string;
  /** The `ctx` plan: every byte of the arena; null without `ctx`. */
  plan: ArenaPlan | null;
  /** Set when the `ctx` plan does not fit the board (E_FIT); its sentence is not repeated in `text`. */
  error: SlimError | null;
}

/** The largest context per weight and cache precision that fits a board, slim vs vanilla; with `ctx`, that plan. */
export function plan(o: PlanOptions): PlanReport {
  const board = getBoard(o.board);
  const src = openModel(o.checkpoint);
  // The slim column and a slim plan follow slimify's per-layer decision at each cache precision, measured
  // on the model's calibration set as `run` without a prompt, `build` and `convert` measure it (a .slim file
  // carries the one decision it was converted with).
  const tok = src.model && isMultiHead(src.config) ? findTokenizer(src, undefined) : null;
  const calibration = tok ? calibrationTokens(src.config, readTextTokenizer(tok.kind, tok.bytes, tok.source, src.config.vocabSize)) : undefined;
  const decisions = src.model && isMultiHead(src.config) ? slimDecisions(src.model, o.threshold ?? 1e-3, calibration) : src.slim?.modes;
  return planOnBoard(src.config, board, { ctx: o.ctx, mode: o.mode ?? "slim", weights: o.weights ?? "f32", kCache: o.cache ?? "f32" }, decisions);
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
    fail("E_FLAG", `--quant ${o.weights}: the decoder runs ${DECODER_WEIGHTS.join(" and ")} weights; \`slimedge plan\` sizes ${o.weights}`);
  const src = openModel(o.checkpoint);
  // the command's own form of the tokenizer: one clear line now rather than a packaging failure later
  const tokenizer = loadModelTokenizer(src, o.tokenizer);
  const tokBytes = commandTokenizerBytes(tokenizer, src.config.vocabSize);
  // ctx is checked before the slim transform: the smallest plan it allows (stored modes, or every layer slim
  // that can be) must exist and fit the board.
  const smallest = planArena(src.config, o.ctx, src.slim ? src.slim.modes : layerModes(src.config, mode === "vanilla" ? "vanilla" : "slim"), {
    ...(src.slim ? planOptionsFor(src.slim.lowered) : { weights: o.weights ?? "f32" }),
    tokenizerBytes: tokBytes.length,
  });
  const early = overBudget(smallest, board);
  if (early) throw early;
  // slimify decides on the model's calibration set, as `plan` and `run` without a prompt do
  const slimifyOptions = { threshold: o.threshold ?? 1e-3, prompt: calibrationTokens(src.config, tokenizer) };
  const { lowered, layers, notes } = lowerSource(src, { mode, weights: o.weights, slimify: slimifyOptions });
  for (const n of notes) o.onNote?.(n);
  const out = o.out ?? join("build", board.name);
  const stem = basename(src.path).replace(/\.[^.]*$/, "");
  const name = stem === "model" ? basename(dirname(resolve(src.path))) : stem; // models/<name>/model.bin -> <name>
  // loaded here, not at start-up: binaryen takes a while to load, and only `build` needs it
  const { buildLowered } = await import("../../tools/package/build.ts");
  const simd = o.simd === undefined ? "auto" : o.simd ? "on" : "off";
  const result = await buildLowered(lowered, layers, tokBytes, { name, board, ctx: o.ctx, simd, out, onStep: o.onProgress });
  return { ...result, name, out };
}
