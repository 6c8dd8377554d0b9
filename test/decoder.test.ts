/**
 * The on-device decoder (build/decoder.{simd,scalar}.wasm) against the float64 oracle of the standard
 * transformer (test/reference.ts). Checkpoints are written by the llama2.c fixture writer and read back
 * with readLlama2c, so the whole path file → model → slimify → plan → module is exercised.
 *
 * Tolerance (ARCHITECTURE.md, "Numerics"): at every position, max |logits − oracle| ≤ 1e-4 · max |oracle|.
 * The oracle is computed once per checkpoint and shared by the four combinations {simd, scalar} × {slim,
 * vanilla}.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SlimError } from "../host/core/errors.ts";
import { type Model, isMultiHead } from "../host/core/model.ts";
import { type AttentionMode, type SlimKeys, PAGE_BYTES, PLAN_HEADER_SLOTS, PLAN_VERSION, encodePlanBlock, layerModes, planArena } from "../host/core/plan.ts";
import { LayerSlot, PlanSlot } from "../host/core/abi.generated.ts";
import { type Build, Decoder } from "../host/runtime/decoder.ts";
import { argmax } from "../host/runtime/sampler.ts";
import { slimify } from "../tools/convert/slimify.ts";
import { type Checkpoint, checkpointModel, fixedTokens, logitsRatio, rawDecoder, slimError, decoderFor as loadDecoder } from "./helpers.ts";
import { referenceLogits } from "./reference.ts";
import { skipNote } from "./skips.ts";

/** Largest max|Δ| / max|ref| allowed at any position (ARCHITECTURE.md, "Numerics"). */
const TOLERANCE = 1e-4;
/** prefill vs step-by-step: the same code path, so they agree to f32 rounding at most. */
const PREFILL_TOLERANCE = 1e-6;
const POSITIONS = 130;

const BUILDS: Build[] = ["simd", "scalar"];
const MODES: AttentionMode[] = ["slim", "vanilla"];
const COMBOS = BUILDS.flatMap((build) => MODES.map((mode) => ({ build, mode })));

const D288: Checkpoint = {
  dims: { dim: 288, hiddenDim: 768, nLayers: 2, nHeads: 6, nKvHeads: 6, vocabSize: 512, seqLen: 512 },
  version: 1,
  shared: true,
  seed: 11,
};
const D64: Checkpoint = {
  dims: { dim: 64, hiddenDim: 172, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: 512, seqLen: 512 },
  version: 1,
  shared: true,
  seed: 12,
};
const UNSHARED_DIMS = { dim: 48, hiddenDim: 128, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: 300, seqLen: 256 };

const CHECKPOINTS: { name: string; ckpt: Checkpoint }[] = [
  { name: "d 288, 6 heads, hidden 768, 2 layers, vocab 512 (v1)", ckpt: D288 },
  { name: "d 64, 4 heads, hidden 172, 2 layers, vocab 512 (v1)", ckpt: D64 },
  {
    name: "d 44, 2 heads of 22, hidden 100, 2 layers, vocab 320 (v1)",
    ckpt: { dims: { dim: 44, hiddenDim: 100, nLayers: 2, nHeads: 2, nKvHeads: 2, vocabSize: 320, seqLen: 256 }, version: 1, shared: true, seed: 13 },
  },
  {
    name: "vocab 32000, d 64, 4 heads, hidden 172, 1 layer (v1)",
    ckpt: { dims: { dim: 64, hiddenDim: 172, nLayers: 1, nHeads: 4, nKvHeads: 4, vocabSize: 32000, seqLen: 256 }, version: 1, shared: true, seed: 14 },
  },
  { name: "unshared classifier, v0 (negative vocab_size), d 48", ckpt: { dims: UNSHARED_DIMS, version: 0, shared: false, seed: 15 } },
  { name: "unshared classifier, v1 (shared flag 0), d 48", ckpt: { dims: UNSHARED_DIMS, version: 1, shared: false, seed: 16 } },
  {
    name: "GQA: 4 heads, 2 kv heads, d 64, 2 layers (v1)",
    ckpt: { dims: { dim: 64, hiddenDim: 172, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 512, seqLen: 256 }, version: 1, shared: true, seed: 17 },
  },
];

/** Each checkpoint is written and read once per file, whichever describe asks first. */
const loaded = new Map<Checkpoint, { model: Model; bytes: Uint8Array }>();
function load(ckpt: Checkpoint): { model: Model; bytes: Uint8Array } {
  let entry = loaded.get(ckpt);
  if (!entry) loaded.set(ckpt, (entry = checkpointModel(ckpt)));
  return entry;
}

/** A decoder for the model in one build and requested mode, with W_KV from slimify for slim layers. */
async function decoderFor(model: Model, ctx: number, build: Build, mode: AttentionMode, wkv?: (Float32Array | null)[], keys: SlimKeys = "pre"): Promise<Decoder> {
  const plan = planArena(model.config, ctx, layerModes(model.config, mode), { slimKeys: keys });
  const weights = plan.modes.includes("slim") ? (wkv ?? slimify(model).wkv) : plan.modes.map(() => null);
  return loadDecoder(model, plan, weights, build);
}

/** Worst ratios seen, printed as one table at the end of the file. */
const report: string[] = [];
afterAll(() => {
  if (report.length > 0) console.log(`worst max|Δ|/max|ref| per position (tolerance ${TOLERANCE}):\n${report.join("\n")}`);
});

describe.each(CHECKPOINTS)("Decoder vs oracle: $name", ({ name, ckpt }) => {
  let model: Model;
  let bytes: Uint8Array;
  let tokens: number[];
  let oracle: Float64Array[];
  let wkv: (Float32Array | null)[];

  beforeAll(() => {
    ({ model, bytes } = load(ckpt));
    tokens = fixedTokens(model.config.vocabSize, POSITIONS, ckpt.seed);
    oracle = referenceLogits(model, tokens);
    wkv = slimify(model).wkv;
  });

  it("reads the checkpoint as written", () => {
    const c = model.config;
    expect(c.dim).toBe(ckpt.dims.dim);
    expect(c.vocabSize).toBe(ckpt.dims.vocabSize);
    expect(c.sharedClassifier).toBe(ckpt.shared);
    if (ckpt.shared) expect(model.weights.classifier).toBe(model.weights.tokenEmbedding);
    else expect(model.weights.classifier).not.toEqual(model.weights.tokenEmbedding);
    if (ckpt.version === 0) {
      // The legacy header marks the unshared classifier with a negative vocab_size.
      const vocab = new DataView(bytes.buffer, bytes.byteOffset).getInt32(5 * 4, true);
      expect(vocab).toBe(ckpt.shared ? ckpt.dims.vocabSize : -ckpt.dims.vocabSize);
    }
    if (isMultiHead(c)) {
      // Every layer of these random models is well conditioned, so slim mode is really slim.
      expect(wkv.every((w) => w instanceof Float32Array && w.length === c.dim * c.dim)).toBe(true);
      expect(layerModes(c, "slim")).toEqual(Array(c.nLayers).fill("slim"));
    }
  });

  it.each(COMBOS)("matches the oracle at every one of 130 positions ($build, $mode)", async ({ build, mode }) => {
    const dec = await decoderFor(model, POSITIONS, build, mode, wkv);
    let worst = 0;
    let worstAt = -1;
    tokens.forEach((token, p) => {
      const ratio = logitsRatio(dec.step(token), oracle[p]);
      if (!(ratio <= worst)) [worst, worstAt] = [ratio, p];
    });
    expect(dec.position).toBe(POSITIONS);
    const modes = dec.plan.modes.map((m) => (m === "slim" ? "S" : "V")).join("");
    report.push(`  ${name.padEnd(60)} ${build.padEnd(6)} ${mode.padEnd(7)} layers ${modes.padEnd(3)} ${worst.toExponential(2)} at position ${worstAt}`);
    expect(worst, `worst ratio ${worst.toExponential(2)} at position ${worstAt}`).toBeLessThanOrEqual(TOLERANCE);
  });

  const grouped = ckpt.dims.nKvHeads !== ckpt.dims.nHeads && "slim attention needs n_kv_heads == n_heads, so no slim layer caches keys";
  it.skipIf(grouped).each(BUILDS)(`matches the oracle with rotated keys cached (the measured RoPE alternative, %s)${skipNote(grouped)}`, async (build) => {
    const dec = await decoderFor(model, POSITIONS, build, "slim", wkv, "post");
    const worst = Math.max(...tokens.map((token, p) => logitsRatio(dec.step(token), oracle[p])));
    report.push(`  ${name.padEnd(60)} ${build.padEnd(6)} slim-post        ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(TOLERANCE);
  });

  it("gives the same last-position logits from prefill as from stepping, on both builds and modes", async () => {
    for (const { build, mode } of COMBOS) {
      const dec = await decoderFor(model, POSITIONS, build, mode, wkv);
      let last: Float32Array = new Float32Array(0);
      for (const t of tokens) last = dec.step(t);
      const stepped = last.slice(); // the view is overwritten by the next call
      dec.reset();
      expect(dec.position).toBe(0);
      const prefilled = dec.prefill(tokens);
      expect(dec.position).toBe(POSITIONS);
      expect(logitsRatio(prefilled, stepped), `${build} ${mode}`).toBeLessThanOrEqual(PREFILL_TOLERANCE);
    }
  });
});

describe("the oracle comparison", () => {
  it("is not blind: a decoder given RoPE θ = 5000 instead of 10000 misses the tolerance by far", async () => {
    const { model } = load(D64);
    const tokens = fixedTokens(model.config.vocabSize, 32, 3);
    const oracle = referenceLogits(model, tokens);
    const wrong = { ...model.config, ropeTheta: 5000 };
    for (const mode of MODES) {
      const plan = planArena(wrong, 32, layerModes(wrong, mode));
      const dec = await loadDecoder(model, plan, mode === "slim" ? slimify(model).wkv : [null, null], "simd");
      const worst = Math.max(...tokens.map((t, p) => logitsRatio(dec.step(t), oracle[p])));
      expect(worst, mode).toBeGreaterThan(10 * TOLERANCE);
    }
  });
});

describe("Decoder on a grouped-query model", () => {
  const gqa = CHECKPOINTS.find((c) => c.name.startsWith("GQA"))!.ckpt;

  it("runs every layer vanilla when slim is requested, and slimify says why", () => {
    const { model } = load(gqa);
    expect(layerModes(model.config, "slim")).toEqual(["vanilla", "vanilla"]);
    const result = slimify(model);
    expect(result.wkv).toEqual([null, null]);
    for (const layer of result.layers) {
      expect(layer.mode).toBe("vanilla");
      expect(layer.reason).toMatch(/grouped K\/V/);
      expect(layer.reason).toMatch(/nKvHeads 2 < nHeads 4/);
      expect(layer.reason).toMatch(/not square/);
    }
  });
});

/**
 * With a shared classifier these random models just echo their input (logits ≈ E·e_t peak at t), so
 * greedy decoding would repeat the first token; the d 288 shape with its own classifier makes greedy
 * choices that depend on the attention state.
 */
const D288_UNSHARED: Checkpoint = { ...D288, shared: false, seed: 21 };

describe("slim vs vanilla greedy decoding (d 288, unshared classifier)", () => {
  it.each(BUILDS)("produces identical token sequences over 128 steps (%s)", async (build) => {
    const { model } = load(D288_UNSHARED);
    const wkv = slimify(model).wkv;
    const run = async (mode: AttentionMode) => {
      const dec = await decoderFor(model, 129, build, mode, wkv);
      const out = [1];
      for (let i = 0; i < 128; i++) out.push(argmax(dec.step(out[out.length - 1])));
      return out;
    };
    const slim = await run("slim");
    const vanilla = await run("vanilla");
    expect(slim).toHaveLength(129);
    expect(slim).toEqual(vanilla);
    expect(new Set(slim).size, "distinct tokens in the sequence").toBeGreaterThan(8);
  });
});

describe("Decoder memory", () => {
  it.each(COMBOS)("keeps memory.buffer.byteLength fixed over 500 generated tokens at ctx 512 ($build, $mode)", async ({ build, mode }) => {
    const { model } = load(D64);
    const dec = await decoderFor(model, 512, build, mode);
    const bytes = dec.memoryBytes;
    expect(bytes).toBe(dec.plan.pages * PAGE_BYTES);
    let token = 1;
    for (let i = 0; i < 500; i++) {
      token = argmax(dec.step(token));
      if (i % 100 === 0) expect(dec.memoryBytes).toBe(bytes);
    }
    expect(dec.position).toBe(500);
    expect(dec.memoryBytes).toBe(bytes);
  });
});

describe("Decoder error paths", () => {
  const small = () => load(D64).model;

  it.each(BUILDS)("throws E_RUNTIME naming the context on the 9th token at ctx 8 (%s)", async (build) => {
    const dec = await decoderFor(small(), 8, build, "slim");
    for (let i = 0; i < 8; i++) dec.step(i + 1);
    const e = slimError(() => dec.step(9), "E_RUNTIME");
    expect(e.message).toMatch(/context/);
    expect(dec.position).toBe(8);
    // The host refuses a prompt that cannot fit before the module sees it.
    dec.reset();
    expect(slimError(() => dec.prefill(Array(9).fill(1)), "E_FLAG").message).toMatch(/context|ctx/);
  });

  it.each(BUILDS)("throws on a token id outside the vocabulary and keeps its position (%s)", async (build) => {
    const dec = await decoderFor(small(), 8, build, "vanilla");
    dec.step(3);
    expect(slimError(() => dec.step(512), "E_RUNTIME").message).toMatch(/vocabulary/);
    expect(() => dec.step(-1)).toThrow(SlimError);
    expect(() => dec.step(100000)).toThrow(SlimError);
    expect(dec.position).toBe(1);
    expect(dec.step(4)).toHaveLength(512);
    expect(dec.position).toBe(2);
    // a prompt with one bad id is refused whole: nothing of it enters the cache
    expect(() => dec.prefill([1, 2, 600, 3])).toThrow(SlimError);
    expect(dec.position).toBe(2);
  });

  describe.each(BUILDS)("init (%s)", (build) => {
    const cfg = () => small().config;
    const planFor = () => planArena(cfg(), 128, layerModes(cfg(), "slim"));

    async function initWith(pages: number, edit: (slots: Int32Array) => void = () => {}) {
      const plan = planFor();
      const ex = await rawDecoder(build, pages);
      const slots = encodePlanBlock(plan);
      edit(slots);
      new Int32Array(ex.memory.buffer, plan.planBlock.offset, slots.length).set(slots);
      return { ex, status: ex.init(plan.planBlock.offset), plan };
    }

    it("accepts the plan in exactly plan.pages of memory", async () => {
      const { status, plan } = await initWith(planFor().pages);
      expect(plan.pages).toBeGreaterThan(1);
      expect(status).toBe(0);
    });

    it("refuses a plan whose total exceeds the module memory with 5 (PLAN_OUT_OF_MEMORY)", async () => {
      const { ex, status, plan } = await initWith(planFor().pages - 1);
      expect(plan.totalBytes).toBeGreaterThan((plan.pages - 1) * PAGE_BYTES);
      expect(status).toBe(5);
      expect(ex.lastError()).toBe(5);
    });

    it("refuses a wrong plan magic with 2 (PLAN_BAD_MAGIC)", async () => {
      expect((await initWith(planFor().pages, (s) => (s[PlanSlot.magic] ^= 1))).status).toBe(2);
    });

    it("refuses another plan version with 3 (PLAN_BAD_VERSION)", async () => {
      expect((await initWith(planFor().pages, (s) => (s[PlanSlot.version] = PLAN_VERSION + 1))).status).toBe(3);
    });

    it("refuses inconsistent dimensions with 4 (PLAN_BAD_DIMS)", async () => {
      expect((await initWith(planFor().pages, (s) => (s[PlanSlot.headDim] = 15))).status).toBe(4); // headDim · heads ≠ dim
      expect((await initWith(planFor().pages, (s) => (s[PlanSlot.ctx] = 0))).status).toBe(4); // ctx 0
    });

    it("refuses a plan that reserves less static space than the module's data with 6 (STATIC_TOO_LARGE)", async () => {
      expect((await initWith(planFor().pages, (s) => (s[PlanSlot.staticBytes] = 16))).status).toBe(6);
    });

    it("refuses a step before init with 1 (NOT_INITIALIZED)", async () => {
      const ex = await rawDecoder(build, 2);
      expect(ex.step(0)).toBe(0);
      expect(ex.lastError()).toBe(1);
    });

    it("refuses a step after a failed init with 1 (NOT_INITIALIZED)", async () => {
      const { ex, status } = await initWith(planFor().pages - 1);
      expect(status).toBe(5);
      expect(ex.step(0)).toBe(0);
      expect(ex.lastError()).toBe(1);
    });

    it("refuses a step after a good init was followed by a refused one", async () => {
      const plan = planFor();
      const ex = await rawDecoder(build, plan.pages);
      const slots = encodePlanBlock(plan);
      const write = () => new Int32Array(ex.memory.buffer, plan.planBlock.offset, slots.length).set(slots);
      write();
      expect(ex.init(plan.planBlock.offset)).toBe(0);
      slots[PlanSlot.version] = PLAN_VERSION + 1; // another plan version
      write();
      expect(ex.init(plan.planBlock.offset)).toBe(3);
      expect(ex.step(0)).toBe(0);
      expect(ex.lastError()).toBe(1);
    });

    it("refuses a plan with any buffer ending beyond the arena with 5", async () => {
      const plan = planFor();
      const past = plan.totalBytes - 4;
      // each slot moved to the arena's last word:
      // layer 0's wq, the residual stream x, q, the final norm and a classifier bias (vocab f32, optional)
      for (const slot of [PLAN_HEADER_SLOTS + LayerSlot.wq, PlanSlot.x, PlanSlot.q, PlanSlot.finalNorm, PlanSlot.classifierBias]) {
        expect((await initWith(plan.pages, (s) => (s[slot] = past))).status, `slot ${slot}`).toBe(5);
      }
    });
  });
});
