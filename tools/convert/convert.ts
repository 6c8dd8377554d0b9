/**
 * `slimedge convert`: checkpoint → slimify (calibrated with the tokenizer when there is one) → lower
 * (tools/convert/lower.ts) → .slim (tools/convert/slim-write.ts), written atomically.
 *
 * Which tensors take --weights: every matrix except W_KV, slim layers' W_K and the position embedding
 * (host/core/lowered.ts storedDtype). W_KV stays f32 because slimify measured its reconstruction error at
 * f32, and V = W_KV·K amplifies an error in W_K or W_KV by about cond(W_K).
 */
import { readdirSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fail } from "../../host/core/errors.ts";
import { type Model, isLlamaShaped } from "../../host/core/model.ts";
import type { WeightDtype } from "../../host/core/plan.ts";
import { hex32 } from "../../host/core/crc32.ts";
import { readTextTokenizer, sniffKind } from "../../host/core/tokenizers.ts";
import { DTYPE_CODES, HEADER, type TokenizerKind } from "../../host/core/slim-format.ts";
import { computeWkv, slimify, type SlimifyResult } from "./slimify.ts";
import { CALIBRATION_PROMPT, calibrationPrompt, calibrationTokens } from "./calibrate.ts";
import { importModel, type ImportedModel } from "./import.ts";
import { layerChoice, lowerModel } from "./lower.ts";
import { packSlim, type Progress } from "./slim-write.ts";
import { readWholeFile, refuseOverwrite, writeFileAtomic } from "../../host/core/files.ts";

export interface PackOptions {
  /** What slimify decided (tools/convert/slimify.ts); null: every layer vanilla, nothing measured. */
  layers: SlimifyResult | null;
  dtype: WeightDtype;
  groupSize?: number; // values per scale for q8_0 / q4_0 (default groupSizeFor the model); ignored for f32 / f16
  tokenizer?: Uint8Array; // embedded as is
  tokenizerKind?: TokenizerKind; // default "llama2c" (tokenizer.bin)
  threshold?: number; // the threshold slimify decided with (default 1e-3, slimify's own default)
  onProgress?: Progress; // while lowering, the slow part: (tensor index, f32 bytes done, f32 bytes in all)
}

/** A model and its slimify result, lowered and written as a .slim file's bytes. */
export function packModel(model: Model, o: PackOptions): Uint8Array {
  const c = model.config;
  if (o.layers && (o.layers.layers.length !== c.nLayers || o.layers.wkv.length !== c.nLayers))
    fail("E_MODEL", `pack: the slimify result has ${o.layers.layers.length} layers, the model ${c.nLayers}.`);
  const lowered = lowerModel(model, layerChoice(o.layers, c.nLayers), { weights: o.dtype, groupSize: o.groupSize, onProgress: o.onProgress });
  return packSlim(lowered, { report: o.layers?.layers ?? null, threshold: o.threshold, tokenizer: o.tokenizer, tokenizerKind: o.tokenizerKind });
}


export { CALIBRATION_PROMPT, calibrationPrompt } from "./calibrate.ts";

export interface ConvertOptions {
  dtype: WeightDtype; // q8_0 / q4_0 with groups of 32 values, halved until they divide the rows
  mode: "auto" | "slim" | "vanilla"; // auto: slimify decides per layer; slim: every invertible layer; vanilla: none
  threshold: number;
  tokenizer?: string; // a tokenizer.json or tokenizer.bin to embed instead of the importer's
  prompt?: string; // calibration prompt (default CALIBRATION_PROMPT)
  onStage?: (what: string) => void;
  onProgress?: Progress;
}

export interface ConvertResult {
  output: string;
  bytes: Uint8Array;
  imported: ImportedModel;
  report: SlimifyResult; // as stored
  notes: string[];
}

/** The slimify decision per --mode: auto as measured, slim forced wherever W_K inverts, vanilla everywhere. */
function decide(model: Model, mode: ConvertOptions["mode"], measured: SlimifyResult, notes: string[]): SlimifyResult {
  const c = model.config;
  if (mode === "auto") return measured;
  if (mode === "vanilla") return { layers: measured.layers.map((l) => ({ ...l, mode: "vanilla" })), wkv: measured.wkv.map(() => null) };
  const layers = measured.layers.map((l) => ({ ...l }));
  const wkv = [...measured.wkv];
  layers.forEach((l, i) => {
    if (l.mode === "slim") return;
    if (l.cond === null) {
      notes.push(`layer ${i} stays vanilla despite --mode slim: ${l.reason ?? "no W_KV"}`);
      return;
    }
    const L = model.weights.layers[i];
    wkv[i] = computeWkv(L.wk, L.wv, c.dim).f32;
    notes.push(`layer ${i} is slim by --mode slim although ${l.reason ?? "its error is above the threshold"}`);
    l.mode = "slim";
    delete l.reason;
  });
  return { layers, wkv };
}

/** Import → slimify (calibrated with the tokenizer when there is one) → pack → write atomically. */
export function convertModel(input: string, output: string, o: ConvertOptions): ConvertResult {
  if (!DTYPE_CODES.includes(o.dtype)) fail("E_FLAG", `--weights ${o.dtype}: expected one of ${DTYPE_CODES.join(", ")}`);
  if (!(o.threshold > 0 && Number.isFinite(o.threshold))) fail("E_FLAG", `--threshold: expected a positive number, got ${o.threshold}`);
  refuseOverwrite(output, [input, o.tokenizer, ...siblingInputs(input)]);
  o.onStage?.(`reading ${input}`);
  const imported = importModel(input);
  const model = imported.model;
  const c = model.config;
  const notes: string[] = [];
  if (o.tokenizer !== undefined) {
    const bytes = readTokenizerFile(o.tokenizer);
    imported.tokenizer = { kind: sniffKind(bytes), bytes, source: o.tokenizer };
  }
  let prompt: number[] | undefined;
  const tok = imported.tokenizer;
  if (tok) {
    const tokenizer = readTextTokenizer(tok.kind, tok.bytes, tok.source, c.vocabSize); // a mismatched tokenizer fails here, not on the device
    // a given prompt must encode; the built-in one is the calibration set `plan`, `build` and `run` use too
    if (isLlamaShaped(c)) prompt = o.prompt !== undefined ? calibrationPrompt(tokenizer, o.prompt, c.seqLen) : calibrationTokens(c, tokenizer);
  }

  if (!tok) notes.push(`no tokenizer found for ${input}: none embedded, and slimify measured on random inputs only`);
  else if (!prompt && isLlamaShaped(c)) notes.push(`slimify measured on random inputs only: the tokenizer cannot encode the calibration prompt ${JSON.stringify(CALIBRATION_PROMPT)}`);
  else if (!prompt) notes.push(`slimify measured on random inputs only (no calibration forward pass for this ${c.arch} model yet)`);
  o.onStage?.(`slimify: ${c.nLayers} layers${prompt ? `, calibrated on ${prompt.length} prompt tokens` : ""}`);
  const report = decide(model, o.mode, slimify(model, { threshold: o.threshold, prompt }), notes);
  o.onStage?.(`packing ${o.dtype}`);
  const bytes = packModel(model, { layers: report, dtype: o.dtype, tokenizer: tok?.bytes, tokenizerKind: tok?.kind, threshold: o.threshold, onProgress: o.onProgress });
  o.onStage?.(`writing ${output}`);
  writeFileAtomic(output, bytes, ".slim file");
  return { output, bytes, imported, report, notes };
}

/** Files an importer may read besides the input itself: the tokenizer.bin next to it, a folder's files. */
function siblingInputs(input: string): string[] {
  try {
    if (statSync(input).isDirectory()) return readdirSync(input).map((f) => join(input, f));
  } catch {
    return [];
  }
  return [join(dirname(input), "tokenizer.bin")];
}

function readTokenizerFile(path: string): Uint8Array {
  return readWholeFile(path, "tokenizer");
}

/** Inputs above this size get a progress bar even when stderr is not a terminal. */
export const BIG_INPUT_BYTES = 8 * 2 ** 20;

export const inputBytes = (path: string): number => {
  try {
    return statSync(path).size;
  } catch {
    return 0; // the importer names the missing file
  }
};

/** One summary line for `slimedge convert`. */
export function convertSummary(r: ConvertResult, dtype: string): string {
  const modes = r.report.layers.map((l) => (l.mode === "slim" ? "S" : "V")).join("");
  const v = new DataView(r.bytes.buffer, r.bytes.byteOffset);
  const tok = r.imported.tokenizer;
  return (
    `wrote ${r.output}: ${r.bytes.length} bytes, ${r.imported.model.config.arch} from ${r.imported.format}, layers ${modes} (S = slim, V = vanilla), ` +
    `matrices ${dtype} (W_KV, slim layers' W_K and positions f32), tokenizer ${tok ? `${tok.kind} ${tok.bytes.length} bytes embedded` : "none"}, ` +
    `CRC32 header ${hex32(v.getUint32(HEADER.headerCrc, true))} data ${hex32(v.getUint32(HEADER.dataCrc, true))}`
  );
}

