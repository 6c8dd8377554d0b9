/**
 * The lowered model: every tensor the decoder's weight region holds, as the exact bytes it holds them
 * (ARCHITECTURE.md, "Data path"). tools/convert/lower.ts makes one from the canonical f32 Model — the only
 * place where weights are quantized and slim layers' output biases folded; a .slim file stores it
 * (host/core/slim-read.ts hands its bytes back without touching them); the runtime and the packager copy
 * each tensor's bytes into its planned span (host/runtime/decoder.ts writeWeights).
 *
 * Which tensors and shapes: tensorList (host/core/tensors.ts) for the config and the layer modes. Which
 * dtype each has: storedDtype below, the same rule host/core/plan.ts sizes the spans with.
 */
import type { ModelConfig } from "./model.ts";
import type { AttentionMode, PlanOptions, WeightDtype } from "./plan.ts";

/**
 * How a tensor's values are ordered in its bytes. "rows": row-major (out × in), and for q8_0 / q4_0 the
 * groups of `groupSize` values run along each row, all values first and then all scales (host/core/quant.ts
 * q8Bytes, q4Bytes). Another layout (e.g. rows interleaved for streaming) is a new value here, which the
 * plan and the decoder then have to know.
 */
export type TensorLayout = "rows";

export interface LoweredTensor {
  name: string; // the .slim tensor name, e.g. "layers.3.wq"
  dtype: WeightDtype;
  shape: number[]; // outermost first
  layout: TensorLayout;
  groupSize: number; // values per scale for q8_0 / q4_0; 0 for f32 and f16
  bytes: Uint8Array; // exactly what the tensor's span in the arena holds
}

export interface LoweredModel {
  config: ModelConfig;
  modes: AttentionMode[]; // per layer; slim layers hold W_KV in place of W_V and their folded b_O
  weights: WeightDtype; // the storage of every matrix that storedDtype does not keep f32 (the plan's `weights`)
  groupSize: number; // values per scale of the q8_0 / q4_0 matrices; 0 for f32 and f16
  tensors: LoweredTensor[]; // in tensorList order
}

/**
 * The dtype a tensor is lowered to under weight storage `weights`. Vectors (norms, biases) and W_KV are
 * always f32; so are the position embedding and slim layers' W_K (host/core/plan.ts keeps them f32: a
 * quantization error in W_K reaches V amplified by about cond(W_K)). Every other matrix is in `weights`.
 */
export function storedDtype(name: string, shape: readonly number[], modes: readonly AttentionMode[], weights: WeightDtype): WeightDtype {
  if (shape.length !== 2 || name.endsWith(".wkv") || name === "position_embedding") return "f32";
  const m = /^layers\.(\d+)\.wk$/.exec(name);
  return m && modes[Number(m[1])] === "slim" ? "f32" : weights;
}

/** The plan options that place a lowered model's tensors (weights dtype and group size). */
export function planOptionsFor(l: LoweredModel): PlanOptions {
  return l.groupSize > 0 ? { weights: l.weights, groupSize: l.groupSize } : { weights: l.weights };
}
