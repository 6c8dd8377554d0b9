/**
 * Plans above 2 GiB: every offset is a wasm32 address up to 4 GiB, so the host reads the decoder's pointers as
 * unsigned. A tiny model with a long context puts the logits past 2^31; the decoder must still match the float64
 * reference (test/reference.ts) at 1e-4 × max |ref|, and a plan past 4 GiB is refused with one sentence.
 */
import { describe, expect, it } from "vitest";
import type { ModelConfig } from "../host/core/model.ts";
import { layerModes, planArena } from "../host/core/plan.ts";
import { syntheticModel } from "../host/core/synthetic.ts";
import { slimify } from "../tools/convert/slimify.ts";
import { decoderFor, logitsRatio } from "./helpers.ts";
import { referenceLogits } from "./reference.ts";

const TOLERANCE = 1e-4;
const config: ModelConfig = { arch: "llama", dim: 64, hiddenDim: 128, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: 40, seqLen: 1 << 23, normEps: 1e-5, ropeTheta: 10000, sharedClassifier: true } as ModelConfig;
const model = syntheticModel(config, 3);
const tokens = [1, 5, 7, 11, 2, 39];

describe("plans over 2 GiB", () => {
  it.each(["vanilla", "slim"] as const)("decodes within 1e-4 of the reference with its logits above 2^31 (%s)", async (mode) => {
    const ctx = mode === "vanilla" ? 2_300_000 : 4_000_000; // K and V rows, or K rows only: either way past 2 GiB
    const plan = planArena(config, ctx, layerModes(config, mode));
    expect(plan.logits.offset).toBeGreaterThan(2 ** 31);
    expect(plan.totalBytes).toBeLessThanOrEqual(2 ** 32);
    const dec = await decoderFor(model, plan, mode === "slim" ? slimify(model).wkv : [null, null], "scalar");
    const oracle = referenceLogits(model, tokens);
    const worst = Math.max(...tokens.map((t, p) => logitsRatio(dec.step(t), oracle[p])));
    expect(worst).toBeLessThan(TOLERANCE);
  });

  it("refuses a plan past 4 GiB with one sentence naming --ctx", async () => {
    const plan = planArena(config, 4_300_000, layerModes(config, "vanilla"));
    await expect(decoderFor(model, plan, [null, null], "scalar")).rejects.toMatchObject({ code: "E_FIT", message: expect.stringMatching(/--ctx 4300000: .* 4 GiB/) });
  });
});
