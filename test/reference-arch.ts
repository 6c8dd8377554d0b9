/**
 * Oracles beyond the standard Llama of test/reference.ts, in float64 and written plainly:
 *
 * - referenceHfLlama, referenceHfGpt2, referenceHfNeox run a checkpoint IN ITS OWN LAYOUT: the raw tensors
 *   under their Hugging Face names and the config.json fields, following transformers' modeling_*.py
 *   (rotate_half RoPE, Conv1D weights applied as x @ W, NeoX's per-head fused q/k/v). They never see our
 *   Model, so an importer's transposes and permutations are checked by comparing against them.
 * - referenceCanonical runs OUR Model for every architecture it can describe (host/model.ts): RMSNorm or
 *   LayerNorm, SwiGLU or GELU (exact or tanh), biases, learned positions, parallel residual, and RoPE on
 *   adjacent pairs (2i, 2i+1) over the first rotaryDims dims of each head, pair i turning at
 *   theta^(-2i / rotaryDims) (for full rotary this is test/reference.ts's theta^(-2i / headDim)).
 *
 * Every function returns the logits (vocab,) after each token of `tokens`, recomputing the whole causal
 * sequence (no cache: slow and obviously right).
 */
import { archOf, headDim as headDimOf, kvDim as kvDimOf, type Model } from "../host/core/model.ts";

/** Raw checkpoint tensors by name, as stored (row-major in their stored shape). */
export type HfTensors = ReadonlyMap<string, Float32Array>;
/** config.json fields. */
export type HfConfig = Readonly<Record<string, unknown>>;

type Vec = Float64Array;

// ---------------------------------------------------------------------------------------------
// small helpers

/** W (d, n) @ x (n,) [+ b (d,)] -> (d,), for nn.Linear and our (out, in) matrices. */
function linear(w: ArrayLike<number>, x: Vec, d: number, n: number, b?: ArrayLike<number>): Vec {
  const out = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let sum = 0;
    for (let j = 0; j < n; j++) sum += w[i * n + j] * x[j];
    out[i] = sum + (b ? b[i] : 0);
  }
  return out;
}

/** x (n,) @ W (n, d) + b (d,) -> (d,), for GPT-2's Conv1D, whose weight is stored (in, out). */
function conv1d(w: ArrayLike<number>, b: ArrayLike<number>, x: Vec, n: number, d: number): Vec {
  const out = new Float64Array(d);
  for (let j = 0; j < d; j++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += x[i] * w[i * d + j];
    out[j] = sum + b[j];
  }
  return out;
}

/** w ⊙ x / sqrt(mean(x²) + eps) -> (n,) */
function rmsnorm(x: Vec, w: ArrayLike<number>, eps: number): Vec {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  const scale = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => w[i] * v * scale);
}

/** w ⊙ (x − mean) / sqrt(var + eps) + b -> (n,), with the biased variance as torch.nn.LayerNorm. */
function layernorm(x: Vec, w: ArrayLike<number>, b: ArrayLike<number>, eps: number): Vec {
  let mean = 0;
  for (let i = 0; i < x.length; i++) mean += x[i];
  mean /= x.length;
  let variance = 0;
  for (let i = 0; i < x.length; i++) variance += (x[i] - mean) ** 2;
  variance /= x.length;
  const scale = 1 / Math.sqrt(variance + eps);
  return x.map((v, i) => (v - mean) * scale * w[i] + b[i]);
}

function softmax(x: Vec): Vec {
  const max = Math.max(...x);
  const e = x.map((v) => Math.exp(v - max));
  const sum = e.reduce((a, v) => a + v, 0);
  return e.map((v) => v / sum);
}

/**
 * erf(x) to float64 accuracy: the everywhere-convergent positive series
 * erf(x) = 2/√π · e^(−x²) · Σ 2ⁿ x^(2n+1) / (1·3·…·(2n+1)); |erf| rounds to 1 past |x| = 6.
 */
export function erf(x: number): number {
  const ax = Math.abs(x);
  if (ax >= 6) return Math.sign(x);
  let term = ax;
  let sum = ax;
  for (let n = 1; term > 1e-17 * sum; n++) {
    term *= (2 * ax * ax) / (2 * n + 1);
    sum += term;
  }
  return Math.sign(x) * Math.min(1, (2 / Math.sqrt(Math.PI)) * Math.exp(-ax * ax) * sum);
}

const silu = (x: number): number => x / (1 + Math.exp(-x));
/** Exact GELU, torch's nn.GELU() / transformers' "gelu": x · Φ(x). */
export const gelu = (x: number): number => 0.5 * x * (1 + erf(x / Math.SQRT2));
/** tanh GELU, transformers' "gelu_new" / "gelu_pytorch_tanh". */
export const geluTanh = (x: number): number => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x * x * x)));

const add = (a: Vec, b: Vec): Vec => a.map((v, i) => v + b[i]);

/**
 * Causal multi-head attention over a whole sequence: q[t] (nHeads·hs,), k[t], v[t] (nKvHeads·hs,); query
 * head h reads key/value head floor(h / (nHeads / nKvHeads)); scores scaled by 1/sqrt(hs) -> out[t] (nHeads·hs,).
 */
function attention(q: Vec[], k: Vec[], v: Vec[], nHeads: number, nKvHeads: number, hs: number): Vec[] {
  const group = nHeads / nKvHeads;
  return q.map((qt, t) => {
    const out = new Float64Array(nHeads * hs);
    for (let h = 0; h < nHeads; h++) {
      const kvh = Math.floor(h / group);
      const scores = new Float64Array(t + 1);
      for (let s = 0; s <= t; s++) {
        let dot = 0;
        for (let i = 0; i < hs; i++) dot += qt[h * hs + i] * k[s][kvh * hs + i];
        scores[s] = dot / Math.sqrt(hs);
      }
      const a = softmax(scores);
      for (let s = 0; s <= t; s++) for (let i = 0; i < hs; i++) out[h * hs + i] += a[s] * v[s][kvh * hs + i];
    }
    return out;
  });
}

/**
 * HF rotate_half in place on vec (heads·hs,): pairs (i, i + r/2) of the first r dims of each head, at
 * base^(−2i/r), or at invFreq[i] when given (a scaled RoPE).
 */
function ropeRotateHalf(vec: Vec, hs: number, r: number, pos: number, base: number, invFreq?: readonly number[]): void {
  const half = r / 2;
  for (let h0 = 0; h0 < vec.length; h0 += hs) {
    for (let i = 0; i < half; i++) {
      const angle = invFreq ? pos * invFreq[i] : pos / Math.pow(base, (2 * i) / r); // inv_freq = 1 / base^(arange(0, r, 2) / r)
      const x1 = vec[h0 + i];
      const x2 = vec[h0 + i + half];
      vec[h0 + i] = x1 * Math.cos(angle) - x2 * Math.sin(angle);
      vec[h0 + i + half] = x2 * Math.cos(angle) + x1 * Math.sin(angle);
    }
  }
}

/**
 * inv_freq of a Llama config as modeling_rope_utils computes it: the default 1/base^(2i/r), and for
 * rope_scaling of rope_type "llama3" its three bands by wavelength 2π/inv_freq — longer than
 * original_max_position_embeddings/low_freq_factor: inv_freq/factor; shorter than …/high_freq_factor: as is;
 * in between: (1 − smooth)·inv_freq/factor + smooth·inv_freq, smooth = (original/wavelen − low)/(high − low).
 */
export function hfInvFreq(c: HfConfig, r: number): number[] {
  const base = num(c, "rope_theta", 10000);
  const inv = Array.from({ length: r / 2 }, (_, i) => 1 / Math.pow(base, (2 * i) / r));
  const s = c.rope_scaling as Record<string, number | string> | null | undefined;
  if (!s) return inv;
  if ((s.rope_type ?? s.type) !== "llama3") throw new Error(`oracle: rope_scaling ${JSON.stringify(s)} is not modelled`);
  const [factor, low, high, original] = [s.factor, s.low_freq_factor, s.high_freq_factor, s.original_max_position_embeddings] as number[];
  const lowWavelen = original / low;
  const highWavelen = original / high;
  return inv.map((f) => {
    const wavelen = (2 * Math.PI) / f;
    if (wavelen > lowWavelen) return f / factor;
    if (wavelen < highWavelen) return f;
    const smooth = (original / wavelen - low) / (high - low);
    return (1 - smooth) * (f / factor) + smooth * f;
  });
}

/** Our convention in place on vec (heads·hs,): pairs (2i, 2i + 1) of the first r dims of each head, at base^(−2i/r). */
function ropeAdjacent(vec: Vec, hs: number, r: number, pos: number, base: number, factors?: readonly number[]): void {
  for (let h0 = 0; h0 < vec.length; h0 += hs) {
    for (let i = 0; i < r / 2; i++) {
      const angle = pos / Math.pow(base, (2 * i) / r) / (factors ? factors[i] : 1); // a config's per-pair divisors
      const x0 = vec[h0 + 2 * i];
      const x1 = vec[h0 + 2 * i + 1];
      vec[h0 + 2 * i] = x0 * Math.cos(angle) - x1 * Math.sin(angle);
      vec[h0 + 2 * i + 1] = x0 * Math.sin(angle) + x1 * Math.cos(angle);
    }
  }
}

/** A tensor by name; a missing one is a bug in the test, not a user error. */
function get(t: HfTensors, name: string): Float32Array {
  const v = t.get(name);
  if (!v) throw new Error(`oracle: tensor ${name} is missing`);
  return v;
}

function num(c: HfConfig, field: string, fallback?: number): number {
  const v = c[field] ?? fallback;
  if (typeof v !== "number") throw new Error(`oracle: config field ${field} is missing`);
  return v;
}

/** Rows of an embedding (n, dim) -> row `i` as float64. */
const row = (e: Float32Array, i: number, dim: number): Vec => Float64Array.from(e.subarray(i * dim, (i + 1) * dim));

// ---------------------------------------------------------------------------------------------
// Hugging Face layouts

/** LlamaForCausalLM as modeling_llama.py: RMSNorm, rotate_half RoPE on whole heads (Llama 3.x scaling: hfInvFreq), GQA, SwiGLU, no biases. */
export function referenceHfLlama(c: HfConfig, t: HfTensors, tokens: readonly number[]): Vec[] {
  const dim = num(c, "hidden_size");
  const nHeads = num(c, "num_attention_heads");
  const nKv = num(c, "num_key_value_heads", nHeads);
  const hidden = num(c, "intermediate_size");
  const vocab = num(c, "vocab_size");
  const eps = num(c, "rms_norm_eps");
  const base = num(c, "rope_theta", 10000);
  const hs = dim / nHeads;
  const kvd = nKv * hs;
  const invFreq = hfInvFreq(c, hs);
  let x = tokens.map((tok) => row(get(t, "model.embed_tokens.weight"), tok, dim));
  for (let l = 0; l < num(c, "num_hidden_layers"); l++) {
    const p = (n: string) => get(t, `model.layers.${l}.${n}`);
    const a = x.map((xt) => rmsnorm(xt, p("input_layernorm.weight"), eps));
    const q = a.map((at) => linear(p("self_attn.q_proj.weight"), at, dim, dim));
    const k = a.map((at) => linear(p("self_attn.k_proj.weight"), at, kvd, dim));
    const v = a.map((at) => linear(p("self_attn.v_proj.weight"), at, kvd, dim));
    q.forEach((qt, pos) => ropeRotateHalf(qt, hs, hs, pos, base, invFreq));
    k.forEach((kt, pos) => ropeRotateHalf(kt, hs, hs, pos, base, invFreq));
    const att = attention(q, k, v, nHeads, nKv, hs);
    x = x.map((xt, i) => add(xt, linear(p("self_attn.o_proj.weight"), att[i], dim, dim)));
    x = x.map((xt) => {
      const m = rmsnorm(xt, p("post_attention_layernorm.weight"), eps);
      const gate = linear(p("mlp.gate_proj.weight"), m, hidden, dim);
      const up = linear(p("mlp.up_proj.weight"), m, hidden, dim);
      return add(xt, linear(p("mlp.down_proj.weight"), gate.map((g, i) => silu(g) * up[i]), dim, hidden));
    });
  }
  const head = c.tie_word_embeddings === true ? get(t, "model.embed_tokens.weight") : get(t, "lm_head.weight");
  return x.map((xt) => linear(head, rmsnorm(xt, get(t, "model.norm.weight"), eps), vocab, dim));
}

/**
 * Qwen2ForCausalLM as modeling_qwen2.py (Qwen2, Qwen2.5): Llama's layer with biases on q_proj, k_proj and
 * v_proj (none on o_proj or the MLP), rotate_half RoPE on whole heads, GQA, SwiGLU, lm_head or the tied
 * embedding. Written out on its own rather than as a flag of referenceHfLlama, so neither hides the other.
 */
export function referenceHfQwen2(c: HfConfig, t: HfTensors, tokens: readonly number[]): Vec[] {
  const dim = num(c, "hidden_size");
  const nHeads = num(c, "num_attention_heads");
  const nKv = num(c, "num_key_value_heads", nHeads);
  const hidden = num(c, "intermediate_size");
  const vocab = num(c, "vocab_size");
  const eps = num(c, "rms_norm_eps");
  const base = num(c, "rope_theta", 10000);
  const hs = dim / nHeads;
  const kvd = nKv * hs;
  let x = tokens.map((tok) => row(get(t, "model.embed_tokens.weight"), tok, dim));
  for (let l = 0; l < num(c, "num_hidden_layers"); l++) {
    const p = (n: string) => get(t, `model.layers.${l}.${n}`);
    const a = x.map((xt) => rmsnorm(xt, p("input_layernorm.weight"), eps));
    const q = a.map((at) => linear(p("self_attn.q_proj.weight"), at, dim, dim, p("self_attn.q_proj.bias")));
    const k = a.map((at) => linear(p("self_attn.k_proj.weight"), at, kvd, dim, p("self_attn.k_proj.bias")));
    const v = a.map((at) => linear(p("self_attn.v_proj.weight"), at, kvd, dim, p("self_attn.v_proj.bias")));
    q.forEach((qt, pos) => ropeRotateHalf(qt, hs, hs, pos, base));
    k.forEach((kt, pos) => ropeRotateHalf(kt, hs, hs, pos, base));
    const att = attention(q, k, v, nHeads, nKv, hs);
    x = x.map((xt, i) => add(xt, linear(p("self_attn.o_proj.weight"), att[i], dim, dim)));
    x = x.map((xt) => {
      const m = rmsnorm(xt, p("post_attention_layernorm.weight"), eps);
      const gate = linear(p("mlp.gate_proj.weight"), m, hidden, dim);
      const up = linear(p("mlp.up_proj.weight"), m, hidden, dim);
      return add(xt, linear(p("mlp.down_proj.weight"), gate.map((g, i) => silu(g) * up[i]), dim, hidden));
    });
  }
  const head = c.tie_word_embeddings === true ? get(t, "model.embed_tokens.weight") : get(t, "lm_head.weight");
  return x.map((xt) => linear(head, rmsnorm(xt, get(t, "model.norm.weight"), eps), vocab, dim));
}

/** GPT2LMHeadModel as modeling_gpt2.py: learned positions, pre-LayerNorm, Conv1D (x @ W + b), fused c_attn, tied head. */
export function referenceHfGpt2(c: HfConfig, t: HfTensors, tokens: readonly number[]): Vec[] {
  const dim = num(c, "n_embd");
  const nHeads = num(c, "n_head");
  const inner = num(c, "n_inner", 4 * dim);
  const vocab = num(c, "vocab_size");
  const eps = num(c, "layer_norm_epsilon", 1e-5);
  const act = c.activation_function === "gelu" ? gelu : geluTanh;
  const hs = dim / nHeads;
  let x = tokens.map((tok, pos) => add(row(get(t, "wte.weight"), tok, dim), row(get(t, "wpe.weight"), pos, dim)));
  for (let l = 0; l < num(c, "n_layer"); l++) {
    const p = (n: string) => get(t, `h.${l}.${n}`);
    const qkv = x.map((xt) => conv1d(p("attn.c_attn.weight"), p("attn.c_attn.bias"), layernorm(xt, p("ln_1.weight"), p("ln_1.bias"), eps), dim, 3 * dim));
    const q = qkv.map((v) => v.slice(0, dim)); // split(n_embd, dim=2): q | k | v
    const k = qkv.map((v) => v.slice(dim, 2 * dim));
    const v = qkv.map((v) => v.slice(2 * dim, 3 * dim));
    const att = attention(q, k, v, nHeads, nHeads, hs);
    x = x.map((xt, i) => add(xt, conv1d(p("attn.c_proj.weight"), p("attn.c_proj.bias"), att[i], dim, dim)));
    x = x.map((xt) => {
      const m = layernorm(xt, p("ln_2.weight"), p("ln_2.bias"), eps);
      const h = conv1d(p("mlp.c_fc.weight"), p("mlp.c_fc.bias"), m, dim, inner).map(act);
      return add(xt, conv1d(p("mlp.c_proj.weight"), p("mlp.c_proj.bias"), h, inner, dim));
    });
  }
  return x.map((xt) => linear(get(t, "wte.weight"), layernorm(xt, get(t, "ln_f.weight"), get(t, "ln_f.bias"), eps), vocab, dim));
}

/**
 * GPTNeoXForCausalLM as modeling_gpt_neox.py: query_key_value viewed as (heads, 3·hs) — [q, k, v] per head —
 * rotate_half on the first int(hs · rotary_pct) dims, exact GELU, parallel or sequential residual, untied head.
 */
export function referenceHfNeox(c: HfConfig, t: HfTensors, tokens: readonly number[]): Vec[] {
  const dim = num(c, "hidden_size");
  const nHeads = num(c, "num_attention_heads");
  const inner = num(c, "intermediate_size");
  const vocab = num(c, "vocab_size");
  const eps = num(c, "layer_norm_eps", 1e-5);
  const base = num(c, "rotary_emb_base", 10000);
  const hs = dim / nHeads;
  const r = Math.floor(hs * num(c, "rotary_pct", 0.25));
  const parallel = c.use_parallel_residual !== false;
  const act = c.hidden_act === "gelu_new" ? geluTanh : gelu;
  let x = tokens.map((tok) => row(get(t, "gpt_neox.embed_in.weight"), tok, dim));
  for (let l = 0; l < num(c, "num_hidden_layers"); l++) {
    const p = (n: string) => get(t, `gpt_neox.layers.${l}.${n}`);
    const attn = (xs: Vec[]): Vec[] => {
      const fused = xs.map((xt) => linear(p("attention.query_key_value.weight"), layernorm(xt, p("input_layernorm.weight"), p("input_layernorm.bias"), eps), 3 * dim, dim, p("attention.query_key_value.bias")));
      const pick = (f: Vec, k: number) => {
        const out = new Float64Array(dim);
        for (let h = 0; h < nHeads; h++) out.set(f.subarray((3 * h + k) * hs, (3 * h + k + 1) * hs), h * hs);
        return out;
      };
      const q = fused.map((f) => pick(f, 0));
      const k = fused.map((f) => pick(f, 1));
      const v = fused.map((f) => pick(f, 2));
      q.forEach((qt, pos) => ropeRotateHalf(qt, hs, r, pos, base));
      k.forEach((kt, pos) => ropeRotateHalf(kt, hs, r, pos, base));
      return attention(q, k, v, nHeads, nHeads, hs).map((a) => linear(p("attention.dense.weight"), a, dim, dim, p("attention.dense.bias")));
    };
    const mlp = (xt: Vec): Vec => {
      const m = layernorm(xt, p("post_attention_layernorm.weight"), p("post_attention_layernorm.bias"), eps);
      const h = linear(p("mlp.dense_h_to_4h.weight"), m, inner, dim, p("mlp.dense_h_to_4h.bias")).map(act);
      return linear(p("mlp.dense_4h_to_h.weight"), h, dim, inner, p("mlp.dense_4h_to_h.bias"));
    };
    if (parallel) {
      const a = attn(x);
      x = x.map((xt, i) => add(add(xt, a[i]), mlp(xt))); // x + attn(ln1 x) + mlp(ln2 x)
    } else {
      const a = attn(x);
      x = x.map((xt, i) => add(xt, a[i]));
      x = x.map((xt) => add(xt, mlp(xt)));
    }
  }
  const head = c.tie_word_embeddings === true ? get(t, "gpt_neox.embed_in.weight") : get(t, "embed_out.weight");
  return x.map((xt) => linear(head, layernorm(xt, get(t, "gpt_neox.final_layer_norm.weight"), get(t, "gpt_neox.final_layer_norm.bias"), eps), vocab, dim));
}

/**
 * PhiForCausalLM (Phi-2) as modeling_phi.py: one LayerNorm per layer feeding attention and MLP in parallel,
 * h = x + dense(attn(ln x)) + fc2(gelu_new(fc1(ln x))); q/k/v_proj with biases, rotate_half RoPE on the first
 * int(head_dim · partial_rotary_factor) dims of each head; final_layernorm; lm_head with its bias.
 */
export function referenceHfPhi2(c: HfConfig, t: HfTensors, tokens: readonly number[]): Vec[] {
  const dim = num(c, "hidden_size");
  const nHeads = num(c, "num_attention_heads");
  const inner = num(c, "intermediate_size");
  const vocab = num(c, "vocab_size");
  const eps = num(c, "layer_norm_eps", 1e-5);
  const base = num(c, "rope_theta", 10000);
  const hs = dim / nHeads;
  const r = Math.floor(hs * num(c, "partial_rotary_factor", 0.5));
  if (c.hidden_act !== "gelu_new") throw new Error("oracle: Phi-2's hidden_act is gelu_new");
  let x = tokens.map((tok) => row(get(t, "model.embed_tokens.weight"), tok, dim));
  for (let l = 0; l < num(c, "num_hidden_layers"); l++) {
    const p = (n: string) => get(t, `model.layers.${l}.${n}`);
    const proj = (name: string, v: Vec) => linear(p(`self_attn.${name}.weight`), v, dim, dim, p(`self_attn.${name}.bias`));
    const h = x.map((xt) => layernorm(xt, p("input_layernorm.weight"), p("input_layernorm.bias"), eps));
    const q = h.map((ht) => proj("q_proj", ht));
    const k = h.map((ht) => proj("k_proj", ht));
    const v = h.map((ht) => proj("v_proj", ht));
    q.forEach((qt, pos) => ropeRotateHalf(qt, hs, r, pos, base));
    k.forEach((kt, pos) => ropeRotateHalf(kt, hs, r, pos, base));
    const a = attention(q, k, v, nHeads, nHeads, hs).map((at) => proj("dense", at));
    const m = h.map((ht) => linear(p("mlp.fc2.weight"), linear(p("mlp.fc1.weight"), ht, inner, dim, p("mlp.fc1.bias")).map(geluTanh), dim, inner, p("mlp.fc2.bias")));
    x = x.map((xt, i) => add(add(xt, a[i]), m[i]));
  }
  return x.map((xt) => linear(get(t, "lm_head.weight"), layernorm(xt, get(t, "model.final_layernorm.weight"), get(t, "model.final_layernorm.bias"), eps), vocab, dim, get(t, "lm_head.bias")));
}

// ---------------------------------------------------------------------------------------------
// our Model

/** The canonical Model's forward pass for every architecture host/model.ts describes. */
export function referenceCanonical(model: Model, tokens: readonly number[]): Vec[] {
  const c = model.config;
  const w = model.weights;
  const a = archOf(c);
  const dim = c.dim;
  const hs = headDimOf(c);
  const kvd = kvDimOf(c);
  const norm = (x: Vec, weight: Float32Array, bias: Float32Array | undefined): Vec =>
    a.norm === "rms" ? rmsnorm(x, weight, c.normEps) : layernorm(x, weight, need(bias, "LayerNorm bias"), c.normEps);
  const act = a.activation === "gelu" ? gelu : geluTanh;

  let x = tokens.map((tok, pos) => {
    const e = row(w.tokenEmbedding, tok, dim);
    return a.learnedPositions ? add(e, row(need(w.positionEmbedding, "positionEmbedding"), pos, dim)) : e;
  });
  for (const L of w.layers) {
    const bias = (b: Float32Array | undefined) => (a.biases ? need(b, "projection bias") : undefined);
    const attn = (xs: Vec[]): Vec[] => {
      const h = xs.map((xt) => norm(xt, L.attnNorm, L.attnNormBias));
      const q = h.map((ht) => linear(L.wq, ht, dim, dim, bias(L.bq)));
      const k = h.map((ht) => linear(L.wk, ht, kvd, dim, bias(L.bk)));
      const v = h.map((ht) => linear(L.wv, ht, kvd, dim, bias(L.bv)));
      q.forEach((qt, pos) => ropeAdjacent(qt, hs, a.rotaryDims, pos, c.ropeTheta, c.ropeFreqFactors));
      k.forEach((kt, pos) => ropeAdjacent(kt, hs, a.rotaryDims, pos, c.ropeTheta, c.ropeFreqFactors));
      return attention(q, k, v, c.nHeads, c.nKvHeads, hs).map((o) => linear(L.wo, o, dim, dim, bias(L.bo)));
    };
    const ffn = (xt: Vec): Vec => {
      const m = norm(xt, L.ffnNorm, L.ffnNormBias);
      if (a.activation === "swiglu") {
        const gate = linear(L.w1, m, c.hiddenDim, dim, bias(L.b1));
        const up = linear(need(L.w3, "w3"), m, c.hiddenDim, dim);
        return linear(L.w2, gate.map((g, i) => silu(g) * up[i]), dim, c.hiddenDim, bias(L.b2));
      }
      return linear(L.w2, linear(L.w1, m, c.hiddenDim, dim, bias(L.b1)).map(act), dim, c.hiddenDim, bias(L.b2));
    };
    const att = attn(x);
    if (a.parallelResidual) {
      x = x.map((xt, i) => add(add(xt, att[i]), ffn(xt)));
    } else {
      x = x.map((xt, i) => add(xt, att[i]));
      x = x.map((xt) => add(xt, ffn(xt)));
    }
  }
  return x.map((xt) => linear(w.classifier, norm(xt, w.finalNorm, w.finalNormBias), c.vocabSize, dim, w.classifierBias));
}

function need<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new Error(`oracle: the model has no ${what}`);
  return v;
}
