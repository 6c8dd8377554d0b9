/**
 * The one place that finds a model and its tokenizer and lowers the model for the decoder (ARCHITECTURE.md,
 * "Data path"): a .slim file hands over its stored bytes and layer modes; a checkpoint is slimified and
 * lowered in memory (tools/convert/lower.ts), the same step `convert` stores. Every API function and CLI
 * command opens its model here.
 */
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { PACKAGE_ROOT } from "../core/package-root.ts";
import { type Model, type ModelConfig, checkFiniteWeights } from "../core/model.ts";
import type { WeightDtype } from "../core/plan.ts";
import type { LoweredModel } from "../core/lowered.ts";
import { readWholeFile } from "../core/files.ts";
import { loadLlama2c } from "../../tools/convert/llama2c.ts";
import { importModel } from "../../tools/convert/import.ts";
import { prepareModel } from "../../tools/convert/prepare.ts";
import type { LayerReport, SlimifyOptions } from "../../tools/convert/slimify.ts";
import { readTokenizer } from "../core/tokenizer.ts";
import { readTextTokenizer, sniffKind, type TextTokenizer, type TokenizerKind } from "../core/tokenizers.ts";
import { syntheticModel } from "../core/synthetic.ts";
import { fail } from "../core/errors.ts";
import { embeddedTokenizerName, hasSlimMagic, loadSlim, type SlimFile } from "../core/slim-read.ts";
import type { LayerRecord } from "../core/slim-format.ts";

/** The package's own folder (the repository in a clone): host/core/package-root.ts. */
export const root = PACKAGE_ROOT;
/** The shipped model: used when no checkpoint is given. */
export const DEFAULT_MODEL_DIR = join(root, "models", "slimedge-tiny-v2");

/** A model a command was pointed at: a .slim file (stored lowered bytes) or a checkpoint (the canonical f32 model). */
export interface ModelSource {
  path: string; // the file or folder read, named in messages
  slim: SlimFile | null;
  model: Model | null; // null for a .slim
  config: ModelConfig;
  tokenizer?: FoundTokenizer | null; // the importer's: embedded (GGUF) or beside the checkpoint (tokenizer.json, tokenizer.bin)
  notice?: string; // something the user might not assume, e.g. random weights
}

/** A tokenizer's bytes, their kind, and where they came from. */
export interface FoundTokenizer {
  kind: TokenizerKind;
  bytes: Uint8Array;
  source: string;
}

/**
 * Opens `checkpoint` — a .slim file, or a llama2.c, GGUF or Hugging Face checkpoint — or without one the
 * shipped model. With `random` and no shipped model, random weights of the default shape (said in `notice`).
 */
export function openModel(checkpoint: string | undefined, o: { random?: boolean } = {}): ModelSource {
  if (checkpoint !== undefined && hasSlimMagic(checkpoint)) {
    const slim = loadSlim(checkpoint);
    return { path: checkpoint, slim, model: null, config: slim.config };
  }
  if (checkpoint !== undefined) {
    const imported = importModel(checkpoint);
    return { path: checkpoint, slim: null, model: imported.model, config: imported.model.config, tokenizer: imported.tokenizer };
  }
  const shipped = join(DEFAULT_MODEL_DIR, "model.bin");
  if (existsSync(shipped)) {
    const model = loadLlama2c(shipped);
    checkFiniteWeights(model, shipped);
    return { path: shipped, slim: null, model, config: model.config };
  }
  if (!o.random) return fail("E_FILE", `${shipped}: no checkpoint given and no default model there; pass a llama2.c .bin`);
  // No trained default model in this checkout: random weights of the default shape, said plainly.
  const vocab = readTokenizer(readWholeFile(join(DEFAULT_MODEL_DIR, "tokenizer.bin"), "tokenizer"), join(DEFAULT_MODEL_DIR, "tokenizer.bin")).vocabSize;
  const model = syntheticModel(
    { arch: "llama", dim: 128, hiddenDim: 352, nLayers: 6, nHeads: 8, nKvHeads: 8, vocabSize: vocab, seqLen: 2048, normEps: 1e-5, ropeTheta: 10000, sharedClassifier: true },
    1,
  );
  return { path: shipped, slim: null, model, config: model.config, notice: `no trained default model found at ${shipped}: running RANDOM weights generated on the fly, so the text is noise` };
}

/** Where a model's tokenizer.bin would be: the --tokenizer flag, else next to the checkpoint (in it, for a folder). */
function tokenizerPath(src: ModelSource, flag: string | undefined): string {
  if (flag !== undefined) return flag;
  const isFolder = existsSync(src.path) && statSync(src.path).isDirectory();
  return join(isFolder ? src.path : dirname(src.path), "tokenizer.bin");
}

/**
 * The model's tokenizer, found in one order for every command: --tokenizer (a tokenizer.json or
 * tokenizer.bin), else the one a .slim or GGUF file embeds, else the tokenizer.json or tokenizer.bin beside the
 * checkpoint. Null when there is none; `required` makes that an E_FILE error naming where it looked.
 */
export function findTokenizer(src: ModelSource, flag: string | undefined, required: true): FoundTokenizer;
export function findTokenizer(src: ModelSource, flag: string | undefined, required?: boolean): FoundTokenizer | null;
export function findTokenizer(src: ModelSource, flag: string | undefined, required = false): FoundTokenizer | null {
  if (flag !== undefined) {
    const bytes = readWholeFile(flag, "tokenizer");
    return { kind: sniffKind(bytes), bytes, source: flag };
  }
  if (src.slim?.tokenizerKind) return { kind: src.slim.tokenizerKind, bytes: src.slim.tokenizer!, source: embeddedTokenizerName(src.path) };
  if (src.tokenizer) return src.tokenizer;
  const path = tokenizerPath(src, undefined);
  if (existsSync(path)) return { kind: "llama2c", bytes: readWholeFile(path, "tokenizer"), source: path };
  if (!required) return null;
  if (src.slim) return fail("E_FILE", `${src.path}: no tokenizer embedded and no ${path} next to it; pass --tokenizer <tokenizer.json or tokenizer.bin>`);
  return fail("E_FILE", `${src.path}: no tokenizer embedded and no tokenizer.json or tokenizer.bin beside it; pass --tokenizer <file>`);
}

/** The model's tokenizer (any family), checked against its vocabulary. */
export function loadModelTokenizer(src: ModelSource, flag: string | undefined): TextTokenizer {
  if (flag === undefined && src.slim?.text) return src.slim.text; // read and checked by the .slim reader
  const t = findTokenizer(src, flag, true);
  return readTextTokenizer(t.kind, t.bytes, t.source, src.config.vocabSize);
}

export interface LoweredSource {
  lowered: LoweredModel;
  /** What decided each layer's mode: slimify's report for a checkpoint, the stored records for a .slim; null: not slimified. */
  layers: LayerReport[] | LayerRecord[] | null;
  notes: string[]; // what the user should read about the layers (vanilla ones and why)
}

export interface LowerFlags {
  mode: "slim" | "vanilla" | "auto"; // slim and auto: slimify decides per layer; vanilla: every layer keeps its V-cache
  weights?: WeightDtype; // a checkpoint's weight storage (default f32); for a .slim, only what it stores
  slimify?: SlimifyOptions; // how a checkpoint is slimified
}

/**
 * The lowered model the decoder runs: a .slim file's stored bytes and layer modes as they are (--weights and
 * --mode may only ask for what it stores), or a checkpoint slimified and lowered in memory.
 */
export function lowerSource(src: ModelSource, f: LowerFlags): LoweredSource {
  if (src.slim) {
    const s = src.slim;
    if (f.weights !== undefined && f.weights !== s.lowered.weights)
      fail("E_FLAG", `--weights ${f.weights}: ${src.path} stores ${s.lowered.weights} weights, and they run as stored; convert the checkpoint again with --weights ${f.weights}`);
    const slimLayers = s.modes.flatMap((m, l) => (m === "slim" ? [l] : []));
    if (f.mode === "vanilla" && slimLayers.length > 0)
      fail("E_FLAG", `--mode vanilla: ${src.path} stores layer${slimLayers.length > 1 ? "s" : ""} ${slimLayers.join(", ")} slim (W_KV, no W_V), and layers run as stored; convert the checkpoint again with --mode vanilla`);
    const notes = s.layers.filter((l) => l.mode === "vanilla").map((l) => `layer ${l.layer} keeps its V-cache (stored in ${src.path}): ${l.reason}`);
    return { lowered: s.lowered, layers: s.layers, notes };
  }
  return prepareModel(src.model!, f);
}
