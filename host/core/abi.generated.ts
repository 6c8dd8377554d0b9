// Generated from host/core/abi.ts by host/core/abi-codegen.ts (npm run abi): edit the declaration, not this file.
/** Bytes reserved at address 0 for a module's static data; the plan block follows them. */
export const STATIC_BYTES = 16384;
/** First slot of the plan block: "SPLN" read as a little-endian i32. */
export const PLAN_MAGIC = 0x4e4c5053;
/** Plan block version; the decoder refuses any other. 2: weight matrices in the streaming layout (host/core/layout.ts) and the prefill block slot. 3: the RoPE table is written by the host (host/core/rope.ts) and planned whenever RoPE turns anything. 4: the classifier bias slot and the read-only delta (weights read in place from flash). */
export const PLAN_VERSION = 4;
/** i32 slots before the first layer's slots. */
export const PLAN_HEADER_SLOTS = 56;
/** i32 slots per layer. */
export const PLAN_LAYER_SLOTS = 24;
/** First slot of the command block: "SCMD" read as a little-endian i32. */
export const COMMAND_MAGIC = 0x444d4353;
/** i32 slots of the command block. */
export const COMMAND_BLOCK_SLOTS = 20;
/** Argument bytes the command plans per context token (plus a fixed allowance for flags). */
export const COMMAND_ARG_BYTES_PER_TOKEN = 8;
/** Bytes per slot of the command's merge tables: next, prev, pair, heap, heap slot (i32 each) and one byte of a prompt section in Unicode normal form. */
export const COMMAND_MERGE_SLOT_BYTES = 21;
/** Cached rows slim attention mixes per block (the size of the k_block scratch buffer). */
export const ROW_BLOCK = 64;
/** .slim magic "SLIM" read as a little-endian u32. */
export const SLIM_MAGIC_WORD = 0x4d494c53;
/** Newest .slim format version (2: the lowered model; 3: plus a classifier bias and/or per-pair RoPE frequency factors, written only for a model that has one of them; host/core/slim-format.ts). */
export const SLIM_VERSION = 3;
/** Oldest .slim format version still read (a version 2 file is a version 3 file without flag bits 4 and 5). */
export const SLIM_OLDEST_VERSION = 2;
/** Bytes of the .slim fixed header. */
export const SLIM_FIXED_HEADER_BYTES = 128;
/** Bytes of one .slim layer record. */
export const SLIM_LAYER_RECORD_BYTES = 56;
/** Bytes of one .slim tensor table entry. */
export const SLIM_TENSOR_ENTRY_BYTES = 88;
/** Bytes of a tensor entry's NUL-padded name field. */
export const SLIM_TENSOR_NAME_BYTES = 48;
/** Most dimensions a .slim tensor has. */
export const SLIM_MAX_DIMS = 4;
/** Largest value of a .slim dimension field. */
export const SLIM_MAX_DIM = 16777216;
/** Most layers a model may have (real models have at most a few hundred; each costs a dozen tensors). */
export const SLIM_MAX_LAYERS = 1024;
/** .slim tensor data and the tokenizer start on multiples of this (v128 loads, flash execute-in-place). */
export const SLIM_DATA_ALIGN = 16;
/** Measured f64 values in a layer record. */
export const SLIM_LAYER_VALUES = 5;

/** i32 slots of the plan block header. f32 values are stored by their bits; addresses are byte offsets into the module's memory, 0 for a buffer the plan does not have. */
export const PlanSlot = {
  /** PLAN_MAGIC */
  magic: 0,
  /** PLAN_VERSION */
  version: 1,
  /** transformer width */
  dim: 2,
  /** FFN inner width */
  hidden: 3,
  /** layers */
  nLayers: 4,
  /** query heads */
  nHeads: 5,
  /** key/value heads */
  nKvHeads: 6,
  /** dims per head */
  headDim: 7,
  /** vocabulary size */
  vocab: 8,
  /** planned context length (cache rows) */
  ctx: 9,
  /** norm epsilon (f32 bits) */
  normEps: 10,
  /** RoPE base (f32 bits) */
  ropeTheta: 11,
  /** end of the arena; every region lies below it */
  totalBytes: 12,
  /** bytes reserved for the module's static data */
  staticBytes: 13,
  /** token embedding (vocab, dim) */
  embedding: 14,
  /** final norm weight (dim,) */
  finalNorm: 15,
  /** classifier (vocab, dim); the embedding's address when shared */
  classifier: 16,
  /** RoPE table (ctx, 2·headDim) f32, written by the host, when RoPE turns any dim or any layer is slim */
  ropeTable: 17,
  /** activation: residual stream (dim,) */
  x: 18,
  /** activation: normed input (dim,) */
  xn: 19,
  /** activation: query (dim,) */
  q: 20,
  /** activation: scores (heads, ctx) */
  att: 21,
  /** activation: attention output, heads concatenated (dim,) */
  ao: 22,
  /** activation: output projection (dim,) */
  xo: 23,
  /** activation: normed FFN input (dim,) */
  fn: 24,
  /** activation: FFN gate/up (hidden,) */
  h1: 25,
  /** activation: SwiGLU up (hidden,) */
  h3: 26,
  /** activation: FFN output (dim,) */
  fo: 27,
  /** activation: slim U = A·K (heads, dim) */
  u: 28,
  /** logits (vocab,) f32 */
  logits: 29,
  /** prompt buffer (ctx,) i32 for prefill */
  tokens: 30,
  /** 1: slim layers cache keys after RoPE (slimKeys "post") */
  rotatedKeys: 31,
  /** activation: keys rotated back (ROW_BLOCK, dim), rotatedKeys only */
  kBlock: 32,
  /** activation: running max and sum per head (heads, 2) */
  softmaxState: 33,
  /** storage of weight matrices, a WeightCode */
  weights: 34,
  /** values per scale of q8_0 / q4_0 */
  groupSize: 35,
  /** activation: the projection input quantized to int8 (max(dim, hidden),) */
  xQ8: 36,
  /** activation: its scales (max(dim, hidden) / group,) f32 */
  xScales: 37,
  /** storage of cache rows, a CacheCode */
  cache: 38,
  /** activation: this position's key in f32 before it is stored (kvDim,) */
  kNew: 39,
  /** activation: this position's value in f32 before it is stored (kvDim,) */
  vNew: 40,
  /** 1: LayerNorm with bias, 0: RMSNorm */
  layerNorm: 41,
  /** FFN activation, an ActivationCode */
  activation: 42,
  /** dims per head RoPE turns (0: none) */
  rotaryDims: 43,
  /** learned positions (ctx, dim), or 0 */
  positionEmbedding: 44,
  /** 1: x + attn(norm1 x) + ffn(norm2 x) */
  parallelResidual: 45,
  /** final LayerNorm bias (dim,), LayerNorm only */
  finalNormBias: 46,
  /** B: prompt tokens per pass over the weights; x, xn, q, ao, xo, fn, h1, h3, fo, u, softmaxState, kNew, vNew, xQ8 and xScales hold B rows */
  prefillBlock: 47,
  /** classifier bias (vocab,) f32 added to the logits, or 0 (Phi-2's lm_head) */
  classifierBias: 48,
  /** 0, or what the native firmware adds (wrapping, mod 2^32) to every weight and RoPE-table address when it reads them in place from flash instead of copying them (ARCHITECTURE.md, "Weights in flash"); the host always writes 0 */
  readOnlyDelta: 49,
  /** address of the standalone command's block, 0 without one (the last header slot, so the decoder's slots never reach it) */
  command: 55,
} as const;

/** i32 slots of one layer, at PLAN_HEADER_SLOTS + layer · PLAN_LAYER_SLOTS. Bias slots hold 0 when the model has no such bias. */
export const LayerSlot = {
  /** 1 slim (K-cache only), 0 vanilla */
  slim: 0,
  /** attention norm weight (dim,) */
  attnNorm: 1,
  /** W_Q (dim, dim) */
  wq: 2,
  /** W_K (kvDim, dim); f32 in slim layers */
  wk: 3,
  /** slim: W_KV (dim, dim) f32; vanilla: W_V (kvDim, dim) */
  wvOrWkv: 4,
  /** W_O (dim, dim) */
  wo: 5,
  /** FFN norm weight (dim,) */
  ffnNorm: 6,
  /** W_1 (hidden, dim) */
  w1: 7,
  /** W_2 (dim, hidden) */
  w2: 8,
  /** W_3 (hidden, dim), SwiGLU only */
  w3: 9,
  /** K-cache (ctx, kvDim) rows */
  kCache: 10,
  /** V-cache (ctx, kvDim) rows, vanilla layers only */
  vCache: 11,
  /** attention LayerNorm bias (dim,) */
  attnNormBias: 12,
  /** FFN LayerNorm bias (dim,) */
  ffnNormBias: 13,
  /** b_Q (dim,) */
  bq: 14,
  /** b_K (kvDim,) */
  bk: 15,
  /** b_V (kvDim,), vanilla layers (slim layers fold it into b_O) */
  bv: 16,
  /** b_O (dim,) */
  bo: 17,
  /** b_1 (hidden,) */
  b1: 18,
  /** b_2 (dim,) */
  b2: 19,
} as const;

/** i32 slots of the standalone command's block: where its tokenizer, sampler and io buffers are. */
export const CommandSlot = {
  /** COMMAND_MAGIC */
  magic: 0,
  /** embedded tokenizer (tools/package/command-tokenizer.ts) */
  tokenizer: 1,
  /** its exact length */
  tokenizerBytes: 2,
  /** (vocab,) i32 address of each token's record */
  pieces: 3,
  /** (hashSlots,) i32 piece bytes -> first token id + 1 */
  pieceHash: 4,
  /** slots of pieceHash, a power of two ≥ 2·vocab */
  hashSlots: 5,
  /** (vocab,) f32 sampler probabilities */
  probs: 6,
  /** (vocab,) i32 top-p candidates */
  candidates: 7,
  /** argv pointers, then the argument bytes */
  args: 8,
  /** capacity of args in bytes */
  argsBytes: 9,
  /** (promptSlots,) i32 prompt tokens */
  promptTokens: 10,
  /** capacity of promptTokens in tokens */
  promptSlots: 11,
  /** bytes staged for fd_write */
  output: 12,
  /** capacity of output in bytes */
  outputBytes: 13,
  /** 5 × (mergeSlots,) i32 BPE merge state: next, prev, pair, heap, heap slot; then (mergeSlots,) bytes for a prompt section in Unicode normal form */
  mergeTables: 14,
  /** tokens the merge tables hold (over the K/V caches or the sampler while the prompt is encoded); a prompt of more bytes + 2 is refused */
  mergeSlots: 15,
} as const;

/** What init, step, prefill and truncate report (lastError()). */
export const DecoderStatus = {
  /** success */
  OK: 0,
  /** init() has not succeeded */
  NOT_INITIALIZED: 1,
  /** the plan block does not start with PLAN_MAGIC */
  PLAN_BAD_MAGIC: 2,
  /** the plan block is of another version */
  PLAN_BAD_VERSION: 3,
  /** dimensions or codes are zero, negative or inconsistent */
  PLAN_BAD_DIMS: 4,
  /** a planned region ends beyond the module's memory */
  PLAN_OUT_OF_MEMORY: 5,
  /** the module's static data overlaps the plan */
  STATIC_TOO_LARGE: 6,
  /** no cache row left for another token */
  CONTEXT_FULL: 7,
  /** token id outside the vocabulary, or an empty prompt */
  BAD_TOKEN: 8,
} as const;

/** What each DecoderStatus means, in the user's words. */
export const DECODER_STATUS_SENTENCES: Readonly<Record<number, string>> = {
  0: "ok",
  1: "the decoder was not initialised",
  2: "the plan block has the wrong magic number",
  3: "the plan block is of another version than this decoder",
  4: "the plan's model dimensions are inconsistent",
  5: "the plan needs more memory than the module has",
  6: "the module's static data is larger than the plan reserves",
  7: "the context is full: no cache row is left for another token",
  8: "a token id is outside the vocabulary (or the prompt is empty)",
};

/** Plan slot `weights`: how weight matrices are stored (norms and biases are always f32). */
export const WeightCode = {
  /** f32 */
  F32: 0,
  /** int8 values, then one f32 scale per group */
  Q8_0: 1,
  /** packed int4 values (two per byte), then one f32 scale per group */
  Q4_0: 2,
  /** IEEE binary16 */
  F16: 3,
} as const;

/** Plan slot `cache`: how K/V cache rows are stored. */
export const CacheCode = {
  /** f32 */
  F32: 0,
  /** int8 values, then one f32 scale per row */
  Q8: 1,
  /** IEEE binary16 */
  F16: 2,
} as const;

/** Plan slot `activation` and .slim header field `activation`. */
export const ActivationCode = {
  /** silu(W1 x) ⊙ W3 x */
  SWIGLU: 0,
  /** GELU with erf */
  GELU: 1,
  /** GELU in its tanh form */
  GELU_TANH: 2,
} as const;

/** Byte offsets of the .slim fixed header fields (the format: host/core/slim-format.ts). */
export const SlimHeader = {
  /** 4×u8 "SLIM" */
  magic: 0,
  /** u32 */
  version: 4,
  /** u32 CRC-32 of [16, header_bytes) */
  headerCrc: 8,
  /** u32 CRC-32 of [header_bytes, file_bytes) */
  dataCrc: 12,
  /** u32 where the data section starts */
  headerBytes: 16,
  /** u32 */
  nTensors: 20,
  /** u64 */
  fileBytes: 24,
  /** u32 0 llama, 1 gpt2, 2 neox */
  arch: 32,
  /** u32 */
  dim: 36,
  /** u32 */
  hiddenDim: 40,
  /** u32 */
  nLayers: 44,
  /** u32 */
  nHeads: 48,
  /** u32 */
  nKvHeads: 52,
  /** u32 */
  vocabSize: 56,
  /** u32 */
  seqLen: 60,
  /** u32 */
  rotaryDims: 64,
  /** u32 0 RMSNorm, 1 LayerNorm */
  norm: 68,
  /** u32 an ActivationCode */
  activation: 72,
  /** u32 SlimFlag bits */
  flags: 76,
  /** f64 */
  normEps: 80,
  /** f64 */
  ropeTheta: 88,
  /** u32 */
  groupSize: 96,
  /** u32 0 none, 1 tokenizer.bin, 2 tokenizer.json, 3 bundle (meta line + either) */
  tokenizerKind: 100,
  /** u64 */
  tokenizerOffset: 104,
  /** u64 */
  tokenizerBytes: 112,
  /** f64 */
  slimThreshold: 120,
} as const;

/** Byte offsets inside a .slim layer record. */
export const SlimLayer = {
  /** u32 0 vanilla, 1 slim */
  mode: 0,
  /** u32 why the layer runs as it does */
  reason: 4,
  /** u32 bit k: value k was measured */
  measured: 8,
  /** u32 0 */
  reserved: 12,
  /** SLIM_LAYER_VALUES × f64 */
  values: 16,
} as const;

/** Byte offsets inside a .slim tensor table entry. */
export const SlimEntry = {
  /** SLIM_TENSOR_NAME_BYTES × u8 */
  name: 0,
  /** u32 0 f32, 1 f16, 2 q8_0, 3 q4_0 */
  dtype: 48,
  /** u32 */
  nDims: 52,
  /** SLIM_MAX_DIMS × u32 */
  shape: 56,
  /** u64 in the data section */
  offset: 72,
  /** u64 */
  byteLength: 80,
} as const;

/** Bits of the .slim header field `flags`. */
export const SlimFlag = {
  /** the classifier is the token embedding */
  sharedClassifier: 1,
  /** learned position embedding */
  learnedPositions: 2,
  /** attention and FFN read the same residual */
  parallelResidual: 4,
  /** q, k, v, o and both FFN projections have biases */
  biases: 8,
  /** the classifier has a bias (version 3) */
  classifierBias: 16,
  /** per-pair RoPE frequency factors follow the tensor table (version 3) */
  ropeFreqFactors: 32,
} as const;

/** Status codes of the .slim readers, one per check, in the order the checks run. */
export const SlimStatus = {
  /** a sound file */
  OK: 0,
  /** the file ends inside the header */
  TRUNCATED_HEADER: 1,
  /** not "SLIM" */
  BAD_MAGIC: 2,
  /** another format version */
  BAD_VERSION: 3,
  /** header_bytes misaligned, too small, or not what the counts need */
  BAD_HEADER_LENGTH: 4,
  /** header CRC mismatch */
  HEADER_CRC: 5,
  /** a fixed-header field out of range */
  BAD_FIELD: 6,
  /** file_bytes differs from the file's length (truncated or trailing bytes) */
  FILE_LENGTH: 7,
  /** data CRC mismatch */
  DATA_CRC: 8,
  /** a layer record is inconsistent */
  BAD_LAYER: 9,
  /** name bytes, dtype code, n_dims or shape fields malformed */
  BAD_TENSOR_ENTRY: 10,
  /** a well-formed name that is not a tensor of this model */
  UNEXPECTED_TENSOR: 11,
  /** a tensor named twice */
  DUPLICATE_TENSOR: 12,
  /** shape differs from the config's */
  TENSOR_SHAPE: 13,
  /** dtype not allowed for this tensor, or byte_length differs from shape × dtype */
  TENSOR_DTYPE: 14,
  /** offset misaligned, overlapping the previous tensor, or beyond the data section */
  TENSOR_BOUNDS: 15,
  /** a tensor of this model is not in the table */
  MISSING_TENSOR: 16,
  /** tokenizer offset/length inconsistent with its kind or beyond the data section */
  BAD_TOKENIZER: 17,
  /** bytes after the last tensor/tokenizer beyond the final 16-byte padding */
  DATA_LENGTH: 18,
  /** AssemblyScript reader only: its memory cannot hold the file and its scratch */
  NO_MEMORY: 19,
} as const;

/** Model-wide .slim tensors; the index is the tensor's slot. */
export const SLIM_TOP_TENSORS = ["token_embedding", "position_embedding", "final_norm", "final_norm_bias", "classifier", "classifier_bias"] as const;
export const SLIM_TOP_TENSORS_COUNT = 6;

/** Per-layer .slim tensor kinds in file order; slot = SLIM_TOP_TENSORS length + SLIM_LAYER_TENSORS length · layer + kind. */
export const SLIM_LAYER_TENSORS = ["attn_norm", "attn_norm_bias", "wq", "bq", "wk", "bk", "wv", "wkv", "bv", "wo", "bo", "ffn_norm", "ffn_norm_bias", "w1", "b1", "w2", "b2", "w3"] as const;
export const SLIM_LAYER_TENSORS_COUNT = 18;
