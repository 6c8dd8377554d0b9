// The llama2.c writers the bench hands to llama2.c's own programs: read back by the project's llama2.c
// reader (tools/convert/llama2c.ts), the v0 file gives the model exactly and the v2 file gives the model's
// Q8_0 values (host/core/quant.ts) exactly; run.c and runq.c read these same byte layouts.
import { describe, it, expect } from "vitest";
import { syntheticModel } from "../host/core/synthetic.ts";
import { dequantizeQ8, quantizeQ8 } from "../host/core/quant.ts";
import type { ModelConfig } from "../host/core/model.ts";
import { readLlama2c } from "../tools/convert/llama2c.ts";
import { readTokenizer } from "../host/core/tokenizer.ts";
import { writeLlama2cV0, writeLlama2cV2, writeTokenizerBin } from "../tools/convert/llama2c-export.ts";

const cfg: ModelConfig = {
  arch: "llama", dim: 64, hiddenDim: 96, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 50, seqLen: 16,
  normEps: 1e-5, ropeTheta: 10000, sharedClassifier: false,
};

describe("llama2.c export", () => {
  for (const shared of [true, false]) {
    it(`v0 round-trips every tensor bit for bit (${shared ? "shared" : "own"} classifier)`, () => {
      const m = syntheticModel({ ...cfg, sharedClassifier: shared }, 4);
      const back = readLlama2c(writeLlama2cV0(m), "v0");
      expect(back.config).toMatchObject({ dim: 64, hiddenDim: 96, nLayers: 2, nHeads: 4, nKvHeads: 2, vocabSize: 50, seqLen: 16, sharedClassifier: shared });
      expect(back.weights.tokenEmbedding).toEqual(m.weights.tokenEmbedding);
      expect(back.weights.classifier).toEqual(m.weights.classifier);
      expect(back.weights.finalNorm).toEqual(m.weights.finalNorm);
      for (const k of ["attnNorm", "wq", "wk", "wv", "wo", "ffnNorm", "w1", "w2", "w3"] as const)
        m.weights.layers.forEach((l, i) => expect(back.weights.layers[i][k], `${k} ${i}`).toEqual(l[k]));
    });
  }

  it("v2 holds the project's Q8_0 values and scales, matrix by matrix", () => {
    const m = syntheticModel(cfg, 5);
    const back = readLlama2c(writeLlama2cV2(m, 32), "v2");
    const q = (x: Float32Array) => dequantizeQ8(quantizeQ8(x, 32), 32);
    expect(back.weights.tokenEmbedding).toEqual(q(m.weights.tokenEmbedding));
    expect(back.weights.classifier).toEqual(q(m.weights.classifier));
    expect(back.weights.layers[1].w2).toEqual(q(m.weights.layers[1].w2));
    expect(back.weights.layers[0].attnNorm).toEqual(m.weights.layers[0].attnNorm);
  });

  it("refuses what llama2.c cannot run, in one line", () => {
    const gpt2 = syntheticModel({ ...cfg, arch: "gpt2", norm: "layer", activation: "gelu", biases: true, learnedPositions: true, rotaryDims: 0 }, 1);
    expect(() => writeLlama2cV0(gpt2)).toThrow(/Llama-shaped models only/);
    expect(() => writeLlama2cV2(syntheticModel(cfg, 1), 24)).toThrow(/group size 24 must divide dim 64 and hidden_dim 96/);
  });

  it("writes tokenizer.bin as run.c reads it", () => {
    const pieces = ["<unk>", "<s>", "</s>", "a", "bc"].map((p) => new TextEncoder().encode(p));
    const tok = readTokenizer(writeTokenizerBin(pieces, [0, 0, 0, -1, -2]), "tok", 5);
    expect(tok.decodeAll([1, 3, 4])).toBe("abc");
  });
});
