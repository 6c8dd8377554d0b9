// Generated from host/core/abi.ts by host/core/abi-codegen.ts (npm run abi): edit the declaration, not this file.
/** Bytes reserved at address 0 for a module's static data; the plan block follows them. */
export const STATIC_BYTES: i32 = 16384;
/** First slot of the plan block: "SPLN" read as a little-endian i32. */
export const PLAN_MAGIC: i32 = 0x4e4c5053;
/** Plan block version; the decoder refuses any other. 2: weight matrices in the streaming layout (host/core/layout.ts) and the prefill block slot. 3: the RoPE table is written by the host (host/core/rope.ts) and planned whenever RoPE turns anything. 4: the classifier bias slot and the read-only delta (weights read in place from flash). */
export const PLAN_VERSION: i32 = 4;
/** i32 slots before the first layer's slots. */
export const PLAN_HEADER_SLOTS: i32 = 56;
/** i32 slots per layer. */
export const PLAN_LAYER_SLOTS: i32 = 24;
/** First slot of the command block: "SCMD" read as a little-endian i32. */
export const COMMAND_MAGIC: i32 = 0x444d4353;
/** i32 slots of the command block. */
export const COMMAND_BLOCK_SLOTS: i32 = 20;
/** Argument bytes the command plans per context token (plus a fixed allowance for flags). */
export const COMMAND_ARG_BYTES_PER_TOKEN: i32 = 8;
/** Bytes per slot of the command's merge tables: next, prev, pair, heap, heap slot (i32 each) and one byte of a prompt section in Unicode normal form. */
export const COMMAND_MERGE_SLOT_BYTES: i32 = 21;
/** Cached rows slim attention mixes per block (the size of the k_block scratch buffer). */
export const ROW_BLOCK: i32 = 64;
/** .slim magic "SLIM" read as a little-endian u32. */
export const SLIM_MAGIC_WORD: u32 = 0x4d494c53;
/** Newest .slim format version (2: the lowered model; 3: plus a classifier bias and/or per-pair RoPE frequency factors, written only for a model that has one of them; host/core/slim-format.ts). */
export const SLIM_VERSION: u32 = 3;
/** Oldest .slim format version still read (a version 2 file is a version 3 file without flag bits 4 and 5). */
export const SLIM_OLDEST_VERSION: u32 = 2;
/** Bytes of the .slim fixed header. */
export const SLIM_FIXED_HEADER_BYTES: u32 = 128;
/** Bytes of one .slim layer record. */
export const SLIM_LAYER_RECORD_BYTES: u32 = 56;
/** Bytes of one .slim tensor table entry. */
export const SLIM_TENSOR_ENTRY_BYTES: u32 = 88;
/** Bytes of a tensor entry's NUL-padded name field. */
export const SLIM_TENSOR_NAME_BYTES: u32 = 48;
/** Most dimensions a .slim tensor has. */
export const SLIM_MAX_DIMS: u32 = 4;
/** Largest value of a .slim dimension field. */
export const SLIM_MAX_DIM: u32 = 16777216;
/** Most layers a model may have (real models have at most a few hundred; each costs a dozen tensors). */
export const SLIM_MAX_LAYERS: u32 = 1024;
/** .slim tensor data and the tokenizer start on multiples of this (v128 loads, flash execute-in-place). */
export const SLIM_DATA_ALIGN: u32 = 16;
/** Measured f64 values in a layer record. */
export const SLIM_LAYER_VALUES: u32 = 5;

/** i32 slots of the plan block header. f32 values are stored by their bits; addresses are byte offsets into the module's memory, 0 for a buffer the plan does not have. */
export namespace PlanSlot {
  /** PLAN_MAGIC */
  export const magic: i32 = 0;
  /** PLAN_VERSION */
  export const version: i32 = 1;
  /** transformer width */
  export const dim: i32 = 2;
  /** FFN inner width */
  export const hidden: i32 = 3;
  /** layers */
  export const nLayers: i32 = 4;
  /** query heads */
  export const nHeads: i32 = 5;
  /** key/value heads */
  export const nKvHeads: i32 = 6;
  /** dims per head */
  export const headDim: i32 = 7;
  /** vocabulary size */
  export const vocab: i32 = 8;
  /** planned context length (cache rows) */
  export const ctx: i32 = 9;
  /** norm epsilon (f32 bits) */
  export const normEps: i32 = 10;
  /** RoPE base (f32 bits) */
  export const ropeTheta: i32 = 11;
  /** end of the arena; every region lies below it */
  export const totalBytes: i32 = 12;
  /** bytes reserved for the module's static data */
  export const staticBytes: i32 = 13;
  /** token embedding (vocab, dim) */
  export const embedding: i32 = 14;
  /** final norm weight (dim,) */
  export const finalNorm: i32 = 15;
  /** classifier (vocab, dim); the embedding's address when shared */
  export const classifier: i32 = 16;
  /** RoPE table (ctx, 2·headDim) f32, written by the host, when RoPE turns any dim or any layer is slim */
  export const ropeTable: i32 = 17;
  /** activation: residual stream (dim,) */
  export const x: i32 = 18;
  /** activation: normed input (dim,) */
  export const xn: i32 = 19;
  /** activation: query (dim,) */
  export const q: i32 = 20;
  /** activation: scores (heads, ctx) */
  export const att: i32 = 21;
  /** activation: attention output, heads concatenated (dim,) */
  export const ao: i32 = 22;
  /** activation: output projection (dim,) */
  export const xo: i32 = 23;
  /** activation: normed FFN input (dim,) */
  export const fn: i32 = 24;
  /** activation: FFN gate/up (hidden,) */
  export const h1: i32 = 25;
  /** activation: SwiGLU up (hidden,) */
  export const h3: i32 = 26;
  /** activation: FFN output (dim,) */
  export const fo: i32 = 27;
  /** activation: slim U = A·K (heads, dim) */
  export const u: i32 = 28;
  /** logits (vocab,) f32 */
  export const logits: i32 = 29;
  /** prompt buffer (ctx,) i32 for prefill */
  export const tokens: i32 = 30;
  /** 1: slim layers cache keys after RoPE (slimKeys "post") */
  export const rotatedKeys: i32 = 31;
  /** activation: keys rotated back (ROW_BLOCK, dim), rotatedKeys only */
  export const kBlock: i32 = 32;
  /** activation: running max and sum per head (heads, 2) */
  export const softmaxState: i32 = 33;
  /** storage of weight matrices, a WeightCode */
  export const weights: i32 = 34;
  /** values per scale of q8_0 / q4_0 */
  export const groupSize: i32 = 35;
  /** activation: the projection input quantized to int8 (max(dim, hidden),) */
  export const xQ8: i32 = 36;
  /** activation: its scales (max(dim, hidden) / group,) f32 */
  export const xScales: i32 = 37;
  /** storage of cache rows, a CacheCode */
  export const cache: i32 = 38;
  /** activation: this position's key in f32 before it is stored (kvDim,) */
  export const kNew: i32 = 39;
  /** activation: this position's value in f32 before it is stored (kvDim,) */
  export const vNew: i32 = 40;
  /** 1: LayerNorm with bias, 0: RMSNorm */
  export const layerNorm: i32 = 41;
  /** FFN activation, an ActivationCode */
  export const activation: i32 = 42;
  /** dims per head RoPE turns (0: none) */
  export const rotaryDims: i32 = 43;
  /** learned positions (ctx, dim), or 0 */
  export const positionEmbedding: i32 = 44;
  /** 1: x + attn(norm1 x) + ffn(norm2 x) */
  export const parallelResidual: i32 = 45;
  /** final LayerNorm bias (dim,), LayerNorm only */
  export const finalNormBias: i32 = 46;
  /** B: prompt tokens per pass over the weights; x, xn, q, ao, xo, fn, h1, h3, fo, u, softmaxState, kNew, vNew, xQ8 and xScales hold B rows */
  export const prefillBlock: i32 = 47;
  /** classifier bias (vocab,) f32 added to the logits, or 0 (Phi-2's lm_head) */
  export const classifierBias: i32 = 48;
  /** 0, or what the native firmware adds (wrapping, mod 2^32) to every weight and RoPE-table address when it reads them in place from flash instead of copying them (ARCHITECTURE.md, "Weights in flash"); the host always writes 0 */
  export const readOnlyDelta: i32 = 49;
  /** address of the standalone command's block, 0 without one (the last header slot, so the decoder's slots never reach it) */
  export const command: i32 = 55;
}

/** i32 slots of one layer, at PLAN_HEADER_SLOTS + layer · PLAN_LAYER_SLOTS. Bias slots hold 0 when the model has no such bias. */
export namespace LayerSlot {
  /** 1 slim (K-cache only), 0 vanilla */
  export const slim: i32 = 0;
  /** attention norm weight (dim,) */
  export const attnNorm: i32 = 1;
  /** W_Q (dim, dim) */
  export const wq: i32 = 2;
  /** W_K (kvDim, dim); f32 in slim layers */
  export const wk: i32 = 3;
  /** slim: W_KV (dim, dim) f32; vanilla: W_V (kvDim, dim) */
  export const wvOrWkv: i32 = 4;
  /** W_O (dim, dim) */
  export const wo: i32 = 5;
  /** FFN norm weight (dim,) */
  export const ffnNorm: i32 = 6;
  /** W_1 (hidden, dim) */
  export const w1: i32 = 7;
  /** W_2 (dim, hidden) */
  export const w2: i32 = 8;
  /** W_3 (hidden, dim), SwiGLU only */
  export const w3: i32 = 9;
  /** K-cache (ctx, kvDim) rows */
  export const kCache: i32 = 10;
  /** V-cache (ctx, kvDim) rows, vanilla layers only */
  export const vCache: i32 = 11;
  /** attention LayerNorm bias (dim,) */
  export const attnNormBias: i32 = 12;
  /** FFN LayerNorm bias (dim,) */
  export const ffnNormBias: i32 = 13;
  /** b_Q (dim,) */
  export const bq: i32 = 14;
  /** b_K (kvDim,) */
  export const bk: i32 = 15;
  /** b_V (kvDim,), vanilla layers (slim layers fold it into b_O) */
  export const bv: i32 = 16;
  /** b_O (dim,) */
  export const bo: i32 = 17;
  /** b_1 (hidden,) */
  export const b1: i32 = 18;
  /** b_2 (dim,) */
  export const b2: i32 = 19;
}

/** i32 slots of the standalone command's block: where its tokenizer, sampler and io buffers are. */
export namespace CommandSlot {
  /** COMMAND_MAGIC */
  export const magic: i32 = 0;
  /** embedded tokenizer (tools/package/command-tokenizer.ts) */
  export const tokenizer: i32 = 1;
  /** its exact length */
  export const tokenizerBytes: i32 = 2;
  /** (vocab,) i32 address of each token's record */
  export const pieces: i32 = 3;
  /** (hashSlots,) i32 piece bytes -> first token id + 1 */
  export const pieceHash: i32 = 4;
  /** slots of pieceHash, a power of two ≥ 2·vocab */
  export const hashSlots: i32 = 5;
  /** (vocab,) f32 sampler probabilities */
  export const probs: i32 = 6;
  /** (vocab,) i32 top-p candidates */
  export const candidates: i32 = 7;
  /** argv pointers, then the argument bytes */
  export const args: i32 = 8;
  /** capacity of args in bytes */
  export const argsBytes: i32 = 9;
  /** (promptSlots,) i32 prompt tokens */
  export const promptTokens: i32 = 10;
  /** capacity of promptTokens in tokens */
  export const promptSlots: i32 = 11;
  /** bytes staged for fd_write */
  export const output: i32 = 12;
  /** capacity of output in bytes */
  export const outputBytes: i32 = 13;
  /** 5 × (mergeSlots,) i32 BPE merge state: next, prev, pair, heap, heap slot; then (mergeSlots,) bytes for a prompt section in Unicode normal form */
  export const mergeTables: i32 = 14;
  /** tokens the merge tables hold (over the K/V caches or the sampler while the prompt is encoded); a prompt of more bytes + 2 is refused */
  export const mergeSlots: i32 = 15;
}

/** What init, step, prefill and truncate report (lastError()). */
export namespace DecoderStatus {
  /** success */
  export const OK: i32 = 0;
  /** init() has not succeeded */
  export const NOT_INITIALIZED: i32 = 1;
  /** the plan block does not start with PLAN_MAGIC */
  export const PLAN_BAD_MAGIC: i32 = 2;
  /** the plan block is of another version */
  export const PLAN_BAD_VERSION: i32 = 3;
  /** dimensions or codes are zero, negative or inconsistent */
  export const PLAN_BAD_DIMS: i32 = 4;
  /** a planned region ends beyond the module's memory */
  export const PLAN_OUT_OF_MEMORY: i32 = 5;
  /** the module's static data overlaps the plan */
  export const STATIC_TOO_LARGE: i32 = 6;
  /** no cache row left for another token */
  export const CONTEXT_FULL: i32 = 7;
  /** token id outside the vocabulary, or an empty prompt */
  export const BAD_TOKEN: i32 = 8;
}

/** What each DecoderStatus means, in the user's words; "" for an unknown code. */
export function decoderStatusSentence(code: i32): string {
  switch (code) {
    case 0: return "ok";
    case 1: return "the decoder was not initialised";
    case 2: return "the plan block has the wrong magic number";
    case 3: return "the plan block is of another version than this decoder";
    case 4: return "the plan's model dimensions are inconsistent";
    case 5: return "the plan needs more memory than the module has";
    case 6: return "the module's static data is larger than the plan reserves";
    case 7: return "the context is full: no cache row is left for another token";
    case 8: return "a token id is outside the vocabulary (or the prompt is empty)";
    default: return "";
  }
}

/** Plan slot `weights`: how weight matrices are stored (norms and biases are always f32). */
export namespace WeightCode {
  /** f32 */
  export const F32: i32 = 0;
  /** int8 values, then one f32 scale per group */
  export const Q8_0: i32 = 1;
  /** packed int4 values (two per byte), then one f32 scale per group */
  export const Q4_0: i32 = 2;
  /** IEEE binary16 */
  export const F16: i32 = 3;
}

/** Plan slot `cache`: how K/V cache rows are stored. */
export namespace CacheCode {
  /** f32 */
  export const F32: i32 = 0;
  /** int8 values, then one f32 scale per row */
  export const Q8: i32 = 1;
  /** IEEE binary16 */
  export const F16: i32 = 2;
}

/** Plan slot `activation` and .slim header field `activation`. */
export namespace ActivationCode {
  /** silu(W1 x) ⊙ W3 x */
  export const SWIGLU: i32 = 0;
  /** GELU with erf */
  export const GELU: i32 = 1;
  /** GELU in its tanh form */
  export const GELU_TANH: i32 = 2;
}

/** Byte offsets of the .slim fixed header fields (the format: host/core/slim-format.ts). */
export namespace SlimHeader {
  /** 4×u8 "SLIM" */
  export const magic: i32 = 0;
  /** u32 */
  export const version: i32 = 4;
  /** u32 CRC-32 of [16, header_bytes) */
  export const headerCrc: i32 = 8;
  /** u32 CRC-32 of [header_bytes, file_bytes) */
  export const dataCrc: i32 = 12;
  /** u32 where the data section starts */
  export const headerBytes: i32 = 16;
  /** u32 */
  export const nTensors: i32 = 20;
  /** u64 */
  export const fileBytes: i32 = 24;
  /** u32 0 llama, 1 gpt2, 2 neox */
  export const arch: i32 = 32;
  /** u32 */
  export const dim: i32 = 36;
  /** u32 */
  export const hiddenDim: i32 = 40;
  /** u32 */
  export const nLayers: i32 = 44;
  /** u32 */
  export const nHeads: i32 = 48;
  /** u32 */
  export const nKvHeads: i32 = 52;
  /** u32 */
  export const vocabSize: i32 = 56;
  /** u32 */
  export const seqLen: i32 = 60;
  /** u32 */
  export const rotaryDims: i32 = 64;
  /** u32 0 RMSNorm, 1 LayerNorm */
  export const norm: i32 = 68;
  /** u32 an ActivationCode */
  export const activation: i32 = 72;
  /** u32 SlimFlag bits */
  export const flags: i32 = 76;
  /** f64 */
  export const normEps: i32 = 80;
  /** f64 */
  export const ropeTheta: i32 = 88;
  /** u32 */
  export const groupSize: i32 = 96;
  /** u32 0 none, 1 tokenizer.bin, 2 tokenizer.json, 3 bundle (meta line + either) */
  export const tokenizerKind: i32 = 100;
  /** u64 */
  export const tokenizerOffset: i32 = 104;
  /** u64 */
  export const tokenizerBytes: i32 = 112;
  /** f64 */
  export const slimThreshold: i32 = 120;
}

/** Byte offsets inside a .slim layer record. */
export namespace SlimLayer {
  /** u32 0 vanilla, 1 slim */
  export const mode: i32 = 0;
  /** u32 why the layer runs as it does */
  export const reason: i32 = 4;
  /** u32 bit k: value k was measured */
  export const measured: i32 = 8;
  /** u32 0 */
  export const reserved: i32 = 12;
  /** SLIM_LAYER_VALUES × f64 */
  export const values: i32 = 16;
}

/** Byte offsets inside a .slim tensor table entry. */
export namespace SlimEntry {
  /** SLIM_TENSOR_NAME_BYTES × u8 */
  export const name: i32 = 0;
  /** u32 0 f32, 1 f16, 2 q8_0, 3 q4_0 */
  export const dtype: i32 = 48;
  /** u32 */
  export const nDims: i32 = 52;
  /** SLIM_MAX_DIMS × u32 */
  export const shape: i32 = 56;
  /** u64 in the data section */
  export const offset: i32 = 72;
  /** u64 */
  export const byteLength: i32 = 80;
}

/** Bits of the .slim header field `flags`. */
export namespace SlimFlag {
  /** the classifier is the token embedding */
  export const sharedClassifier: i32 = 1;
  /** learned position embedding */
  export const learnedPositions: i32 = 2;
  /** attention and FFN read the same residual */
  export const parallelResidual: i32 = 4;
  /** q, k, v, o and both FFN projections have biases */
  export const biases: i32 = 8;
  /** the classifier has a bias (version 3) */
  export const classifierBias: i32 = 16;
  /** per-pair RoPE frequency factors follow the tensor table (version 3) */
  export const ropeFreqFactors: i32 = 32;
}

/** Status codes of the .slim readers, one per check, in the order the checks run. */
export namespace SlimStatus {
  /** a sound file */
  export const OK: i32 = 0;
  /** the file ends inside the header */
  export const TRUNCATED_HEADER: i32 = 1;
  /** not "SLIM" */
  export const BAD_MAGIC: i32 = 2;
  /** another format version */
  export const BAD_VERSION: i32 = 3;
  /** header_bytes misaligned, too small, or not what the counts need */
  export const BAD_HEADER_LENGTH: i32 = 4;
  /** header CRC mismatch */
  export const HEADER_CRC: i32 = 5;
  /** a fixed-header field out of range */
  export const BAD_FIELD: i32 = 6;
  /** file_bytes differs from the file's length (truncated or trailing bytes) */
  export const FILE_LENGTH: i32 = 7;
  /** data CRC mismatch */
  export const DATA_CRC: i32 = 8;
  /** a layer record is inconsistent */
  export const BAD_LAYER: i32 = 9;
  /** name bytes, dtype code, n_dims or shape fields malformed */
  export const BAD_TENSOR_ENTRY: i32 = 10;
  /** a well-formed name that is not a tensor of this model */
  export const UNEXPECTED_TENSOR: i32 = 11;
  /** a tensor named twice */
  export const DUPLICATE_TENSOR: i32 = 12;
  /** shape differs from the config's */
  export const TENSOR_SHAPE: i32 = 13;
  /** dtype not allowed for this tensor, or byte_length differs from shape × dtype */
  export const TENSOR_DTYPE: i32 = 14;
  /** offset misaligned, overlapping the previous tensor, or beyond the data section */
  export const TENSOR_BOUNDS: i32 = 15;
  /** a tensor of this model is not in the table */
  export const MISSING_TENSOR: i32 = 16;
  /** tokenizer offset/length inconsistent with its kind or beyond the data section */
  export const BAD_TOKENIZER: i32 = 17;
  /** bytes after the last tensor/tokenizer beyond the final 16-byte padding */
  export const DATA_LENGTH: i32 = 18;
  /** AssemblyScript reader only: its memory cannot hold the file and its scratch */
  export const NO_MEMORY: i32 = 19;
}

/** Model-wide .slim tensors; the index is the tensor's slot. */
export const SLIM_TOP_TENSORS_COUNT: i32 = 6;
/** Entry i of SLIM_TOP_TENSORS; "" outside it. */
export function slimTopTensor(i: i32): string {
  switch (i) {
    case 0: return "token_embedding";
    case 1: return "position_embedding";
    case 2: return "final_norm";
    case 3: return "final_norm_bias";
    case 4: return "classifier";
    case 5: return "classifier_bias";
    default: return "";
  }
}

/** Per-layer .slim tensor kinds in file order; slot = SLIM_TOP_TENSORS length + SLIM_LAYER_TENSORS length · layer + kind. */
export const SLIM_LAYER_TENSORS_COUNT: i32 = 18;
/** Entry i of SLIM_LAYER_TENSORS; "" outside it. */
export function slimLayerTensor(i: i32): string {
  switch (i) {
    case 0: return "attn_norm";
    case 1: return "attn_norm_bias";
    case 2: return "wq";
    case 3: return "bq";
    case 4: return "wk";
    case 5: return "bk";
    case 6: return "wv";
    case 7: return "wkv";
    case 8: return "bv";
    case 9: return "wo";
    case 10: return "bo";
    case 11: return "ffn_norm";
    case 12: return "ffn_norm_bias";
    case 13: return "w1";
    case 14: return "b1";
    case 15: return "w2";
    case 16: return "b2";
    case 17: return "w3";
    default: return "";
  }
}
