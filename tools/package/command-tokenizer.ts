/**
 * The tokenizer as the standalone command embeds it (assembly/command-tokenizer.ts reads it; ARCHITECTURE.md,
 * "Tokenizers"): tokenizer.bin records for every id of the model's vocabulary — f32 score, i32 length, the
 * bytes the token prints (byte-level tokens as their raw bytes, Llama-style "▁" as a space, added tokens as
 * their text) — and, unless the tokenizer is a plain llama2.c one with run.c's conventions, an extension:
 *
 *   u32 "STKX" · u32 family (0 sentencepiece, 1 byte-level, 2 Llama-style) · u32 flags (1 add bos,
 *   2 byte fallback, 4 GPT-2 regex, 16 split at "▁", 32 ignore_merges, 64 every \p{N} character its own
 *   piece before the regex: SmolLM's Digits step, 128 / 256 a Split step with Qwen2's / Llama 3's pattern,
 *   512 each section in Unicode normal form C first) · u32 prepend "▁" (0 never,
 *   1 always, 2 first section, 3 always even before a space) · i32 bos · i32 unk (-1 none)
 *   u32 n, n × (i32 stop id, u32 name length, name bytes padded to 4)
 *   u32 n, n × i32 control ids (print nothing)
 *   256 × i32 byte -> its token (byte-level symbol or <0xXX>), -1 none
 *   u32 n, n × (i32 a, i32 b, i32 merged) merges in rank order
 *   u32 slots (a power of two), slots × i32 merge index + 1 by hash of (a, b), linear probing
 *   u32 n, n × (i32 id, u32 length, bytes padded to 4) added tokens
 *   three range tables (u32 n, n × (u32 lo, u32 hi)): \p{L}, \p{N}, \s as JavaScript's regex has them for
 *   GPT-2's regex and the Digits step, with \s as Unicode's White_Space (Oniguruma's) for a Split pattern;
 *   empty when nothing reads them
 *   the NFC tables (tools/package/nfc-tables.ts; four empty tables, 16 bytes, without NFC)
 *   u32 "STKE"
 * All of it is part of the tokenizer bytes the plan places and its memory map shows.
 * Everything little-endian. The host computes the tables so the device only reads them.
 */
import { fail } from "../../host/core/errors.ts";
import { readTokenizer, type Tokenizer } from "../../host/core/tokenizer.ts";
import { LLAMA2C_META, type TextTokenizer } from "../../host/core/tokenizers.ts";
import { LLAMA3_SPLIT, METASPACE, QWEN2_SPLIT, type HfTokenizer, type PreSplit } from "../../host/core/hf-tokenizer.ts";
import { NO_NFC_TABLES, nfcTables } from "./nfc-tables.ts";

const EXT_MAGIC = 0x584b5453;
const EXT_END = 0x454b5453;
const FAMILY = { llama2c: 0, "byte-level": 1, metaspace: 2 } as const;

const utf8 = new TextEncoder();

/** Code point ranges [lo, hi] where `re` matches, over all of Unicode. */
function ranges(re: RegExp): [number, number][] {
  const out: [number, number][] = [];
  for (let c = 0; c <= 0x10ffff; c++) {
    if (c >= 0xd800 && c <= 0xdfff) continue;
    if (!re.test(String.fromCodePoint(c))) continue;
    const last = out[out.length - 1];
    if (last && last[1] === c - 1) last[1] = c;
    else out.push([c, c]);
  }
  return out;
}
let classTables: [number, number][][] | undefined;
const classes = () => (classTables ??= [ranges(/^\p{L}$/u), ranges(/^\p{N}$/u), ranges(/^\s$/u)]);

/** The pair hash the device probes (assembly/command-tokenizer.ts mergeOf). */
export const mergeSlot = (a: number, b: number, mask: number): number => ((Math.imul(a, 0x9e3779b1) ^ Math.imul(b, 0x85ebca6b)) >>> 0) & mask;

class Writer {
  private parts: number[] = [];
  u8s(b: Uint8Array) {
    for (const x of b) this.parts.push(x);
  }
  i32(v: number) {
    this.parts.push(v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff);
  }
  f32(v: number) {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setFloat32(0, v, true);
    this.u8s(b);
  }
  named(id: number, bytes: Uint8Array) {
    this.i32(id);
    this.i32(bytes.length);
    this.u8s(bytes);
    for (let i = bytes.length; i % 4 !== 0; i++) this.parts.push(0);
  }
  bytes(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/**
 * Bytes of the decomposition table a normal form needs: one (code point, length, code points) record per
 * character it changes, Hangul syllables left out (they decompose by arithmetic).
 */
function decompositionTable(form: "NFC" | "NFD" | "NFKC" | "NFKD"): { entries: number; bytes: number } {
  const decompose = form === "NFC" || form === "NFD" ? "NFD" : "NFKD";
  let entries = 0;
  let bytes = 0;
  for (let c = 0; c <= 0x10ffff; c++) {
    if ((c >= 0xd800 && c <= 0xdfff) || (c >= 0xac00 && c <= 0xd7a3)) continue;
    const ch = String.fromCodePoint(c);
    const d = ch.normalize(decompose);
    if (d === ch) continue;
    entries++;
    bytes += 8 + 4 * [...d].length;
  }
  return { entries, bytes };
}

let splitClassTables: [number, number][][] | undefined;
/** A Split pattern's classes: \p{L}, \p{N} and \s as Oniguruma has it, Unicode's White_Space. */
const splitClasses = () => (splitClassTables ??= [ranges(/^\p{L}$/u), ranges(/^\p{N}$/u), ranges(/^\p{White_Space}$/u)]);

/** SmolLM's pre-tokenizer: one Digits step with individual_digits, which the command runs (flag 64). */
const isDigitsOnly = (splits: readonly PreSplit[]): boolean => splits.length === 1 && splits[0].type === "digits" && splits[0].individual;

/** The Split patterns the command has a matcher for (assembly/command-tokenizer.ts splitMatch), by flag. */
export const SPLIT_MATCHERS: ReadonlyMap<string, { flag: number; family: string }> = new Map([
  [QWEN2_SPLIT, { flag: 128, family: "Qwen2" }],
  [LLAMA3_SPLIT, { flag: 256, family: "Llama 3" }],
]);
const FLAG_NFC = 512;

/** The flag of the one Split step (Isolated, with a pattern the command knows) before a regex-free ByteLevel, else 0. */
function splitFlag(o: HfTokenizer["options"]): number {
  const pre = o.preTokenizer;
  if (pre.type !== "byte-level" || pre.splits.length !== 1 || pre.useRegex || pre.addPrefixSpace) return 0;
  const step = pre.splits[0];
  if (step.type !== "split" || step.literal || step.behavior !== "Isolated") return 0;
  return SPLIT_MATCHERS.get(step.source)?.flag ?? 0;
}

/** What the command cannot do the way the host does, in one sentence, or null. */
function unsupported(tok: TextTokenizer): string | null {
  if (tok.family === "llama2c") {
    const sp = tok.meta.specials ?? [];
    if (sp.length === 0) return null;
    const bytes = sp.reduce((n, t) => n + (tok.inner as Tokenizer).piece(t.id).length, 0);
    return `its ${sp.length} control and user-defined tokens (${sp.slice(0, 3).map((t) => tok.tokenName(t.id)).join(", ")}${sp.length > 3 ? ", …" : ""}), which prompts name by their text, are not cut out of a prompt by the standalone command (it would carry a matcher for their ${bytes} bytes of text)`;
  }
  const hf = tok.inner as HfTokenizer;
  const o = hf.options;
  if (o.normalization && o.normalization !== "NFC") {
    const t = decompositionTable(o.normalization);
    return `its ${o.normalization} normalizer is not implemented in the standalone command (only NFC is; it would carry Unicode's ${o.normalization === "NFD" ? "canonical" : "compatibility"} decompositions: ${t.entries} characters, ${t.bytes} bytes, plus the combining classes${o.normalization.endsWith("C") ? " and the composition pairs" : ""}; Hangul by rule)`;
  }
  const splits = o.preTokenizer.type === "byte-level" ? o.preTokenizer.splits : [];
  if (splits.length > 0 && !isDigitsOnly(splits) && !splitFlag(o)) {
    const step = splits.find((x) => x.type === "split" && !SPLIT_MATCHERS.has(x.source)) ?? splits.find((x) => !isDigitsOnly([x])) ?? splits[0];
    const known = [...SPLIT_MATCHERS.values()].map((m) => m.family).join("'s and ");
    const name = (x: PreSplit) => (x.type === "digits" ? `Digits (individual_digits: ${x.individual})` : `Split ${JSON.stringify(x.source)}`);
    const pre = o.preTokenizer as Extract<HfTokenizer["options"]["preTokenizer"], { type: "byte-level" }>;
    const what =
      splits.length > 1 ? `sequence of ${splits.map(name).join(", ")} steps` : step.type === "split" && SPLIT_MATCHERS.has(step.source) ? `Split step (${step.behavior}${pre.useRegex ? ", then ByteLevel with its regex" : ""})` : `${name(step)} step`;
    return `its ${what} is not one the standalone command carries (it has matchers for ${known}'s Split patterns alone, Isolated, before a ByteLevel without its regex, and SmolLM's single Digits step)`;
  }
  if (o.preTokenizer.type === "byte-level" && o.preTokenizer.addPrefixSpace) return "its ByteLevel add_prefix_space is not implemented in the standalone command";
  const stripped = hf.added.find((t) => t.lstrip || t.rstrip);
  if (stripped) return `its added token ${JSON.stringify(stripped.content)} strips whitespace (lstrip/rstrip), which the standalone command does not implement`;
  if (o.preTokenizer.type === "metaspace" && hf.vocab.get(METASPACE) === undefined) return `it has no "${METASPACE}" token for spaces`;
  return null;
}

/** The bytes the command embeds for `tok`, a model of `vocabSize` tokens. */
export function commandTokenizerBytes(tok: TextTokenizer, vocabSize: number): Uint8Array {
  const why = unsupported(tok);
  if (why) fail("E_MODEL", `${tok.name}: cannot embed this tokenizer in the standalone command: ${why}.`);
  if (tok.vocabSize > vocabSize) fail("E_MODEL", `${tok.name}: the tokenizer has ${tok.vocabSize} tokens, more than the model's vocab_size ${vocabSize}.`);
  const w = new Writer();
  const pieces: Uint8Array[] = [];
  const scores: number[] = [];
  if (tok.family === "llama2c") {
    const inner = tok.inner as Tokenizer;
    for (let id = 0; id < vocabSize; id++) {
      pieces.push(id < inner.vocabSize ? inner.pieces[id] : new Uint8Array(0));
      scores.push(id < inner.vocabSize ? inner.scores[id] : 0);
    }
  } else {
    const hf = tok.inner as HfTokenizer;
    for (let id = 0; id < vocabSize; id++) {
      let bytes: Uint8Array = new Uint8Array(0);
      if (id < hf.vocabSize && hf.hasToken(id)) {
        const added = hf.addedToken(id);
        if (added) bytes = utf8.encode(added.content);
        else if (tok.family === "byte-level") bytes = hf.tokenBytes(id);
        else bytes = utf8.encode(hf.token(id).replaceAll(METASPACE, " "));
      }
      pieces.push(bytes);
      scores.push(0);
    }
  }
  const longest = Math.max(1, ...pieces.map((p) => p.length));
  w.i32(tok.family === "llama2c" ? Math.max(longest, (tok.inner as Tokenizer).maxTokenLength) : longest); // a plain tokenizer.bin stays byte for byte
  pieces.forEach((p, i) => {
    w.f32(scores[i]);
    w.i32(p.length);
    w.u8s(p);
  });
  const m = tok.meta;
  const plainLlama2c = tok.family === "llama2c" && m.bos === LLAMA2C_META.bos && m.addBos && m.stop.length === 1 && m.stop[0] === LLAMA2C_META.stop[0];
  if (plainLlama2c) return w.bytes();

  const hf = tok.family === "llama2c" ? undefined : (tok.inner as HfTokenizer);
  const pre = hf?.options.preTokenizer;
  let flags = m.addBos ? 1 : 0;
  if (hf?.options.byteFallback) flags |= 2;
  if (pre?.type === "byte-level" && pre.useRegex) flags |= 4;
  if (pre?.type === "metaspace" && pre.split) flags |= 16;
  if (hf?.options.ignoreMerges) flags |= 32;
  const digits = pre?.type === "byte-level" && isDigitsOnly(pre.splits);
  if (digits) flags |= 64;
  const split = hf ? splitFlag(hf.options) : 0;
  flags |= split;
  const nfc = hf?.options.normalization === "NFC";
  if (nfc) flags |= FLAG_NFC;
  w.i32(EXT_MAGIC);
  w.i32(FAMILY[tok.family]);
  w.i32(flags);
  w.i32(pre?.type === "metaspace" ? { never: 0, always: 1, first: 2, unconditional: 3 }[pre.prepend] : 0);
  w.i32(m.bos ?? -1);
  w.i32(hf?.options.unkId ?? -1);
  w.i32(m.stop.length);
  for (const id of m.stop) w.named(id, utf8.encode(tok.tokenName(id)));
  const controls: number[] = [];
  if (hf) for (let id = 0; id < hf.vocabSize; id++) if (hf.hasToken(id) && tok.isControl(id) && id !== m.bos) controls.push(id);
  w.i32(controls.length);
  controls.forEach((id) => w.i32(id));
  for (let b = 0; b < 256; b++) w.i32(hf ? hf.byteIds[b] : -1);
  const merges = hf?.mergePairs ?? [];
  w.i32(merges.length);
  merges.forEach(([a, b], i) => {
    w.i32(a);
    w.i32(b);
    w.i32(hf!.mergeResults[i]);
  });
  let slots = merges.length > 0 ? 1 : 0;
  while (slots > 0 && slots < 2 * merges.length) slots *= 2;
  const table = new Int32Array(slots);
  merges.forEach(([a, b], i) => {
    let s = mergeSlot(a, b, slots - 1);
    while (table[s] !== 0) s = (s + 1) & (slots - 1);
    table[s] = i + 1;
  });
  w.i32(slots);
  table.forEach((v) => w.i32(v));
  const added = hf?.added ?? [];
  w.i32(added.length);
  for (const t of added) w.named(t.id, utf8.encode(t.content));
  const tables = split ? splitClasses() : pre?.type === "byte-level" && (pre.useRegex || digits) ? classes() : [[], [], []];
  for (const table of tables) {
    w.i32(table.length);
    for (const [lo, hi] of table) {
      w.i32(lo);
      w.i32(hi);
    }
  }
  w.u8s(nfc ? nfcTables().bytes : NO_NFC_TABLES);
  w.i32(EXT_END);
  return w.bytes();
}

/**
 * Checks bytes meant for the command before they are embedded: `vocabSize` tokenizer.bin records, then either
 * nothing or an extension framed by its magic numbers (the device checks the rest as it loads).
 */
export function checkCommandTokenizer(bytes: Uint8Array, vocabSize: number, name: string): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 4;
  for (let i = 0; i < vocabSize; i++) {
    if (at + 8 > bytes.length) fail("E_FORMAT", `${name}: holds fewer than the model's ${vocabSize} tokens.`);
    at += 8 + view.getInt32(at + 4, true);
  }
  if (at > bytes.length) fail("E_FORMAT", `${name}: token ${vocabSize - 1} is truncated.`);
  if (at === bytes.length) {
    readTokenizer(bytes, name, vocabSize);
    return;
  }
  if (at + 8 > bytes.length || view.getUint32(at, true) !== EXT_MAGIC || view.getUint32(bytes.length - 4, true) !== EXT_END) {
    fail("E_FORMAT", `${name}: holds ${vocabSize} tokens and then bytes that are not a tokenizer extension.`);
  }
}
