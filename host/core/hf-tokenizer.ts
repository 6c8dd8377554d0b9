/**
 * Hugging Face `tokenizer.json` BPE tokenizers, encoding and decoding as the `tokenizers` library does:
 * - byte-level (GPT-2, GPT-NeoX / Pythia, Phi-2, SmolLM, Qwen2, Llama 3): text cut by the Split / Digits steps a
 *   Sequence puts before ByteLevel (Qwen2's and Llama 3's regexes, SmolLM's single digits), then by GPT-2's
 *   pre-tokenizer regex where ByteLevel asks for it (contractions, letter, number and other runs with one
 *   optional leading space; whitespace), each piece's UTF-8 bytes written as printable symbols by GPT-2's
 *   bytes→unicode table (space "Ġ", newline "Ċ");
 * - Llama/sentencepiece style (Llama 2, TinyLlama): spaces become "▁", a "▁" goes in front, the characters
 *   are the symbols, and a character outside the vocabulary falls back to <0xXX> byte tokens.
 * In both, added tokens (<|endoftext|>, <s>, …) are cut out of the text first and map straight to their ids,
 * an optional Unicode normal form applies to the rest, and BPE merges the adjacent pair of lowest merge rank
 * (leftmost first) until none applies (bpe.ts). Decoding maps tokens back to bytes.
 *
 * Refused with E_MODEL when a file asks for them: other pre-tokenizers (Whitespace, Punctuation, …), Split
 * behaviours other than Isolated/Removed, regex syntax translateOnigRegex does not translate, other models (WordPiece, Unigram), BPE suffix/prefix markers. Special tokens added around a sequence (the
 * post-processor) are the caller's business: tokenizers.ts reads them.
 */
import { fail } from "./errors.ts";
import { readWholeFile } from "./files.ts";
import { mergeByRank } from "./bpe.ts";

/** GPT-2's pre-tokenizer pattern (tokenizers' ByteLevel, from openai/gpt-2 encoder.py). */
export const GPT2_PATTERN = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/**
 * GPT-2's bytes_to_unicode: the printable Latin-1 bytes ("!".."~", "¡".."¬", "®".."ÿ") stand for
 * themselves; the other 68 bytes, in increasing order, take U+0100, U+0101, … so no symbol is a control
 * character or a space. Index = byte.
 */
export function bytesToUnicode(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const table: string[] = [];
  let next = 256;
  for (let b = 0; b < 256; b++) table[b] = String.fromCodePoint(printable(b) ? b : next++);
  return table;
}

const BYTE_TO_CHAR = bytesToUnicode();
const CHAR_TO_BYTE = new Map(BYTE_TO_CHAR.map((ch, b) => [ch, b]));
const utf8 = new TextEncoder();

export interface AddedToken {
  id: number;
  content: string;
  special: boolean; // control token: prints nothing when streamed (decode({ skipSpecial: true }) drops it)
  lstrip?: boolean; // whitespace before it is removed from the text
  rstrip?: boolean; // whitespace after it is removed
}

/**
 * A splitting step before ByteLevel in a `Sequence` pre-tokenizer, as the `tokenizers` library applies it to
 * every piece the steps before it made (empty pieces dropped):
 * - `split`: a `Split` with a regex (Qwen2's, Llama 3's) or a literal, `Isolated` (matches and the text
 *   between them are pieces) or `Removed` (only the text between); `source` is the pattern as the file
 *   writes it (Oniguruma syntax), `regex` its JavaScript translation (translateOnigRegex);
 * - `digits`: `Digits`, every numeric character (Rust's char::is_numeric, \p{N}) its own piece
 *   (individual_digits) or runs of them.
 */
export type PreSplit =
  | { type: "split"; source: string; literal: boolean; regex: RegExp; behavior: "Isolated" | "Removed" }
  | { type: "digits"; individual: boolean };

/** How text becomes the symbols BPE merges. */
export type HfPreTokenizer =
  /**
   * GPT-2/NeoX/SmolLM/Qwen2/Llama 3: `splits` first (none for GPT-2), then each piece gets a space in front
   * (add_prefix_space) and is split by GPT2_PATTERN (use_regex), and its UTF-8 bytes become printable symbols.
   */
  | { type: "byte-level"; addPrefixSpace: boolean; useRegex: boolean; splits: PreSplit[] }
  /**
   * Llama/sentencepiece style: spaces become "▁", a "▁" is put in front of a segment not starting with one
   * ("always": every text segment; "first": the first segment only; "never"; "unconditional": every segment,
   * even one starting with a space, as Llama 2's Prepend normalizer does), and the characters are the symbols; a character not in the
   * vocabulary becomes its UTF-8 bytes as <0xXX> tokens (byte fallback) or <unk>.
   */
  | { type: "metaspace"; prepend: "always" | "first" | "never" | "unconditional"; split: boolean };

export interface HfTokenizerOptions {
  preTokenizer: HfPreTokenizer;
  normalization?: "NFC" | "NFD" | "NFKC" | "NFKD";
  ignoreMerges: boolean; // BPE ignore_merges: a piece that is a whole vocabulary entry is taken as it is
  byteFallback: boolean; // BPE byte_fallback: <0xXX> tokens for characters outside the vocabulary
  unkId?: number; // id for a symbol missing from the vocabulary; without it that is an error
}

export const METASPACE = "\u2581";

/** Appends one by one: a spread of a very long word's ids would overflow the call stack. */
function pushAll(out: number[], ids: readonly number[]): void {
  for (const id of ids) out.push(id);
}

/** `text` cut by the split steps in order, each applied to every piece the one before made; no empty pieces. */
export function preSplit(text: string, steps: readonly PreSplit[]): string[] {
  let pieces = text.length > 0 ? [text] : [];
  for (const step of steps) {
    const next: string[] = [];
    for (const piece of pieces) {
      if (step.type === "digits") {
        for (const m of piece.matchAll(step.individual ? DIGIT_ONE : DIGIT_RUN)) next.push(m[0]);
        continue;
      }
      let at = 0;
      for (const m of piece.matchAll(step.regex)) {
        if (m[0].length === 0) continue;
        if (m.index > at) next.push(piece.slice(at, m.index));
        if (step.behavior === "Isolated") next.push(m[0]);
        at = m.index + m[0].length;
      }
      if (at < piece.length) next.push(piece.slice(at));
    }
    pieces = next;
  }
  return pieces;
}
const DIGIT_ONE = /\p{N}|\P{N}+/gu;
const DIGIT_RUN = /\p{N}+|\P{N}+/gu;

/**
 * The JavaScript regex for a `Split` pattern written in Oniguruma syntax (what `tokenizers` compiles), or a
 * sentence saying what it cannot translate. Oniguruma's \s and \S are Unicode White_Space (JavaScript's \s
 * also takes U+FEFF and misses U+0085), `(?i:…)` turns ASCII letters into [xX] classes, "." matches all but
 * "\n"; anchors, inline flags and atomic groups are refused rather than guessed.
 */
export function translateOnigRegex(source: string): RegExp | string {
  let out = "";
  let inClass = false;
  const groups: boolean[] = []; // per open group: whether it folds case
  const folding = () => groups.includes(true);
  for (let i = 0; i < source.length; ) {
    const c = source[i];
    if (c === "\\") {
      const e = source[i + 1];
      if (e === undefined) return "it ends in a lone backslash";
      if (e === "s" || e === "S") out += e === "s" ? "\\p{White_Space}" : "\\P{White_Space}";
      else if (e === "d" || e === "D") out += e === "d" ? "\\p{Nd}" : "\\P{Nd}";
      else if (e === "p" || e === "P") {
        const close = source.indexOf("}", i);
        if (source[i + 2] !== "{" || close < 0) return `\\${e} at ${i} has no {…} property`;
        out += source.slice(i, close + 1);
        i = close + 1;
        continue;
      } else if (/[AzZGbBhHwWRXK0-9]/.test(e)) return `the escape \\${e} is not translated`;
      else out += "\\" + e;
      i += 2;
      continue;
    }
    if (inClass) {
      if (c === "[") return "it nests a character class";
      if (c === "]") inClass = false;
      if (folding() && /[A-Za-z]/.test(c)) return "it folds case inside a character class";
      out += c;
      i++;
      continue;
    }
    if (c === "[") {
      inClass = true;
      out += c;
      i++;
      if (source[i] === "^") (out += "^"), i++;
      if (source[i] === "]") (out += "\\]"), i++;
      continue;
    }
    if (c === "(") {
      if (source.startsWith("(?i:", i)) {
        groups.push(true);
        out += "(?:";
        i += 4;
        continue;
      }
      const prefix = /^\((?:\?(?::|=|!|<=|<!))?/.exec(source.slice(i))![0];
      if (source[i + 1] === "?" && prefix === "(") return `the group ${JSON.stringify(source.slice(i, i + 4))} at ${i} is not translated`;
      groups.push(false);
      out += prefix;
      i += prefix.length;
      continue;
    }
    if (c === ")") groups.pop();
    if (c === "^" || c === "$") return `the anchor ${c} at ${i} is not translated`;
    if (c === ".") out += "[^\\n]";
    else if (folding() && /[A-Za-z]/.test(c)) out += `[${c.toLowerCase()}${c.toUpperCase()}]`;
    else out += c;
    i++;
  }
  try {
    return new RegExp(out, "gu");
  } catch (err) {
    return `its translation does not compile (${(err as Error).message})`;
  }
}

/** The Split pattern of Qwen2's tokenizer.json (numbers one digit at a time). */
export const QWEN2_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
/** The Split pattern of Llama 3's tokenizer.json (numbers up to three digits at a time). */
export const LLAMA3_SPLIT = "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
const BYTE_PIECE = /^<0x([0-9A-F]{2})>$/;
const byteTokenName = (b: number) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`;

export class HfTokenizer {
  private readonly idToToken: string[] = [];
  private readonly pairs = new Map<number, number>(); // a * vocabSize + b -> merge index (= rank)
  readonly mergeResults: number[] = []; // merge index -> id of the merged token
  readonly mergePairs: [number, number][] = []; // merge index -> the two ids
  private readonly addedById = new Map<number, AddedToken>();
  private readonly addedByContent = new Map<string, AddedToken>();
  private readonly cache = new Map<string, number[]>(); // pre-token -> ids
  readonly byteIds: Int32Array; // byte -> id of its symbol (byte-level) or <0xXX> token (metaspace), -1 if none

  constructor(
    readonly vocab: ReadonlyMap<string, number>, // symbol string -> id
    merges: readonly (readonly [string, string])[], // in rank order
    readonly added: readonly AddedToken[],
    readonly options: HfTokenizerOptions,
    readonly name: string, // file named in messages
  ) {
    for (const [token, id] of vocab) this.idToToken[id] = token;
    for (const t of added) {
      this.addedById.set(t.id, t);
      if (!this.addedByContent.has(t.content)) this.addedByContent.set(t.content, t);
      this.idToToken[t.id] ??= t.content;
    }
    const v = this.vocabSize;
    merges.forEach(([a, b], i) => {
      const ia = vocab.get(a);
      const ib = vocab.get(b);
      const r = vocab.get(a + b);
      if (ia === undefined || ib === undefined || r === undefined) {
        fail("E_FORMAT", `${name}: model.merges[${i}] is ${JSON.stringify(`${a} ${b}`)}, but ${JSON.stringify(ia === undefined ? a : ib === undefined ? b : a + b)} is not in model.vocab.`);
      }
      const key = ia! * v + ib!;
      if (this.pairs.has(key)) return;
      this.pairs.set(key, this.mergeResults.length);
      this.mergeResults.push(r!);
      this.mergePairs.push([ia!, ib!]);
    });
    this.byteIds = new Int32Array(256).fill(-1);
    for (let b = 0; b < 256; b++) {
      const id = vocab.get(options.preTokenizer.type === "byte-level" ? BYTE_TO_CHAR[b] : byteTokenName(b));
      if (id !== undefined) this.byteIds[b] = id;
    }
  }

  /** Ids are 0..vocabSize-1, added tokens included. */
  get vocabSize(): number {
    return this.idToToken.length;
  }

  /** The stored string of a token (e.g. "Ġthe", "▁the", "<0x0A>", "<|endoftext|>"), checking the id. */
  token(id: number): string {
    const t = Number.isInteger(id) ? this.idToToken[id] : undefined;
    return t ?? fail("E_MODEL", `token id ${id} is outside the ${this.vocabSize}-token vocabulary of ${this.name}.`);
  }

  /** Whether the id names a token (ids between the vocabulary's and the added tokens' may be unused). */
  hasToken(id: number): boolean {
    return this.idToToken[id] !== undefined;
  }

  /** The id of a token string (added tokens included), if it has one. */
  idOf(token: string): number | undefined {
    return this.addedByContent.get(token)?.id ?? this.vocab.get(token);
  }

  addedToken(id: number): AddedToken | undefined {
    return this.addedById.get(id);
  }

  /** Token ids for `text` (no special tokens added around it: see HfText in tokenizers.ts). */
  encode(text: string): number[] {
    const ids: number[] = [];
    const pre = this.options.preTokenizer;
    this.splitAdded(text).forEach(([segment, added], index) => {
      if (added) {
        ids.push(added.id);
        return;
      }
      let s = this.options.normalization ? segment.normalize(this.options.normalization) : segment;
      if (pre.type === "byte-level") {
        for (let part of preSplit(s, pre.splits)) {
          if (pre.addPrefixSpace && !part.startsWith(" ")) part = " " + part;
          const pieces = pre.useRegex ? (part.match(GPT2_PATTERN) ?? []) : [part];
          for (const piece of pieces) pushAll(ids, this.encodePiece(piece));
        }
      } else {
        s = s.replaceAll(" ", METASPACE);
        if (pre.prepend === "unconditional" || (!s.startsWith(METASPACE) && (pre.prepend === "always" || (pre.prepend === "first" && index === 0)))) s = METASPACE + s;
        for (const word of pre.split ? s.split(/(?=\u2581)/u) : [s]) if (word) pushAll(ids, this.encodePiece(word));
      }
    });
    return ids;
  }

  /** Text of a sequence of ids as the tokenizer's decoder gives it; bytes split across tokens join up first. */
  decode(ids: readonly number[], opts: { skipSpecial?: boolean } = {}): string {
    const bytes: number[] = [];
    let first = true;
    for (const id of ids) {
      const added = this.addedById.get(id);
      if (added && opts.skipSpecial && added.special) continue;
      bytes.push(...this.tokenBytes(id, first));
      first = false;
    }
    return new TextDecoder("utf-8", { ignoreBOM: true }).decode(Uint8Array.from(bytes)); // a leading U+FEFF is text
  }

  /**
   * Raw bytes one token stands for. Metaspace tokenizers print "▁" as a space and drop the space the
   * prefix put in front of the first token (`first`), as their Strip decoder does.
   */
  tokenBytes(id: number, first = false): Uint8Array {
    const added = this.addedById.get(id);
    if (added) return utf8.encode(added.content);
    const token = this.token(id);
    if (this.options.preTokenizer.type === "metaspace") {
      const m = this.options.byteFallback ? BYTE_PIECE.exec(token) : null;
      if (m) return Uint8Array.of(parseInt(m[1], 16));
      const text = token.replaceAll(METASPACE, " ");
      return utf8.encode(first && text.startsWith(" ") ? text.slice(1) : text);
    }
    const out: number[] = [];
    for (const ch of token) {
      const b = CHAR_TO_BYTE.get(ch);
      if (b !== undefined) out.push(b);
      else out.push(...utf8.encode(ch)); // not a byte-level symbol: take the character itself
    }
    return Uint8Array.from(out);
  }

  /**
   * [segment, added token or null] pairs covering text in order: added tokens are found leftmost-longest
   * on the raw text, and lstrip/rstrip take the whitespace beside them away.
   */
  private splitAdded(text: string): [string, AddedToken | null][] {
    const parts: [string, AddedToken | null][] = [];
    if (this.added.length === 0) return text.length > 0 ? [[text, null]] : [];
    let start = 0;
    for (let i = 0; i < text.length; ) {
      let match: AddedToken | undefined;
      for (const t of this.added) if (text.startsWith(t.content, i) && (!match || t.content.length > match.content.length)) match = t;
      if (!match) {
        i++;
        continue;
      }
      if (i > start) parts.push([text.slice(start, i), null]);
      parts.push([match.content, match]);
      i += match.content.length;
      start = i;
    }
    if (start < text.length) parts.push([text.slice(start), null]);
    parts.forEach(([, t], i) => {
      if (t?.lstrip && i > 0 && !parts[i - 1][1]) parts[i - 1][0] = parts[i - 1][0].trimEnd();
      if (t?.rstrip && i + 1 < parts.length && !parts[i + 1][1]) parts[i + 1][0] = parts[i + 1][0].trimStart();
    });
    return parts.filter(([s]) => s.length > 0);
  }

  /** BPE on one pre-token: its symbols (as ids), merged by rank. */
  private encodePiece(piece: string): number[] {
    const cached = this.cache.get(piece);
    if (cached) return cached;
    let ids: number[];
    if (this.options.preTokenizer.type === "byte-level") {
      const symbols = [...utf8.encode(piece)].map((b) => BYTE_TO_CHAR[b]);
      const whole = symbols.join("");
      const wholeId = this.options.ignoreMerges ? this.vocab.get(whole) : undefined;
      ids = wholeId !== undefined ? [wholeId] : this.merge(symbols.map((s) => this.vocab.get(s) ?? this.unknown(s, piece)));
    } else {
      const wholeId = this.options.ignoreMerges ? this.vocab.get(piece) : undefined;
      ids = wholeId !== undefined ? [wholeId] : this.merge([...piece].flatMap((ch) => this.charIds(ch, piece)));
    }
    if (this.cache.size < 65536) this.cache.set(piece, ids);
    return ids;
  }

  /** A character's id, else its bytes' <0xXX> ids (byte fallback), else <unk>. */
  private charIds(ch: string, piece: string): number[] {
    const id = this.vocab.get(ch);
    if (id !== undefined) return [id];
    if (this.options.byteFallback) {
      const bytes = [...utf8.encode(ch)].map((b) => this.byteIds[b]);
      if (bytes.every((b) => b >= 0)) return bytes;
    }
    return [this.unknown(ch, piece)];
  }

  private unknown(symbol: string, piece: string): number {
    return this.options.unkId ?? fail("E_MODEL", `${this.name} has no vocabulary entry for the symbol ${JSON.stringify(symbol)} of ${JSON.stringify(piece)}, and no unk_token.`);
  }

  private merge(ids: number[]): number[] {
    const v = this.vocabSize;
    return mergeByRank(ids, (a, b) => this.pairs.get(a * v + b), (a, b) => this.mergeResults[this.pairs.get(a * v + b)!]);
  }
}

// ---------------------------------------------------------------------------------------------
// tokenizer.json

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** Reads a tokenizer.json (the text of the file); `name` is the path used in messages. */
export function readHfTokenizer(json: string, name: string): HfTokenizer {
  let root: unknown;
  try {
    root = JSON.parse(json);
  } catch (err) {
    return fail("E_FORMAT", `${name}: not valid JSON (${(err as Error).message}).`);
  }
  if (!isObject(root)) return fail("E_FORMAT", `${name}: expected a JSON object with a "model" field.`);
  const model = root.model;
  if (!isObject(model)) return fail("E_FORMAT", `${name}: field model is missing or not an object.`);
  if (model.type !== undefined && model.type !== "BPE") fail("E_MODEL", `${name}: field model.type is ${JSON.stringify(model.type)}, but only BPE tokenizers are read.`);
  for (const field of ["continuing_subword_prefix", "end_of_word_suffix"]) {
    const v = model[field];
    if (v !== undefined && v !== null && v !== "") fail("E_MODEL", `${name}: field model.${field} is ${JSON.stringify(v)}, but only BPE without word markers is implemented.`);
  }

  const vocabJson = model.vocab;
  if (!isObject(vocabJson)) return fail("E_FORMAT", `${name}: field model.vocab is missing or not an object of token -> id.`);
  const vocab = new Map<string, number>();
  const seenIds = new Set<number>();
  for (const [token, id] of Object.entries(vocabJson)) {
    if (typeof id !== "number" || !Number.isInteger(id) || id < 0) fail("E_FORMAT", `${name}: model.vocab gives ${JSON.stringify(token)} the id ${JSON.stringify(id)}, expected a non-negative integer.`);
    if (seenIds.has(id as number)) fail("E_FORMAT", `${name}: model.vocab gives id ${id} to more than one token.`);
    seenIds.add(id as number);
    vocab.set(token, id as number);
  }

  const mergesJson = model.merges ?? [];
  if (!Array.isArray(mergesJson)) return fail("E_FORMAT", `${name}: field model.merges is not an array.`);
  const merges = mergesJson.map((m, i): [string, string] => {
    // Older files write "a b"; tokenizers >= 0.20 writes ["a", "b"].
    const pair = typeof m === "string" ? m.split(" ") : m;
    if (!Array.isArray(pair) || pair.length !== 2 || !pair.every((s) => typeof s === "string" && s.length > 0)) {
      return fail("E_FORMAT", `${name}: model.merges[${i}] is ${JSON.stringify(m)}, expected "a b" or ["a", "b"].`);
    }
    return [pair[0], pair[1]];
  });

  const addedJson = root.added_tokens ?? [];
  if (!Array.isArray(addedJson)) return fail("E_FORMAT", `${name}: field added_tokens is not an array.`);
  const added = addedJson.map((t, i): AddedToken => {
    if (!isObject(t) || typeof t.id !== "number" || !Number.isInteger(t.id) || t.id < 0 || typeof t.content !== "string" || t.content === "") {
      return fail("E_FORMAT", `${name}: added_tokens[${i}] must have an integer id and a non-empty content string.`);
    }
    const known = vocab.get(t.content);
    if (known === undefined && seenIds.has(t.id)) fail("E_FORMAT", `${name}: added_tokens[${i}] (${JSON.stringify(t.content)}) has id ${t.id}, already used by model.vocab for another token.`);
    return { id: t.id, content: t.content, special: t.special === true, lstrip: t.lstrip === true, rstrip: t.rstrip === true };
  });

  const unk = model.unk_token;
  let unkId: number | undefined;
  if (typeof unk === "string") {
    unkId = vocab.get(unk) ?? added.find((t) => t.content === unk)?.id;
    if (unkId === undefined) fail("E_FORMAT", `${name}: field model.unk_token is ${JSON.stringify(unk)}, which is not in the vocabulary.`);
  }

  const byteFallback = model.byte_fallback === true;
  const { preTokenizer, normalization } = readPipeline(root.normalizer, root.pre_tokenizer, name);
  return new HfTokenizer(vocab, merges, added, { preTokenizer, normalization, ignoreMerges: model.ignore_merges === true, byteFallback, unkId }, name);
}

const FORMS = ["NFC", "NFD", "NFKC", "NFKD"];
const show = (v: unknown) => (isObject(v) ? JSON.stringify(v.type) : JSON.stringify(v));

/**
 * The normalizer and pre-tokenizer of the two families read: ByteLevel (optionally after a Unicode normal
 * form), and the Llama/sentencepiece style, written either as a Metaspace pre-tokenizer or as the normalizer
 * sequence [Prepend "▁", Replace " " -> "▁"] without a pre-tokenizer.
 */
function readPipeline(n: unknown, p: unknown, name: string): { preTokenizer: HfPreTokenizer; normalization: HfTokenizerOptions["normalization"] } {
  const steps = n === undefined || n === null ? [] : isObject(n) && n.type === "Sequence" && Array.isArray(n.normalizers) ? n.normalizers : [n];
  let normalization: HfTokenizerOptions["normalization"];
  let prepend = false;
  let replace = false;
  for (const step of steps) {
    if (isObject(step) && typeof step.type === "string" && FORMS.includes(step.type) && !normalization && !prepend && !replace) normalization = step.type as HfTokenizerOptions["normalization"];
    else if (isObject(step) && step.type === "Prepend" && step.prepend === METASPACE && !prepend && !replace) prepend = true;
    else if (isObject(step) && step.type === "Replace" && isObject(step.pattern) && step.pattern.String === " " && step.content === METASPACE && !replace) replace = true;
    else fail("E_MODEL", `${name}: field normalizer${steps.length > 1 || (isObject(n) && n.type === "Sequence") ? ".normalizers[]" : ""}.type is ${show(step)}, but only a Unicode normal form (${FORMS.join(", ")}) and Llama's [Prepend "▁", Replace " " -> "▁"] are implemented.`);
  }
  if (p === undefined || p === null) {
    if (!replace) fail("E_MODEL", `${name}: field pre_tokenizer is null, but without the ByteLevel or Metaspace pre-tokenizer only Llama's normalizer [Prepend "▁", Replace " " -> "▁"] is implemented.`);
    return { preTokenizer: { type: "metaspace", prepend: prepend ? "unconditional" : "never", split: false }, normalization };
  }
  if (!isObject(p)) return fail("E_MODEL", `${name}: field pre_tokenizer is ${JSON.stringify(p)}, expected an object.`);
  if (replace || prepend) fail("E_MODEL", `${name}: the normalizer puts "▁" in and a ${show(p)} pre-tokenizer follows; only one of the two is implemented at a time.`);
  if (p.type === "Metaspace") {
    if ((p.replacement ?? METASPACE) !== METASPACE) fail("E_MODEL", `${name}: field pre_tokenizer.replacement is ${JSON.stringify(p.replacement)}, but only "▁" is implemented.`);
    const scheme = (p.prepend_scheme ?? (p.add_prefix_space === false ? "never" : "always")) as "always" | "first" | "never";
    if (scheme !== "always" && scheme !== "first" && scheme !== "never") fail("E_MODEL", `${name}: field pre_tokenizer.prepend_scheme is ${JSON.stringify(scheme)}, expected "always", "first" or "never".`);
    return { preTokenizer: { type: "metaspace", prepend: scheme, split: p.split !== false }, normalization };
  }
  // ByteLevel alone, or a Sequence of Split / Digits steps ending in ByteLevel (SmolLM, Qwen2, Llama 3)
  const sequence = p.type === "Sequence";
  const preSteps: unknown[] = sequence ? (Array.isArray(p.pretokenizers) ? p.pretokenizers : fail("E_FORMAT", `${name}: field pre_tokenizer.pretokenizers is not an array.`)) : [p];
  const splits: PreSplit[] = [];
  const BYTE_LEVEL_ONLY = "only ByteLevel (GPT-2, GPT-NeoX), Metaspace (Llama), or a Sequence of Split and Digits steps ending in ByteLevel (SmolLM, Qwen2, Llama 3) are implemented";
  for (const [i, step] of preSteps.entries()) {
    const where = sequence ? `pre_tokenizer.pretokenizers[${i}]` : "pre_tokenizer";
    if (!isObject(step)) return fail("E_FORMAT", `${name}: field ${where} is not an object.`);
    const last = i === preSteps.length - 1;
    if (step.type === "ByteLevel") {
      if (!last) fail("E_MODEL", `${name}: field ${where} is ByteLevel but not the last step; ${BYTE_LEVEL_ONLY}.`);
      return { preTokenizer: { type: "byte-level", addPrefixSpace: step.add_prefix_space === true, useRegex: step.use_regex !== false, splits }, normalization };
    }
    if (step.type === "Digits") splits.push({ type: "digits", individual: step.individual_digits === true });
    else if (step.type === "Split") splits.push(readSplit(step, where, name));
    else fail("E_MODEL", `${name}: field ${where}.type is ${show(step)}, but ${BYTE_LEVEL_ONLY}.`);
  }
  return fail("E_MODEL", `${name}: field pre_tokenizer${sequence ? ".pretokenizers" : ".type"} ${sequence ? "does not end in ByteLevel" : `is ${show(p)}`}, but ${BYTE_LEVEL_ONLY}.`);
}

/** A Split step: a Regex (Oniguruma, translated) or String pattern, Isolated or Removed, not inverted. */
function readSplit(step: Record<string, unknown>, where: string, name: string): PreSplit {
  const pattern = step.pattern;
  const behavior = step.behavior;
  if (behavior !== "Isolated" && behavior !== "Removed") fail("E_MODEL", `${name}: field ${where}.behavior is ${JSON.stringify(behavior)}, but only "Isolated" and "Removed" are implemented.`);
  if (step.invert === true) fail("E_MODEL", `${name}: field ${where}.invert is true, but only invert: false is implemented.`);
  if (isObject(pattern) && typeof pattern.String === "string" && pattern.String !== "") {
    const escaped = pattern.String.replace(/[.*+?^${}()|[\]\\/-]/g, "\\$&");
    return { type: "split", source: pattern.String, literal: true, regex: new RegExp(escaped, "gu"), behavior: behavior as "Isolated" | "Removed" };
  }
  if (!isObject(pattern) || typeof pattern.Regex !== "string" || pattern.Regex === "") return fail("E_FORMAT", `${name}: field ${where}.pattern must be {"Regex": "…"} or {"String": "…"}.`);
  const regex = translateOnigRegex(pattern.Regex);
  if (typeof regex === "string") fail("E_MODEL", `${name}: field ${where}.pattern.Regex ${JSON.stringify(pattern.Regex)} is not implemented: ${regex}.`);
  return { type: "split", source: pattern.Regex, literal: false, regex: regex as RegExp, behavior: behavior as "Isolated" | "Removed" };
}

/** Reads tokenizer.json from disk. */
export function loadHfTokenizer(path: string): HfTokenizer {
  const bytes = readWholeFile(path, "tokenizer.json");
  return readHfTokenizer(new TextDecoder().decode(bytes), path);
}
