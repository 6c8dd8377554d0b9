/**
 * planArena against hand counts (ARCHITECTURE.md, "Arena"): every number below is written out as the
 * arithmetic a person would do on paper from the model's shape, not taken from the planner. Two named models
 * (the stories15M shape at ctx 256 and a small d=64 model at ctx 128) in both modes, plus a model whose
 * tensors are not multiples of 16 bytes, so the alignment padding is counted too.
 */
import { describe, expect, it } from "vitest";
import type { ModelConfig } from "../host/core/model.ts";
import {
  type ArenaPlan,
  type AttentionMode,
  type Span,
  ALIGN,
  PAGE_BYTES,
  PLAN_HEADER_SLOTS,
  PLAN_LAYER_SLOTS,
  STATIC_BYTES,
  layerModes,
  planArena,
} from "../host/core/plan.ts";
import { STORIES15M } from "../host/core/synthetic.ts";
import { slimError } from "./helpers.ts";

const F32 = 4;
const align16 = (n: number) => Math.ceil(n / 16) * 16;

const SMALL: ModelConfig = {
  arch: "llama",
  dim: 64,
  hiddenDim: 172,
  nLayers: 2,
  nHeads: 4,
  nKvHeads: 4,
  vocabSize: 512,
  seqLen: 512,
  normEps: 1e-5,
  ropeTheta: 10000,
  sharedClassifier: true,
};

/** d = 54 (3 heads of 18): rows of 216 bytes, vocab 301, so tensors need padding to 16 bytes. */
const ODD: ModelConfig = { ...SMALL, dim: 54, nHeads: 3, nKvHeads: 3, hiddenDim: 100, nLayers: 1, vocabSize: 301, seqLen: 16, sharedClassifier: false };

const GQA: ModelConfig = { ...SMALL, nHeads: 4, nKvHeads: 2 };

/**
 * Live ranges [first, last] of the activation buffers over the steps of one layer, restated from
 * host/plan.ts: 0 attn norm · 1 q/k/v · 2 scores+softmax · 3 mix · 4 per-head W_KV · 5 Wo · 6 residual ·
 * 7 ffn norm · 8 w1/w3 · 9 w2 · 10 residual · 11 final norm+classifier. `u` and `softmax_state` exist only
 * with a slim layer.
 */
const LIFETIMES: Record<string, [number, number]> = {
  x: [0, 11],
  xn: [0, 1],
  q: [1, 3],
  att: [2, 3],
  ao: [3, 5],
  xo: [5, 6],
  fn: [7, 8],
  h1: [8, 9],
  h3: [8, 9],
  fo: [9, 10],
  u: [3, 4],
  softmax_state: [2, 4],
};

const REGION_ORDER = () => [
  "static",
  "plan",
  "weights",
  "k_cache",
  "v_cache",
  "rope_table", // every plan whose model turns any dim by RoPE (these do), slim or not
  "activations",
  "logits",
  "scratch",
];

const region = (plan: ArenaPlan, name: string): Span => {
  const r = plan.regions.find((s) => s.name === name);
  if (!r) throw new Error(`plan has no region ${name}`);
  return r;
};

/** Every weight tensor of the plan, in address order (the shared classifier is the embedding, listed once). */
function tensors(plan: ArenaPlan): Span[] {
  const all = [
    plan.embedding,
    ...plan.layers.flatMap((l) => [l.attnNorm, l.wq, l.wk, l.wvOrWkv, l.wo, l.ffnNorm, l.w1, l.w2, l.w3]),
    plan.finalNorm,
    ...(plan.config.sharedClassifier ? [] : [plan.classifier]),
  ];
  return all.sort((a, b) => a.offset - b.offset);
}

/** Hand-counted sizes of one model at one context length; activations as peak live bytes (see LIFETIMES). */
interface HandCount {
  weights: number;
  kCache: number;
  vCache: number;
  ropeTable: number;
  activations: number;
  contextBytes: number;
  total: number;
}

/** Checks the structure every plan must have, whatever the model. */
function expectWellFormed(plan: ArenaPlan): void {
  const slim = plan.modes.includes("slim");
  // Regions tile [0, total) in the order of ARCHITECTURE.md, "Arena", each on a 16-byte boundary.
  expect(plan.regions.map((r) => r.name)).toEqual(REGION_ORDER());
  let cursor = 0;
  for (const r of plan.regions) {
    expect(r.offset, r.name).toBe(cursor);
    expect(r.offset % ALIGN, r.name).toBe(0);
    cursor += r.size;
  }
  expect(cursor).toBe(plan.totalBytes);
  expect(plan.pages).toBe(Math.ceil(plan.totalBytes / PAGE_BYTES));
  expect(region(plan, "static")).toEqual({ name: "static", offset: 0, size: STATIC_BYTES });

  // Weights: 16-byte aligned tensors, in order, no overlap, inside the weights region.
  const w = region(plan, "weights");
  let end = w.offset;
  for (const t of tensors(plan)) {
    expect(t.offset % 16, t.name).toBe(0);
    expect(t.offset, t.name).toBeGreaterThanOrEqual(end);
    end = t.offset + t.size;
  }
  expect(end).toBeLessThanOrEqual(w.offset + w.size);
  expect(w.offset + w.size - end).toBeLessThan(16); // only the last tensor's padding is left over
  if (plan.config.sharedClassifier) expect(plan.classifier.offset).toBe(plan.embedding.offset);

  // Caches: one K span per layer, a V span for vanilla layers only, each inside its region.
  const k = region(plan, "k_cache");
  const v = region(plan, "v_cache");
  plan.layers.forEach((l, i) => {
    expect(l.mode).toBe(plan.modes[i]);
    expect(l.kCache.offset % 16).toBe(0);
    expect(l.kCache.offset).toBeGreaterThanOrEqual(k.offset);
    expect(l.kCache.offset + l.kCache.size).toBeLessThanOrEqual(k.offset + k.size);
    if (l.mode === "slim") {
      expect(l.vCache).toBeNull();
      expect(l.wvOrWkv.name).toBe(`layers.${i}.wkv`);
    } else {
      expect(l.vCache).not.toBeNull();
      expect(l.vCache!.offset).toBeGreaterThanOrEqual(v.offset);
      expect(l.vCache!.offset + l.vCache!.size).toBeLessThanOrEqual(v.offset + v.size);
      expect(l.wvOrWkv.name).toBe(`layers.${i}.wv`);
    }
  });
  expect(plan.ropeTable).toEqual(region(plan, "rope_table"));

  // Activations: the expected set of buffers, each inside the region, 16-byte aligned, and no two
  // buffers whose lifetimes overlap share a byte.
  const a = region(plan, "activations");
  const names = Object.keys(LIFETIMES).filter((n) => slim || (n !== "u" && n !== "softmax_state"));
  expect(plan.activations.map((s) => s.name).sort()).toEqual([...names].sort());
  for (const s of plan.activations) {
    expect(s.offset % 16, s.name).toBe(0);
    expect(s.offset, s.name).toBeGreaterThanOrEqual(a.offset);
    expect(s.offset + s.size, s.name).toBeLessThanOrEqual(a.offset + a.size);
  }
  for (const p of plan.activations) {
    for (const q of plan.activations) {
      if (p === q) continue;
      const [pf, pl] = LIFETIMES[p.name];
      const [qf, ql] = LIFETIMES[q.name];
      const liveTogether = pf <= ql && qf <= pl;
      const overlapInMemory = p.offset < q.offset + q.size && q.offset < p.offset + p.size;
      if (liveTogether) expect(overlapInMemory, `${p.name} and ${q.name} are live together`).toBe(false);
    }
  }
  // The region can never be smaller than the bytes live at the busiest step.
  let peak = 0;
  for (let step = 0; step <= 11; step++) {
    const live = plan.activations.filter((s) => LIFETIMES[s.name][0] <= step && step <= LIFETIMES[s.name][1]);
    peak = Math.max(peak, live.reduce((n, s) => n + align16(s.size), 0));
  }
  expect(a.size).toBeGreaterThanOrEqual(peak);

  expect(plan.logits).toEqual(region(plan, "logits"));
  expect(plan.tokens).toEqual(region(plan, "scratch"));
}

function expectHandCount(plan: ArenaPlan, want: HandCount): void {
  expect(region(plan, "weights").size).toBe(want.weights);
  expect(region(plan, "k_cache").size).toBe(want.kCache);
  expect(region(plan, "v_cache").size).toBe(want.vCache);
  if (want.ropeTable > 0) expect(region(plan, "rope_table").size).toBe(want.ropeTable);
  else expect(plan.regions.some((r) => r.name === "rope_table")).toBe(false);
  expect(region(plan, "activations").size).toBe(want.activations);
  expect(plan.contextBytes).toBe(want.contextBytes);
  expect(plan.totalBytes).toBe(want.total);
  expect(plan.pages).toBe(Math.ceil(want.total / 65536));
}

describe("planArena", () => {
  describe("stories15M shape (d 288, 6 layers, 6 heads, hidden 768, vocab 32000) at ctx 256", () => {
    const c = STORIES15M;
    const ctx = 256;
    const staticBytes = 16384;
    const planBlock = (PLAN_HEADER_SLOTS + PLAN_LAYER_SLOTS * 6) * 4; // header slots + slots per layer, i32 each
    // Every tensor below is a multiple of 16 bytes already (288 · 4 = 1152 = 72 · 16), so no padding.
    const embedding = 32000 * 288 * 4;
    const perLayer =
      288 * 4 + // attn norm
      288 * 288 * 4 + // wq
      288 * 288 * 4 + // wk
      288 * 288 * 4 + // wv (vanilla) or W_KV (slim): the same d×d for MHA
      288 * 288 * 4 + // wo
      288 * 4 + // ffn norm
      768 * 288 * 4 * 3; // w1, w2, w3
    const weights = embedding + 6 * perLayer + 288 * 4; // shared classifier: no second copy
    const kCache = 6 * 256 * 288 * 4;
    const logits = 32000 * 4;
    const scratch = 256 * 4; // prefill token buffer
    // Busiest step is 3 (mix): x, q, ao (d each), att (heads × ctx) and, slim only, U (heads × d) and the
    // one-pass softmax's (max, sum) per head (48 bytes, already a multiple of 16).
    const actVanilla = 3 * 288 * 4 + 6 * 256 * 4;
    const actSlim = actVanilla + 6 * 288 * 4 + 6 * 2 * 4;
    const rope = 256 * 2 * 48 * 4;

    const slim: HandCount = {
      weights,
      kCache,
      vCache: 0,
      ropeTable: rope,
      activations: actSlim,
      contextBytes: kCache,
      total: staticBytes + planBlock + weights + kCache + rope + actSlim + logits + scratch,
    };
    const vanilla: HandCount = {
      weights,
      kCache,
      vCache: kCache,
      ropeTable: rope, // the host writes it for vanilla plans too: no pow/cos/sin per token
      activations: actVanilla,
      contextBytes: 2 * kCache,
      total: staticBytes + planBlock + weights + 2 * kCache + rope + actVanilla + logits + scratch,
    };

    it("matches the hand count in slim mode", () => {
      const plan = planArena(c, ctx, layerModes(c, "slim"));
      expect(plan.modes).toEqual(Array(6).fill("slim"));
      expect(slim.weights).toBe(60_766_848);
      expect(slim.kCache).toBe(1_769_472);
      expect(slim.ropeTable).toBe(98_304);
      expectHandCount(plan, slim);
      expect(plan.planBlock).toEqual({ name: "plan", offset: 16384, size: planBlock });
      expect(plan.embedding.offset).toBe(staticBytes + planBlock);
      expectWellFormed(plan);
    });

    it("matches the hand count in vanilla mode", () => {
      const plan = planArena(c, ctx, layerModes(c, "vanilla"));
      expect(plan.modes).toEqual(Array(6).fill("vanilla"));
      expectHandCount(plan, vanilla);
      expectWellFormed(plan);
    });

    it("needs exactly half the context bytes in slim mode", () => {
      const s = planArena(c, ctx, layerModes(c, "slim"));
      const v = planArena(c, ctx, layerModes(c, "vanilla"));
      expect(2 * s.contextBytes).toBe(v.contextBytes);
      expect(s.vanillaContextBytes).toBe(v.contextBytes);
      expect(v.vanillaContextBytes).toBe(v.contextBytes);
      expect(v.contextBytes).toBe(2 * 6 * 256 * 288 * 4);
    });
  });

  describe("small model (d 64, 4 heads, 2 layers, vocab 512, hidden 172) at ctx 128", () => {
    const c = SMALL;
    const ctx = 128;
    const staticBytes = 16384;
    const planBlock = (PLAN_HEADER_SLOTS + PLAN_LAYER_SLOTS * 2) * 4;
    const embedding = 512 * 64 * 4;
    const perLayer =
      64 * 4 + // attn norm
      4 * (64 * 64 * 4) + // wq, wk, wv|wkv, wo
      64 * 4 + // ffn norm
      3 * (172 * 64 * 4); // w1, w2, w3: 44032 bytes each = 2752 · 16
    const weights = embedding + 2 * perLayer + 64 * 4;
    const kCache = 2 * 128 * 64 * 4;
    const logits = 512 * 4;
    const scratch = 128 * 4;
    const actVanilla = 3 * 64 * 4 + 4 * 128 * 4; // x, q, ao + att
    const actSlim = actVanilla + 4 * 64 * 4 + 32; // + U + (max, sum) per head: 4 · 2 · 4 = 32 bytes
    const rope = 128 * 2 * 16 * 4;

    it("matches the hand count in slim mode", () => {
      const plan = planArena(c, ctx, layerModes(c, "slim"));
      expectHandCount(plan, {
        weights,
        kCache,
        vCache: 0,
        ropeTable: rope,
        activations: actSlim,
        contextBytes: kCache,
        total: staticBytes + planBlock + weights + kCache + rope + actSlim + logits + scratch,
      });
      expectWellFormed(plan);
    });

    it("matches the hand count in vanilla mode", () => {
      const plan = planArena(c, ctx, layerModes(c, "vanilla"));
      expectHandCount(plan, {
        weights,
        kCache,
        vCache: kCache,
        ropeTable: rope,
        activations: actVanilla,
        contextBytes: 2 * kCache,
        total: staticBytes + planBlock + weights + 2 * kCache + rope + actVanilla + logits + scratch,
      });
      expectWellFormed(plan);
    });

    it("needs exactly half the context bytes in slim mode", () => {
      const s = planArena(c, ctx, layerModes(c, "slim"));
      const v = planArena(c, ctx, layerModes(c, "vanilla"));
      expect(2 * s.contextBytes).toBe(v.contextBytes);
      expect(v.contextBytes).toBe(2 * 2 * 128 * 64 * 4);
    });

    it("plans a hybrid model (layer 0 slim, layer 1 vanilla) with one V-cache and the RoPE table", () => {
      const plan = planArena(c, ctx, layerModes(c, "slim", ["slim", "vanilla"]));
      expect(plan.modes).toEqual(["slim", "vanilla"]);
      expect(region(plan, "v_cache").size).toBe(128 * 64 * 4);
      expect(plan.contextBytes).toBe(3 * 128 * 64 * 4);
      expect(plan.vanillaContextBytes).toBe(4 * 128 * 64 * 4);
      expect(region(plan, "rope_table").size).toBe(rope);
      expect(plan.layers[0].vCache).toBeNull();
      expect(plan.layers[1].vCache!.size).toBe(128 * 64 * 4);
      expectWellFormed(plan);
    });
  });

  describe("a model whose tensors need padding (d 54, 3 heads of 18, hidden 100, vocab 301, unshared) at ctx 9", () => {
    const c = ODD;
    const ctx = 9;

    it("pads every tensor and region to 16 bytes", () => {
      for (const mode of ["slim", "vanilla"] as AttentionMode[]) {
        const plan = planArena(c, ctx, layerModes(c, mode));
        const weights =
          align16(301 * 54 * 4) + // embedding: 65016 -> 65024
          align16(54 * 4) + // attn norm: 216 -> 224
          4 * (54 * 54 * 4) + // wq wk wv|wkv wo: 11664 = 729 · 16
          align16(54 * 4) + // ffn norm
          3 * (100 * 54 * 4) + // w1 w2 w3: 21600 = 1350 · 16
          align16(54 * 4) + // final norm
          align16(301 * 54 * 4); // unshared classifier
        expect(weights).toBe(65024 + 224 + 46656 + 224 + 64800 + 224 + 65024);
        expect(region(plan, "weights").size).toBe(weights);
        expect(plan.embedding.size).toBe(65016); // the span is the tensor; the padding only moves the cursor
        // The unshared classifier is the last tensor, after the final norm (llama2.c file order).
        expect(plan.classifier.offset).toBe(plan.embedding.offset + weights - 65024);
        expect(region(plan, "k_cache").size).toBe(align16(9 * 54 * 4)); // 1944 -> 1952
        expect(region(plan, "v_cache").size).toBe(mode === "slim" ? 0 : 1952);
        expect(plan.contextBytes).toBe((mode === "slim" ? 1 : 2) * 9 * 54 * 4);
        expect(region(plan, "logits").size).toBe(align16(301 * 4)); // 1204 -> 1216
        expect(region(plan, "scratch").size).toBe(align16(9 * 4)); // 36 -> 48
        expect(region(plan, "rope_table").size).toBe(9 * 2 * 18 * 4);
        expectWellFormed(plan);
      }
    });
  });

  describe("rejections", () => {
    it("rejects --ctx beyond the model's seq_len with E_FLAG", () => {
      const e = slimError(() => planArena(STORIES15M, 4097, layerModes(STORIES15M, "slim")), "E_FLAG");
      expect(e.message).toMatch(/4097/);
      expect(e.message).toMatch(/4096/);
      slimError(() => planArena(SMALL, 513, layerModes(SMALL, "vanilla")), "E_FLAG");
      expect(planArena(SMALL, 512, layerModes(SMALL, "vanilla")).ctx).toBe(512);
    });

    it("rejects ctx 0, negative and fractional ctx with E_FLAG", () => {
      for (const ctx of [0, -1, 1.5, Number.NaN]) {
        slimError(() => planArena(SMALL, ctx, layerModes(SMALL, "slim")), "E_FLAG");
      }
    });

    it("rejects a slim layer in a grouped-query model", () => {
      expect(layerModes(GQA, "slim")).toEqual(["vanilla", "vanilla"]);
      expect(layerModes(GQA, "slim", ["slim", "slim"])).toEqual(["vanilla", "vanilla"]);
      const e = slimError(() => planArena(GQA, 64, ["slim", "slim"]), "E_MODEL");
      expect(e.message).toMatch(/n_kv_heads/);
      slimError(() => planArena(GQA, 64, ["vanilla", "slim"]), "E_MODEL");
    });

    it("plans a grouped-query model's caches with kvDim columns", () => {
      const plan = planArena(GQA, 64, layerModes(GQA, "slim"));
      expect(region(plan, "k_cache").size).toBe(2 * 64 * 32 * 4); // kvDim = 64 · 2 / 4 = 32
      expect(region(plan, "v_cache").size).toBe(2 * 64 * 32 * 4);
      expect(plan.layers[0].wk.size).toBe(32 * 64 * 4);
      expect(plan.layers[0].wvOrWkv.size).toBe(32 * 64 * 4);
      expectWellFormed(plan);
    });

    it("rejects a mode list whose length is not the layer count", () => {
      slimError(() => planArena(SMALL, 16, ["slim"]), "E_MODEL");
    });
  });
});
