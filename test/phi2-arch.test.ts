// Phi-2 (PhiForCausalLM) as people download it: a Hugging Face folder (config.json + safetensors) and a GGUF
// "phi2" file (q/k/v separate, as convert_hf_to_gguf.py writes today's checkpoint, and fused attn_qkv, as files
// converted from Microsoft's original layout hold), written by the test from the formats' public description,
// with Phi-2's tokenizer.json configuration (ByteLevel with GPT-2's regex, CodeGen's space-run added tokens,
// <|endoftext|> for bos/eos). The decoder is held to a float64 oracle in the checkpoint's own layout
// (test/reference-arch.ts referenceHfPhi2) at every position, max |Δ| ≤ 1e-4 × max |ref| with f32 weights,
// slim and vanilla, SIMD and scalar; greedy ids equal the oracle's; `run`, the .slim and the standalone
// command print the same text. The classifier bias (lm_head.bias) is what Phi adds to the decoder.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { importModel } from "../tools/convert/import.ts";
import { readTextTokenizer } from "../host/core/tokenizers.ts";
import { planArena, layerModes } from "../host/core/plan.ts";
import { slimify } from "../tools/convert/slimify.ts";
import { lowerModel } from "../tools/convert/lower.ts";
import { generate } from "../host/runtime/generate.ts";
import { commandTokenizerBytes } from "../tools/package/command-tokenizer.ts";
import { buildCommand } from "../tools/package/command.ts";
import { RUNNER_PATH } from "../host/ship/deploy/release.ts";
import { checkSlim } from "../host/core/slim-check.ts";
import { HEADER, SLIM_STATUS, ContainerError } from "../host/core/slim-format.ts";
import { referenceHfPhi2, type HfConfig } from "./reference-arch.ts";
import { randomHfNeox, randomHfPhi, writeHfCheckpoint } from "./fixtures/safetensors-writer.ts";
import { HARD_PROMPTS, familyGgufKv, familyTokenizer } from "./fixtures/family-tokenizers.ts";
import { GT, writeGgufPhi2 } from "./fixtures/gguf-writer.ts";
import { readHfTokenizer } from "../host/core/hf-tokenizer.ts";
import { decoderFor, logitsRatio } from "./helpers.ts";

const root = mkdtempSync(join(tmpdir(), "slimedge-phi2-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");
const CTX = 48;
const TOLERANCE = 1e-4;
const PROMPT = "def add(a, b):\n        return a + b  # 東京 12";
const STEPS = 10;

const argmax = (v: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
};

function slimedge(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stderr.split("\n").filter((l) => l.trim() !== "") };
}

function command(wasm: string, args: string[]) {
  const r = spawnSync(process.execPath, ["--no-warnings", RUNNER_PATH, wasm, ...args], { timeout: 60_000 });
  const stderr = r.stderr.toString("utf8");
  return { code: r.status, stdout: r.stdout.toString("utf8"), stderr, lines: stderr.split("\n").filter((l) => l.trim() !== "") };
}

// Phi-2's shape scaled down: head 16 with partial_rotary_factor 0.4 turns 6 of 16 dims (Phi-2: 32 of 80);
// intermediate 4·hidden as Phi-2's; the model's vocabulary padded past the tokenizer's (Phi-2: 51200 rows for
// 50295 tokens).
const fam = familyTokenizer("phi2");
const EOT = fam.specials["<|endoftext|>"];
const VOCAB = fam.vocabSize + 11;
const shape = { hidden_size: 64, intermediate_size: 256, num_hidden_layers: 2, num_attention_heads: 4, max_position_embeddings: CTX, vocab_size: VOCAB };
// Phi-2's tokenizer_config.json: CodeGenTokenizer, <|endoftext|> for bos, eos and unk, no chat template
const PHI2_TOKENIZER_CONFIG = { add_prefix_space: false, bos_token: "<|endoftext|>", eos_token: "<|endoftext|>", unk_token: "<|endoftext|>", tokenizer_class: "CodeGenTokenizer", model_max_length: 2048 };

describe("Phi-2 from a Hugging Face folder", () => {
  const ck = randomHfPhi(shape, 71);
  const dir = join(root, "phi2");
  const stored = writeHfCheckpoint(dir, ck, { config: { bos_token_id: EOT, eos_token_id: EOT } });
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(fam.json));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(PHI2_TOKENIZER_CONFIG));
  writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ bos_token_id: EOT, eos_token_id: EOT }));
  const imported = importModel(dir);
  const model = imported.model;
  const tok = readTextTokenizer(imported.tokenizer!.kind, imported.tokenizer!.bytes, "imported", model.config.vocabSize);
  const config = ck.config as HfConfig;

  it("imports as the parallel LayerNorm layer with partial rotary, gelu_new and a classifier bias; <|endoftext|> stops, no bos, no chat template", () => {
    expect(model.config).toMatchObject({ norm: "layer", activation: "gelu_tanh", rotaryDims: 6, parallelResidual: true, biases: true, classifierBias: true, sharedClassifier: false, nKvHeads: 4 });
    expect(model.weights.classifierBias).toHaveLength(VOCAB);
    expect(model.weights.layers[0].ffnNorm).toBe(model.weights.layers[0].attnNorm); // one shared LayerNorm
    expect(tok.meta.addBos).toBe(false);
    expect(tok.meta.stop).toEqual([EOT]);
    expect(tok.meta.chatTemplate ?? null).toBeNull();
    const chat = slimedge("run", dir, "--chat", "-p", "hi", "-n", "2");
    expect(chat.code).not.toBe(0);
    expect(chat.lines).toHaveLength(1);
    expect(chat.lines[0]).toMatch(/--chat: .* has no chat template/);
  });

  it.each(["slim", "vanilla"] as const)("matches the float64 oracle in its own layout at every position (%s, simd and scalar)", async (mode) => {
    const tokens = Array.from({ length: 40 }, (_, t) => (t * 37 + 11) % VOCAB);
    const want = referenceHfPhi2(config, stored, tokens);
    const { wkv, layers } = slimify(model);
    if (mode === "slim") expect(layers.every((l) => l.mode === "slim")).toBe(true);
    for (const build of ["simd", "scalar"] as const) {
      const plan = planArena(model.config, CTX, layerModes(model.config, mode));
      expect(plan.classifierBias?.size).toBe(VOCAB * 4);
      const dec = await decoderFor(model, plan, mode === "slim" ? wkv : wkv.map(() => null), build);
      const worst = Math.max(...tokens.map((t, p) => logitsRatio(dec.step(t), want[p])));
      console.log(`  Phi-2 ${build} ${mode}: worst max|Δ|/max|ref| ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  it("without its classifier bias the decoder is off the oracle (the bias is really added)", async () => {
    const tokens = [3, 14, 15, 92];
    const want = referenceHfPhi2(config, stored, tokens);
    const noBias = { config: { ...model.config, classifierBias: false }, weights: { ...model.weights, classifierBias: undefined } };
    const plan = planArena(noBias.config, CTX, layerModes(noBias.config, "vanilla"));
    expect(plan.classifierBias).toBeNull();
    // the bias is one planned f32 span inside the weights region: that region, and the arena, grow by it
    const withBias = planArena(model.config, CTX, layerModes(model.config, "vanilla"));
    const weights = (p: typeof plan) => p.regions.find((r) => r.name === "weights")!;
    const span = withBias.classifierBias!;
    expect(span.offset).toBeGreaterThanOrEqual(weights(withBias).offset);
    expect(span.offset + span.size).toBeLessThanOrEqual(weights(withBias).offset + weights(withBias).size);
    expect(weights(withBias).size - weights(plan).size).toBe(Math.ceil((VOCAB * 4) / 16) * 16);
    expect(withBias.totalBytes - plan.totalBytes).toBe(Math.ceil((VOCAB * 4) / 16) * 16);
    const dec = await decoderFor(noBias, plan, model.weights.layers.map(() => null), "simd");
    const worst = Math.max(...tokens.map((t, p) => logitsRatio(dec.step(t), want[p])));
    expect(worst).toBeGreaterThan(100 * TOLERANCE);
  });

  it("generates the oracle's greedy ids after the prompt; `run`, its .slim (format version 3) and the standalone command print that text", async () => {
    const { wkv, layers } = slimify(model);
    const lowered = lowerModel(model, { modes: layers.map((l) => l.mode), wkv }, { weights: "f32" });
    expect(lowered.tensors.map((t) => t.name)).toContain("classifier_bias");
    const host = await generate(lowered, tok, { prompt: PROMPT, steps: STEPS, ctx: CTX, build: "simd", sampler: { temperature: 0 } });
    const ids = tok.prompt(PROMPT);
    expect(ids[0]).not.toBe(EOT); // no bos
    expect(host.tokens.slice(0, ids.length)).toEqual(ids);
    const seq = [...ids];
    while (seq.length < host.tokens.length) {
      const next = argmax(referenceHfPhi2(config, stored, seq).at(-1)!);
      seq.push(next);
      if (next === EOT) break;
    }
    expect(host.tokens).toEqual(seq);
    expect(host.generated).toBeGreaterThan(0);

    const run = slimedge("run", dir, "-p", PROMPT, "-n", String(STEPS), "--temp", "0", "--ctx", String(CTX));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(host.text + "\n");
    const out = join(root, "phi2.slim");
    const conv = slimedge("convert", dir, "-o", out);
    expect(conv.code, conv.stderr).toBe(0);
    const header = checkSlim(readFileSync(out), out);
    expect(header.version).toBe(3); // a model with a classifier bias; others stay version 2
    expect(header.config.classifierBias).toBe(true);
    expect(header.tensors.find((t) => t.name === "classifier_bias")).toMatchObject({ dtype: "f32", shape: [VOCAB] });
    const fromSlim = slimedge("run", out, "-p", PROMPT, "-n", String(STEPS), "--temp", "0", "--ctx", String(CTX));
    expect(fromSlim.code, fromSlim.stderr).toBe(0);
    expect(fromSlim.stdout).toBe(run.stdout);

    // the standalone command: Phi-2's tokenizer (GPT-2's ByteLevel regex, space-run added tokens) is carried
    const tokBytes = commandTokenizerBytes(tok, model.config.vocabSize);
    const plan = planArena(model.config, CTX, lowered.modes, { tokenizerBytes: tokBytes.length });
    const wasm = join(root, "phi2.cmd.wasm");
    writeFileSync(wasm, buildCommand(lowered, tokBytes, plan, { build: "scalar" }));
    const scalar = await generate(lowered, tok, { prompt: PROMPT, steps: STEPS, ctx: CTX, build: "scalar", sampler: { temperature: 0 } });
    const r = command(wasm, ["-n", String(STEPS), "--temp", "0", "--", PROMPT]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(scalar.text + "\n");
  }, 300_000);

  it("the standalone command's --ids equal the host's on the shared prompt list", () => {
    const { wkv, layers } = slimify(model);
    const lowered = lowerModel(model, { modes: layers.map((l) => l.mode), wkv }, { weights: "f32" });
    const tokBytes = commandTokenizerBytes(tok, model.config.vocabSize);
    const plan = planArena(model.config, CTX, lowered.modes, { tokenizerBytes: tokBytes.length });
    const wasm = join(root, "phi2-ids.cmd.wasm");
    writeFileSync(wasm, buildCommand(lowered, tokBytes, plan, { build: "scalar" }));
    // every prompt that fits the context with SLIMEDGE_ALL_PROMPTS=1; every fourth in CI
    const fits = HARD_PROMPTS.filter((p) => tok.prompt(p).length < CTX && Buffer.byteLength(p) < 4 * CTX);
    expect(fits.length).toBeGreaterThanOrEqual(200);
    const prompts = process.env.SLIMEDGE_ALL_PROMPTS === "1" ? fits : fits.filter((_, k) => k % 4 === 0);
    console.log(`  Phi-2: --ids on ${prompts.length} of ${HARD_PROMPTS.length} prompts (${HARD_PROMPTS.length - fits.length} exceed ctx ${CTX})`);
    for (const p of prompts) {
      const r = command(wasm, ["-n", "0", "--ids", "--", p]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.lines[0], JSON.stringify(p)).toBe(`prompt ids: ${tok.prompt(p).join(" ")}`);
    }
  }, 600_000);
});

describe(".slim format versions", () => {
  // Version 3 is version 2 plus the classifier bias (flag bit 4 and its tensor): a model without one is
  // written as version 2, byte for byte as before, and a file is version 3 exactly when bit 4 (or bit 5, RoPE factors) is set, so a
  // changed version field (outside both CRCs) is caught either way.
  const refusal = (bytes: Uint8Array, version: number): ContainerError => {
    const v = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    v.setUint32(HEADER.version, version, true);
    try {
      checkSlim(bytes, "x.slim");
    } catch (e) {
      expect(e).toBeInstanceOf(ContainerError);
      expect((e as Error).message.split("\n")).toHaveLength(1);
      return e as ContainerError;
    }
    throw new Error(`version ${version} was accepted`);
  };

  it("writes a model without a classifier bias as version 2, which runs, and refuses it relabelled 3", () => {
    const neox = join(root, "neox");
    writeHfCheckpoint(neox, randomHfNeox({ hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 1, intermediate_size: 64, vocab_size: VOCAB, max_position_embeddings: CTX }, 73));
    writeFileSync(join(neox, "tokenizer.json"), JSON.stringify(fam.json));
    const v2 = join(root, "neox.slim");
    expect(slimedge("convert", neox, "-o", v2).code).toBe(0);
    const bytes = new Uint8Array(readFileSync(v2));
    const h = checkSlim(bytes, v2);
    expect(h.version).toBe(2);
    expect(h.config.classifierBias).toBe(false);
    const a = slimedge("run", neox, "-p", "Once upon", "-n", "6", "--temp", "0");
    const b = slimedge("run", v2, "-p", "Once upon", "-n", "6", "--temp", "0");
    expect(b.code, b.stderr).toBe(0);
    expect(b.stdout).toBe(a.stdout);
    const three = refusal(bytes, 3);
    expect(three.status).toBe(SLIM_STATUS.BAD_FIELD);
    expect(three.message).toMatch(/header field flags is 0x0*0c, expected bit 4 \(classifier bias\) or bit 5 \(RoPE frequency factors\) set in a version 3 file/);
  });

  it("refuses a Phi-2 file (version 3) relabelled 2, 1 or 4, in one line", () => {
    const out = join(root, "phi2-flag.slim");
    const dir = join(root, "phi2-small");
    writeHfCheckpoint(dir, randomHfPhi({ ...shape, num_hidden_layers: 1 }, 72));
    expect(slimedge("convert", dir, "-o", out).code).toBe(0);
    const bytes = new Uint8Array(readFileSync(out));
    expect(checkSlim(bytes, out).version).toBe(3);
    const two = refusal(bytes, 2);
    expect(two.status).toBe(SLIM_STATUS.BAD_FIELD);
    expect(two.message).toMatch(/header field flags is 0x0*1c, expected only bits 0\.\.3 .* in a version 2 file/);
    for (const version of [1, 4]) {
      const e = refusal(bytes, version);
      expect(e.status).toBe(SLIM_STATUS.BAD_VERSION);
      expect(e.message).toMatch(/format version is \d, but this reader knows \.slim versions 2\.\.3 only/);
    }
  });
});

describe.each([
  { name: "Phi-2 GGUF (phi2, q/k/v separate as convert_hf_to_gguf.py writes)", fused: false },
  { name: "Phi-2 GGUF (phi2, fused attn_qkv)", fused: true },
])("$name", ({ fused }) => {
  const hf = randomHfPhi(shape, 80);
  const kv = familyGgufKv("phi2", "phi-2", [
    { key: "tokenizer.ggml.bos_token_id", v: { type: GT.U32, value: EOT } },
    { key: "tokenizer.ggml.eos_token_id", v: { type: GT.U32, value: EOT } },
    { key: "tokenizer.ggml.add_bos_token", v: { type: GT.BOOL, value: false } },
  ]);
  const { bytes, stored } = writeGgufPhi2(hf, { fused, extraKv: kv });
  const path = join(root, `phi2${fused ? "-fused" : ""}.gguf`);
  writeFileSync(path, bytes);

  it("reads the file's own tokenizer (pre phi-2) with <|endoftext|> as eos and no bos", () => {
    const imported = importModel(path);
    expect(imported.format).toBe("GGUF v3 file (phi2)");
    const tok = readTextTokenizer(imported.tokenizer!.kind, imported.tokenizer!.bytes, path, imported.model.config.vocabSize);
    expect(tok.meta).toMatchObject({ addBos: false, stop: [EOT] });
    const folder = readHfTokenizer(JSON.stringify(fam.json), "tokenizer.json");
    for (const p of [PROMPT, "x² 12345 👋🏽 I'LL", "a\n\n        b<|endoftext|>"]) expect(tok.encode(p)).toEqual(folder.encode(p));
  });

  it.each(["slim", "vanilla"] as const)("matches the float64 oracle on the stored weights at every position (%s)", async (mode) => {
    const model = importModel(path).model;
    expect(model.config.classifierBias).toBe(true);
    const tokens = Array.from({ length: 40 }, (_, t) => (t * 29 + 3) % VOCAB);
    const want = referenceHfPhi2(hf.config as HfConfig, stored, tokens);
    const { wkv } = slimify(model);
    const plan = planArena(model.config, CTX, layerModes(model.config, mode));
    const dec = await decoderFor(model, plan, mode === "slim" ? wkv : wkv.map(() => null), "simd");
    const worst = Math.max(...tokens.map((t, p) => logitsRatio(dec.step(t), want[p])));
    console.log(`  phi2 GGUF${fused ? " fused" : ""} ${mode}: worst max|Δ|/max|ref| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(TOLERANCE);
  });
});
