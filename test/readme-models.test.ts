// The README's "Models people have" commands, run as written: in a folder holding small models under the
// names the README uses (random weights, tokenizers trained on a short corpus), each line must succeed.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { byteLevelGgufKv, byteLevelTokenizer, metaspaceTokenizer } from "./fixtures/tokenizer-writer.ts";
import { randomHfGpt2, randomHfLlama, randomHfNeox, randomHfPhi, randomHfQwen2, writeHfCheckpoint } from "./fixtures/safetensors-writer.ts";
import { GT, llamaVocab, writeGgufLlama } from "./fixtures/gguf-writer.ts";
import { familyGgufKv, familyTokenizer } from "./fixtures/family-tokenizers.ts";
import { writeLlama3Folder } from "./fixtures/llama3.ts";
import { byteFallbackVocab, randomLlamaWeights, writeTokenizerBin, writeV1 } from "./fixtures/llama2c-writer.ts";

const repo = join(import.meta.dirname, "..");
const bin = join(repo, "bin", "slimedge.js");
const cwd = mkdtempSync(join(tmpdir(), "slimedge-readme-"));
const SEQ = 256;

/** The shell lines of the section's first sh block, comments dropped, split into words (double quotes kept together). */
function readmeCommands(): string[][] {
  const readme = readFileSync(join(repo, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Models people have"));
  const block = section.slice(section.indexOf("```sh\n") + 6, section.indexOf("```", section.indexOf("```sh\n") + 6));
  return block
    .split("\n")
    .map((l) => l.replace(/\s+#.*$/, "").trim())
    .filter((l) => l !== "" && !l.startsWith("#"))
    .map((l) => [...l.matchAll(/"([^"]*)"|(\S+)/g)].map((m) => m[1] ?? m[2]));
}

const llamaShape = (vocab: number) => ({ hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4, vocab_size: vocab, max_position_embeddings: SEQ });

beforeAll(() => {
  const gpt2Tok = byteLevelTokenizer({ merges: 60 });
  writeHfCheckpoint(join(cwd, "gpt2"), randomHfGpt2({ n_embd: 32, n_head: 4, n_layer: 2, n_positions: SEQ, vocab_size: gpt2Tok.vocabSize }, 1), { config: { bos_token_id: gpt2Tok.eot, eos_token_id: gpt2Tok.eot } });
  writeFileSync(join(cwd, "gpt2", "tokenizer.json"), JSON.stringify(gpt2Tok.json));

  const neoxTok = byteLevelTokenizer({ merges: 60, specialsFirst: true });
  writeHfCheckpoint(join(cwd, "pythia-70m"), randomHfNeox({ hidden_size: 32, num_attention_heads: 4, num_hidden_layers: 2, intermediate_size: 64, vocab_size: neoxTok.vocabSize, max_position_embeddings: SEQ, rotary_pct: 0.25 }, 2), { config: { bos_token_id: 0, eos_token_id: 0 } });
  writeFileSync(join(cwd, "pythia-70m", "tokenizer.json"), JSON.stringify(neoxTok.json));

  const chat = metaspaceTokenizer({ merges: 80, style: "normalizer", extraSpecials: ["<|user|>", "<|assistant|>"] });
  const tiny = join(cwd, "TinyLlama-1.1B-Chat-v1.0");
  writeHfCheckpoint(tiny, randomHfLlama(llamaShape(chat.vocabSize), 3), { config: { bos_token_id: 1, eos_token_id: 2 } });
  writeFileSync(join(tiny, "tokenizer.json"), JSON.stringify(chat.json));
  writeFileSync(join(tiny, "generation_config.json"), JSON.stringify({ bos_token_id: 1, eos_token_id: 2, max_length: 2048 }));
  writeFileSync(
    join(tiny, "tokenizer_config.json"),
    JSON.stringify({
      bos_token: "<s>",
      eos_token: "</s>",
      // TinyLlama-Chat's template (Zephyr style), shortened to the user and assistant turns
      chat_template: "{% for message in messages %}{% if message['role'] == 'user' %}{{ '<|user|>\\n' + message['content'] + eos_token }}{% elif message['role'] == 'assistant' %}{{ '<|assistant|>\\n' + message['content'] + eos_token }}{% endif %}{% if loop.last and add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}{% endfor %}",
    }),
  );

  const vocab = llamaVocab(["▁", "O", "n", "c", "e", "u", "p", "o", "a", "t", "i", "m", "▁O", "nc", "▁Onc", "▁t", "▁ti", "me", "▁time", "up", "on"]);
  writeFileSync(join(cwd, "tinyllama-1.1b-chat-v1.0.Q8_0.gguf"), writeGgufLlama(randomHfLlama(llamaShape(vocab.tokens.length), 4), { vocab, type: "Q8_0" }).bytes);

  const bl = byteLevelTokenizer({ merges: 60 });
  const kvs = byteLevelGgufKv(bl);
  writeFileSync(join(cwd, "bpe-model.f16.gguf"), writeGgufLlama(randomHfLlama(llamaShape(bl.vocabSize), 5), { type: "F16", extraKv: kvs }).bytes);

  const v = byteFallbackVocab([" ", "O", "n", "c", "e", " O", "nc", "up", "on", " a", " t", "im", "me"]);
  const dims = { dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: v.pieces.length, seqLen: SEQ };
  writeFileSync(join(cwd, "stories15M.bin"), writeV1(dims, randomLlamaWeights(dims, 6)));
  writeFileSync(join(cwd, "tokenizer.bin"), writeTokenizerBin(v.pieces, v.scores));
  // SmolLM2 and Qwen2.5 as released: grouped K/V (so they run vanilla), tied embedding, ChatML special tokens
  const chatml = "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
  const gqa = (vocab: number) => ({ ...llamaShape(vocab), num_key_value_heads: 2, tie_word_embeddings: true });
  for (const [dir, family, write] of [["SmolLM2-135M-Instruct", "smollm", randomHfLlama], ["Qwen2.5-0.5B-Instruct", "qwen2", randomHfQwen2]] as const) {
    const fam = familyTokenizer(family);
    writeHfCheckpoint(join(cwd, dir), write(gqa(fam.vocabSize), 7), { config: { bos_token_id: fam.specials["<|endoftext|>"], eos_token_id: fam.specials["<|im_end|>"] } });
    writeFileSync(join(cwd, dir, "tokenizer.json"), JSON.stringify(fam.json));
    writeFileSync(join(cwd, dir, "tokenizer_config.json"), JSON.stringify({ add_bos_token: false, bos_token: null, eos_token: "<|im_end|>", chat_template: chatml }));
  }
  const qwen = familyTokenizer("qwen2");
  const qwenKv = familyGgufKv("qwen2", "qwen2", [
    { key: "tokenizer.ggml.eos_token_id", v: { type: GT.U32, value: qwen.specials["<|im_end|>"] } },
    { key: "tokenizer.ggml.add_bos_token", v: { type: GT.BOOL, value: false } },
  ]);
  writeFileSync(join(cwd, "qwen2.5-0.5b-instruct-q8_0.gguf"), writeGgufLlama(randomHfQwen2(gqa(qwen.vocabSize), 8), { arch: "qwen2", type: "Q8_0", extraKv: qwenKv }).bytes);
  // Phi-2: parallel attention/MLP with one LayerNorm, partial rotary (6 of 16 head dims), lm_head with a bias,
  // CodeGen's vocabulary (<|endoftext|> for bos and eos), no chat template
  const phi = familyTokenizer("phi2");
  const eot = phi.specials["<|endoftext|>"];
  writeHfCheckpoint(join(cwd, "phi-2"), randomHfPhi({ hidden_size: 32, num_attention_heads: 2, num_hidden_layers: 2, intermediate_size: 128, vocab_size: phi.vocabSize, max_position_embeddings: SEQ }, 9), { config: { bos_token_id: eot, eos_token_id: eot } });
  writeFileSync(join(cwd, "phi-2", "tokenizer.json"), JSON.stringify(phi.json));
  writeFileSync(join(cwd, "phi-2", "tokenizer_config.json"), JSON.stringify({ bos_token: "<|endoftext|>", eos_token: "<|endoftext|>", unk_token: "<|endoftext|>", tokenizer_class: "CodeGenTokenizer" }));
  // Llama 3.2 as released: grouped K/V, tied embedding, rope_scaling llama3 (3.2's numbers), <|eot_id|>
  writeLlama3Folder(join(cwd, "Llama-3.2-1B-Instruct"), { ...llamaShape(0), num_key_value_heads: 2, tie_word_embeddings: true, rope_theta: 500000 }, 9);
  mkdirSync(join(cwd, "out"), { recursive: true });
});

describe("README: Models people have", () => {
  it("shows one command per family", () => {
    const targets = readmeCommands().map((c) => c[3]);
    for (const name of ["gpt2", "pythia-70m", "TinyLlama-1.1B-Chat-v1.0", "tinyllama-1.1b-chat-v1.0.Q8_0.gguf", "bpe-model.f16.gguf", "stories15M.bin", "SmolLM2-135M-Instruct", "Qwen2.5-0.5B-Instruct", "qwen2.5-0.5b-instruct-q8_0.gguf", "phi-2", "Llama-3.2-1B-Instruct"]) {
      expect(targets).toContain(name);
    }
  });

  it("runs every line as written", () => {
    for (const words of readmeCommands()) {
      expect(words.slice(0, 2), words.join(" ")).toEqual(["node", "bin/slimedge.js"]);
      const r = spawnSync(process.execPath, [bin, ...words.slice(2)], { cwd, encoding: "utf8", timeout: 300_000 });
      expect(r.status, `${words.join(" ")}\n${r.stderr}`).toBe(0);
      expect(r.stderr, words.join(" ")).not.toMatch(/^\s+at /m);
      if (words[2] === "run") {
        expect(r.stderr.trim().split("\n").at(-1), words.join(" ")).toMatch(/^prefill \d+ tok .* decode \d+ tok/);
        if (words.includes("--chat")) expect(r.stdout, words.join(" ")).toContain(words[words.indexOf("-p") + 1]); // the chat markers are control tokens: not printed
      }
    }
  }, 900_000);
});
