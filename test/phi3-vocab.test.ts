// Phi-3's sentencepiece vocabulary as a GGUF `llama` vocabulary (the shape llama.cpp's converter writes):
// its chat tokens <|user|>, <|assistant|>, <|end|>, <|system|> (ids past 32000) are control tokens (token_type
// 3) that a prompt and a chat rendering name by their text. They are cut out and encoded as their single
// ids, as llama.cpp does with parse_special, each fragment between them encoded on its own (with the
// dummy-prefix space), and — since the file's general.name says Phi-3, as llama.cpp decides it — the
// whitespace after each is dropped. Expected ids are worked out by hand below from the vocabulary.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { importModel } from "../tools/convert/import.ts";
import { readTextTokenizer, decodeText } from "../host/core/tokenizers.ts";
import { chatPrompt } from "../host/core/chat.ts";
import { commandTokenizerBytes } from "../tools/package/command-tokenizer.ts";
import { randomHfLlama } from "./fixtures/safetensors-writer.ts";
import { GT, llamaVocab, writeGgufLlama } from "./fixtures/gguf-writer.ts";
import { slimError } from "./helpers.ts";

const root = mkdtempSync(join(tmpdir(), "slimedge-phi3-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

// Phi-3-mini-4k-instruct's chat template
const PHI3_CHAT =
  "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}";

const SPECIALS = ["<|endoftext|>", "<|assistant|>", "<|placeholder1|>", "<|system|>", "<|end|>", "<|user|>"];
const vocab = llamaVocab(["▁", "h", "i", "e", "l", "o", "▁h", "▁hi", "▁he", "▁hel", "▁hell", "▁hello", ...SPECIALS]);
const id = (piece: string) => {
  const i = vocab.tokens.indexOf(piece);
  if (i < 0) throw new Error(`no piece ${piece}`);
  return i;
};
for (const s of SPECIALS) vocab.types[id(s)] = s === "<|placeholder1|>" ? 4 : 3; // one user-defined token, the rest control
const [EOS, A, P, SYS, END, U] = SPECIALS.map(id);
const BYTE = (b: number) => 3 + b; // <0xNN> pieces follow <unk>, <s>, </s>

function phi3Vocab(name: string) {
  const hf = randomHfLlama({ hidden_size: 32, intermediate_size: 64, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 4, vocab_size: vocab.tokens.length, max_position_embeddings: 64 }, 21);
  const { bytes } = writeGgufLlama(hf, {
    vocab,
    dropKeys: ["tokenizer.ggml.eos_token_id", "general.name"],
    extraKv: [
      { key: "general.name", v: { type: GT.STRING, value: name } },
      { key: "tokenizer.ggml.eos_token_id", v: { type: GT.U32, value: EOS } },
      { key: "tokenizer.chat_template", v: { type: GT.STRING, value: PHI3_CHAT } },
    ],
  });
  const path = join(root, `${name}.gguf`);
  writeFileSync(path, bytes);
  const imported = importModel(path);
  return readTextTokenizer("bundle", imported.tokenizer!.bytes, path, imported.model.config.vocabSize);
}

describe("a Phi-3 GGUF vocabulary (general.name Phi-3-mini-4k-instruct)", () => {
  const tok = phi3Vocab("Phi-3-mini-4k-instruct");

  it("carries its control and user-defined tokens past </s>, and stops at <|endoftext|>", () => {
    expect(tok.meta.specials?.map((s) => s.id)).toEqual([EOS, A, P, SYS, END, U]);
    expect(tok.meta.stop).toEqual([EOS]);
  });

  it("renders its chat as <s> <|user|> ▁hello <|end|> <|assistant|>: the chat tokens as single ids, the newline after each dropped", () => {
    // "<s><|user|>\nhello<|end|>\n<|assistant|>\n": "\n" after each special is stripped, "hello" gets the dummy prefix
    expect(chatPrompt(tok, "hello")).toEqual([1, U, id("▁hello"), END, A]);
  });

  it("cuts them out of a plain prompt too, leftmost first, the longest at one place", () => {
    expect(tok.prompt("hi<|end|>hello")).toEqual([1, id("▁hi"), END, id("▁hello")]);
    // the space after <|system|> is dropped; "hi " gets the dummy prefix, and its last space is the piece "▁"
    expect(tok.prompt("<|system|> hi <|end|>")).toEqual([1, SYS, id("▁hi"), id("▁"), END]);
    expect(tok.encode("<|user|><|assistant|>")).toEqual([U, A]);
    // an unfinished one is text: "<|use" + "r" pieces by byte fallback, no special
    expect(tok.encode("<|use")).not.toContain(U);
  });

  it("bounds a prompt's tokens from below even where the whitespace after a special is dropped", () => {
    for (const p of ["<|end|>" + " ".repeat(400), "hi<|user|>\n\n\n\nhello<|end|>\n", "hello hello"]) expect(tok.minPromptTokens(p)).toBeLessThanOrEqual(tok.prompt(p).length);
  });

  it("prints nothing for a control token and the text of a user-defined one", () => {
    expect(decodeText(tok, [1, id("▁hello"), END, A])).toBe("hello");
    expect(tok.isControl(END) && tok.isControl(A) && tok.isControl(EOS)).toBe(true);
    expect(tok.isControl(P)).toBe(false);
    expect(decodeText(tok, [1, id("▁hi"), P])).toBe("hi<|placeholder1|>");
  });

  it("keeps <s> and </s> as run.c encodes them in a plain prompt (the specials start past id 2)", () => {
    expect(tok.encode("</s>")).not.toContain(2);
  });

  it("`build` refuses the standalone command in one line naming what it lacks", () => {
    const e = slimError(() => commandTokenizerBytes(tok, tok.vocabSize), "E_MODEL");
    expect(e.message).toMatch(/its 6 control and user-defined tokens \(<\|endoftext\|>, <\|assistant\|>, <\|placeholder1\|>, …\), which prompts name by their text, are not cut out of a prompt by the standalone command \(it would carry a matcher for their \d+ bytes of text\)\.$/);
    expect(e.message.split("\n")).toHaveLength(1);
  });
});

describe("the same vocabulary under another general.name", () => {
  const tok = phi3Vocab("tiny-llama");

  it("cuts the chat tokens out but keeps the whitespace after them (llama.cpp strips it for Phi-3 only)", () => {
    // "\nhello" after <|user|>: dummy prefix "▁", the newline by byte fallback, then h e l l o unmerged (no "▁" before h)
    expect(tok.encode("<|user|>\nhello")).toEqual([U, id("▁"), BYTE(0x0a), id("h"), id("e"), id("l"), id("l"), id("o")]);
  });
});
