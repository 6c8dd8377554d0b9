/**
 * The .slim container: one file holding a model ready for the decoder — its config, the per-layer
 * slim/vanilla decision with the measurements behind it, every tensor as the bytes the decoder's arena
 * holds (the lowered model, host/core/lowered.ts), and the tokenizer. Written by tools/convert/slim-write.ts;
 * checked by host/core/slim-check.ts and read by host/core/slim-read.ts, and, as a cross-check in the tests,
 * by test/assembly/container.ts. Both readers run the checks below in the same order and report the same
 * status code for the same bytes.
 *
 * # Format versions 2 and 3
 *
 * Version 3 is version 2 plus what version 2 cannot hold, each announced by a flag bit, readers take both:
 * - bit 4, one more tensor, `classifier_bias` (vocab), added to the logits (Phi-2's lm_head has a bias);
 * - bit 5, per-pair RoPE frequency factors (Llama 3.x's rope_scaling of type llama3, host/core/rope.ts):
 *   rotary_dims/2 f64 values right after the tensor table, inside the header (so under header_crc).
 * The writer writes version 3 exactly when a model has one of them and version 2 otherwise, byte for byte
 * what it wrote before, so every earlier reader still reads every other file; a version 3 file with neither
 * bit (or a version 2 file with either) is refused, so no flip of the version field (outside both CRCs) goes
 * unnoticed.
 *
 * Version 2 stores the lowered model. Against version 1: a slim layer with biases stores no b_V and its
 * b_O is the folded b_O' = b_O + W_O·(b_V − W_KV·b_K); the position embedding and slim layers' W_K are f32
 * under every dtype (version 1 kept them in f16 under f16). Version 1 files are refused: convert the
 * checkpoint again.
 *
 * Everything is little-endian. u32/u64 are unsigned integers, f64 is IEEE 754 binary64. "align16(n)" is n
 * rounded up to a multiple of 16. Offsets in the tensor table and the tokenizer fields count from the start
 * of the data section.
 *
 * ```
 * ┌ fixed header      128 bytes at 0
 * │ layer records     nLayers × 56 bytes at 128
 * │ tensor table      nTensors × 88 bytes at 128 + 56·nLayers
 * │ RoPE factors      flag bit 5 only: nFactors = rotary_dims/2 f64 at 128 + 56·nLayers + 88·nTensors, each finite, > 0
 * │ zero padding      up to headerBytes = align16(128 + 56·nLayers + 88·nTensors + 8·nFactors)
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
 * | 4   | u32   | version          | 2, or 3 with a classifier bias or RoPE frequency factors (flags bits 4, 5)  |
 * | 8   | u32   | header_crc       | CRC-32 of bytes [16, header_bytes): fields below, layer records, table, pad |
 * | 12  | u32   | data_crc         | CRC-32 of bytes [header_bytes, file_bytes): all data, padding included      |
 * | 16  | u32   | header_bytes     | where the data section starts; a multiple of 16                             |
 * | 20  | u32   | n_tensors        | entries in the tensor table, ≥ 1                                            |
 * | 24  | u64   | file_bytes       | length of the whole file                                                    |
 * | 32  | u32   | arch             | 0 llama, 1 gpt2, 2 neox                                                     |
 * | 36  | u32   | dim              | transformer width d                                                         |
 * | 40  | u32   | hidden_dim       | FFN inner width                                                             |
 * | 44  | u32   | n_layers         | at most 1024 (SLIM_MAX_LAYERS)                                              |
 * | 48  | u32   | n_heads          | query heads; dim % n_heads = 0                                              |
 * | 52  | u32   | n_kv_heads       | key/value heads; n_heads % n_kv_heads = 0                                   |
 * | 56  | u32   | vocab_size       |                                                                             |
 * | 60  | u32   | seq_len          | longest context the model was built for                                     |
 * | 64  | u32   | rotary_dims      | dims per head RoPE rotates (adjacent pairs); even, ≤ dim / n_heads; 0 = none |
 * | 68  | u32   | norm             | 0 RMSNorm (weight), 1 LayerNorm (weight and bias)                           |
 * | 72  | u32   | activation       | 0 swiglu, 1 gelu (erf), 2 gelu_tanh                                         |
 * | 76  | u32   | flags            | bit 0 shared classifier, 1 learned positions, 2 parallel residual,          |
 * |     |       |                  | 3 biases (q, k, v, o, both FFN projections), 4 classifier bias, 5 RoPE      |
 * |     |       |                  | frequency factors (4 and 5 in version 3 only; 5 needs rotary_dims > 0);     |
 * |     |       |                  | other bits 0                                                                |
 * | 80  | f64   | norm_eps         | finite, > 0                                                                 |
 * | 88  | f64   | rope_theta       | finite; > 0 when rotary_dims > 0, else ≥ 0                                  |
 * | 96  | u32   | group_size       | values per scale of q8_0/q4_0 tensors; 0, or even and ≥ 2                   |
 * | 100 | u32   | tokenizer_kind   | 0 none, 1 llama2.c tokenizer.bin, 2 tokenizer.json, 3 bundle (tokenizers.ts) |
 * | 104 | u64   | tokenizer_offset | in the data section, a multiple of 16; 0 when kind is 0                     |
 * | 112 | u64   | tokenizer_bytes  | ≥ 1; 0 when kind is 0                                                       |
 * | 120 | f64   | slim_threshold   | the V-reconstruction error slimify allowed a slim layer; finite, ≥ 0        |
 *
 * The seven dimension fields are between 1 and 2^24, so every element count and byte length stays exact in
 * an f64 and an u64; n_layers is at most 1024, so a header cannot make a reader walk more layer records than
 * a model has. Every reader and the writer check these ranges in one place (host/core/model.ts shapeProblem).
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
 * The quantized layouts are host/core/quant.ts's (q8Bytes, q4Bytes), which the decoder's arena holds as is:
 *
 * - q8_0: n int8 values (row-major), then n/g f32 scales; value i = int8[i] · scale[⌊i/g⌋].
 * - q4_0: n/2 bytes: per group of g values, g/2 bytes, byte j holding value j of the group in its low
 *   nibble and value j + g/2 in its high nibble, each stored as q + 8 (q in −8..7) — ggml's Q4_0 block
 *   when g = 32; then n/g f32 scales; value = q · scale of its group.
 *
 * Groups run along the rows, so the last dim must be a multiple of g. Always f32: vectors (1-D tensors),
 * W_KV, slim layers' W_K and the position embedding (the decoder keeps them f32: host/core/lowered.ts
 * storedDtype). The writer stores every other matrix in one dtype. For q8_0 and q4_0 alike, g defaults to 32
 * halved until it divides dim and hidden_dim (host/core/plan.ts groupSizeFor), so rows that are not
 * multiples of 32 (stories260K: 172, groups of 4) still quantize.
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
 * layers.L.bv              kvDim                  biases and vanilla layers only (slim layers fold b_V into bo)
 * layers.L.wo              dim × dim
 * layers.L.bo              dim                    biases only; slim layers: b_O + W_O·(b_V − W_KV·b_K) (float64)
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
 * classifier_bias          vocab                  classifier bias only (flag bit 4, version 3)
 * ```
 *
 * ## Checks, in order (the first that fails is reported; status codes in SLIM_STATUS)
 *
 *  1. file ≥ 4 bytes, magic "SLIM", file ≥ 8 bytes, version 2 or 3, file ≥ 128 bytes
 *  2. header_bytes a multiple of 16 and ≥ 128; header_bytes ≤ file length
 *  3. header_crc over [16, header_bytes)
 *  4. header fields in range (above); header_bytes = align16(128 + 56·n_layers + 88·n_tensors + 8·nFactors);
 *     each RoPE frequency factor finite and > 0
 *  5. file_bytes = file length
 *  6. data_crc over [header_bytes, file_bytes)
 *  7. layer records, in order
 *  8. tensor entries, in order: name bytes, dtype code, n_dims and shape fields; a tensor of this model;
 *     not a duplicate; shape; dtype allowed (f32 where required above) and byte_length; offset aligned, after the previous entry's
 *     end, inside the data section
 *  9. no tensor missing (reported in the order of the list above)
 * 10. tokenizer: kind 0 has offset and length 0; otherwise offset aligned, after the last tensor's end,
 *     inside the data section
 * 11. the data section ends at align16 of the last tensor's or the tokenizer's end
 *
 * Every byte of the file is covered by a check: the magic and version by value, bytes 8..16 as the CRCs
 * themselves, everything after by one of the two CRCs (padding included) — so no corruption passes.
 */
import { SlimError } from "./errors.ts";
import type { TokenizerKind } from "./tokenizers.ts";
import { type Arch, type ModelConfig, kvDim } from "./model.ts";
import type { AttentionMode, WeightDtype } from "./plan.ts";
import {
  SLIM_VERSION as ABI_SLIM_VERSION, SLIM_OLDEST_VERSION as ABI_SLIM_OLDEST_VERSION, SLIM_FIXED_HEADER_BYTES, SLIM_LAYER_RECORD_BYTES, SLIM_TENSOR_ENTRY_BYTES, SLIM_TENSOR_NAME_BYTES,
  SLIM_MAX_DIMS, SLIM_MAX_DIM, SLIM_DATA_ALIGN, SlimHeader, SlimLayer, SlimEntry, SlimFlag, SlimStatus,
} from "./abi.generated.ts";

// ---------------------------------------------------------------------------------------------------------
// layout constants (the ABI schema, host/core/abi.ts, declares them for both readers)

export const SLIM_MAGIC = "SLIM";
export const SLIM_VERSION = ABI_SLIM_VERSION;
/** The oldest version still read: version 2 is version 3 without flag bits 4 and 5. */
export const SLIM_OLDEST_VERSION = ABI_SLIM_OLDEST_VERSION;
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
export type { TokenizerKind };
/** tokenizer_kind codes; 0 = none; a bundle is meta + either (ARCHITECTURE.md, "Tokenizers"). */
export const TOKENIZER_CODES: readonly (TokenizerKind | null)[] = [null, "llama2c", "hf-json", "bundle"];
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
// what a reader returns

/** One tensor table entry. */
export interface TensorEntry {
  name: string;
  dtype: WeightDtype;
  shape: number[];
  offset: number; // in the data section
  byteLength: number;
}

/** One layer record, shaped like tools/convert/slimify.ts LayerReport so the report formatter takes it as is. */
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

/** A checked .slim file: everything but the tensor bytes (checkSlim), enough to inspect it. */
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

// ---------------------------------------------------------------------------------------------------------
// words for messages

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
    c.classifierBias ? "classifier bias" : null,
    c.sharedClassifier ? "shared classifier" : "own classifier",
  ]
    .filter((w) => w !== null)
    .join(", ");
}

/** A vanilla layer's reason code as the sentence tools/convert/slimify.ts would have written. */
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

