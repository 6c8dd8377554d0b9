/**
 * convert() and inspect(): a checkpoint as a .slim container, and what a model file holds — what `slimedge
 * convert` and `slimedge inspect` do.
 */
import { convertModel, convertSummary, type ConvertResult } from "../../tools/convert/convert.ts";
import type { WeightDtype } from "../core/plan.ts";
import type { ModelConfig } from "../core/model.ts";
import { decodeText } from "../core/tokenizers.ts";
import { openModel, loadModelTokenizer } from "./model.ts";

export interface ConvertOptions {
  /** A llama2.c .bin (v0, v1 or v2), GGUF file, Hugging Face folder, or a .slim file to convert again. */
  checkpoint: string;
  /** The .slim file to write (written to a temporary name, then renamed). */
  out: string;
  /** Storage of the weight matrices (default f32). */
  weights?: WeightDtype;
  /** auto (default): slimify decides per layer; slim: every layer whose W_K inverts; vanilla: none. */
  mode?: "auto" | "slim" | "vanilla";
  /** Largest V-reconstruction error a slim layer may have (default 1e-3). */
  threshold?: number;
  /** tokenizer.json or tokenizer.bin to embed (default: the model's own). */
  tokenizer?: string;
  /** Calibration prompt slimify measures the error on (default: the built-in calibration set). */
  prompt?: string;
  /** While lowering, the slow part: tensor index, f32 bytes done, f32 bytes in all. */
  onProgress?: (tensor: number, done: number, total: number) => void;
  /** Each stage as it starts: reading, slimify, packing, writing. */
  onStage?: (what: string) => void;
}

export interface Converted extends ConvertResult {
  /** The lines `slimedge convert` prints: layers, sizes, the file written. */
  summary: string;
}

/** Import → slimify → lower → one .slim file, written atomically. */
export function convert(o: ConvertOptions): Converted {
  const dtype = o.weights ?? "f32";
  const result = convertModel(o.checkpoint, o.out, {
    dtype,
    mode: o.mode ?? "auto",
    threshold: o.threshold ?? 1e-3,
    tokenizer: o.tokenizer,
    prompt: o.prompt,
    onStage: o.onStage,
    onProgress: o.onProgress,
  });
  return { ...result, summary: convertSummary(result, dtype) };
}

export interface OpenOptions {
  /** A .slim file, a llama2.c .bin, a GGUF file or a Hugging Face folder; default: the shipped model. */
  checkpoint?: string;
  /** tokenizer.json or tokenizer.bin (default: the model's own). */
  tokenizer?: string;
}

export interface OpenedModel {
  /** The file or folder read. */
  path: string;
  /** "slim" for a .slim container (stored lowered bytes), "checkpoint" for anything converted on the fly. */
  kind: "slim" | "checkpoint";
  /** The model's shape. */
  config: ModelConfig;
  /** Per layer, for a .slim file: slim or vanilla as stored; null for a checkpoint (slimify decides when it is used). */
  modes: ("slim" | "vanilla")[] | null;
  /** Encodes text to token ids (with the model's start token) and back. */
  encode(text: string): number[];
  decode(ids: readonly number[]): string;
}

/** Opens a model and its tokenizer and checks them, without running anything. */
export function open(o: OpenOptions = {}): OpenedModel {
  const src = openModel(o.checkpoint);
  const tokenizer = loadModelTokenizer(src, o.tokenizer);
  return {
    path: src.path,
    kind: src.slim ? "slim" : "checkpoint",
    config: src.config,
    modes: src.slim ? [...src.slim.modes] : null,
    encode: (text) => tokenizer.prompt(text),
    decode: (ids) => decodeText(tokenizer, ids),
  };
}
