// Models as people have them — Hugging Face folders (GPT-2, NeoX, Llama-style tokenizer.json with byte
// fallback) and GGUF files with their own tokenizer (`llama` and `gpt2` vocabularies) — end to end: prompt
// ids against an independent implementation (@huggingface/tokenizers, or run.c's rules for sentencepiece),
// `slimedge run` without --tokenizer in both attention modes, the .slim from `convert`, and the standalone
// command giving the same ids and the same text.
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tokenizer as HfOracle } from "@huggingface/tokenizers";
import { RUNNER_PATH } from "../host/ship/deploy/release.ts";
import { beforeAll, describe, expect, it } from "vitest";
import { importModel } from "../tools/convert/import.ts";
import { readTextTokenizer, type TextTokenizer } from "../host/core/tokenizers.ts";
import { readTokenizer } from "../host/core/tokenizer.ts";
import { ggufTokenizerBin, readGguf } from "../tools/convert/gguf.ts";
import { generate } from "../host/runtime/generate.ts";
import { lowerModel } from "../tools/convert/lower.ts";
import { planArena } from "../host/core/plan.ts";
import { slimify } from "../tools/convert/slimify.ts";
import { buildCommand } from "../tools/package/command.ts";
import { commandTokenizerBytes } from "../tools/package/command-tokenizer.ts";
import type { Model } from "../host/core/model.ts";
import { byteLevelGgufKv, byteLevelTokenizer, metaspaceTokenizer } from "./fixtures/tokenizer-writer.ts";
import { randomHfGpt2, randomHfLlama, randomHfNeox, writeHfCheckpoint } from "./fixtures/safetensors-writer.ts";
import { GT, llamaVocab, writeGgufLlama } from "./fixtures/gguf-writer.ts";

const root = mkdtempSync(join(tmpdir(), "slimedge-models-"));
const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");
const runner = RUNNER_PATH; // node:wasi, the runner releases carry
const CTX = 64;
const PROMPT = "Once upon a time, the café";
const STEPS = 16;

/** Prompts that exercise the pre-tokenizers: contractions, numbers, non-Latin letters, emoji (byte fallback), whitespace runs, added tokens. */
const TEXTS = [
  "Hello world",
  "Once upon a time, there was a little girl",
  "naïve café 東京 🙂 über",
  "  spaces   and\ttabs\n\nnewlines  ",
  "I'm, you're, they'll; it's 12:30",
  "numbers 12345 ٣٤ and ½",
  "text<|endoftext|>more<|endoftext|>",
  "<s>hi</s> there",
];

function slimedge(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stderr.split("\n").filter((l) => l.trim() !== "") };
}

function command(wasm: string, args: string[]) {
  const r = spawnSync(process.execPath, ["--no-warnings", runner, wasm, ...args], { timeout: 60_000 });
  const stderr = r.stderr.toString("utf8");
  return { code: r.status, stdout: r.stdout.toString("utf8"), stderr, lines: stderr.split("\n").filter((l) => l.trim() !== "") };
}

interface Family {
  name: string;
  path: string; // what the user passes to `slimedge run`
  oracle: (text: string) => number[]; // prompt ids from an independent implementation
  oracleName: string;
}

const families: Family[] = [];
const hfOracle = (json: object) => {
  const t = new HfOracle(json as never, {});
  return (text: string) => t.encode(text).ids;
};

beforeAll(() => {
  // GPT-2: byte-level BPE, <|endoftext|> last, no BOS added; config.json names it as bos and eos.
  const gpt2Tok = byteLevelTokenizer({ merges: 120 });
  const gpt2 = join(root, "gpt2");
  writeHfCheckpoint(gpt2, randomHfGpt2({ n_embd: 32, n_head: 4, n_layer: 2, n_positions: CTX, vocab_size: gpt2Tok.vocabSize }, 31), {
    config: { bos_token_id: gpt2Tok.eot, eos_token_id: gpt2Tok.eot },
  });
  writeFileSync(join(gpt2, "tokenizer.json"), JSON.stringify(gpt2Tok.json));
  families.push({ name: "GPT-2 folder", path: gpt2, oracle: hfOracle(gpt2Tok.json), oracleName: "@huggingface/tokenizers" });

  // NeoX / Pythia: byte-level BPE with <|endoftext|> at id 0.
  const neoxTok = byteLevelTokenizer({ merges: 90, specialsFirst: true });
  const neox = join(root, "neox");
  writeHfCheckpoint(neox, randomHfNeox({ hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 64, vocab_size: neoxTok.vocabSize, max_position_embeddings: CTX, rotary_pct: 0.5 }, 32), {
    config: { bos_token_id: 0, eos_token_id: 0 },
  });
  writeFileSync(join(neox, "tokenizer.json"), JSON.stringify(neoxTok.json));
  families.push({ name: "NeoX folder", path: neox, oracle: hfOracle(neoxTok.json), oracleName: "@huggingface/tokenizers" });

  // Llama 2 / TinyLlama: BPE with byte fallback, "▁" for spaces, <s> added by the post-processor; a chat template.
  const llamaTok = metaspaceTokenizer({ merges: 100, style: "normalizer" });
  const llama = join(root, "llama");
  writeHfCheckpoint(llama, randomHfLlama({ hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4, vocab_size: llamaTok.vocabSize, max_position_embeddings: CTX }, 33), {
    config: { bos_token_id: 1, eos_token_id: 2 },
  });
  writeFileSync(join(llama, "tokenizer.json"), JSON.stringify(llamaTok.json));
  writeFileSync(join(llama, "generation_config.json"), JSON.stringify({ bos_token_id: 1, eos_token_id: 2 }));
  writeFileSync(
    join(llama, "tokenizer_config.json"),
    JSON.stringify({
      add_bos_token: true,
      bos_token: "<s>",
      eos_token: "</s>",
      chat_template: "{% for message in messages %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% else %}{{ message['content'] + eos_token }}{% endif %}{% endfor %}",
    }),
  );
  families.push({ name: "Llama folder (byte fallback)", path: llama, oracle: hfOracle(llamaTok.json), oracleName: "@huggingface/tokenizers" });

  // Llama-style with a Metaspace pre-tokenizer (newer conversions).
  const metaTok = metaspaceTokenizer({ merges: 100, style: "metaspace" });
  const meta = join(root, "llama-metaspace");
  writeHfCheckpoint(meta, randomHfLlama({ hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4, vocab_size: metaTok.vocabSize, max_position_embeddings: CTX }, 34));
  writeFileSync(join(meta, "tokenizer.json"), JSON.stringify(metaTok.json));
  families.push({ name: "Llama folder (Metaspace)", path: meta, oracle: hfOracle(metaTok.json), oracleName: "@huggingface/tokenizers" });

  // GGUF with a sentencepiece ("llama") vocabulary: run.c's encoding is the reference.
  const vocab = llamaVocab(["▁", "h", "e", "l", "o", "t", "a", "n", "c", "é", "he", "ll", "▁he", "llo", "▁hello", "▁t", "▁the", "an", "▁a", "on", "ce", "▁c", "▁on"]);
  const ggufLlama = join(root, "spm.gguf");
  const spmBytes = writeGgufLlama(randomHfLlama({ hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4, vocab_size: vocab.tokens.length, max_position_embeddings: CTX }, 35), { vocab }).bytes;
  writeFileSync(ggufLlama, spmBytes);
  const spm = readTokenizer(ggufTokenizerBin(readGguf(spmBytes, ggufLlama)), ggufLlama);
  families.push({ name: "GGUF (llama vocabulary)", path: ggufLlama, oracle: (text) => spm.encode(text, { bos: true }), oracleName: "run.c's encoding (host/core/tokenizer.ts)" });

  // GGUF with a byte-level ("gpt2") vocabulary, as llama.cpp writes SmolLM-class models.
  const bl = byteLevelTokenizer({ merges: 110 });
  const kvs = byteLevelGgufKv(bl, [
    { key: "tokenizer.ggml.bos_token_id", v: { type: GT.U32, value: bl.eot } },
    { key: "tokenizer.ggml.add_bos_token", v: { type: GT.BOOL, value: false } },
  ]);
  const ggufGpt2 = join(root, "bpe.gguf");
  writeFileSync(ggufGpt2, writeGgufLlama(randomHfLlama({ hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4, vocab_size: bl.vocabSize, max_position_embeddings: CTX }, 36), { extraKv: kvs }).bytes);
  families.push({ name: "GGUF (gpt2 vocabulary)", path: ggufGpt2, oracle: hfOracle(bl.json), oracleName: "@huggingface/tokenizers on the tokenizer.json it came from" });
});

/** The model and tokenizer `run` finds for a path, without --tokenizer. */
function load(f: Family): { model: Model; tok: TextTokenizer } {
  const imported = importModel(f.path);
  const t = imported.tokenizer!;
  return { model: imported.model, tok: readTextTokenizer(t.kind, t.bytes, t.source, imported.model.config.vocabSize) };
}

const NAMES = ["GPT-2 folder", "NeoX folder", "Llama folder (byte fallback)", "Llama folder (Metaspace)", "GGUF (llama vocabulary)", "GGUF (gpt2 vocabulary)"];

describe.each(NAMES.map((name, i) => [name, i] as const))("%s", (_name, i) => {
  const f = () => {
    expect(families[i].name).toBe(NAMES[i]);
    return families[i];
  };

  it("encodes prompts as the independent implementation does", () => {
    const { tok } = load(f());
    for (const text of TEXTS) expect(tok.prompt(text), `${f().name} (${f().oracleName}): ${JSON.stringify(text)}`).toEqual(f().oracle(text));
  });

  it("runs without --tokenizer: the same greedy text in slim and vanilla mode, and from its .slim", () => {
    const slim = slimedge("run", f().path, "-p", PROMPT, "-n", String(STEPS), "--temp", "0", "--mode", "slim");
    expect(slim.code, slim.stderr).toBe(0);
    expect(slim.lines.at(-1)).toMatch(/^prefill \d+ tok .* decode \d+ tok/);
    expect(slim.stdout.startsWith(PROMPT), slim.stdout).toBe(true);
    const vanilla = slimedge("run", f().path, "-p", PROMPT, "-n", String(STEPS), "--temp", "0", "--mode", "vanilla");
    expect(vanilla.code, vanilla.stderr).toBe(0);
    expect(vanilla.stdout).toBe(slim.stdout);
    const out = join(root, `${i}.slim`);
    const conv = slimedge("convert", f().path, "-o", out);
    expect(conv.code, conv.stderr).toBe(0);
    const fromSlim = slimedge("run", out, "-p", PROMPT, "-n", String(STEPS), "--temp", "0");
    expect(fromSlim.code, fromSlim.stderr).toBe(0);
    expect(fromSlim.stdout).toBe(slim.stdout);
  });

  it("gives the standalone command its tokenizer: the same prompt ids and the same greedy text", async () => {
    const { model, tok } = load(f());
    const s = slimify(model);
    const lowered = lowerModel(model, { modes: s.layers.map((l) => l.mode), wkv: s.wkv }, { weights: "f32" });
    const tokBytes = commandTokenizerBytes(tok, model.config.vocabSize);
    const plan = planArena(model.config, CTX, lowered.modes, { tokenizerBytes: tokBytes.length });
    const wasm = join(root, `${i}.cmd.wasm`);
    writeFileSync(wasm, buildCommand(lowered, tokBytes, plan, { build: "scalar" }));
    for (const text of TEXTS) {
      const r = command(wasm, [text, "-n", "0", "--ids"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.lines[0], `${f().name}: ${JSON.stringify(text)}`).toBe(`prompt ids: ${tok.prompt(text).join(" ")}`);
    }
    const host = await generate(lowered, tok, { prompt: PROMPT, steps: STEPS, ctx: CTX, build: "scalar", sampler: { temperature: 0 } });
    const r = command(wasm, [PROMPT, "-n", String(STEPS), "--temp", "0"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(host.text + "\n");
  });
});

describe("special tokens from the model", () => {
  it("takes bos, eos and the chat template from the folder's config files and the GGUF metadata", () => {
    const [gpt2, neox, llama, , spm, bpe] = families.map((f) => load(f).tok);
    expect(gpt2.meta).toMatchObject({ addBos: false, stop: [gpt2.vocabSize - 1] });
    expect(gpt2.tokenName(gpt2.meta.stop[0])).toBe("<|endoftext|>");
    expect(neox.meta).toMatchObject({ bos: 0, addBos: false, stop: [0] });
    expect(llama.meta).toMatchObject({ bos: 1, addBos: true, stop: [2], bosToken: "<s>", eosToken: "</s>" });
    expect(llama.meta.chatTemplate).toMatch(/\[INST\]/);
    expect(spm.meta).toMatchObject({ bos: 1, addBos: true, stop: [2] });
    expect(bpe.meta).toMatchObject({ addBos: false, stop: [bpe.vocabSize - 1] });
  });
});

describe("run --chat", () => {
  it("renders the model's chat template as transformers does, with its special tokens, and tokenizes it as @huggingface/tokenizers", async () => {
    const { Template } = await import("@huggingface/jinja");
    const { chatPrompt, renderChat } = await import("../host/core/chat.ts");
    const llama = families[2];
    const { tok } = load(llama);
    const text = renderChat(tok, "What do llamas eat?");
    expect(text).toBe(new Template(tok.meta.chatTemplate!).render({ messages: [{ role: "user", content: "What do llamas eat?" }], add_generation_prompt: true, bos_token: "<s>", eos_token: "</s>" }));
    expect(text).toBe("[INST] What do llamas eat? [/INST]");
    const json = JSON.parse(readFileSync(join(llama.path, "tokenizer.json"), "utf8"));
    expect(chatPrompt(tok, "What do llamas eat?")).toEqual(new HfOracle(json, {}).encode(text, { add_special_tokens: false }).ids);
    const r = slimedge("run", llama.path, "--chat", "-p", "What do llamas eat?", "-n", "8", "--temp", "0");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.startsWith("[INST] What do llamas eat? [/INST]"), r.stdout).toBe(true);
  });

  it("is refused, saying why, for a model without a chat template", () => {
    const r = slimedge("run", families[0].path, "--chat", "-p", "hi", "-n", "4");
    expect(r.code).toBe(2);
    expect(r.lines).toHaveLength(1);
    expect(r.lines[0]).toMatch(/--chat: .* has no chat template .* run without --chat/);
  });
});
