// The small models people download, as Hugging Face folders the tests write from the format's public
// description: Qwen2/Qwen2.5 (q/k/v biases, tied or untied classifier, MHA and GQA) and SmolLM2 (Llama with a
// tied embedding), each with its family's tokenizer.json (test/fixtures/family-tokenizers.ts). The decoder is
// held to a float64 oracle in the checkpoint's own layout (test/reference-arch.ts) at every position
// (max |Δ| ≤ 1e-4 × max |ref|, f32 weights), greedy ids to the oracle's, `run` and the .slim to the library.
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { rmSync } from "node:fs";
import { importModel } from "../tools/convert/import.ts";
import { readTextTokenizer, type TextTokenizer } from "../host/core/tokenizers.ts";
import { planArena, layerModes } from "../host/core/plan.ts";
import { slimify } from "../tools/convert/slimify.ts";
import { lowerModel } from "../tools/convert/lower.ts";
import { generate } from "../host/runtime/generate.ts";
import { commandTokenizerBytes } from "../tools/package/command-tokenizer.ts";
import type { Model } from "../host/core/model.ts";
import { referenceHfLlama, referenceHfQwen2, type HfConfig, type HfTensors } from "./reference-arch.ts";
import { randomHfLlama, randomHfQwen2, writeHfCheckpoint, type HfLlamaShape } from "./fixtures/safetensors-writer.ts";
import { HARD_PROMPTS, familyGgufKv, familyTokenizer, type FamilyName } from "./fixtures/family-tokenizers.ts";
import { buildCommand } from "../tools/package/command.ts";
import { RUNNER_PATH } from "../host/ship/deploy/release.ts";
import { GT, writeGgufLlama } from "./fixtures/gguf-writer.ts";
import { readHfTokenizer } from "../host/core/hf-tokenizer.ts";
import { decoderFor, logitsRatio } from "./helpers.ts";

const root = mkdtempSync(join(tmpdir(), "slimedge-families-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");
const CTX = 48;
const TOLERANCE = 1e-4;
const PROMPT = "Once upon a time, 東京 12 cafés";
const STEPS = 10;

interface Case {
  name: string;
  family: FamilyName;
  shape: Omit<HfLlamaShape, "vocab_size">;
  write: (shape: HfLlamaShape, seed: number) => ReturnType<typeof randomHfLlama>;
  oracle: (c: HfConfig, t: HfTensors, tokens: readonly number[]) => Float64Array[];
  tokenizerConfig: Record<string, unknown>;
  modes: ("slim" | "vanilla")[];
}

const shape = { hidden_size: 64, intermediate_size: 128, num_hidden_layers: 2, num_attention_heads: 4, max_position_embeddings: CTX };
const QWEN_CHAT = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
const qwenTc = { add_bos_token: false, bos_token: null, eos_token: "<|im_end|>", chat_template: QWEN_CHAT };
const CASES: Case[] = [
  { name: "Qwen2.5 (MHA, tied embedding)", family: "qwen2", shape: { ...shape, num_key_value_heads: 4, tie_word_embeddings: true }, write: randomHfQwen2, oracle: referenceHfQwen2, tokenizerConfig: qwenTc, modes: ["slim", "vanilla"] },
  { name: "Qwen2 (MHA, untied lm_head)", family: "qwen2", shape: { ...shape, num_key_value_heads: 4, tie_word_embeddings: false }, write: randomHfQwen2, oracle: referenceHfQwen2, tokenizerConfig: qwenTc, modes: ["slim", "vanilla"] },
  { name: "Qwen2.5 (GQA 4:2, tied)", family: "qwen2", shape: { ...shape, num_key_value_heads: 2, tie_word_embeddings: true }, write: randomHfQwen2, oracle: referenceHfQwen2, tokenizerConfig: qwenTc, modes: ["vanilla"] },
  {
    name: "SmolLM2 (Llama, MHA, tied embedding)",
    family: "smollm",
    shape: { ...shape, num_key_value_heads: 4, tie_word_embeddings: true, rope_theta: 100000 },
    write: randomHfLlama,
    oracle: referenceHfLlama,
    tokenizerConfig: { add_bos_token: false, bos_token: "<|im_start|>", eos_token: "<|im_end|>", chat_template: QWEN_CHAT },
    modes: ["slim", "vanilla"],
  },
];

function command(wasm: string, args: string[]) {
  const r = spawnSync(process.execPath, ["--no-warnings", RUNNER_PATH, wasm, ...args], { timeout: 60_000 });
  const stderr = r.stderr.toString("utf8");
  return { code: r.status, stdout: r.stdout.toString("utf8"), stderr, lines: stderr.split("\n").filter((l) => l.trim() !== "") };
}

function slimedge(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stderr.split("\n").filter((l) => l.trim() !== "") };
}

const argmax = (v: ArrayLike<number>) => {
  let best = 0;
  for (let i = 1; i < v.length; i++) if (v[i] > v[best]) best = i;
  return best;
};

describe.each(CASES.map((c, i) => [c.name, c, i] as const))("%s", (_name, c, i) => {
  const fam = familyTokenizer(c.family);
  const hfShape = { ...c.shape, vocab_size: fam.vocabSize };
  const ck = c.write(hfShape, 40 + i);
  const dir = join(root, `case${i}`);
  const specials = fam.specials;
  const eos = specials["<|im_end|>"];
  const stored = writeHfCheckpoint(dir, ck, { config: { bos_token_id: specials["<|endoftext|>"], eos_token_id: eos } });
  writeFileSync(join(dir, "tokenizer.json"), JSON.stringify(fam.json));
  writeFileSync(join(dir, "tokenizer_config.json"), JSON.stringify(c.tokenizerConfig));
  writeFileSync(join(dir, "generation_config.json"), JSON.stringify({ eos_token_id: [eos, specials["<|endoftext|>"]] }));
  const imported = importModel(dir);
  const model: Model = imported.model;
  const tok: TextTokenizer = readTextTokenizer(imported.tokenizer!.kind, imported.tokenizer!.bytes, "imported", model.config.vocabSize);
  const config = { ...ck.config, vocab_size: fam.vocabSize } as HfConfig;

  it("imports with the family's special tokens: no bos added, stop at <|im_end|> and <|endoftext|>, the chat template", () => {
    expect(model.config.sharedClassifier).toBe(c.shape.tie_word_embeddings === true);
    expect(model.config.biases ?? false).toBe(c.family === "qwen2");
    expect(tok.meta.addBos).toBe(false);
    expect(tok.meta.stop).toEqual([eos, specials["<|endoftext|>"]]);
    expect(tok.meta.chatTemplate).toBe(QWEN_CHAT);
  });

  it.each(c.modes)("matches the float64 oracle in its own layout at every position (%s, simd and scalar)", async (mode) => {
    const tokens = Array.from({ length: 40 }, (_, t) => (t * 37 + 11) % fam.vocabSize);
    const want = c.oracle(config, stored, tokens);
    const { wkv, layers } = slimify(model);
    if (mode === "slim") expect(layers.every((l) => l.mode === "slim")).toBe(true);
    else if (c.shape.num_key_value_heads < c.shape.num_attention_heads) expect(layers[0].reason).toMatch(/grouped K\/V .* not square/);
    for (const build of ["simd", "scalar"] as const) {
      const plan = planArena(model.config, CTX, layerModes(model.config, mode));
      const dec = await decoderFor(model, plan, mode === "slim" ? wkv : wkv.map(() => null), build);
      const worst = Math.max(...tokens.map((t, p) => logitsRatio(dec.step(t), want[p])));
      console.log(`  ${c.name} ${build} ${mode}: worst max|Δ|/max|ref| ${worst.toExponential(2)}`);
      expect(worst).toBeLessThanOrEqual(TOLERANCE);
    }
  });

  it("generates the oracle's greedy ids after the prompt, and `run` and its .slim print that text", async () => {
    const { wkv, layers } = slimify(model);
    const lowered = lowerModel(model, { modes: layers.map((l) => l.mode), wkv }, { weights: "f32" });
    const host = await generate(lowered, tok, { prompt: PROMPT, steps: STEPS, ctx: CTX, build: "simd", sampler: { temperature: 0 } });
    const ids = tok.prompt(PROMPT);
    expect(host.tokens.slice(0, ids.length)).toEqual(ids);
    expect(host.generated).toBeGreaterThan(0);
    const seq = [...ids];
    while (seq.length < host.tokens.length) {
      const next = argmax(c.oracle(config, stored, seq).at(-1)!);
      seq.push(next);
      if (tok.meta.stop.includes(next)) break;
    }
    expect(host.tokens).toEqual(seq);
    const run = slimedge("run", dir, "-p", PROMPT, "-n", String(STEPS), "--temp", "0", "--ctx", String(CTX));
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toBe(host.text + "\n");
    const out = join(root, `case${i}.slim`);
    const conv = slimedge("convert", dir, "-o", out);
    expect(conv.code, conv.stderr).toBe(0);
    const fromSlim = slimedge("run", out, "-p", PROMPT, "-n", String(STEPS), "--temp", "0", "--ctx", String(CTX));
    expect(fromSlim.code, fromSlim.stderr).toBe(0);
    expect(fromSlim.stdout).toBe(run.stdout);
  });

  // The Qwen2 cases share one tokenizer (NFC and Qwen2's Split pattern, test/command-split-nfc.test.ts holds
  // the command to the host on it at length): the first carries the command check here.
  if (c.family !== "qwen2" || i === 0) {
    it("the standalone command's --ids equal the host's on the shared prompt list, and its greedy text", async () => {
      const { wkv, layers } = slimify(model);
      const lowered = lowerModel(model, { modes: layers.map((l) => l.mode), wkv }, { weights: "f32" });
      const tokBytes = commandTokenizerBytes(tok, model.config.vocabSize);
      const plan = planArena(model.config, CTX, lowered.modes, { tokenizerBytes: tokBytes.length });
      const wasm = join(root, `case${i}.cmd.wasm`);
      writeFileSync(wasm, buildCommand(lowered, tokBytes, plan, { build: "scalar" }));
      // every prompt that fits the context (220 of 221) with SLIMEDGE_ALL_PROMPTS=1 (~95 s); every fourth in CI
      const fits = HARD_PROMPTS.filter((p) => tok.prompt(p).length < CTX && Buffer.byteLength(p) < 4 * CTX);
      expect(fits.length).toBeGreaterThanOrEqual(200);
      const prompts = process.env.SLIMEDGE_ALL_PROMPTS === "1" ? fits : fits.filter((_, k) => k % 4 === 0);
      console.log(`  ${c.name}: --ids on ${prompts.length} of ${HARD_PROMPTS.length} prompts (${HARD_PROMPTS.length - fits.length} exceed ctx ${CTX})`);
      for (const p of prompts) {
        const r = command(wasm, ["-n", "0", "--ids", "--", p]);
        expect(r.code, r.stderr).toBe(0);
        expect(r.lines[0], JSON.stringify(p)).toBe(`prompt ids: ${tok.prompt(p).join(" ")}`);
      }
      const host = await generate(lowered, tok, { prompt: PROMPT, steps: STEPS, ctx: CTX, build: "scalar", sampler: { temperature: 0 } });
      const r = command(wasm, ["-n", String(STEPS), "--temp", "0", "--", PROMPT]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(host.text + "\n");
    }, 600_000);
  }
});

describe.each([
  { name: "Qwen2.5 GGUF (qwen2, pre qwen2)", family: "qwen2" as const, arch: "qwen2" as const, pre: "qwen2", write: randomHfQwen2, oracle: referenceHfQwen2 },
  { name: "SmolLM2 GGUF (llama, pre smollm)", family: "smollm" as const, arch: "llama" as const, pre: "smollm", write: randomHfLlama, oracle: referenceHfLlama },
])("$name", ({ family, arch, pre, write, oracle }) => {
  const fam = familyTokenizer(family);
  const eos = fam.specials["<|im_end|>"];
  const hf = write({ ...shape, num_key_value_heads: 4, tie_word_embeddings: true, vocab_size: fam.vocabSize }, 60);
  const kv = familyGgufKv(family, pre, [
    { key: "tokenizer.ggml.bos_token_id", v: { type: GT.U32, value: fam.specials["<|endoftext|>"] } },
    { key: "tokenizer.ggml.eos_token_id", v: { type: GT.U32, value: eos } },
    { key: "tokenizer.ggml.add_bos_token", v: { type: GT.BOOL, value: false } },
    { key: "tokenizer.chat_template", v: { type: GT.STRING, value: QWEN_CHAT } },
  ]);
  const { bytes, stored } = writeGgufLlama(hf, { arch, extraKv: kv });
  const path = join(root, `${family}.gguf`);
  writeFileSync(path, bytes);
  const imported = importModel(path);
  const tok = readTextTokenizer(imported.tokenizer!.kind, imported.tokenizer!.bytes, path, imported.model.config.vocabSize);

  it("reads the file's own tokenizer with its special tokens and chat template", () => {
    expect(imported.format).toBe(`GGUF v3 file (${arch})`);
    expect(tok.meta).toMatchObject({ addBos: false, stop: [eos], chatTemplate: QWEN_CHAT });
    const folder = readHfTokenizer(JSON.stringify(fam.json), "tokenizer.json");
    for (const p of [PROMPT, "x² 12345 👋🏽 I'LL", "<|im_start|>user\nhi<|im_end|>"]) expect(tok.encode(p)).toEqual(folder.encode(p));
  });

  it.each(["slim", "vanilla"] as const)("matches the float64 oracle on the stored weights at every position (%s)", async (mode) => {
    const model = imported.model;
    const tokens = Array.from({ length: 40 }, (_, t) => (t * 29 + 3) % fam.vocabSize);
    const want = oracle({ ...hf.config, vocab_size: fam.vocabSize } as HfConfig, stored, tokens);
    const { wkv } = slimify(model);
    const plan = planArena(model.config, CTX, layerModes(model.config, mode));
    const dec = await decoderFor(model, plan, mode === "slim" ? wkv : wkv.map(() => null), "simd");
    const worst = Math.max(...tokens.map((t, p) => logitsRatio(dec.step(t), want[p])));
    console.log(`  ${family} GGUF ${mode}: worst max|Δ|/max|ref| ${worst.toExponential(2)}`);
    expect(worst).toBeLessThanOrEqual(TOLERANCE);
  });
});
