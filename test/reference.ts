/**
 * The oracle: the standard Llama transformer in float64, written as plainly as llama2.c's `forward()`.
 * No slim attention, no quantization, no buffer reuse: every other implementation in the project is
 * checked against this file, so it favours being obviously right over being fast.
 *
 * Weights are converted once from the model's Float32Array values to Float64Array (exactly, since every
 * f32 is an f64), and every intermediate value stays in float64.
 */
import { type Model, headDim, kvDim } from "../host/core/model.ts";

/** W (d,n) @ x (n,) -> (d,) */
function matmul(w: Float64Array, x: Float64Array, d: number, n: number): Float64Array {
  const out = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let sum = 0;
    for (let j = 0; j < n; j++) sum += w[i * n + j] * x[j];
    out[i] = sum;
  }
  return out;
}

/** w (n,) ⊙ x (n,) / sqrt(mean(x²) + eps) -> (n,) */
function rmsnorm(x: Float64Array, w: Float64Array, eps: number): Float64Array {
  let ss = 0;
  for (let i = 0; i < x.length; i++) ss += x[i] * x[i];
  const scale = 1 / Math.sqrt(ss / x.length + eps);
  const out = new Float64Array(x.length);
  for (let i = 0; i < x.length; i++) out[i] = w[i] * x[i] * scale;
  return out;
}

/** softmax over x (n,), shifted by the max so exp cannot overflow -> (n,) */
function softmax(x: Float64Array): Float64Array {
  let max = -Infinity;
  for (let i = 0; i < x.length; i++) max = Math.max(max, x[i]);
  const out = new Float64Array(x.length);
  let sum = 0;
  for (let i = 0; i < x.length; i++) {
    out[i] = Math.exp(x[i] - max);
    sum += out[i];
  }
  for (let i = 0; i < x.length; i++) out[i] /= sum;
  return out;
}

const silu = (x: number): number => x / (1 + Math.exp(-x));

/**
 * Rotary embedding in place on vec (n,), llama2.c layout: adjacent pairs (i, i+1), frequency set by the
 * pair's index inside its head. HF checkpoints pair (i, i + headSize/2) instead; importers permute W_Q
 * and W_K so that this layout applies.
 */
function rope(vec: Float64Array, pos: number, headSize: number, theta: number): void {
  for (let i = 0; i < vec.length; i += 2) {
    const freq = 1 / Math.pow(theta, (i % headSize) / headSize);
    const angle = pos * freq;
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    const v0 = vec[i];
    const v1 = vec[i + 1];
    vec[i] = v0 * cos - v1 * sin;
    vec[i + 1] = v0 * sin + v1 * cos;
  }
}

interface Layer64 {
  attnNorm: Float64Array; // (dim,)
  wq: Float64Array; // (dim, dim)
  wk: Float64Array; // (kvDim, dim)
  wv: Float64Array; // (kvDim, dim)
  wo: Float64Array; // (dim, dim)
  ffnNorm: Float64Array; // (dim,)
  w1: Float64Array; // (hiddenDim, dim)
  w2: Float64Array; // (dim, hiddenDim)
  w3: Float64Array; // (hiddenDim, dim)
}

export class Reference {
  private readonly model: Model;
  private readonly embedding: Float64Array; // (vocab, dim)
  private readonly layers: Layer64[];
  private readonly finalNorm: Float64Array; // (dim,)
  private readonly classifier: Float64Array; // (vocab, dim)
  private kCache: Float64Array[][] = []; // [layer][pos] -> (kvDim,), after RoPE
  private vCache: Float64Array[][] = []; // [layer][pos] -> (kvDim,)
  private pos = 0;

  /**
   * `cacheRow`, if given, is applied to every k (after RoPE) and v before they are cached: a cache precision.
   * `matIn`, if given, is applied to the input vector of W_Q, W_O, W_1, W_3, W_2 and the classifier: the
   * activation precision of a decoder that quantizes x before an integer dot product (W_K and W_V, which
   * slim layers keep in f32, see x as it is).
   */
  constructor(
    model: Model,
    private readonly cacheRow: (x: Float64Array) => Float64Array = (x) => x,
    private readonly matIn: (x: Float64Array) => Float64Array = (x) => x,
  ) {
    const w = model.weights;
    const f64 = (a: Float32Array): Float64Array => Float64Array.from(a);
    this.model = model;
    this.embedding = f64(w.tokenEmbedding);
    this.classifier = w.classifier === w.tokenEmbedding ? this.embedding : f64(w.classifier);
    this.finalNorm = f64(w.finalNorm);
    this.layers = w.layers.map((l) => ({
      attnNorm: f64(l.attnNorm),
      wq: f64(l.wq),
      wk: f64(l.wk),
      wv: f64(l.wv),
      wo: f64(l.wo),
      ffnNorm: f64(l.ffnNorm),
      w1: f64(l.w1),
      w2: f64(l.w2),
      w3: f64(l.w3!),
    }));
    this.reset();
  }

  /** Forget every cached position. */
  reset(): void {
    this.kCache = this.layers.map(() => []);
    this.vCache = this.layers.map(() => []);
    this.pos = 0;
  }

  /** Feed one token at the next position; returns the logits (vocab,) predicting the token after it. */
  step(token: number): Float64Array {
    const c = this.model.config;
    const dim = c.dim;
    const hs = headDim(c);
    const kvd = kvDim(c);
    const groupSize = c.nHeads / c.nKvHeads; // query heads sharing one K/V head
    const pos = this.pos;
    if (!Number.isInteger(token) || token < 0 || token >= c.vocabSize) {
      throw new RangeError(`token ${token} is outside the vocabulary 0..${c.vocabSize - 1}`);
    }
    if (pos >= c.seqLen) throw new RangeError(`position ${pos} is past seqLen ${c.seqLen}`);

    let x = this.embedding.slice(token * dim, (token + 1) * dim); // (dim,)

    for (let l = 0; l < this.layers.length; l++) {
      const L = this.layers[l];

      // attention: q, k, v from the normed residual; RoPE on q and k; cache k and v
      const xb = rmsnorm(x, L.attnNorm, c.normEps);
      const q = matmul(L.wq, this.matIn(xb), dim, dim); // (dim,)
      const k = matmul(L.wk, xb, kvd, dim); // (kvDim,)
      const v = matmul(L.wv, xb, kvd, dim); // (kvDim,)
      rope(q, pos, hs, c.ropeTheta);
      rope(k, pos, hs, c.ropeTheta);
      this.kCache[l].push(this.cacheRow(k));
      this.vCache[l].push(this.cacheRow(v));

      const att = new Float64Array(dim); // concatenated head outputs
      for (let h = 0; h < c.nHeads; h++) {
        const kvh = Math.floor(h / groupSize);
        const scores = new Float64Array(pos + 1);
        for (let t = 0; t <= pos; t++) {
          const kt = this.kCache[l][t];
          let dot = 0;
          for (let i = 0; i < hs; i++) dot += q[h * hs + i] * kt[kvh * hs + i];
          scores[t] = dot / Math.sqrt(hs);
        }
        const a = softmax(scores);
        for (let t = 0; t <= pos; t++) {
          const vt = this.vCache[l][t];
          for (let i = 0; i < hs; i++) att[h * hs + i] += a[t] * vt[kvh * hs + i];
        }
      }
      const o = matmul(L.wo, this.matIn(att), dim, dim);
      x = x.map((xi, i) => xi + o[i]);

      // SwiGLU feed-forward
      const xf = rmsnorm(x, L.ffnNorm, c.normEps);
      const xfq = this.matIn(xf);
      const gate = matmul(L.w1, xfq, c.hiddenDim, dim);
      const up = matmul(L.w3, xfq, c.hiddenDim, dim);
      const hidden = gate.map((g, i) => silu(g) * up[i]);
      const down = matmul(L.w2, this.matIn(hidden), dim, c.hiddenDim);
      x = x.map((xi, i) => xi + down[i]);
    }

    this.pos++;
    const xn = rmsnorm(x, this.finalNorm, c.normEps);
    return matmul(this.classifier, this.matIn(xn), c.vocabSize, dim);
  }
}

/** Logits (vocab,) after each token of `tokens`, starting from an empty cache. */
export function referenceLogits(model: Model, tokens: readonly number[]): Float64Array[] {
  const ref = new Reference(model);
  return tokens.map((t) => ref.step(t));
}
