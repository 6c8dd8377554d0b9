/**
 * Hugging Face importers, each on checkpoints written by test/fixtures/safetensors-writer.ts from the
 * format description and transformers' tensor names. Logits are the proof: the imported Model (our layout)
 * through an oracle in our convention must match an oracle run on the raw checkpoint in ITS convention
 * (rotate_half, Conv1D, per-head fused q/k/v) to float64 rounding, so every transpose and permutation the
 * importer makes is checked end to end.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { archOf, type Model } from "../host/core/model.ts";
import { importHfGpt2 } from "../tools/convert/hf-gpt2.ts";
import { halvesToPairs, importHfLlama } from "../tools/convert/hf-llama.ts";
import { importHfNeox } from "../tools/convert/hf-neox.ts";
import { importHuggingFace } from "../tools/convert/huggingface.ts";
import { importModel } from "../tools/convert/import.ts";
import { referenceLogits } from "./reference.ts";
import { referenceCanonical, referenceHfGpt2, referenceHfLlama, referenceHfNeox } from "./reference-arch.ts";
import {
  randomHfGpt2,
  randomHfLlama,
  randomHfNeox,
  writeHfCheckpoint,
  writeSafetensors,
  encode,
  type HfCheckpointFixture,
  type HfGpt2Shape,
  type HfLlamaShape,
  type HfNeoxShape,
} from "./fixtures/safetensors-writer.ts";
import { fixedTokens, logitsRatio, slimError } from "./helpers.ts";

const root = mkdtempSync(join(tmpdir(), "slimedge-hf-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
let folders = 0;
const folder = () => join(root, `ck${folders++}`);

/** Float64 agreement of two oracles: they differ only by the order of additions. */
const ROUNDING = 1e-9;

function worstRatio(got: Float64Array[], want: Float64Array[]): number {
  expect(got).toHaveLength(want.length);
  return Math.max(...got.map((g, i) => logitsRatio(g, want[i])));
}

const LLAMA: HfLlamaShape = { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4, vocab_size: 40, max_position_embeddings: 16 };
const GPT2: HfGpt2Shape = { n_embd: 24, n_head: 4, n_layer: 2, n_positions: 16, vocab_size: 30 };
const NEOX: HfNeoxShape = { hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 96, vocab_size: 36, max_position_embeddings: 16, rotary_pct: 0.5 };

describe("halvesToPairs", () => {
  it("moves row i of each head to 2i and row i + r/2 to 2i + 1, leaving pass-through rows", () => {
    // 2 heads of 6 dims, rotary 4, one column: row value = its index
    const w = Float32Array.from({ length: 12 }, (_, i) => i);
    expect([...halvesToPairs(w, 2, 6, 4, 1)]).toEqual([0, 2, 1, 3, 4, 5, 6, 8, 7, 9, 10, 11]);
    expect([...halvesToPairs(w, 2, 6, 6, 1)]).toEqual([0, 3, 1, 4, 2, 5, 6, 9, 7, 10, 8, 11]);
  });
});

describe("referenceCanonical", () => {
  it("agrees with test/reference.ts on Llama-shaped models", () => {
    const ck = randomHfLlama({ ...LLAMA, num_key_value_heads: 2 }, 11);
    const dir = folder();
    writeHfCheckpoint(dir, ck);
    const model = importHfLlama(dir);
    const tokens = fixedTokens(LLAMA.vocab_size, 7);
    expect(worstRatio(referenceCanonical(model, tokens), referenceLogits(model, tokens))).toBeLessThan(ROUNDING);
  });
});

describe("importHfLlama", () => {
  const tokens = fixedTokens(LLAMA.vocab_size, 9, 3);

  function importAndCompare(ck: HfCheckpointFixture, dtype: "F32" | "F16" | "BF16" = "F32"): { model: Model; ratio: number } {
    const dir = folder();
    const stored = writeHfCheckpoint(dir, ck, { dtype });
    const model = importHfLlama(dir);
    return { model, ratio: worstRatio(referenceLogits(model, tokens), referenceHfLlama(ck.config, stored, tokens)) };
  }

  it("MHA: the standard oracle on our layout matches rotate_half on the HF layout", () => {
    const ck = randomHfLlama(LLAMA, 1);
    const { model, ratio } = importAndCompare(ck);
    expect(ratio).toBeLessThan(ROUNDING);
    expect(model.config).toEqual({
      arch: "llama",
      dim: 32,
      hiddenDim: 64,
      nLayers: 2,
      nHeads: 4,
      nKvHeads: 4,
      vocabSize: 40,
      seqLen: 16,
      normEps: 1e-5,
      ropeTheta: 10000,
      sharedClassifier: false,
    });
    // untouched tensors are the file's values, exactly
    expect(model.weights.layers[1].wv).toEqual(ck.tensors.get("model.layers.1.self_attn.v_proj.weight")!.values);
    expect(model.weights.classifier).toEqual(ck.tensors.get("lm_head.weight")!.values);
  });

  it("GQA (4 query heads sharing 2 key/value heads), rope_theta and eps from config.json", () => {
    const ck = randomHfLlama({ ...LLAMA, num_key_value_heads: 2, rope_theta: 500000, rms_norm_eps: 1e-6 }, 2);
    const { model, ratio } = importAndCompare(ck);
    expect(ratio).toBeLessThan(ROUNDING);
    expect(model.config).toMatchObject({ nKvHeads: 2, ropeTheta: 500000, normEps: 1e-6 });
  });

  it("MQA with a tied classifier and F16 storage", () => {
    const ck = randomHfLlama({ ...LLAMA, num_key_value_heads: 1, tie_word_embeddings: true }, 3);
    const { model, ratio } = importAndCompare(ck, "F16");
    expect(ratio).toBeLessThan(ROUNDING);
    expect(model.config.sharedClassifier).toBe(true);
    expect(model.weights.classifier).toBe(model.weights.tokenEmbedding);
  });

  it("BF16 storage", () => {
    expect(importAndCompare(randomHfLlama(LLAMA, 4), "BF16").ratio).toBeLessThan(ROUNDING);
  });

  it("the comparison is sensitive: skipping the q/k permutation changes the logits", () => {
    const ck = randomHfLlama(LLAMA, 1);
    const { model } = importAndCompare(ck);
    const unpermuted: Model = {
      config: model.config,
      weights: {
        ...model.weights,
        layers: model.weights.layers.map((l, i) => ({
          ...l,
          wq: ck.tensors.get(`model.layers.${i}.self_attn.q_proj.weight`)!.values,
          wk: ck.tensors.get(`model.layers.${i}.self_attn.k_proj.weight`)!.values,
        })),
      },
    };
    const stored = new Map([...ck.tensors].map(([k, v]) => [k, v.values]));
    expect(worstRatio(referenceLogits(unpermuted, tokens), referenceHfLlama(ck.config, stored, tokens))).toBeGreaterThan(1e-3);
  });

  it("reads sharded checkpoints through model.safetensors.index.json", () => {
    const ck = randomHfLlama(LLAMA, 5);
    const dir = folder();
    writeHfCheckpoint(dir, ck);
    rmSync(join(dir, "model.safetensors"));
    const names = [...ck.tensors.keys()];
    const shards = [names.slice(0, 10), names.slice(10)];
    const weightMap: Record<string, string> = {};
    shards.forEach((part, s) => {
      const file = `model-0000${s + 1}-of-00002.safetensors`;
      writeFileSync(join(dir, file), writeSafetensors(part.map((n) => ({ name: n, dtype: "F32", shape: ck.tensors.get(n)!.shape, data: encode(ck.tensors.get(n)!.values, "F32").data }))));
      for (const n of part) weightMap[n] = file;
    });
    writeFileSync(join(dir, "model.safetensors.index.json"), JSON.stringify({ metadata: {}, weight_map: weightMap }));
    const model = importHfLlama(dir);
    const stored = new Map([...ck.tensors].map(([k, v]) => [k, v.values]));
    expect(worstRatio(referenceLogits(model, tokens), referenceHfLlama(ck.config, stored, tokens))).toBeLessThan(ROUNDING);
  });

  describe("broken or unsupported checkpoints", () => {
    const ck = randomHfLlama(LLAMA, 6);

    it("a missing tensor", () => {
      const dir = folder();
      writeHfCheckpoint(dir, ck, { omit: ["model.layers.1.mlp.up_proj.weight"] });
      expect(slimError(() => importHfLlama(dir), "E_FORMAT").message).toBe(`${join(dir, "model.safetensors")}: tensor model.layers.1.mlp.up_proj.weight (layer 1 up projection) is missing.`);
    });

    it("lm_head missing while tie_word_embeddings is false", () => {
      const dir = folder();
      writeHfCheckpoint(dir, ck, { omit: ["lm_head.weight"] });
      expect(slimError(() => importHfLlama(dir), "E_FORMAT").message).toMatch(/tensor lm_head\.weight \(classifier \(tie_word_embeddings is false\)\) is missing/);
    });

    it("a tensor shape that disagrees with config.json", () => {
      const dir = folder();
      writeHfCheckpoint(dir, ck, { config: { num_key_value_heads: 2 } });
      const e = slimError(() => importHfLlama(dir), "E_FORMAT");
      expect(e.message).toBe(
        `${join(dir, "model.safetensors")}: tensor model.layers.0.self_attn.k_proj.weight (layer 0 key projection) has shape [32, 32], but ${join(dir, "config.json")} (hidden_size=32, num_attention_heads=4, num_key_value_heads=2) implies [16, 32].`,
      );
    });

    it("inconsistent config fields", () => {
      const dir = folder();
      writeHfCheckpoint(dir, ck, { config: { num_attention_heads: 5 } });
      expect(slimError(() => importHfLlama(dir), "E_FORMAT").message).toBe(`${join(dir, "config.json")}: hidden_size=32 is not divisible by num_attention_heads=5, so heads cannot have equal size.`);
      const dir2 = folder();
      writeHfCheckpoint(dir2, ck, { config: { num_key_value_heads: 3 } });
      expect(slimError(() => importHfLlama(dir2), "E_FORMAT").message).toMatch(/num_attention_heads=4 is not divisible by num_key_value_heads=3/);
    });

    it("num_hidden_layers (and n_layer) out of the shared range, or more layers than the file holds: refused before a tensor is converted", () => {
      const dir = folder();
      writeHfCheckpoint(dir, ck, { config: { num_hidden_layers: 100_000 } });
      expect(slimError(() => importHfLlama(dir), "E_FORMAT").message).toBe(`${join(dir, "config.json")}: field num_hidden_layers is 100000, expected between 1 and 1024.`);
      const dir2 = folder();
      writeHfCheckpoint(dir2, ck, { config: { num_hidden_layers: 3 } });
      expect(slimError(() => importHfLlama(dir2), "E_FORMAT").message).toBe(
        `${join(dir2, "config.json")}: field num_hidden_layers is 3, but the file holds no tensor of layer 2 (model.layers.2.*); is it truncated, or the field wrong?`,
      );
      const dir3 = folder();
      writeHfCheckpoint(dir3, ck, { config: { max_position_embeddings: 2 ** 30 } });
      expect(slimError(() => importHfLlama(dir3), "E_FORMAT").message).toBe(`${join(dir3, "config.json")}: field max_position_embeddings is 1073741824, expected between 1 and 16777216.`);
      const gpt = folder();
      writeHfCheckpoint(gpt, randomHfGpt2(GPT2, 3), { config: { n_layer: 5000 } });
      expect(slimError(() => importHfGpt2(gpt), "E_FORMAT").message).toBe(`${join(gpt, "config.json")}: field n_layer is 5000, expected between 1 and 1024.`);
      const neox = folder();
      writeHfCheckpoint(neox, randomHfNeox(NEOX, 3), { config: { num_hidden_layers: 4 } });
      expect(slimError(() => importHfNeox(neox), "E_FORMAT").message).toMatch(/field num_hidden_layers is 4, but the file holds no tensor of layer 2 \(gpt_neox\.layers\.2\.\*\)/);
    });

    it("a missing or mistyped config field", () => {
      const dir = folder();
      writeHfCheckpoint(dir, ck, { config: { hidden_size: undefined } });
      expect(slimError(() => importHfLlama(dir), "E_FORMAT").message).toBe(`${join(dir, "config.json")}: field hidden_size is missing, expected a positive integer.`);
      const dir2 = folder();
      writeHfCheckpoint(dir2, ck, { config: { intermediate_size: "64" } });
      expect(slimError(() => importHfLlama(dir2), "E_FORMAT").message).toMatch(/field intermediate_size is "64", expected a positive integer/);
    });

    it("config.json that is not JSON, and a folder without weights", () => {
      const dir = folder();
      writeHfCheckpoint(dir, ck);
      writeFileSync(join(dir, "config.json"), "{ hidden_size: 32 }");
      expect(slimError(() => importHfLlama(dir), "E_FORMAT").message).toMatch(/config\.json: the model config is not valid JSON/);
      const dir2 = folder();
      writeHfCheckpoint(dir2, ck);
      rmSync(join(dir2, "model.safetensors"));
      expect(slimError(() => importHfLlama(dir2), "E_FILE").message).toMatch(/model\.safetensors: cannot read the safetensors file \(ENOENT\)/);
      writeFileSync(join(dir2, "pytorch_model.bin"), "PK");
      expect(slimError(() => importHfLlama(dir2), "E_MODEL").message).toBe(`${dir2}: holds pytorch_model.bin (a pickle) but no model.safetensors; only safetensors checkpoints are read (save with safe_serialization=True).`);
    });

    it("a truncated model.safetensors", () => {
      const dir = folder();
      writeHfCheckpoint(dir, ck);
      const path = join(dir, "model.safetensors");
      const bytes = new Uint8Array(readFileSync(path));
      writeFileSync(path, bytes.subarray(0, bytes.length - 100));
      expect(slimError(() => importHfLlama(dir), "E_FORMAT").message).toMatch(/model\.safetensors: tensor lm_head\.weight has data_offsets \[\d+, \d+\], past the \d+-byte data buffer/);
    });

    it("architecture features it does not map", () => {
      for (const [field, value, says] of [
        ["rope_scaling", { type: "linear", factor: 2 }, /field rope_scaling is .* not supported: RoPE scaling/],
        ["attention_bias", true, /field attention_bias is true, which is not supported/],
        ["hidden_act", "gelu", /field hidden_act is "gelu", which is not supported: Llama's MLP is SwiGLU/],
        ["model_type", "gpt2", /field model_type is "gpt2", which is not supported: this importer reads model_type "llama"/],
      ] as const) {
        const dir = folder();
        writeHfCheckpoint(dir, ck, { config: { [field]: value } });
        expect(slimError(() => importHfLlama(dir), "E_MODEL").message, field).toMatch(says);
      }
    });
  });
});

describe("importHfGpt2", () => {
  const tokens = fixedTokens(GPT2.vocab_size, 10, 4);

  function check(ck: HfCheckpointFixture, opts: Parameters<typeof writeHfCheckpoint>[2] = {}) {
    const dir = folder();
    const stored = writeHfCheckpoint(dir, ck, opts);
    const model = importHfGpt2(dir);
    return { model, ratio: worstRatio(referenceCanonical(model, tokens), referenceHfGpt2(ck.config, stored, tokens)) };
  }

  it("our layout matches Conv1D x @ W + b on the HF layout, with biases in every projection", () => {
    const ck = randomHfGpt2(GPT2, 1);
    const { model, ratio } = check(ck);
    expect(ratio).toBeLessThan(ROUNDING);
    expect(model.config).toMatchObject({ arch: "gpt2", dim: 24, hiddenDim: 96, nHeads: 4, nKvHeads: 4, seqLen: 16, normEps: 1e-5, sharedClassifier: true });
    expect(archOf(model.config)).toEqual({ norm: "layer", activation: "gelu_tanh", rotaryDims: 0, learnedPositions: true, parallelResidual: false, biases: true, classifierBias: false });
    const l0 = model.weights.layers[0];
    for (const b of [l0.bq, l0.bk, l0.bv, l0.bo, l0.b1, l0.b2, l0.attnNormBias, l0.ffnNormBias]) expect(b!.some((v) => v !== 0)).toBe(true);
    expect(model.weights.classifier).toBe(model.weights.tokenEmbedding);
    // c_attn (in, out) = [q | k | v] along out: our wq row r is column r of the stored weight
    const cAttn = ck.tensors.get("h.0.attn.c_attn.weight")!.values;
    expect(l0.wk[5 * 24 + 7]).toBe(cAttn[7 * 72 + 24 + 5]);
  });

  it("exact GELU, n_inner, and the 'transformer.' prefix of GPT2LMHeadModel saves, in F16", () => {
    const ck = randomHfGpt2({ ...GPT2, n_inner: 40, activation_function: "gelu" }, 2);
    const { model, ratio } = check(ck, { dtype: "F16", rename: (n) => `transformer.${n}` });
    expect(ratio).toBeLessThan(ROUNDING);
    expect(model.config).toMatchObject({ hiddenDim: 40, activation: "gelu" });
  });

  it("the comparison is sensitive: an untransposed c_attn changes the logits", () => {
    const ck = randomHfGpt2(GPT2, 1);
    const dir = folder();
    const stored = writeHfCheckpoint(dir, ck);
    const model = importHfGpt2(dir);
    const w = stored.get("h.0.attn.c_proj.weight")!;
    model.weights.layers[0].wo = w; // the stored (in, out) layout, not transposed
    expect(worstRatio(referenceCanonical(model, tokens), referenceHfGpt2(ck.config, stored, tokens))).toBeGreaterThan(1e-3);
  });

  it("refuses what it does not run, and names bad tensors", () => {
    const ck = randomHfGpt2(GPT2, 3);
    const dir = folder();
    writeHfCheckpoint(dir, ck, { config: { activation_function: "relu" } });
    expect(slimError(() => importHfGpt2(dir), "E_MODEL").message).toMatch(/field activation_function is "relu", which is not supported/);
    const dir2 = folder();
    writeHfCheckpoint(dir2, ck, { omit: ["h.1.mlp.c_fc.bias"] });
    expect(slimError(() => importHfGpt2(dir2), "E_FORMAT").message).toMatch(/tensor h\.1\.mlp\.c_fc\.bias \(layer 1 FFN up bias\) is missing/);
    const dir3 = folder();
    writeHfCheckpoint(dir3, ck, { config: { n_positions: 32 } });
    expect(slimError(() => importHfGpt2(dir3), "E_FORMAT").message).toMatch(/tensor wpe\.weight \(position embedding\) has shape \[16, 24\], but .*config\.json \(n_positions=32, n_embd=24\) implies \[32, 24\]/);
  });
});

describe("importHfNeox", () => {
  const tokens = fixedTokens(NEOX.vocab_size, 10, 5);

  function check(ck: HfCheckpointFixture, opts: Parameters<typeof writeHfCheckpoint>[2] = {}) {
    const dir = folder();
    const stored = writeHfCheckpoint(dir, ck, opts);
    const model = importHfNeox(dir);
    return { model, ratio: worstRatio(referenceCanonical(model, tokens), referenceHfNeox(ck.config, stored, tokens)) };
  }

  it("partial rotary (half of each head), parallel residual: our layout matches the HF layout", () => {
    const ck = randomHfNeox(NEOX, 1);
    const { model, ratio } = check(ck);
    expect(ratio).toBeLessThan(ROUNDING);
    expect(model.config).toMatchObject({ arch: "neox", dim: 32, hiddenDim: 96, nHeads: 4, nKvHeads: 4, ropeTheta: 10000, sharedClassifier: false });
    expect(archOf(model.config)).toEqual({ norm: "layer", activation: "gelu", rotaryDims: 4, learnedPositions: false, parallelResidual: true, biases: true, classifierBias: false });
    for (const b of ["bq", "bk", "bv", "bo", "b1", "b2"] as const) expect(model.weights.layers[1][b]!.some((v) => v !== 0), b).toBe(true);
  });

  it("Pythia's default rotary_pct 0.25, sequential residual, another rotary base, BF16", () => {
    const ck = randomHfNeox({ ...NEOX, rotary_pct: 0.25, use_parallel_residual: false, rotary_emb_base: 20000 }, 2);
    const { model, ratio } = check(ck, { dtype: "BF16" });
    expect(ratio).toBeLessThan(ROUNDING);
    expect(model.config).toMatchObject({ rotaryDims: 2, parallelResidual: false, ropeTheta: 20000 });
  });

  it("full rotary and the newer partial_rotary_factor / rope_theta field names", () => {
    const ck = randomHfNeox({ ...NEOX, rotary_pct: 1 }, 3);
    const dir = folder();
    const stored = writeHfCheckpoint(dir, ck, { config: { rotary_pct: undefined, partial_rotary_factor: 1, rotary_emb_base: undefined, rope_theta: 10000 } });
    const model = importHfNeox(dir);
    expect(model.config.rotaryDims).toBe(8);
    expect(worstRatio(referenceCanonical(model, tokens), referenceHfNeox(ck.config, stored, tokens))).toBeLessThan(ROUNDING);
  });

  it("the comparison is sensitive: reading query_key_value as [all q | all k | all v] changes the logits", () => {
    const ck = randomHfNeox(NEOX, 1);
    const dir = folder();
    const stored = writeHfCheckpoint(dir, ck);
    const model = importHfNeox(dir);
    const fused = stored.get("gpt_neox.layers.0.attention.query_key_value.weight")!;
    const d = NEOX.hidden_size;
    const l0 = model.weights.layers[0];
    l0.wq = halvesToPairs(fused.slice(0, d * d), 4, 8, 4, d);
    l0.wk = halvesToPairs(fused.slice(d * d, 2 * d * d), 4, 8, 4, d);
    l0.wv = fused.slice(2 * d * d);
    expect(worstRatio(referenceCanonical(model, tokens), referenceHfNeox(ck.config, stored, tokens))).toBeGreaterThan(1e-3);
  });

  it("refuses an odd number of rotary dims and a missing fused bias", () => {
    const ck = randomHfNeox(NEOX, 4);
    const dir = folder();
    writeHfCheckpoint(dir, ck, { config: { rotary_pct: 0.375 } });
    expect(slimError(() => importHfNeox(dir), "E_FORMAT").message).toBe(`${join(dir, "config.json")}: rotary_pct=0.375 of head size 8 gives 3 rotary dims, but RoPE rotates pairs, so it must be even.`);
    const dir2 = folder();
    writeHfCheckpoint(dir2, ck, { omit: ["gpt_neox.layers.0.attention.query_key_value.bias"] });
    expect(slimError(() => importHfNeox(dir2), "E_FORMAT").message).toMatch(/tensor gpt_neox\.layers\.0\.attention\.query_key_value\.bias \(layer 0 fused q\/k\/v bias\) is missing/);
  });
});

describe("importModel on Hugging Face folders", () => {
  it("picks the importer by model_type and brings tokenizer.json along", () => {
    const neox = folder();
    writeHfCheckpoint(neox, randomHfNeox(NEOX, 9), { dtype: "F16" });
    writeFileSync(join(neox, "tokenizer.json"), '{"pre_tokenizer": {"type": "ByteLevel"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}}');
    const imported = importModel(neox);
    expect(imported.format).toBe("Hugging Face neox checkpoint (safetensors)");
    expect(imported.model.config.arch).toBe("neox");
    expect(imported.tokenizer).toMatchObject({ kind: "bundle", source: join(neox, "tokenizer.json") });
    expect(imported.storage).toEqual({ f16: 2 * [...randomHfNeox(NEOX, 9).tensors.values()].reduce((n, t) => n + t.values.length, 0) });
    const gpt2 = folder();
    writeHfCheckpoint(gpt2, randomHfGpt2(GPT2, 9));
    expect(importModel(join(gpt2, "model.safetensors")).model.config.arch).toBe("gpt2"); // a path to the weights works too
    const llama = folder();
    writeHfCheckpoint(llama, randomHfLlama(LLAMA, 9));
    expect(importModel(join(llama, "config.json")).model.config.arch).toBe("llama");
  });

  it("names an unknown model_type", () => {
    const dir = folder();
    writeHfCheckpoint(dir, randomHfLlama(LLAMA, 9), { config: { model_type: "mamba" } });
    expect(slimError(() => importHuggingFace(dir), "E_MODEL").message).toBe(`${join(dir, "config.json")}: field model_type is "mamba", but only "llama", "qwen2", "gpt2", "gpt_neox", "phi" checkpoints are imported.`);
  });
});
