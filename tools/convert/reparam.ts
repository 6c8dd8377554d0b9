/**
 * An exact reparametrization for quantized key caches (ARCHITECTURE.md, "Numerics"). Per K/V head and
 * per RoPE pair (2i, 2i+1), multiply the keys by s and the queries by 1/s: RoPE rotates each pair as a 2-D
 * rotation, which commutes with a common scale of the pair, so every score q·R k is unchanged, and so are
 * V (= W_KV·k with W_KV compensated by 1/s) and the logits. Dims RoPE leaves alone scale one by one.
 *
 * Why: a q8 cache row shares one scale across the whole row, so a few large key columns set the step that
 * rounds the small ones. Scaling every pair to the same RMS over calibration keys equalizes them. The
 * scales are powers of two, so W_K·s, W_Q/s and W_KV/s are exact in f32 and the f32 decoder's logits are
 * bit for bit those of the original model; f16 rounding is relative, so only q8 rows change.
 */
import { type Model, archOf, headDim, kvDim } from "../../host/core/model.ts";

/** Per layer, one factor per key dim (kvDim,), equal within each RoPE pair; powers of two. */
export type KeyScales = Float64Array[];

/**
 * Scales that bring every RoPE pair of the keys to the keys' overall RMS over calibration inputs.
 * `inputs[layer]` holds rows (n, dim) of attention inputs (tools/convert/calibrate.ts attentionInputs, or
 * random rows); a pair that is zero throughout keeps scale 1.
 */
export function keyPairScales(model: Model, inputs: ArrayLike<number>[]): KeyScales {
  const c = model.config;
  const d = c.dim;
  const kd = kvDim(c);
  const hd = headDim(c);
  const rot = archOf(c).rotaryDims;
  return model.weights.layers.map((L, l) => {
    const xs = inputs[l];
    const sumSq = new Float64Array(kd);
    const rows = xs.length / d;
    for (let r = 0; r < rows; r++) {
      for (let i = 0; i < kd; i++) {
        let k = 0;
        for (let j = 0; j < d; j++) k += L.wk[i * d + j] * xs[r * d + j];
        if (L.bk) k += L.bk[i];
        sumSq[i] += k * k;
      }
    }
    let total = 0;
    for (const v of sumSq) total += v;
    const target = total / kd; // mean square per dim
    const scales = new Float64Array(kd).fill(1);
    const set = (dims: number[]) => {
      const ms = dims.reduce((a, i) => a + sumSq[i], 0) / dims.length;
      if (!(ms > 0) || !(target > 0)) return;
      const s = 2 ** Math.round(0.5 * Math.log2(target / ms));
      for (const i of dims) scales[i] = s;
    };
    for (let h = 0; h < kd / hd; h++) {
      const o = h * hd;
      for (let i = 0; i < rot; i += 2) set([o + i, o + i + 1]);
      for (let i = rot; i < hd; i++) set([o + i]);
    }
    return scales;
  });
}

/** The model with keys scaled by `scales` and queries by their inverse: identical scores, V and logits. */
export function applyKeyScales(model: Model, scales: KeyScales): Model {
  const c = model.config;
  const d = c.dim;
  const kd = kvDim(c);
  const hd = headDim(c);
  const group = c.nHeads / c.nKvHeads;
  const layers = model.weights.layers.map((L, l) => {
    const s = scales[l];
    const wk = L.wk.slice();
    const wq = L.wq.slice();
    const bk = L.bk?.slice();
    const bq = L.bq?.slice();
    for (let i = 0; i < kd; i++) {
      for (let j = 0; j < d; j++) wk[i * d + j] = Math.fround(wk[i * d + j] * s[i]);
      if (bk) bk[i] = Math.fround(bk[i] * s[i]);
      const kvHead = Math.floor(i / hd);
      for (let g = 0; g < group; g++) {
        const qi = (kvHead * group + g) * hd + (i % hd);
        for (let j = 0; j < d; j++) wq[qi * d + j] = Math.fround(wq[qi * d + j] / s[i]);
        if (bq) bq[qi] = Math.fround(bq[qi] / s[i]);
      }
    }
    return { ...L, wk, wq, ...(bk ? { bk } : {}), ...(bq ? { bq } : {}) };
  });
  return { ...model, weights: { ...model.weights, layers } };
}
