/**
 * The tensors a model has, by name and shape, for its config and per-layer attention modes: the set a
 * .slim file stores (host/core/slim-format.ts), the lowering produces (tools/convert/lower.ts) and the
 * plan places (host/core/plan.ts).
 */
import { type LayerWeights, type ModelConfig, kvDim } from "./model.ts";
import type { AttentionMode } from "./plan.ts";
import { SLIM_TOP_TENSORS_COUNT } from "./abi.generated.ts";

/** One expected tensor: its name, shape and the shape in words for messages. */
export interface TensorSpec {
  name: string;
  shape: number[];
  shapeText: string; // e.g. "kvDim × dim"
  slot: number; // 0..5 top-level, 6 + 18·layer + kind index (test/assembly/container.ts numbers them the same way)
}

interface Dims {
  dim: number;
  hidden: number;
  kv: number;
  vocab: number;
  seq: number;
}
type Present = (c: Required<Pick<ModelConfig, "norm" | "activation" | "learnedPositions" | "biases" | "sharedClassifier">>, mode: AttentionMode) => boolean;
interface Kind {
  suffix: string;
  field: keyof LayerWeights | "wkv";
  shape: (d: Dims) => number[];
  text: string;
  present: Present;
}

const always: Present = () => true;
const layerNorm: Present = (a) => a.norm === "layer";
const withBiases: Present = (a) => a.biases;

/** Per-layer tensors in file order; the index is the kind number of the slot. */
export const LAYER_KINDS: readonly Kind[] = [
  { suffix: "attn_norm", field: "attnNorm", shape: (d) => [d.dim], text: "dim", present: always },
  { suffix: "attn_norm_bias", field: "attnNormBias", shape: (d) => [d.dim], text: "dim", present: layerNorm },
  { suffix: "wq", field: "wq", shape: (d) => [d.dim, d.dim], text: "dim × dim", present: always },
  { suffix: "bq", field: "bq", shape: (d) => [d.dim], text: "dim", present: withBiases },
  { suffix: "wk", field: "wk", shape: (d) => [d.kv, d.dim], text: "kvDim × dim", present: always },
  { suffix: "bk", field: "bk", shape: (d) => [d.kv], text: "kvDim", present: withBiases },
  { suffix: "wv", field: "wv", shape: (d) => [d.kv, d.dim], text: "kvDim × dim", present: (_, m) => m === "vanilla" },
  { suffix: "wkv", field: "wkv", shape: (d) => [d.dim, d.dim], text: "dim × dim", present: (_, m) => m === "slim" },
  { suffix: "bv", field: "bv", shape: (d) => [d.kv], text: "kvDim", present: (a, m) => a.biases && m === "vanilla" }, // slim: folded into bo
  { suffix: "wo", field: "wo", shape: (d) => [d.dim, d.dim], text: "dim × dim", present: always },
  { suffix: "bo", field: "bo", shape: (d) => [d.dim], text: "dim", present: withBiases },
  { suffix: "ffn_norm", field: "ffnNorm", shape: (d) => [d.dim], text: "dim", present: always },
  { suffix: "ffn_norm_bias", field: "ffnNormBias", shape: (d) => [d.dim], text: "dim", present: layerNorm },
  { suffix: "w1", field: "w1", shape: (d) => [d.hidden, d.dim], text: "hidden_dim × dim", present: always },
  { suffix: "b1", field: "b1", shape: (d) => [d.hidden], text: "hidden_dim", present: withBiases },
  { suffix: "w2", field: "w2", shape: (d) => [d.dim, d.hidden], text: "dim × hidden_dim", present: always },
  { suffix: "b2", field: "b2", shape: (d) => [d.dim], text: "dim", present: withBiases },
  { suffix: "w3", field: "w3", shape: (d) => [d.hidden, d.dim], text: "hidden_dim × dim", present: (a) => a.activation === "swiglu" },
];
export const TOP_SLOTS = SLIM_TOP_TENSORS_COUNT;

/** Every tensor a model with this config and these layer modes stores, in file order. */
export function slimTensorList(c: ModelConfig, modes: readonly AttentionMode[]): TensorSpec[] {
  const a = {
    norm: c.norm ?? "rms",
    activation: c.activation ?? "swiglu",
    learnedPositions: c.learnedPositions ?? false,
    biases: c.biases ?? false,
    sharedClassifier: c.sharedClassifier,
  };
  const d: Dims = { dim: c.dim, hidden: c.hiddenDim, kv: kvDim(c), vocab: c.vocabSize, seq: c.seqLen };
  const list: TensorSpec[] = [{ name: "token_embedding", shape: [d.vocab, d.dim], shapeText: "vocab_size × dim", slot: 0 }];
  if (a.learnedPositions) list.push({ name: "position_embedding", shape: [d.seq, d.dim], shapeText: "seq_len × dim", slot: 1 });
  modes.forEach((mode, l) => {
    LAYER_KINDS.forEach((k, i) => {
      if (k.present(a, mode)) list.push({ name: `layers.${l}.${k.suffix}`, shape: k.shape(d), shapeText: k.text, slot: TOP_SLOTS + LAYER_KINDS.length * l + i });
    });
  });
  list.push({ name: "final_norm", shape: [d.dim], shapeText: "dim", slot: 2 });
  if (a.norm === "layer") list.push({ name: "final_norm_bias", shape: [d.dim], shapeText: "dim", slot: 3 });
  if (!a.sharedClassifier) list.push({ name: "classifier", shape: [d.vocab, d.dim], shapeText: "vocab_size × dim", slot: 4 });
  if (c.classifierBias) list.push({ name: "classifier_bias", shape: [d.vocab], shapeText: "vocab_size", slot: 5 });
  return list;
}

