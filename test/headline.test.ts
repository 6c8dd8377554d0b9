// The headline of slimedge-tiny-v2 (models/slimedge-tiny-v2/README.md): on the ESP32-S3 profile, with q8_0
// weights, its whole 2,048-token context fits in slim mode — in `plan` (slimify's per-layer decision at f16
// keeps every layer slim) and in `run --board esp32-s3` — and the greedy text of that run matches the
// float64 oracle (test/reference.ts) with the same stored weights, f16-rounded cache rows and q8_0-rounded
// matmul inputs. The weights stay in flash there (ARCHITECTURE.md, "Weights in flash"), so RAM holds the
// caches: at f16 rows vanilla's twice-as-large cache fits too; at f32 rows only slim holds the whole context.
import { describe, it, expect } from "vitest";
import { join } from "node:path";
import { loadLlama2c } from "../tools/convert/llama2c.ts";
import { loadTokenizer, BOS, EOS } from "../host/core/tokenizer.ts";
import { roundF16, roundTrip } from "../host/core/quant.ts";
import { groupSizeFor } from "../host/core/plan.ts";
import { getBoard } from "../boards/index.ts";
import { fitReport, slimDecisions } from "../tools/package/fit.ts";
import { run } from "../host/cli/run.ts";
import { SAMPLER_DEFAULTS } from "../host/runtime/sampler.ts";
import { SlimError } from "../host/core/errors.ts";
import { Reference } from "./reference.ts";
import { readFileSync } from "node:fs";
import { readTextTokenizer } from "../host/core/tokenizers.ts";
import { calibrationTokens } from "../tools/convert/calibrate.ts";
import type { Model } from "../host/core/model.ts";

const dir = join(import.meta.dirname, "..", "models", "slimedge-tiny-v2");
const checkpoint = join(dir, "model.bin");
const model = loadLlama2c(checkpoint);
const board = getBoard("esp32-s3");
const PROMPTS = ["Once upon a time", "The committee noted with concern that", "hey where r u? i'm at the"];
const STEPS = 48;

const sink = () => {
  let text = "";
  return { stream: { write: (s: string) => ((text += s), true) } as unknown as NodeJS.WritableStream, text: () => text };
};

const flags = (prompt: string, mode: "slim" | "vanilla") => ({
  prompt, steps: STEPS, mode, temp: 0, topP: SAMPLER_DEFAULTS.topP, seed: 1, board: "esp32-s3",
  weights: "q8_0" as const, cache: "f16" as const, simd: "auto" as const, threshold: 1e-3,
});

/** The model as the decoder holds it under q8_0 with every layer slim: matrices round-tripped through q8_0, except W_K and W_V (the decoder keeps W_K and W_KV in f32). */
function storedAsQ8(m: Model): Model {
  const g = groupSizeFor(m.config);
  const q = (x: Float32Array) => roundTrip(x, "q8_0", g);
  const tokenEmbedding = q(m.weights.tokenEmbedding);
  return {
    ...m,
    weights: {
      ...m.weights,
      tokenEmbedding,
      classifier: m.weights.classifier === m.weights.tokenEmbedding ? tokenEmbedding : q(m.weights.classifier),
      layers: m.weights.layers.map((L) => ({ ...L, wq: q(L.wq), wo: q(L.wo), w1: q(L.w1), w2: q(L.w2), w3: q(L.w3!) })),
    },
  };
}

describe("slimedge-tiny-v2 on the ESP32-S3 with q8_0 weights and f16 cache rows", () => {
  it("plan: slimify keeps every layer slim at f16 (and at least half at q8); 2,048 positions fit slim; at f32 rows not vanilla", () => {
    // what `plan` shows: slimify's decisions on the model's calibration set (tools/convert/calibrate.ts)
    const decisions = slimDecisions(model, undefined, calibrationTokens(model.config, readTextTokenizer("llama2c", readFileSync(join(dir, "tokenizer.bin")), "tokenizer.bin", model.config.vocabSize)));
    expect(decisions.f16.every((m) => m === "slim")).toBe(true);
    expect(decisions.q8.filter((m) => m === "slim").length).toBeGreaterThanOrEqual(model.config.nLayers / 2);
    const r = fitReport(model.config, board, { slimLayers: decisions });
    const row = r.rows.find((x) => x.weights === "q8_0" && x.kCache === "f16")!;
    console.log(`  esp32-s3, q8_0 weights, f16 cache: slim ctx ${row.slim}, vanilla ctx ${row.vanilla} (seq_len ${model.config.seqLen})`);
    expect(row.slim).toBe(model.config.seqLen);
    expect(row.vanillaBytesPerToken).toBe(2 * row.slimBytesPerToken); // at f16 rows both fit: the weights are in flash
    const f32 = r.rows.find((x) => x.weights === "q8_0" && x.kCache === "f32")!;
    console.log(`  esp32-s3, q8_0 weights, f32 cache: slim ctx ${f32.slim}, vanilla ctx ${f32.vanilla}`);
    expect(f32.slim).toBe(model.config.seqLen);
    expect(f32.vanilla!).toBeLessThan(model.config.seqLen);
  });

  it("run --board esp32-s3: the full context runs slim, vanilla at f32 cache rows is refused as over budget", async () => {
    const out = sink();
    const err = sink();
    await run(checkpoint, flags(PROMPTS[0], "slim"), out.stream, err.stream);
    expect(err.text()).not.toMatch(/keeps its V-cache/);
    const refused = await run(checkpoint, { ...flags(PROMPTS[0], "vanilla"), cache: "f32" as const }, sink().stream, sink().stream).then(() => null, (e: unknown) => e);
    expect(refused).toBeInstanceOf(SlimError);
    expect((refused as SlimError).code).toBe("E_FIT");
    expect((refused as SlimError).message).toMatch(/does not fit esp32-s3: ctx 2048 \(vanilla, q8_0 weights, f32 K-cache\)/);
  }, 300_000);

  it.each(PROMPTS)("greedy text of the run matches the float64 oracle at the same precisions: %s", async (prompt) => {
    const out = sink();
    await run(checkpoint, flags(prompt, "slim"), out.stream, sink().stream);
    const tokenizer = loadTokenizer(join(dir, "tokenizer.bin"));
    // the decoder rounds cache rows to f16 and quantizes each matmul's input to q8_0 groups (integer dot products)
    const g = groupSizeFor(model.config);
    const ref = new Reference(storedAsQ8(model), (x) => x.map(roundF16), (x) => Float64Array.from(roundTrip(Float32Array.from(x), "q8_0", g)));
    const tokens = tokenizer.encode(prompt, { bos: true });
    let logits: Float64Array<ArrayBufferLike> = new Float64Array(0);
    for (const t of tokens) logits = ref.step(t);
    for (let i = 0; i < STEPS; i++) {
      let best = 0;
      for (let j = 1; j < logits.length; j++) if (logits[j] > logits[best]) best = j;
      if (best === BOS || best === EOS) break; // the end of a training sequence: the run stops there too
      tokens.push(best);
      logits = ref.step(best);
    }
    expect(out.text()).toBe(tokenizer.decodeAll(tokens) + "\n");
  }, 300_000);
});
