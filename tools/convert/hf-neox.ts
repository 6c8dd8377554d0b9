/**
 * Hugging Face GPT-NeoX / Pythia checkpoints (GPTNeoXForCausalLM: `config.json` + safetensors) into the
 * canonical Model.
 *
 * Names (transformers' modeling_gpt_neox.py): gpt_neox.embed_in, gpt_neox.layers.N.{input_layernorm,
 * post_attention_layernorm, attention.query_key_value, attention.dense, mlp.dense_h_to_4h,
 * mlp.dense_4h_to_h}, gpt_neox.final_layer_norm, embed_out (untied unless tie_word_embeddings).
 * nn.Linear weights, already (out, in); LayerNorms and every projection carry biases.
 *
 * query_key_value is fused AND interleaved per head: GPTNeoXAttention views its output as
 * (num_heads, 3·head_size), so rows run [head 0: q, k, v][head 1: q, k, v]…, each head_size rows.
 *
 * RoPE: rotate_half over the first rotary_ndims = int(head_size · rotary_pct) dims of each head, pairs
 * (i, i + rotary_ndims/2) at frequency base^(-2i/rotary_ndims); the rest pass through. halvesToPairs moves
 * q and k rows (and biases) to adjacent pairs (2i, 2i+1) over those first rotary_ndims dims, leaving the
 * pass-through rows in place: the canonical convention, with every attention score unchanged.
 */
import type { LayerWeights, Model, ModelConfig } from "../../host/core/model.ts";
import { geluKind } from "./hf-gpt2.ts";
import { halvesToPairs } from "./hf-llama.ts";
import { loadHfCheckpoint, type HfCheckpoint } from "./safetensors.ts";

/** Imports a Hugging Face GPT-NeoX (Pythia) checkpoint folder. */
export function importHfNeox(dir: string): Model {
  return hfNeoxFromCheckpoint(loadHfCheckpoint(dir));
}

/** The Model of an opened checkpoint folder (see importHfNeox). */
export function hfNeoxFromCheckpoint(ck: HfCheckpoint): Model {
  ck.refuse("model_type", (v) => v === "gpt_neox", 'this importer reads model_type "gpt_neox" (importHfLlama and importHfGpt2 read the others)');
  ck.refuse("rope_scaling", () => false, "RoPE scaling (linear, dynamic) is not implemented");
  const activationName = ck.string("hidden_act", "gelu");
  const activation = geluKind(activationName);
  ck.refuse("hidden_act", () => activation !== undefined, "only gelu, gelu_new and gelu_pytorch_tanh are implemented");

  const dim = ck.int("hidden_size");
  const nHeads = ck.int("num_attention_heads");
  ck.check(dim % nHeads === 0, `hidden_size=${dim} is not divisible by num_attention_heads=${nHeads}, so heads cannot have equal size.`);
  const headDim = dim / nHeads;
  // transformers renamed rotary_pct / rotary_emb_base to partial_rotary_factor / rope_theta; either may be saved.
  const pctField = ck.config.rotary_pct !== undefined ? "rotary_pct" : ck.config.partial_rotary_factor !== undefined ? "partial_rotary_factor" : "rotary_pct";
  const pct = ck.positive(pctField, 0.25);
  ck.check(pct <= 1, `field ${pctField} is ${pct}, expected a fraction of the head size in (0, 1].`);
  const rotaryDims = Math.floor(headDim * pct);
  ck.check(rotaryDims % 2 === 0, `${pctField}=${pct} of head size ${headDim} gives ${rotaryDims} rotary dims, but RoPE rotates pairs, so it must be even.`);
  const baseField = ck.config.rotary_emb_base !== undefined ? "rotary_emb_base" : "rope_theta";
  const hasAttnBias = ck.bool("attention_bias", true);
  const shared = ck.bool("tie_word_embeddings", false);

  const config: ModelConfig = {
    arch: "neox",
    dim,
    hiddenDim: ck.int("intermediate_size"),
    nLayers: ck.int("num_hidden_layers"),
    nHeads,
    nKvHeads: nHeads,
    vocabSize: ck.int("vocab_size"),
    seqLen: ck.int("max_position_embeddings", 2048),
    normEps: ck.positive("layer_norm_eps", 1e-5),
    ropeTheta: ck.positive(baseField, 10000),
    sharedClassifier: shared,
    norm: "layer",
    activation,
    rotaryDims,
    learnedPositions: false,
    parallelResidual: ck.bool("use_parallel_residual", true),
    biases: true,
  };
  ck.checkShape(config, { dim: "hidden_size", hidden_dim: "intermediate_size", n_layers: "num_hidden_layers", n_heads: "num_attention_heads", n_kv_heads: "num_attention_heads", seq_len: "max_position_embeddings" }, "gpt_neox.layers.");
  const hidden = config.hiddenDim;
  const says = {
    dim: `hidden_size=${dim}`,
    ffn: `hidden_size=${dim}, intermediate_size=${hidden}`,
    vocab: `vocab_size=${config.vocabSize}, hidden_size=${dim}`,
  };

  const tokenEmbedding = ck.tensor("gpt_neox.embed_in.weight", [config.vocabSize, dim], "token embedding", says.vocab);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const t = (name: string, shape: number[], role: string, implied: string) => ck.tensor(`gpt_neox.layers.${l}.${name}`, shape, `layer ${l} ${role}`, implied);
    // Without attention_bias the fused and output projections have none: zeros are the same function.
    const attnBias = (name: string, n: number, role: string) => (hasAttnBias ? t(name, [n], role, says.dim) : new Float32Array(n));
    const qkv = splitPerHeadQkv(
      t("attention.query_key_value.weight", [3 * dim, dim], "fused q/k/v projection", says.dim),
      attnBias("attention.query_key_value.bias", 3 * dim, "fused q/k/v bias"),
      nHeads,
      headDim,
      dim,
    );
    layers.push({
      attnNorm: t("input_layernorm.weight", [dim], "attention LayerNorm weight", says.dim),
      attnNormBias: t("input_layernorm.bias", [dim], "attention LayerNorm bias", says.dim),
      wq: halvesToPairs(qkv.wq, nHeads, headDim, rotaryDims, dim),
      wk: halvesToPairs(qkv.wk, nHeads, headDim, rotaryDims, dim),
      wv: qkv.wv,
      bq: halvesToPairs(qkv.bq, nHeads, headDim, rotaryDims, 1),
      bk: halvesToPairs(qkv.bk, nHeads, headDim, rotaryDims, 1),
      bv: qkv.bv,
      wo: t("attention.dense.weight", [dim, dim], "attention output projection", says.dim),
      bo: attnBias("attention.dense.bias", dim, "attention output bias"),
      ffnNorm: t("post_attention_layernorm.weight", [dim], "FFN LayerNorm weight", says.dim),
      ffnNormBias: t("post_attention_layernorm.bias", [dim], "FFN LayerNorm bias", says.dim),
      w1: t("mlp.dense_h_to_4h.weight", [hidden, dim], "FFN up projection", says.ffn),
      b1: t("mlp.dense_h_to_4h.bias", [hidden], "FFN up bias", says.ffn),
      w2: t("mlp.dense_4h_to_h.weight", [dim, hidden], "FFN down projection", says.ffn),
      b2: t("mlp.dense_4h_to_h.bias", [dim], "FFN down bias", says.dim),
    });
  }
  const finalNorm = ck.tensor("gpt_neox.final_layer_norm.weight", [dim], "final LayerNorm weight", says.dim);
  const finalNormBias = ck.tensor("gpt_neox.final_layer_norm.bias", [dim], "final LayerNorm bias", says.dim);
  const classifier = shared ? tokenEmbedding : ck.tensor("embed_out.weight", [config.vocabSize, dim], "classifier (tie_word_embeddings is false)", says.vocab);
  return { config, weights: { tokenEmbedding, layers, finalNorm, finalNormBias, classifier } };
}

/** Fused (3·dim, dim) weight and (3·dim,) bias, rows [head h: q, k, v]…, into per-kind (dim, dim) and (dim,). */
function splitPerHeadQkv(w: Float32Array, b: Float32Array, nHeads: number, headDim: number, dim: number) {
  const wq = new Float32Array(dim * dim);
  const wk = new Float32Array(dim * dim);
  const wv = new Float32Array(dim * dim);
  const bq = new Float32Array(dim);
  const bk = new Float32Array(dim);
  const bv = new Float32Array(dim);
  const parts = [
    [wq, bq],
    [wk, bk],
    [wv, bv],
  ] as const;
  for (let h = 0; h < nHeads; h++) {
    parts.forEach(([pw, pb], k) => {
      const from = (3 * h + k) * headDim; // first fused row of this head's q, k or v
      pw.set(w.subarray(from * dim, (from + headDim) * dim), h * headDim * dim);
      pb.set(b.subarray(from, from + headDim), h * headDim);
    });
  }
  return { wq, wk, wv, bq, bk, bv };
}
