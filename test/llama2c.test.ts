import { mkdtempSync, writeFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SlimError } from "../host/core/errors.ts";
import { kvDim, type Model } from "../host/core/model.ts";
import { loadLlama2c, readLlama2c } from "../tools/convert/llama2c.ts";
import {
  dequantizedQ80,
  layerSlice,
  LAYER_MATRICES,
  randomLlamaWeights,
  writeV0,
  writeV1,
  writeV2,
  type Llama2cDims,
  type Llama2cWeights,
} from "./fixtures/llama2c-writer.ts";

const MHA: Llama2cDims = { dim: 16, hiddenDim: 40, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: 24, seqLen: 8 };
const GQA: Llama2cDims = { ...MHA, nHeads: 4, nKvHeads: 2 };

const LAYER_FIELDS = { wq: "wq", wk: "wk", wv: "wv", wo: "wo", w1: "w1", w2: "w2", w3: "w3" } as const;

/** Expects a model to hold exactly `expect` (a function of each tensor) everywhere. */
function expectWeights(model: Model, cfg: Llama2cDims, w: Llama2cWeights, shared: boolean, map = (x: Float32Array) => x) {
  const mw = model.weights;
  expect(mw.tokenEmbedding).toEqual(map(w.token_embedding_table));
  expect(mw.finalNorm).toEqual(w.rms_final_weight);
  expect(mw.layers).toHaveLength(cfg.nLayers);
  for (let l = 0; l < cfg.nLayers; l++) {
    const layer = mw.layers[l];
    expect(layer.attnNorm).toEqual(layerSlice(w.rms_att_weight, cfg.nLayers, l));
    expect(layer.ffnNorm).toEqual(layerSlice(w.rms_ffn_weight, cfg.nLayers, l));
    for (const kind of LAYER_MATRICES) {
      expect(layer[LAYER_FIELDS[kind]], `layer ${l} ${kind}`).toEqual(map(layerSlice(w[kind], cfg.nLayers, l)));
    }
  }
  if (shared) expect(mw.classifier).toBe(mw.tokenEmbedding);
  else expect(mw.classifier).toEqual(map(w.wcls));
}

function expectConfig(model: Model, cfg: Llama2cDims, shared: boolean) {
  expect(model.config).toEqual({
    arch: "llama",
    dim: cfg.dim,
    hiddenDim: cfg.hiddenDim,
    nLayers: cfg.nLayers,
    nHeads: cfg.nHeads,
    nKvHeads: cfg.nKvHeads,
    vocabSize: cfg.vocabSize,
    seqLen: cfg.seqLen,
    normEps: 1e-5,
    ropeTheta: 10000,
    sharedClassifier: shared,
  });
}

/** The SlimError a call throws; fails the test on any other outcome. */
function formatError(fn: () => unknown): SlimError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SlimError);
    expect((err as SlimError).code).toBe("E_FORMAT");
    return err as SlimError;
  }
  throw new Error("expected a SlimError, but nothing was thrown");
}

const setI32 = (bytes: Uint8Array, at: number, v: number) => new DataView(bytes.buffer, bytes.byteOffset).setInt32(at, v, true);

describe("readLlama2c", () => {
  const w = randomLlamaWeights(MHA, 1);
  const wGqa = randomLlamaWeights(GQA, 2);

  describe("v0 (legacy)", () => {
    it("round-trips a shared classifier exactly", () => {
      const model = readLlama2c(writeV0(MHA, w), "model.bin");
      expectConfig(model, MHA, true);
      expectWeights(model, MHA, w, true);
    });

    it("reads a negative vocab_size as an unshared classifier stored after the RoPE tables", () => {
      const model = readLlama2c(writeV0(MHA, w, { sharedClassifier: false }), "model.bin");
      expectConfig(model, MHA, false);
      expectWeights(model, MHA, w, false);
    });

    it("reads GQA with kvDim-shaped wk and wv", () => {
      const model = readLlama2c(writeV0(GQA, wGqa, { sharedClassifier: false }), "model.bin");
      expect(kvDim(model.config)).toBe(8);
      expect(model.weights.layers[0].wk).toHaveLength(8 * GQA.dim);
      expect(model.weights.layers[1].wv).toHaveLength(8 * GQA.dim);
      expectWeights(model, GQA, wGqa, false);
    });
  });

  describe("v1", () => {
    it("round-trips a shared classifier exactly", () => {
      const model = readLlama2c(writeV1(MHA, w), "model.bin");
      expectConfig(model, MHA, true);
      expectWeights(model, MHA, w, true);
    });

    it("reads shared_classifier=0 as an unshared classifier at the end", () => {
      const model = readLlama2c(writeV1(MHA, w, { sharedClassifier: false }), "model.bin");
      expectConfig(model, MHA, false);
      expectWeights(model, MHA, w, false);
    });

    it("reads GQA with kvDim-shaped wk and wv", () => {
      const model = readLlama2c(writeV1(GQA, wGqa), "model.bin");
      expect(model.weights.layers[0].wk).toHaveLength(kvDim(model.config) * GQA.dim);
      expectWeights(model, GQA, wGqa, true);
    });
  });

  describe("v2 (Q8_0)", () => {
    const dequant = (gs: number) => (x: Float32Array) => dequantizedQ80(x, gs);

    it("dequantizes every tensor to exactly int8 × scale", () => {
      const model = readLlama2c(writeV2(MHA, w, { groupSize: 8 }), "model.bin");
      expectConfig(model, MHA, true);
      expectWeights(model, MHA, w, true, dequant(8));
    });

    it("reads an unshared classifier quantized after w3", () => {
      const model = readLlama2c(writeV2(MHA, w, { groupSize: 16, sharedClassifier: false }), "model.bin");
      expectConfig(model, MHA, false);
      expectWeights(model, MHA, w, false, dequant(16));
    });

    it("reads GQA with kvDim-shaped wk and wv", () => {
      const model = readLlama2c(writeV2(GQA, wGqa, { groupSize: 8 }), "model.bin");
      expect(model.weights.layers[1].wk).toHaveLength(kvDim(model.config) * GQA.dim);
      expectWeights(model, GQA, wGqa, true, dequant(8));
    });

    it("keeps the quantization error within half a step of each group", () => {
      const model = readLlama2c(writeV2(MHA, w, { groupSize: 8 }), "model.bin");
      const orig = layerSlice(w.w2, MHA.nLayers, 1);
      const got = model.weights.layers[1].w2;
      for (let g = 0; g < orig.length / 8; g++) {
        const group = orig.subarray(g * 8, g * 8 + 8);
        const step = Math.max(...group.map(Math.abs)) / 127;
        group.forEach((v, i) => expect(Math.abs(got[g * 8 + i] - v)).toBeLessThanOrEqual(step / 2 + 1e-7));
      }
    });
  });

  describe("bad input", () => {
    const files = {
      v0: writeV0(MHA, w),
      v1: writeV1(MHA, w, { sharedClassifier: false }),
      v2: writeV2(MHA, w, { groupSize: 8 }),
    };

    for (const [version, bytes] of Object.entries(files)) {
      const cuts = [0, 3, 12, 27, 40, 255, 256, 300, bytes.length - 1].filter((n) => n < bytes.length);
      for (const cut of cuts) {
        it(`rejects a ${version} file cut to ${cut} bytes`, () => {
          const err = formatError(() => readLlama2c(bytes.slice(0, cut), "tiny.bin"));
          expect(err.message).toContain("tiny.bin");
          expect(err.message).toMatch(/truncated|too short|shorter/);
        });
      }
    }

    it("says how many bytes the header needs and how many the file has", () => {
      const err = formatError(() => readLlama2c(files.v1.slice(0, files.v1.length - 4), "model.bin"));
      expect(err.message).toContain(`needs ${files.v1.length} bytes`);
      expect(err.message).toContain(`file has ${files.v1.length - 4}`);
      expect(err.message).toContain("dim=16");
    });

    it("rejects trailing bytes the header does not account for", () => {
      const longer = new Uint8Array(files.v2.length + 64);
      longer.set(files.v2);
      const err = formatError(() => readLlama2c(longer, "model.bin"));
      expect(err.message).toContain("group_size=8");
      expect(err.message).toContain("does not match");
    });

    it("names the magic when a versioned file's magic is wrong", () => {
      const bytes = files.v1.slice();
      bytes.set([0x58, 0x58, 0x58, 0x58], 0);
      const err = formatError(() => readLlama2c(bytes, "model.bin"));
      expect(err.message).toContain("model.bin");
      expect(err.message).toContain("magic");
    });

    it("recognises a GGUF file by its magic", () => {
      const bytes = new Uint8Array(64);
      bytes.set([0x47, 0x47, 0x55, 0x46], 0);
      const err = formatError(() => readLlama2c(bytes, "model.gguf"));
      expect(err.message).toContain("model.gguf");
      expect(err.message).toContain("GGUF");
    });

    it("rejects an unknown version", () => {
      const bytes = files.v1.slice();
      setI32(bytes, 4, 7);
      const err = formatError(() => readLlama2c(bytes, "model.bin"));
      expect(err.message).toContain("model.bin");
      expect(err.message).toContain("version is 7");
    });

    it("rejects header dims that disagree with the file size", () => {
      for (const [version, bytes] of Object.entries(files)) {
        const wrong = bytes.slice();
        setI32(wrong, version === "v0" ? 4 : 12, MHA.hiddenDim + 8); // hidden_dim
        const err = formatError(() => readLlama2c(wrong, "model.bin"));
        expect(err.message, version).toContain("model.bin");
        expect(err.message, version).toContain(`hidden_dim=${MHA.hiddenDim + 8}`);
      }
    });

    it("rejects dim not divisible by n_heads", () => {
      const bytes = files.v1.slice();
      setI32(bytes, 20, 5); // n_heads
      setI32(bytes, 24, 5); // n_kv_heads
      const err = formatError(() => readLlama2c(bytes, "model.bin"));
      expect(err.message).toContain("model.bin");
      expect(err.message).toContain("n_heads=5");
      expect(err.message).toContain("dim=16");
    });

    it("rejects n_heads not divisible by n_kv_heads", () => {
      const bytes = files.v0.slice();
      setI32(bytes, 16, 3); // n_kv_heads
      const err = formatError(() => readLlama2c(bytes, "model.bin"));
      expect(err.message).toContain("n_kv_heads=3");
    });

    it("rejects an odd head size, which RoPE cannot rotate", () => {
      const bytes = files.v1.slice();
      setI32(bytes, 8, 12); // dim 12 over 4 heads
      const err = formatError(() => readLlama2c(bytes, "model.bin"));
      expect(err.message).toContain("head size 3");
    });

    it("rejects non-positive header fields", () => {
      for (const [field, at] of [["n_layers", 16], ["seq_len", 32], ["vocab_size", 28]] as const) {
        const bytes = files.v1.slice();
        setI32(bytes, at, field === "seq_len" ? -1 : 0);
        const err = formatError(() => readLlama2c(bytes, "model.bin"));
        expect(err.message).toContain(`field ${field}`);
      }
    });

    it("rejects a shared_classifier flag other than 0 or 1", () => {
      const bytes = files.v1.slice();
      bytes[36] = 2;
      expect(formatError(() => readLlama2c(bytes, "model.bin")).message).toContain("shared_classifier is 2");
    });

    it("rejects a group size that does not divide the tensors", () => {
      for (const gs of [0, -8, 7]) {
        const bytes = files.v2.slice();
        new DataView(bytes.buffer).setInt32(37, gs, true);
        expect(formatError(() => readLlama2c(bytes, "model.bin")).message).toContain("group_size");
      }
    });

    it("never throws anything but SlimError on random corruption", () => {
      let seed = 12345;
      const next = () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0);
      for (let trial = 0; trial < 200; trial++) {
        const bytes = Object.values(files)[trial % 3].slice(0, 512);
        for (let k = 0; k < 4; k++) bytes[next() % 40] = next() & 0xff;
        try {
          readLlama2c(bytes, "fuzz.bin");
        } catch (err) {
          expect(err).toBeInstanceOf(SlimError);
        }
      }
    });
  });
});

describe("loadLlama2c", () => {
  const dir = mkdtempSync(join(tmpdir(), "slimedge-llama2c-"));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it("reads a checkpoint from disk", () => {
    const w = randomLlamaWeights(GQA, 3);
    const path = join(dir, "stories.bin");
    writeFileSync(path, writeV1(GQA, w));
    expectWeights(loadLlama2c(path), GQA, w, true);
  });

  it("names a missing file with E_FILE", () => {
    const path = join(dir, "missing.bin");
    expect(() => loadLlama2c(path)).toThrow(expect.objectContaining({ code: "E_FILE", message: expect.stringContaining(path) }));
  });

  it("names the path in format errors", () => {
    const path = join(dir, "short.bin");
    writeFileSync(path, new Uint8Array(10));
    expect(() => loadLlama2c(path)).toThrow(expect.objectContaining({ code: "E_FORMAT", message: expect.stringContaining(path) }));
  });
});
