/**
 * Writing .slim containers (format: host/container.ts), and the two commands built on them:
 * `slimedge convert` (checkpoint → slimify → .slim) and `slimedge inspect` (what a model file holds).
 *
 * Which tensors take --dtype: every matrix except W_KV. Vectors (norms, biases) stay f32, as the format
 * requires; W_KV stays f32 because slimify measured its reconstruction error at f32, and a rounder W_KV
 * would need measuring again. Under q8_0 / q4_0 the stored set is exactly what the decoder quantizes
 * (host/plan.ts, host/runtime.ts writeWeights): the embedding, wq, wk, wv, wo, w1, w2, w3 and the classifier
 * in host/quant.ts's byte layouts (q8Bytes, q4Bytes), while the position embedding and slim layers' W_K
 * (like their W_KV) stay f32 — V = W_KV·K amplifies their quantization error by about cond(W_K).
 */
import { readFileSync, writeFileSync, renameSync, rmSync, statSync } from "node:fs";
import { basename } from "node:path";
import { fail } from "../../host/core/errors.ts";
import { type Model, type ModelConfig, archOf, isMultiHead, isLlamaShaped, kvDim } from "../../host/core/model.ts";
import { planArena, type AttentionMode, type WeightDtype } from "../../host/core/plan.ts";
import { crc32, hex32 } from "../../host/core/crc32.ts";
import { readTokenizer } from "../../host/core/tokenizer.ts";
import { q4Bytes, q8Bytes } from "../../host/core/quant.ts";
import {
  ACTIVATION_CODES, ARCH_CODES, DTYPE_CODES, ENTRY, FIXED_HEADER_BYTES, FLAG, HEADER, LAYER, LAYER_KINDS,
  LAYER_RECORD_BYTES, LAYER_VALUES, NORM_CODES, REASON, SLIM_MAGIC, SLIM_VERSION, TENSOR_ENTRY_BYTES, TENSOR_NAME_BYTES,
  TOKENIZER_CODES, align16, archWords, hasSlimMagic, loadSlim, slimTensorList,
  type ReasonCode, type TokenizerKind,
} from "../../host/core/container.ts";
import { computeWkv, formatSlimifyReport, slimify, type LayerReport, type SlimifyResult } from "./slimify.ts";
import { importModel, type ImportedModel } from "./import.ts";
import { formatBytes } from "../../host/core/format.ts";

// ---------------------------------------------------------------------------------------------------------
// the low-level writer: parts → bytes

/** One tensor as it goes into the file: its bytes in `dtype`, or an encoder that writes them straight into the file. */
export interface RawTensor {
  name: string;
  dtype: WeightDtype;
  shape: number[];
  data: Uint8Array | TensorEncoder;
}

/** Writes a tensor's bytes into its place in the file, so a large model is not copied twice. */
export interface TensorEncoder {
  byteLength: number;
  writeTo(out: Uint8Array): void; // `out` is exactly byteLength bytes
}

const byteLengthOf = (d: Uint8Array | TensorEncoder): number => (d instanceof Uint8Array ? d.length : d.byteLength);

/** One layer record: the mode, why, and the five measurements (null = not measured). */
export interface RawLayer {
  mode: AttentionMode;
  reason: ReasonCode;
  values: (number | null)[]; // cond, maxAbsWkv, errRandom, errActivations, errFloat64
}

/** Everything a .slim file holds, stored as given: encodeSlim checks nothing (tests craft broken files with it). */
export interface SlimParts {
  config: ModelConfig;
  layers: RawLayer[];
  threshold: number;
  groupSize: number;
  tensors: RawTensor[]; // in table order; data follows the same order
  tokenizer: { kind: TokenizerKind; bytes: Uint8Array } | null;
}

/** Called after each tensor is placed: (tensor index, bytes of tensor data written, total bytes of tensor data). */
export type Progress = (index: number, written: number, total: number) => void;

/** Lays out and writes the header, layer records, table and data, then seals both CRCs. */
export function encodeSlim(p: SlimParts, onProgress?: Progress): Uint8Array {
  const c = p.config;
  const a = archOf(c);
  const headerBytes = align16(FIXED_HEADER_BYTES + LAYER_RECORD_BYTES * p.layers.length + TENSOR_ENTRY_BYTES * p.tensors.length);
  let end = 0;
  const offsets = p.tensors.map((t) => {
    const at = align16(end);
    end = at + byteLengthOf(t.data);
    return at;
  });
  const tokenizerOffset = p.tokenizer ? align16(end) : 0;
  if (p.tokenizer) end = tokenizerOffset + p.tokenizer.bytes.length;
  const fileBytes = headerBytes + align16(end);

  const out = new Uint8Array(fileBytes); // zero-filled: every padding byte is 0
  const v = new DataView(out.buffer);
  const u32 = (at: number, x: number) => v.setUint32(at, x, true);
  const u64 = (at: number, x: number) => v.setBigUint64(at, BigInt(x), true);
  const f64 = (at: number, x: number) => v.setFloat64(at, x, true);
  const H = HEADER;
  out.set([...SLIM_MAGIC].map((ch) => ch.charCodeAt(0)), H.magic);
  u32(H.version, SLIM_VERSION);
  u32(H.headerBytes, headerBytes);
  u32(H.nTensors, p.tensors.length);
  u64(H.fileBytes, fileBytes);
  u32(H.arch, ARCH_CODES.indexOf(c.arch));
  u32(H.dim, c.dim);
  u32(H.hiddenDim, c.hiddenDim);
  u32(H.nLayers, c.nLayers);
  u32(H.nHeads, c.nHeads);
  u32(H.nKvHeads, c.nKvHeads);
  u32(H.vocabSize, c.vocabSize);
  u32(H.seqLen, c.seqLen);
  u32(H.rotaryDims, a.rotaryDims);
  u32(H.norm, NORM_CODES.indexOf(a.norm));
  u32(H.activation, ACTIVATION_CODES.indexOf(a.activation));
  u32(
    H.flags,
    (c.sharedClassifier ? FLAG.sharedClassifier : 0) | (a.learnedPositions ? FLAG.learnedPositions : 0) |
      (a.parallelResidual ? FLAG.parallelResidual : 0) | (a.biases ? FLAG.biases : 0),
  );
  f64(H.normEps, c.normEps);
  f64(H.ropeTheta, c.ropeTheta);
  u32(H.groupSize, p.groupSize);
  u32(H.tokenizerKind, p.tokenizer ? TOKENIZER_CODES.indexOf(p.tokenizer.kind) : 0);
  u64(H.tokenizerOffset, tokenizerOffset);
  u64(H.tokenizerBytes, p.tokenizer ? p.tokenizer.bytes.length : 0);
  f64(H.slimThreshold, p.threshold);

  p.layers.forEach((l, i) => {
    const at = FIXED_HEADER_BYTES + LAYER_RECORD_BYTES * i;
    u32(at + LAYER.mode, l.mode === "slim" ? 1 : 0);
    u32(at + LAYER.reason, l.reason);
    let measured = 0;
    l.values.forEach((x, k) => {
      if (x === null) return;
      measured |= 1 << k;
      f64(at + LAYER.values + 8 * k, x);
    });
    u32(at + LAYER.measured, measured);
  });

  const tableAt = FIXED_HEADER_BYTES + LAYER_RECORD_BYTES * p.layers.length;
  const total = p.tensors.reduce((n, t) => n + byteLengthOf(t.data), 0);
  let written = 0;
  p.tensors.forEach((t, i) => {
    const at = tableAt + TENSOR_ENTRY_BYTES * i;
    const name = [...t.name].map((ch) => ch.charCodeAt(0));
    out.set(name.slice(0, TENSOR_NAME_BYTES), at + ENTRY.name);
    u32(at + ENTRY.dtype, DTYPE_CODES.indexOf(t.dtype));
    u32(at + ENTRY.nDims, t.shape.length);
    t.shape.slice(0, 4).forEach((s, k) => u32(at + ENTRY.shape + 4 * k, s));
    u64(at + ENTRY.offset, offsets[i]);
    const length = byteLengthOf(t.data);
    u64(at + ENTRY.byteLength, length);
    const place = headerBytes + offsets[i];
    if (t.data instanceof Uint8Array) out.set(t.data, place);
    else t.data.writeTo(out.subarray(place, place + length));
    written += length;
    onProgress?.(i, written, total);
  });
  if (p.tokenizer) out.set(p.tokenizer.bytes, headerBytes + tokenizerOffset);
  return sealSlim(out);
}

/** Recomputes both CRCs of a .slim file in place from its header_bytes field (and returns it). */
export function sealSlim(bytes: Uint8Array): Uint8Array {
  const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerBytes = Math.min(v.getUint32(HEADER.headerBytes, true), bytes.length);
  v.setUint32(HEADER.headerCrc, crc32(bytes.subarray(16, headerBytes)), true);
  v.setUint32(HEADER.dataCrc, crc32(bytes.subarray(headerBytes)), true);
  return bytes;
}

// ---------------------------------------------------------------------------------------------------------
// model → parts

export interface PackOptions {
  /** What slimify decided (tools/slimify.ts); null: every layer vanilla, nothing measured. */
  layers: SlimifyResult | null;
  dtype: WeightDtype; // storage of every matrix but W_KV (and, for q8_0 / q4_0, slim layers' W_K and the position embedding)
  groupSize?: number; // values per scale for q8_0 / q4_0 (default 32; q4_0 needs 32); ignored for f32 / f16
  tokenizer?: Uint8Array; // embedded as is
  tokenizerKind?: TokenizerKind; // default "llama2c" (tokenizer.bin)
  threshold?: number; // the threshold slimify decided with (default 1e-3, slimify's own default)
  onProgress?: Progress;
}

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** binary16 bits of an f32 value, rounded to nearest even; overflow goes to ±Infinity, NaN stays NaN. */
export function f16Bits(value: number): number {
  f32Scratch[0] = value;
  const x = u32Scratch[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 | (mant >>> 13) : 0);
  const e = exp - 127 + 15;
  if (e >= 31) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign; // below half the smallest subnormal
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rest = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rest > half || (rest === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rest = mant & 0x1fff;
  if (rest > 0x1000 || (rest === 0x1000 && h & 1)) h++; // a carry into the exponent is the right rounding
  return sign | h;
}

function encodeValues(values: Float32Array, dtype: WeightDtype, group: number): TensorEncoder {
  if (dtype === "q8_0" || dtype === "q4_0") {
    const bytes = dtype === "q8_0" ? q8Bytes(values, group) : q4Bytes(values, group);
    return { byteLength: bytes.length, writeTo: (out) => out.set(bytes) };
  }
  if (dtype === "f32") return { byteLength: values.byteLength, writeTo: (out) => out.set(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)) };
  return {
    byteLength: 2 * values.length,
    writeTo(out) {
      for (let i = 0; i < values.length; i++) {
        const h = f16Bits(values[i]);
        out[2 * i] = h & 0xff;
        out[2 * i + 1] = h >>> 8;
      }
    },
  };
}

/** The reason code of a slimify layer report (the format stores codes; readers turn them back into sentences). */
export function reasonCode(r: LayerReport, c: ModelConfig, threshold: number): ReasonCode {
  if (r.mode === "slim") return REASON.slim;
  if (r.cond === null) return isMultiHead(c) ? REASON.singularWk : REASON.groupedKv;
  const deciding = r.errActivations ?? r.errRandom;
  return deciding !== null && deciding <= threshold ? REASON.vanillaByChoice : REASON.errorAboveThreshold;
}

/** The container's tensors for a model and its slimify result, with shapes checked against the config. */
function rawTensors(model: Model, modes: AttentionMode[], wkv: (Float32Array | null)[], dtype: WeightDtype, group: number): RawTensor[] {
  const w = model.weights;
  const top: Record<string, Float32Array | undefined> = {
    token_embedding: w.tokenEmbedding,
    position_embedding: w.positionEmbedding,
    final_norm: w.finalNorm,
    final_norm_bias: w.finalNormBias,
    classifier: w.classifier,
  };
  const kinds = new Map(LAYER_KINDS.map((k) => [k.suffix, k]));
  return slimTensorList(model.config, modes).map((spec) => {
    const m = /^layers\.(\d+)\.(.+)$/.exec(spec.name);
    let values: Float32Array | undefined;
    if (!m) values = top[spec.name];
    else {
      const l = Number(m[1]);
      const field = kinds.get(m[2])!.field;
      values = field === "wkv" ? (wkv[l] ?? undefined) : (w.layers[l][field] as Float32Array | undefined);
    }
    const n = spec.shape.reduce((p, s) => p * s, 1);
    if (!values) return fail("E_MODEL", `pack: the model has no ${spec.name} (${spec.shapeText}), which a ${model.config.arch} model with ${archWords(model.config)} needs.`);
    if (values.length !== n) fail("E_MODEL", `pack: tensor ${spec.name} has ${values.length} values, but ${spec.shapeText} = ${spec.shape.join("×")} needs ${n}.`);
    const stored = storedDtype(spec.name, spec.shape, modes, dtype);
    if ((stored === "q8_0" || stored === "q4_0") && spec.shape[spec.shape.length - 1] % group !== 0)
      fail("E_MODEL", `pack: tensor ${spec.name} (${spec.shapeText} = ${spec.shape.join("×")}) has rows of ${spec.shape[spec.shape.length - 1]} values, which do not split into ${stored} groups of ${group}.`);
    return { name: spec.name, dtype: stored, shape: spec.shape, data: encodeValues(values, stored, group) };
  });
}

/**
 * How a tensor is stored under --dtype `dtype`: vectors and W_KV always f32; under q8_0 / q4_0 also the
 * position embedding and slim layers' W_K (the decoder keeps both f32, host/plan.ts); every other matrix in `dtype`.
 */
export function storedDtype(name: string, shape: readonly number[], modes: readonly AttentionMode[], dtype: WeightDtype): WeightDtype {
  if (shape.length !== 2 || name.endsWith(".wkv")) return "f32";
  if (dtype !== "q8_0" && dtype !== "q4_0") return dtype;
  if (name === "position_embedding") return "f32";
  const m = /^layers\.(\d+)\.wk$/.exec(name);
  return m && modes[Number(m[1])] === "slim" ? "f32" : dtype;
}

/** A model and its slimify result as a .slim file. */
export function packSlim(model: Model, opts: PackOptions): Uint8Array {
  const c = model.config;
  const threshold = opts.threshold ?? 1e-3;
  const report = opts.layers;
  if (report && (report.layers.length !== c.nLayers || report.wkv.length !== c.nLayers))
    fail("E_MODEL", `pack: the slimify result has ${report.layers.length} layers, the model ${c.nLayers}.`);
  const modes: AttentionMode[] = report ? report.layers.map((l) => l.mode) : Array(c.nLayers).fill("vanilla");
  const wkv = report ? report.wkv : Array(c.nLayers).fill(null);
  modes.forEach((m, l) => {
    if (m === "slim" && !isMultiHead(c)) fail("E_MODEL", `pack: layer ${l} is slim, but the model has grouped K/V (${c.nKvHeads} of ${c.nHeads} heads).`);
    if (m === "slim" && !wkv[l]) fail("E_MODEL", `pack: layer ${l} is slim but the slimify result has no W_KV for it.`);
  });
  const layers: RawLayer[] = report
    ? report.layers.map((r) => ({ mode: r.mode, reason: reasonCode(r, c, threshold), values: LAYER_VALUES.map((k) => r[k]) }))
    : modes.map(() => ({ mode: "vanilla", reason: REASON.vanillaByChoice, values: LAYER_VALUES.map(() => null) }));
  if (opts.tokenizer && opts.tokenizer.length === 0) fail("E_MODEL", "pack: the tokenizer to embed is empty.");
  const quantized = opts.dtype === "q8_0" || opts.dtype === "q4_0";
  const group = quantized ? (opts.groupSize ?? 32) : 0;
  if (quantized && (!Number.isInteger(group) || group < 2 || group % 2 !== 0 || group > 0xffffffff))
    fail("E_FLAG", `pack: group size ${group} must be an even whole number ≥ 2.`);
  if (opts.dtype === "q4_0" && group !== 32) fail("E_FLAG", `pack: q4_0 packs groups of 32 values (host/quant.ts q4Bytes), not ${group}.`);
  return encodeSlim(
    {
      config: c,
      layers,
      threshold,
      groupSize: group,
      tensors: rawTensors(model, modes, wkv, opts.dtype, group),
      tokenizer: opts.tokenizer ? { kind: opts.tokenizerKind ?? "llama2c", bytes: opts.tokenizer } : null,
    },
    opts.onProgress,
  );
}

/** Writes `bytes` to a temporary name next to `path`, then renames it: a reader never sees half a file. */
export function writeFileAtomic(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.${process.pid}.tmp`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (err) {
    rmSync(tmp, { force: true });
    const why = err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err);
    fail("E_FILE", `${path}: cannot write the .slim file (${why}).`);
  }
}

/** packSlim, written to `path` atomically; returns the bytes written. */
export function writeSlim(path: string, model: Model, opts: PackOptions): Uint8Array {
  const bytes = packSlim(model, opts);
  writeFileAtomic(path, bytes);
  return bytes;
}

// ---------------------------------------------------------------------------------------------------------
// slimedge convert

/** What slimify measures the reconstruction error on when a tokenizer is at hand. */
export const CALIBRATION_PROMPT = "Once upon a time, there was a little girl who liked to play in the park with her dog.";

export interface ConvertOptions {
  dtype: WeightDtype; // q8_0 / q4_0 with groups of 32 values
  mode: "auto" | "slim" | "vanilla"; // auto: slimify decides per layer; slim: every invertible layer; vanilla: none
  threshold: number;
  tokenizer?: string; // a tokenizer.bin to embed instead of the importer's
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
  if (!DTYPE_CODES.includes(o.dtype)) fail("E_FLAG", `--dtype ${o.dtype}: expected one of ${DTYPE_CODES.join(", ")}`);
  if (!(o.threshold > 0 && Number.isFinite(o.threshold))) fail("E_FLAG", `--threshold: expected a positive number, got ${o.threshold}`);
  o.onStage?.(`reading ${input}`);
  const imported = importModel(input);
  const model = imported.model;
  const c = model.config;
  const notes: string[] = [];
  if (o.tokenizer !== undefined) {
    imported.tokenizer = { kind: "llama2c", bytes: readTokenizerFile(o.tokenizer), source: o.tokenizer };
  }
  let prompt: number[] | undefined;
  const tok = imported.tokenizer;
  if (tok?.kind === "llama2c") {
    const tokenizer = readTokenizer(tok.bytes, tok.source, c.vocabSize); // a mismatched tokenizer fails here, not on the device
    if (isLlamaShaped(c)) prompt = tokenizer.encode(o.prompt ?? CALIBRATION_PROMPT, { bos: true }).slice(0, Math.min(64, c.seqLen));
  }
  if (!tok) notes.push(`no tokenizer found for ${input}: none embedded, and slimify measured on random inputs only`);
  else if (!prompt) notes.push(`slimify measured on random inputs only (no calibration forward pass for this ${c.arch} model yet)`);
  o.onStage?.(`slimify: ${c.nLayers} layers${prompt ? `, calibrated on ${prompt.length} prompt tokens` : ""}`);
  const report = decide(model, o.mode, slimify(model, { threshold: o.threshold, prompt }), notes);
  o.onStage?.(`packing ${o.dtype}`);
  const bytes = packSlim(model, { layers: report, dtype: o.dtype, tokenizer: tok?.bytes, tokenizerKind: tok?.kind, threshold: o.threshold, onProgress: o.onProgress });
  o.onStage?.(`writing ${output}`);
  writeFileAtomic(output, bytes);
  return { output, bytes, imported, report, notes };
}

function readTokenizerFile(path: string): Uint8Array {
  try {
    return new Uint8Array(readFileSync(path));
  } catch (err) {
    const why = err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err);
    return fail("E_FILE", `${path}: cannot read the tokenizer (${why}).`);
  }
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
    `matrices ${dtype} (W_KV${dtype === "q8_0" || dtype === "q4_0" ? ", slim layers' W_K and positions" : ""} f32), tokenizer ${tok ? `${tok.kind} ${tok.bytes.length} bytes embedded` : "none"}, ` +
    `CRC32 header ${hex32(v.getUint32(HEADER.headerCrc, true))} data ${hex32(v.getUint32(HEADER.dataCrc, true))}`
  );
}

// ---------------------------------------------------------------------------------------------------------
// slimedge inspect


/** Parameters stored, counting a shared classifier once. */
const countValues = (shapes: number[][]): number => shapes.reduce((s, shape) => s + shape.reduce((p, x) => p * x, 1), 0);

function shapeLine(c: ModelConfig): string {
  const kv = c.nKvHeads === c.nHeads ? "" : ` (${c.nKvHeads} K/V heads, kvDim ${kvDim(c)})`;
  return `dim ${c.dim}, hidden ${c.hiddenDim}, ${c.nLayers} layers, ${c.nHeads} heads${kv}, vocab ${c.vocabSize}, seq_len ${c.seqLen}, norm eps ${c.normEps}, RoPE θ ${c.ropeTheta}`;
}

function dtypeLine(bytes: Partial<Record<WeightDtype, number>>, counts?: Partial<Record<WeightDtype, number>>): string {
  return DTYPE_CODES.filter((d) => bytes[d])
    .map((d) => `${d} ${formatBytes(bytes[d]!)}${counts ? ` (${counts[d]} tensors)` : ""}`)
    .join(", ");
}

function contextLine(c: ModelConfig, modes: AttentionMode[]): string {
  const perToken = planArena(c, 1, modes); // one cache row per layer
  const slim = modes.filter((m) => m === "slim").length;
  return `context memory per token: ${perToken.contextBytes} bytes with ${slim} of ${modes.length} layers slim (${modes.map((m) => (m === "slim" ? "S" : "V")).join("")}), vanilla ${perToken.vanillaContextBytes} bytes (host/plan.ts, f32 cache)`;
}

/** What a model file holds, as lines for people. A .slim file is checked whole; a checkpoint is slimified on the spot. */
export function inspectFile(path: string, threshold = 1e-3): string {
  if (hasSlimMagic(path)) {
    const f = loadSlim(path);
    const c = f.config;
    const bytes: Partial<Record<WeightDtype, number>> = {};
    const counts: Partial<Record<WeightDtype, number>> = {};
    for (const t of f.tensors) {
      bytes[t.dtype] = (bytes[t.dtype] ?? 0) + t.byteLength;
      counts[t.dtype] = (counts[t.dtype] ?? 0) + 1;
    }
    return [
      `${basename(path)}: .slim version ${f.version}, ${f.fileBytes} bytes (header ${f.headerBytes}, ${f.tensors.length} tensors)`,
      `checksums: header CRC32 ${hex32(f.headerCrc)} ok, data CRC32 ${hex32(f.dataCrc)} ok`,
      `architecture: ${c.arch} (${archWords(c)})`,
      `shape: ${shapeLine(c)}`,
      `parameters: ${countValues(f.tensors.map((t) => t.shape)).toLocaleString("en-US")} stored (slim layers hold W_KV in place of W_V)`,
      `dtypes: ${dtypeLine(bytes, counts)}`,
      `tokenizer: ${f.tokenizerKind === null ? "none embedded" : `${f.tokenizerKind === "llama2c" ? "llama2.c tokenizer.bin" : "Hugging Face tokenizer.json"}, ${f.tokenizerBytes} bytes`}`,
      `per layer (stored when converted, slim threshold ${f.threshold}):`,
      formatSlimifyReport({ layers: f.layers, wkv: f.wkv }),
      contextLine(c, f.modes),
    ].join("\n");
  }
  const imported = importModel(path);
  const c = imported.model.config;
  let prompt: number[] | undefined;
  if (imported.tokenizer?.kind === "llama2c" && isLlamaShaped(c)) {
    prompt = readTokenizer(imported.tokenizer.bytes, imported.tokenizer.source, c.vocabSize).encode(CALIBRATION_PROMPT, { bos: true }).slice(0, Math.min(64, c.seqLen));
  }
  const report = slimify(imported.model, { threshold, prompt });
  return [
    `${basename(path)}: ${imported.format}, ${inputBytes(path)} bytes`,
    `checksums: none (${imported.format} files carry no checksum)`,
    `architecture: ${c.arch} (${archWords(c)})`,
    `shape: ${shapeLine(c)}`,
    `parameters: ${countValues(slimTensorList(c, Array(c.nLayers).fill("vanilla")).map((t) => t.shape)).toLocaleString("en-US")}`,
    `dtypes: ${dtypeLine(imported.storage)} (as the file stores them)`,
    `tokenizer: ${imported.tokenizer ? `${imported.tokenizer.source}, ${imported.tokenizer.bytes.length} bytes` : "none found"}`,
    `per layer (computed now by slimify, threshold ${threshold}${prompt ? `, calibrated on ${prompt.length} prompt tokens` : ", random inputs only"}):`,
    formatSlimifyReport(report),
    contextLine(c, report.layers.map((l) => l.mode)),
  ].join("\n");
}
