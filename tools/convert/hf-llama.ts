/**
 * Hugging Face Llama checkpoints (LlamaForCausalLM: `config.json` + safetensors; SmolLM/SmolLM2 are these)
 * and Qwen2 checkpoints (Qwen2ForCausalLM, Qwen2.5: the same layer with biases on q_proj, k_proj and
 * v_proj) into the canonical Model.
 *
 * Names (transformers' modeling_llama.py): model.embed_tokens, model.layers.N.{input_layernorm,
 * self_attn.{q,k,v,o}_proj, post_attention_layernorm, mlp.{gate,up,down}_proj}, model.norm, lm_head
 * (absent, or ignored, when tie_word_embeddings). nn.Linear weights are already (out, in).
 *
 * RoPE: HF Llama rotates halves (rotate_half pairs dim i with i + headDim/2, frequency index i); our
 * convention pairs adjacent dims (2i, 2i+1) with frequency index i (host/model.ts). Moving row i of each
 * head of W_Q and W_K to 2i, and row i + r/2 to 2i + 1, turns one into the other: q and k are permuted
 * the same way inside each head, so every dot product q·k, hence every attention score, is unchanged.
 * This is the inverse of the permutation transformers' convert_llama_weights_to_hf.py applies to Meta's
 * original (adjacent-pair) checkpoints. W_V, W_O and everything else keep their layout.
 */
import { fail } from "../../host/core/errors.ts";
import type { Model, LayerWeights, ModelConfig } from "../../host/core/model.ts";
import { type Llama3RopeScaling, llama3RopeFactors } from "../../host/core/rope.ts";
import { loadHfCheckpoint, type HfCheckpoint } from "./safetensors.ts";

/**
 * Rows of a per-head projection W (nHeads·headDim, cols), or its bias (cols = 1), from rotate_half order to
 * adjacent pairs over the first `rotaryDims` dims of each head: new row 2i <- old row i, new row 2i + 1 <-
 * old row i + rotaryDims/2; rows past rotaryDims stay where they are.
 */
export function halvesToPairs(w: Float32Array, nHeads: number, headDim: number, rotaryDims: number, cols: number): Float32Array {
  const out = new Float32Array(w.length);
  const half = rotaryDims / 2;
  for (let h = 0; h < nHeads; h++) {
    const base = h * headDim;
    const move = (from: number, to: number) => out.set(w.subarray((base + from) * cols, (base + from + 1) * cols), (base + to) * cols);
    for (let i = 0; i < half; i++) {
      move(i, 2 * i);
      move(i + half, 2 * i + 1);
    }
    for (let i = rotaryDims; i < headDim; i++) move(i, i);
  }
  return out;
}

/**
 * Why Gemma 3 (a Llama relative by its names) is refused, HF folder or GGUF: the first piece its layer needs
 * that the decoder lacks (in the order a token meets it), then the rest; README "Not supported yet: Gemma 3"
 * and ARCHITECTURE.md "Gemma 3 does not fit this path yet" say what each would take.
 */
export const GEMMA3_MISSING =
  "Gemma 3's layer needs pieces the decoder lacks, first its token embedding scaled by √hidden_size under a classifier tied to the unscaled one " +
  "(then head_dim apart from hidden_size / num_attention_heads, RMSNorm on each query and key head, norms after attention and after the FFN, " +
  "GeGLU, and sliding-window layers with their own RoPE base)";
/** Imports a Hugging Face Llama checkpoint folder (MHA or GQA). */
export function importHfLlama(dir: string): Model {
  return hfLlamaFromCheckpoint(loadHfCheckpoint(dir));
}

/** The Model of an opened checkpoint folder (see importHfLlama). */
export function hfLlamaFromCheckpoint(ck: HfCheckpoint): Model {
  ck.refuse("model_type", (v) => v === "llama" || v === "qwen2", 'this importer reads model_type "llama" and "qwen2" (importHfGpt2 and importHfNeox read the others)');
  const qwen2 = ck.config.model_type === "qwen2";
  ck.refuse("hidden_act", (v) => v === "silu", "Llama's MLP is SwiGLU, so hidden_act must be silu");
  const ropeScaling = llama3Scaling(ck);
  ck.refuse("attention_bias", (v) => v === false, "attention projections with biases are not mapped for Llama");
  ck.refuse("mlp_bias", (v) => v === false, "MLP projections with biases are not mapped for Llama (SwiGLU has no up-projection bias)");
  // Qwen2 attends to every earlier position unless use_sliding_window is true (off in every released Qwen2/2.5)
  if (qwen2) ck.refuse("use_sliding_window", (v) => v === false, "sliding-window attention is not implemented");

  const dim = ck.int("hidden_size");
  const nHeads = ck.int("num_attention_heads");
  const nKvHeads = ck.int("num_key_value_heads", nHeads);
  ck.check(dim % nHeads === 0, `hidden_size=${dim} is not divisible by num_attention_heads=${nHeads}, so heads cannot have equal size.`);
  ck.check(nHeads % nKvHeads === 0, `num_attention_heads=${nHeads} is not divisible by num_key_value_heads=${nKvHeads}, so query heads cannot share key/value heads evenly.`);
  const headDim = dim / nHeads;
  ck.check(headDim % 2 === 0, `hidden_size=${dim} and num_attention_heads=${nHeads} give head size ${headDim}, but RoPE needs an even head size.`);
  ck.refuse("head_dim", (v) => v === headDim, `head_dim must equal hidden_size / num_attention_heads = ${headDim}`);
  const shared = ck.bool("tie_word_embeddings", false);

  const config: ModelConfig = {
    arch: "llama",
    dim,
    hiddenDim: ck.int("intermediate_size"),
    nLayers: ck.int("num_hidden_layers"),
    nHeads,
    nKvHeads,
    vocabSize: ck.int("vocab_size"),
    seqLen: ck.int("max_position_embeddings", 2048),
    normEps: ck.positive("rms_norm_eps", 1e-6),
    ropeTheta: ck.positive("rope_theta", 10000),
    sharedClassifier: shared,
  };
  if (ropeScaling) config.ropeFreqFactors = llama3RopeFactors(config.ropeTheta, headDim, ropeScaling);
  ck.checkShape(config, { dim: "hidden_size", hidden_dim: "intermediate_size", n_layers: "num_hidden_layers", n_heads: "num_attention_heads", n_kv_heads: "num_key_value_heads", seq_len: "max_position_embeddings" }, "model.layers.");
  const kv = nKvHeads * headDim;
  const hidden = config.hiddenDim;
  const says = {
    dim: `hidden_size=${dim}`,
    kv: `hidden_size=${dim}, num_attention_heads=${nHeads}, num_key_value_heads=${nKvHeads}`,
    ffn: `hidden_size=${dim}, intermediate_size=${hidden}`,
    vocab: `vocab_size=${config.vocabSize}, hidden_size=${dim}`,
  };

  const tokenEmbedding = ck.tensor("model.embed_tokens.weight", [config.vocabSize, dim], "token embedding", says.vocab);
  const layers: LayerWeights[] = [];
  if (qwen2) config.biases = true;
  for (let l = 0; l < config.nLayers; l++) {
    const p = `model.layers.${l}.`;
    const t = (name: string, shape: number[], role: string, implied: string) => ck.tensor(p + name, shape, `layer ${l} ${role}`, implied);
    // Qwen2's q/k/v biases; the decoder's bias slots also hold b_O, b_1, b_2, which Qwen2 has not: zeros there
    const biases: Partial<LayerWeights> = qwen2
      ? {
          bq: halvesToPairs(t("self_attn.q_proj.bias", [dim], "query bias", says.dim), nHeads, headDim, headDim, 1),
          bk: halvesToPairs(t("self_attn.k_proj.bias", [kv], "key bias", says.kv), nKvHeads, headDim, headDim, 1),
          bv: t("self_attn.v_proj.bias", [kv], "value bias", says.kv),
          bo: new Float32Array(dim),
          b1: new Float32Array(hidden),
          b2: new Float32Array(dim),
        }
      : {};
    layers.push({
      ...biases,
      attnNorm: t("input_layernorm.weight", [dim], "attention RMSNorm", says.dim),
      wq: halvesToPairs(t("self_attn.q_proj.weight", [dim, dim], "query projection", says.dim), nHeads, headDim, headDim, dim),
      wk: halvesToPairs(t("self_attn.k_proj.weight", [kv, dim], "key projection", says.kv), nKvHeads, headDim, headDim, dim),
      wv: t("self_attn.v_proj.weight", [kv, dim], "value projection", says.kv),
      wo: t("self_attn.o_proj.weight", [dim, dim], "attention output projection", says.dim),
      ffnNorm: t("post_attention_layernorm.weight", [dim], "FFN RMSNorm", says.dim),
      w1: t("mlp.gate_proj.weight", [hidden, dim], "gate projection", says.ffn),
      w2: t("mlp.down_proj.weight", [dim, hidden], "down projection", says.ffn),
      w3: t("mlp.up_proj.weight", [hidden, dim], "up projection", says.ffn),
    });
  }
  const finalNorm = ck.tensor("model.norm.weight", [dim], "final RMSNorm", says.dim);
  const classifier = shared ? tokenEmbedding : ck.tensor("lm_head.weight", [config.vocabSize, dim], "classifier (tie_word_embeddings is false)", says.vocab);
  return { config, weights: { tokenEmbedding, layers, finalNorm, classifier } };
}

/**
 * config.json's rope_scaling: null/absent, or Llama 3.x's {"rope_type": "llama3", factor, low_freq_factor,
 * high_freq_factor, original_max_position_embeddings} (older files say "type"); any other type (linear,
 * dynamic, yarn, longrope) is refused, and so is a llama3 entry with a missing or impossible number.
 */
function llama3Scaling(ck: HfCheckpoint): Llama3RopeScaling | null {
  const v = ck.config.rope_scaling;
  if (v === undefined || v === null) return null;
  const where = `${ck.configPath}: field rope_scaling`;
  if (typeof v !== "object" || Array.isArray(v)) return fail("E_FORMAT", `${where} is ${JSON.stringify(v)}, expected an object or null.`);
  const r = v as Record<string, unknown>;
  const type = r.rope_type ?? r.type;
  if (type !== "llama3") return fail("E_MODEL", `${where} is ${JSON.stringify(v)}, which is not supported: RoPE scaling of type ${JSON.stringify(type)} is not implemented (only "llama3").`);
  const num = (k: string): number => {
    const x = r[k];
    if (typeof x !== "number" || !Number.isFinite(x) || x <= 0) return fail("E_FORMAT", `${where}.${k} is ${x === undefined ? "missing" : JSON.stringify(x)}, expected a positive number.`);
    return x;
  };
  const s = { factor: num("factor"), lowFreqFactor: num("low_freq_factor"), highFreqFactor: num("high_freq_factor"), originalMaxPositions: num("original_max_position_embeddings") };
  if (!(s.highFreqFactor > s.lowFreqFactor)) fail("E_FORMAT", `${where}: high_freq_factor ${s.highFreqFactor} must be larger than low_freq_factor ${s.lowFreqFactor}.`);
  return s;
}
