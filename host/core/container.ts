/**
 * The .slim container: one file holding a model ready for the decoder — its config, the per-layer
 * slim/vanilla decision with the measurements behind it, every tensor, and the tokenizer. Written by
 * tools/pack.ts; read here (TypeScript) and, as a cross-check in the tests, by test/assembly/container.ts.
 * Both readers run the checks below in the same order and report the same status code for the same bytes.
 *
 * # Format version 1
 *
 * Everything is little-endian. u32/u64 are unsigned integers, f64 is IEEE 754 binary64. "align16(n)" is n
 * rounded up to a multiple of 16. Offsets in the tensor table and the tokenizer fields count from the start
 * of the data section.
 *
 * ```
 * ┌ fixed header      128 bytes at 0
 * │ layer records     nLayers × 56 bytes at 128
 * │ tensor table      nTensors × 88 bytes at 128 + 56·nLayers
 * │ zero padding      up to headerBytes = align16(128 + 56·nLayers + 88·nTensors)
 * ├ data section      at headerBytes: tensor data in table order, each starting at a multiple of 16,
 * │                   zero padding between; then the tokenizer blob, if any, at a multiple of 16
 * └ zero padding      up to fileBytes = headerBytes + align16(end of the last tensor or of the tokenizer)
 * ```
 *
 * ## Fixed header (128 bytes)
 *
 * | at  | type  | field            | meaning                                                                     |
 * | --- | ----- | ---------------- | --------------------------------------------------------------------------- |
 * | 0   | 4×u8  | magic            | ASCII "SLIM" (53 4C 49 4D)                                                  |
 * | 4   | u32   | version          | 1                                                                           |
 * | 8   | u32   | header_crc       | CRC-32 of bytes [16, header_bytes): fields below, layer records, table, pad |
 * | 12  | u32   | data_crc         | CRC-32 of bytes [header_bytes, file_bytes): all data, padding included      |
 * | 16  | u32   | header_bytes     | where the data section starts; a multiple of 16                             |
 * | 20  | u32   | n_tensors        | entries in the tensor table, ≥ 1                                            |
 * | 24  | u64   | file_bytes       | length of the whole file                                                    |
 * | 32  | u32   | arch             | 0 llama, 1 gpt2, 2 neox                                                     |
 * | 36  | u32   | dim              | transformer width d                                                         |
 * | 40  | u32   | hidden_dim       | FFN inner width                                                             |
 * | 44  | u32   | n_layers         |                                                                             |
 * | 48  | u32   | n_heads          | query heads; dim % n_heads = 0                                              |
 * | 52  | u32   | n_kv_heads       | key/value heads; n_heads % n_kv_heads = 0                                   |
 * | 56  | u32   | vocab_size       |                                                                             |
 * | 60  | u32   | seq_len          | longest context the model was built for                                     |
 * | 64  | u32   | rotary_dims      | dims per head RoPE rotates (adjacent pairs); even, ≤ dim / n_heads; 0 = none |
 * | 68  | u32   | norm             | 0 RMSNorm (weight), 1 LayerNorm (weight and bias)                           |
 * | 72  | u32   | activation       | 0 swiglu, 1 gelu (erf), 2 gelu_tanh                                         |
 * | 76  | u32   | flags            | bit 0 shared classifier, 1 learned positions, 2 parallel residual,          |
 * |     |       |                  | 3 biases (q, k, v, o, both FFN projections); other bits 0                   |
 * | 80  | f64   | norm_eps         | finite, > 0                                                                 |
 * | 88  | f64   | rope_theta       | finite; > 0 when rotary_dims > 0, else ≥ 0                                  |
 * | 96  | u32   | group_size       | values per scale of q8_0/q4_0 tensors (q4_0: 32); 0, or even and ≥ 2        |
 * | 100 | u32   | tokenizer_kind   | 0 none, 1 llama2.c tokenizer.bin, 2 Hugging Face tokenizer.json (UTF-8)     |
 * | 104 | u64   | tokenizer_offset | in the data section, a multiple of 16; 0 when kind is 0                     |
 * | 112 | u64   | tokenizer_bytes  | ≥ 1; 0 when kind is 0                                                       |
 * | 120 | f64   | slim_threshold   | the V-reconstruction error slimify allowed a slim layer; finite, ≥ 0        |
 *
 * The seven dimension fields are between 1 and 2^24, so every element count and byte length stays exact in
 * an f64 and an u64.
 *
 * ## Layer record (56 bytes, one per layer, in layer order)
 *
 * | at | type | field     | meaning                                                                         |
 * | -- | ---- | --------- | ------------------------------------------------------------------------------- |
 * | 0  | u32  | mode      | 0 vanilla (K- and V-cache, stores `wv`), 1 slim (K-cache only, stores `wkv`)     |
 * | 4  | u32  | reason    | why: 0 slim; 1 V-reconstruction error above slim_threshold; 2 W_K singular;       |
 * |    |      |           | 3 grouped K/V (W_K not square); 4 vanilla by choice. Slim ⇔ reason 0.            |
 * | 8  | u32  | measured  | bit k set: value k below was measured; other bits 0; unmeasured values are +0.0 |
 * | 12 | u32  | reserved  | 0                                                                               |
 * | 16 | f64  | value 0   | cond(W_K), estimated 2-norm condition number                                    |
 * | 24 | f64  | value 1   | max abs(W_KV) entry                                                             |
 * | 32 | f64  | value 2   | relative V error on seeded random inputs, K and W_KV at f32                     |
 * | 40 | f64  | value 3   | relative V error on a calibration prompt's activations, K and W_KV at f32        |
 * | 48 | f64  | value 4   | the deciding error (3 if measured, else 2) with all math in float64             |
 *
 * A slim layer needs n_kv_heads = n_heads.
 *
 * ## Tensor table entry (88 bytes)
 *
 * | at | type  | field       | meaning                                                                     |
 * | -- | ----- | ----------- | --------------------------------------------------------------------------- |
 * | 0  | 48×u8 | name        | 1..48 bytes of [a-z0-9._], then NUL bytes to the end of the field           |
 * | 48 | u32   | dtype       | 0 f32, 1 f16 (binary16), 2 q8_0, 3 q4_0                                     |
 * | 52 | u32   | n_dims      | 1..4                                                                        |
 * | 56 | 4×u32 | shape       | outermost first (matrices are out × in, row-major); unused dims 0, used ≥ 1 |
 * | 72 | u64   | offset      | in the data section; a multiple of 16; ≥ the previous entry's offset+length |
 * | 80 | u64   | byte_length | f32 4n, f16 2n, q8_0 n + 4n/g, q4_0 n/2 + 4n/g (n values, g = group_size)   |
 *
 * The quantized layouts are host/quant.ts's (q8Bytes, q4Bytes), which the decoder's arena holds as is:
 *
 * - q8_0: n int8 values (row-major), then n/g f32 scales; value i = int8[i] · scale[⌊i/g⌋].
 * - q4_0: g must be 32. n/2 bytes: per group of 32 values, 16 bytes, byte j holding value j of the group
 *   in its low nibble and value j + 16 in its high nibble, each stored as q + 8 (q in −8..7); then n/g
 *   f32 scales; value = q · scale of its group.
 *
 * Groups run along the rows, so the last dim must be a multiple of g. Vectors (1-D tensors) are always f32.
 * tools/pack.ts stores every matrix in the chosen dtype except W_KV, and under q8_0 / q4_0 also keeps the
 * position embedding and slim layers' W_K in f32 (the decoder keeps them f32: host/plan.ts). Both readers
 * check structure only (a q4_0 entry with g ≠ 32 passes the checks below); readSlim decodes every tensor
 * to f32 — q8_0 / q4_0 exactly as host/quant.ts dequantizeQ8 / dequantizeQ4 — and refuses q4_0 with
 * g ≠ 32 with E_MODEL.
 *
 * ## Tensors
 *
 * Exactly this set, in any table order (the writer uses this order); `L` is a layer number in decimal
 * without leading zeros, kvDim = dim · n_kv_heads / n_heads:
 *
 * ```
 * token_embedding          vocab × dim
 * position_embedding       seq_len × dim          learned positions only
 * layers.L.attn_norm       dim
 * layers.L.attn_norm_bias  dim                    LayerNorm only
 * layers.L.wq              dim × dim
 * layers.L.bq              dim                    biases only
 * layers.L.wk              kvDim × dim
 * layers.L.bk              kvDim                  biases only
 * layers.L.wv              kvDim × dim            vanilla layers: W_V
 * layers.L.wkv             dim × dim              slim layers: W_KV = W_V·W_K⁻¹ (v = W_KV k, keys before RoPE)
 * layers.L.bv              kvDim                  biases only (slim layers keep b_K and b_V unfolded)
 * layers.L.wo              dim × dim
 * layers.L.bo              dim                    biases only
 * layers.L.ffn_norm        dim
 * layers.L.ffn_norm_bias   dim                    LayerNorm only
 * layers.L.w1              hidden_dim × dim       SwiGLU gate, or the GELU up-projection
 * layers.L.b1              hidden_dim             biases only
 * layers.L.w2              dim × hidden_dim
 * layers.L.b2              dim                    biases only
 * layers.L.w3              hidden_dim × dim       SwiGLU only
 * final_norm               dim
 * final_norm_bias          dim                    LayerNorm only
 * classifier               vocab × dim            unshared classifier only
 * ```
 *
 * ## Checks, in order (the first that fails is reported; status codes in SLIM_STATUS)
 *
 *  1. file ≥ 4 bytes, magic "SLIM", file ≥ 8 bytes, version 1, file ≥ 128 bytes
 *  2. header_bytes a multiple of 16 and ≥ 128; header_bytes ≤ file length
 *  3. header_crc over [16, header_bytes)
 *  4. header fields in range (above); header_bytes = align16(128 + 56·n_layers + 88·n_tensors)
 *  5. file_bytes = file length
 *  6. data_crc over [header_bytes, file_bytes)
 *  7. layer records, in order
 *  8. tensor entries, in order: name bytes, dtype code, n_dims and shape fields; a tensor of this model;
 *     not a duplicate; shape; dtype allowed and byte_length; offset aligned, after the previous entry's
 *     end, inside the data section
 *  9. no tensor missing (reported in the order of the list above)
 * 10. tokenizer: kind 0 has offset and length 0; otherwise offset aligned, after the last tensor's end,
 *     inside the data section
 * 11. the data section ends at align16 of the last tensor's or the tokenizer's end
 *
 * Every byte of the file is covered by a check: the magic and version by value, bytes 8..16 as the CRCs
 * themselves, everything after by one of the two CRCs (padding included) — so no corruption passes.
 */
import { existsSync, openSync, readSync, closeSync } from "node:fs";
import { dirname, join } from "node:path";
import { SlimError, fail } from "./errors.ts";
import { readWholeFile } from "./files.ts";
import { type Arch, type LayerWeights, type Model, type ModelConfig, type ModelWeights, kvDim } from "./model.ts";
import type { AttentionMode, SlimLayers, WeightDtype } from "./plan.ts";
import { crc32, hex32 } from "./crc32.ts";
import { dequantizeQ4, dequantizeQ8 } from "./quant.ts";
import { readTokenizer, loadTokenizer, type Tokenizer } from "./tokenizer.ts";
import {
  SLIM_VERSION as ABI_SLIM_VERSION, SLIM_FIXED_HEADER_BYTES, SLIM_LAYER_RECORD_BYTES, SLIM_TENSOR_ENTRY_BYTES, SLIM_TENSOR_NAME_BYTES,
  SLIM_MAX_DIMS, SLIM_MAX_DIM, SLIM_DATA_ALIGN, SLIM_TOP_TENSORS_COUNT, SlimHeader, SlimLayer, SlimEntry, SlimFlag, SlimStatus,
} from "./abi.generated.ts";

// ---------------------------------------------------------------------------------------------------------
// layout constants (the ABI schema, host/core/abi.ts, declares them for both readers)

export const SLIM_MAGIC = "SLIM";
export const SLIM_VERSION = ABI_SLIM_VERSION;
export const FIXED_HEADER_BYTES = SLIM_FIXED_HEADER_BYTES;
export const LAYER_RECORD_BYTES = SLIM_LAYER_RECORD_BYTES;
export const TENSOR_ENTRY_BYTES = SLIM_TENSOR_ENTRY_BYTES;
export const TENSOR_NAME_BYTES = SLIM_TENSOR_NAME_BYTES;
export const MAX_DIMS = SLIM_MAX_DIMS;
/** Largest value of a dimension field. */
export const MAX_DIM = SLIM_MAX_DIM;
/** Tensor data and the tokenizer start on 16-byte boundaries (v128 loads, flash execute-in-place). */
export const DATA_ALIGN = SLIM_DATA_ALIGN;

/** Byte offsets of the fixed header fields. */
export const HEADER = SlimHeader;
/** Byte offsets inside a layer record. */
export const LAYER = SlimLayer;
/** Byte offsets inside a tensor table entry. */
export const ENTRY = SlimEntry;

export const ARCH_CODES: readonly Arch[] = ["llama", "gpt2", "neox"];
export const NORM_CODES = ["rms", "layer"] as const;
export const ACTIVATION_CODES = ["swiglu", "gelu", "gelu_tanh"] as const;
export const DTYPE_CODES: readonly WeightDtype[] = ["f32", "f16", "q8_0", "q4_0"];
export type TokenizerKind = "llama2c" | "hf-json";
/** tokenizer_kind codes; 0 = none. */
export const TOKENIZER_CODES: readonly (TokenizerKind | null)[] = [null, "llama2c", "hf-json"];
export const FLAG = SlimFlag;

/** Why a layer runs as it does (layer record field `reason`). */
export const REASON = { slim: 0, errorAboveThreshold: 1, singularWk: 2, groupedKv: 3, vanillaByChoice: 4 } as const;
export type ReasonCode = (typeof REASON)[keyof typeof REASON];
/** The five measured values of a layer record, in their order. */
export const LAYER_VALUES = ["cond", "maxAbsWkv", "errRandom", "errActivations", "errFloat64"] as const;

/** Status codes of both readers (test/assembly/container.ts returns the same numbers from check()). */
export const SLIM_STATUS = SlimStatus;
export type SlimStatus = (typeof SLIM_STATUS)[keyof typeof SLIM_STATUS];
export const statusName = (s: number): string => Object.entries(SLIM_STATUS).find(([, v]) => v === s)?.[0] ?? `status ${s}`;

/** A broken .slim file: always code E_FORMAT; `status` says which check failed, `index` which entry/layer (-1: none). */
export class ContainerError extends SlimError {
  constructor(
    readonly status: SlimStatus,
    readonly index: number,
    message: string,
  ) {
    super("E_FORMAT", message);
  }
}

export const align16 = (n: number): number => Math.ceil(n / DATA_ALIGN) * DATA_ALIGN;

// ---------------------------------------------------------------------------------------------------------
// the tensors a config has

/** One expected tensor: its name, shape and the shape in words for messages. */
export interface TensorSpec {
  name: string;
  shape: number[];
  shapeText: string; // e.g. "kvDim × dim"
  slot: number; // 0..4 top-level, 5 + 18·layer + kind index (test/assembly/container.ts numbers them the same way)
}

interface Dims {
  dim: number;
  hidden: number;
  kv: number;
  vocab: number;
  seq: number;
}
type Present = (c: Required<Pick<ModelConfig, "norm" | "activation" | "learnedPositions" | "biases" | "sharedClassifier">>, mode: AttentionMode) => boolean;
interface Kind {
  suffix: string;
  field: keyof LayerWeights | "wkv";
  shape: (d: Dims) => number[];
  text: string;
  present: Present;
}

const always: Present = () => true;
const layerNorm: Present = (a) => a.norm === "layer";
const withBiases: Present = (a) => a.biases;

/** Per-layer tensors in file order; the index is the kind number of the slot. */
export const LAYER_KINDS: readonly Kind[] = [
  { suffix: "attn_norm", field: "attnNorm", shape: (d) => [d.dim], text: "dim", present: always },
  { suffix: "attn_norm_bias", field: "attnNormBias", shape: (d) => [d.dim], text: "dim", present: layerNorm },
  { suffix: "wq", field: "wq", shape: (d) => [d.dim, d.dim], text: "dim × dim", present: always },
  { suffix: "bq", field: "bq", shape: (d) => [d.dim], text: "dim", present: withBiases },
  { suffix: "wk", field: "wk", shape: (d) => [d.kv, d.dim], text: "kvDim × dim", present: always },
  { suffix: "bk", field: "bk", shape: (d) => [d.kv], text: "kvDim", present: withBiases },
  { suffix: "wv", field: "wv", shape: (d) => [d.kv, d.dim], text: "kvDim × dim", present: (_, m) => m === "vanilla" },
  { suffix: "wkv", field: "wkv", shape: (d) => [d.dim, d.dim], text: "dim × dim", present: (_, m) => m === "slim" },
  { suffix: "bv", field: "bv", shape: (d) => [d.kv], text: "kvDim", present: withBiases },
  { suffix: "wo", field: "wo", shape: (d) => [d.dim, d.dim], text: "dim × dim", present: always },
  { suffix: "bo", field: "bo", shape: (d) => [d.dim], text: "dim", present: withBiases },
  { suffix: "ffn_norm", field: "ffnNorm", shape: (d) => [d.dim], text: "dim", present: always },
  { suffix: "ffn_norm_bias", field: "ffnNormBias", shape: (d) => [d.dim], text: "dim", present: layerNorm },
  { suffix: "w1", field: "w1", shape: (d) => [d.hidden, d.dim], text: "hidden_dim × dim", present: always },
  { suffix: "b1", field: "b1", shape: (d) => [d.hidden], text: "hidden_dim", present: withBiases },
  { suffix: "w2", field: "w2", shape: (d) => [d.dim, d.hidden], text: "dim × hidden_dim", present: always },
  { suffix: "b2", field: "b2", shape: (d) => [d.dim], text: "dim", present: withBiases },
  { suffix: "w3", field: "w3", shape: (d) => [d.hidden, d.dim], text: "hidden_dim × dim", present: (a) => a.activation === "swiglu" },
];
export const TOP_SLOTS = SLIM_TOP_TENSORS_COUNT;

/** Every tensor a model with this config and these layer modes stores, in file order. */
export function slimTensorList(c: ModelConfig, modes: readonly AttentionMode[]): TensorSpec[] {
  const a = {
    norm: c.norm ?? "rms",
    activation: c.activation ?? "swiglu",
    learnedPositions: c.learnedPositions ?? false,
    biases: c.biases ?? false,
    sharedClassifier: c.sharedClassifier,
  };
  const d: Dims = { dim: c.dim, hidden: c.hiddenDim, kv: kvDim(c), vocab: c.vocabSize, seq: c.seqLen };
  const list: TensorSpec[] = [{ name: "token_embedding", shape: [d.vocab, d.dim], shapeText: "vocab_size × dim", slot: 0 }];
  if (a.learnedPositions) list.push({ name: "position_embedding", shape: [d.seq, d.dim], shapeText: "seq_len × dim", slot: 1 });
  modes.forEach((mode, l) => {
    LAYER_KINDS.forEach((k, i) => {
      if (k.present(a, mode)) list.push({ name: `layers.${l}.${k.suffix}`, shape: k.shape(d), shapeText: k.text, slot: TOP_SLOTS + LAYER_KINDS.length * l + i });
    });
  });
  list.push({ name: "final_norm", shape: [d.dim], shapeText: "dim", slot: 2 });
  if (a.norm === "layer") list.push({ name: "final_norm_bias", shape: [d.dim], shapeText: "dim", slot: 3 });
  if (!a.sharedClassifier) list.push({ name: "classifier", shape: [d.vocab, d.dim], shapeText: "vocab_size × dim", slot: 4 });
  return list;
}

/** Bytes of n values of `dtype` with g values per scale (host/plan.ts matrixBytes, which it must equal). */
export function tensorBytes(n: number, dtype: WeightDtype, g: number): number {
  switch (dtype) {
    case "f32":
      return 4 * n;
    case "f16":
      return 2 * n;
    case "q8_0":
      return n + 4 * (n / g);
    case "q4_0":
      return n / 2 + 4 * (n / g);
  }
}

// ---------------------------------------------------------------------------------------------------------
// what a reader returns

/** One tensor table entry. */
export interface TensorEntry {
  name: string;
  dtype: WeightDtype;
  shape: number[];
  offset: number; // in the data section
  byteLength: number;
}

/** One layer record, shaped like tools/slimify.ts LayerReport so the report formatter takes it as is. */
export interface LayerRecord {
  layer: number;
  mode: AttentionMode;
  reasonCode: ReasonCode;
  reason?: string; // the reason as a sentence, for vanilla layers
  cond: number | null;
  maxAbsWkv: number | null;
  errRandom: number | null;
  errActivations: number | null;
  errFloat64: number | null;
}

/** A checked .slim file: everything but the decoded tensors (checkSlim), enough to inspect it. */
export interface SlimHeader {
  version: number;
  config: ModelConfig; // every architecture field filled in
  layers: LayerRecord[];
  threshold: number;
  groupSize: number;
  tensors: TensorEntry[];
  tokenizerKind: TokenizerKind | null;
  tokenizerOffset: number;
  tokenizerBytes: number;
  headerBytes: number;
  fileBytes: number;
  headerCrc: number; // stored and verified
  dataCrc: number; // stored and verified
}

/** A .slim file read whole. */
export interface SlimFile extends SlimHeader {
  /**
   * The model. Slim layers do not store W_V: their `wv` is reconstructed on first access as W_KV·W_K
   * (float64, rounded to f32) — the decoder never reads it for a slim layer, but a vanilla run or a
   * re-pack can.
   */
  model: Model;
  modes: AttentionMode[];
  wkv: (Float32Array | null)[]; // per layer, (dim, dim) for slim layers, null for vanilla ones
  tokenizer: Uint8Array | null; // the embedded tokenizer's bytes (a copy), kind in tokenizerKind
}

// ---------------------------------------------------------------------------------------------------------
// the checks

/** Field reader that never reads past the end: every caller has checked the length first. */
class Bytes {
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u32 = (at: number): number => this.view.getUint32(at, true);
  u64 = (at: number): number => Number(this.view.getBigUint64(at, true)); // > 2^53 only ever fails a comparison
  f64 = (at: number): number => this.view.getFloat64(at, true);
}

const sayShape = (s: readonly number[]): string => s.join("×");
const ascii = (b: Uint8Array): string => JSON.stringify(String.fromCharCode(...b));

/**
 * Runs every check of the format on `bytes` and returns the header, layer records and tensor table;
 * tensors are not decoded. `name` is the file named in messages. Throws ContainerError (E_FORMAT) naming
 * the broken part.
 */
export function checkSlim(bytes: Uint8Array, name: string): SlimHeader {
  const len = bytes.length;
  const b = new Bytes(bytes);
  const broken = (status: SlimStatus, message: string, index = -1): never => {
    throw new ContainerError(status, index, `${name}: ${message}`);
  };
  const S = SLIM_STATUS;
  const H = HEADER;

  // 1. magic and version
  if (len < 4) broken(S.TRUNCATED_HEADER, `file is ${len} bytes, too short for the 4-byte "SLIM" magic (truncated, or not a .slim file).`);
  if (!startsWith(bytes, SLIM_MAGIC)) {
    const hint = startsWith(bytes, "ak42") ? ' (it starts like a llama2.c checkpoint; convert it with "slimedge convert")' : startsWith(bytes, "GGUF") ? " (it is a GGUF file)" : "";
    broken(S.BAD_MAGIC, `magic is ${ascii(bytes.subarray(0, 4))}, not "SLIM", so this is not a .slim file${hint}.`);
  }
  if (len < 8) broken(S.TRUNCATED_HEADER, `truncated header: file is ${len} bytes, ending before the format version field at byte 4.`);
  const version = b.u32(H.version);
  if (version !== SLIM_VERSION) broken(S.BAD_VERSION, `format version is ${version}, but this reader knows .slim version ${SLIM_VERSION} only.`);
  if (len < FIXED_HEADER_BYTES) broken(S.TRUNCATED_HEADER, `truncated header: file is ${len} bytes, shorter than the ${FIXED_HEADER_BYTES}-byte fixed header.`);

  // 2–3. header length and its CRC
  const headerBytes = b.u32(H.headerBytes);
  if (headerBytes < FIXED_HEADER_BYTES || headerBytes % DATA_ALIGN !== 0)
    broken(S.BAD_HEADER_LENGTH, `header field header_bytes is ${headerBytes}, expected a multiple of ${DATA_ALIGN} of at least ${FIXED_HEADER_BYTES}.`);
  if (headerBytes > len) broken(S.TRUNCATED_HEADER, `truncated header: header field header_bytes says the header is ${headerBytes} bytes, but the file has ${len}.`);
  const headerCrc = b.u32(H.headerCrc);
  const headerComputed = crc32(bytes.subarray(16, headerBytes));
  if (headerCrc !== headerComputed)
    broken(S.HEADER_CRC, `header CRC mismatch (stored ${hex32(headerCrc)}, computed ${hex32(headerComputed)} over bytes 16..${headerBytes}): the header, layer records or tensor table are corrupt.`);

  // 4. header fields
  const field = (f: string, v: number | string, expected: string): never => broken(S.BAD_FIELD, `header field ${f} is ${v}, expected ${expected}.`);
  const code = <T>(f: string, table: readonly T[]): T => {
    const v = b.u32((H as Record<string, number>)[camel(f)]);
    if (v >= table.length) field(f, v, table.map((t, i) => `${i} (${t ?? "none"})`).join(", "));
    return table[v];
  };
  const arch = code("arch", ARCH_CODES);
  const dims: Record<string, number> = {};
  for (const f of ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"]) {
    const v = b.u32((H as Record<string, number>)[camel(f)]);
    if (v < 1 || v > MAX_DIM) field(f, v, `between 1 and ${MAX_DIM}`);
    dims[f] = v;
  }
  const { dim, n_layers: nLayers, n_heads: nHeads, n_kv_heads: nKvHeads } = dims;
  if (dim % nHeads !== 0) field("dim", dim, `a multiple of n_heads=${nHeads}`);
  if (nHeads % nKvHeads !== 0) field("n_heads", nHeads, `a multiple of n_kv_heads=${nKvHeads}`);
  const rotaryDims = b.u32(H.rotaryDims);
  if (rotaryDims % 2 !== 0 || rotaryDims > dim / nHeads) field("rotary_dims", rotaryDims, `an even number ≤ the head size ${dim / nHeads}`);
  const norm = code("norm", NORM_CODES);
  const activation = code("activation", ACTIVATION_CODES);
  const flags = b.u32(H.flags);
  if (flags > 0xf) field("flags", hex32(flags), "only bits 0..3 (shared classifier, learned positions, parallel residual, biases)");
  const normEps = b.f64(H.normEps);
  if (!(Number.isFinite(normEps) && normEps > 0)) field("norm_eps", normEps, "a finite number > 0");
  const ropeTheta = b.f64(H.ropeTheta);
  if (!(Number.isFinite(ropeTheta) && (rotaryDims > 0 ? ropeTheta > 0 : ropeTheta >= 0)))
    field("rope_theta", ropeTheta, rotaryDims > 0 ? "a finite number > 0" : "a finite number ≥ 0");
  const groupSize = b.u32(H.groupSize);
  if (groupSize !== 0 && (groupSize < 2 || groupSize % 2 !== 0)) field("group_size", groupSize, "0, or an even number ≥ 2");
  const tokenizerKind = code("tokenizer_kind", TOKENIZER_CODES);
  const threshold = b.f64(H.slimThreshold);
  if (!(Number.isFinite(threshold) && threshold >= 0)) field("slim_threshold", threshold, "a finite number ≥ 0");
  const nTensors = b.u32(H.nTensors);
  if (nTensors < 1) field("n_tensors", nTensors, "at least 1");
  const needed = align16(FIXED_HEADER_BYTES + LAYER_RECORD_BYTES * nLayers + TENSOR_ENTRY_BYTES * nTensors);
  if (headerBytes !== needed)
    broken(S.BAD_HEADER_LENGTH, `header field header_bytes is ${headerBytes}, but ${nLayers} layer records and ${nTensors} tensor entries need ${needed}.`);

  // 5–6. file length and the data CRC
  const fileBytes = b.u64(H.fileBytes);
  if (fileBytes !== len)
    broken(S.FILE_LENGTH, len < fileBytes ? `truncated: file is ${len} bytes, but header field file_bytes says ${fileBytes}.` : `file is ${len} bytes, ${len - fileBytes} more than header field file_bytes (${fileBytes}) declares: trailing bytes.`);
  const dataCrc = b.u32(H.dataCrc);
  const dataComputed = crc32(bytes.subarray(headerBytes, len));
  if (dataCrc !== dataComputed)
    broken(S.DATA_CRC, `data CRC mismatch (stored ${hex32(dataCrc)}, computed ${hex32(dataComputed)} over bytes ${headerBytes}..${len}): tensor data or the tokenizer is corrupt.`);

  const config: ModelConfig = {
    arch,
    dim,
    hiddenDim: dims.hidden_dim,
    nLayers,
    nHeads,
    nKvHeads,
    vocabSize: dims.vocab_size,
    seqLen: dims.seq_len,
    normEps,
    ropeTheta,
    sharedClassifier: (flags & FLAG.sharedClassifier) !== 0,
    norm,
    activation,
    rotaryDims,
    learnedPositions: (flags & FLAG.learnedPositions) !== 0,
    parallelResidual: (flags & FLAG.parallelResidual) !== 0,
    biases: (flags & FLAG.biases) !== 0,
  };

  // 7. layer records
  const layers: LayerRecord[] = [];
  for (let l = 0; l < nLayers; l++) {
    const at = FIXED_HEADER_BYTES + LAYER_RECORD_BYTES * l;
    const bad = (what: string): never => broken(S.BAD_LAYER, `layer record ${l}: ${what}.`, l);
    const mode = b.u32(at + LAYER.mode);
    const reason = b.u32(at + LAYER.reason);
    const measured = b.u32(at + LAYER.measured);
    if (mode > 1) bad(`mode is ${mode}, expected 0 (vanilla) or 1 (slim)`);
    if (reason > 4) bad(`reason is ${reason}, expected 0..4`);
    if ((mode === 1) !== (reason === 0)) bad(`mode ${mode} (${mode === 1 ? "slim" : "vanilla"}) with reason ${reason}; a layer is slim exactly when its reason is 0`);
    if (mode === 1 && nKvHeads !== nHeads) bad(`slim, but the model has grouped K/V (n_kv_heads ${nKvHeads} < n_heads ${nHeads}), which slim attention does not apply to`);
    if (measured > 0x1f) bad(`measured is ${hex32(measured)}, expected only bits 0..4`);
    if (b.u32(at + LAYER.reserved) !== 0) bad(`reserved field is ${b.u32(at + LAYER.reserved)}, expected 0`);
    const values = LAYER_VALUES.map((v, k) => {
      const x = b.f64(at + LAYER.values + 8 * k);
      if (measured & (1 << k)) return x;
      if (!Object.is(x, 0)) bad(`${v} is marked unmeasured but holds ${x}, expected 0`);
      return null;
    });
    const [cond, maxAbsWkv, errRandom, errActivations, errFloat64] = values;
    const rec: LayerRecord = { layer: l, mode: mode === 1 ? "slim" : "vanilla", reasonCode: reason as ReasonCode, cond, maxAbsWkv, errRandom, errActivations, errFloat64 };
    if (mode === 0) rec.reason = reasonSentence(rec, config, threshold);
    layers.push(rec);
  }
  const modes = layers.map((r) => r.mode);

  // 8. tensor table
  const expected = new Map(slimTensorList(config, modes).map((t) => [t.name, t]));
  const seen = new Map<string, number>();
  const dataBytes = len - headerBytes;
  const tableAt = FIXED_HEADER_BYTES + LAYER_RECORD_BYTES * nLayers;
  const tensors: TensorEntry[] = [];
  let prevEnd = 0;
  for (let i = 0; i < nTensors; i++) {
    const at = tableAt + TENSOR_ENTRY_BYTES * i;
    const tname = entryName(bytes.subarray(at, at + TENSOR_NAME_BYTES));
    const label = `tensor table entry ${i}${tname === null ? "" : ` (${tname})`}`;
    const entryBroken = (status: SlimStatus, what: string): never => broken(status, `${label}: ${what}.`, i);
    if (tname === null) entryBroken(S.BAD_TENSOR_ENTRY, `name field is not 1..${TENSOR_NAME_BYTES} bytes of [a-z0-9._] padded with NUL bytes`);
    const dcode = b.u32(at + ENTRY.dtype);
    if (dcode >= DTYPE_CODES.length) entryBroken(S.BAD_TENSOR_ENTRY, `dtype code ${dcode} is unknown (0 f32, 1 f16, 2 q8_0, 3 q4_0)`);
    const dtype = DTYPE_CODES[dcode];
    const nDims = b.u32(at + ENTRY.nDims);
    if (nDims < 1 || nDims > MAX_DIMS) entryBroken(S.BAD_TENSOR_ENTRY, `n_dims is ${nDims}, expected 1..${MAX_DIMS}`);
    const shapeField = [0, 1, 2, 3].map((k) => b.u32(at + ENTRY.shape + 4 * k));
    const shape = shapeField.slice(0, nDims);
    if (shape.some((s) => s < 1) || shapeField.slice(nDims).some((s) => s !== 0))
      entryBroken(S.BAD_TENSOR_ENTRY, `shape field is ${shapeField.join(", ")} with n_dims ${nDims}; used dims must be ≥ 1 and unused ones 0`);
    const spec = expected.get(tname!);
    if (!spec) entryBroken(S.UNEXPECTED_TENSOR, `not a tensor of this model (${unexpectedWhy(tname!, config, modes)})`);
    const first = seen.get(tname!);
    if (first !== undefined) entryBroken(S.DUPLICATE_TENSOR, `duplicate of entry ${first}`);
    seen.set(tname!, i);
    if (sayShape(shape) !== sayShape(spec!.shape))
      broken(S.TENSOR_SHAPE, `tensor ${tname} (table entry ${i}): shape ${sayShape(shape)} does not match the config (${spec!.shapeText} = ${sayShape(spec!.shape)}).`, i);
    const n = shape.reduce((p, s) => p * s, 1);
    if (nDims === 1 && dtype !== "f32") entryBroken(S.TENSOR_DTYPE, `dtype ${dtype}, but vectors (norms, biases) are stored as f32`);
    if (dtype === "q8_0" || dtype === "q4_0") {
      if (groupSize === 0) entryBroken(S.TENSOR_DTYPE, `dtype ${dtype}, but header field group_size is 0`);
      if (shape[nDims - 1] % groupSize !== 0) entryBroken(S.TENSOR_DTYPE, `rows of ${shape[nDims - 1]} values do not split into ${dtype} groups of group_size ${groupSize}`);
    }
    const want = tensorBytes(n, dtype, groupSize);
    const byteLength = b.u64(at + ENTRY.byteLength);
    if (byteLength !== want) entryBroken(S.TENSOR_DTYPE, `byte_length is ${byteLength}, but ${sayShape(shape)} ${dtype} values take ${want}`);
    const offset = b.u64(at + ENTRY.offset);
    if (offset % DATA_ALIGN !== 0) entryBroken(S.TENSOR_BOUNDS, `offset ${offset} is not a multiple of ${DATA_ALIGN}`);
    if (offset < prevEnd) entryBroken(S.TENSOR_BOUNDS, `offset ${offset} starts before the end (${prevEnd}) of entry ${i - 1}; tensor data must follow the table order without overlap`);
    if (offset > dataBytes || byteLength > dataBytes - offset)
      entryBroken(S.TENSOR_BOUNDS, `offset ${offset} + length ${byteLength} is beyond the data section (${dataBytes} bytes)`);
    prevEnd = offset + byteLength;
    tensors.push({ name: tname!, dtype, shape, offset, byteLength });
  }

  // 9. missing tensors
  for (const t of expected.values()) {
    if (!seen.has(t.name)) broken(S.MISSING_TENSOR, `tensor ${t.name} (${t.shapeText}) is missing from the tensor table; ${missingWhy(t.name, config, modes)}.`);
  }

  // 10. tokenizer
  const tokenizerOffset = b.u64(H.tokenizerOffset);
  const tokenizerBytes = b.u64(H.tokenizerBytes);
  const tok = (what: string): never => broken(S.BAD_TOKENIZER, `tokenizer: ${what}.`);
  if (tokenizerKind === null) {
    if (tokenizerOffset !== 0 || tokenizerBytes !== 0) tok(`kind 0 (none) with offset ${tokenizerOffset} and length ${tokenizerBytes}, expected 0 and 0`);
  } else {
    if (tokenizerBytes < 1) tok(`kind ${tokenizerKind} with length 0`);
    if (tokenizerOffset % DATA_ALIGN !== 0) tok(`offset ${tokenizerOffset} is not a multiple of ${DATA_ALIGN}`);
    if (tokenizerOffset < prevEnd) tok(`offset ${tokenizerOffset} starts before the end (${prevEnd}) of the last tensor`);
    if (tokenizerOffset > dataBytes || tokenizerBytes > dataBytes - tokenizerOffset)
      tok(`offset ${tokenizerOffset} + length ${tokenizerBytes} is beyond the data section (${dataBytes} bytes)`);
  }

  // 11. nothing after the last item but its padding
  const end = tokenizerKind === null ? prevEnd : tokenizerOffset + tokenizerBytes;
  if (dataBytes !== align16(end))
    broken(S.DATA_LENGTH, `the data section is ${dataBytes} bytes, but its last ${tokenizerKind === null ? "tensor" : "item (the tokenizer)"} ends at ${end}, so it should be ${align16(end)} (padded to ${DATA_ALIGN}).`);

  return { version, config, layers, threshold, groupSize, tensors, tokenizerKind, tokenizerOffset, tokenizerBytes, headerBytes, fileBytes, headerCrc, dataCrc };
}

const camel = (f: string): string => f.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

function startsWith(bytes: Uint8Array, text: string): boolean {
  return bytes.length >= text.length && [...text].every((ch, i) => bytes[i] === ch.charCodeAt(0));
}

/** The name in a 48-byte field, or null when it is not 1..48 bytes of [a-z0-9._] followed only by NULs. */
function entryName(field: Uint8Array): string | null {
  let n = 0;
  while (n < field.length && field[n] !== 0) n++;
  if (n === 0) return null;
  for (let i = n; i < field.length; i++) if (field[i] !== 0) return null;
  for (let i = 0; i < n; i++) {
    const c = field[i];
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x5f;
    if (!ok) return null;
  }
  return String.fromCharCode(...field.subarray(0, n));
}

/** Why a well-formed name is not expected, in the words most likely to help. */
function unexpectedWhy(tname: string, c: ModelConfig, modes: readonly AttentionMode[]): string {
  const m = /^layers\.(\d+)\.(.+)$/.exec(tname);
  if (m) {
    const l = Number(m[1]);
    if (String(l) !== m[1]) return "layer numbers are written without leading zeros";
    if (l >= c.nLayers) return `the model has layers 0..${c.nLayers - 1}`;
    if (m[2] === "wv" && modes[l] === "slim") return `layer ${l} is slim, which stores layers.${l}.wkv instead`;
    if (m[2] === "wkv" && modes[l] === "vanilla") return `layer ${l} is vanilla, which stores layers.${l}.wv instead`;
  }
  return `a ${c.arch} model with ${archWords(c)} has no such tensor`;
}

function missingWhy(tname: string, c: ModelConfig, modes: readonly AttentionMode[]): string {
  const m = /^layers\.(\d+)\.(wv|wkv)$/.exec(tname);
  if (m) return `layer ${m[1]} is ${modes[Number(m[1])]}`;
  return `a ${c.arch} model with ${archWords(c)} needs it`;
}

/** "RMSNorm, SwiGLU, RoPE on 16 of 16 head dims, no biases, shared classifier" */
export function archWords(c: ModelConfig): string {
  const head = c.dim / c.nHeads;
  const rot = c.rotaryDims ?? head;
  return [
    (c.norm ?? "rms") === "rms" ? "RMSNorm" : "LayerNorm",
    { swiglu: "SwiGLU", gelu: "GELU", gelu_tanh: "GELU (tanh)" }[c.activation ?? "swiglu"],
    rot > 0 ? `RoPE on ${rot} of ${head} head dims` : "no RoPE",
    c.learnedPositions ? "learned positions" : null,
    c.parallelResidual ? "parallel residual" : null,
    c.biases ? "biases" : "no biases",
    c.sharedClassifier ? "shared classifier" : "own classifier",
  ]
    .filter((w) => w !== null)
    .join(", ");
}

/** A vanilla layer's reason code as the sentence tools/slimify.ts would have written. */
export function reasonSentence(r: LayerRecord, c: ModelConfig, threshold: number): string {
  const e = (x: number | null) => (x === null ? "(not measured)" : x.toExponential(2));
  switch (r.reasonCode) {
    case REASON.errorAboveThreshold:
      return (
        `V reconstruction error ${e(r.errActivations ?? r.errRandom)} on ${r.errActivations !== null ? "prompt activations" : "random inputs"} ` +
        `exceeds the threshold ${threshold} (cond(W_K) ≈ ${r.cond === null ? "?" : r.cond.toExponential(1)})`
      );
    case REASON.singularWk:
      return `W_K of layer ${r.layer} is singular to working precision, so it has no W_KV`;
    case REASON.groupedKv:
      return (
        `grouped K/V (nKvHeads ${c.nKvHeads} < nHeads ${c.nHeads}): W_K is ${kvDim(c)}×${c.dim}, not square, ` +
        `so slim attention saves nothing here; no inversion attempted`
      );
    case REASON.vanillaByChoice:
      return "stored vanilla by choice (converted with --mode vanilla, or packed without the slim transform)";
    default:
      return "slim";
  }
}

// ---------------------------------------------------------------------------------------------------------
// decoding

let f16Table: Float32Array | null = null;

/** f32 value of each of the 65536 binary16 bit patterns. */
function f16Values(): Float32Array {
  if (f16Table) return f16Table;
  const t = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const e = (h >>> 10) & 0x1f;
    const m = h & 0x3ff;
    t[h] = e === 0 ? sign * m * 2 ** -24 : e === 31 ? (m ? NaN : sign * Infinity) : sign * (1 + m / 1024) * 2 ** (e - 15);
  }
  return (f16Table = t);
}

/**
 * f32 values of a q8_0 / q4_0 tensor (checkSlim verified group_size ≠ 0, the row split and byte_length):
 * bit for bit what host/quant.ts dequantizeQ8 / dequantizeQ4 give for the quantization that was stored.
 *
 * Running these values through the decoder again at the same dtype and group size (`slimedge run model.slim
 * --quant q8_0`) re-quantizes them, and that is EXACT: the arena gets the very bytes the file stores.
 * - q4_0: the group's −8 value dequantizes to −8·s exactly, so quantizeQ4 finds m = −8·s, the same scale
 *   (−8·s / −8 = s) and the same nibbles (every other |q·s| is smaller).
 * - q8_0: the group's ±127 value dequantizes to y = fround(127·s), and quantizeQ8's new scale is
 *   fround(y / 127). That is s again for every scale quantizeQ8 makes, s = fround(amax / 127) — checked
 *   exhaustively over all 2^23 mantissas of amax in three binades and sampled over every binade (it is NOT
 *   true of an arbitrary f32 s: about 0.8 % of them move one ulp). With the same scale, each
 *   fround(fround(q·s) · fround(1/s)) is within 3 rounding errors of q (|q| ≤ 127), so rounds back to q.
 * (Scales in the subnormal range, groups with max |x| < ~1.5e-36, are outside what was checked.)
 */
function dequantize(raw: Uint8Array, t: TensorEntry, g: number, name: string): Float32Array {
  const n = t.shape.reduce((p, s) => p * s, 1);
  const packed = t.dtype === "q8_0" ? n : n / 2;
  const scales = new Float32Array(n / g);
  new Uint8Array(scales.buffer).set(raw.subarray(packed, packed + 4 * scales.length)); // a copy: raw need not be 4-byte aligned
  if (t.dtype === "q8_0") return dequantizeQ8({ values: new Int8Array(raw.buffer, raw.byteOffset, n).slice(), scales }, g);
  if (g !== 32) fail("E_MODEL", `${name}: tensor ${t.name} is q4_0 with group_size ${g}; q4_0 packs groups of 32 values (host/quant.ts q4Bytes), so this reader cannot decode it.`);
  const values = new Int8Array(n);
  for (let b = 0; b < n; b += 32)
    for (let j = 0; j < 16; j++) {
      const byte = raw[b / 2 + j];
      values[b + j] = (byte & 0x0f) - 8;
      values[b + j + 16] = (byte >>> 4) - 8;
    }
  return dequantizeQ4({ values, scales }, g);
}

/** Reads a .slim file whole: all checks (checkSlim), then every tensor decoded to f32. */
export function readSlim(bytes: Uint8Array, name: string): SlimFile {
  const h = checkSlim(bytes, name);
  const c = h.config;
  const data = h.headerBytes;
  const values = new Map<string, Float32Array>();
  for (const t of h.tensors) {
    const at = data + t.offset;
    const raw = bytes.subarray(at, at + t.byteLength);
    if (t.dtype === "f32") {
      const out = new Float32Array(t.byteLength / 4);
      new Uint8Array(out.buffer).set(raw); // a copy: the file's buffer need not be 4-byte aligned
      values.set(t.name, out);
    } else if (t.dtype === "f16") {
      const table = f16Values();
      const out = new Float32Array(t.byteLength / 2);
      for (let i = 0; i < out.length; i++) out[i] = table[raw[2 * i] | (raw[2 * i + 1] << 8)];
      values.set(t.name, out);
    } else {
      values.set(t.name, dequantize(raw, t, h.groupSize, name));
    }
  }
  const get = (n: string) => values.get(n)!; // present: checkSlim verified the set
  const opt = (n: string) => values.get(n);
  const modes = h.layers.map((l) => l.mode);
  const wkv = modes.map((m, l) => (m === "slim" ? get(`layers.${l}.wkv`) : null));
  const layers = modes.map((mode, l) => {
    const p = `layers.${l}.`;
    const w: Partial<LayerWeights> = {};
    for (const k of LAYER_KINDS) {
      if (k.field === "wkv") continue;
      const v = opt(p + k.suffix);
      if (v) (w as Record<string, Float32Array>)[k.field] = v;
    }
    if (mode === "slim") reconstructWvLazily(w, wkv[l]!, c);
    return w as LayerWeights;
  });
  const tokenEmbedding = get("token_embedding");
  const weights: ModelWeights = {
    tokenEmbedding,
    layers,
    finalNorm: get("final_norm"),
    classifier: c.sharedClassifier ? tokenEmbedding : get("classifier"),
  };
  const finalNormBias = opt("final_norm_bias");
  if (finalNormBias) weights.finalNormBias = finalNormBias;
  const positionEmbedding = opt("position_embedding");
  if (positionEmbedding) weights.positionEmbedding = positionEmbedding;
  const tokenizer = h.tokenizerKind === null ? null : bytes.slice(data + h.tokenizerOffset, data + h.tokenizerOffset + h.tokenizerBytes);
  return { ...h, model: { config: c, weights }, modes, wkv, tokenizer };
}

/**
 * A slim layer's W_V = W_KV·W_K (dim, dim), computed in float64 on first access and kept. Lazy because
 * it costs dim³ per layer and the decoder, which runs slim layers from W_KV, never asks for it.
 */
function reconstructWvLazily(w: Partial<LayerWeights>, wkv: Float32Array, c: ModelConfig): void {
  Object.defineProperty(w, "wv", {
    configurable: true,
    enumerable: true,
    get(): Float32Array {
      const d = c.dim;
      const wk = w.wk!;
      const out = new Float32Array(d * d);
      const row = new Float64Array(d);
      for (let i = 0; i < d; i++) {
        row.fill(0);
        for (let k = 0; k < d; k++) {
          const a = wkv[i * d + k];
          if (a === 0) continue;
          for (let j = 0; j < d; j++) row[j] += a * wk[k * d + j];
        }
        out.set(row, i * d);
      }
      Object.defineProperty(w, "wv", { value: out, writable: true, enumerable: true, configurable: true });
      return out;
    },
  });
}

// ---------------------------------------------------------------------------------------------------------
// files

/** Whether the file at `path` starts with the "SLIM" magic; false when it cannot be read (its loader will say why). */
export function hasSlimMagic(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, "r");
    const head = new Uint8Array(4);
    return readSync(fd, head, 0, 4, 0) === 4 && startsWith(head, SLIM_MAGIC);
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Reads a .slim file from disk. */
export function loadSlim(path: string): SlimFile {
  return readSlim(readWholeFile(path, ".slim model"), path);
}

/**
 * A .slim file ready for `slimedge run`: the stored per-layer modes and W_KV (no slimify at load time),
 * and the embedded tokenizer unless `tokenizerPath` overrides it.
 */
export function loadSlimForRun(path: string, tokenizerPath?: string): { model: Model; tokenizer: Tokenizer; slim: SlimLayers } {
  const file = loadSlim(path);
  const vocab = file.model.config.vocabSize;
  let tokenizer: Tokenizer;
  if (tokenizerPath !== undefined) tokenizer = loadTokenizer(tokenizerPath, vocab);
  else if (file.tokenizerKind === "llama2c") tokenizer = readTokenizer(file.tokenizer!, `${path} (embedded tokenizer.bin)`, vocab);
  else if (file.tokenizerKind === "hf-json") return fail("E_MODEL", `${path}: the embedded tokenizer is a Hugging Face tokenizer.json, which run does not read yet; pass --tokenizer <tokenizer.bin>`);
  else {
    const next = join(dirname(path), "tokenizer.bin");
    if (!existsSync(next)) return fail("E_FILE", `${path}: no tokenizer embedded and no ${next} next to it; pass --tokenizer <tokenizer.bin>`);
    tokenizer = loadTokenizer(next, vocab);
  }
  const notes = file.layers.filter((l) => l.mode === "vanilla").map((l) => `layer ${l.layer} keeps its V-cache (stored in ${path}): ${l.reason}`);
  return { model: file.model, tokenizer, slim: { modes: file.modes, wkv: file.wkv, notes } };
}
