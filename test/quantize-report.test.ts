// quantize-report: the binary16 and Q4_0 round trips, the report on a synthetic model (tensor errors, logit
// effects, K-cache amplification by an ill-conditioned W_K), and the command as a user runs it.
import { describe, it, expect, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dequantizeQ4, quantizeQ4, roundF16, roundTrip } from "../host/core/quant.ts";
import { syntheticModel } from "../host/core/synthetic.ts";
import type { Model, ModelConfig } from "../host/core/model.ts";
import { quantizationReport, type QuantizationReport } from "../tools/convert/quantize-report.ts";
import { randomLlamaWeights, writeV1, type Llama2cDims } from "./fixtures/llama2c-writer.ts";

describe("roundF16", () => {
  it("keeps values representable in binary16 exactly", () => {
    const exact = [
      0, -0, 1, -2, 0.5, 1 + 2 ** -10, 2047, 2048, 2050, 65504, -65504, // normals, incl. the largest
      2 ** -14, -(2 ** -14), 2 ** -24, 3 * 2 ** -24, 1023 * 2 ** -24, // smallest normal, subnormals
      0.333251953125, // 1365 · 2⁻¹²
    ];
    for (const x of exact) expect(Object.is(roundF16(x), x), String(x)).toBe(true);
    const f32 = Float32Array.from(exact);
    expect(roundTrip(f32, "f16", 32)).toEqual(f32);
  });

  it("rounds to nearest, ties to even, through subnormals and into overflow", () => {
    expect(roundF16(1 + 2 ** -11)).toBe(1); // tie, 1 is even
    expect(roundF16(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9); // tie, rounds up to even
    expect(roundF16(1 + 2 ** -11 + 2 ** -30)).toBe(1 + 2 ** -10); // just past the tie
    expect(roundF16(2049)).toBe(2048); // spacing 2 above 2048: tie to even
    expect(roundF16(2051)).toBe(2052);
    expect(roundF16(2 ** -25)).toBe(0); // half the smallest subnormal: tie to 0
    expect(roundF16(3 * 2 ** -26)).toBe(2 ** -24);
    expect(roundF16(-(5 * 2 ** -26))).toBe(-(2 ** -24)); // 1.25 · 2⁻²⁴
    expect(roundF16(65519)).toBe(65504);
    expect(roundF16(65520)).toBe(Infinity); // halfway to 2¹⁶ rounds to even, which overflows
    expect(roundF16(-1e6)).toBe(-Infinity);
    expect(roundF16(0.1)).toBe(0.0999755859375);
  });
});

describe("quantizeQ4", () => {
  it("uses the signed max / −8 as scale and clamps to −8..7", () => {
    // group of 8: the largest magnitude is +4, so scale = −0.5 and +4 maps to −8
    const x = Float32Array.from([4, -4, 0.25, -0.25, 0.75, 1, -3.3, 2.2]);
    const q = quantizeQ4(x, 8);
    expect(Array.from(q.scales)).toEqual([-0.5]);
    // x / scale = −8, 8 → clamped 7, −0.5 → −0 (tie to even), 0.5 → 0, −1.5 → −2, −2, 6.6 → 7, −4.4 → −4
    expect(Array.from(q.values)).toEqual([-8, 7, 0, 0, -2, -2, 7, -4]);
    expect(Array.from(dequantizeQ4(q, 8), (v) => v + 0)).toEqual([4, -3.5, 0, 0, 1, 1, -3.5, 2]); // q = 0 reads back −0
    expect(roundTrip(x, "q4_0", 8)).toEqual(dequantizeQ4(q, 8));
  });

  it("gives an all-zero group a zero scale", () => {
    const q = quantizeQ4(new Float32Array(4), 4);
    expect(Array.from(q.scales)).toEqual([0]);
    expect(Array.from(dequantizeQ4(q, 4))).toEqual([0, 0, 0, 0]);
  });
});

const config: ModelConfig = {
  arch: "llama", dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: 48, seqLen: 64,
  normEps: 1e-5, ropeTheta: 10000, sharedClassifier: true,
};
const prompt = [1, 5, 9, 2, 2, 14, 0, 3, 17, 30, 41, 8];

/** Layer 1's W_K with one column scaled by 1e-4: inputs along it barely reach k, so W_KV must undo that. */
function modelWithBadLayer(): Model {
  const m = syntheticModel(config, 7);
  const wk = m.weights.layers[1].wk;
  for (let i = 0; i < config.dim; i++) wk[i * config.dim + 5] *= 1e-4;
  return m;
}

describe("quantizationReport", () => {
  let r: QuantizationReport;
  beforeAll(() => {
    r = quantizationReport(modelWithBadLayer(), prompt, { weights: ["f16", "q8_0", "q4_0"], kCaches: ["f16", "q8"] });
  });

  it("orders per-tensor errors q4_0 > q8_0 > f16 > 0", () => {
    const names = [...new Set(r.tensors.map((t) => t.tensor))];
    expect(names).toContain("token_embedding");
    expect(names).toContain("layers.1.wkv");
    // the ill-conditioned layer's W_KV has entries beyond binary16's 65504: f16 cannot hold it at all
    const wkv = (d: string) => r.tensors.find((t) => t.tensor === "layers.1.wkv" && t.dtype === d)!;
    expect(wkv("f16").maxAbsError).toBe(Infinity);
    expect(wkv("q8_0").relError).toBeLessThan(wkv("q4_0").relError);
    for (const name of names.filter((n) => n !== "layers.1.wkv")) {
      const [f16, q8, q4] = (["f16", "q8_0", "q4_0"] as const).map((d) => r.tensors.find((t) => t.tensor === name && t.dtype === d)!);
      expect(f16.relError, name).toBeGreaterThan(0);
      expect(q8.relError, name).toBeGreaterThan(f16.relError);
      expect(q4.relError, name).toBeGreaterThan(q8.relError);
      expect(q4.maxAbsError, name).toBeGreaterThan(q8.maxAbsError);
      expect(f16.relError).toBeLessThan(2 ** -11); // half an ulp, relative
    }
  });

  it("measures each layer's and the whole model's effect on the logits", () => {
    expect(r.logits.map((x) => x.layer)).toEqual([0, 1, null, 0, 1, null, 0, 1, null]);
    const whole = (d: string) => r.logits.find((x) => x.layer === null && x.dtype === d)!;
    expect(whole("q4_0").vanilla).toBeGreaterThan(whole("q8_0").vanilla);
    expect(whole("q8_0").vanilla).toBeGreaterThan(whole("f16").vanilla);
    expect(whole("f16").vanilla).toBeGreaterThan(0);
    // the ill-conditioned layer: quantized W_K and W_KV cost far more than keeping them f32 as the decoder does
    const bad = r.logits.find((x) => x.layer === 1 && x.dtype === "q8_0")!;
    expect(bad.slimAll!).toBeGreaterThan(10 * bad.slimKeepF32!);
    expect(bad.slimKeepF32!).toBeLessThan(2 * bad.vanilla);
  });

  it("shows the ill-conditioned W_K amplifying q8 K-cache error into V, and keeps that layer vanilla", () => {
    const at = (layer: number, k: string) => r.caches.find((x) => x.layer === layer && x.kCache === k)!;
    const good = at(0, "q8");
    const bad = at(1, "q8");
    expect(bad.cond!).toBeGreaterThan(1e3);
    expect(bad.cond!).toBeGreaterThan(100 * good.cond!);
    expect(bad.amplification!).toBeGreaterThan(30 * good.amplification!);
    expect(bad.amplification).toBeCloseTo(bad.slimError! / bad.vanillaError!, 10);
    expect(bad.maxAbsWkv!).toBeGreaterThan(good.maxAbsWkv!);
    expect(bad.mode).toBe("vanilla");
    expect(bad.reason).toMatch(/q8 cache rows/);
    expect(good.vanillaError!).toBeGreaterThan(at(0, "f16").vanillaError!); // q8 rows are coarser than f16
  });
});

describe("slimedge quantize-report", () => {
  const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");
  const dir = mkdtempSync(join(tmpdir(), "slimedge-qr-"));
  const dims: Llama2cDims = { dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: 40, seqLen: 64 };
  const run = (...args: string[]) => spawnSync(process.execPath, [bin, "quantize-report", ...args], { encoding: "utf8", timeout: 60_000 });
  beforeAll(() => writeFileSync(join(dir, "model.bin"), writeV1(dims, randomLlamaWeights(dims, 3))));

  it("prints the three tables and writes the JSON", () => {
    const out = join(dir, "report.json");
    const r = run(join(dir, "model.bin"), "--weights", "q8_0,q4_0", "--cache", "q8", "--json", out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^1\. weight round trip per tensor/m);
    expect(r.stdout).toMatch(/^tensor +q8_0 rel +q8_0 max +q4_0 rel +q4_0 max$/m);
    expect(r.stdout).toMatch(/^2\. effect on the logits: .* over 32 prompt positions/m); // no tokenizer: ids 1..32
    expect(r.stdout).toMatch(/^all +\S+ +\S+ +\S+ +\S+ +\S+ +\S+$/m);
    expect(r.stdout).toMatch(/^3\. K-cache rounding/m);
    expect(r.stdout).toMatch(/^layer +kcache +V err slim +V err vanilla +amplification +max\|W_KV\| +cond\(W_K\) +slimify$/m);
    expect(r.stdout).toMatch(/^ {2}q8: /m);
    const json = JSON.parse(readFileSync(out, "utf8")) as QuantizationReport;
    expect(json.weights).toEqual(["q8_0", "q4_0"]);
    expect(json.caches).toHaveLength(2);
    expect(existsSync(`${out}.tmp-${r.pid}`)).toBe(false);
  });

  it("without -p decides on the calibration set, as plan does; -p names its own prompt", () => {
    // slimedge-tiny-v2 at q8 cache rows: plan keeps layer 5's V-cache (test/calibration.test.ts); the short
    // default prompt quantize-report used to measure kept layers 1, 2 and 5.
    const v2 = join(import.meta.dirname, "..", "models", "slimedge-tiny-v2", "model.bin");
    const r = run(v2, "--weights", "q8_0", "--cache", "q8");
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^measured on the calibration prompt \(as plan\): \d+ positions$/m);
    expect(r.stdout).toMatch(/^ {2}q8: layer 5$/m);
    const p = run(v2, "--weights", "q8_0", "--cache", "q8", "-p", "Once upon a time");
    expect(p.status, p.stderr).toBe(0);
    expect(p.stdout).toMatch(/^measured on the -p prompt: \d+ positions$/m);
  }, 120_000);

  it("refuses an unknown dtype in one line", () => {
    const r = run(join(dir, "model.bin"), "--weights", "q8_0,q3_k");
    expect(r.status).toBe(2);
    expect(r.stderr.trim().split("\n")).toEqual([expect.stringMatching(/--weights: unknown dtype "q3_k"/)]);
  });
});
