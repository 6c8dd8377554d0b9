// The trained models against an oracle that is not ours: logits computed by PyTorch in float32 with standard
// attention (tools/train/fixture.py), committed as models/<name>/torch-fixture.{json,bin} for slimedge-tiny
// (v1) and slimedge-tiny-v2. No Python is needed here. Tolerance: max |Δ| ≤ 1e-4 × max |ref| at every
// position; greedy continuations identical.
import { describe, it, expect, beforeAll } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadLlama2c } from "../tools/convert/llama2c.ts";
import type { Model } from "../host/core/model.ts";
import { planArena, layerModes, type AttentionMode } from "../host/core/plan.ts";
import type { Build } from "../host/runtime/decoder.ts";
import { argmax } from "../host/runtime/sampler.ts";
import { slimify } from "../tools/convert/slimify.ts";
import { logitsRatio, decoderFor } from "./helpers.ts";

const TOLERANCE = 1e-4;

interface Sequence {
  prompt: string;
  prompt_tokens: number;
  tokens: number[];
  positions: number;
  offset_bytes: number;
}

const combos: { build: Build; mode: AttentionMode }[] = [
  { build: "simd", mode: "slim" },
  { build: "simd", mode: "vanilla" },
  { build: "scalar", mode: "slim" },
  { build: "scalar", mode: "vanilla" },
];

describe.each(["slimedge-tiny", "slimedge-tiny-v2"])("%s against PyTorch", (name) => {
  const dir = join(import.meta.dirname, "..", "models", name);
  const fixture = JSON.parse(readFileSync(join(dir, "torch-fixture.json"), "utf8")) as { vocab_size: number; sequences: Sequence[] };
  const logitsBin = readFileSync(join(dir, "torch-fixture.bin"));
  const torchLogits = (s: Sequence, p: number): Float32Array =>
    new Float32Array(logitsBin.buffer.slice(logitsBin.byteOffset + s.offset_bytes + p * fixture.vocab_size * 4, logitsBin.byteOffset + s.offset_bytes + (p + 1) * fixture.vocab_size * 4));

  let model: Model;
  let wkv: (Float32Array | null)[];
  beforeAll(() => {
    model = loadLlama2c(join(dir, "model.bin"));
    wkv = slimify(model).wkv;
  });

  it("covers at least 256 positions in all", () => {
    expect(fixture.vocab_size).toBe(model.config.vocabSize);
    expect(fixture.sequences.reduce((n, s) => n + s.positions, 0)).toBeGreaterThanOrEqual(256);
  });

  it.each(combos)("matches every position's logits and the greedy continuation ($build, $mode)", async ({ build, mode }) => {
    for (const s of fixture.sequences) {
      const plan = planArena(model.config, s.positions, layerModes(model.config, mode));
      if (mode === "slim") expect(plan.modes.every((m) => m === "slim")).toBe(true);
      const dec = await decoderFor(model, plan, mode === "slim" ? wkv : wkv.map(() => null), build);
      let worst = 0;
      for (let p = 0; p < s.positions; p++) {
        const ours = dec.step(s.tokens[p]);
        const ratio = logitsRatio(ours, torchLogits(s, p));
        worst = Math.max(worst, ratio);
        expect(ratio, `"${s.prompt}" position ${p}`).toBeLessThanOrEqual(TOLERANCE);
        // After the prompt, PyTorch chose each next token greedily: ours must choose the same.
        if (p >= s.prompt_tokens - 1 && p + 1 < s.tokens.length) expect(argmax(ours), `"${s.prompt}" position ${p}`).toBe(s.tokens[p + 1]);
      }
      console.log(`  ${name} ${build} ${mode} "${s.prompt}": worst max|Δ|/max|ref| ${worst.toExponential(2)} over ${s.positions} positions`);
    }
  });
});
