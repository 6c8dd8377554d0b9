import { describe, it, expect } from "vitest";
import { planArena, layerModes } from "../host/core/plan.ts";
import { tokenWork, estimateTokensPerSecond } from "../host/core/estimate.ts";
import type { ModelConfig } from "../host/core/model.ts";

const cfg: ModelConfig = {
  arch: "llama", dim: 64, hiddenDim: 160, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: 512, seqLen: 256,
  normEps: 1e-5, ropeTheta: 10000, sharedClassifier: true,
};

describe("tokenWork", () => {
  it("counts weight bytes and MACs by hand", () => {
    const w = tokenWork(planArena(cfg, 256, layerModes(cfg, "vanilla")), 100);
    const perLayerMatrices = 4 * 64 * 64 + 3 * 160 * 64; // q k v o + w1 w2 w3
    // every matrix once, both norms, the final norm, one embedding row, the shared classifier
    expect(w.weightBytes).toBe(4 * (2 * (perLayerMatrices + 2 * 64) + 64 + 64 + 512 * 64));
    expect(w.weightMacs).toBe(2 * perLayerMatrices + 512 * 64);
    expect(w.attentionBytes).toBe(2 * 2 * 100 * 64 * 4); // layers × (K + V) × rows × dim × f32
    expect(w.attentionMacs).toBe(2 * 4 * 100 * 16 * 2); // layers × heads × rows × headDim × (scores + mix)
  });

  it("counts slim's extra arithmetic and halved cache traffic", () => {
    const slim = tokenWork(planArena(cfg, 256, layerModes(cfg, "slim")), 100);
    const vanilla = tokenWork(planArena(cfg, 256, layerModes(cfg, "vanilla")), 100);
    expect(slim.weightMacs).toBe(vanilla.weightMacs); // W_V (d×d) replaced by W_KV (d×d)
    expect(slim.attentionBytes).toBe(vanilla.attentionBytes / 2 + 2 * 100 * 2 * 16 * 4); // + RoPE table rows
    expect(slim.attentionMacs).toBe(2 * (100 * 64 * 2 + 4 * 100 * 64));
  });
});

describe("estimateTokensPerSecond", () => {
  it("is bandwidth-bound when memory is slow and compute-bound when it is fast", () => {
    const plan = planArena(cfg, 256, layerModes(cfg, "slim"));
    const w = tokenWork(plan, 200);
    const slowMemory = estimateTokensPerSecond(plan, 200, { memoryBytesPerSecond: 1e6, macsPerSecond: 1e12 });
    expect(slowMemory).toBeCloseTo(1e6 / (w.weightBytes + w.attentionBytes), 6);
    const slowCompute = estimateTokensPerSecond(plan, 200, { memoryBytesPerSecond: 1e12, macsPerSecond: 1e6 });
    expect(slowCompute).toBeCloseTo(1e6 / (w.weightMacs + w.attentionMacs), 6);
  });

  it("favours slim over vanilla only where cache bytes dominate", () => {
    const at = (mode: "slim" | "vanilla", bw: number) =>
      estimateTokensPerSecond(planArena(cfg, 256, layerModes(cfg, mode)), 256, { memoryBytesPerSecond: bw, macsPerSecond: 1e8 });
    expect(at("slim", 1e6)).toBeGreaterThan(at("vanilla", 1e6)); // PSRAM-like: traffic decides
    expect(at("slim", 1e12)).toBeLessThan(at("vanilla", 1e12)); // unlimited bandwidth: arithmetic decides
  });
});
