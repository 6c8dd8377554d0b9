/**
 * The binary interface between the host and the modules, declared once (ARCHITECTURE.md, "Schema and code
 * generation"): the plan block, the standalone command's block, the decoder's status codes and their
 * sentences, the codes the plan uses for storages, and the .slim layout. host/core/abi-codegen.ts writes
 * it out as TypeScript (host/core/abi.generated.ts) and AssemblyScript (assembly/abi.generated.ts) during
 * `npm install`; code reads those two files, never this one, so both sides always agree.
 *
 * Slot and offset groups are indexed by field name (`PlanSlot.dim`), code and status groups by their name
 * in capitals (`DecoderStatus.BAD_TOKEN`); the same expression works in both languages.
 */

/** One named number of a group; `sentence` is what the host and the command say when they meet it. */
export interface Member {
  name: string;
  value: number;
  doc: string;
  sentence?: string;
}

export interface Group {
  name: string;
  doc: string;
  members: Member[];
  /** Generate a sentence lookup: TypeScript record `<sentences>` and AssemblyScript function `<sentenceFn>`. */
  sentences?: { ts: string; as: string };
}

export interface Constant {
  name: string;
  value: number;
  doc: string;
  type: "i32" | "u32";
  hex?: boolean;
}

/** An ordered list of names: a TypeScript array, and in AssemblyScript its length and a lookup by index. */
export interface NameList {
  name: string;
  doc: string;
  items: string[];
  asFunction: string;
}

export interface Schema {
  constants: Constant[];
  groups: Group[];
  lists: NameList[];
}

/** Members numbered 0, 1, 2, … in the order given. */
const ordered = (entries: [string, string][]): Member[] => entries.map(([name, doc], value) => ({ name, value, doc }));
/** Members at the given values (byte offsets, bit flags, codes with gaps). */
const at = (entries: [string, number, string][]): Member[] => entries.map(([name, value, doc]) => ({ name, value, doc }));

const PLAN_HEADER_SLOTS = 56;

export const ABI: Schema = {
  constants: [
    { name: "STATIC_BYTES", value: 16384, type: "i32", doc: "Bytes reserved at address 0 for a module's static data; the plan block follows them." },
    { name: "PLAN_MAGIC", value: 0x4e4c5053, type: "i32", hex: true, doc: 'First slot of the plan block: "SPLN" read as a little-endian i32.' },
    { name: "PLAN_VERSION", value: 4, type: "i32", doc: "Plan block version; the decoder refuses any other. 2: weight matrices in the streaming layout (host/core/layout.ts) and the prefill block slot. 3: the RoPE table is written by the host (host/core/rope.ts) and planned whenever RoPE turns anything. 4: the classifier bias slot and the read-only delta (weights read in place from flash)." },
    { name: "PLAN_HEADER_SLOTS", value: PLAN_HEADER_SLOTS, type: "i32", doc: "i32 slots before the first layer's slots." },
    { name: "PLAN_LAYER_SLOTS", value: 24, type: "i32", doc: "i32 slots per layer." },
    { name: "COMMAND_MAGIC", value: 0x444d4353, type: "i32", hex: true, doc: 'First slot of the command block: "SCMD" read as a little-endian i32.' },
    { name: "COMMAND_BLOCK_SLOTS", value: 20, type: "i32", doc: "i32 slots of the command block." },
    { name: "COMMAND_ARG_BYTES_PER_TOKEN", value: 8, type: "i32", doc: "Argument bytes the command plans per context token (plus a fixed allowance for flags)." },
    { name: "COMMAND_MERGE_SLOT_BYTES", value: 21, type: "i32", doc: "Bytes per slot of the command's merge tables: next, prev, pair, heap, heap slot (i32 each) and one byte of a prompt section in Unicode normal form." },
    { name: "ROW_BLOCK", value: 64, type: "i32", doc: "Cached rows slim attention mixes per block (the size of the k_block scratch buffer)." },
    { name: "SLIM_MAGIC_WORD", value: 0x4d494c53, type: "u32", hex: true, doc: '.slim magic "SLIM" read as a little-endian u32.' },
    { name: "SLIM_VERSION", value: 3, type: "u32", doc: "Newest .slim format version (2: the lowered model; 3: plus a classifier bias and/or per-pair RoPE frequency factors, written only for a model that has one of them; host/core/slim-format.ts)." },
    { name: "SLIM_OLDEST_VERSION", value: 2, type: "u32", doc: "Oldest .slim format version still read (a version 2 file is a version 3 file without flag bits 4 and 5)." },
    { name: "SLIM_FIXED_HEADER_BYTES", value: 128, type: "u32", doc: "Bytes of the .slim fixed header." },
    { name: "SLIM_LAYER_RECORD_BYTES", value: 56, type: "u32", doc: "Bytes of one .slim layer record." },
    { name: "SLIM_TENSOR_ENTRY_BYTES", value: 88, type: "u32", doc: "Bytes of one .slim tensor table entry." },
    { name: "SLIM_TENSOR_NAME_BYTES", value: 48, type: "u32", doc: "Bytes of a tensor entry's NUL-padded name field." },
    { name: "SLIM_MAX_DIMS", value: 4, type: "u32", doc: "Most dimensions a .slim tensor has." },
    { name: "SLIM_MAX_DIM", value: 1 << 24, type: "u32", doc: "Largest value of a .slim dimension field." },
    { name: "SLIM_MAX_LAYERS", value: 1024, type: "u32", doc: "Most layers a model may have (real models have at most a few hundred; each costs a dozen tensors)." },
    { name: "SLIM_DATA_ALIGN", value: 16, type: "u32", doc: ".slim tensor data and the tokenizer start on multiples of this (v128 loads, flash execute-in-place)." },
    { name: "SLIM_LAYER_VALUES", value: 5, type: "u32", doc: "Measured f64 values in a layer record." },
  ],
  groups: [
    {
      name: "PlanSlot",
      doc: "i32 slots of the plan block header. f32 values are stored by their bits; addresses are byte offsets into the module's memory, 0 for a buffer the plan does not have.",
      members: [
        ...ordered([
          ["magic", "PLAN_MAGIC"],
          ["version", "PLAN_VERSION"],
          ["dim", "transformer width"],
          ["hidden", "FFN inner width"],
          ["nLayers", "layers"],
          ["nHeads", "query heads"],
          ["nKvHeads", "key/value heads"],
          ["headDim", "dims per head"],
          ["vocab", "vocabulary size"],
          ["ctx", "planned context length (cache rows)"],
          ["normEps", "norm epsilon (f32 bits)"],
          ["ropeTheta", "RoPE base (f32 bits)"],
          ["totalBytes", "end of the arena; every region lies below it"],
          ["staticBytes", "bytes reserved for the module's static data"],
          ["embedding", "token embedding (vocab, dim)"],
          ["finalNorm", "final norm weight (dim,)"],
          ["classifier", "classifier (vocab, dim); the embedding's address when shared"],
          ["ropeTable", "RoPE table (ctx, 2·headDim) f32, written by the host, when RoPE turns any dim or any layer is slim"],
          ["x", "activation: residual stream (dim,)"],
          ["xn", "activation: normed input (dim,)"],
          ["q", "activation: query (dim,)"],
          ["att", "activation: scores (heads, ctx)"],
          ["ao", "activation: attention output, heads concatenated (dim,)"],
          ["xo", "activation: output projection (dim,)"],
          ["fn", "activation: normed FFN input (dim,)"],
          ["h1", "activation: FFN gate/up (hidden,)"],
          ["h3", "activation: SwiGLU up (hidden,)"],
          ["fo", "activation: FFN output (dim,)"],
          ["u", "activation: slim U = A·K (heads, dim)"],
          ["logits", "logits (vocab,) f32"],
          ["tokens", "prompt buffer (ctx,) i32 for prefill"],
          ["rotatedKeys", "1: slim layers cache keys after RoPE (slimKeys \"post\")"],
          ["kBlock", "activation: keys rotated back (ROW_BLOCK, dim), rotatedKeys only"],
          ["softmaxState", "activation: running max and sum per head (heads, 2)"],
          ["weights", "storage of weight matrices, a WeightCode"],
          ["groupSize", "values per scale of q8_0 / q4_0"],
          ["xQ8", "activation: the projection input quantized to int8 (max(dim, hidden),)"],
          ["xScales", "activation: its scales (max(dim, hidden) / group,) f32"],
          ["cache", "storage of cache rows, a CacheCode"],
          ["kNew", "activation: this position's key in f32 before it is stored (kvDim,)"],
          ["vNew", "activation: this position's value in f32 before it is stored (kvDim,)"],
          ["layerNorm", "1: LayerNorm with bias, 0: RMSNorm"],
          ["activation", "FFN activation, an ActivationCode"],
          ["rotaryDims", "dims per head RoPE turns (0: none)"],
          ["positionEmbedding", "learned positions (ctx, dim), or 0"],
          ["parallelResidual", "1: x + attn(norm1 x) + ffn(norm2 x)"],
          ["finalNormBias", "final LayerNorm bias (dim,), LayerNorm only"],
          ["prefillBlock", "B: prompt tokens per pass over the weights; x, xn, q, ao, xo, fn, h1, h3, fo, u, softmaxState, kNew, vNew, xQ8 and xScales hold B rows"],
          ["classifierBias", "classifier bias (vocab,) f32 added to the logits, or 0 (Phi-2's lm_head)"],
          ["readOnlyDelta", "0, or what the native firmware adds (wrapping, mod 2^32) to every weight and RoPE-table address when it reads them in place from flash instead of copying them (ARCHITECTURE.md, \"Weights in flash\"); the host always writes 0"],
        ]),
        { name: "command", value: PLAN_HEADER_SLOTS - 1, doc: "address of the standalone command's block, 0 without one (the last header slot, so the decoder's slots never reach it)" },
      ],
    },
    {
      name: "LayerSlot",
      doc: "i32 slots of one layer, at PLAN_HEADER_SLOTS + layer · PLAN_LAYER_SLOTS. Bias slots hold 0 when the model has no such bias.",
      members: ordered([
        ["slim", "1 slim (K-cache only), 0 vanilla"],
        ["attnNorm", "attention norm weight (dim,)"],
        ["wq", "W_Q (dim, dim)"],
        ["wk", "W_K (kvDim, dim); f32 in slim layers"],
        ["wvOrWkv", "slim: W_KV (dim, dim) f32; vanilla: W_V (kvDim, dim)"],
        ["wo", "W_O (dim, dim)"],
        ["ffnNorm", "FFN norm weight (dim,)"],
        ["w1", "W_1 (hidden, dim)"],
        ["w2", "W_2 (dim, hidden)"],
        ["w3", "W_3 (hidden, dim), SwiGLU only"],
        ["kCache", "K-cache (ctx, kvDim) rows"],
        ["vCache", "V-cache (ctx, kvDim) rows, vanilla layers only"],
        ["attnNormBias", "attention LayerNorm bias (dim,)"],
        ["ffnNormBias", "FFN LayerNorm bias (dim,)"],
        ["bq", "b_Q (dim,)"],
        ["bk", "b_K (kvDim,)"],
        ["bv", "b_V (kvDim,), vanilla layers (slim layers fold it into b_O)"],
        ["bo", "b_O (dim,)"],
        ["b1", "b_1 (hidden,)"],
        ["b2", "b_2 (dim,)"],
      ]),
    },
    {
      name: "CommandSlot",
      doc: "i32 slots of the standalone command's block: where its tokenizer, sampler and io buffers are.",
      members: ordered([
        ["magic", "COMMAND_MAGIC"],
        ["tokenizer", "embedded tokenizer (tools/package/command-tokenizer.ts)"],
        ["tokenizerBytes", "its exact length"],
        ["pieces", "(vocab,) i32 address of each token's record"],
        ["pieceHash", "(hashSlots,) i32 piece bytes -> first token id + 1"],
        ["hashSlots", "slots of pieceHash, a power of two ≥ 2·vocab"],
        ["probs", "(vocab,) f32 sampler probabilities"],
        ["candidates", "(vocab,) i32 top-p candidates"],
        ["args", "argv pointers, then the argument bytes"],
        ["argsBytes", "capacity of args in bytes"],
        ["promptTokens", "(promptSlots,) i32 prompt tokens"],
        ["promptSlots", "capacity of promptTokens in tokens"],
        ["output", "bytes staged for fd_write"],
        ["outputBytes", "capacity of output in bytes"],
        ["mergeTables", "5 × (mergeSlots,) i32 BPE merge state: next, prev, pair, heap, heap slot; then (mergeSlots,) bytes for a prompt section in Unicode normal form"],
        ["mergeSlots", "tokens the merge tables hold (over the K/V caches or the sampler while the prompt is encoded); a prompt of more bytes + 2 is refused"],
      ]),
    },
    {
      name: "DecoderStatus",
      doc: "What init, step, prefill and truncate report (lastError()).",
      sentences: { ts: "DECODER_STATUS_SENTENCES", as: "decoderStatusSentence" },
      members: [
        { name: "OK", value: 0, doc: "success", sentence: "ok" },
        { name: "NOT_INITIALIZED", value: 1, doc: "init() has not succeeded", sentence: "the decoder was not initialised" },
        { name: "PLAN_BAD_MAGIC", value: 2, doc: "the plan block does not start with PLAN_MAGIC", sentence: "the plan block has the wrong magic number" },
        { name: "PLAN_BAD_VERSION", value: 3, doc: "the plan block is of another version", sentence: "the plan block is of another version than this decoder" },
        { name: "PLAN_BAD_DIMS", value: 4, doc: "dimensions or codes are zero, negative or inconsistent", sentence: "the plan's model dimensions are inconsistent" },
        { name: "PLAN_OUT_OF_MEMORY", value: 5, doc: "a planned region ends beyond the module's memory", sentence: "the plan needs more memory than the module has" },
        { name: "STATIC_TOO_LARGE", value: 6, doc: "the module's static data overlaps the plan", sentence: "the module's static data is larger than the plan reserves" },
        { name: "CONTEXT_FULL", value: 7, doc: "no cache row left for another token", sentence: "the context is full: no cache row is left for another token" },
        { name: "BAD_TOKEN", value: 8, doc: "token id outside the vocabulary, or an empty prompt", sentence: "a token id is outside the vocabulary (or the prompt is empty)" },
      ],
    },
    {
      name: "WeightCode",
      doc: "Plan slot `weights`: how weight matrices are stored (norms and biases are always f32).",
      members: ordered([
        ["F32", "f32"],
        ["Q8_0", "int8 values, then one f32 scale per group"],
        ["Q4_0", "packed int4 values (two per byte), then one f32 scale per group"],
        ["F16", "IEEE binary16"],
      ]),
    },
    {
      name: "CacheCode",
      doc: "Plan slot `cache`: how K/V cache rows are stored.",
      members: ordered([
        ["F32", "f32"],
        ["Q8", "int8 values, then one f32 scale per row"],
        ["F16", "IEEE binary16"],
      ]),
    },
    {
      name: "ActivationCode",
      doc: "Plan slot `activation` and .slim header field `activation`.",
      members: ordered([
        ["SWIGLU", "silu(W1 x) ⊙ W3 x"],
        ["GELU", "GELU with erf"],
        ["GELU_TANH", "GELU in its tanh form"],
      ]),
    },
    {
      name: "SlimHeader",
      doc: "Byte offsets of the .slim fixed header fields (the format: host/core/slim-format.ts).",
      members: at([
        ["magic", 0, '4×u8 "SLIM"'],
        ["version", 4, "u32"],
        ["headerCrc", 8, "u32 CRC-32 of [16, header_bytes)"],
        ["dataCrc", 12, "u32 CRC-32 of [header_bytes, file_bytes)"],
        ["headerBytes", 16, "u32 where the data section starts"],
        ["nTensors", 20, "u32"],
        ["fileBytes", 24, "u64"],
        ["arch", 32, "u32 0 llama, 1 gpt2, 2 neox"],
        ["dim", 36, "u32"],
        ["hiddenDim", 40, "u32"],
        ["nLayers", 44, "u32"],
        ["nHeads", 48, "u32"],
        ["nKvHeads", 52, "u32"],
        ["vocabSize", 56, "u32"],
        ["seqLen", 60, "u32"],
        ["rotaryDims", 64, "u32"],
        ["norm", 68, "u32 0 RMSNorm, 1 LayerNorm"],
        ["activation", 72, "u32 an ActivationCode"],
        ["flags", 76, "u32 SlimFlag bits"],
        ["normEps", 80, "f64"],
        ["ropeTheta", 88, "f64"],
        ["groupSize", 96, "u32"],
        ["tokenizerKind", 100, "u32 0 none, 1 tokenizer.bin, 2 tokenizer.json, 3 bundle (meta line + either)"],
        ["tokenizerOffset", 104, "u64"],
        ["tokenizerBytes", 112, "u64"],
        ["slimThreshold", 120, "f64"],
      ]),
    },
    {
      name: "SlimLayer",
      doc: "Byte offsets inside a .slim layer record.",
      members: at([
        ["mode", 0, "u32 0 vanilla, 1 slim"],
        ["reason", 4, "u32 why the layer runs as it does"],
        ["measured", 8, "u32 bit k: value k was measured"],
        ["reserved", 12, "u32 0"],
        ["values", 16, "SLIM_LAYER_VALUES × f64"],
      ]),
    },
    {
      name: "SlimEntry",
      doc: "Byte offsets inside a .slim tensor table entry.",
      members: at([
        ["name", 0, "SLIM_TENSOR_NAME_BYTES × u8"],
        ["dtype", 48, "u32 0 f32, 1 f16, 2 q8_0, 3 q4_0"],
        ["nDims", 52, "u32"],
        ["shape", 56, "SLIM_MAX_DIMS × u32"],
        ["offset", 72, "u64 in the data section"],
        ["byteLength", 80, "u64"],
      ]),
    },
    {
      name: "SlimFlag",
      doc: "Bits of the .slim header field `flags`.",
      members: at([
        ["sharedClassifier", 1, "the classifier is the token embedding"],
        ["learnedPositions", 2, "learned position embedding"],
        ["parallelResidual", 4, "attention and FFN read the same residual"],
        ["biases", 8, "q, k, v, o and both FFN projections have biases"],
        ["classifierBias", 16, "the classifier has a bias (version 3)"],
        ["ropeFreqFactors", 32, "per-pair RoPE frequency factors follow the tensor table (version 3)"],
      ]),
    },
    {
      name: "SlimStatus",
      doc: "Status codes of the .slim readers, one per check, in the order the checks run.",
      members: ordered([
        ["OK", "a sound file"],
        ["TRUNCATED_HEADER", "the file ends inside the header"],
        ["BAD_MAGIC", "not \"SLIM\""],
        ["BAD_VERSION", "another format version"],
        ["BAD_HEADER_LENGTH", "header_bytes misaligned, too small, or not what the counts need"],
        ["HEADER_CRC", "header CRC mismatch"],
        ["BAD_FIELD", "a fixed-header field out of range"],
        ["FILE_LENGTH", "file_bytes differs from the file's length (truncated or trailing bytes)"],
        ["DATA_CRC", "data CRC mismatch"],
        ["BAD_LAYER", "a layer record is inconsistent"],
        ["BAD_TENSOR_ENTRY", "name bytes, dtype code, n_dims or shape fields malformed"],
        ["UNEXPECTED_TENSOR", "a well-formed name that is not a tensor of this model"],
        ["DUPLICATE_TENSOR", "a tensor named twice"],
        ["TENSOR_SHAPE", "shape differs from the config's"],
        ["TENSOR_DTYPE", "dtype not allowed for this tensor, or byte_length differs from shape × dtype"],
        ["TENSOR_BOUNDS", "offset misaligned, overlapping the previous tensor, or beyond the data section"],
        ["MISSING_TENSOR", "a tensor of this model is not in the table"],
        ["BAD_TOKENIZER", "tokenizer offset/length inconsistent with its kind or beyond the data section"],
        ["DATA_LENGTH", "bytes after the last tensor/tokenizer beyond the final 16-byte padding"],
        ["NO_MEMORY", "AssemblyScript reader only: its memory cannot hold the file and its scratch"],
      ]),
    },
  ],
  lists: [
    {
      name: "SLIM_TOP_TENSORS",
      doc: "Model-wide .slim tensors; the index is the tensor's slot.",
      items: ["token_embedding", "position_embedding", "final_norm", "final_norm_bias", "classifier", "classifier_bias"],
      asFunction: "slimTopTensor",
    },
    {
      name: "SLIM_LAYER_TENSORS",
      doc: "Per-layer .slim tensor kinds in file order; slot = SLIM_TOP_TENSORS length + SLIM_LAYER_TENSORS length · layer + kind.",
      items: ["attn_norm", "attn_norm_bias", "wq", "bq", "wk", "bk", "wv", "wkv", "bv", "wo", "bo", "ffn_norm", "ffn_norm_bias", "w1", "b1", "w2", "b2", "w3"],
      asFunction: "slimLayerTensor",
    },
  ],
};
