/**
 * The one canonical model: a config plus named float tensors. Every importer produces it, every later
 * step (slimify, plan, pack, load) consumes it. Matrices are row-major in "out × in" order, as llama2.c
 * stores them: W (out, in) @ x (in,) -> y (out,).
 *
 * RoPE convention: rotation pairs are ADJACENT dims (2i, 2i+1) within each head, as in llama2.c, over the
 * first `rotaryDims` dims of the head. Checkpoints that rotate halves (Hugging Face Llama, GPT-NeoX:
 * rotate_half pairs i and i + r/2) are brought to this convention by their importer, which permutes the
 * rows of W_Q and W_K (and their biases) inside each head; attention scores do not change.
 */
import { fail } from "./errors.ts";
import { SLIM_MAX_DIM, SLIM_MAX_LAYERS } from "./abi.generated.ts";

export type Arch = "llama" | "gpt2" | "neox";

export interface ModelConfig {
  arch: Arch;
  dim: number; // transformer width d
  hiddenDim: number; // FFN inner width
  nLayers: number;
  nHeads: number; // query heads
  nKvHeads: number; // key/value heads (< nHeads means GQA/MQA)
  vocabSize: number;
  seqLen: number; // longest context the model was built for
  normEps: number; // RMSNorm epsilon
  ropeTheta: number; // RoPE base
  // Per-pair RoPE frequency divisors (rotaryDims/2 finite numbers > 0): pair i turns at base^(−2i/rotary) / f[i].
  // Llama 3.x's rope_scaling of type llama3 (and GGUF's rope_freqs.weight, which is this list); absent: all 1.
  ropeFreqFactors?: number[];
  sharedClassifier: boolean; // classifier reuses the token embedding
  // Architecture choices; an absent field takes the Llama value (see archDefaults).
  norm?: "rms" | "layer"; // RMSNorm (weight only) or LayerNorm (weight and bias)
  activation?: "swiglu" | "gelu" | "gelu_tanh"; // SwiGLU w2(silu(w1 x) ⊙ w3 x), or w2 gelu(w1 x + b1) + b2
  rotaryDims?: number; // dims per head that RoPE rotates; 0 = no RoPE
  learnedPositions?: boolean; // a (seqLen, dim) position embedding is added to the token embedding (GPT-2)
  parallelResidual?: boolean; // x + attn(norm1 x) + ffn(norm2 x) instead of two sequential residuals (NeoX)
  biases?: boolean; // q, k, v, o and both FFN projections carry biases
  classifierBias?: boolean; // the classifier adds a (vocab,) bias to the logits (Phi-2's lm_head)
}

/** The architecture choices of a config with every default filled in. */
export function archOf(c: ModelConfig): Required<Pick<ModelConfig, "norm" | "activation" | "rotaryDims" | "learnedPositions" | "parallelResidual" | "biases" | "classifierBias">> {
  return {
    norm: c.norm ?? "rms",
    activation: c.activation ?? "swiglu",
    rotaryDims: c.rotaryDims ?? c.dim / c.nHeads,
    learnedPositions: c.learnedPositions ?? false,
    parallelResidual: c.parallelResidual ?? false,
    biases: c.biases ?? false,
    classifierBias: c.classifierBias ?? false,
  };
}

export interface LayerWeights {
  attnNorm: Float32Array; // (dim,)
  wq: Float32Array; // (dim, dim)            out × in
  wk: Float32Array; // (kvDim, dim)
  wv: Float32Array; // (kvDim, dim)
  wo: Float32Array; // (dim, dim)
  ffnNorm: Float32Array; // (dim,)
  w1: Float32Array; // (hiddenDim, dim)      gate
  w2: Float32Array; // (dim, hiddenDim)      down
  w3?: Float32Array; // (hiddenDim, dim)     up; SwiGLU only
  // LayerNorm biases and projection biases, where the architecture has them:
  attnNormBias?: Float32Array; // (dim,)
  ffnNormBias?: Float32Array; // (dim,)
  bq?: Float32Array; // (dim,)
  bk?: Float32Array; // (kvDim,)
  bv?: Float32Array; // (kvDim,)
  bo?: Float32Array; // (dim,)
  b1?: Float32Array; // (hiddenDim,)
  b2?: Float32Array; // (dim,)
}

export interface ModelWeights {
  tokenEmbedding: Float32Array; // (vocab, dim)
  layers: LayerWeights[];
  finalNorm: Float32Array; // (dim,)
  finalNormBias?: Float32Array; // (dim,) LayerNorm only
  positionEmbedding?: Float32Array; // (seqLen, dim) learned positions only
  classifier: Float32Array; // (vocab, dim); the same array as tokenEmbedding when shared
  classifierBias?: Float32Array; // (vocab,) when config.classifierBias
}

/** Whether the decoder in assembly/ runs this architecture today (Llama: RMSNorm, RoPE, SwiGLU, no biases). */
export function isLlamaShaped(c: ModelConfig): boolean {
  const a = archOf(c);
  return a.norm === "rms" && a.activation === "swiglu" && a.rotaryDims === c.dim / c.nHeads && !a.learnedPositions && !a.parallelResidual && !a.biases && !a.classifierBias;
}

export interface Model {
  config: ModelConfig;
  weights: ModelWeights;
}

export const headDim = (c: ModelConfig): number => c.dim / c.nHeads;
export const kvDim = (c: ModelConfig): number => (c.dim * c.nKvHeads) / c.nHeads;
export const isMultiHead = (c: ModelConfig): boolean => c.nKvHeads === c.nHeads;

/** Number of parameters, counting a shared classifier once. */
export function parameterCount(c: ModelConfig): number {
  const kv = kvDim(c);
  const perLayer = 2 * c.dim + 2 * c.dim * c.dim + 2 * kv * c.dim + 3 * c.hiddenDim * c.dim;
  return c.vocabSize * c.dim * (c.sharedClassifier ? 1 : 2) + c.nLayers * perLayer + c.dim;
}

/**
 * Fails naming the first tensor that holds a NaN or ±Infinity (a damaged or overflowed checkpoint), so the
 * run does not end later in logits that sample nothing.
 */
export function checkFiniteWeights(model: Model, source: string): void {
  const w = model.weights;
  const check = (name: string, t: Float32Array | undefined) => {
    if (!t) return;
    for (let i = 0; i < t.length; i++) {
      const v = t[i];
      if (v - v !== 0) fail("E_MODEL", `${source}: tensor ${name} holds ${v} at index ${i}; the weights must be finite numbers (is the checkpoint damaged?)`);
    }
  };
  check("token_embedding", w.tokenEmbedding);
  check("position_embedding", w.positionEmbedding);
  w.layers.forEach((l, i) => {
    for (const [k, t] of Object.entries(l)) check(`layers.${i}.${k}`, t as Float32Array | undefined);
  });
  check("final_norm", w.finalNorm);
  check("final_norm_bias", w.finalNormBias);
  if (w.classifier !== w.tokenEmbedding) check("classifier", w.classifier);
  check("classifier_bias", w.classifierBias);
}

/** Largest value of a dimension field (the .slim limit): element counts and byte lengths stay exact in f64. */
export const MAX_MODEL_DIM = SLIM_MAX_DIM;
/** Most layers a model may have: real models have at most a few hundred, and each layer costs a dozen tensors. */
export const MAX_LAYERS = SLIM_MAX_LAYERS;

/** The shape fields every format states, by their .slim / llama2.c names. */
export type ShapeField = "dim" | "hidden_dim" | "n_layers" | "n_heads" | "n_kv_heads" | "vocab_size" | "seq_len";

/**
 * The range check of a model's shape fields that every reader (.slim in TypeScript and AssemblyScript,
 * llama2.c, GGUF, Hugging Face) and the .slim writer share, so nothing is written that a reader refuses,
 * and a header's claims are bounded before anything is allocated for them: the sentence for the first field
 * out of range, or null. `names` gives a format's own names for the fields and `noun` what it calls them
 * ("metadata key", "field"); by default the .slim header's.
 */
export function shapeProblem(
  c: Pick<ModelConfig, "dim" | "hiddenDim" | "nLayers" | "nHeads" | "nKvHeads" | "vocabSize" | "seqLen">,
  names: Partial<Record<ShapeField, string>> = {},
  noun = "header field",
): string | null {
  const fields: [ShapeField, number, number][] = [
    ["dim", c.dim, MAX_MODEL_DIM],
    ["hidden_dim", c.hiddenDim, MAX_MODEL_DIM],
    ["n_layers", c.nLayers, MAX_LAYERS],
    ["n_heads", c.nHeads, MAX_MODEL_DIM],
    ["n_kv_heads", c.nKvHeads, MAX_MODEL_DIM],
    ["vocab_size", c.vocabSize, MAX_MODEL_DIM],
    ["seq_len", c.seqLen, MAX_MODEL_DIM],
  ];
  for (const [field, v, max] of fields) if (!(Number.isInteger(v) && v >= 1 && v <= max)) return `${noun} ${names[field] ?? field} is ${v}, expected between 1 and ${max}`;
  return null;
}

/**
 * What a checkpoint reader (GGUF, Hugging Face) checks of the shape fields it read, before it allocates
 * anything for them: each in range (shapeProblem), then a tensor present for each layer they claim —
 * names `layerPrefix` + index + "." among the file's `tensorNames` — so a claim of more layers than the file
 * holds is refused at once, not after the layers it does hold were converted. Every tensor is then checked
 * against its stated shape, and its bytes against the file, as it is read.
 */
export function checkShapeFields(
  c: ModelConfig,
  o: { source: string; names: Partial<Record<ShapeField, string>>; noun: string; tensorNames: Iterable<string>; layerPrefix: string },
): void {
  const problem = shapeProblem(c, o.names, o.noun);
  if (problem) fail("E_FORMAT", `${o.source}: ${problem}.`);
  const held = new Uint8Array(c.nLayers);
  for (const name of o.tensorNames) {
    if (!name.startsWith(o.layerPrefix)) continue;
    const m = /^(\d+)\./.exec(name.slice(o.layerPrefix.length));
    if (m && Number(m[1]) < c.nLayers) held[Number(m[1])] = 1;
  }
  const missing = held.indexOf(0);
  if (missing >= 0) {
    fail("E_FORMAT", `${o.source}: ${o.noun} ${o.names.n_layers ?? "n_layers"} is ${c.nLayers}, but the file holds no tensor of layer ${missing} (${o.layerPrefix}${missing}.*); is it truncated, or the ${o.noun} wrong?`);
  }
}
