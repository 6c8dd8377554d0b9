/**
 * A lowered model as the standard transformer it computes: every tensor's stored values in f32 (what the
 * decoder multiplies with), and for slim layers the W_V and b_V that W_KV and the folded b_O stand for.
 * For re-converting a .slim, measuring it (quantize-report) and checking it against a reference; running
 * it needs none of this (the decoder takes the lowered bytes).
 *
 * A slim layer stores W_KV (v = W_KV·k) and b_O' = b_O + W_O·(b_V − W_KV·b_K). The standard layer with
 * W_V = W_KV·W_K, b_V = W_KV·b_K and b_O = b_O' computes the same: its v = W_KV·(W_K·x + b_K) = W_KV·k, and
 * o = W_O·Σ a·v + b_O'. Both products in float64, rounded to f32 once.
 */
import type { LayerWeights, Model, ModelWeights } from "./model.ts";
import { storedValues } from "./quant.ts";
import type { LoweredModel } from "./lowered.ts";
import { LAYER_KINDS } from "./tensors.ts";

/** The standard model a lowered model computes; W_V and b_V of slim layers are computed here (dim³ per layer). */
export function standardModel(lowered: LoweredModel): Model {
  const c = lowered.config;
  const values = new Map<string, Float32Array>();
  for (const t of lowered.tensors) values.set(t.name, storedValues(t.bytes, t.shape.reduce((p, s) => p * s, 1), t.dtype, t.groupSize));
  const get = (n: string): Float32Array => {
    const v = values.get(n);
    if (!v) throw new Error(`the lowered model has no ${n}`);
    return v;
  };
  const layers = lowered.modes.map((mode, l) => {
    const w: Partial<Record<keyof LayerWeights, Float32Array>> = {};
    for (const k of LAYER_KINDS) {
      const v = values.get(`layers.${l}.${k.suffix}`);
      if (v && k.field !== "wkv") w[k.field] = v;
    }
    if (mode === "slim") {
      const wkv = get(`layers.${l}.wkv`);
      w.wv = matmul(wkv, w.wk!, c.dim, c.dim, c.dim);
      if (w.bk) w.bv = matmul(wkv, w.bk, c.dim, c.dim, 1);
    }
    return w as LayerWeights;
  });
  const tokenEmbedding = get("token_embedding");
  const weights: ModelWeights = { tokenEmbedding, layers, finalNorm: get("final_norm"), classifier: c.sharedClassifier ? tokenEmbedding : get("classifier") };
  const finalNormBias = values.get("final_norm_bias");
  if (finalNormBias) weights.finalNormBias = finalNormBias;
  const classifierBias = values.get("classifier_bias");
  if (classifierBias) weights.classifierBias = classifierBias;
  const positionEmbedding = values.get("position_embedding");
  if (positionEmbedding) weights.positionEmbedding = positionEmbedding;
  return { config: c, weights };
}

/** a (n, k) · b (k, m), row-major, accumulated in float64 and rounded to f32 once. */
function matmul(a: Float32Array, b: Float32Array, n: number, k: number, m: number): Float32Array {
  const out = new Float32Array(n * m);
  const row = new Float64Array(m);
  for (let i = 0; i < n; i++) {
    row.fill(0);
    for (let p = 0; p < k; p++) {
      const x = a[i * k + p];
      if (x === 0) continue;
      for (let j = 0; j < m; j++) row[j] += x * b[p * m + j];
    }
    out.set(row, i * m);
  }
  return out;
}
