/**
 * What quantization costs a model, measured against a float64 forward pass of the unquantized weights:
 *
 *   1. per tensor and weight dtype: ‖deq(q(W)) − W‖_F / ‖W‖_F and max |deq(q(W)) − W|;
 *   2. per layer and weight dtype: max |Δlogits| / max |logits| over the prompt when only that layer's
 *      matrices are quantized (and for the whole model), run in float64 on the dequantized weights;
 *   3. per layer and cache precision: how W_KV amplifies the rounding of cached K into V, next to what a
 *      vanilla V-cache at the same precision loses, and which layers slimify keeps vanilla there.
 *
 * Slim layers are measured two ways in (2): with every matrix quantized (V = q(W_KV)·q(W_K)·x), and as the
 * decoder stores them (host/plan.ts): W_K and W_KV in f32, so K and V are those of the unquantized model.
 */
import { writeFileAtomic } from "../../host/core/files.ts";
import { fail, SlimError } from "../../host/core/errors.ts";
import { type LayerWeights, type Model, isMultiHead } from "../../host/core/model.ts";
import { groupSizeFor, type CacheDtype, type WeightDtype } from "../../host/core/plan.ts";
import { roundTrip } from "../../host/core/quant.ts";
import { attentionInputs, forwardLogits } from "./calibrate.ts";
import { computeWkv, luFactor, reconstructionError, slimify, type Wkv } from "./slimify.ts";

export const REPORT_WEIGHTS: readonly WeightDtype[] = ["f16", "q8_0", "q4_0"];
export const REPORT_CACHES: readonly CacheDtype[] = ["f16", "q8"];

export interface QuantizationReportOptions {
  weights?: readonly WeightDtype[]; // weight storages to measure (default f16, q8_0, q4_0)
  kCaches?: readonly CacheDtype[]; // cache row storages to measure (default f16, q8)
  groupSize?: number; // values per scale for q8_0 / q4_0 (default groupSizeFor the model); unused without them
  threshold?: number; // slimify's threshold for the slim/vanilla decision (default 1e-3)
  /** Called as each measurement starts: `done` of `total` steps, what comes next. */
  onStep?: (done: number, total: number, what: string) => void;
}

/** One tensor stored as one dtype and read back. */
export interface TensorError {
  tensor: string; // e.g. "layers.0.wq"; "layers.0.wkv" is W_KV (f32) of a layer that can run slim
  dtype: WeightDtype;
  relError: number; // ‖deq(q(W)) − W‖_F / ‖W‖_F; Infinity where W does not fit the dtype (f16 beyond 65504)
  maxAbsError: number; // max |deq(q(W)) − W|
}

/** max|Δlogits| / max|logits| over the prompt positions, with one layer's (or all) matrices quantized; Infinity on overflow. */
export interface LogitEffect {
  layer: number | null; // null: every layer plus token embedding and classifier
  dtype: WeightDtype;
  vanilla: number; // W_Q, W_K, W_V, W_O, W1..W3 quantized
  slimAll: number | null; // slim with W_K and W_KV quantized too; null where the layer cannot run slim
  slimKeepF32: number | null; // slim as the decoder stores it: W_K and W_KV f32
}

/** How one layer's K-cache precision reaches V. Null where the layer cannot run slim. */
export interface CacheAmplification {
  layer: number;
  kCache: CacheDtype;
  slimError: number | null; // ‖W_KV·round(K) − V‖/‖V‖ on the prompt's attention inputs (W_KV at f32)
  vanillaError: number | null; // ‖round(V) − V‖/‖V‖: a vanilla V-cache at the same precision
  amplification: number | null; // slimError / vanillaError
  maxAbsWkv: number | null;
  cond: number | null; // estimated cond₂(W_K)
  mode: "slim" | "vanilla"; // slimify's decision with this cache precision
  reason?: string;
}

export interface QuantizationReport {
  tokens: number; // prompt positions measured
  groupSize: number; // of the q8_0 / q4_0 rows; 0 when neither was measured
  weights: WeightDtype[];
  kCaches: CacheDtype[];
  tensors: TensorError[];
  logits: LogitEffect[]; // per dtype: layers 0..n-1, then the whole model
  caches: CacheAmplification[]; // per cache precision: layers 0..n-1
}

/** The matrices of a layer that a weight dtype applies to (norms stay f32). */
const LAYER_MATRICES = ["wq", "wk", "wv", "wo", "w1", "w2", "w3"] as const;
type MatrixName = (typeof LAYER_MATRICES)[number];

/** a (n,n) @ b (n,n) -> (n,n), float64 accumulation, f32 result */
function matmul(a: Float32Array, b: Float32Array, n: number): Float32Array {
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let k = 0; k < n; k++) {
      const aik = a[i * n + k];
      for (let j = 0; j < n; j++) out[i * n + j] += aik * b[k * n + j];
    }
  }
  return Float32Array.from(out);
}

function tensorError(w: Float32Array, q: Float32Array): { relError: number; maxAbsError: number } {
  let err = 0;
  let ref = 0;
  let maxAbsError = 0;
  for (let i = 0; i < w.length; i++) {
    const e = q[i] - w[i];
    err += e * e;
    ref += w[i] * w[i];
    maxAbsError = Math.max(maxAbsError, Math.abs(e));
  }
  return { relError: ref > 0 ? Math.sqrt(err / ref) : err === 0 ? 0 : Infinity, maxAbsError };
}

/** max over positions and vocab of |a − ref|, over max |ref|. */
function logitError(ref: Float64Array[], a: Float64Array[]): number {
  let diff = 0;
  let scale = 0;
  ref.forEach((r, p) => {
    for (let i = 0; i < r.length; i++) {
      diff = Math.max(diff, Math.abs(a[p][i] - r[i]));
      scale = Math.max(scale, Math.abs(r[i]));
    }
  });
  return Number.isNaN(diff) ? Infinity : diff / scale; // NaN: a weight overflowed its dtype (f16 beyond 65504)
}

type Variant = "vanilla" | "slimAll" | "slimKeepF32";

/**
 * Measure quantization of `model` over the prompt `tokens`. Group size must divide dim and hidden_dim;
 * matrices are grouped along their flattened rows, as the decoder stores them.
 */
export function quantizationReport(model: Model, tokens: readonly number[], opts: QuantizationReportOptions = {}): QuantizationReport {
  const c = model.config;
  const w = model.weights;
  const dim = c.dim;
  const weights = [...(opts.weights ?? REPORT_WEIGHTS)];
  const kCaches = [...(opts.kCaches ?? REPORT_CACHES)];
  // q8_0 and q4_0 group as the decoder does (host/core/plan.ts groupSizeFor); f16 and f32 take any rows
  const grouped = weights.find((d) => d === "q8_0" || d === "q4_0");
  const group = opts.groupSize ?? (grouped ? groupSizeFor(c, grouped) : 0);
  if (grouped && (!Number.isInteger(group) || group < 2 || group % 2 !== 0 || [dim, c.hiddenDim].some((n) => n % group !== 0)))
    fail("E_MODEL", `group size ${group} must be an even whole number ≥ 2 that divides dim ${dim} and hidden_dim ${c.hiddenDim}`);
  if (tokens.length === 0) fail("E_FLAG", "quantize-report needs at least one prompt token");

  // W_KV per layer where the layer can run slim (square, invertible W_K)
  const wkvs: (Wkv | null)[] = w.layers.map((L) => {
    if (!isMultiHead(c)) return null;
    try {
      return computeWkv(L.wk, L.wv, dim, luFactor(L.wk, dim));
    } catch (e) {
      if (e instanceof SlimError) return null;
      throw e;
    }
  });

  const total = weights.length * (c.nLayers + 2) + kCaches.length;
  let done = 0;
  const step = (what: string) => opts.onStep?.(done++, total, what);

  // 1. per tensor
  const named: [string, Float32Array][] = [["token_embedding", w.tokenEmbedding]];
  if (w.classifier !== w.tokenEmbedding) named.push(["classifier", w.classifier]);
  w.layers.forEach((L, l) => {
    for (const m of LAYER_MATRICES) if (L[m]) named.push([`layers.${l}.${m}`, L[m]!]);
    const wkv = wkvs[l];
    if (wkv) named.push([`layers.${l}.wkv`, wkv.f32]);
  });
  const rounded = new Map<string, Float32Array>(); // `${dtype} ${tensor}` -> deq(q(W))
  const tensors: TensorError[] = [];
  for (const dtype of weights) {
    step(`${dtype}: round every tensor`);
    for (const [tensor, x] of named) {
      const q = roundTrip(x, dtype, group);
      rounded.set(`${dtype} ${tensor}`, q);
      tensors.push({ tensor, dtype, ...tensorError(x, q) });
    }
  }

  // 2. effect on the logits
  const ref = forwardLogits(model, tokens);
  const quantizedLayer = (l: number, dtype: WeightDtype, variant: Variant): LayerWeights => {
    const L = w.layers[l];
    const q = (m: MatrixName) => rounded.get(`${dtype} layers.${l}.${m}`);
    const out: LayerWeights = { ...L };
    for (const m of LAYER_MATRICES) if (L[m]) out[m] = q(m)!;
    if (variant === "slimKeepF32") [out.wk, out.wv] = [L.wk, L.wv]; // K = W_K x and V = W_KV K as unquantized
    if (variant === "slimAll") out.wv = matmul(rounded.get(`${dtype} layers.${l}.wkv`)!, out.wk, dim); // V = q(W_KV)·q(W_K)·x
    return out;
  };
  const canSlim = (l: number) => wkvs[l] !== null;
  const effect = (layers: number[], dtype: WeightDtype, variant: Variant, whole: boolean): number => {
    const ls = w.layers.map((L, l) => (layers.includes(l) ? quantizedLayer(l, dtype, canSlim(l) ? variant : "vanilla") : L));
    const emb = whole ? rounded.get(`${dtype} token_embedding`)! : w.tokenEmbedding;
    const cls = w.classifier === w.tokenEmbedding ? emb : whole ? rounded.get(`${dtype} classifier`)! : w.classifier;
    const m: Model = { config: c, weights: { ...w, layers: ls, tokenEmbedding: emb, classifier: cls } };
    return logitError(ref, forwardLogits(m, tokens));
  };
  const all = w.layers.map((_, l) => l);
  const anySlim = all.some(canSlim);
  const logits: LogitEffect[] = [];
  for (const dtype of weights) {
    for (const l of all) {
      step(`${dtype}: logits with layer ${l} of ${all.length} quantized`);
      logits.push({
        layer: l,
        dtype,
        vanilla: effect([l], dtype, "vanilla", false),
        slimAll: canSlim(l) ? effect([l], dtype, "slimAll", false) : null,
        slimKeepF32: canSlim(l) ? effect([l], dtype, "slimKeepF32", false) : null,
      });
    }
    step(`${dtype}: logits with every layer quantized`);
    logits.push({
      layer: null,
      dtype,
      vanilla: effect(all, dtype, "vanilla", true),
      slimAll: anySlim ? effect(all, dtype, "slimAll", true) : null,
      slimKeepF32: anySlim ? effect(all, dtype, "slimKeepF32", true) : null,
    });
  }

  // 3. K-cache rounding through W_KV
  const inputs = attentionInputs(model, tokens);
  const caches: CacheAmplification[] = [];
  for (const kCache of kCaches) {
    step(`${kCache} cache rows: K rounding through W_KV`);
    const decision = slimify(model, { prompt: tokens, kCache, threshold: opts.threshold });
    decision.layers.forEach((d, l) => {
      const wkv = wkvs[l];
      const L = w.layers[l];
      const e = wkv ? reconstructionError(L.wk, L.wv, wkv, inputs[l], dim, kCache) : null;
      caches.push({
        layer: l,
        kCache,
        slimError: e?.decoder ?? null,
        vanillaError: e?.vanilla ?? null,
        amplification: e ? e.decoder / e.vanilla : null,
        maxAbsWkv: d.maxAbsWkv,
        cond: d.cond,
        mode: d.mode,
        ...(d.reason ? { reason: d.reason } : {}),
      });
    });
  }

  opts.onStep?.(total, total, "done");
  return { tokens: tokens.length, groupSize: group, weights, kCaches, tensors, logits, caches };
}

/** A comma-separated list of dtypes from `allowed`, as a flag gives it. */
export function parseDtypes<T extends string>(flag: string, text: string, allowed: readonly T[]): T[] {
  const items = text.split(",").map((s) => s.trim()).filter((s) => s !== "");
  if (items.length === 0) fail("E_FLAG", `${flag}: expected a comma-separated list of ${allowed.join(", ")}`);
  for (const s of items) if (!allowed.includes(s as T)) fail("E_FLAG", `${flag}: unknown dtype "${s}" (expected ${allowed.join(", ")})`);
  return [...new Set(items)] as T[];
}

// ---------------------------------------------------------------------------------------------------------
// formatting

const e = (x: number | null): string => (x === null ? "–" : Number.isFinite(x) ? x.toExponential(2) : "overflow");

function table(header: string[], rows: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((s, i) => (i === 0 ? s.padEnd(widths[i]) : s.padStart(widths[i]))).join("  ");
  return [line(header), ...rows.map(line)];
}

/** The three tables for people. */
export function formatQuantizationReport(r: QuantizationReport): string {
  const names = [...new Set(r.tensors.map((t) => t.tensor))];
  const find = (tensor: string, dtype: WeightDtype) => r.tensors.find((t) => t.tensor === tensor && t.dtype === dtype)!;
  const t1 = table(
    ["tensor", ...r.weights.flatMap((d) => [`${d} rel`, `${d} max`])],
    names.map((n) => [n, ...r.weights.flatMap((d) => [e(find(n, d).relError), e(find(n, d).maxAbsError)])]),
  );

  const layers = [...new Set(r.logits.map((x) => x.layer))];
  const effect = (layer: number | null, dtype: WeightDtype) => r.logits.find((x) => x.layer === layer && x.dtype === dtype)!;
  const t2 = table(
    ["layer", ...r.weights.flatMap((d) => [`${d} vanilla`, `${d} slim all`, `${d} slim K/KV f32`])],
    layers.map((l) => [l === null ? "all" : String(l), ...r.weights.flatMap((d) => {
      const x = effect(l, d);
      return [e(x.vanilla), e(x.slimAll), e(x.slimKeepF32)];
    })]),
  );

  const t3 = table(
    ["layer", "kcache", "V err slim", "V err vanilla", "amplification", "max|W_KV|", "cond(W_K)", "slimify"],
    r.caches.map((x) => [String(x.layer), x.kCache, e(x.slimError), e(x.vanillaError), e(x.amplification), e(x.maxAbsWkv), e(x.cond), x.mode]),
  );
  const vanilla = r.kCaches.map((k) => {
    const ls = r.caches.filter((x) => x.kCache === k && x.mode === "vanilla").map((x) => x.layer);
    return `  ${k}: ${ls.length === 0 ? "none" : `${ls.length === 1 ? "layer" : "layers"} ${ls.join(", ")}`}`;
  });

  return [
    `1. weight round trip per tensor${r.groupSize > 0 ? ` (q8_0 / q4_0 group size ${r.groupSize})` : ""}: relative Frobenius error ‖deq(q(W)) − W‖/‖W‖ and max abs error`,
    ...t1,
    "",
    `2. effect on the logits: max|Δlogits| / max|logits| over ${r.tokens} prompt positions, float64 forward on dequantized weights`,
    "   one layer's matrices quantized (\"all\": every layer plus embedding and classifier); slim all: W_K and W_KV",
    "   quantized too; slim K/KV f32: as the decoder stores slim layers",
    ...t2,
    "",
    `3. K-cache rounding reaching V through W_KV on the prompt's attention inputs (V err: ‖V̂ − V‖/‖V‖)`,
    ...t3,
    "layers slimify keeps vanilla (V-cache) per cache precision:",
    ...vanilla,
  ].join("\n");
}

/** The report as JSON at `path`, written to a temporary name and renamed, so readers never see half a file. Infinity (overflow) is written as null. */
export function writeReportJson(r: QuantizationReport, path: string): void {
  writeFileAtomic(path, JSON.stringify(r, null, 2) + "\n", "quantization report");
}
