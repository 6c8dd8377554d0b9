/**
 * The offline slim-attention transform. With a square key projection, k = W_K x and v = W_V x give
 * x = W_K⁻¹ k, hence v = W_KV k with W_KV = W_V·W_K⁻¹ (d, d), out × in like every model matrix. The
 * decoder then caches K only and recovers V on the fly.
 *
 * W_KV maps keys *before* RoPE. A decoder that caches rotated keys (for the scores) must rotate them back
 * before applying W_KV; RoPE is orthogonal, so this is exact up to f32 rounding.
 *
 * Everything here runs in float64. What the decoder will see is judged by measurement: K rounded to f32
 * (its cache precision) times the f32 copy of W_KV, against V computed in float64. Layers whose error is
 * above a threshold keep their V-cache ("vanilla").
 */
import { SlimError, fail } from "../../host/core/errors.ts";
import { type Model, isLlamaShaped, isMultiHead, kvDim } from "../../host/core/model.ts";
import { attentionInputs } from "./calibrate.ts";
import { mulberry32 } from "../../host/core/synthetic.ts";
import { quantizeQ8, dequantizeQ8, roundF16 } from "../../host/core/quant.ts";
import type { CacheDtype } from "../../host/core/plan.ts";

/** A row-major matrix or a vector; f32 or f64 values are read as float64. */
type Values = ArrayLike<number>;

const toF64 = (a: Values): Float64Array => (a instanceof Float64Array ? a : Float64Array.from(a));

// ---------------------------------------------------------------------------------------------------------
// dense linear algebra, float64

/** LU factors of an n×n matrix A with partial pivoting: P·A = L·U. */
export interface LU {
  n: number;
  lu: Float64Array; // (n, n): strictly-lower part is L (unit diagonal implied), upper part with diagonal is U
  perm: Int32Array; // (n,): row i of P·A is row perm[i] of A
}

/**
 * Factor A (n, n) as P·A = L·U. Throws SlimError E_MODEL when A is singular to working precision: a
 * column has no pivot larger than n·ε·max|A| (exact zeros and NaNs included).
 */
export function luFactor(a: Values, n: number): LU {
  if (a.length !== n * n) throw new RangeError(`luFactor: expected ${n}×${n} = ${n * n} values, got ${a.length}`);
  const lu = Float64Array.from(a);
  const perm = Int32Array.from({ length: n }, (_, i) => i);
  let maxAbs = 0;
  for (const v of lu) maxAbs = Math.max(maxAbs, Math.abs(v));
  const tiny = n * Number.EPSILON * maxAbs;

  for (let k = 0; k < n; k++) {
    let p = k;
    let best = Math.abs(lu[k * n + k]);
    for (let i = k + 1; i < n; i++) {
      const v = Math.abs(lu[i * n + k]);
      if (v > best) [p, best] = [i, v];
    }
    if (!(best > tiny)) {
      fail(
        "E_MODEL",
        `the ${n}×${n} matrix is singular to working precision: column ${k} has no pivot above ${tiny.toExponential(1)}`,
      );
    }
    if (p !== k) {
      for (let j = 0; j < n; j++) [lu[k * n + j], lu[p * n + j]] = [lu[p * n + j], lu[k * n + j]];
      [perm[k], perm[p]] = [perm[p], perm[k]];
    }
    const pivot = lu[k * n + k];
    for (let i = k + 1; i < n; i++) {
      const f = (lu[i * n + k] /= pivot);
      if (f === 0) continue;
      for (let j = k + 1; j < n; j++) lu[i * n + j] -= f * lu[k * n + j];
    }
  }
  return { n, lu, perm };
}

/** Solve A x = b for x (n,), given the LU of A. */
export function solve({ n, lu, perm }: LU, b: Values): Float64Array {
  const x = Float64Array.from({ length: n }, (_, i) => b[perm[i]]); // P b
  for (let i = 0; i < n; i++) {
    let s = x[i];
    for (let j = 0; j < i; j++) s -= lu[i * n + j] * x[j];
    x[i] = s; // L y = P b, unit diagonal
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = x[i];
    for (let j = i + 1; j < n; j++) s -= lu[i * n + j] * x[j];
    x[i] = s / lu[i * n + i]; // U x = y
  }
  return x;
}

/**
 * Solve Aᵀ x = b for x (n,), given the LU of A. Aᵀ = Uᵀ·Lᵀ·P, so: Uᵀ w = b, Lᵀ z = w, x = Pᵀ z. Both
 * triangular solves walk rows of L and U (column-oriented updates), which keeps the row-major access.
 */
export function solveTransposed({ n, lu, perm }: LU, b: Values): Float64Array {
  const w = Float64Array.from(b);
  for (let j = 0; j < n; j++) {
    w[j] /= lu[j * n + j];
    for (let i = j + 1; i < n; i++) w[i] -= lu[j * n + i] * w[j];
  }
  for (let j = n - 1; j >= 0; j--) {
    for (let i = 0; i < j; i++) w[i] -= lu[j * n + i] * w[j];
  }
  const x = new Float64Array(n);
  for (let i = 0; i < n; i++) x[perm[i]] = w[i];
  return x;
}

/** A⁻¹ (n, n), row-major. Prefer `solve` when only products with the inverse are needed. */
export function invert(a: Values, n: number): Float64Array {
  const f = luFactor(a, n);
  const inv = new Float64Array(n * n);
  const e = new Float64Array(n);
  for (let j = 0; j < n; j++) {
    e.fill(0);
    e[j] = 1;
    const col = solve(f, e);
    for (let i = 0; i < n; i++) inv[i * n + j] = col[i];
  }
  return inv;
}

/** W (d,n) @ x (n,) -> (d,) */
function matvec(w: Values, x: Values, d: number, n: number): Float64Array {
  const out = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = 0;
    for (let j = 0; j < n; j++) s += w[i * n + j] * x[j];
    out[i] = s;
  }
  return out;
}

/** Wᵀ: W (d,n), y (d,) -> (n,) */
function matvecT(w: Values, y: Values, d: number, n: number): Float64Array {
  const out = new Float64Array(n);
  for (let i = 0; i < d; i++) {
    const yi = y[i];
    for (let j = 0; j < n; j++) out[j] += w[i * n + j] * yi;
  }
  return out;
}

function norm2(x: Values): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i] * x[i];
  return Math.sqrt(s);
}

const scaled = (x: Float64Array, s: number): Float64Array => x.map((v) => v * s);

/** n standard-normal samples (Box–Muller) from a seed. */
function gaussians(n: number, seed: number): Float64Array {
  const u = mulberry32(seed);
  return Float64Array.from({ length: n }, () => Math.sqrt(-2 * Math.log(1 - u())) * Math.cos(2 * Math.PI * u()));
}

// ---------------------------------------------------------------------------------------------------------
// W_KV and how well it survives f32

/** W_KV (d, d) in float64, and the f32 copy the decoder multiplies with. */
export interface Wkv {
  f64: Float64Array;
  f32: Float32Array;
}

/**
 * W_KV = W_V·W_K⁻¹ (d, d), so that v = W_KV k. No inverse is formed: W_KV·W_K = W_V means row i of
 * W_KV solves W_Kᵀ r = (row i of W_V), one transposed solve per row with the LU of W_K.
 */
export function computeWkv(wk: Values, wv: Values, dim: number, lu: LU = luFactor(wk, dim)): Wkv {
  const f64 = new Float64Array(dim * dim);
  const row = new Float64Array(dim);
  for (let i = 0; i < dim; i++) {
    for (let j = 0; j < dim; j++) row[j] = wv[i * dim + j];
    f64.set(solveTransposed(lu, row), i * dim);
  }
  return { f64, f32: Float32Array.from(f64) };
}

/**
 * Estimate cond₂(W) = σ_max/σ_min of W (n, n) by power iteration: on WᵀW for σ_max, and on
 * (WᵀW)⁻¹ = W⁻¹·W⁻ᵀ (two solves with the LU per step) for 1/σ_min. Each iterate gives ‖W x‖ ≤ σ_max and
 * ‖W⁻ᵀ x‖ ≤ 1/σ_min, so the estimate approaches the true value from below; the gap left after
 * `iterations` steps is set by how far σ_max (σ_min) stands apart from its neighbour, and where they are
 * close the gap is small anyway. Starts from a fixed seed, so reports are reproducible.
 */
export function conditionEstimate(w: Values, n: number, iterations = 40, lu: LU = luFactor(w, n)): number {
  const w64 = toF64(w);
  const start = gaussians(n, 0x5eed);
  const unit = (x: Float64Array): Float64Array => scaled(x, 1 / norm2(x));

  let x = unit(start);
  let sigmaMax = 0;
  for (let it = 0; it < iterations; it++) {
    const y = matvec(w64, x, n, n);
    sigmaMax = norm2(y);
    x = unit(matvecT(w64, y, n, n));
  }

  x = unit(start);
  let invSigmaMin = 0;
  for (let it = 0; it < iterations; it++) {
    const y = solveTransposed(lu, x); // W⁻ᵀ x
    invSigmaMin = norm2(y);
    x = unit(solve(lu, y)); // W⁻¹ W⁻ᵀ x
  }
  return sigmaMax * invSigmaMin;
}

/** Relative V reconstruction error ‖K·W_KVᵀ − V‖_F / ‖V‖_F over a set of input rows. */
export interface ReconstructionError {
  decoder: number; // K rounded to the cache's precision, W_KV as its f32 copy: what the decoder will see
  float64: number; // K and W_KV in float64: the error of the math alone, for comparison
  vanilla: number; // V itself rounded to the cache's precision: what a vanilla layer's V-cache costs
}

/** A cache row as stored: f32, f16 (binary16, for sizing: the decoder runs f32 and q8), or Q8 (int8 values and one scale per row). */
function cachedRow(x: Float64Array, cache: CacheDtype): Float64Array {
  if (cache === "f32") return x.map(Math.fround);
  if (cache === "f16") return x.map(roundF16);
  if (cache !== "q8") fail("E_FLAG", `--cache ${cache}: cache rows are f32, f16 or q8`);
  return Float64Array.from(dequantizeQ8(quantizeQ8(Float32Array.from(x), x.length), x.length));
}

/**
 * Reconstruction error for inputs xs (rows, dim), row-major: k = W_K x and v = W_V x in float64, then
 * v̂ = W_KV k. The decoder variant rounds the operands to f32 but accumulates in float64, so it measures
 * the storage precision of K and W_KV, not the f32 summation order (which vanilla V shares).
 */
export function reconstructionError(wk: Values, wv: Values, wkv: Wkv, xs: Values, dim: number, cache: CacheDtype = "f32"): ReconstructionError {
  let errDecoder = 0;
  let err64 = 0;
  let errVanilla = 0;
  let ref = 0;
  const x = new Float64Array(dim);
  for (let r = 0; r * dim < xs.length; r++) {
    for (let j = 0; j < dim; j++) x[j] = xs[r * dim + j];
    const k = matvec(wk, x, dim, dim);
    const v = matvec(wv, x, dim, dim);
    const kCached = cachedRow(k, cache);
    const vCached = cachedRow(v, cache);
    const vDecoder = matvec(wkv.f32, kCached, dim, dim);
    const v64 = matvec(wkv.f64, k, dim, dim);
    for (let i = 0; i < dim; i++) {
      errDecoder += (vDecoder[i] - v[i]) ** 2;
      err64 += (v64[i] - v[i]) ** 2;
      errVanilla += (vCached[i] - v[i]) ** 2;
      ref += v[i] ** 2;
    }
  }
  const rel = (e: number): number => (ref > 0 ? Math.sqrt(e / ref) : e === 0 ? 0 : Infinity);
  return { decoder: rel(errDecoder), float64: rel(err64), vanilla: rel(errVanilla) };
}

// ---------------------------------------------------------------------------------------------------------
// per-model decision

export interface SlimifyOptions {
  threshold?: number; // largest decoder-precision reconstruction error a slim layer may have (default 1e-3)
  prompt?: readonly number[]; // token ids whose attention inputs measure errActivations
  randomRows?: number; // gaussian input rows for errRandom (default 64)
  seed?: number; // seed of those rows (default 1)
  kCache?: CacheDtype; // precision of the cache rows the decoder will keep (default f32)
}

/** What slimify found for one layer. Measurements are null where they were not taken. */
export interface LayerReport {
  layer: number;
  cond: number | null; // estimated cond₂(W_K)
  maxAbsWkv: number | null; // largest |W_KV| entry: what quantization will have to cover
  errRandom: number | null; // decoder-precision error on seeded gaussian inputs
  errActivations: number | null; // decoder-precision error on the prompt's attention inputs
  errFloat64: number | null; // the deciding error (activations if measured, else random) with all math in float64
  mode: "slim" | "vanilla";
  reason?: string; // why a layer stays vanilla
}

export interface SlimifyResult {
  layers: LayerReport[];
  wkv: (Float32Array | null)[]; // per layer, (dim, dim) out × in; null for vanilla layers
}

/**
 * Decide per layer between slim (K-cache + W_KV) and vanilla (K- and V-cache), measuring conditioning
 * and reconstruction error on the way. Grouped K/V models (nKvHeads < nHeads) stay vanilla throughout:
 * W_K is (kvDim, dim), not square, so there is nothing to invert and the V-cache is already shared.
 */
export function slimify(model: Model, opts: SlimifyOptions = {}): SlimifyResult {
  const c = model.config;
  const dim = c.dim;
  const threshold = opts.threshold ?? 1e-3;
  const rows = opts.randomRows ?? 64;
  if (!(threshold > 0 && Number.isFinite(threshold))) {
    fail("E_FLAG", `slimify threshold must be a positive number, got ${threshold}`);
  }
  if (!(Number.isInteger(rows) && rows > 0)) {
    fail("E_FLAG", `slimify randomRows must be a positive integer, got ${rows}`);
  }

  const unmeasured = { cond: null, maxAbsWkv: null, errRandom: null, errActivations: null, errFloat64: null };
  if (!isMultiHead(c)) {
    const reason =
      `grouped K/V (nKvHeads ${c.nKvHeads} < nHeads ${c.nHeads}): W_K is ${kvDim(c)}×${dim}, not square, ` +
      `so slim attention saves nothing here; no inversion attempted`;
    return {
      layers: model.weights.layers.map((_, layer) => ({ layer, ...unmeasured, mode: "vanilla", reason })),
      wkv: model.weights.layers.map(() => null),
    };
  }

  const prompt = opts.prompt && opts.prompt.length > 0 ? opts.prompt : null;
  // tools/calibrate.ts runs the Llama forward pass; other architectures are measured on random inputs
  const activations = prompt && isLlamaShaped(c) ? attentionInputs(model, prompt) : null;
  const randomInputs = gaussians(rows * dim, opts.seed ?? 1);

  const layers: LayerReport[] = [];
  const wkv: (Float32Array | null)[] = [];
  model.weights.layers.forEach((L, layer) => {
    let lu: LU;
    try {
      lu = luFactor(L.wk, dim);
    } catch (e) {
      if (!(e instanceof SlimError)) throw e;
      layers.push({ layer, ...unmeasured, mode: "vanilla", reason: `W_K of layer ${layer}: ${e.message}` });
      wkv.push(null);
      return;
    }
    const w = computeWkv(L.wk, L.wv, dim, lu);
    const cond = conditionEstimate(L.wk, dim, 40, lu);
    let maxAbsWkv = 0;
    for (const v of w.f64) maxAbsWkv = Math.max(maxAbsWkv, Math.abs(v));
    const onRandom = reconstructionError(L.wk, L.wv, w, randomInputs, dim, opts.kCache);
    const onActs = activations ? reconstructionError(L.wk, L.wv, w, activations[layer], dim, opts.kCache) : null;
    const deciding = onActs ?? onRandom;
    // The threshold bounds what slim adds on top of what a vanilla V-cache at the same precision loses
    // anyway (≈ 6e-8 for f32 rows, a few 1e-3 for q8 rows): K's rounding reaches V amplified by W_KV.
    const slim = deciding.decoder - deciding.vanilla <= threshold; // NaN stays vanilla
    layers.push({
      layer,
      cond,
      maxAbsWkv,
      errRandom: onRandom.decoder,
      errActivations: onActs?.decoder ?? null,
      errFloat64: deciding.float64,
      mode: slim ? "slim" : "vanilla",
      ...(slim
        ? {}
        : {
            reason:
              `V reconstruction error ${deciding.decoder.toExponential(2)} ` +
              `on ${onActs ? "prompt activations" : "random inputs"} ` +
              `exceeds the threshold ${threshold}` +
              (opts.kCache && opts.kCache !== "f32"
                ? ` over a vanilla V-cache's own ${deciding.vanilla.toExponential(2)} (cond(W_K) ≈ ${cond.toExponential(1)}, ${opts.kCache} cache rows)`
                : ` (cond(W_K) ≈ ${cond.toExponential(1)})`),
          }),
    });
    wkv.push(slim ? w.f32 : null);
  });
  return { layers, wkv };
}

// ---------------------------------------------------------------------------------------------------------
// biases (GPT-2 / NeoX style attention)

/** One attention block with biases, dims d×d. Vectors are (d,). */
export interface BiasedAttention {
  wk: Values; // (d, d)
  wv: Values; // (d, d)
  bk: Values; // (d,)
  bv: Values; // (d,)
  wo: Values; // (d, d)
  bo: Values; // (d,)
  wkv?: Float64Array; // (d, d) from computeWkv; computed from wk and wv when absent
}

export interface FoldedBiases {
  wkv: Float64Array; // (d, d)
  bo: Float64Array; // (d,) output bias that absorbs b_V (and b_K, if keys are cached with it)
}

/**
 * Fold the K and V biases of a slim layer into the output bias, so the decoder needs neither.
 *
 * Keys cached WITHOUT b_K ("without-bias", the default): for a query q, the scores q·(k_t + b_K) and
 * q·k_t differ by q·b_K, the same for every position t, which the softmax cancels. The true value is
 * v_t = W_V x_t + b_V = W_KV k_t + b_V; since the attention weights sum to 1 the b_V term leaves the
 * weighted sum unchanged and then passes through W_O: bo' = bo + W_O·b_V.
 *
 * Keys cached WITH b_K ("with-bias"): v_t = W_KV (k_t − b_K) + b_V, so bo' = bo + W_O·(b_V − W_KV·b_K).
 *
 * Only valid for non-rotary attention: with RoPE the cached key is R_t(k_t + b_K), and q·R_t b_K changes
 * with the position, so b_K does not cancel.
 */
export function foldBiases(a: BiasedAttention, keys: "without-bias" | "with-bias" = "without-bias"): FoldedBiases {
  const d = a.bo.length;
  const wkv = a.wkv ?? computeWkv(a.wk, a.wv, d).f64;
  const shift = toF64(a.bv).slice(); // the constant added to every reconstructed value
  if (keys === "with-bias") {
    const kb = matvec(wkv, a.bk, d, d);
    for (let i = 0; i < d; i++) shift[i] -= kb[i];
  }
  const through = matvec(a.wo, shift, d, d);
  return { wkv, bo: Float64Array.from({ length: d }, (_, i) => a.bo[i] + through[i]) };
}

/** The per-layer report as a table for people: one row per layer, then what the choices cost in memory. */
export function formatSlimifyReport(r: SlimifyResult): string {
  const e = (x: number | null) => (x === null ? "–" : x.toExponential(2));
  const rows = r.layers.map((l) =>
    [String(l.layer), e(l.cond), e(l.maxAbsWkv), e(l.errRandom), e(l.errActivations), e(l.errFloat64), l.mode],
  );
  const header = ["layer", "cond(W_K)", "max|W_KV|", "err random", "err prompt", "err f64", "mode"];
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((row) => row[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join("  ");
  const reasons = r.layers.filter((l) => l.reason).map((l) => `layer ${l.layer}: ${l.reason}`);
  return [
    line(header),
    ...rows.map(line),
    "errors are ‖K·W_KV − V‖/‖V‖ with K and W_KV at f32 (the decoder's precision); err f64 is the deciding one in float64",
    ...reasons,
  ].join("\n");
}
