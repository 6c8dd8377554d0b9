/**
 * Calibration activations for slimify: a float64 forward pass over a token prompt that records, per
 * layer, what W_K and W_V actually see — the residual stream after the attention RMSNorm. Measuring the
 * slim reconstruction error on these rows (rather than only on random vectors) catches layers whose
 * real inputs lie along W_K's weak directions.
 *
 * Semantics follow llama2.c `forward()` (adjacent-pair RoPE, GQA by head groups, SwiGLU). The test
 * oracle in test/reference.ts is a separate implementation on purpose; tools may not import tests.
 * The same pass also yields the float64 logits, the reference quantize-report measures against.
 */
import { fail, SlimError } from "../../host/core/errors.ts";
import { type Model, type ModelConfig, headDim, isLlamaShaped, kvDim } from "../../host/core/model.ts";
import type { TextTokenizer } from "../../host/core/tokenizers.ts";
import { ropeInverseFrequencies } from "../../host/core/rope.ts";

/** What slimify measures the reconstruction error on when a tokenizer is at hand. */
export const CALIBRATION_PROMPT = "Once upon a time, there was a little girl who liked to play in the park with her dog.";

/** The first 64 ids of a calibration prompt, as the model would see it. */
export function calibrationPrompt(tokenizer: Pick<TextTokenizer, "prompt">, text: string, seqLen: number): number[] {
  return tokenizer.prompt(text).slice(0, Math.min(64, seqLen));
}

/**
 * The one calibration set of a model (ARCHITECTURE.md, "Numerics"): CALIBRATION_PROMPT through the model's
 * own tokenizer when it has one, the calibration pass runs its architecture (Llama-shaped) and the tokenizer
 * can encode the prompt (one without byte fallback may lack its letters); else none — slimify then decides
 * on its seeded random inputs. `convert`, `plan`, `build` and `run` without a prompt all decide on it, so
 * they make the same per-layer decision.
 */
export function calibrationTokens(c: ModelConfig, tokenizer: Pick<TextTokenizer, "prompt"> | null): number[] | undefined {
  if (!tokenizer || !isLlamaShaped(c)) return undefined;
  try {
    return calibrationPrompt(tokenizer, CALIBRATION_PROMPT, c.seqLen);
  } catch (e) {
    if (e instanceof SlimError) return undefined;
    throw e;
  }
}

/** W (d,n) @ x (n,) -> (d,) */
function matvec(w: Float32Array, x: Float64Array, d: number, n: number): Float64Array {
  const out = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let sum = 0;
    const row = i * n;
    for (let j = 0; j < n; j++) sum += w[row + j] * x[j];
    out[i] = sum;
  }
  return out;
}

/** w (n,) ⊙ x (n,) / sqrt(mean(x²) + eps) -> (n,) */
function rmsnorm(x: Float64Array, w: Float32Array, eps: number): Float64Array {
  let ss = 0;
  for (const v of x) ss += v * v;
  const scale = 1 / Math.sqrt(ss / x.length + eps);
  return x.map((v, i) => w[i] * v * scale);
}

/** RoPE in place on vec (n,): adjacent pairs, frequency from the pair's index inside its head (host/core/rope.ts). */
function rope(vec: Float64Array, pos: number, headSize: number, inv: readonly number[]): void {
  for (let i = 0; i < vec.length; i += 2) {
    const angle = pos * inv[(i % headSize) >> 1];
    const [c, s] = [Math.cos(angle), Math.sin(angle)];
    const [v0, v1] = [vec[i], vec[i + 1]];
    vec[i] = v0 * c - v1 * s;
    vec[i + 1] = v0 * s + v1 * c;
  }
}

/**
 * Attention inputs for every layer: result[l] is (tokens.length, dim) row-major, row p being layer l's
 * rmsnorm(x, attnNorm) at position p.
 */
export function attentionInputs(model: Model, tokens: readonly number[]): Float64Array[] {
  return forward(model, tokens, false).inputs;
}

/** The float64 logits at every prompt position: result[p] is (vocab,) after token p. */
export function forwardLogits(model: Model, tokens: readonly number[]): Float64Array[] {
  return forward(model, tokens, true).logits;
}

/** One float64 pass over the prompt: attention inputs per layer, and the logits per position if asked. */
function forward(model: Model, tokens: readonly number[], withLogits: boolean): { inputs: Float64Array[]; logits: Float64Array[] } {
  const c = model.config;
  const w = model.weights;
  const [dim, hs, kvd, n] = [c.dim, headDim(c), kvDim(c), tokens.length];
  const group = c.nHeads / c.nKvHeads;
  const inv = ropeInverseFrequencies(c);
  for (const t of tokens) {
    if (!Number.isInteger(t) || t < 0 || t >= c.vocabSize) {
      fail("E_FLAG", `calibration prompt token ${t} is outside the vocabulary 0..${c.vocabSize - 1}`);
    }
  }

  // residual stream for every position at once: xs[p] (dim,)
  const xs = tokens.map((t) => Float64Array.from(w.tokenEmbedding.subarray(t * dim, (t + 1) * dim)));
  const inputs: Float64Array[] = [];

  for (const L of w.layers) {
    const xb = xs.map((x) => rmsnorm(x, L.attnNorm, c.normEps));
    const rows = new Float64Array(n * dim);
    xb.forEach((r, p) => rows.set(r, p * dim));
    inputs.push(rows);

    const qs = xb.map((r, p) => {
      const v = matvec(L.wq, r, dim, dim);
      rope(v, p, hs, inv);
      return v;
    });
    const ks = xb.map((r, p) => {
      const v = matvec(L.wk, r, kvd, dim);
      rope(v, p, hs, inv);
      return v;
    });
    const vs = xb.map((r) => matvec(L.wv, r, kvd, dim));

    for (let p = 0; p < n; p++) {
      // causal attention for position p over 0..p, per query head
      const att = new Float64Array(dim);
      for (let h = 0; h < c.nHeads; h++) {
        const kv = Math.floor(h / group) * hs;
        const scores = new Float64Array(p + 1);
        for (let t = 0; t <= p; t++) {
          let dot = 0;
          for (let i = 0; i < hs; i++) dot += qs[p][h * hs + i] * ks[t][kv + i];
          scores[t] = dot / Math.sqrt(hs);
        }
        const max = Math.max(...scores);
        const e = scores.map((s) => Math.exp(s - max));
        const sum = e.reduce((a, b) => a + b, 0);
        for (let t = 0; t <= p; t++) {
          for (let i = 0; i < hs; i++) att[h * hs + i] += (e[t] / sum) * vs[t][kv + i];
        }
      }
      const o = matvec(L.wo, att, dim, dim);
      for (let i = 0; i < dim; i++) xs[p][i] += o[i];

      const xf = rmsnorm(xs[p], L.ffnNorm, c.normEps);
      const gate = matvec(L.w1, xf, c.hiddenDim, dim);
      const up = matvec(L.w3!, xf, c.hiddenDim, dim); // Llama-shaped models only, like the decoder
      const hidden = gate.map((g, i) => (g / (1 + Math.exp(-g))) * up[i]);
      const down = matvec(L.w2, hidden, dim, c.hiddenDim);
      for (let i = 0; i < dim; i++) xs[p][i] += down[i];
    }
  }
  const logits = withLogits ? xs.map((x) => matvec(w.classifier, rmsnorm(x, w.finalNorm, c.normEps), c.vocabSize, dim)) : [];
  return { inputs, logits };
}
