/**
 * One tokenizer interface for every family the project reads (ARCHITECTURE.md, "Tokenizers"):
 * - llama2.c tokenizer.bin (tokenizer.ts), which is also how a GGUF `llama` vocabulary travels;
 * - Hugging Face tokenizer.json BPE (hf-tokenizer.ts): byte-level (GPT-2, NeoX, and GGUF `gpt2`
 *   vocabularies written as tokenizer.json) and Llama-style with byte fallback;
 * together with what the model says about its special tokens: the BOS id and whether prompts start with
 * it, the ids generation stops at, and its chat template.
 *
 * A tokenizer travels as bytes of a kind: "llama2c" (tokenizer.bin, with llama2.c's conventions), "hf-json"
 * (a bare tokenizer.json, conventions from its post-processor and added tokens) or "bundle": one JSON line
 * of TokenizerMeta naming the payload's kind, a newline, then the payload's bytes. Importers write bundles
 * (meta from config.json, generation_config.json, tokenizer_config.json or GGUF metadata); .slim embeds them.
 */
import { fail } from "./errors.ts";
import { readWholeFile } from "./files.ts";
import { BOS, readTokenizer, Tokenizer, Utf8Stream } from "./tokenizer.ts";
import { HfTokenizer, readHfTokenizer } from "./hf-tokenizer.ts";

export type TokenizerFormat = "llama2c" | "hf-json";
export type TokenizerKind = TokenizerFormat | "bundle";

export interface TokenizerMeta {
  bos: number | null; // the id that starts a sequence; also the prompt when the text is empty
  addBos: boolean; // prompts start with bos
  stop: number[]; // generation ends when one of these is sampled
  chatTemplate: string | null; // Jinja source (tokenizer_config.json chat_template, GGUF tokenizer.chat_template)
  bosToken?: string; // the strings a chat template sees as bos_token / eos_token
  eosToken?: string;
  /**
   * llama2.c-style vocabularies only: tokens past <unk>, <s>, </s> that a prompt names by their text — a GGUF
   * `llama` vocabulary's control (type 3) and user-defined (type 4) tokens, Phi-3's <|user|>, <|end|>, … —
   * cut out of the text and encoded as their single ids, as llama.cpp does with parse_special; control ones
   * print nothing; `rstrip` drops the whitespace after one (llama.cpp sets it for Phi-3's).
   */
  specials?: SpecialToken[];
}

export interface SpecialToken {
  id: number;
  control: boolean;
  rstrip: boolean;
}

/** What every family offers to encoding, generation, printing and packaging. */
export interface TextTokenizer {
  readonly name: string; // where it came from, for messages
  readonly family: "llama2c" | "byte-level" | "metaspace";
  readonly vocabSize: number;
  readonly meta: TokenizerMeta;
  /** Ids of a prompt as the model expects them: bos first when meta.addBos; an empty text is [bos]. */
  prompt(text: string): number[];
  /** Ids of text alone, no bos. */
  encode(text: string): number[];
  /** The fewest ids prompt(text) can give, known before encoding (to refuse an over-long prompt at once). */
  minPromptTokens(text: string): number;
  /** Bytes to print for `token` sampled after `prev` (-1 at the start); none for control tokens. */
  decode(prev: number, token: number): Uint8Array;
  /** The token as its vocabulary writes it, for messages ("</s>", "<|endoftext|>"). */
  tokenName(id: number): string;
  /** Whether the token prints nothing (bos, eos and other control tokens). */
  isControl(id: number): boolean;
  /** The underlying reader. */
  readonly inner: Tokenizer | HfTokenizer;
}

/** Printed text of a whole sequence, through the same rules as streamed output (Utf8Stream). */
export function decodeText(tok: TextTokenizer, ids: readonly number[]): string {
  const stream = new Utf8Stream();
  let text = "";
  let prev = -1;
  for (const id of ids) {
    text += stream.write(tok.decode(prev, id));
    prev = id;
  }
  return text + stream.end();
}

const emptyPrompt = (name: string, meta: TokenizerMeta): number[] =>
  meta.bos !== null ? [meta.bos] : fail("E_FLAG", `-p/--prompt: the prompt is empty and ${name} names no BOS token to start from; give some text`);

// ---------------------------------------------------------------------------------------------
// llama2.c

/** run.c's conventions: <s> (1) starts every prompt, and generation stops when <s> comes again. */
export const LLAMA2C_META: TokenizerMeta = { bos: BOS, addBos: true, stop: [BOS], chatTemplate: null };

class Llama2cText implements TextTokenizer {
  readonly family = "llama2c";
  private readonly specials: { id: number; text: string; control: boolean; rstrip: boolean }[];
  constructor(
    readonly inner: Tokenizer,
    readonly meta: TokenizerMeta,
  ) {
    this.specials = (meta.specials ?? []).map((s) => {
      if (s.id >= inner.vocabSize) fail("E_FORMAT", `${inner.name}: special token id ${s.id} is outside the vocabulary of ${inner.vocabSize} tokens.`);
      return { ...s, text: new TextDecoder().decode(inner.piece(s.id)) };
    }).filter((s) => s.text !== "");
  }
  /**
   * Ids of text with the special tokens cut out (leftmost first, the longest at one place), each fragment
   * between them encoded on its own (so with the dummy-prefix space, as llama.cpp encodes a fragment after a
   * special token). Each special's next occurrence is found once and searched again only when passed: O(k·n).
   */
  private encodeText(text: string): number[] {
    if (this.specials.length === 0) return this.inner.encode(text);
    const next = this.specials.map((s) => text.indexOf(s.text));
    const ids: number[] = [];
    let at = 0;
    while (at < text.length) {
      let best = -1;
      for (let k = 0; k < this.specials.length; k++) {
        if (next[k] >= 0 && next[k] < at) next[k] = text.indexOf(this.specials[k].text, at);
        if (next[k] < 0) continue;
        if (best < 0 || next[k] < next[best] || (next[k] === next[best] && this.specials[k].text.length > this.specials[best].text.length)) best = k;
      }
      const end = best < 0 ? text.length : next[best];
      if (end > at) for (const id of this.inner.encode(text.slice(at, end))) ids.push(id);
      if (best < 0) break;
      const s = this.specials[best];
      ids.push(s.id);
      at = end + s.text.length;
      if (s.rstrip) while (at < text.length && " \t\n\v\f\r".includes(text[at])) at++;
    }
    return ids;
  }
  get name() {
    return this.inner.name;
  }
  get vocabSize() {
    return this.inner.vocabSize;
  }
  prompt(text: string): number[] {
    if (text === "" && !this.meta.addBos) return emptyPrompt(this.name, this.meta);
    const ids = this.encodeText(text);
    return this.meta.addBos && this.meta.bos !== null ? [this.meta.bos, ...ids] : ids;
  }
  encode(text: string): number[] {
    return this.encodeText(text);
  }
  minPromptTokens(text: string): number {
    // a special that drops the whitespace after it leaves fewer bytes to cover: count the others only
    const counted = this.specials.some((s) => s.rstrip) ? text.replace(/[ \t\n\v\f\r]/g, "") : text;
    return this.inner.minTokens(counted, { bos: this.meta.addBos && this.meta.bos !== null });
  }
  decode(prev: number, token: number): Uint8Array {
    return this.isControl(token) ? new Uint8Array(0) : this.inner.decode(prev, token); // no dummy-prefix space after <s>
  }
  tokenName(id: number): string {
    return new TextDecoder().decode(this.inner.piece(id)).trim() || `token ${id}`;
  }
  isControl(id: number): boolean {
    return id === this.meta.bos || this.specials.some((s) => s.control && s.id === id);
  }
}

// ---------------------------------------------------------------------------------------------
// Hugging Face tokenizer.json

class HfText implements TextTokenizer {
  readonly family: "byte-level" | "metaspace";
  constructor(
    readonly inner: HfTokenizer,
    readonly meta: TokenizerMeta,
  ) {
    this.family = inner.options.preTokenizer.type;
  }
  get name() {
    return this.inner.name;
  }
  get vocabSize() {
    return this.inner.vocabSize;
  }
  prompt(text: string): number[] {
    const ids = this.inner.encode(text);
    if (this.meta.addBos && this.meta.bos !== null) return [this.meta.bos, ...ids];
    return ids.length > 0 ? ids : emptyPrompt(this.name, this.meta);
  }
  encode(text: string): number[] {
    return this.inner.encode(text);
  }
  minPromptTokens(): number {
    return 0; // no bound on piece length is kept for tokenizer.json; its BPE is O(n log n) (host/core/bpe.ts)
  }
  decode(prev: number, token: number): Uint8Array {
    if (this.isControl(token)) return new Uint8Array(0);
    // sentencepiece-style text drops the space its "▁" prefix put before the first word
    return this.inner.tokenBytes(token, this.family === "metaspace" && (prev < 0 || prev === this.meta.bos));
  }
  tokenName(id: number): string {
    const t = this.inner.token(id);
    return this.inner.addedToken(id) ? t : new TextDecoder().decode(this.inner.tokenBytes(id));
  }
  isControl(id: number): boolean {
    return this.inner.addedToken(id)?.special === true || id === this.meta.bos;
  }
}

/**
 * The conventions a bare tokenizer.json implies: bos from a TemplateProcessing post-processor that puts a
 * special token before the text (Llama), else none (GPT-2, NeoX); stop at an eos-looking special token.
 */
export function hfJsonMeta(json: unknown, tok: HfTokenizer): TokenizerMeta {
  const root = (json ?? {}) as Record<string, any>;
  const processors: any[] = root.post_processor?.type === "Sequence" ? (root.post_processor.processors ?? []) : [root.post_processor];
  let bos: number | null = null;
  for (const p of processors) {
    const first = p?.type === "TemplateProcessing" && Array.isArray(p.single) ? p.single[0] : undefined;
    const name = first?.SpecialToken?.id;
    if (typeof name === "string") bos = p.special_tokens?.[name]?.ids?.[0] ?? tok.idOf(name) ?? null;
  }
  const addBos = bos !== null;
  const eosNames = ["</s>", "<|endoftext|>", "<|im_end|>", "<|end_of_text|>", "<eos>"];
  const stop = eosNames.map((n) => tok.idOf(n)).filter((id): id is number => id !== undefined && tok.addedToken(id) !== undefined);
  if (bos === null) bos = tok.idOf("<s>") ?? tok.idOf("<|endoftext|>") ?? null;
  return { bos, addBos, stop: stop.slice(0, 1), chatTemplate: null };
}

// ---------------------------------------------------------------------------------------------
// reading

const utf8 = new TextEncoder();
const BUNDLE_KEY = "slimedge-tokenizer";

/** A bundle's bytes: the meta as one JSON line naming the payload's kind, then the payload. */
export function writeBundle(format: TokenizerFormat, payload: Uint8Array, meta: TokenizerMeta): Uint8Array {
  const head = utf8.encode(JSON.stringify({ [BUNDLE_KEY]: 1, payload: format, ...meta }) + "\n");
  const out = new Uint8Array(head.length + payload.length);
  out.set(head);
  out.set(payload, head.length);
  return out;
}

function readBundle(bytes: Uint8Array, name: string): { format: TokenizerFormat; payload: Uint8Array; meta: TokenizerMeta } {
  const nl = bytes.indexOf(0x0a);
  let head: Record<string, unknown>;
  try {
    head = JSON.parse(new TextDecoder().decode(bytes.subarray(0, nl < 0 ? bytes.length : nl)));
  } catch {
    return fail("E_FORMAT", `${name}: the tokenizer bundle does not start with a JSON line.`);
  }
  const ids = (v: unknown) => Array.isArray(v) && v.every((x) => Number.isInteger(x) && x >= 0);
  if (head[BUNDLE_KEY] !== 1 || (head.payload !== "llama2c" && head.payload !== "hf-json") || !(head.bos === null || Number.isInteger(head.bos)) || typeof head.addBos !== "boolean" || !ids(head.stop)) {
    return fail("E_FORMAT", `${name}: the tokenizer bundle's first line is not {"${BUNDLE_KEY}":1, "payload":"llama2c"|"hf-json", "bos", "addBos", "stop":[…]}.`);
  }
  const meta: TokenizerMeta = {
    bos: head.bos as number | null,
    addBos: head.addBos,
    stop: head.stop as number[],
    chatTemplate: typeof head.chatTemplate === "string" ? head.chatTemplate : null,
    bosToken: typeof head.bosToken === "string" ? head.bosToken : undefined,
    eosToken: typeof head.eosToken === "string" ? head.eosToken : undefined,
  };
  if (head.specials !== undefined) {
    const ok = (x: any) => x !== null && typeof x === "object" && Number.isInteger(x.id) && x.id >= 0 && typeof x.control === "boolean" && typeof x.rstrip === "boolean";
    if (head.payload !== "llama2c" || !Array.isArray(head.specials) || !head.specials.every(ok))
      return fail("E_FORMAT", `${name}: the tokenizer bundle's "specials" is not a list of {"id", "control", "rstrip"} of a llama2c payload.`);
    meta.specials = (head.specials as SpecialToken[]).map((x) => ({ id: x.id, control: x.control, rstrip: x.rstrip }));
  }
  return { format: head.payload, payload: bytes.subarray(nl + 1), meta };
}

/** The tokenizer in `bytes` of `kind`; `vocabSize` checks it against the model's. */
/**
 * A sentencepiece ModelProto starts with its first piece: field 1 (0x0a), a length, and the piece's own
 * field 1 (0x0a); a llama2.c tokenizer.bin starts with max_token_length as an int32, whose second byte is 0.
 */
function isSentencepieceModel(b: Uint8Array): boolean {
  return b.length > 3 && b[0] === 0x0a && b[1] > 0 && b[1] < 0x80 && b[2] === 0x0a;
}

export function readTextTokenizer(kind: TokenizerKind, bytes: Uint8Array, name: string, vocabSize?: number): TextTokenizer {
  let format: TokenizerFormat;
  let payload = bytes;
  let meta: TokenizerMeta | undefined;
  if (kind === "bundle") ({ format, payload, meta } = readBundle(bytes, name));
  else format = kind;
  let tok: TextTokenizer;
  if (format === "llama2c" && isSentencepieceModel(payload))
    fail(
      "E_FORMAT",
      `${name}: a sentencepiece .model file (protobuf), which slimedge does not read as a tokenizer; pass tokenizer.bin ` +
        `(llama2.c's tokenizer.py writes it from this file) or a Hugging Face tokenizer.json`,
    );
  if (format === "llama2c") {
    tok = new Llama2cText(readTokenizer(payload, name, vocabSize), meta ?? LLAMA2C_META);
  } else {
    const text = new TextDecoder().decode(payload);
    const inner = readHfTokenizer(text, name);
    tok = new HfText(inner, meta ?? hfJsonMeta(JSON.parse(text), inner));
    if (vocabSize !== undefined && inner.vocabSize > vocabSize) {
      fail("E_FORMAT", `${name}: the tokenizer has ${inner.vocabSize} tokens, more than the model's vocab_size ${vocabSize}.`);
    }
  }
  for (const id of [tok.meta.bos, ...tok.meta.stop]) {
    if (id !== null && id >= (vocabSize ?? tok.vocabSize)) fail("E_FORMAT", `${name}: special token id ${id} is outside the ${vocabSize ?? tok.vocabSize}-token vocabulary.`);
  }
  return tok;
}

/** A tokenizer file given by the user: tokenizer.json (a JSON object) or tokenizer.bin. */
export function loadTextTokenizer(path: string, vocabSize?: number): TextTokenizer {
  const bytes = readWholeFile(path, "tokenizer");
  return readTextTokenizer(sniffKind(bytes), bytes, path, vocabSize);
}

/** "bundle", "hf-json" or "llama2c" by the first bytes. */
export function sniffKind(bytes: Uint8Array): TokenizerKind {
  const head = new TextDecoder().decode(bytes.subarray(0, 64)).trimStart();
  if (head.startsWith(`{"${BUNDLE_KEY}"`)) return "bundle";
  return head.startsWith("{") ? "hf-json" : "llama2c";
}
