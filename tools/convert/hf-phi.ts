/**
 * Hugging Face Phi checkpoints (PhiForCausalLM, model_type "phi": Phi-1, Phi-1.5, Phi-2; `config.json` +
 * safetensors) into the canonical Model.
 *
 * Names (transformers' modeling_phi.py): model.embed_tokens, model.layers.N.{input_layernorm,
 * self_attn.{q,k,v}_proj, self_attn.dense, mlp.fc1, mlp.fc2}, model.final_layernorm, lm_head. nn.Linear
 * weights, already (out, in); every projection, both LayerNorms and lm_head carry biases.
 *
 * The layer is parallel with ONE LayerNorm: h = x + attn(ln(x)) + mlp(ln(x)). That is the NeoX layer
 * (parallel residual) with the FFN norm equal to the attention norm, so the importer hands the same
 * weight and bias to both (the decoder normalises x twice; each copy costs dim f32 per layer).
 *
 * RoPE: rotate_half over the first rotary_ndims = int(head_dim · partial_rotary_factor) dims of each head
 * (Phi-2: 32 of 80), the rest passing through, as NeoX; halvesToPairs moves the q and k rows and biases to
 * adjacent pairs. The MLP is fc2(gelu_new(fc1 x)): gelu_new is GELU in its tanh form.
 *
 * lm_head has a bias (vocab,), added to the logits: the config field classifierBias.
 */
import type { LayerWeights, Model, ModelConfig } from "../../host/core/model.ts";
import { geluKind } from "./hf-gpt2.ts";
import { halvesToPairs } from "./hf-llama.ts";
import { loadHfCheckpoint, type HfCheckpoint } from "./safetensors.ts";

/** Imports a Hugging Face Phi (Phi-2) checkpoint folder. */
export function importHfPhi(dir: string): Model {
  return hfPhiFromCheckpoint(loadHfCheckpoint(dir));
}

/** The Model of an opened checkpoint folder (see importHfPhi). */
export function hfPhiFromCheckpoint(ck: HfCheckpoint): Model {
  ck.refuse("model_type", (v) => v === "phi", 'this importer reads model_type "phi" (the others have their own importers)');
  ck.refuse("rope_scaling", () => false, "RoPE scaling (linear, dynamic) is not implemented");
  ck.refuse("qk_layernorm", (v) => v === false, "a LayerNorm on queries and keys (qk_layernorm) is not implemented");
  const activationName = ck.string("hidden_act", "gelu_new");
  const activation = geluKind(activationName);
  ck.refuse("hidden_act", () => activation !== undefined, "only gelu, gelu_new and gelu_pytorch_tanh are implemented");

  const dim = ck.int("hidden_size");
  const nHeads = ck.int("num_attention_heads");
  ck.check(dim % nHeads === 0, `hidden_size=${dim} is not divisible by num_attention_heads=${nHeads}, so heads cannot have equal size.`);
  // Phi-2 saves num_key_value_heads as null: every head has its own keys and values
  ck.refuse("num_key_value_heads", (v) => v === nHeads, `grouped key/value heads are not mapped for Phi; expected null or num_attention_heads=${nHeads}`);
  const headDim = dim / nHeads;
  const pct = ck.positive("partial_rotary_factor", 0.5);
  ck.check(pct <= 1, `field partial_rotary_factor is ${pct}, expected a fraction of the head size in (0, 1].`);
  const rotaryDims = Math.floor(headDim * pct);
  ck.check(rotaryDims % 2 === 0, `partial_rotary_factor=${pct} of head size ${headDim} gives ${rotaryDims} rotary dims, but RoPE rotates pairs, so it must be even.`);
  ck.refuse("tie_word_embeddings", (v) => v === false, "a tied lm_head would drop its bias; only Phi's own untied lm_head is mapped");

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
    ropeTheta: ck.positive("rope_theta", 10000),
    sharedClassifier: false,
    norm: "layer",
    activation,
    rotaryDims,
    learnedPositions: false,
    parallelResidual: true,
    biases: true,
    classifierBias: true,
  };
  ck.checkShape(config, { dim: "hidden_size", hidden_dim: "intermediate_size", n_layers: "num_hidden_layers", n_heads: "num_attention_heads", n_kv_heads: "num_attention_heads", seq_len: "max_position_embeddings" }, "model.layers.");
  const hidden = config.hiddenDim;
  const says = {
    dim: `hidden_size=${dim}`,
    ffn: `hidden_size=${dim}, intermediate_size=${hidden}`,
    vocab: `vocab_size=${config.vocabSize}, hidden_size=${dim}`,
  };

  const tokenEmbedding = ck.tensor("model.embed_tokens.weight", [config.vocabSize, dim], "token embedding", says.vocab);
  const layers: LayerWeights[] = [];
  for (let l = 0; l < config.nLayers; l++) {
    const t = (name: string, shape: number[], role: string, implied: string) => ck.tensor(`model.layers.${l}.${name}`, shape, `layer ${l} ${role}`, implied);
    const pairs = (w: Float32Array, cols: number) => halvesToPairs(w, nHeads, headDim, rotaryDims, cols);
    const norm = t("input_layernorm.weight", [dim], "LayerNorm weight", says.dim);
    const normBias = t("input_layernorm.bias", [dim], "LayerNorm bias", says.dim);
    layers.push({
      attnNorm: norm,
      attnNormBias: normBias,
      wq: pairs(t("self_attn.q_proj.weight", [dim, dim], "query projection", says.dim), dim),
      bq: pairs(t("self_attn.q_proj.bias", [dim], "query bias", says.dim), 1),
      wk: pairs(t("self_attn.k_proj.weight", [dim, dim], "key projection", says.dim), dim),
      bk: pairs(t("self_attn.k_proj.bias", [dim], "key bias", says.dim), 1),
      wv: t("self_attn.v_proj.weight", [dim, dim], "value projection", says.dim),
      bv: t("self_attn.v_proj.bias", [dim], "value bias", says.dim),
      wo: t("self_attn.dense.weight", [dim, dim], "attention output projection", says.dim),
      bo: t("self_attn.dense.bias", [dim], "attention output bias", says.dim),
      // one LayerNorm feeds attention and MLP alike
      ffnNorm: norm,
      ffnNormBias: normBias,
      w1: t("mlp.fc1.weight", [hidden, dim], "FFN up projection (fc1)", says.ffn),
      b1: t("mlp.fc1.bias", [hidden], "FFN up bias", says.ffn),
      w2: t("mlp.fc2.weight", [dim, hidden], "FFN down projection (fc2)", says.ffn),
      b2: t("mlp.fc2.bias", [dim], "FFN down bias", says.dim),
    });
  }
  const finalNorm = ck.tensor("model.final_layernorm.weight", [dim], "final LayerNorm weight", says.dim);
  const finalNormBias = ck.tensor("model.final_layernorm.bias", [dim], "final LayerNorm bias", says.dim);
  const classifier = ck.tensor("lm_head.weight", [config.vocabSize, dim], "classifier (lm_head)", says.vocab);
  const classifierBias = ck.tensor("lm_head.bias", [config.vocabSize], "classifier bias (lm_head)", says.vocab);
  return { config, weights: { tokenEmbedding, layers, finalNorm, finalNormBias, classifier, classifierBias } };
}
