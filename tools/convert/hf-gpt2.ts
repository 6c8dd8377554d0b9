/**
 * Hugging Face GPT-2 checkpoints (GPT2LMHeadModel: `config.json` + safetensors) into the canonical Model.
 *
 * Names (transformers' modeling_gpt2.py), with or without a "transformer." prefix: wte, wpe,
 * h.N.{ln_1, attn.c_attn, attn.c_proj, ln_2, mlp.c_fc, mlp.c_proj}, ln_f; the classifier is wte (tied).
 *
 * GPT-2's projections are Conv1D modules, whose weight is stored (in, out) and applied as x @ W + b:
 * every one is transposed to our (out, in). c_attn fuses q, k and v along its out dim, in that order,
 * each `n_embd` wide and split into heads contiguously. No RoPE: positions are the learned wpe table.
 */
import type { LayerWeights, Model, ModelConfig } from "../../host/core/model.ts";
import { loadHfCheckpoint, type HfCheckpoint } from "./safetensors.ts";

/** A Conv1D weight (rows, cols) stored row-major, as its transpose (cols, rows). */
export function transpose(w: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) out[c * rows + r] = w[r * cols + c];
  return out;
}

/** GELU variants transformers names in `activation_function` / `hidden_act`, by our activation name. */
export function geluKind(name: string): "gelu" | "gelu_tanh" | undefined {
  if (name === "gelu") return "gelu";
  if (name === "gelu_new" || name === "gelu_pytorch_tanh") return "gelu_tanh";
  return undefined;
}

/** Imports a Hugging Face GPT-2 checkpoint folder. */
export function importHfGpt2(dir: string): Model {
  return hfGpt2FromCheckpoint(loadHfCheckpoint(dir));
}

/** The Model of an opened checkpoint folder (see importHfGpt2). */
export function hfGpt2FromCheckpoint(ck: HfCheckpoint): Model {
  ck.refuse("model_type", (v) => v === "gpt2", 'this importer reads model_type "gpt2" (importHfLlama and importHfNeox read the others)');
  ck.refuse("scale_attn_weights", (v) => v === true, "attention scores are always scaled by 1/sqrt(head size) here");
  ck.refuse("scale_attn_by_inverse_layer_idx", (v) => v === false, "scores scaled by 1/(layer index + 1) are not implemented");
  ck.refuse("add_cross_attention", (v) => v === false, "cross-attention belongs to encoder-decoder models");
  const activationName = ck.string("activation_function", "gelu_new");
  const activation = geluKind(activationName);
  ck.refuse("activation_function", () => activation !== undefined, "only gelu, gelu_new and gelu_pytorch_tanh are implemented");

  const dim = ck.int("n_embd");
  const nHeads = ck.int("n_head");
  ck.check(dim % nHeads === 0, `n_embd=${dim} is not divisible by n_head=${nHeads}, so heads cannot have equal size.`);
  const hidden = ck.int("n_inner", 4 * dim);
  const p = ck.has("transformer.wte.weight") ? "transformer." : "";
  const shared = !(ck.bool("tie_word_embeddings", true) === false && ck.has("lm_head.weight"));

  const config: ModelConfig = {
    arch: "gpt2",
    dim,
    hiddenDim: hidden,
    nLayers: ck.int("n_layer"),
    nHeads,
    nKvHeads: nHeads,
    vocabSize: ck.int("vocab_size"),
    seqLen: ck.int("n_positions", 1024),
    normEps: ck.positive("layer_norm_epsilon", 1e-5),
    ropeTheta: 10000, // unused: rotaryDims is 0
    sharedClassifier: shared,
    norm: "layer",
    activation,
    rotaryDims: 0,
    learnedPositions: true,
    parallelResidual: false,
    biases: true,
  };
  ck.checkShape(config, { dim: "n_embd", hidden_dim: "n_inner", n_layers: "n_layer", n_heads: "n_head", n_kv_heads: "n_head", seq_len: "n_positions" }, `${p}h.`);
  const says = {
    dim: `n_embd=${dim}`,
    ffn: `n_embd=${dim}, n_inner=${hidden}`,
    vocab: `vocab_size=${config.vocabSize}, n_embd=${dim}`,
    pos: `n_positions=${config.seqLen}, n_embd=${dim}`,
  };

  const tokenEmbedding = ck.tensor(`${p}wte.weight`, [config.vocabSize, dim], "token embedding", says.vocab);
  const positionEmbedding = ck.tensor(`${p}wpe.weight`, [config.seqLen, dim], "position embedding", says.pos);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const t = (name: string, shape: number[], role: string, implied: string) => ck.tensor(`${p}h.${l}.${name}`, shape, `layer ${l} ${role}`, implied);
    const qkv = transpose(t("attn.c_attn.weight", [dim, 3 * dim], "fused q/k/v projection", says.dim), dim, 3 * dim); // (3·dim, dim)
    const qkvBias = t("attn.c_attn.bias", [3 * dim], "fused q/k/v bias", says.dim);
    const part = (a: Float32Array, k: number, width: number) => a.slice(k * width, (k + 1) * width);
    layers.push({
      attnNorm: t("ln_1.weight", [dim], "attention LayerNorm weight", says.dim),
      attnNormBias: t("ln_1.bias", [dim], "attention LayerNorm bias", says.dim),
      wq: part(qkv, 0, dim * dim),
      wk: part(qkv, 1, dim * dim),
      wv: part(qkv, 2, dim * dim),
      bq: part(qkvBias, 0, dim),
      bk: part(qkvBias, 1, dim),
      bv: part(qkvBias, 2, dim),
      wo: transpose(t("attn.c_proj.weight", [dim, dim], "attention output projection", says.dim), dim, dim),
      bo: t("attn.c_proj.bias", [dim], "attention output bias", says.dim),
      ffnNorm: t("ln_2.weight", [dim], "FFN LayerNorm weight", says.dim),
      ffnNormBias: t("ln_2.bias", [dim], "FFN LayerNorm bias", says.dim),
      w1: transpose(t("mlp.c_fc.weight", [dim, hidden], "FFN up projection", says.ffn), dim, hidden),
      b1: t("mlp.c_fc.bias", [hidden], "FFN up bias", says.ffn),
      w2: transpose(t("mlp.c_proj.weight", [hidden, dim], "FFN down projection", says.ffn), hidden, dim),
      b2: t("mlp.c_proj.bias", [dim], "FFN down bias", says.dim),
    });
  }
  const finalNorm = ck.tensor(`${p}ln_f.weight`, [dim], "final LayerNorm weight", says.dim);
  const finalNormBias = ck.tensor(`${p}ln_f.bias`, [dim], "final LayerNorm bias", says.dim);
  const classifier = shared ? tokenEmbedding : ck.tensor("lm_head.weight", [config.vocabSize, dim], "classifier", says.vocab);
  return { config, weights: { tokenEmbedding, positionEmbedding, layers, finalNorm, finalNormBias, classifier } };
}
