// Llama 3.x as people download it: a Hugging Face folder (config.json with rope_scaling of type llama3,
// tied embedding, GQA — and an MHA variant, so slim attention runs too) and a GGUF file as llama.cpp's
// converter writes one (pre llama-bpe, the llama3 scaling as the rope_freqs.weight tensor of per-pair
// divisors). The tokenizer.json carries Llama 3's real Split pre-tokenizer and its post-processor (BOS
// <|begin_of_text|>), generation_config.json its two stop ids. The decoder is held to a float64 oracle in the
// checkpoint's own layout that computes the llama3 frequencies itself (test/reference-arch.ts hfInvFreq) at
// every position, past original_max_position_embeddings, with all three frequency bands in use
// (max |Δ| ≤ 1e-4 × max |ref|, f32 weights); greedy ids equal the oracle's argmax, `run` of the folder, of its
// .slim and of the GGUF print the library's text.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
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
import { loadSlim } from "../host/core/slim-read.ts";
import { chatPrompt } from "../host/core/chat.ts";
import { ropeTable } from "../host/core/rope.ts";
import { activeDataSegments } from "../host/runtime/wasm.ts";
import { buildCommand } from "../tools/package/command.ts";
import { RUNNER_PATH } from "../host/ship/deploy/release.ts";
import { byteFallbackVocab, writeTokenizerBin } from "./fixtures/llama2c-writer.ts";
import { hfInvFreq, referenceCanonical, referenceHfLlama, type HfConfig } from "./reference-arch.ts";
import { randomHfLlama, writeHfCheckpoint } from "./fixtures/safetensors-writer.ts";
import { familyGgufKv } from "./fixtures/family-tokenizers.ts";
import { LLAMA3_CHAT, llama3Tokenizer, writeLlama3Folder } from "./fixtures/llama3.ts";
import { GGML, GT, writeGguf, writeGgufLlama } from "./fixtures/gguf-writer.ts";
import { decoderFor, logitsRatio, slimError } from "./helpers.ts";

const root = mkdtempSync(join(tmpdir(), "slimedge-llama3-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");
const CTX = 96;
const POSITIONS = 80; // past original_max_position_embeddings (64)
const TOLERANCE = 1e-4;
const PROMPT = "Once upon a time, 東京 12 cafés";
const STEPS = 10;

// Llama 3.2's numbers but a small original context, so that with 16 head dims (8 pairs) at θ = 500000 the
// wavelengths 2π·θ^(2i/16) = 6.3, 32.5, 168, … fall in all three bands: < 64/4 kept, 16..64 blended, > 64 /factor.
const ROPE_SCALING = { factor: 32, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 64, rope_type: "llama3" };
const shape = { hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, max_position_embeddings: 128, rope_theta: 500000, rms_norm_eps: 1e-5 };
const fam = llama3Tokenizer();
const S = fam.specials;
const [BOS, EOT, EOS] = [S["<|begin_of_text|>"], S["<|eot_id|>"], S["<|end_of_text|>"]];

function slimedge(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stderr.split("\n").filter((l) => l.trim() !== "") };
}

const argmax = (v: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
};

/** The per-pair divisors llama.cpp's converter writes as rope_freqs.weight, worked out here from its description. */
function ggufRopeFreqs(theta: number, headDim: number): Float32Array {
  const { factor, low_freq_factor: low, high_freq_factor: high, original_max_position_embeddings: original } = ROPE_SCALING;
  return Float32Array.from({ length: headDim / 2 }, (_, i) => {
    const wavelen = (2 * Math.PI) * Math.pow(theta, (2 * i) / headDim);
    if (wavelen < original / high) return 1;
    if (wavelen > original / low) return factor;
    const smooth = (original / wavelen - low) / (high - low);
    return 1 / ((1 - smooth) / factor + smooth);
  });
}

describe("the test's RoPE scaling", () => {
  it("puts the 8 pairs in all three bands of the llama3 rule", () => {
    const f = ggufRopeFreqs(shape.rope_theta, 16);
    expect(f[0]).toBe(1);
    expect(f[1]).toBeGreaterThan(1);
    expect(f[1]).toBeLessThan(32);
    expect([...f.slice(2)].every((x) => x === 32)).toBe(true);
    // the oracle's own formula gives the same frequencies (1e-6: f32 divisors against float64)
    const inv = hfInvFreq({ ...shape, rope_scaling: ROPE_SCALING }, 16);
    inv.forEach((x, i) => expect(Math.abs(x * f[i] - Math.pow(shape.rope_theta, -(2 * i) / 16)) / x).toBeLessThan(1e-6));
  });
});

const CASES = [
  { name: "Llama 3.2-style folder (GQA 4:2, tied embedding)", kv: 2, modes: ["vanilla"] as const },
  { name: "Llama 3.x folder, MHA variant (tied embedding)", kv: 4, modes: ["slim", "vanilla"] as const },
];

describe.each(CASES.map((c, i) => [c.name, c, i] as const))("%s", (_name, c, i) => {
  const dir = join(root, `folder${i}`);
  const { config: hfConfig, stored } = writeLlama3Folder(dir, { ...shape, num_key_value_heads: c.kv, tie_word_embeddings: true }, 70 + i, ROPE_SCALING);
  const imported = importModel(dir);
  const model = imported.model;
  const tok = readTextTokenizer(imported.tokenizer!.kind, imported.tokenizer!.bytes, "imported", model.config.vocabSize);
  const config = hfConfig as HfConfig;
  const tokens = Array.from({ length: POSITIONS }, (_, t) => (t * 37 + 11) % fam.vocabSize);

  it("imports the llama3 RoPE factors, BOS <|begin_of_text|> added, stops at <|end_of_text|> and <|eot_id|>, its chat template", () => {
    expect(model.config.ropeFreqFactors).toHaveLength(8);
    expect(model.config.sharedClassifier).toBe(true);
    expect(tok.meta).toMatchObject({ bos: BOS, addBos: true, stop: [EOS, EOT], chatTemplate: LLAMA3_CHAT });
    expect(tok.prompt("hi")[0]).toBe(BOS);
    // the imported Model (adjacent pairs, per-pair divisors from host/core/rope.ts) in float64 is HF's model
    const hf = referenceHfLlama(config, stored, tokens);
    const worst = Math.max(...referenceCanonical(model, tokens).map((v, p) => logitsRatio(v, hf[p])));
    expect(worst).toBeLessThan(1e-9);
  });

  it.each([...c.modes])("matches the float64 oracle in its own layout at every position, past the original context (%s, simd and scalar)", async (mode) => {
    const want = referenceHfLlama(config, stored, tokens);
    const { wkv, layers } = slimify(model);
    if (mode === "slim") expect(layers.every((l) => l.mode === "slim")).toBe(true);
    else if (c.kv < shape.num_attention_heads) expect(layers[0].reason).toMatch(/grouped K\/V .* not square/);
    for (const build of ["simd", "scalar"] as const) {
      const plan = planArena(model.config, CTX, layerModes(model.config, mode));
      const dec = await decoderFor(model, plan, mode === "slim" ? wkv : wkv.map(() => null), build);
      const worst = Math.max(...tokens.map((t, p) => logitsRatio(dec.step(t), want[p])));
      console.log(`  ${c.name} ${build} ${mode}: worst max|Δ|/max|ref| ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  it("differs from the same model without the scaling (so the comparison above can fail)", async () => {
    const unscaled = referenceHfLlama({ ...config, rope_scaling: null }, stored, tokens);
    const { wkv } = slimify(model);
    const dec = await decoderFor(model, planArena(model.config, CTX, layerModes(model.config, "vanilla")), wkv.map(() => null), "simd");
    const worst = Math.max(...tokens.map((t, p) => logitsRatio(dec.step(t), unscaled[p])));
    console.log(`  ${c.name}: against the unscaled oracle ${worst.toExponential(2)}`);
    expect(worst).toBeGreaterThan(10 * TOLERANCE);
  });

  it("generates the oracle's greedy ids after the prompt; `run` and its .slim (format version 3) print that text", async () => {
    const { wkv, layers } = slimify(model);
    const lowered = lowerModel(model, { modes: layers.map((l) => l.mode), wkv }, { weights: "f32" });
    const host = await generate(lowered, tok, { prompt: PROMPT, steps: STEPS, ctx: CTX, build: "simd", sampler: { temperature: 0 } });
    const ids = tok.prompt(PROMPT);
    expect(ids[0]).toBe(BOS);
    expect(host.tokens.slice(0, ids.length)).toEqual(ids);
    const seq = [...ids];
    while (seq.length < host.tokens.length) {
      const next = argmax(referenceHfLlama(config, stored, seq).at(-1)!);
      seq.push(next);
      if (tok.meta.stop.includes(next)) break;
    }
    expect(host.tokens).toEqual(seq);
    const run = slimedge("run", dir, "-p", PROMPT, "-n", String(STEPS), "--temp", "0", "--ctx", String(CTX));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(host.text + "\n");
    const out = join(root, `folder${i}.slim`);
    const conv = slimedge("convert", dir, "-o", out);
    expect(conv.code, conv.stderr).toBe(0);
    const slim = loadSlim(out);
    expect(slim.version).toBe(3);
    expect(slim.config.ropeFreqFactors).toEqual(model.config.ropeFreqFactors);
    const fromSlim = slimedge("run", out, "-p", PROMPT, "-n", String(STEPS), "--temp", "0", "--ctx", String(CTX));
    expect(fromSlim.code, fromSlim.stderr).toBe(0);
    expect(fromSlim.stdout).toBe(run.stdout);
  });

  it("renders its chat template with --chat: one <|begin_of_text|>, the header tokens as single ids; `run --chat` prints the library's text", async () => {
    const ids = chatPrompt(tok, "What is 12 + 30?");
    const [SH, EH] = [S["<|start_header_id|>"], S["<|end_header_id|>"]];
    const want = [BOS, SH, ...tok.encode("user"), EH, ...tok.encode("\n\nWhat is 12 + 30?"), EOT, SH, ...tok.encode("assistant"), EH, ...tok.encode("\n\n")];
    expect(ids).toEqual(want);
    const { wkv, layers } = slimify(model);
    const lowered = lowerModel(model, { modes: layers.map((l) => l.mode), wkv }, { weights: "f32" });
    const host = await generate(lowered, tok, { prompt: "", promptIds: ids, steps: 6, ctx: CTX, build: "simd", sampler: { temperature: 0 } });
    const r = slimedge("run", dir, "--chat", "-p", "What is 12 + 30?", "-n", "6", "--temp", "0", "--ctx", String(CTX));
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(host.text + "\n");
  });

  if (c.kv === 4)
    it("the standalone command carries the scaled RoPE table as a data segment (the web page copies the same bytes) and prints `run`'s text past the original context", async () => {
      // a llama2.c tokenizer over the same model, so the text can run far past the original context in few bytes (its own tokenizer: next test)
      const words = [" ", "O", "n", "c", "e", " O", "nc", "up", "on"];
      const v = byteFallbackVocab([...words, ...Array.from({ length: model.config.vocabSize - 259 - words.length }, (_, k) => `<pad${k}>`)]);
      const t2 = readTextTokenizer("llama2c", writeTokenizerBin(v.pieces, v.scores), "tokenizer.bin", model.config.vocabSize);
      const { wkv, layers } = slimify(model);
      const lowered = lowerModel(model, { modes: layers.map((l) => l.mode), wkv }, { weights: "f32" });
      const tokBytes = commandTokenizerBytes(t2, model.config.vocabSize);
      const plan = planArena(model.config, CTX, lowered.modes, { tokenizerBytes: tokBytes.length });
      const cmd = buildCommand(lowered, tokBytes, plan, { build: "scalar" });
      const seg = activeDataSegments(cmd).find((d) => d.offset === plan.ropeTable!.offset)!;
      const table = ropeTable(model.config, CTX);
      expect(seg.bytes).toEqual(new Uint8Array(table.buffer));
      expect(seg.bytes).not.toEqual(new Uint8Array(ropeTable({ ...model.config, ropeFreqFactors: undefined }, CTX).buffer));
      const wasm = join(root, "llama3.cmd.wasm");
      writeFileSync(wasm, cmd);
      const host = await generate(lowered, t2, { prompt: "Once", steps: CTX - 8, ctx: CTX, build: "scalar", sampler: { temperature: 0 } });
      expect(host.tokens.length).toBeGreaterThan(ROPE_SCALING.original_max_position_embeddings);
      const r = spawnSync(process.execPath, ["--no-warnings", RUNNER_PATH, wasm, "-n", String(CTX - 8), "--temp", "0", "--", "Once"], { timeout: 120_000 });
      expect(r.status, r.stderr.toString()).toBe(0);
      expect(r.stdout.toString()).toBe(host.text + "\n");
    }, 300_000);

  it("the standalone command carries its own tokenizer (Split, byte-level): --ids and the greedy text equal the host's", async () => {
    const { wkv, layers } = slimify(model);
    const lowered = lowerModel(model, { modes: layers.map((l) => l.mode), wkv }, { weights: "f32" });
    const tokBytes = commandTokenizerBytes(tok, model.config.vocabSize);
    const plan = planArena(model.config, CTX, lowered.modes, { tokenizerBytes: tokBytes.length });
    const wasm = join(root, `llama3-own-${c.kv}.cmd.wasm`);
    writeFileSync(wasm, buildCommand(lowered, tokBytes, plan, { build: "scalar" }));
    for (const prompt of [PROMPT, "It's 1234567 o'clock!\n\n  x", "naïve 東京 🙂"]) {
      const r = spawnSync(process.execPath, ["--no-warnings", RUNNER_PATH, wasm, "-n", "0", "--ids", "--", prompt], { timeout: 120_000 });
      expect(r.status, r.stderr.toString()).toBe(0);
      expect(r.stderr.toString().split("\n")[0]).toBe(`prompt ids: ${tok.prompt(prompt).join(" ")}`);
    }
    const host = await generate(lowered, tok, { prompt: PROMPT, steps: 8, ctx: CTX, build: "scalar", sampler: { temperature: 0 } });
    const r = spawnSync(process.execPath, ["--no-warnings", RUNNER_PATH, wasm, "-n", "8", "--temp", "0", "--", PROMPT], { timeout: 120_000 });
    expect(r.status, r.stderr.toString()).toBe(0);
    expect(r.stdout.toString()).toBe(host.text + "\n");
  }, 300_000);
});

describe("Llama 3.x GGUF (llama, pre llama-bpe, rope_freqs.weight)", () => {
  const hf = randomHfLlama({ ...shape, num_key_value_heads: 4, tie_word_embeddings: true, vocab_size: fam.vocabSize }, 80);
  const kv = familyGgufKv("llama3", "llama-bpe", [
    { key: "tokenizer.ggml.bos_token_id", v: { type: GT.U32, value: BOS } },
    { key: "tokenizer.ggml.eos_token_id", v: { type: GT.U32, value: EOS } },
    { key: "tokenizer.ggml.eot_token_id", v: { type: GT.U32, value: EOT } },
    { key: "tokenizer.ggml.add_bos_token", v: { type: GT.BOOL, value: true } },
    { key: "tokenizer.chat_template", v: { type: GT.STRING, value: LLAMA3_CHAT } },
  ]);
  const freqs = ggufRopeFreqs(shape.rope_theta, 16);
  const ropeFreqs = { name: "rope_freqs.weight", ne: [8], type: GGML.F32, data: new Uint8Array(freqs.buffer) };
  const { bytes, stored } = writeGgufLlama(hf, { extraKv: kv, extraTensors: [ropeFreqs] });
  const path = join(root, "llama3.gguf");
  writeFileSync(path, bytes);
  const imported = importModel(path);
  const model = imported.model;
  const tok = readTextTokenizer(imported.tokenizer!.kind, imported.tokenizer!.bytes, path, model.config.vocabSize);
  const config = { ...hf.config, vocab_size: fam.vocabSize, rope_scaling: ROPE_SCALING } as HfConfig;

  it("reads rope_freqs.weight as the RoPE factors and its own special tokens", () => {
    expect(model.config.ropeFreqFactors).toEqual(Array.from(freqs));
    expect(tok.meta).toMatchObject({ bos: BOS, addBos: true, stop: [EOS, EOT], chatTemplate: LLAMA3_CHAT });
  });

  it.each(["slim", "vanilla"] as const)("matches the float64 oracle on the stored weights at every position (%s)", async (mode) => {
    const tokens = Array.from({ length: POSITIONS }, (_, t) => (t * 29 + 3) % fam.vocabSize);
    const want = referenceHfLlama(config, stored, tokens);
    const { wkv } = slimify(model);
    const plan = planArena(model.config, CTX, layerModes(model.config, mode));
    const dec = await decoderFor(model, plan, mode === "slim" ? wkv : wkv.map(() => null), "simd");
    const worst = Math.max(...tokens.map((t, p) => logitsRatio(dec.step(t), want[p])));
    console.log(`  Llama 3 GGUF ${mode}: worst max|Δ|/max|ref| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(TOLERANCE);
  });

  it("runs from the command line like the library, and from its .slim, and refuses a rope_freqs.weight of the wrong length in one line", async () => {
    const { wkv, layers } = slimify(model);
    const lowered = lowerModel(model, { modes: layers.map((l) => l.mode), wkv }, { weights: "f32" });
    const host = await generate(lowered, tok, { prompt: PROMPT, steps: STEPS, ctx: CTX, build: "simd", sampler: { temperature: 0 } });
    const run = slimedge("run", path, "-p", PROMPT, "-n", String(STEPS), "--temp", "0", "--ctx", String(CTX));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(host.text + "\n");
    const out = join(root, "llama3-gguf.slim");
    expect(slimedge("convert", path, "-o", out).code).toBe(0);
    expect(loadSlim(out).config.ropeFreqFactors).toEqual(Array.from(freqs));
    const fromSlim = slimedge("run", out, "-p", PROMPT, "-n", String(STEPS), "--temp", "0", "--ctx", String(CTX));
    expect(fromSlim.stdout).toBe(run.stdout);
    const bad = join(root, "bad-freqs.gguf");
    writeFileSync(bad, writeGgufLlama(hf, { extraKv: kv, extraTensors: [{ ...ropeFreqs, ne: [4], data: new Uint8Array(freqs.buffer, 0, 16) }] }).bytes);
    const r = slimedge("run", bad, "-p", "hi", "-n", "2");
    expect(r.code).not.toBe(0);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/tensor rope_freqs\.weight \(RoPE frequency factors, one per rotary pair\) has ggml dims \[4\], but metadata \(llama\.rope\.dimension_count=16\) implies \[8\]/);
  });
});

describe("Gemma 3", () => {
  // gemma-3-270m's published config.json (Gemma3ForCausalLM), weights cut to one small tensor: refused on the config
  const gemma = {
    architectures: ["Gemma3ForCausalLM"], model_type: "gemma3_text", hidden_size: 640, intermediate_size: 2048, num_hidden_layers: 18, num_attention_heads: 4,
    num_key_value_heads: 1, head_dim: 256, hidden_activation: "gelu_pytorch_tanh", query_pre_attn_scalar: 256, rms_norm_eps: 1e-6, rope_theta: 1000000,
    rope_local_base_freq: 10000, sliding_window: 512, vocab_size: 262144, max_position_embeddings: 32768, tie_word_embeddings: true,
  };
  const one = new Map([["model.embed_tokens.weight", { shape: [4, 4], values: new Float32Array(16) }]]);
  const MISSING = /which is not supported yet: Gemma 3's layer needs pieces the decoder lacks, first its token embedding scaled by √hidden_size under a classifier tied to the unscaled one \(then head_dim apart from hidden_size \/ num_attention_heads, RMSNorm on each query and key head, norms after attention and after the FFN, GeGLU, and sliding-window layers with their own RoPE base\)\.$/;

  it.each(["gemma3_text", "gemma3"])("a folder of model_type %s is refused in one line naming the first missing piece", (type) => {
    const dir = join(root, `gemma-${type}`);
    writeHfCheckpoint(dir, { config: { ...gemma, model_type: type }, tensors: one });
    const r = slimedge("run", dir, "-p", "hi", "-n", "2");
    expect(r.code).not.toBe(0);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toContain(`field model_type is "${type}"`);
    expect(r.lines[0]).toMatch(MISSING);
  });

  it("a GGUF file of architecture gemma3 is refused the same way", () => {
    const path = join(root, "gemma3.gguf");
    writeFileSync(path, writeGguf([{ key: "general.architecture", v: { type: GT.STRING, value: "gemma3" } }], [{ name: "token_embd.weight", ne: [4, 4], type: GGML.F32, data: new Uint8Array(64) }]));
    const r = slimedge("run", path, "-p", "hi", "-n", "2");
    expect(r.code).not.toBe(0);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toContain('metadata key general.architecture is "gemma3"');
    expect(r.lines[0]).toMatch(MISSING);
  });
});
