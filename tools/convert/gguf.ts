/**
 * GGUF files (llama.cpp, ggml's docs/gguf.md) into the canonical Model; the "llama" architecture only.
 *
 * Layout, little-endian, versions 2 and 3 (v3 only adds big-endian files, which are refused here):
 *   "GGUF" · u32 version · u64 tensor_count · u64 metadata_kv_count
 *   metadata_kv_count × (string key · u32 value_type · value)        strings are u64 length + UTF-8
 *   tensor_count × (string name · u32 n_dims · u64 ne[n_dims] · u32 ggml_type · u64 offset)
 *   padding to general.alignment (default 32) · tensor data, each tensor at data start + offset
 * Dims are in ggml order: ne[0] is the innermost, contiguous one, so a PyTorch (out, in) matrix is stored
 * with ne = [in, out] and the very same bytes: row-major (out, in), as our Model wants.
 *
 * RoPE layout of attn_q / attn_k: llama.cpp runs LLM_ARCH_LLAMA with LLAMA_ROPE_TYPE_NORM ("a normal
 * RoPE, operating on pairs of consecutive head values": ggml rotates x[i0], x[i0+1] by pos·base^(-i0/n_rot)),
 * not NEOX mode (x[i], x[i + n_rot/2]). To make HF checkpoints fit, convert_hf_to_gguf.py's LlamaModel
 * permutes q_proj and k_proj rows (and biases) per head with
 *     w.reshape(n_head, 2, rows / n_head / 2, cols).swapaxes(1, 2).reshape(w.shape)
 * (n_head = num_key_value_heads for k), i.e. new row 2i <- HF row i, new row 2i + 1 <- HF row i + headDim/2:
 * exactly our adjacent-pair convention (host/model.ts). Meta's original checkpoints were adjacent pairs
 * already and are written unpermuted. So GGUF llama q/k rows are taken AS THEY ARE; the GGUF tests prove
 * it by matching a rotate_half oracle run on the HF-layout tensors the file was written from.
 *
 * Broken bytes end in SlimError("E_FORMAT") naming the file and the field; valid files holding what we do
 * not run (another architecture, K-quants, RoPE scaling, experts) end in "E_MODEL".
 */
import { fail } from "../../host/core/errors.ts";
import { readWholeFile } from "../../host/core/files.ts";
import { type LayerWeights, type Model, type ModelConfig, checkShapeFields } from "../../host/core/model.ts";
import type { WeightDtype } from "../../host/core/plan.ts";
import { readTokenizer, type Tokenizer } from "../../host/core/tokenizer.ts";
import { LLAMA3_SPLIT, QWEN2_SPLIT } from "../../host/core/hf-tokenizer.ts";
import { writeBundle, type SpecialToken, type TokenizerMeta } from "../../host/core/tokenizers.ts";
import type { Importer } from "./importer.ts";
import { GEMMA3_MISSING, halvesToPairs } from "./hf-llama.ts";
import { bf16FromBytes, f16FromBytes, f32FromBytes, halfToFloat } from "./safetensors.ts";

const GGUF_MAGIC = "GGUF";
const DEFAULT_ALIGNMENT = 32;
const MAX_DIMS = 4; // GGML_MAX_DIMS

/** Metadata value types (gguf_type). */
const VALUE_TYPE = ["UINT8", "INT8", "UINT16", "INT16", "UINT32", "INT32", "FLOAT32", "BOOL", "STRING", "ARRAY", "UINT64", "INT64", "FLOAT64"] as const;
const ARRAY = 9;

/** ggml tensor types by number: name, values per block, bytes per block (ggml.c type_traits). */
const GGML_TYPES: Record<number, { name: string; block: number; bytes: number }> = {
  0: { name: "F32", block: 1, bytes: 4 },
  1: { name: "F16", block: 1, bytes: 2 },
  2: { name: "Q4_0", block: 32, bytes: 18 },
  3: { name: "Q4_1", block: 32, bytes: 20 },
  6: { name: "Q5_0", block: 32, bytes: 22 },
  7: { name: "Q5_1", block: 32, bytes: 24 },
  8: { name: "Q8_0", block: 32, bytes: 34 },
  9: { name: "Q8_1", block: 32, bytes: 36 },
  10: { name: "Q2_K", block: 256, bytes: 84 },
  11: { name: "Q3_K", block: 256, bytes: 110 },
  12: { name: "Q4_K", block: 256, bytes: 144 },
  13: { name: "Q5_K", block: 256, bytes: 176 },
  14: { name: "Q6_K", block: 256, bytes: 210 },
  15: { name: "Q8_K", block: 256, bytes: 292 },
  24: { name: "I8", block: 1, bytes: 1 },
  25: { name: "I16", block: 1, bytes: 2 },
  26: { name: "I32", block: 1, bytes: 4 },
  27: { name: "I64", block: 1, bytes: 8 },
  28: { name: "F64", block: 1, bytes: 8 },
  30: { name: "BF16", block: 1, bytes: 2 },
};
const DEQUANTIZED = ["F32", "F16", "BF16", "Q8_0"];

export type GgufValue = number | bigint | boolean | string | GgufValue[];

export interface GgufTensor {
  name: string;
  ne: number[]; // ggml order: ne[0] innermost
  type: number; // ggml_type
  offset: number; // relative to the data section, as stored
  start: number; // absolute byte offset in the file
  bytes: number; // 0 when the type's size is unknown to us
}

export interface GgufFile {
  name: string; // path used in messages
  version: number;
  alignment: number;
  metadata: ReadonlyMap<string, GgufValue>;
  tensors: ReadonlyMap<string, GgufTensor>;
  bytes: Uint8Array;
}

/** Imports a GGUF llama model from disk. */
export function importGguf(path: string): Model {
  return ggufToModel(readGguf(readWholeFile(path, "GGUF file"), path));
}

// ---------------------------------------------------------------------------------------------
// container

/** Bounds-checked little-endian reader; `what` names the field being read when the bytes run out. */
class Cursor {
  private readonly view: DataView;
  at = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly name: string,
  ) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  private take(n: number, what: string): number {
    if (this.at + n > this.bytes.length) {
      fail("E_FORMAT", `${this.name}: file ends at byte ${this.bytes.length}, inside ${what} (${n} bytes needed at offset ${this.at}; truncated file).`);
    }
    const start = this.at;
    this.at += n;
    return start;
  }
  u8 = (what: string) => this.view.getUint8(this.take(1, what));
  i8 = (what: string) => this.view.getInt8(this.take(1, what));
  u16 = (what: string) => this.view.getUint16(this.take(2, what), true);
  i16 = (what: string) => this.view.getInt16(this.take(2, what), true);
  u32 = (what: string) => this.view.getUint32(this.take(4, what), true);
  i32 = (what: string) => this.view.getInt32(this.take(4, what), true);
  f32 = (what: string) => this.view.getFloat32(this.take(4, what), true);
  f64 = (what: string) => this.view.getFloat64(this.take(8, what), true);
  u64 = (what: string) => toNumber(this.view.getBigUint64(this.take(8, what), true));
  i64 = (what: string) => toNumber(this.view.getBigInt64(this.take(8, what), true));

  /** A u64 that must be a count or size we can hold. */
  count(what: string): number {
    const v = this.u64(what);
    if (typeof v === "bigint") fail("E_FORMAT", `${this.name}: ${what} is ${v}, far past any file size (corrupt header).`);
    return v as number;
  }

  string(what: string): string {
    const len = this.count(`the length of ${what}`);
    const start = this.take(len, what);
    try {
      // ignoreBOM: a string that is a byte-order mark (Llama 2's piece "\ufeff", id 30143) is that character, not nothing
      return new TextDecoder("utf-8", { fatal: true, ignoreBOM: true }).decode(this.bytes.subarray(start, start + len));
    } catch {
      return fail("E_FORMAT", `${this.name}: ${what} is not valid UTF-8.`);
    }
  }

  remaining(): number {
    return this.bytes.length - this.at;
  }
}

/** A metadata value for a message: strings quoted; bigints (u64/i64 values) spelled out, which JSON.stringify cannot. */
const showValue = (v: GgufValue | undefined): string => (typeof v === "string" ? JSON.stringify(v) : String(v));

const toNumber = (v: bigint): number | bigint => (v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v);

/** Reads a GGUF file's header, metadata and tensor table from memory; tensor data is read on demand. */
export function readGguf(bytes: Uint8Array, name: string): GgufFile {
  const cur = new Cursor(bytes, name);
  if (bytes.length < 4 || String.fromCharCode(...bytes.subarray(0, 4)) !== GGUF_MAGIC) {
    fail("E_FORMAT", `${name}: magic is ${JSON.stringify(String.fromCharCode(...bytes.subarray(0, 4)))}, expected "GGUF" (not a GGUF file).`);
  }
  cur.at = 4;
  const version = cur.u32("the version field");
  if (version !== 2 && version !== 3) {
    const hint = version === 1 ? " (v1 used 32-bit counts and is obsolete)" : (version & 0xffff) === 0 ? " (looks byte-swapped: a big-endian file)" : "";
    fail("E_FORMAT", `${name}: version field is ${version}, but only GGUF versions 2 and 3 are read${hint}.`);
  }
  const tensorCount = cur.count("tensor_count");
  const kvCount = cur.count("metadata_kv_count");
  // Every entry needs at least 8 bytes of key or name length: a cheap guard against absurd counts.
  if (kvCount + tensorCount > cur.remaining() / 8) {
    fail("E_FORMAT", `${name}: header says ${tensorCount} tensors and ${kvCount} metadata entries, more than the ${cur.remaining()} remaining bytes can hold (corrupt or truncated).`);
  }

  const metadata = new Map<string, GgufValue>();
  for (let i = 0; i < kvCount; i++) {
    const key = cur.string(`the name of metadata key ${i}`);
    if (metadata.has(key)) fail("E_FORMAT", `${name}: metadata key ${key} appears twice.`);
    const type = cur.u32(`the value type of metadata key ${key}`);
    metadata.set(key, readValue(cur, type, `metadata key ${key}`));
  }

  const alignmentValue = metadata.get("general.alignment") ?? DEFAULT_ALIGNMENT;
  if (typeof alignmentValue !== "number" || !Number.isInteger(alignmentValue) || alignmentValue <= 0 || (alignmentValue & (alignmentValue - 1)) !== 0) {
    fail("E_FORMAT", `${name}: metadata key general.alignment is ${String(alignmentValue)}, expected a power of two.`);
  }
  const alignment = alignmentValue as number;

  const infos: Omit<GgufTensor, "start">[] = [];
  for (let i = 0; i < tensorCount; i++) {
    const tname = cur.string(`the name of tensor ${i}`);
    const nDims = cur.u32(`n_dims of tensor ${tname}`);
    if (nDims < 1 || nDims > MAX_DIMS) fail("E_FORMAT", `${name}: tensor ${tname} has n_dims=${nDims}, expected 1..${MAX_DIMS}.`);
    const ne = Array.from({ length: nDims }, (_, d) => cur.count(`dimension ${d} of tensor ${tname}`));
    const type = cur.u32(`the type of tensor ${tname}`);
    const offset = cur.count(`the offset of tensor ${tname}`);
    if (offset % alignment !== 0) {
      fail("E_FORMAT", `${name}: tensor ${tname} has offset ${offset}, not a multiple of the alignment ${alignment}.`);
    }
    infos.push({ name: tname, ne, type, offset, bytes: tensorBytes(ne, type, tname, name) });
  }
  const dataStart = Math.ceil(cur.at / alignment) * alignment;
  const tensors = new Map<string, GgufTensor>();
  for (const info of infos) {
    if (tensors.has(info.name)) fail("E_FORMAT", `${name}: tensor ${info.name} appears twice in the tensor table.`);
    const start = dataStart + info.offset;
    if (start + info.bytes > bytes.length) {
      fail("E_FORMAT", `${name}: tensor ${info.name} needs bytes ${start}..${start + info.bytes}, but the file ends at ${bytes.length} (truncated).`);
    }
    tensors.set(info.name, { ...info, start });
  }
  checkNoOverlap([...tensors.values()], name);
  return { name, version, alignment, metadata, tensors, bytes };
}

function readValue(cur: Cursor, type: number, what: string, depth = 0): GgufValue {
  switch (type) {
    case 0:
      return cur.u8(what);
    case 1:
      return cur.i8(what);
    case 2:
      return cur.u16(what);
    case 3:
      return cur.i16(what);
    case 4:
      return cur.u32(what);
    case 5:
      return cur.i32(what);
    case 6:
      return cur.f32(what);
    case 7: {
      const b = cur.u8(what);
      if (b > 1) fail("E_FORMAT", `${cur.name}: ${what} is a BOOL holding ${b}, expected 0 or 1.`);
      return b === 1;
    }
    case 8:
      return cur.string(what);
    case ARRAY: {
      const elemType = cur.u32(`the element type of ${what}`);
      if (elemType === ARRAY && depth > 8) fail("E_FORMAT", `${cur.name}: ${what} nests arrays deeper than 8 levels.`);
      const n = cur.count(`the length of ${what}`);
      if (n > cur.remaining()) fail("E_FORMAT", `${cur.name}: ${what} is an array of ${n} values, more than the ${cur.remaining()} bytes left in the file.`);
      return Array.from({ length: n }, (_, i) => readValue(cur, elemType, `${what}[${i}]`, depth + 1));
    }
    case 10:
      return cur.u64(what);
    case 11:
      return cur.i64(what);
    case 12:
      return cur.f64(what);
  }
  return fail("E_FORMAT", `${cur.name}: ${what} has value type ${type}, not one GGUF defines (0..${VALUE_TYPE.length - 1}).`);
}

/** Bytes of a tensor; 0 for a type we do not know the size of (checked again when it is read). */
function tensorBytes(ne: number[], type: number, tname: string, name: string): number {
  const t = GGML_TYPES[type];
  if (!t) return 0;
  if (ne[0] % t.block !== 0) fail("E_FORMAT", `${name}: tensor ${tname} has ne[0]=${ne[0]}, not a multiple of the ${t.name} block size ${t.block}.`);
  const count = ne.reduce((a, b) => a * b, 1);
  if (!Number.isSafeInteger(count)) fail("E_FORMAT", `${name}: tensor ${tname} has dims [${ne.join(", ")}], too many values to address.`);
  return (count / t.block) * t.bytes;
}

function checkNoOverlap(tensors: GgufTensor[], name: string): void {
  const sorted = tensors.filter((t) => t.bytes > 0).sort((a, b) => a.start - b.start);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1];
    if (sorted[i].start < prev.start + prev.bytes) {
      fail("E_FORMAT", `${name}: tensor ${sorted[i].name} at offset ${sorted[i].offset} overlaps tensor ${prev.name} (offset ${prev.offset}, ${prev.bytes} bytes).`);
    }
  }
}

/** Values of a tensor as f32, in storage order (ne[0] fastest); F32, F16, BF16 and Q8_0 are converted. */
export function ggufTensorF32(file: GgufFile, tensor: string): Float32Array {
  const t = file.tensors.get(tensor) ?? fail("E_FORMAT", `${file.name}: tensor ${tensor} is missing.`);
  const typeName = GGML_TYPES[t.type]?.name ?? `unknown type ${t.type}`;
  const raw = file.bytes.subarray(t.start, t.start + t.bytes);
  switch (typeName) {
    case "F32":
      return f32FromBytes(raw);
    case "F16":
      return f16FromBytes(raw);
    case "BF16":
      return bf16FromBytes(raw);
    case "Q8_0":
      return dequantizeQ80(raw);
  }
  return fail("E_MODEL", `${file.name}: tensor ${tensor} has type ${typeName}, which this importer does not dequantize (${DEQUANTIZED.join(", ")}).`);
}

/** Q8_0 blocks (ggml block_q8_0): f16 scale d, then 32 int8 q; value = q · d, one f32 rounding as in ggml. */
function dequantizeQ80(raw: Uint8Array): Float32Array {
  const blocks = raw.length / 34;
  const out = new Float32Array(blocks * 32);
  const q = new Int8Array(raw.buffer, raw.byteOffset, raw.length);
  for (let b = 0; b < blocks; b++) {
    const d = halfToFloat(raw[34 * b] | (raw[34 * b + 1] << 8));
    for (let j = 0; j < 32; j++) out[32 * b + j] = q[34 * b + 2 + j] * d;
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// llama architecture

/** Reads metadata typed values, naming the key in messages. */
class Meta {
  constructor(private readonly file: GgufFile) {}

  get(key: string): GgufValue | undefined {
    return this.file.metadata.get(key);
  }

  int(key: string, fallback?: number): number {
    const v = this.get(key) ?? fallback;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
      return fail("E_FORMAT", `${this.file.name}: metadata key ${key} is ${v === undefined ? "missing" : String(v)}, expected a positive integer.`);
    }
    return v;
  }

  positive(key: string, fallback?: number): number {
    const v = this.get(key) ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      return fail("E_FORMAT", `${this.file.name}: metadata key ${key} is ${v === undefined ? "missing" : String(v)}, expected a positive number.`);
    }
    return v;
  }
}

/** The GGUF architectures read: Llama's layer, Qwen2's with q/k/v biases, and Phi-2's (ggufPhi2ToModel). */
const GGUF_ARCHES = ["llama", "qwen2", "phi2"];

/**
 * The canonical Model of a GGUF "llama" or "qwen2" file. convert_hf_to_gguf.py permutes a llama file's
 * q/k rows into adjacent RoPE pairs (our layout already), but writes qwen2's as Hugging Face has them
 * (llama.cpp runs it with rotate_half RoPE), so those rows, and their biases, are moved here (halvesToPairs).
 */
export function ggufToModel(file: GgufFile): Model {
  const meta = new Meta(file);
  const arch = meta.get("general.architecture");
  if (arch === undefined) fail("E_FORMAT", `${file.name}: metadata key general.architecture is missing.`);
  if (arch === "gemma3") fail("E_MODEL", `${file.name}: metadata key general.architecture is "gemma3", which is not supported yet: ${GEMMA3_MISSING}.`);
  if (typeof arch !== "string" || !GGUF_ARCHES.includes(arch)) fail("E_MODEL", `${file.name}: metadata key general.architecture is ${showValue(arch)}, but only ${GGUF_ARCHES.slice(0, -1).map((a) => JSON.stringify(a)).join(", ")} and ${JSON.stringify(GGUF_ARCHES.at(-1))} GGUF files are imported.`);
  const a = arch as string;
  if (a === "phi2") return ggufPhi2ToModel(file, meta);
  const qwen2 = a === "qwen2";
  const expertCount = meta.get(`${a}.expert_count`);
  if (typeof expertCount === "number" && expertCount > 0) fail("E_MODEL", `${file.name}: metadata key ${a}.expert_count is ${expertCount}: mixture-of-experts models are not supported.`);
  const scaling = meta.get(`${a}.rope.scaling.type`);
  if (scaling !== undefined && scaling !== "none") fail("E_MODEL", `${file.name}: metadata key ${a}.rope.scaling.type is ${showValue(scaling)}, but RoPE scaling is not implemented (only Llama 3.x's per-pair factors, the tensor rope_freqs.weight).`);

  const dim = meta.int(`${a}.embedding_length`);
  const nHeads = meta.int(`${a}.attention.head_count`);
  const nKvHeads = meta.int(`${a}.attention.head_count_kv`, nHeads);
  const bad = (msg: string) => fail("E_FORMAT", `${file.name}: ${msg}`);
  if (dim % nHeads !== 0) bad(`metadata ${a}.embedding_length=${dim} is not divisible by ${a}.attention.head_count=${nHeads}, so heads cannot have equal size.`);
  if (nHeads % nKvHeads !== 0) bad(`metadata ${a}.attention.head_count=${nHeads} is not divisible by llama.attention.head_count_kv=${nKvHeads}, so query heads cannot share key/value heads evenly.`);
  const headDim = dim / nHeads;
  const rotaryDims = meta.int(`${a}.rope.dimension_count`, headDim);
  if (rotaryDims > headDim || rotaryDims % 2 !== 0) bad(`metadata ${a}.rope.dimension_count=${rotaryDims}, expected an even number of dims no larger than the head size ${headDim}.`);
  const embd = file.tensors.get("token_embd.weight") ?? bad("tensor token_embd.weight (token embedding) is missing.");
  const vocabSize = embd.ne.length === 2 ? embd.ne[1] : 0;
  const declaredVocab = meta.get(`${a}.vocab_size`);
  if (declaredVocab !== undefined && declaredVocab !== vocabSize) bad(`metadata ${a}.vocab_size=${String(declaredVocab)} disagrees with tensor token_embd.weight, which holds ${vocabSize} rows.`);
  const shared = !file.tensors.has("output.weight");

  const config: ModelConfig = {
    arch: "llama",
    dim,
    hiddenDim: meta.int(`${a}.feed_forward_length`),
    nLayers: meta.int(`${a}.block_count`),
    nHeads,
    nKvHeads,
    vocabSize,
    seqLen: meta.int(`${a}.context_length`),
    normEps: meta.positive(`${a}.attention.layer_norm_rms_epsilon`),
    ropeTheta: meta.positive(`${a}.rope.freq_base`, 10000),
    sharedClassifier: shared,
    ...(rotaryDims !== headDim ? { rotaryDims } : {}),
  };
  // The shape ranges every reader shares, and a tensor for every claimed layer, before anything is converted.
  checkShapeFields(config, {
    source: file.name,
    noun: "metadata key",
    names: {
      dim: `${a}.embedding_length`, hidden_dim: `${a}.feed_forward_length`, n_layers: `${a}.block_count`, n_heads: `${a}.attention.head_count`,
      n_kv_heads: `${a}.attention.head_count_kv`, vocab_size: `${a}.vocab_size (rows of token_embd.weight)`, seq_len: `${a}.context_length`,
    },
    tensorNames: file.tensors.keys(),
    layerPrefix: "blk.",
  });
  const kv = nKvHeads * headDim;
  const hidden = config.hiddenDim;
  /** One tensor, its ggml dims checked against what the metadata implies. */
  const tensor = (tname: string, ne: number[], role: string, implied: string): Float32Array => {
    const t = file.tensors.get(tname) ?? bad(`tensor ${tname} (${role}) is missing.`);
    if (t.ne.length !== ne.length || t.ne.some((d, i) => d !== ne[i])) {
      bad(`tensor ${tname} (${role}) has ggml dims [${t.ne.join(", ")}], but metadata (${implied}) implies [${ne.join(", ")}].`);
    }
    return ggufTensorF32(file, tname);
  };
  const says = {
    dim: `${a}.embedding_length=${dim}`,
    kv: `${a}.embedding_length=${dim}, head_count=${nHeads}, head_count_kv=${nKvHeads}`,
    ffn: `${a}.embedding_length=${dim}, feed_forward_length=${hidden}`,
    vocab: `${a}.embedding_length=${dim}, ${vocabSize} tokens`,
  };

  // Llama 3.x: convert_hf_to_gguf.py turns rope_scaling (type llama3) into one f32 divisor per rotary pair
  if (file.tensors.has("rope_freqs.weight")) {
    const f = tensor("rope_freqs.weight", [rotaryDims / 2], "RoPE frequency factors, one per rotary pair", `${a}.rope.dimension_count=${rotaryDims}`);
    const i = f.findIndex((x) => !(Number.isFinite(x) && x > 0));
    if (i >= 0) bad(`tensor rope_freqs.weight (RoPE frequency factors) holds ${f[i]} at ${i}, expected finite numbers > 0.`);
    config.ropeFreqFactors = Array.from(f);
  }
  const tokenEmbedding = tensor("token_embd.weight", [dim, vocabSize], "token embedding", says.vocab);
  const layers: LayerWeights[] = [];
  if (qwen2) config.biases = true;
  const pairs = (w: Float32Array, heads: number, cols: number) => (qwen2 ? halvesToPairs(w, heads, headDim, rotaryDims, cols) : w);
  for (let l = 0; l < config.nLayers; l++) {
    const t = (n: string, ne: number[], role: string, implied: string) => tensor(`blk.${l}.${n}.weight`, ne, `layer ${l} ${role}`, implied);
    const b = (n: string, ne: number[], role: string, implied: string) => tensor(`blk.${l}.${n}.bias`, ne, `layer ${l} ${role}`, implied);
    // Qwen2's q/k/v biases; the decoder's bias slots also hold b_O, b_1, b_2, which Qwen2 has not: zeros there
    const biases: Partial<LayerWeights> = qwen2
      ? {
          bq: pairs(b("attn_q", [dim], "query bias", says.dim), nHeads, 1),
          bk: pairs(b("attn_k", [kv], "key bias", says.kv), nKvHeads, 1),
          bv: b("attn_v", [kv], "value bias", says.kv),
          bo: new Float32Array(dim),
          b1: new Float32Array(hidden),
          b2: new Float32Array(dim),
        }
      : {};
    layers.push({
      ...biases,
      attnNorm: t("attn_norm", [dim], "attention RMSNorm", says.dim),
      wq: pairs(t("attn_q", [dim, dim], "query projection", says.dim), nHeads, dim), // llama: adjacent pairs already (see above)
      wk: pairs(t("attn_k", [dim, kv], "key projection", says.kv), nKvHeads, dim),
      wv: t("attn_v", [dim, kv], "value projection", says.kv),
      wo: t("attn_output", [dim, dim], "attention output projection", says.dim),
      ffnNorm: t("ffn_norm", [dim], "FFN RMSNorm", says.dim),
      w1: t("ffn_gate", [dim, hidden], "gate projection", says.ffn),
      w2: t("ffn_down", [hidden, dim], "down projection", says.ffn),
      w3: t("ffn_up", [dim, hidden], "up projection", says.ffn),
    });
  }
  const finalNorm = tensor("output_norm.weight", [dim], "final RMSNorm", says.dim);
  const classifier = shared ? tokenEmbedding : tensor("output.weight", [dim, vocabSize], "classifier", says.vocab);
  return { config, weights: { tokenEmbedding, layers, finalNorm, classifier } };
}

/**
 * A GGUF "phi2" file (llama.cpp's PHI2 architecture, as convert_hf_to_gguf.py writes PhiForCausalLM): keys
 * phi2.{context_length, embedding_length, feed_forward_length, block_count, attention.head_count,
 * attention.head_count_kv, attention.layer_norm_epsilon, rope.dimension_count}, tensors token_embd,
 * blk.N.{attn_norm, attn_q, attn_k, attn_v, attn_output, ffn_up, ffn_down} (weights and biases; attn_q/k/v
 * are one fused attn_qkv, rows q then k then v, in files converted from Microsoft's original layout),
 * output_norm and output (weight and bias). One LayerNorm per layer feeds attention and MLP in parallel
 * (ffn_norm is not used); q/k rows are in Hugging Face's rotate_half order (llama.cpp runs phi2 with NeoX
 * RoPE), so they are moved to adjacent pairs here as in tools/convert/hf-phi.ts.
 */
function ggufPhi2ToModel(file: GgufFile, meta: Meta): Model {
  const a = "phi2";
  const bad = (msg: string): never => fail("E_FORMAT", `${file.name}: ${msg}`);
  const dim = meta.int(`${a}.embedding_length`);
  const nHeads = meta.int(`${a}.attention.head_count`);
  const nKvHeads = meta.int(`${a}.attention.head_count_kv`, nHeads);
  if (dim % nHeads !== 0) bad(`metadata ${a}.embedding_length=${dim} is not divisible by ${a}.attention.head_count=${nHeads}, so heads cannot have equal size.`);
  if (nKvHeads !== nHeads) fail("E_MODEL", `${file.name}: metadata key ${a}.attention.head_count_kv is ${nKvHeads}, but Phi-2 has one key/value head per query head (${nHeads}); grouped heads are not mapped for phi2.`);
  const headDim = dim / nHeads;
  const rotaryDims = meta.int(`${a}.rope.dimension_count`, headDim);
  if (rotaryDims > headDim || rotaryDims % 2 !== 0) bad(`metadata ${a}.rope.dimension_count=${rotaryDims}, expected an even number of dims no larger than the head size ${headDim}.`);
  const scaling = meta.get(`${a}.rope.scaling.type`);
  if (scaling !== undefined && scaling !== "none") fail("E_MODEL", `${file.name}: metadata key ${a}.rope.scaling.type is ${showValue(scaling)}, but RoPE scaling is not implemented.`);
  const embd = file.tensors.get("token_embd.weight") ?? bad("tensor token_embd.weight (token embedding) is missing.");
  const vocabSize = embd.ne.length === 2 ? embd.ne[1] : 0;
  if (!file.tensors.has("output.weight")) fail("E_MODEL", `${file.name}: tensor output.weight is missing; a phi2 file holds its own classifier (lm_head with a bias), it is not tied to token_embd.`);
  const config: ModelConfig = {
    arch: "neox",
    dim,
    hiddenDim: meta.int(`${a}.feed_forward_length`),
    nLayers: meta.int(`${a}.block_count`),
    nHeads,
    nKvHeads,
    vocabSize,
    seqLen: meta.int(`${a}.context_length`),
    normEps: meta.positive(`${a}.attention.layer_norm_epsilon`),
    ropeTheta: meta.positive(`${a}.rope.freq_base`, 10000),
    sharedClassifier: false,
    norm: "layer",
    activation: "gelu_tanh",
    rotaryDims,
    learnedPositions: false,
    parallelResidual: true,
    biases: true,
    classifierBias: true,
  };
  checkShapeFields(config, {
    source: file.name,
    noun: "metadata key",
    names: {
      dim: `${a}.embedding_length`, hidden_dim: `${a}.feed_forward_length`, n_layers: `${a}.block_count`, n_heads: `${a}.attention.head_count`,
      n_kv_heads: `${a}.attention.head_count_kv`, vocab_size: `${a}.vocab_size (rows of token_embd.weight)`, seq_len: `${a}.context_length`,
    },
    tensorNames: file.tensors.keys(),
    layerPrefix: "blk.",
  });
  const hidden = config.hiddenDim;
  const tensor = (tname: string, ne: number[], role: string, implied: string): Float32Array => {
    const t = file.tensors.get(tname) ?? bad(`tensor ${tname} (${role}) is missing.`);
    if (t.ne.length !== ne.length || t.ne.some((d, i) => d !== ne[i])) bad(`tensor ${tname} (${role}) has ggml dims [${t.ne.join(", ")}], but metadata (${implied}) implies [${ne.join(", ")}].`);
    return ggufTensorF32(file, tname);
  };
  const says = {
    dim: `${a}.embedding_length=${dim}`,
    ffn: `${a}.embedding_length=${dim}, feed_forward_length=${hidden}`,
    vocab: `${a}.embedding_length=${dim}, ${vocabSize} tokens`,
  };
  const pairs = (w: Float32Array, cols: number) => halvesToPairs(w, nHeads, headDim, rotaryDims, cols);
  const tokenEmbedding = tensor("token_embd.weight", [dim, vocabSize], "token embedding", says.vocab);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const t = (n: string, ne: number[], role: string, implied = says.dim) => tensor(`blk.${l}.${n}`, ne, `layer ${l} ${role}`, implied);
    let q: { w: Float32Array; b: Float32Array }, k: typeof q, v: typeof q;
    if (file.tensors.has(`blk.${l}.attn_qkv.weight`)) {
      // fused: rows [q (dim); k (dim); v (dim)], bias likewise
      const w = t("attn_qkv.weight", [dim, 3 * dim], "fused q/k/v projection");
      const b = t("attn_qkv.bias", [3 * dim], "fused q/k/v bias");
      const part = (i: number) => ({ w: w.slice(i * dim * dim, (i + 1) * dim * dim), b: b.slice(i * dim, (i + 1) * dim) });
      [q, k, v] = [part(0), part(1), part(2)];
    } else {
      const one = (n: string, role: string) => ({ w: t(`${n}.weight`, [dim, dim], `${role} projection`), b: t(`${n}.bias`, [dim], `${role} bias`) });
      [q, k, v] = [one("attn_q", "query"), one("attn_k", "key"), one("attn_v", "value")];
    }
    const norm = t("attn_norm.weight", [dim], "LayerNorm weight");
    const normBias = t("attn_norm.bias", [dim], "LayerNorm bias");
    layers.push({
      attnNorm: norm,
      attnNormBias: normBias,
      ffnNorm: norm, // one LayerNorm feeds attention and MLP alike
      ffnNormBias: normBias,
      wq: pairs(q.w, dim),
      bq: pairs(q.b, 1),
      wk: pairs(k.w, dim),
      bk: pairs(k.b, 1),
      wv: v.w,
      bv: v.b,
      wo: t("attn_output.weight", [dim, dim], "attention output projection"),
      bo: t("attn_output.bias", [dim], "attention output bias"),
      w1: t("ffn_up.weight", [dim, hidden], "FFN up projection", says.ffn),
      b1: t("ffn_up.bias", [hidden], "FFN up bias", says.ffn),
      w2: t("ffn_down.weight", [hidden, dim], "FFN down projection", says.ffn),
      b2: t("ffn_down.bias", [dim], "FFN down bias"),
    });
  }
  const finalNorm = tensor("output_norm.weight", [dim], "final LayerNorm weight", says.dim);
  const finalNormBias = tensor("output_norm.bias", [dim], "final LayerNorm bias", says.dim);
  const classifier = tensor("output.weight", [dim, vocabSize], "classifier", says.vocab);
  const classifierBias = tensor("output.bias", [vocabSize], "classifier bias", says.vocab);
  return { config, weights: { tokenEmbedding, layers, finalNorm, finalNormBias, classifier, classifierBias } };
}

// ---------------------------------------------------------------------------------------------
// tokenizer

/**
 * The vocabulary of a GGUF file whose tokenizer.ggml.model is "llama" (sentencepiece BPE) as llama2.c's
 * tokenizer.bin (int32 max_token_length, then per token f32 score, int32 length, bytes): pieces with "▁"
 * turned back into spaces, as llama2.c's tokenizer export does. The llama2.c tokenizer hard-codes <unk>,
 * <s> at 0, 1 and byte tokens at 3..258, so files declaring another unknown or bos id are refused; the eos id
 * (2 for Llama 2, 32000 for Phi-3) travels in the bundle's stop ids (ggufTokenizerBundle).
 */
export function ggufTokenizerBin(file: GgufFile): Uint8Array {
  const model = file.metadata.get("tokenizer.ggml.model");
  if (model !== "llama") {
    fail("E_MODEL", `${file.name}: metadata key tokenizer.ggml.model is ${model === undefined ? "missing" : showValue(model)}, but only "llama" (sentencepiece) vocabularies map to the llama2.c tokenizer.`);
  }
  const tokens = file.metadata.get("tokenizer.ggml.tokens");
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === "string")) {
    return fail("E_FORMAT", `${file.name}: metadata key tokenizer.ggml.tokens is missing or not an array of strings.`);
  }
  const scores = file.metadata.get("tokenizer.ggml.scores") ?? tokens.map(() => 0);
  if (!Array.isArray(scores) || scores.length !== tokens.length || !scores.every((s) => typeof s === "number")) {
    fail("E_FORMAT", `${file.name}: metadata key tokenizer.ggml.scores must hold one number per token (${tokens.length}).`);
  }
  for (const [key, want] of [["tokenizer.ggml.unknown_token_id", 0], ["tokenizer.ggml.bos_token_id", 1]] as const) {
    const v = file.metadata.get(key);
    if (v !== undefined && v !== want) fail("E_MODEL", `${file.name}: metadata key ${key} is ${String(v)}, but the llama2.c tokenizer expects ${want}.`);
  }
  const utf8 = new TextEncoder();
  const pieces = (tokens as string[]).map((t) => utf8.encode(t.replaceAll("\u2581", " ")));
  const out = new Uint8Array(4 + pieces.reduce((n, p) => n + 8 + p.length, 0));
  const view = new DataView(out.buffer);
  view.setInt32(0, pieces.reduce((m, p) => Math.max(m, p.length), 1), true);
  let at = 4;
  pieces.forEach((p, i) => {
    view.setFloat32(at, (scores as number[])[i], true);
    view.setInt32(at + 4, p.length, true);
    out.set(p, at + 8);
    at += 8 + p.length;
  });
  return out;
}

/**
 * The control (token_type 3) and user-defined (4) tokens of a GGUF "llama" vocabulary past llama2.c's own
 * <unk>, <s>, </s> (0..2, which keep run.c's handling): prompts name them by their text (TokenizerMeta.specials).
 * As llama.cpp does for a model whose general.name says Phi-3, each but <|endoftext|> drops the whitespace
 * after it (rstrip), as Phi-3's own tokenizer.json marks them.
 */
function llamaSpecials(file: GgufFile, tokens: string[]): SpecialToken[] {
  const types = file.metadata.get("tokenizer.ggml.token_type");
  if (types === undefined) return [];
  if (!Array.isArray(types) || types.length !== tokens.length || !types.every((t) => Number.isInteger(t)))
    fail("E_FORMAT", `${file.name}: metadata key tokenizer.ggml.token_type must hold one integer per token (${tokens.length}).`);
  const name = file.metadata.get("general.name");
  const phi3 = typeof name === "string" && /phi-?3/i.test(name);
  const out: SpecialToken[] = [];
  (types as number[]).forEach((t, id) => {
    if (id > 2 && (t === 3 || t === 4)) out.push({ id, control: t === 3, rstrip: phi3 && tokens[id] !== "<|endoftext|>" });
  });
  return out;
}

/** The llama2.c Tokenizer of a GGUF "llama" vocabulary (see ggufTokenizerBin). */
export function ggufTokenizer(file: GgufFile): Tokenizer {
  return readTokenizer(ggufTokenizerBin(file), file.name);
}

const BYTE_LEVEL = (useRegex: boolean) => ({ type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: useRegex });
const SPLIT = (pattern: string) => ({ type: "Split", pattern: { Regex: pattern }, behavior: "Isolated", invert: false });
/**
 * tokenizer.ggml.pre -> the normalizer and pre-tokenizer of the tokenizer.json such files are converted from
 * (llama.cpp names the pre-tokenizer; the regexes are the ones those tokenizer.json files carry).
 */
export const GGUF_PRE_TOKENIZERS: Record<string, { normalizer: object | null; pre_tokenizer: object }> = {
  "gpt-2": { normalizer: null, pre_tokenizer: BYTE_LEVEL(true) },
  "phi-2": { normalizer: null, pre_tokenizer: BYTE_LEVEL(true) }, // CodeGen's vocabulary, GPT-2's regex
  mpt: { normalizer: null, pre_tokenizer: BYTE_LEVEL(true) },
  olmo: { normalizer: null, pre_tokenizer: BYTE_LEVEL(true) },
  smollm: { normalizer: null, pre_tokenizer: { type: "Sequence", pretokenizers: [{ type: "Digits", individual_digits: true }, BYTE_LEVEL(true)] } },
  starcoder: { normalizer: null, pre_tokenizer: { type: "Sequence", pretokenizers: [{ type: "Digits", individual_digits: true }, BYTE_LEVEL(true)] } },
  refact: { normalizer: null, pre_tokenizer: { type: "Sequence", pretokenizers: [{ type: "Digits", individual_digits: true }, BYTE_LEVEL(true)] } },
  qwen2: { normalizer: { type: "NFC" }, pre_tokenizer: { type: "Sequence", pretokenizers: [SPLIT(QWEN2_SPLIT), BYTE_LEVEL(false)] } },
  "llama-bpe": { normalizer: null, pre_tokenizer: { type: "Sequence", pretokenizers: [SPLIT(LLAMA3_SPLIT), BYTE_LEVEL(false)] } },
};

/**
 * The vocabulary of a GGUF file whose tokenizer.ggml.model is "gpt2" (byte-level BPE) as the tokenizer.json
 * it came from: tokens and merges, the pre-tokenizer tokenizer.ggml.pre names (GGUF_PRE_TOKENIZERS; GPT-2's
 * when the key is absent), and control (type 3) and user-defined (type 4) tokens as added tokens. Other
 * tokenizer.ggml.pre values (deepseek-llm, falcon, …) are refused, naming the ones that are read.
 */
export function ggufTokenizerJson(file: GgufFile): Uint8Array {
  const tokens = file.metadata.get("tokenizer.ggml.tokens");
  if (!Array.isArray(tokens) || !tokens.every((t) => typeof t === "string")) {
    return fail("E_FORMAT", `${file.name}: metadata key tokenizer.ggml.tokens is missing or not an array of strings.`);
  }
  const merges = file.metadata.get("tokenizer.ggml.merges");
  if (!Array.isArray(merges) || !merges.every((m) => typeof m === "string")) {
    return fail("E_FORMAT", `${file.name}: metadata key tokenizer.ggml.merges is missing or not an array of strings, which a "gpt2" vocabulary needs.`);
  }
  const pre = file.metadata.get("tokenizer.ggml.pre") ?? "gpt-2";
  const pipeline = typeof pre === "string" ? GGUF_PRE_TOKENIZERS[pre] : undefined;
  if (!pipeline) {
    fail("E_MODEL", `${file.name}: metadata key tokenizer.ggml.pre is ${showValue(pre)}, but only ${Object.keys(GGUF_PRE_TOKENIZERS).map((k) => JSON.stringify(k)).join(", ")} are implemented.`);
  }
  const types = file.metadata.get("tokenizer.ggml.token_type");
  if (types !== undefined && (!Array.isArray(types) || types.length !== tokens.length)) {
    fail("E_FORMAT", `${file.name}: metadata key tokenizer.ggml.token_type must hold one number per token (${tokens.length}).`);
  }
  const vocab: Record<string, number> = {};
  const added: { id: number; content: string; special: boolean }[] = [];
  (tokens as string[]).forEach((t, id) => {
    vocab[t] ??= id;
    const type = Array.isArray(types) ? types[id] : 1;
    if (type === 3 || type === 4) added.push({ id, content: t, special: type === 3 });
  });
  const json = {
    version: "1.0",
    added_tokens: added,
    ...pipeline!,
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    // llama.cpp takes a piece that is a whole token as it is for llama-bpe (Llama 3's ignore_merges)
    model: { type: "BPE", byte_fallback: false, vocab, merges, ...(pre === "llama-bpe" ? { ignore_merges: true } : {}) },
  };
  return new TextEncoder().encode(JSON.stringify(json));
}

/**
 * The GGUF file's own tokenizer as a bundle (host/core/tokenizers.ts): the vocabulary ("llama" as
 * tokenizer.bin, "gpt2" as tokenizer.json) with the special tokens the metadata names (bos, eos, eot, whether
 * prompts start with bos) and tokenizer.chat_template. Null when the file has no tokenizer.ggml.model.
 */
export function ggufTokenizerBundle(file: GgufFile): Uint8Array | null {
  const model = file.metadata.get("tokenizer.ggml.model");
  if (model === undefined) return null;
  if (model !== "llama" && model !== "gpt2") {
    fail("E_MODEL", `${file.name}: metadata key tokenizer.ggml.model is ${showValue(model)}, but only "llama" (sentencepiece) and "gpt2" (byte-level BPE) vocabularies are implemented.`);
  }
  const tokens = file.metadata.get("tokenizer.ggml.tokens") as string[];
  const id = (key: string): number | undefined => {
    const v = file.metadata.get(key);
    if (v === undefined) return undefined;
    if (typeof v !== "number" || !Number.isInteger(v) || v < 0 || (Array.isArray(tokens) && v >= tokens.length)) {
      return fail("E_FORMAT", `${file.name}: metadata key ${key} is ${showValue(v)}, expected a token id below ${Array.isArray(tokens) ? tokens.length : "the vocabulary size"}.`);
    }
    return v;
  };
  const payload = model === "llama" ? ggufTokenizerBin(file) : ggufTokenizerJson(file);
  const bos = id("tokenizer.ggml.bos_token_id") ?? (model === "llama" ? 1 : null);
  const addBosKey = file.metadata.get("tokenizer.ggml.add_bos_token");
  const addBos = typeof addBosKey === "boolean" ? addBosKey : model === "llama";
  if (addBos && bos === null) fail("E_FORMAT", `${file.name}: metadata key tokenizer.ggml.add_bos_token is true, but tokenizer.ggml.bos_token_id is missing.`);
  const eos = id("tokenizer.ggml.eos_token_id");
  const stop = [...new Set([eos, id("tokenizer.ggml.eot_token_id")].filter((x): x is number => x !== undefined))];
  const template = file.metadata.get("tokenizer.chat_template");
  const specials = model === "llama" ? llamaSpecials(file, tokens) : [];
  const meta: TokenizerMeta = {
    bos,
    addBos,
    stop,
    chatTemplate: typeof template === "string" ? template : null,
    bosToken: bos !== null ? tokens[bos] : undefined,
    eosToken: eos !== undefined ? tokens[eos] : undefined,
    ...(specials.length > 0 ? { specials } : {}),
  };
  return writeBundle(model === "llama" ? "llama2c" : "hf-json", payload, meta);
}

// ---------------------------------------------------------------------------------------------
// importModel (tools/import/index.ts)

/** Bytes of tensor data per stored dtype, as index.ts reports them (BF16 has no WeightDtype, so is left out). */
function storageOf(file: GgufFile): Partial<Record<WeightDtype, number>> {
  const dtypes: Record<string, WeightDtype> = { F32: "f32", F16: "f16", Q8_0: "q8_0", Q4_0: "q4_0" };
  const storage: Partial<Record<WeightDtype, number>> = {};
  for (const t of file.tensors.values()) {
    const d = dtypes[GGML_TYPES[t.type]?.name ?? ""];
    if (d) storage[d] = (storage[d] ?? 0) + t.bytes;
  }
  return storage;
}

/** GGUF files, recognized by their "GGUF" magic; the vocabulary travels as a tokenizer bundle (ggufTokenizerBundle). */
export const ggufImporter: Importer = {
  name: "GGUF",
  detects: (_path, head) => head.length >= 4 && String.fromCharCode(...head.subarray(0, 4)) === GGUF_MAGIC,
  load(path) {
    const file = readGguf(readWholeFile(path, "GGUF file"), path);
    const model = ggufToModel(file);
    const bundle = ggufTokenizerBundle(file);
    const tokenizer = bundle ? { kind: "bundle" as const, bytes: bundle, source: `${path} (tokenizer.ggml.*)` } : null;
    return { model, format: `GGUF v${file.version} file (${String(file.metadata.get("general.architecture"))})`, tokenizer, storage: storageOf(file) };
  },
};
