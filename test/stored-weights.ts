/**
 * The weights a lowered model holds, read back from its bytes for the float64 oracle (test/reference.ts):
 * q8_0 and q4_0 are decoded here from the container's description (host/core/slim-format.ts), not by
 * host/core/quant.ts, so an oracle run on them checks the decoder against what it was handed.
 */
import type { LoweredModel } from "../host/core/lowered.ts";
import type { Model } from "../host/core/model.ts";

/**
 * Q4_0 bytes as the format states them: per group of g values, g/2 bytes, byte j holding value j (low nibble)
 * and value j + g/2 (high nibble) as q + 8; then the f32 scales, row by row.
 */
export function unpackQ4(bytes: Uint8Array, rows: number, cols: number, group: number): { values: Int8Array; scales: Float32Array } {
  const n = rows * cols;
  const values = new Int8Array(n);
  for (let g = 0; g < n / group; g++)
    for (let j = 0; j < group; j++) {
      const byte = bytes[g * (group / 2) + (j % (group / 2))];
      values[g * group + j] = (j < group / 2 ? byte & 15 : byte >> 4) - 8;
    }
  const scales = new Float32Array(bytes.slice(n / 2, n / 2 + (n / group) * 4).buffer);
  return { values, scales };
}

/** The f32 values of one lowered tensor: f32 as stored, q8_0 / q4_0 as q · scale of the group (an f32 product). */
export function storedValues(t: LoweredModel["tensors"][number]): Float32Array {
  const n = t.shape.reduce((p, s) => p * s, 1);
  if (t.dtype === "f32") return new Float32Array(t.bytes.slice(0, 4 * n).buffer);
  const g = t.groupSize;
  const cols = t.shape[t.shape.length - 1];
  const { values, scales } =
    t.dtype === "q4_0"
      ? unpackQ4(t.bytes, n / cols, cols, g)
      : t.dtype === "q8_0"
        ? { values: new Int8Array(t.bytes.slice(0, n).buffer), scales: new Float32Array(t.bytes.slice(n, n + (n / g) * 4).buffer) }
        : (() => {
            throw new Error(`stored-weights: ${t.dtype} is not decoded here`);
          })();
  return Float32Array.from(values, (v, i) => Math.fround(v * scales[Math.floor(i / g)]));
}

/**
 * `model` with every matrix of a vanilla llama lowered model replaced by the values its bytes hold (norms
 * stay as they are: they are f32 in both).
 */
export function storedModel(model: Model, lowered: LoweredModel): Model {
  if (lowered.modes.some((m) => m !== "vanilla")) throw new Error("stored-weights: vanilla layers only (slim layers hold W_KV in place of W_V)");
  const byName = new Map(lowered.tensors.map((t) => [t.name, t]));
  const get = (name: string) => storedValues(byName.get(name) ?? (() => { throw new Error(`stored-weights: no tensor ${name}`); })());
  const tokenEmbedding = get("token_embedding");
  return {
    ...model,
    weights: {
      ...model.weights,
      tokenEmbedding,
      classifier: byName.has("classifier") ? get("classifier") : tokenEmbedding,
      layers: model.weights.layers.map((L, l) => ({
        ...L,
        ...Object.fromEntries((["wq", "wk", "wv", "wo", "w1", "w2", "w3"] as const).map((k) => [k, get(`layers.${l}.${k}`)])),
      })),
    },
  };
}
