/**
 * Writes a Model as llama2.c checkpoints, so llama2.c's own programs can run the very weights slimedge
 * runs (`npm run bench -- --vs llama2c`):
 * - legacy v0, the layout run.c reads: 7 × int32 header, fp32 tensors grouped by kind across layers
 *   (the two RoPE tables run.c skips are written as zeros), the classifier last when unshared;
 * - v2, the layout runq.c reads: 256-byte header (magic "ak42", version 2, dims, shared byte, group size),
 *   fp32 norms, then each matrix of each layer as Q8_0, its int8 values followed by its fp32 scales.
 *   The values and scales are the project's own Q8_0 (host/core/quant.ts quantizeQ8), so runq.c multiplies
 *   exactly the integers slimedge's q8_0 decoder does.
 * Both formats are Llama-shaped only (RMSNorm, SwiGLU, full RoPE, no biases), like llama2.c itself.
 * And tokenizer.bin: int32 max_token_length, then per token f32 score, int32 length, the bytes.
 */
import { fail } from "../../host/core/errors.ts";
import { headDim, isLlamaShaped, type Model } from "../../host/core/model.ts";
import { quantizeQ8 } from "../../host/core/quant.ts";
import { LLAMA2C_MAGIC } from "./llama2c.ts";

/** Little-endian concatenation of typed arrays. */
class Bytes {
  private chunks: Uint8Array[] = [];
  length = 0;
  raw(b: Uint8Array): this {
    this.chunks.push(b);
    this.length += b.length;
    return this;
  }
  i32(...v: number[]): this {
    return this.raw(new Uint8Array(Int32Array.from(v).buffer));
  }
  f32(x: Float32Array): this {
    return this.raw(new Uint8Array(x.buffer, x.byteOffset, x.byteLength));
  }
  done(): Uint8Array {
    const out = new Uint8Array(this.length);
    let at = 0;
    for (const c of this.chunks) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}

function checkShape(m: Model, what: string): void {
  if (!isLlamaShaped(m.config)) fail("E_MODEL", `${what}: llama2.c runs Llama-shaped models only (RMSNorm, SwiGLU, RoPE, no biases); this one is ${m.config.arch ?? "llama"} with other parts`);
  if (m.config.ropeFreqFactors?.some((f) => f !== 1)) fail("E_MODEL", `${what}: llama2.c has no per-pair RoPE frequency factors, which this model's RoPE scaling (Llama 3.x rope_scaling) needs`);
  if (new Uint8Array(new Uint32Array([1]).buffer)[0] !== 1) fail("E_MODEL", `${what}: written in host byte order, which must be little-endian`);
}

const dims = (m: Model, vocab: number): number[] => {
  const c = m.config;
  return [c.dim, c.hiddenDim, c.nLayers, c.nHeads, c.nKvHeads, vocab, c.seqLen];
};

/** The legacy (v0) checkpoint run.c reads. */
export function writeLlama2cV0(m: Model): Uint8Array {
  checkShape(m, "llama2.c v0 export");
  const c = m.config;
  const w = m.weights;
  const b = new Bytes().i32(...dims(m, c.sharedClassifier ? c.vocabSize : -c.vocabSize));
  const each = (pick: (l: Model["weights"]["layers"][number]) => Float32Array) => w.layers.forEach((l) => b.f32(pick(l)));
  b.f32(w.tokenEmbedding);
  each((l) => l.attnNorm);
  each((l) => l.wq);
  each((l) => l.wk);
  each((l) => l.wv);
  each((l) => l.wo);
  each((l) => l.ffnNorm);
  each((l) => l.w1);
  each((l) => l.w2);
  each((l) => l.w3!);
  b.f32(w.finalNorm);
  b.f32(new Float32Array(c.seqLen * headDim(c))); // freq_cis_real and _imag, (seq_len, head_size/2) each: unread
  if (!c.sharedClassifier) b.f32(w.classifier);
  return b.done();
}

/** The version-2 Q8_0 checkpoint runq.c reads, with `group` values per scale. */
export function writeLlama2cV2(m: Model, group: number): Uint8Array {
  checkShape(m, "llama2.c v2 export");
  const c = m.config;
  if (!Number.isInteger(group) || group < 1 || c.dim % group !== 0 || c.hiddenDim % group !== 0)
    fail("E_FLAG", `llama2.c v2 export: group size ${group} must divide dim ${c.dim} and hidden_dim ${c.hiddenDim}`);
  const w = m.weights;
  const header = new Uint8Array(256);
  const hv = new DataView(header.buffer);
  hv.setUint32(0, LLAMA2C_MAGIC, true);
  hv.setInt32(4, 2, true);
  dims(m, c.vocabSize).forEach((v, i) => hv.setInt32(8 + 4 * i, v, true));
  header[36] = c.sharedClassifier ? 1 : 0;
  hv.setInt32(37, group, true);
  const b = new Bytes().raw(header);
  w.layers.forEach((l) => b.f32(l.attnNorm));
  w.layers.forEach((l) => b.f32(l.ffnNorm));
  b.f32(w.finalNorm);
  const q8 = (x: Float32Array) => {
    const { values, scales } = quantizeQ8(x, group);
    b.raw(new Uint8Array(values.buffer, values.byteOffset, values.byteLength)).f32(scales);
  };
  q8(w.tokenEmbedding);
  for (const kind of ["wq", "wk", "wv", "wo", "w1", "w2", "w3"] as const) w.layers.forEach((l) => q8(l[kind]!));
  if (!c.sharedClassifier) q8(w.classifier);
  return b.done();
}

/** tokenizer.bin from pieces and scores (run.c's build_tokenizer layout). */
export function writeTokenizerBin(pieces: readonly Uint8Array[], scores: ArrayLike<number>): Uint8Array {
  const b = new Bytes().i32(Math.max(1, ...pieces.map((p) => p.length)));
  pieces.forEach((p, i) => b.f32(Float32Array.of(scores[i])).i32(p.length).raw(p));
  return b.done();
}
