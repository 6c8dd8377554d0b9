/**
 * llama2.c checkpoints (https://github.com/karpathy/llama2.c) read into the canonical Model.
 *
 * Three layouts exist, all little-endian:
 * - v0 (legacy, run.c): 7 × int32 header, then fp32 tensors grouped by kind across layers, then two
 *   RoPE tables that run.c no longer reads, then the classifier when vocab_size < 0 marks it unshared.
 * - v1 (export.py version1_export): 256-byte header with magic "ak42", version and a shared-classifier
 *   byte; norms first, then the matrices, all fp32.
 * - v2 (export.py version2_export, runq.c): same header plus a group size; fp32 norms, then each matrix
 *   of each layer as Q8_0: its int8 values followed by one fp32 scale per group.
 *
 * Every way a file can be wrong ends in SlimError("E_FORMAT") naming the file and the field.
 */
import { fail, SlimError } from "../../host/core/errors.ts";
import { readWholeFile } from "../../host/core/files.ts";
import { parameterCount, type LayerWeights, type Model, type ModelConfig, shapeProblem } from "../../host/core/model.ts";

/** "ak42" read as a little-endian uint32. */
export const LLAMA2C_MAGIC = 0x616b3432;
const V0_HEADER_BYTES = 7 * 4;
const VERSIONED_HEADER_BYTES = 256;

// llama2.c hard-codes these in run.c; the file does not carry them.
const NORM_EPS = 1e-5;
const ROPE_THETA = 10000;

/** The seven int32 fields every version stores, under their llama2.c names (used in messages). */
interface Dims {
  dim: number;
  hidden_dim: number;
  n_layers: number;
  n_heads: number;
  n_kv_heads: number;
  vocab_size: number;
  seq_len: number;
}

interface Header {
  version: 0 | 1 | 2;
  dims: Dims; // vocab_size already made positive for v0
  sharedClassifier: boolean;
  groupSize: number; // Q8_0 group size; 0 when the file is fp32
  headerBytes: number;
}

/** Reads a llama2.c checkpoint of any version; `name` is the path used in error messages. */
export function readLlama2c(bytes: Uint8Array, name: string): Model {
  const header = readHeader(bytes, name);
  const config = toConfig(header.dims, header.sharedClassifier);
  checkGroupSize(header, config, name);
  checkFileSize(bytes.length, header, config, name);
  const cursor = new Cursor(bytes, header.headerBytes, name);
  return header.version === 0 ? readV0Body(cursor, config) : readVersionedBody(cursor, config, header.groupSize);
}

/** Reads a llama2.c checkpoint from disk. */
export function loadLlama2c(path: string): Model {
  return readLlama2c(readWholeFile(path, "llama2.c checkpoint"), path);
}

// ---------------------------------------------------------------------------------------------
// header

function readHeader(bytes: Uint8Array, name: string): Header {
  if (bytes.length < 4) {
    fail("E_FORMAT", `${name}: file is ${bytes.length} bytes, too short to hold a llama2.c header (at least ${V0_HEADER_BYTES} bytes expected).`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  return magic === LLAMA2C_MAGIC ? readVersionedHeader(bytes, view, name) : readV0Header(bytes, view, name);
}

function readDims(view: DataView, at: number): Dims {
  const i32 = (k: number) => view.getInt32(at + 4 * k, true);
  return {
    dim: i32(0),
    hidden_dim: i32(1),
    n_layers: i32(2),
    n_heads: i32(3),
    n_kv_heads: i32(4),
    vocab_size: i32(5),
    seq_len: i32(6),
  };
}

/** v0 has no magic, so anything without "ak42" is tried as v0; messages say so, since a wrong magic lands here too. */
function readV0Header(bytes: Uint8Array, view: DataView, name: string): Header {
  const what = `${name} (no "ak42" magic, so read as a legacy v0 llama2.c checkpoint)`;
  if (startsWithAscii(bytes, "GGUF")) {
    fail("E_FORMAT", `${name}: magic is "GGUF", so this is a GGUF file, not a llama2.c checkpoint (magic 0x616b3432 "ak42" or a legacy v0 header expected).`);
  }
  if (bytes.length < V0_HEADER_BYTES) {
    fail("E_FORMAT", `${what}: file is ${bytes.length} bytes, shorter than the ${V0_HEADER_BYTES}-byte header (truncated, or not a llama2.c file).`);
  }
  const raw = readDims(view, 0);
  // export.py's legacy format flags an unshared classifier by negating vocab_size.
  const dims = { ...raw, vocab_size: Math.abs(raw.vocab_size) };
  // Without a magic, any file lands here: a header whose fields are no model's shape is not read as one.
  try {
    checkDims(dims, what);
  } catch (e) {
    if (!(e instanceof SlimError)) throw e;
    const why = e.message.slice(what.length + 2).replace(/\.$/, "");
    const head = new TextDecoder("utf-8", { fatal: false }).decode(bytes.subarray(0, 24));
    const text = /^[\t\n\r\x20-\x7e]{8,}/.test(head) ? `, and it starts with text ${JSON.stringify(head.split("\n")[0].slice(0, 24))}` : "";
    fail(
      "E_FORMAT",
      `${name}: not a model file: no .slim, GGUF or llama2.c "ak42" magic, and its first 28 bytes are no legacy llama2.c v0 header (${why})${text}; ` +
        `expected a .slim, GGUF or llama2.c .bin file, or a Hugging Face folder`,
    );
  }
  return { version: 0, dims, sharedClassifier: raw.vocab_size > 0, groupSize: 0, headerBytes: V0_HEADER_BYTES };
}

function readVersionedHeader(bytes: Uint8Array, view: DataView, name: string): Header {
  if (bytes.length < 8) {
    fail("E_FORMAT", `${name}: file is ${bytes.length} bytes, truncated inside the header before its version field (${VERSIONED_HEADER_BYTES}-byte header expected).`);
  }
  const version = view.getInt32(4, true);
  if (version !== 1 && version !== 2) {
    fail("E_FORMAT", `${name}: header field version is ${version}, but only llama2.c versions 1 (fp32) and 2 (Q8_0) are known.`);
  }
  if (bytes.length < VERSIONED_HEADER_BYTES) {
    fail("E_FORMAT", `${name}: file is ${bytes.length} bytes, truncated inside the ${VERSIONED_HEADER_BYTES}-byte v${version} header.`);
  }
  const dims = readDims(view, 8);
  checkDims(dims, name);
  const flag = view.getUint8(36);
  if (flag > 1) {
    fail("E_FORMAT", `${name}: header field shared_classifier is ${flag}, expected 0 or 1.`);
  }
  // export.py packs the group size right after the flag byte, so it sits unaligned at offset 37.
  const groupSize = version === 2 ? view.getInt32(37, true) : 0;
  if (version === 2 && groupSize <= 0) {
    fail("E_FORMAT", `${name}: header field group_size is ${groupSize}, expected a positive Q8_0 group size.`);
  }
  return { version: version as 1 | 2, dims, sharedClassifier: flag === 1, groupSize, headerBytes: VERSIONED_HEADER_BYTES };
}

function startsWithAscii(bytes: Uint8Array, text: string): boolean {
  return bytes.length >= text.length && [...text].every((ch, i) => bytes[i] === ch.charCodeAt(0));
}

/** The shape rules run.c relies on without checking. `what` names the file in messages. */
function checkDims(d: Dims, what: string): void {
  for (const [field, value] of Object.entries(d)) {
    if (value <= 0) fail("E_FORMAT", `${what}: header field ${field} is ${value}, expected a positive number.`);
  }
  // The limits every reader and the .slim writer share, before anything is allocated for the layers.
  const problem = shapeProblem({ dim: d.dim, hiddenDim: d.hidden_dim, nLayers: d.n_layers, nHeads: d.n_heads, nKvHeads: d.n_kv_heads, vocabSize: d.vocab_size, seqLen: d.seq_len });
  if (problem) fail("E_FORMAT", `${what}: ${problem}.`);
  if (d.dim % d.n_heads !== 0) {
    fail("E_FORMAT", `${what}: header field dim=${d.dim} is not divisible by n_heads=${d.n_heads}, so heads cannot have equal size.`);
  }
  if (d.n_heads % d.n_kv_heads !== 0) {
    fail("E_FORMAT", `${what}: header field n_heads=${d.n_heads} is not divisible by n_kv_heads=${d.n_kv_heads}, so query heads cannot share key/value heads evenly.`);
  }
  const headSize = d.dim / d.n_heads;
  if (headSize % 2 !== 0) {
    fail("E_FORMAT", `${what}: header fields dim=${d.dim} and n_heads=${d.n_heads} give head size ${headSize}, but RoPE needs an even head size.`);
  }
}

function toConfig(d: Dims, sharedClassifier: boolean): ModelConfig {
  return {
    arch: "llama",
    dim: d.dim,
    hiddenDim: d.hidden_dim,
    nLayers: d.n_layers,
    nHeads: d.n_heads,
    nKvHeads: d.n_kv_heads,
    vocabSize: d.vocab_size,
    seqLen: d.seq_len,
    normEps: NORM_EPS,
    ropeTheta: ROPE_THETA,
    sharedClassifier,
  };
}

// ---------------------------------------------------------------------------------------------
// sizes

/** Element counts of each quantized matrix kind, by the names messages use. */
function matrixSizes(c: ModelConfig): Record<string, number> {
  const kv = (c.dim * c.nKvHeads) / c.nHeads;
  return { tok_embeddings: c.vocabSize * c.dim, wq: c.dim * c.dim, wk: kv * c.dim, wv: kv * c.dim, wo: c.dim * c.dim, w1: c.hiddenDim * c.dim, w2: c.dim * c.hiddenDim, w3: c.hiddenDim * c.dim };
}

/** runq.c indexes scales by element / group_size, so every tensor must split into whole groups. */
function checkGroupSize(h: Header, c: ModelConfig, name: string): void {
  if (h.version !== 2) return;
  for (const [tensor, size] of Object.entries(matrixSizes(c))) {
    if (size % h.groupSize !== 0) {
      fail("E_FORMAT", `${name}: header field group_size=${h.groupSize} does not divide the ${size} values of each ${tensor} tensor.`);
    }
  }
}

/** Bytes of the whole file the header describes. */
function expectedFileBytes(h: Header, c: ModelConfig): number {
  const params = parameterCount(c); // norms + matrices, classifier counted only when unshared
  if (h.version === 0) {
    const ropeTables = c.seqLen * (c.dim / c.nHeads); // freq_cis_real and _imag, (seq_len, head_size/2) each
    return h.headerBytes + 4 * (params + ropeTables);
  }
  if (h.version === 1) return h.headerBytes + 4 * params;
  const norms = (2 * c.nLayers + 1) * c.dim;
  const quantized = params - norms;
  return h.headerBytes + 4 * norms + quantized + 4 * (quantized / h.groupSize);
}

function checkFileSize(present: number, h: Header, c: ModelConfig, name: string): void {
  const expected = expectedFileBytes(h, c);
  if (present === expected) return;
  const d = h.dims;
  const what = h.version === 0 ? `${name} (no "ak42" magic, so read as a legacy v0 llama2.c checkpoint)` : `${name} (llama2.c v${h.version})`;
  const says =
    `header says dim=${d.dim}, hidden_dim=${d.hidden_dim}, n_layers=${d.n_layers}, n_heads=${d.n_heads}, n_kv_heads=${d.n_kv_heads}, ` +
    `vocab_size=${d.vocab_size}, seq_len=${d.seq_len}, ${h.sharedClassifier ? "shared" : "unshared"} classifier` +
    (h.version === 2 ? `, group_size=${h.groupSize}` : "");
  const verdict = present < expected ? "the file is truncated or the header is wrong" : "the header does not match the weights";
  fail("E_FORMAT", `${what}: ${says}, which needs ${expected} bytes, but the file has ${present}, so ${verdict}.`);
}

// ---------------------------------------------------------------------------------------------
// body

/** Sequential reader over the weights; sizes were checked up front, so running past the end is a bug. */
class Cursor {
  constructor(
    private readonly bytes: Uint8Array,
    private at: number,
    private readonly name: string,
  ) {}

  private take(n: number): number {
    const start = this.at;
    if (start + n > this.bytes.length) {
      throw new SlimError("E_FORMAT", `${this.name}: weights end at byte ${this.bytes.length}, before the ${n} bytes needed at offset ${start}.`);
    }
    this.at += n;
    return start;
  }

  /** n fp32 values, copied out because a Float32Array needs 4-byte alignment the file does not promise. */
  f32(n: number): Float32Array {
    const start = this.take(4 * n);
    const out = new Float32Array(n);
    new Uint8Array(out.buffer).set(this.bytes.subarray(start, start + 4 * n));
    return out;
  }

  skip(nBytes: number): void {
    this.take(nBytes);
  }

  /** One Q8_0 tensor of n values: int8 (n,) then scales (n / groupSize,), dequantized as runq.c does. */
  q80(n: number, groupSize: number): Float32Array {
    const start = this.take(n);
    const q = new Int8Array(this.bytes.buffer, this.bytes.byteOffset + start, n);
    const scales = this.f32(n / groupSize);
    const out = new Float32Array(n);
    for (let g = 0; g < scales.length; g++) {
      const s = scales[g];
      for (let i = g * groupSize; i < (g + 1) * groupSize; i++) out[i] = q[i] * s;
    }
    return out;
  }
}

/** One tensor per layer, read back to back: llama2.c groups each kind across all layers. */
function perLayer(c: ModelConfig, read: () => Float32Array): Float32Array[] {
  return Array.from({ length: c.nLayers }, read);
}

/** Regroups kind-major lists (all wq, all wk, …) into one record per layer. */
type LlamaTensor = "attnNorm" | "wq" | "wk" | "wv" | "wo" | "ffnNorm" | "w1" | "w2" | "w3";

function zipLayers(parts: Record<LlamaTensor, Float32Array[]>, nLayers: number): LayerWeights[] {
  return Array.from({ length: nLayers }, (_, l) => ({
    attnNorm: parts.attnNorm[l],
    wq: parts.wq[l],
    wk: parts.wk[l],
    wv: parts.wv[l],
    wo: parts.wo[l],
    ffnNorm: parts.ffnNorm[l],
    w1: parts.w1[l],
    w2: parts.w2[l],
    w3: parts.w3[l],
  }));
}

/** v0 order (run.c memory_map_weights): embedding, then each kind across layers, final norm, RoPE, classifier. */
function readV0Body(cur: Cursor, c: ModelConfig): Model {
  const m = matrixSizes(c);
  const tokenEmbedding = cur.f32(m.tok_embeddings);
  const attnNorm = perLayer(c, () => cur.f32(c.dim));
  const wq = perLayer(c, () => cur.f32(m.wq));
  const wk = perLayer(c, () => cur.f32(m.wk));
  const wv = perLayer(c, () => cur.f32(m.wv));
  const wo = perLayer(c, () => cur.f32(m.wo));
  const ffnNorm = perLayer(c, () => cur.f32(c.dim));
  const w1 = perLayer(c, () => cur.f32(m.w1));
  const w2 = perLayer(c, () => cur.f32(m.w2));
  const w3 = perLayer(c, () => cur.f32(m.w3));
  const finalNorm = cur.f32(c.dim);
  cur.skip(4 * c.seqLen * (c.dim / c.nHeads)); // freq_cis tables: RoPE is recomputed from ropeTheta
  const classifier = c.sharedClassifier ? tokenEmbedding : cur.f32(m.tok_embeddings);
  const layers = zipLayers({ attnNorm, wq, wk, wv, wo, ffnNorm, w1, w2, w3 }, c.nLayers);
  return { config: c, weights: { tokenEmbedding, layers, finalNorm, classifier } };
}

/** v1 and v2 share one order (export.py): norms, embedding, matrices by kind, classifier; v2 stores matrices as Q8_0. */
function readVersionedBody(cur: Cursor, c: ModelConfig, groupSize: number): Model {
  const m = matrixSizes(c);
  const matrix = (n: number) => (groupSize > 0 ? cur.q80(n, groupSize) : cur.f32(n));
  const attnNorm = perLayer(c, () => cur.f32(c.dim));
  const ffnNorm = perLayer(c, () => cur.f32(c.dim));
  const finalNorm = cur.f32(c.dim);
  const tokenEmbedding = matrix(m.tok_embeddings);
  const wq = perLayer(c, () => matrix(m.wq));
  const wk = perLayer(c, () => matrix(m.wk));
  const wv = perLayer(c, () => matrix(m.wv));
  const wo = perLayer(c, () => matrix(m.wo));
  const w1 = perLayer(c, () => matrix(m.w1));
  const w2 = perLayer(c, () => matrix(m.w2));
  const w3 = perLayer(c, () => matrix(m.w3));
  const classifier = c.sharedClassifier ? tokenEmbedding : matrix(m.tok_embeddings);
  const layers = zipLayers({ attnNorm, wq, wk, wv, wo, ffnNorm, w1, w2, w3 }, c.nLayers);
  return { config: c, weights: { tokenEmbedding, layers, finalNorm, classifier } };
}
