import { describe, expect, it } from "vitest";
import { SlimError } from "../host/core/errors.ts";
import type { LayerWeights, Model, ModelConfig } from "../host/core/model.ts";
import { attentionInputs } from "../tools/convert/calibrate.ts";
import {
  computeWkv,
  conditionEstimate,
  foldBiases,
  invert,
  luFactor,
  reconstructionError,
  slimify,
  solve,
  solveTransposed,
} from "../tools/convert/slimify.ts";
import { Reference, referenceLogits } from "./reference.ts";
import { mulberry32 } from "../host/core/synthetic.ts";

// ---------------------------------------------------------------------------------------------------------
// helpers: seeded randomness and small dense algebra, float64

type Rng = () => number;
const gauss = (rng: Rng): number => Math.sqrt(-2 * Math.log(1 - rng())) * Math.cos(2 * Math.PI * rng());
const randn = (n: number, rng: Rng, scale = 1): Float64Array => Float64Array.from({ length: n }, () => gauss(rng) * scale);

/** A (m,k) @ B (k,n) -> (m,n) */
function matmul(a: ArrayLike<number>, b: ArrayLike<number>, m: number, k: number, n: number): Float64Array {
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++)
    for (let p = 0; p < k; p++) {
      const aip = a[i * k + p];
      for (let j = 0; j < n; j++) c[i * n + j] += aip * b[p * n + j];
    }
  return c;
}

/** W (d,n) @ x (n,) -> (d,) */
const matvec = (w: ArrayLike<number>, x: ArrayLike<number>, d: number, n: number): Float64Array => matmul(w, x, d, n, 1);

function transpose(a: ArrayLike<number>, m: number, n: number): Float64Array {
  const t = new Float64Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) t[j * m + i] = a[i * n + j];
  return t;
}

const norm = (x: ArrayLike<number>): number => Math.sqrt(Array.from(x).reduce((s, v) => s + v * v, 0));
const relErr = (a: ArrayLike<number>, b: ArrayLike<number>): number =>
  norm(Array.from(a, (v, i) => v - b[i])) / norm(b);
const identity = (n: number): Float64Array => Float64Array.from({ length: n * n }, (_, i) => (i % (n + 1) === 0 ? 1 : 0));

/** A random orthogonal Q (n,n): modified Gram–Schmidt on the rows of a gaussian matrix. */
function randomOrthogonal(n: number, rng: Rng): Float64Array {
  const q = randn(n * n, rng);
  for (let i = 0; i < n; i++) {
    const row = q.subarray(i * n, (i + 1) * n);
    for (let j = 0; j < i; j++) {
      const prev = q.subarray(j * n, (j + 1) * n);
      let dot = 0;
      for (let t = 0; t < n; t++) dot += row[t] * prev[t];
      for (let t = 0; t < n; t++) row[t] -= dot * prev[t];
    }
    const len = norm(row);
    for (let t = 0; t < n; t++) row[t] /= len;
  }
  return q;
}

/** Q·diag(σ)·Qᵀ with σ log-spaced from 1 down to 1/cond, so cond₂ is `cond` by construction. */
function withCondition(n: number, cond: number, rng: Rng): Float64Array {
  const q = randomOrthogonal(n, rng);
  const qs = q.slice();
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) qs[i * n + j] *= Math.pow(cond, -j / (n - 1));
  return matmul(qs, transpose(q, n, n), n, n, n);
}

/** I + G·0.3/√n: singular values within about [0.4, 1.6]. */
const wellConditioned = (n: number, rng: Rng): Float64Array =>
  randn(n * n, rng, 0.3 / Math.sqrt(n)).map((v, i) => v + (i % (n + 1) === 0 ? 1 : 0));

function randomModel(over: Partial<ModelConfig>, seed: number): Model {
  const config: ModelConfig = {
    arch: "llama",
    dim: 32,
    hiddenDim: 48,
    nLayers: 3,
    nHeads: 4,
    nKvHeads: 4,
    vocabSize: 16,
    seqLen: 32,
    normEps: 1e-5,
    ropeTheta: 10000,
    sharedClassifier: false,
    ...over,
  };
  const rng = mulberry32(seed);
  const { dim, hiddenDim, vocabSize } = config;
  const kvd = (dim * config.nKvHeads) / config.nHeads;
  const mat = (rows: number, cols: number): Float32Array => Float32Array.from(randn(rows * cols, rng, 1 / Math.sqrt(cols)));
  const normW = (): Float32Array => Float32Array.from({ length: dim }, () => 0.8 + 0.4 * rng());
  const layers: LayerWeights[] = Array.from({ length: config.nLayers }, () => ({
    attnNorm: normW(),
    wq: mat(dim, dim),
    wk: kvd === dim ? Float32Array.from(wellConditioned(dim, rng)) : mat(kvd, dim), // square W_K well away from singular
    wv: mat(kvd, dim),
    wo: mat(dim, dim),
    ffnNorm: normW(),
    w1: mat(hiddenDim, dim),
    w2: mat(dim, hiddenDim),
    w3: mat(hiddenDim, dim),
  }));
  const tokenEmbedding = Float32Array.from(randn(vocabSize * dim, rng));
  return {
    config,
    weights: {
      tokenEmbedding,
      layers,
      finalNorm: normW(),
      classifier: config.sharedClassifier ? tokenEmbedding : mat(vocabSize, dim),
    },
  };
}

// ---------------------------------------------------------------------------------------------------------

describe("luFactor, solve, solveTransposed, invert", () => {
  const n = 40;
  const a = randn(n * n, mulberry32(1));
  const b = randn(n, mulberry32(2));

  // a gaussian matrix has cond₂ in the hundreds, so residuals are judged as backward errors
  // ‖A x − b‖ / (‖A‖·‖x‖), which partial pivoting keeps near machine epsilon whatever the conditioning
  const backward = (m: Float64Array, x: Float64Array): number =>
    norm(matvec(m, x, n, n).map((v, i) => v - b[i])) / (norm(m) * norm(x));

  it("solves A x = b and Aᵀ x = b", () => {
    const f = luFactor(a, n);
    expect(backward(a, solve(f, b))).toBeLessThan(1e-15);
    expect(backward(transpose(a, n, n), solveTransposed(f, b))).toBeLessThan(1e-15);
  });

  it("inverts", () => {
    expect(relErr(matmul(invert(a, n), a, n, n, n), identity(n))).toBeLessThan(1e-10);
  });

  it("names a singular matrix instead of returning garbage", () => {
    const s = a.slice();
    for (let j = 0; j < n; j++) s[7 * n + j] = 2 * s[3 * n + j] - s[5 * n + j]; // row 7 depends on rows 3, 5
    expect(() => luFactor(s, n)).toThrow(SlimError);
    expect(() => luFactor(s, n)).toThrow(/singular/);
    expect(() => invert(new Float64Array(4), 2)).toThrow(/singular/);
  });
});

describe("computeWkv", () => {
  for (const d of [64, 288]) {
    it(`W_KV·k reconstructs v to 1e-10 in float64 (d = ${d})`, () => {
      const rng = mulberry32(d);
      const wk = wellConditioned(d, rng);
      const wv = randn(d * d, rng, 1 / Math.sqrt(d));
      const { f64, f32 } = computeWkv(wk, wv, d);
      expect(f32).toEqual(Float32Array.from(f64));
      for (let trial = 0; trial < 4; trial++) {
        const x = randn(d, rng);
        const k = matvec(wk, x, d, d);
        const v = matvec(wv, x, d, d);
        expect(relErr(matvec(f64, k, d, d), v)).toBeLessThan(1e-10);
      }
      // the same matrix as the textbook formula W_V·W_K⁻¹
      expect(relErr(f64, matmul(wv, invert(wk, d), d, d, d))).toBeLessThan(1e-10);
    });
  }
});

describe("conditionEstimate", () => {
  for (const cond of [1e1, 1e4, 1e8]) {
    it(`is within a factor of 2 for cond ${cond.toExponential(0)}`, () => {
      const w = withCondition(64, cond, mulberry32(Math.log10(cond)));
      const est = conditionEstimate(w, 64);
      expect(est / cond).toBeGreaterThan(0.5);
      expect(est / cond).toBeLessThan(2);
    });
  }
});

describe("reconstructionError", () => {
  it("separates the f32 storage error from the float64 math error", () => {
    const d = 32;
    const rng = mulberry32(5);
    const wk = wellConditioned(d, rng);
    const wv = randn(d * d, rng, 1 / Math.sqrt(d));
    const err = reconstructionError(wk, wv, computeWkv(wk, wv, d), randn(16 * d, rng), d);
    expect(err.float64).toBeLessThan(1e-13);
    expect(err.decoder).toBeGreaterThan(1e-9); // f32 rounding is visible...
    expect(err.decoder).toBeLessThan(1e-5); // ...and small for a well-conditioned W_K
  });
});

describe("slimify", () => {
  /** A 3-layer model whose layer 1 W_K has one column scaled by 1e-9: inputs along it barely reach k. */
  function modelWithBadLayer(): Model {
    const m = randomModel({}, 11);
    const d = m.config.dim;
    const wk = m.weights.layers[1].wk;
    for (let i = 0; i < d; i++) wk[i * d + 5] *= 1e-9;
    return m;
  }

  it("keeps an ill-conditioned layer vanilla and slims the others (random inputs)", () => {
    const r = slimify(modelWithBadLayer());
    expect(r.layers.map((l) => l.mode)).toEqual(["slim", "vanilla", "slim"]);
    expect(r.layers[1].cond).toBeGreaterThanOrEqual(1e8);
    expect(r.layers[1].reason).toMatch(/exceeds the threshold/);
    expect(r.layers[1].errActivations).toBeNull();
    expect(r.wkv[1]).toBeNull();
    for (const i of [0, 2]) {
      const l = r.layers[i];
      expect(l.cond).toBeLessThan(100);
      expect(l.errRandom).toBeLessThan(1e-5);
      expect(l.reason).toBeUndefined();
      expect(r.wkv[i]).toHaveLength(32 * 32);
    }
  });

  it("decides on the prompt's activations when given one", () => {
    const r = slimify(modelWithBadLayer(), { prompt: [1, 5, 9, 2, 2, 14, 0, 3] });
    expect(r.layers.map((l) => l.mode)).toEqual(["slim", "vanilla", "slim"]);
    expect(r.layers[1].reason).toMatch(/prompt activations/);
    for (const l of r.layers) expect(l.errActivations).not.toBeNull();
    expect(r.layers[0].errActivations).toBeLessThan(1e-5);
    expect(r.layers[0].errFloat64).toBeLessThan(1e-12);
  });

  it("keeps a layer with singular W_K vanilla, saying so", () => {
    const m = randomModel({}, 12);
    m.weights.layers[2].wk.fill(0, 0, 32); // row 0 of W_K is zero
    const r = slimify(m);
    expect(r.layers[2]).toMatchObject({ mode: "vanilla", cond: null });
    expect(r.layers[2].reason).toMatch(/layer 2.*singular/);
    expect(r.layers[0].mode).toBe("slim");
  });

  it("leaves grouped K/V models vanilla without inverting anything", () => {
    const r = slimify(randomModel({ nKvHeads: 2 }, 13));
    expect(r.wkv).toEqual([null, null, null]);
    for (const l of r.layers) {
      expect(l).toMatchObject({ mode: "vanilla", cond: null, errRandom: null });
      expect(l.reason).toMatch(/grouped K\/V.*not square.*saves nothing/);
    }
  });

  it("rejects a bad threshold", () => {
    expect(() => slimify(randomModel({}, 14), { threshold: -1 })).toThrow(SlimError);
  });
});

describe("foldBiases", () => {
  // one multi-head attention block, no RoPE, causal over T positions
  const d = 16;
  const nHeads = 4;
  const hs = d / nHeads;
  const T = 20;
  const rng = mulberry32(21);
  const wq = randn(d * d, rng, 1 / Math.sqrt(d));
  const wk = wellConditioned(d, rng);
  const wv = randn(d * d, rng, 1 / Math.sqrt(d));
  const wo = randn(d * d, rng, 1 / Math.sqrt(d));
  const [bq, bk, bv, bo] = [randn(d, rng), randn(d, rng), randn(d, rng), randn(d, rng)];
  const xs = Array.from({ length: T }, () => randn(d, rng));
  const add = (a: ArrayLike<number>, b: ArrayLike<number>): Float64Array => Float64Array.from(a, (v, i) => v + b[i]);

  /** Softmax over position scores of one head: q (d,) against keys [t] (d,), restricted to head h. */
  function weights(q: Float64Array, keys: Float64Array[], h: number): number[] {
    const s = keys.map((k) => {
      let dot = 0;
      for (let i = h * hs; i < (h + 1) * hs; i++) dot += q[i] * k[i];
      return dot / Math.sqrt(hs);
    });
    const m = Math.max(...s);
    const e = s.map((v) => Math.exp(v - m));
    const sum = e.reduce((a, b) => a + b, 0);
    return e.map((v) => v / sum);
  }

  /** The standard block: o_p = Wo·concat_h(Σ_t a_t v_t,h) + bo with biased q, k, v. */
  function standard(): Float64Array[] {
    const keys = xs.map((x) => add(matvec(wk, x, d, d), bk));
    const vals = xs.map((x) => add(matvec(wv, x, d, d), bv));
    return xs.map((x, p) => {
      const q = add(matvec(wq, x, d, d), bq);
      const heads = new Float64Array(d);
      for (let h = 0; h < nHeads; h++) {
        const a = weights(q, keys.slice(0, p + 1), h);
        for (let t = 0; t <= p; t++) for (let i = h * hs; i < (h + 1) * hs; i++) heads[i] += a[t] * vals[t][i];
      }
      return add(matvec(wo, heads, d, d), bo);
    });
  }

  /** The slim block: cache keys only; u_h = Σ_t a_t k_t (whole key), head_h = W_KV,h·u_h; folded bias. */
  function slim(keysWithBias: boolean): Float64Array[] {
    const f = foldBiases({ wk, wv, bk, bv, wo, bo }, keysWithBias ? "with-bias" : "without-bias");
    const keys = xs.map((x) => (keysWithBias ? add(matvec(wk, x, d, d), bk) : matvec(wk, x, d, d)));
    return xs.map((x, p) => {
      const q = add(matvec(wq, x, d, d), bq);
      const heads = new Float64Array(d);
      for (let h = 0; h < nHeads; h++) {
        const a = weights(q, keys.slice(0, p + 1), h);
        const u = new Float64Array(d);
        for (let t = 0; t <= p; t++) for (let i = 0; i < d; i++) u[i] += a[t] * keys[t][i];
        const wkvH = f.wkv.subarray(h * hs * d, (h + 1) * hs * d); // rows of head h: (hs, d)
        heads.set(matvec(wkvH, u, hs, d), h * hs);
      }
      return add(matvec(wo, heads, d, d), f.bo);
    });
  }

  it("matches standard biased attention with keys cached without b_K", () => {
    const [want, got] = [standard(), slim(false)];
    for (let p = 0; p < T; p++) expect(relErr(got[p], want[p])).toBeLessThan(1e-10);
  });

  it("matches standard biased attention with keys cached with b_K", () => {
    const [want, got] = [standard(), slim(true)];
    for (let p = 0; p < T; p++) expect(relErr(got[p], want[p])).toBeLessThan(1e-10);
  });

  it("uses a given W_KV as is", () => {
    const wkv = computeWkv(wk, wv, d).f64;
    expect(foldBiases({ wk, wv, bk, bv, wo, bo, wkv }).wkv).toBe(wkv);
  });
});

// ---------------------------------------------------------------------------------------------------------
// the oracle itself

describe("Reference", () => {
  /**
   * dim 4, 2 heads of size 2, vocab 3, identity attention projections, a one-unit FFN that writes its
   * output into coordinate 1: small enough to follow by hand.
   */
  function tinyModel(): Model {
    const eye = Float32Array.from(identity(4));
    const ones = new Float32Array([1, 1, 1, 1]);
    const embedding = new Float32Array([2, 0, 1, 0, /* */ 0, 1, 0, 1, /* */ 1, 1, 1, 1]);
    return {
      config: {
        arch: "llama",
        dim: 4,
        hiddenDim: 2,
        nLayers: 1,
        nHeads: 2,
        nKvHeads: 2,
        vocabSize: 3,
        seqLen: 8,
        normEps: 1e-5,
        ropeTheta: 10000,
        sharedClassifier: true,
      },
      weights: {
        tokenEmbedding: embedding,
        layers: [
          {
            attnNorm: ones,
            wq: eye,
            wk: eye,
            wv: eye,
            wo: eye,
            ffnNorm: ones,
            w1: new Float32Array([1, 0, 0, 0, /* */ 0, 0, 0, 0]),
            w3: new Float32Array([0.5, 0, 0, 0, /* */ 0, 0, 0, 0]),
            w2: new Float32Array([0, 0, /* */ 1, 0, /* */ 0, 0, /* */ 0, 0]),
          },
        ],
        finalNorm: ones,
        classifier: embedding,
      },
    };
  }

  it("computes a tiny model by hand", () => {
    const eps = 1e-5;
    const rms = (v: number[]): number[] => v.map((x) => x / Math.sqrt(v.reduce((s, y) => s + y * y, 0) / v.length + eps));
    const silu = (x: number): number => x / (1 + Math.exp(-x));
    // FFN: gate = xf₀, up = 0.5·xf₀, output lands in coordinate 1
    const ffn = (x: number[]): number[] => {
      const g = rms(x)[0];
      return [x[0], x[1] + silu(g) * 0.5 * g, x[2], x[3]];
    };
    // logits against the embedding rows [2,0,1,0], [0,1,0,1], [1,1,1,1]
    const logits = (x: number[]): number[] => {
      const n = rms(x);
      return [2 * n[0] + n[2], n[1] + n[3], n[0] + n[1] + n[2] + n[3]];
    };

    // position 0, token 0: one position, so attention returns v = xb unchanged; RoPE at angle 0 is identity
    const r0 = 1 / Math.sqrt(5 / 4 + eps);
    const xb0 = [2 * r0, 0, r0, 0];
    const want0 = logits(ffn([2 + xb0[0], 0, 1 + xb0[2], 0]));

    // position 1, token 1: both pairs sit at index 0 of their head, so both rotate by angle pos·1 = 1
    const r1 = 1 / Math.sqrt(1 / 2 + eps);
    const xb1 = [0, r1, 0, r1];
    const [c, s] = [Math.cos(1), Math.sin(1)];
    const q = [-r1 * s, r1 * c, -r1 * s, r1 * c]; // = k₁
    const sm = (a: number, b: number): [number, number] => [1 / (1 + Math.exp(b - a)), 1 / (1 + Math.exp(a - b))];
    const [a0, a1] = sm((q[0] * xb0[0] + q[1] * xb0[1]) / Math.SQRT2, (r1 * r1) / Math.SQRT2); // head 0
    const [b0, b1] = sm((q[2] * xb0[2] + q[3] * xb0[3]) / Math.SQRT2, (r1 * r1) / Math.SQRT2); // head 1
    const att = [
      a0 * xb0[0] + a1 * xb1[0],
      a0 * xb0[1] + a1 * xb1[1],
      b0 * xb0[2] + b1 * xb1[2],
      b0 * xb0[3] + b1 * xb1[3],
    ];
    const want1 = logits(ffn([0 + att[0], 1 + att[1], 0 + att[2], 1 + att[3]]));

    const got = referenceLogits(tinyModel(), [0, 1]);
    expect(Array.from(got[0])).toEqual(want0.map((v) => expect.closeTo(v, 12)));
    expect(Array.from(got[1])).toEqual(want1.map((v) => expect.closeTo(v, 12)));
    // the same numbers worked out separately in Python
    const python0 = [4.254877448905061, 0.6157885251663865, 3.1687149945094233];
    const python1 = [0.16857840570201943, 2.825824207280557, 2.938277120453164];
    expect(Array.from(got[0])).toEqual(python0.map((v) => expect.closeTo(v, 12)));
    expect(Array.from(got[1])).toEqual(python1.map((v) => expect.closeTo(v, 12)));
  });

  it("step by step equals referenceLogits, and reset starts over", () => {
    const m = randomModel({ sharedClassifier: true }, 31);
    const tokens = [3, 1, 4, 1, 5, 9, 2, 6, 5, 3];
    const all = referenceLogits(m, tokens);
    const ref = new Reference(m);
    ref.step(7);
    ref.reset();
    tokens.forEach((t, i) => expect(ref.step(t)).toEqual(all[i]));
  });

  it("treats GQA as MHA with each K/V head repeated for its query group", () => {
    const gqa = randomModel({ nHeads: 4, nKvHeads: 2 }, 32);
    const { dim } = gqa.config;
    const hs = dim / 4;
    const repeat = (w: Float32Array): Float32Array => {
      const out = new Float32Array(dim * dim);
      for (let h = 0; h < 4; h++) {
        const kvh = Math.floor(h / 2);
        out.set(w.subarray(kvh * hs * dim, (kvh + 1) * hs * dim), h * hs * dim);
      }
      return out;
    };
    const mha: Model = {
      config: { ...gqa.config, nKvHeads: 4 },
      weights: { ...gqa.weights, layers: gqa.weights.layers.map((l) => ({ ...l, wk: repeat(l.wk), wv: repeat(l.wv) })) },
    };
    const tokens = [0, 15, 7, 7, 3, 11];
    const [a, b] = [referenceLogits(gqa, tokens), referenceLogits(mha, tokens)];
    tokens.forEach((_, i) => expect(relErr(a[i], b[i])).toBeLessThan(1e-12));
  });

  it("rejects tokens outside the vocabulary", () => {
    expect(() => new Reference(randomModel({}, 33)).step(16)).toThrow(RangeError);
  });
});

describe("attentionInputs (calibration)", () => {
  it("agrees with the oracle's residual stream", () => {
    // vocab = dim so an identity classifier can read out rmsnorm(x, attnNorm of layer l) as "logits"
    const m = randomModel({ dim: 16, vocabSize: 16, nLayers: 3, nHeads: 2 }, 41);
    const tokens = [2, 7, 1, 8, 2, 8];
    const got = attentionInputs(m, tokens);
    const eye = Float32Array.from(identity(16));
    for (let l = 0; l < 3; l++) {
      const truncated: Model = {
        config: { ...m.config, nLayers: l, sharedClassifier: false },
        weights: {
          ...m.weights,
          layers: m.weights.layers.slice(0, l),
          finalNorm: m.weights.layers[l].attnNorm,
          classifier: eye,
        },
      };
      const want = referenceLogits(truncated, tokens);
      tokens.forEach((_, p) => expect(relErr(got[l].subarray(p * 16, (p + 1) * 16), want[p])).toBeLessThan(1e-12));
    }
  });

  it("rejects prompt tokens outside the vocabulary", () => {
    expect(() => attentionInputs(randomModel({}, 42), [1, 99])).toThrow(/outside the vocabulary/);
  });
});
