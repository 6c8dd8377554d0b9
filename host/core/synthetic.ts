/**
 * Models with random weights, generated on the fly: for benchmarks at real shapes, and for `npm start`
 * before a trained default model exists. Deterministic for a seed.
 */
import type { Model, ModelConfig, LayerWeights } from "./model.ts";
import { archOf, kvDim } from "./model.ts";

/** mulberry32: a small, fast, seedable PRNG with 32 bits of state; returns floats in [0, 1). */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** n samples from N(0, std²) (Box–Muller). */
function gaussian(rand: () => number, n: number, std: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const r = Math.sqrt(-2 * Math.log(1 - rand())) * std;
    const a = 2 * Math.PI * rand();
    out[i] = r * Math.cos(a);
    if (i + 1 < n) out[i + 1] = r * Math.sin(a);
  }
  return out;
}

const around1 = (rand: () => number, n: number) => Float32Array.from({ length: n }, () => 0.8 + 0.4 * rand());

/**
 * Random weights scaled like a trained model's (std ≈ 1/√fan_in), so activations stay O(1); with the
 * config's architecture: LayerNorm biases, projection biases (std 0.1), learned positions, no W3 for GELU.
 */
export function syntheticModel(config: ModelConfig, seed = 1): Model {
  const rand = mulberry32(seed);
  const d = config.dim;
  const kv = kvDim(config);
  const a = archOf(config);
  const mat = (rows: number, cols: number) => gaussian(rand, rows * cols, 1 / Math.sqrt(cols));
  const bias = (n: number) => (a.biases ? gaussian(rand, n, 0.1) : undefined);
  const normBias = (n: number) => (a.norm === "layer" ? gaussian(rand, n, 0.1) : undefined);
  const layers: LayerWeights[] = Array.from({ length: config.nLayers }, () => ({
    attnNorm: around1(rand, d),
    wq: mat(d, d),
    wk: mat(kv, d),
    wv: mat(kv, d),
    wo: mat(d, d),
    ffnNorm: around1(rand, d),
    w1: mat(config.hiddenDim, d),
    w2: mat(d, config.hiddenDim),
    w3: a.activation === "swiglu" ? mat(config.hiddenDim, d) : undefined,
    attnNormBias: normBias(d),
    ffnNormBias: normBias(d),
    bq: bias(d),
    bk: bias(kv),
    bv: bias(kv),
    bo: bias(d),
    b1: bias(config.hiddenDim),
    b2: bias(d),
  }));
  const tokenEmbedding = gaussian(rand, config.vocabSize * d, 1);
  const classifier = config.sharedClassifier ? tokenEmbedding : mat(config.vocabSize, d);
  const positionEmbedding = a.learnedPositions ? gaussian(rand, config.seqLen * d, 0.5) : undefined;
  return { config, weights: { tokenEmbedding, layers, finalNorm: around1(rand, d), finalNormBias: normBias(d), positionEmbedding, classifier } };
}

/** The stories15M shape (llama2.c's smallest TinyStories model), with a 4096-token context. */
export const STORIES15M: ModelConfig = {
  arch: "llama",
  dim: 288,
  hiddenDim: 768,
  nLayers: 6,
  nHeads: 6,
  nKvHeads: 6,
  vocabSize: 32000,
  seqLen: 4096,
  normEps: 1e-5,
  ropeTheta: 10000,
  sharedClassifier: true,
};
