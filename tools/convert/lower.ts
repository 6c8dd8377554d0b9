/**
 * The lowering step (ARCHITECTURE.md, "Data path"): from the canonical f32 model, the per-layer slim /
 * vanilla decision and a weight dtype to the exact bytes the decoder's weight region holds — the lowered
 * model (host/core/lowered.ts). Weights are quantized, and slim layers' output biases folded, here and
 * nowhere else: `convert` stores the result in a .slim file, `run` and `build` of a checkpoint lower it in
 * memory, and both hand the same bytes to the decoder.
 *
 * - Matrices in the chosen dtype (host/core/quant.ts f16Bytes, q8Bytes, q4Bytes); vectors, W_KV, slim
 *   layers' W_K and the position embedding f32 (host/core/lowered.ts storedDtype).
 * - A slim layer caches keys with b_K, so V = W_KV·(k − b_K) + b_V; attention weights sum to one, so the
 *   constant part passes straight to the output projection: b_O' = b_O + W_O·(b_V − W_KV·b_K), in float64
 *   with the f32 W_O of the checkpoint. The layer then needs no b_V.
 */
import { fail } from "../../host/core/errors.ts";
import { type Model, archOf, isMultiHead } from "../../host/core/model.ts";
import { groupSizeFor, type AttentionMode, type WeightDtype } from "../../host/core/plan.ts";
import { type LoweredModel, type LoweredTensor, storedDtype } from "../../host/core/lowered.ts";
import { f16Bytes, q4Bytes, q8Bytes } from "../../host/core/quant.ts";
import { LAYER_KINDS, slimTensorList } from "../../host/core/tensors.ts";
import { archWords } from "../../host/core/slim-format.ts";

/** Per layer: its mode and, for slim layers, W_KV (dim, dim) from tools/convert/slimify.ts; null for vanilla ones. */
export interface LayerChoice {
  modes: AttentionMode[];
  wkv: (Float32Array | null)[];
}

/** The layer choice a slimify result stands for; null (nothing slimified): every layer vanilla. */
export function layerChoice(r: { layers: { mode: AttentionMode }[]; wkv: (Float32Array | null)[] } | null, nLayers: number): LayerChoice {
  return r ? { modes: r.layers.map((l) => l.mode), wkv: r.wkv } : { modes: Array(nLayers).fill("vanilla"), wkv: Array(nLayers).fill(null) };
}

export interface LowerOptions {
  weights: WeightDtype;
  groupSize?: number; // values per scale for q8_0 / q4_0 (default groupSizeFor the model: 32 halved until it divides); ignored for f32 / f16
  /** Called after each tensor: (tensor index, f32 bytes lowered so far, f32 bytes in all). */
  onProgress?: (index: number, done: number, total: number) => void;
}

/** The lowered model for `model` with these layer modes and weight storage. */
export function lowerModel(model: Model, layers: LayerChoice, o: LowerOptions): LoweredModel {
  const c = model.config;
  const { modes, wkv } = layers;
  if (modes.length !== c.nLayers || wkv.length !== c.nLayers) fail("E_MODEL", `lower: ${modes.length} layer modes and ${wkv.length} W_KV for ${c.nLayers} layers.`);
  modes.forEach((m, l) => {
    if (m === "slim" && !isMultiHead(c)) fail("E_MODEL", `lower: layer ${l} is slim, but the model has grouped K/V (${c.nKvHeads} of ${c.nHeads} heads).`);
    if (m === "slim" && !wkv[l]) fail("E_MODEL", `lower: layer ${l} is slim but has no W_KV.`);
  });
  const quantized = o.weights === "q8_0" || o.weights === "q4_0";
  const group = quantized ? (o.groupSize ?? groupSizeFor(c, o.weights)) : 0;
  if (quantized && (!Number.isInteger(group) || group < 2 || group % 2 !== 0 || group > 0xffffffff))
    fail("E_MODEL", `lower: ${o.weights} group size ${group} must be an even whole number ≥ 2.`);
  if (quantized && [c.dim, c.hiddenDim].some((n) => n % group !== 0))
    fail("E_MODEL", `lower: ${o.weights} group size ${group} does not divide dim ${c.dim} and hidden_dim ${c.hiddenDim}.`);

  const w = model.weights;
  const top: Record<string, Float32Array | undefined> = {
    token_embedding: w.tokenEmbedding,
    position_embedding: w.positionEmbedding,
    final_norm: w.finalNorm,
    final_norm_bias: w.finalNormBias,
    classifier: w.classifier,
    classifier_bias: w.classifierBias,
  };
  const kinds = new Map(LAYER_KINDS.map((k) => [k.suffix, k]));
  const biases = archOf(c).biases;
  const specs = slimTensorList(c, modes);
  const total = specs.reduce((n, t) => n + 4 * t.shape.reduce((p, s) => p * s, 1), 0);
  let done = 0;
  const tensors = specs.map((spec, index): LoweredTensor => {
    const m = /^layers\.(\d+)\.(.+)$/.exec(spec.name);
    let values: Float32Array | undefined;
    if (!m) values = top[spec.name];
    else {
      const l = Number(m[1]);
      const field = kinds.get(m[2])!.field;
      const lw = w.layers[l];
      if (field === "wkv") values = wkv[l] ?? undefined;
      else if (field === "bo" && modes[l] === "slim" && biases) values = foldedOutputBias(lw.wo, lw.bo!, lw.bv!, lw.bk!, wkv[l]!, c.dim);
      else values = lw[field];
    }
    const n = spec.shape.reduce((p, s) => p * s, 1);
    if (!values) return fail("E_MODEL", `lower: the model has no ${spec.name} (${spec.shapeText}), which a ${c.arch} model with ${archWords(c)} needs.`);
    if (values.length !== n) fail("E_MODEL", `lower: tensor ${spec.name} has ${values.length} values, but ${spec.shapeText} = ${spec.shape.join("×")} needs ${n}.`);
    const dtype = storedDtype(spec.name, spec.shape, modes, o.weights);
    const q = dtype === "q8_0" || dtype === "q4_0";
    const row = spec.shape[spec.shape.length - 1];
    if (q && row % group !== 0)
      fail("E_MODEL", `lower: tensor ${spec.name} (${spec.shapeText} = ${spec.shape.join("×")}) has rows of ${row} values, which do not split into ${dtype} groups of ${group}.`);
    const bytes = encode(values, dtype, group);
    done += 4 * n;
    o.onProgress?.(index, done, total);
    return { name: spec.name, dtype, shape: spec.shape, layout: "rows", groupSize: q ? group : 0, bytes };
  });
  return { config: c, modes: [...modes], weights: o.weights, groupSize: group, tensors };
}

/** The stored bytes of `values` as `dtype`; f32 is a view of the values, not a copy. */
function encode(values: Float32Array, dtype: WeightDtype, group: number): Uint8Array {
  switch (dtype) {
    case "f32":
      return new Uint8Array(values.buffer, values.byteOffset, values.byteLength);
    case "f16":
      return f16Bytes(values);
    case "q8_0":
      return q8Bytes(values, group);
    case "q4_0":
      return q4Bytes(values, group);
  }
}

/** b_O + W_O·(b_V − W_KV·b_K), all (d,), in float64. */
function foldedOutputBias(wo: Float32Array, bo: Float32Array, bv: Float32Array, bk: Float32Array, wkv: Float32Array, d: number): Float32Array {
  const r = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = bv[i];
    for (let j = 0; j < d; j++) s -= wkv[i * d + j] * bk[j];
    r[i] = s;
  }
  return Float32Array.from({ length: d }, (_, i) => {
    let s = bo[i];
    for (let j = 0; j < d; j++) s += wo[i * d + j] * r[j];
    return s;
  });
}
