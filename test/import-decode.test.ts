// Imported checkpoints run through the WASM decoder, both modes, against float64 oracles that work in each
// checkpoint's own layout (test/reference-arch.ts): the importers' permutations and the decoder's
// architectures checked end to end. Tolerance: max |Δ| ≤ 1e-4 × max |ref| at every position.
import { describe, it, expect } from "vitest";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { Model } from "../host/core/model.ts";
import { planArena, layerModes } from "../host/core/plan.ts";
import { slimify } from "../tools/convert/slimify.ts";
import { importHfLlama } from "../tools/convert/hf-llama.ts";
import { importHfGpt2 } from "../tools/convert/hf-gpt2.ts";
import { importHfNeox } from "../tools/convert/hf-neox.ts";
import { importGguf } from "../tools/convert/gguf.ts";
import { referenceHfGpt2, referenceHfLlama, referenceHfNeox } from "./reference-arch.ts";
import { randomHfGpt2, randomHfLlama, randomHfNeox, writeHfCheckpoint } from "./fixtures/safetensors-writer.ts";
import { writeGgufLlama } from "./fixtures/gguf-writer.ts";
import { fixedTokens, logitsRatio, decoderFor } from "./helpers.ts";

const root = mkdtempSync(join(tmpdir(), "slimedge-import-decode-"));
const TOLERANCE = 1e-4;

interface Case {
  name: string;
  load: () => { model: Model; oracle: (tokens: number[]) => Float64Array[] };
}

const cases: Case[] = [
  {
    name: "Hugging Face Llama (rotate_half permuted to adjacent pairs)",
    load: () => {
      const ck = randomHfLlama({ hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4, vocab_size: 40, max_position_embeddings: 96 }, 3);
      const dir = join(root, "llama");
      const stored = writeHfCheckpoint(dir, ck);
      return { model: importHfLlama(dir), oracle: (t) => referenceHfLlama(ck.config, stored, t) };
    },
  },
  {
    name: "Hugging Face GPT-2 (Conv1D transposed, fused q/k/v, biases everywhere)",
    load: () => {
      const ck = randomHfGpt2({ n_embd: 32, n_head: 4, n_layer: 2, n_positions: 96, vocab_size: 30 }, 3);
      const dir = join(root, "gpt2");
      const stored = writeHfCheckpoint(dir, ck);
      return { model: importHfGpt2(dir), oracle: (t) => referenceHfGpt2(ck.config, stored, t) };
    },
  },
  {
    name: "Hugging Face GPT-NeoX (partial rotary, parallel residual, fused per-head q/k/v, biases)",
    load: () => {
      const ck = randomHfNeox({ hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 96, vocab_size: 36, max_position_embeddings: 96, rotary_pct: 0.5 }, 3);
      const dir = join(root, "neox");
      const stored = writeHfCheckpoint(dir, ck);
      return { model: importHfNeox(dir), oracle: (t) => referenceHfNeox(ck.config, stored, t) };
    },
  },
  {
    name: "GGUF llama, Q8_0 (llama.cpp's q/k permutation)",
    load: () => {
      const hf = randomHfLlama({ hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4, vocab_size: 40, max_position_embeddings: 96 }, 4);
      const { bytes, stored } = writeGgufLlama(hf, { type: "Q8_0" });
      const path = join(root, "model.gguf");
      writeFileSync(path, bytes);
      return { model: importGguf(path), oracle: (t) => referenceHfLlama(hf.config, stored, t) };
    },
  },
];

describe.each(cases)("$name", ({ load }) => {
  const { model, oracle } = load();
  const tokens = fixedTokens(model.config.vocabSize, 80, 9);
  const want = oracle(tokens);
  const { wkv, layers } = slimify(model);

  it.each(["slim", "vanilla"] as const)("decodes every position within 1e-4 × max |ref| (%s)", async (mode) => {
    if (mode === "slim") expect(layers.every((l) => l.mode === "slim")).toBe(true);
    const plan = planArena(model.config, tokens.length, layerModes(model.config, mode));
    const dec = await decoderFor(model, plan, mode === "slim" ? wkv : wkv.map(() => null), "simd");
    const worst = Math.max(...tokens.map((t, p) => logitsRatio(dec.step(t), want[p])));
    console.log(`  ${model.config.arch} ${mode}: worst max|Δ|/max|ref| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(TOLERANCE);
  });
});
