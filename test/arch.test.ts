// GPT-2 and GPT-NeoX in the decoder: LayerNorm, GELU, learned positions, partial rotary, parallel residual,
// and biases in every projection — slim layers cache keys with b_K and take b_V through a folded output
// bias. The oracle is test/reference-arch.ts (float64, plain). Tolerance: max |Δ| ≤ 1e-4 × max |ref|.
import { describe, it, expect } from "vitest";
import type { ModelConfig } from "../host/core/model.ts";
import { syntheticModel } from "../host/core/synthetic.ts";
import { planArena, layerModes } from "../host/core/plan.ts";
import type { Build } from "../host/runtime/decoder.ts";
import { slimify } from "../tools/convert/slimify.ts";
import { referenceCanonical } from "./reference-arch.ts";
import { logitsRatio, decoderFor } from "./helpers.ts";

const base = { dim: 64, hiddenDim: 256, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: 97, seqLen: 128, normEps: 1e-5, ropeTheta: 10000 };
const configs: { name: string; config: ModelConfig }[] = [
  {
    name: "GPT-2 (LayerNorm, learned positions, GELU tanh, biases, tied classifier)",
    config: { ...base, arch: "gpt2", sharedClassifier: true, norm: "layer", activation: "gelu_tanh", rotaryDims: 0, learnedPositions: true, biases: true },
  },
  {
    name: "NeoX (LayerNorm, rotary on half of each head, parallel residual, exact GELU, biases)",
    config: { ...base, arch: "neox", sharedClassifier: false, norm: "layer", activation: "gelu", rotaryDims: 8, parallelResidual: true, biases: true, ropeTheta: 20000 },
  },
  {
    name: "NeoX with sequential residual and full rotary",
    config: { ...base, arch: "neox", sharedClassifier: false, norm: "layer", activation: "gelu", rotaryDims: 16, parallelResidual: false, biases: true },
  },
];
const TOLERANCE = 1e-4;
const POSITIONS = 80; // past the 64-row block the slim mix works in

describe.each(configs)("$name", ({ config }) => {
  const model = syntheticModel(config, 7);
  const tokens = Array.from({ length: POSITIONS }, (_, i) => (i * 13 + 5) % config.vocabSize);
  const oracle = referenceCanonical(model, tokens);
  const { wkv, layers } = slimify(model);

  it.each((["simd", "scalar"] as Build[]).flatMap((build) => (["slim", "vanilla"] as const).map((mode) => ({ build, mode }))))(
    "matches the float64 oracle at every position ($build, $mode)",
    async ({ build, mode }) => {
      if (mode === "slim") expect(layers.every((l) => l.mode === "slim")).toBe(true);
      const plan = planArena(config, POSITIONS, layerModes(config, mode));
      const dec = await decoderFor(model, plan, mode === "slim" ? wkv : wkv.map(() => null), build);
      const worst = Math.max(...tokens.map((t, p) => logitsRatio(dec.step(t), oracle[p])));
      console.log(`  ${config.arch} ${build} ${mode}: worst max|Δ|/max|ref| ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(TOLERANCE);
    },
  );

  it("plans the biases, and none for V in slim layers (folded into the output bias)", () => {
    const slim = planArena(config, 32, layerModes(config, "slim"));
    const vanilla = planArena(config, 32, layerModes(config, "vanilla"));
    expect(slim.layers[0].biases!.bv.size).toBe(0);
    expect(vanilla.layers[0].biases!.bv.size).toBe(64 * 4);
    expect(slim.layers[0].w3.size).toBe(0); // GELU: no up-gate
    expect(slim.positionEmbedding?.size ?? 0).toBe(config.learnedPositions ? 32 * 64 * 4 : 0);
  });
});
