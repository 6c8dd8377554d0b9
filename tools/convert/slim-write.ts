/**
 * Writing .slim containers (format: host/core/slim-format.ts): a lowered model (tools/convert/lower.ts), its
 * layer records and its tokenizer, laid out and sealed with both CRCs. The writer stores the tensors' bytes
 * as they are; it neither quantizes nor folds anything.
 */
import { fail } from "../../host/core/errors.ts";
import { type ModelConfig, archOf, isMultiHead, shapeProblem } from "../../host/core/model.ts";
import type { AttentionMode, WeightDtype } from "../../host/core/plan.ts";
import { crc32 } from "../../host/core/crc32.ts";
import type { LoweredModel } from "../../host/core/lowered.ts";
import {
  ACTIVATION_CODES, ARCH_CODES, DTYPE_CODES, ENTRY, FIXED_HEADER_BYTES, FLAG, HEADER, LAYER, LAYER_RECORD_BYTES, LAYER_VALUES,
  NORM_CODES, REASON, SLIM_MAGIC, SLIM_OLDEST_VERSION, SLIM_VERSION, TENSOR_ENTRY_BYTES, TENSOR_NAME_BYTES, TOKENIZER_CODES, align16,
  type ReasonCode, type TokenizerKind,
} from "../../host/core/slim-format.ts";
import type { LayerReport } from "./slimify.ts";

// ---------------------------------------------------------------------------------------------------------
// the low-level writer: parts → bytes

/** One tensor as it goes into the file: its bytes in `dtype`. */
export interface RawTensor {
  name: string;
  dtype: WeightDtype;
  shape: number[];
  data: Uint8Array;
}

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
  // Never write what the reader refuses: the same shape limits (host/core/model.ts shapeProblem).
  const problem = shapeProblem(c);
  if (problem) fail("E_MODEL", `the model cannot be written as .slim: its ${problem.replace(/^header field /, "field ")}.`);
  const a = archOf(c);
  const factors = c.ropeFreqFactors ?? null;
  if (factors && (factors.length !== a.rotaryDims / 2 || !factors.every((f) => Number.isFinite(f) && f > 0)))
    fail("E_MODEL", `the model cannot be written as .slim: its RoPE frequency factors are ${factors.length} numbers, expected ${a.rotaryDims / 2} finite numbers > 0 (one per rotary pair).`);
  const tableEnd = FIXED_HEADER_BYTES + LAYER_RECORD_BYTES * p.layers.length + TENSOR_ENTRY_BYTES * p.tensors.length;
  const headerBytes = align16(tableEnd + 8 * (factors?.length ?? 0));
  let end = 0;
  const offsets = p.tensors.map((t) => {
    const at = align16(end);
    end = at + t.data.length;
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
  u32(H.version, a.classifierBias || factors ? SLIM_VERSION : SLIM_OLDEST_VERSION); // 3 only for what version 2 cannot hold: every earlier reader reads the rest
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
      (a.parallelResidual ? FLAG.parallelResidual : 0) | (a.biases ? FLAG.biases : 0) | (a.classifierBias ? FLAG.classifierBias : 0) |
      (factors ? FLAG.ropeFreqFactors : 0),
  );
  f64(H.normEps, c.normEps);
  f64(H.ropeTheta, c.ropeTheta);
  u32(H.groupSize, p.groupSize);
  u32(H.tokenizerKind, p.tokenizer ? TOKENIZER_CODES.indexOf(p.tokenizer.kind) : 0);
  u64(H.tokenizerOffset, tokenizerOffset);
  u64(H.tokenizerBytes, p.tokenizer ? p.tokenizer.bytes.length : 0);
  f64(H.slimThreshold, p.threshold);
  factors?.forEach((f, i) => f64(tableEnd + 8 * i, f));

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
  const total = p.tensors.reduce((n, t) => n + t.data.length, 0);
  let written = 0;
  p.tensors.forEach((t, i) => {
    const at = tableAt + TENSOR_ENTRY_BYTES * i;
    const name = [...t.name].map((ch) => ch.charCodeAt(0));
    out.set(name.slice(0, TENSOR_NAME_BYTES), at + ENTRY.name);
    u32(at + ENTRY.dtype, DTYPE_CODES.indexOf(t.dtype));
    u32(at + ENTRY.nDims, t.shape.length);
    t.shape.slice(0, 4).forEach((s, k) => u32(at + ENTRY.shape + 4 * k, s));
    u64(at + ENTRY.offset, offsets[i]);
    const length = t.data.length;
    u64(at + ENTRY.byteLength, length);
    const place = headerBytes + offsets[i];
    out.set(t.data, place);
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
// lowered model → file

export interface SlimWriteOptions {
  /** What slimify measured per layer (tools/convert/slimify.ts), in the lowered model's modes; null: nothing measured. */
  report: LayerReport[] | null;
  threshold?: number; // the threshold slimify decided with (default 1e-3, slimify's own default)
  tokenizer?: Uint8Array; // embedded as is
  tokenizerKind?: TokenizerKind; // default "llama2c" (tokenizer.bin)
  onProgress?: Progress;
}

/** The reason code of a slimify layer report (the format stores codes; readers turn them back into sentences). */
export function reasonCode(r: LayerReport, c: ModelConfig, threshold: number): ReasonCode {
  if (r.mode === "slim") return REASON.slim;
  if (r.cond === null) return isMultiHead(c) ? REASON.singularWk : REASON.groupedKv;
  const deciding = r.errActivations ?? r.errRandom;
  return deciding !== null && deciding <= threshold ? REASON.vanillaByChoice : REASON.errorAboveThreshold;
}

/** A lowered model, its layer report and its tokenizer as a .slim file. */
export function packSlim(lowered: LoweredModel, o: SlimWriteOptions): Uint8Array {
  const c = lowered.config;
  const threshold = o.threshold ?? 1e-3;
  const report = o.report;
  if (report && report.length !== c.nLayers) fail("E_MODEL", `pack: the slimify report has ${report.length} layers, the model ${c.nLayers}.`);
  report?.forEach((r, l) => {
    if (r.mode !== lowered.modes[l]) fail("E_MODEL", `pack: layer ${l} is ${lowered.modes[l]} in the lowered model but ${r.mode} in the slimify report.`);
  });
  const layers: RawLayer[] = report
    ? report.map((r) => ({ mode: r.mode, reason: reasonCode(r, c, threshold), values: LAYER_VALUES.map((k) => r[k]) }))
    : lowered.modes.map((mode) => ({ mode, reason: mode === "slim" ? REASON.slim : REASON.vanillaByChoice, values: LAYER_VALUES.map(() => null) }));
  if (o.tokenizer && o.tokenizer.length === 0) fail("E_MODEL", "pack: the tokenizer to embed is empty.");
  return encodeSlim(
    {
      config: c,
      layers,
      threshold,
      groupSize: lowered.groupSize,
      tensors: lowered.tensors.map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: t.bytes })),
      tokenizer: o.tokenizer ? { kind: o.tokenizerKind ?? "llama2c", bytes: o.tokenizer } : null,
    },
    o.onProgress,
  );
}


