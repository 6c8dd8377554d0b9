/**
 * The one canonical model: a config plus named float tensors. Every importer produces it, every later
 * step (slimify, plan, pack, load) consumes it. Matrices are row-major in "out × in" order, as llama2.c
 * stores them: W (out, in) @ x (in,) -> y (out,).
 */

export interface ModelConfig {
  arch: "llama";
  dim: number; // transformer width d
  hiddenDim: number; // SwiGLU FFN inner width
  nLayers: number;
  nHeads: number; // query heads
  nKvHeads: number; // key/value heads (< nHeads means GQA/MQA)
  vocabSize: number;
  seqLen: number; // longest context the model was built for
  normEps: number; // RMSNorm epsilon
  ropeTheta: number; // RoPE base
  sharedClassifier: boolean; // classifier reuses the token embedding
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
  w3: Float32Array; // (hiddenDim, dim)      up
}

export interface ModelWeights {
  tokenEmbedding: Float32Array; // (vocab, dim)
  layers: LayerWeights[];
  finalNorm: Float32Array; // (dim,)
  classifier: Float32Array; // (vocab, dim); the same array as tokenEmbedding when shared
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
