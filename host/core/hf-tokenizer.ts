/**
 * Hugging Face `tokenizer.json` for byte-level BPE (GPT-2, GPT-NeoX / Pythia): encode and decode as the
 * `tokenizers` library does for these files.
 *
 * Encoding, in order: added tokens (e.g. <|endoftext|>) are cut out of the text first and map straight to
 * their ids; the rest is normalized (none, or NFC/NFD/NFKC/NFKD), split by GPT-2's pre-tokenizer regex
 * (contractions, letter runs, number runs, other runs, each with one optional leading space; whitespace),
 * each piece's UTF-8 bytes are written as printable characters by GPT-2's bytes→unicode table (space is
 * "Ġ", newline "Ċ"), then BPE merges the adjacent pair with the best (lowest) merge rank until none
 * applies, and each resulting symbol is looked up in the vocabulary. Decoding maps symbols back to bytes.
 *
 * Not handled (refused with E_MODEL when the file asks for it): other pre-tokenizers (Metaspace,
 * Split sequences such as Llama 3's), other models (WordPiece, Unigram), BPE suffix/prefix markers. The
 * post-processor is ignored: GPT-2 and NeoX add no special tokens around a sequence.
 */
import { fail } from "./errors.ts";
import { readWholeFile } from "./files.ts";

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
  special: boolean; // dropped by decode({ skipSpecial: true })
}

export interface HfTokenizerOptions {
  addPrefixSpace: boolean; // ByteLevel add_prefix_space: a space before each segment not starting with one
  useRegex: boolean; // ByteLevel use_regex: split with GPT2_PATTERN (false: the segment is one piece)
  normalization?: "NFC" | "NFD" | "NFKC" | "NFKD";
  ignoreMerges: boolean; // BPE ignore_merges: a piece that is a whole vocabulary entry is taken as it is
  unkId?: number; // id for a symbol missing from the vocabulary; without it that is an error
}

export class HfTokenizer {
  private readonly ranks = new Map<string, number>(); // "a b" -> merge rank, lower merges first
  private readonly idToToken: string[] = [];
  private readonly addedById = new Map<number, AddedToken>();
  private readonly addedSplitter?: RegExp;
  private readonly cache = new Map<string, number[]>(); // pre-token -> ids

  constructor(
    private readonly vocab: ReadonlyMap<string, number>, // symbol string -> id
    merges: readonly (readonly [string, string])[], // in rank order
    readonly added: readonly AddedToken[],
    readonly options: HfTokenizerOptions,
    readonly name: string, // file named in messages
  ) {
    merges.forEach(([a, b], rank) => this.ranks.has(`${a} ${b}`) || this.ranks.set(`${a} ${b}`, rank));
    for (const [token, id] of vocab) this.idToToken[id] = token;
    for (const t of added) {
      this.addedById.set(t.id, t);
      this.idToToken[t.id] ??= t.content;
    }
    if (added.length > 0) {
      // Longest first, so "<|a|>b" wins over "<|a|>" where both are added tokens.
      const alternatives = [...added].sort((x, y) => y.content.length - x.content.length).map((t) => t.content.replace(/[.*+?^${}()|[\]\\]/g, "\\$&"));
      this.addedSplitter = new RegExp(`(${alternatives.join("|")})`, "u");
    }
  }

  /** Ids are 0..vocabSize-1, added tokens included. */
  get vocabSize(): number {
    return this.idToToken.length;
  }

  /** The stored string of a token (byte-level symbols, e.g. "Ġthe"), checking the id. */
  token(id: number): string {
    const t = Number.isInteger(id) ? this.idToToken[id] : undefined;
    return t ?? fail("E_MODEL", `token id ${id} is outside the ${this.vocabSize}-token vocabulary of ${this.name}.`);
  }

  /** Token ids for `text`. */
  encode(text: string): number[] {
    const ids: number[] = [];
    for (const [segment, isAdded] of this.splitAdded(text)) {
      if (isAdded) {
        ids.push(this.added.find((t) => t.content === segment)!.id);
        continue;
      }
      let s = this.options.normalization ? segment.normalize(this.options.normalization) : segment;
      if (this.options.addPrefixSpace && !s.startsWith(" ")) s = " " + s;
      const pieces = this.options.useRegex ? (s.match(GPT2_PATTERN) ?? []) : [s];
      for (const piece of pieces) ids.push(...this.encodePiece(piece));
    }
    return ids;
  }

  /** Text of a sequence of ids; bytes split across tokens join up before UTF-8 decoding. */
  decode(ids: readonly number[], opts: { skipSpecial?: boolean } = {}): string {
    let text = "";
    let bytes: number[] = [];
    const flush = () => {
      text += new TextDecoder().decode(Uint8Array.from(bytes));
      bytes = [];
    };
    for (const id of ids) {
      const added = this.addedById.get(id);
      if (added) {
        if (opts.skipSpecial && added.special) continue;
        flush();
        text += added.content;
      } else {
        bytes.push(...this.tokenBytes(id));
      }
    }
    flush();
    return text;
  }

  /** Raw bytes one token stands for, for streaming output through a Utf8Stream. */
  tokenBytes(id: number): Uint8Array {
    const added = this.addedById.get(id);
    if (added) return utf8.encode(added.content);
    const out: number[] = [];
    for (const ch of this.token(id)) {
      const b = CHAR_TO_BYTE.get(ch);
      if (b !== undefined) out.push(b);
      else out.push(...utf8.encode(ch)); // not a byte-level symbol: take the character itself
    }
    return Uint8Array.from(out);
  }

  /** [segment, isAddedToken] pairs covering text in order. */
  private *splitAdded(text: string): Generator<[string, boolean]> {
    if (!this.addedSplitter) {
      if (text.length > 0) yield [text, false];
      return;
    }
    const parts = text.split(this.addedSplitter); // odd indices are the captured added tokens
    for (let i = 0; i < parts.length; i++) if (parts[i].length > 0) yield [parts[i], i % 2 === 1];
  }

  /** BPE on one pre-token: its bytes as symbols, merged by rank, looked up. */
  private encodePiece(piece: string): number[] {
    const cached = this.cache.get(piece);
    if (cached) return cached;
    const symbols = [...utf8.encode(piece)].map((b) => BYTE_TO_CHAR[b]);
    const whole = symbols.join("");
    const merged = this.options.ignoreMerges && this.vocab.has(whole) ? [whole] : this.merge(symbols);
    const ids = merged.map((s) => this.vocab.get(s) ?? this.options.unkId ?? fail("E_MODEL", `${this.name} has no vocabulary entry for the symbol ${JSON.stringify(s)} of ${JSON.stringify(piece)}, and no unk_token.`));
    if (this.cache.size < 65536) this.cache.set(piece, ids);
    return ids;
  }

  /** Merges the adjacent pair of lowest rank (leftmost occurrences first) until no listed merge applies. */
  private merge(symbols: string[]): string[] {
    let word = symbols;
    for (;;) {
      let best = Infinity;
      for (let i = 0; i + 1 < word.length; i++) best = Math.min(best, this.ranks.get(`${word[i]} ${word[i + 1]}`) ?? Infinity);
      if (best === Infinity) return word;
      const next: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (i + 1 < word.length && this.ranks.get(`${word[i]} ${word[i + 1]}`) === best) {
          next.push(word[i] + word[i + 1]);
          i++;
        } else {
          next.push(word[i]);
        }
      }
      word = next;
    }
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
  if (model.type !== undefined && model.type !== "BPE") fail("E_MODEL", `${name}: field model.type is ${JSON.stringify(model.type)}, but only byte-level BPE tokenizers are read.`);
  for (const field of ["continuing_subword_prefix", "end_of_word_suffix"]) {
    const v = model[field];
    if (v !== undefined && v !== null && v !== "") fail("E_MODEL", `${name}: field model.${field} is ${JSON.stringify(v)}, but byte-level BPE uses none.`);
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
    return { id: t.id, content: t.content, special: t.special === true };
  });

  const unk = model.unk_token;
  let unkId: number | undefined;
  if (typeof unk === "string") {
    unkId = vocab.get(unk) ?? added.find((t) => t.content === unk)?.id;
    if (unkId === undefined) fail("E_FORMAT", `${name}: field model.unk_token is ${JSON.stringify(unk)}, which is not in the vocabulary.`);
  }

  return new HfTokenizer(vocab, merges, added, { ...readPreTokenizer(root.pre_tokenizer, name), normalization: readNormalizer(root.normalizer, name), ignoreMerges: model.ignore_merges === true, unkId }, name);
}

function readPreTokenizer(p: unknown, name: string): { addPrefixSpace: boolean; useRegex: boolean } {
  if (!isObject(p) || p.type !== "ByteLevel") {
    const type = isObject(p) ? JSON.stringify(p.type) : JSON.stringify(p);
    return fail("E_MODEL", `${name}: field pre_tokenizer.type is ${type}, but only the ByteLevel pre-tokenizer (GPT-2, GPT-NeoX) is implemented.`);
  }
  return { addPrefixSpace: p.add_prefix_space === true, useRegex: p.use_regex !== false };
}

function readNormalizer(n: unknown, name: string): HfTokenizerOptions["normalization"] {
  if (n === undefined || n === null) return undefined;
  const forms = ["NFC", "NFD", "NFKC", "NFKD"];
  if (isObject(n) && typeof n.type === "string" && forms.includes(n.type)) return n.type as HfTokenizerOptions["normalization"];
  if (isObject(n) && n.type === "Sequence" && Array.isArray(n.normalizers) && n.normalizers.length === 0) return undefined;
  const type = isObject(n) ? JSON.stringify(n.type) : JSON.stringify(n);
  return fail("E_MODEL", `${name}: field normalizer.type is ${type}, but only none or a Unicode normal form (${forms.join(", ")}) is implemented.`);
}

/** Reads tokenizer.json from disk. */
export function loadHfTokenizer(path: string): HfTokenizer {
  const bytes = readWholeFile(path, "tokenizer.json");
  return readHfTokenizer(new TextDecoder().decode(bytes), path);
}
