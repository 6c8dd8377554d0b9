// A layer whose W_K is ill-conditioned (cond ≥ 1e8) is detected by slimify and keeps its V-cache; the
// hybrid model still matches the float64 oracle, and the plan counts a V-cache for that layer only.
import { describe, it, expect } from "vitest";
import type { ModelConfig } from "../host/core/model.ts";
import { syntheticModel } from "../host/core/synthetic.ts";
import { planArena } from "../host/core/plan.ts";
import { slimify } from "../tools/convert/slimify.ts";
import { referenceLogits } from "./reference.ts";
import { logitsRatio, decoderFor } from "./helpers.ts";

const cfg: ModelConfig = {
  arch: "llama", dim: 64, hiddenDim: 160, nLayers: 3, nHeads: 4, nKvHeads: 4, vocabSize: 67, seqLen: 128,
  normEps: 1e-5, ropeTheta: 10000, sharedClassifier: false,
};

describe("conditioning-aware hybrid", () => {
  const model = syntheticModel(cfg, 11);
  // One column of layer 1's W_K scaled by 1e-8: one direction of x almost vanishes from K, so V cannot be
  // recovered from K there; a row scaled instead would be harmless (f32 keeps small numbers exact).
  const wk = model.weights.layers[1].wk;
  for (let r = 0; r < cfg.dim; r++) wk[r * cfg.dim + 5] *= 1e-8;
  const tokens = Array.from({ length: 90 }, (_, i) => (i * 5 + 1) % cfg.vocabSize);
  const report = slimify(model, { prompt: tokens.slice(0, 16) });

  it("finds cond(W_K) ≥ 1e8 in layer 1 and keeps it vanilla, the others slim", () => {
    expect(report.layers[1].cond!).toBeGreaterThanOrEqual(1e8);
    expect(report.layers.map((l) => l.mode)).toEqual(["slim", "vanilla", "slim"]);
    expect(report.layers[1].reason).toMatch(/exceeds the threshold/);
  });

  it.each(["simd", "scalar"] as const)("still matches the oracle at every position (%s)", async (build) => {
    const modes = report.layers.map((l) => l.mode);
    const plan = planArena(cfg, 96, modes);
    expect(plan.layers.map((l) => l.vCache !== null)).toEqual([false, true, false]);
    expect(plan.contextBytes).toBe(96 * 64 * 4 * (3 + 1)); // three K-caches and one V-cache
    const dec = await decoderFor(model, plan, report.wkv, build);
    const oracle = referenceLogits(model, tokens);
    const worst = Math.max(...tokens.map((t, p) => logitsRatio(dec.step(t), oracle[p])));
    console.log(`  hybrid SVS ${build}: worst max|Δ|/max|ref| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(1e-4);
  });
});
