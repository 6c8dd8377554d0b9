/**
 * Chat prompts: the model's own chat template (tokenizer_config.json chat_template, GGUF
 * tokenizer.chat_template) rendered with @huggingface/jinja as transformers' apply_chat_template does —
 * one user message, the generation prompt added, bos_token and eos_token as the model names them — then
 * tokenized with the special tokens the text spells out (ARCHITECTURE.md, "Tokenizers").
 */
import { Template } from "@huggingface/jinja";
import { fail } from "./errors.ts";
import type { TextTokenizer } from "./tokenizers.ts";

/** The rendered chat text for one user message. */
export function renderChat(tok: TextTokenizer, message: string): string {
  const template = tok.meta.chatTemplate;
  if (template === null) {
    return fail(
      "E_FLAG",
      `--chat: ${tok.name} has no chat template (no chat_template in tokenizer_config.json, no tokenizer.chat_template in a GGUF file), so the model was not trained on a chat format; run without --chat`,
    );
  }
  try {
    return new Template(template).render({
      messages: [{ role: "user", content: message }],
      add_generation_prompt: true,
      bos_token: tok.meta.bosToken ?? "",
      eos_token: tok.meta.eosToken ?? "",
    });
  } catch (err) {
    return fail("E_MODEL", `--chat: the chat template of ${tok.name} does not render: ${(err as Error).message.split("\n")[0]}`);
  }
}

/**
 * Prompt ids of the rendered chat: the template writes bos itself, so none is added. Hugging Face
 * tokenizers find their added tokens in the text; sentencepiece (llama2.c) vocabularies are given the bos
 * and eos strings as special tokens, the text between them encoded as usual.
 */
export function chatPrompt(tok: TextTokenizer, message: string): number[] {
  const text = renderChat(tok, message);
  if (tok.family !== "llama2c") return tok.encode(text);
  const specials = new Map<string, number>();
  if (tok.meta.bosToken && tok.meta.bos !== null) specials.set(tok.meta.bosToken, tok.meta.bos);
  if (tok.meta.eosToken && tok.meta.stop.length > 0) specials.set(tok.meta.eosToken, tok.meta.stop[0]);
  const ids: number[] = [];
  let rest = text;
  while (rest.length > 0) {
    let at = rest.length;
    let found: string | undefined;
    for (const s of specials.keys()) {
      const i = rest.indexOf(s);
      if (i >= 0 && i < at) [at, found] = [i, s];
    }
    if (at > 0) ids.push(...tok.encode(rest.slice(0, at)));
    if (found === undefined) break;
    ids.push(specials.get(found)!);
    rest = rest.slice(at + found.length);
  }
  return ids;
}
