// The embedded tokenizer, encoding and decoding exactly as host/core/tokenizers.ts (ARCHITECTURE.md,
// "Tokenizers"). Its bytes are tokenizer.bin records for every id (f32 score, i32 len, len bytes: the bytes
// the token prints), then — for every family but plain llama2.c — an extension (tools/package/command-
// tokenizer.ts writes it) with the family, the special tokens and the merge table:
//   sentencepiece (llama2.c, GGUF llama): a dummy-prefix space, each UTF-8 character as its piece else its
//     bytes (id = byte + 3), then greedy merges of the best-scoring adjacent pair (leftmost on ties);
//   byte-level BPE (GPT-2, NeoX, SmolLM, Qwen2, Llama 3): added tokens cut out, each section in normal form
//     C where the tokenizer asks (NeoX, Qwen2: normalizeNfc), cut by SmolLM's Digits step or by Qwen2's or
//     Llama 3's Split pattern (splitMatch) and/or GPT-2's pre-tokenizer regex (gpt2Match), each piece's bytes
//     as their byte tokens, merged by rank (lowest first, leftmost on ties);
//   Llama-style BPE: added tokens cut out, a "▁" (stored as a space) in front, each character as its piece
//     else its <0xXX> byte tokens, merged by rank.
// Decoding drops the space after <s> (sentencepiece-style families), turns <0xXX> pieces into the raw byte
// and prints nothing for control tokens.
//
// Lookups go through two planned tables filled by loadTokenizer():
//   pieces    (vocab,) i32      address of token i's record
//   pieceHash (slots,) i32      open addressing, FNV-1a of the piece bytes -> first id carrying them, + 1
// and the extension's own prebuilt merge hash.

import { COMMAND_MERGE_SLOT_BYTES } from "./abi.generated";

const LLAMA2C_BOS: i32 = 1;
const BYTE_TOKEN_OFFSET: i32 = 3; // byte b falls back to token b + 3
const NO_MERGE_SCORE: f64 = -1e10; // run.c's starting best score: pairs at or below it never merge

// encode() failures (positive counts are success)
export const ENCODE_NO_SPACE: i32 = -1; // no " " piece for the dummy prefix
export const ENCODE_NO_BYTE_FALLBACK: i32 = -2; // a character is not a piece, has no byte tokens, and there is no <unk>
export const ENCODE_EMPTY: i32 = -3; // an empty prompt and no bos to start from
export const ENCODE_TOO_LONG: i32 = -4; // a section's normal form passes the planned buffers (normalArea, the prompt tokens)

export const FAMILY_SPM: u32 = 0;
export const FAMILY_BYTE_LEVEL: u32 = 1;
export const FAMILY_METASPACE: u32 = 2;
const EXT_MAGIC: u32 = 0x584b5453; // "STKX"
const EXT_END: u32 = 0x454b5453; // "STKE"
const FLAG_ADD_BOS: u32 = 1;
const FLAG_BYTE_FALLBACK: u32 = 2;
const FLAG_USE_REGEX: u32 = 4;
const FLAG_SPLIT: u32 = 16;
const FLAG_IGNORE_MERGES: u32 = 32;
const FLAG_DIGITS: u32 = 64; // a Digits (individual_digits) step before ByteLevel: every \p{N} character its own piece (SmolLM)
const FLAG_SPLIT_QWEN2: u32 = 128; // a Split step with Qwen2's pattern before ByteLevel (splitMatch, numbers one at a time)
const FLAG_SPLIT_LLAMA3: u32 = 256; // a Split step with Llama 3's pattern (numbers up to three at a time)
const FLAG_NFC: u32 = 512; // each section between added tokens in Unicode normal form C first (normalizeNfc)
const PREPEND_ALWAYS: u32 = 1;
const PREPEND_FIRST: u32 = 2;
const PREPEND_UNCONDITIONAL: u32 = 3; // Llama 2's Prepend normalizer: even before a space

export let family: u32 = FAMILY_SPM;
let flags: u32 = FLAG_ADD_BOS;
let prepend: u32 = 0;
export let bos: i32 = LLAMA2C_BOS;
let unk: i32 = -1;
let nStop: i32 = 1;
let stops: usize = 0; // (nStop,) records: i32 id, i32 name length, name bytes padded to 4
let nControl: i32 = 0;
let controls: usize = 0; // (nControl,) i32
let byteIds: usize = 0; // (256,) i32
let nMerges: i32 = 0;
let merges: usize = 0; // (nMerges,) i32 a, i32 b, i32 result
let mergeMask: u32 = 0;
let mergeHash: usize = 0; // (mask + 1,) i32 merge index + 1, 0 = empty
let nAdded: i32 = 0;
let added: usize = 0; // records: i32 id, i32 length, bytes padded to 4
let letters: usize = 0; // (n,) u32 lo, hi: \p{L}
let nLetters: i32 = 0;
let numbers: usize = 0; // \p{N}
let nNumbers: i32 = 0;
let spaces: usize = 0; // \s (JavaScript's for GPT-2's regex; White_Space for a Split pattern)
let nSpaces: i32 = 0;
// NFC tables (FLAG_NFC; layout in tools/package/nfc-tables.ts)
let nDecomp: i32 = 0;
let decomps: usize = 0; // (nDecomp,) u32 code point, u32 pool offset << 3 | length; by code point
let pool: usize = 0; // u32 code points of the decompositions
let nCcc: i32 = 0;
let cccs: usize = 0; // (nCcc,) u32 lo, u32 hi << 8 | rank: canonical combining class order, 0 = starter
let nComp: i32 = 0;
let comps: usize = 0; // (nComp,) u32 first, u32 second, u32 composite; by (first, second)
const llamaStop: usize = memory.data(8); // run.c's rule without an extension: stop at <s>

export let maxTokenLength: i32 = 1; // max_token_length of the loaded tokenizer.bin
let pieces: usize = 0;
let hash: usize = 0;
let hashMask: u32 = 0;
let byteFallback: bool = false;
let spaceId: i32 = -1;
const oneByte: usize = memory.data(16); // the byte a <0xXX> piece decodes to

// @ts-ignore: decorator
@inline function record(id: i32): usize {
  return <usize>load<u32>(pieces + (<usize>id << 2));
}
// @ts-ignore: decorator
@inline export function pieceLen(id: i32): i32 {
  return load<i32>(record(id), 4);
}
// @ts-ignore: decorator
@inline export function pieceBytes(id: i32): usize {
  return record(id) + 8;
}
// @ts-ignore: decorator
@inline function score(id: i32): f32 {
  return load<f32>(record(id));
}

const FNV_OFFSET: u32 = 0x811c9dc5;
const FNV_PRIME: u32 = 0x01000193;

// @ts-ignore: decorator
@inline function fnv(h: u32, ptr: usize, n: i32): u32 {
  for (let i = 0; i < n; i++) h = (h ^ <u32>load<u8>(ptr + <usize>i)) * FNV_PRIME;
  return h;
}

/** First id whose piece is the bytes a (an,) followed by b (bn,), or -1. */
function lookup(a: usize, an: i32, b: usize, bn: i32): i32 {
  let slot = fnv(fnv(FNV_OFFSET, a, an), b, bn) & hashMask;
  let entry = load<i32>(hash + (<usize>slot << 2));
  while (entry != 0) {
    const id = entry - 1;
    if (pieceLen(id) == an + bn) {
      const p = pieceBytes(id);
      if (memory.compare(p, a, an) == 0 && memory.compare(p + <usize>an, b, bn) == 0) return id;
    }
    slot = (slot + 1) & hashMask;
    entry = load<i32>(hash + (<usize>slot << 2));
  }
  return -1;
}

/** Byte value of a "<0xXX>" piece (either case of hex digit), else -1. */
function byteValue(p: usize, n: i32): i32 {
  if (n != 6 || load<u8>(p) != 0x3c || load<u8>(p, 1) != 0x30 || load<u8>(p, 2) != 0x78 || load<u8>(p, 5) != 0x3e) return -1;
  const hi = hexDigit(load<u8>(p, 3));
  const lo = hexDigit(load<u8>(p, 4));
  return hi < 0 || lo < 0 ? -1 : (hi << 4) | lo;
}

function hexDigit(c: u32): i32 {
  if (c >= 0x30 && c <= 0x39) return <i32>c - 0x30;
  if (c >= 0x41 && c <= 0x46) return <i32>c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return <i32>c - 0x61 + 10;
  return -1;
}

/**
 * Walks tokenizer.bin (base, bytes) and fills the planned tables. Returns false when the file is not
 * exactly nVocab well-formed records (the packager checked it; this only guards a damaged module).
 */
export function loadTokenizer(base: usize, bytes: i32, nVocab: i32, pieceTable: usize, hashTable: usize, slots: i32): bool {
  pieces = pieceTable;
  hash = hashTable;
  hashMask = <u32>slots - 1;
  if (bytes < 4 || slots < 2 * nVocab || slots & (slots - 1)) return false;
  const maxLen = load<i32>(base);
  if (maxLen <= 0) return false;
  maxTokenLength = maxLen;
  const end = base + <usize>bytes;
  memory.fill(hashTable, 0, <usize>slots << 2);
  let at = base + 4;
  for (let id = 0; id < nVocab; id++) {
    if (at + 8 > end) return false;
    const n = load<i32>(at, 4);
    if (n < 0 || n > maxLen || at + 8 + <usize>n > end) return false;
    store<u32>(pieceTable + (<usize>id << 2), <u32>at);
    if (lookup(at + 8, n, 0, 0) < 0) {
      // Only the first id carrying a piece is found, as host/tokenizer.ts keeps it.
      let slot = fnv(FNV_OFFSET, at + 8, n) & hashMask;
      while (load<i32>(hashTable + (<usize>slot << 2)) != 0) slot = (slot + 1) & hashMask;
      store<i32>(hashTable + (<usize>slot << 2), id + 1);
    }
    at += 8 + <usize>n;
  }
  if (at != end && !readExtension(at, end)) return false;
  if (at == end) {
    family = FAMILY_SPM;
    flags = FLAG_ADD_BOS;
    bos = LLAMA2C_BOS;
    nStop = 1;
    store<i32>(llamaStop, LLAMA2C_BOS);
    store<i32>(llamaStop, -1, 4); // no stored name: print the piece
    stops = llamaStop;
    nControl = 0;
  }
  if (bos >= nVocab || unk >= nVocab) return false;
  byteFallback = nVocab >= BYTE_TOKEN_OFFSET + 256;
  for (let b = 0; b < 256 && byteFallback; b++) {
    const id = BYTE_TOKEN_OFFSET + b;
    byteFallback = byteValue(pieceBytes(id), pieceLen(id)) == b;
  }
  store<u8>(oneByte, 0x20);
  spaceId = lookup(oneByte, 1, 0, 0);
  return true;
}

let cur: usize = 0;
let curEnd: usize = 0;
let curOk: bool = true;

function u32At(): u32 {
  if (cur + 4 > curEnd) {
    curOk = false;
    return 0;
  }
  const v = load<u32>(cur);
  cur += 4;
  return v;
}

/** Skips n i32 (or n records of `words` i32), returning where they start; false in curOk when they do not fit. */
function skip(bytes: u64): usize {
  const at = cur;
  if (<u64>cur + bytes > <u64>curEnd) curOk = false;
  else cur += <usize>bytes;
  return at;
}

/** Skips `count` records of an i32 id, an i32 length and that many bytes padded to 4. */
function skipNamed(count: i32): usize {
  const at = cur;
  for (let i = 0; i < count && curOk; i++) {
    u32At();
    const n = u32At();
    if (n != 0xffffffff) skip((<u64>n + 3) & ~3);
  }
  return at;
}

/** The extension after the records (layout: tools/package/command-tokenizer.ts). */
function readExtension(at: usize, end: usize): bool {
  cur = at;
  curEnd = end;
  curOk = true;
  if (u32At() != EXT_MAGIC) return false;
  family = u32At();
  flags = u32At();
  prepend = u32At();
  bos = <i32>u32At();
  unk = <i32>u32At();
  nStop = <i32>u32At();
  if (nStop < 0 || nStop > 64) return false;
  stops = skipNamed(nStop);
  nControl = <i32>u32At();
  if (nControl < 0) return false;
  controls = skip(<u64>nControl << 2);
  byteIds = skip(256 << 2);
  nMerges = <i32>u32At();
  if (nMerges < 0) return false;
  merges = skip(<u64>nMerges * 12);
  const slots = u32At();
  if (slots & (slots - 1) || (slots == 0 && nMerges > 0) || (slots != 0 && <u64>slots < <u64>nMerges)) return false;
  mergeMask = slots - 1;
  mergeHash = skip(<u64>slots << 2);
  nAdded = <i32>u32At();
  if (nAdded < 0) return false;
  added = skipNamed(nAdded);
  nLetters = <i32>u32At();
  letters = skip(<u64>nLetters << 3);
  nNumbers = <i32>u32At();
  numbers = skip(<u64>nNumbers << 3);
  nSpaces = <i32>u32At();
  spaces = skip(<u64>nSpaces << 3);
  nDecomp = <i32>u32At();
  decomps = skip(<u64>nDecomp << 3);
  const nPool = u32At();
  pool = skip(<u64>nPool << 2);
  nCcc = <i32>u32At();
  cccs = skip(<u64>nCcc << 3);
  nComp = <i32>u32At();
  comps = skip(<u64>nComp * 12);
  if (nLetters < 0 || nNumbers < 0 || nSpaces < 0 || nDecomp < 0 || nCcc < 0 || nComp < 0) return false;
  for (let i = 0; i < nDecomp && curOk; i++) {
    const e = load<u32>(decomps + (<usize>i << 3), 4);
    if (<u64>(e >> 3) + <u64>(e & 7) > <u64>nPool || (e & 7) == 0) curOk = false;
  }
  if (u32At() != EXT_END) return false;
  return curOk && cur == end && family <= FAMILY_METASPACE && bos >= -1 && unk >= -1;
}

/** Whether generation stops at `token`. */
export function isStop(token: i32): bool {
  let r = stops;
  for (let i = 0; i < nStop; i++) {
    if (load<i32>(r) == token) return true;
    const n = load<u32>(r, 4);
    r += 8 + (n == 0xffffffff ? 0 : (<usize>n + 3) & ~3);
  }
  return false;
}

// Result of stopName(): the name of a stop token as the vocabulary writes it.
export let namePtr: usize = 0;
export let nameLen: i32 = 0;

/** The stop token's name (namePtr, nameLen): stored with it, else its piece without surrounding whitespace. */
export function stopName(token: i32): void {
  let r = stops;
  for (let i = 0; i < nStop; i++) {
    const n = load<u32>(r, 4);
    if (load<i32>(r) == token && n != 0xffffffff) {
      namePtr = r + 8;
      nameLen = <i32>n;
      return;
    }
    r += 8 + (n == 0xffffffff ? 0 : (<usize>n + 3) & ~3);
  }
  let p = pieceBytes(token);
  let len = pieceLen(token);
  while (len > 0 && load<u8>(p) <= 0x20) {
    p++;
    len--;
  }
  while (len > 0 && load<u8>(p + <usize>len - 1) <= 0x20) len--;
  namePtr = p;
  nameLen = len;
}

/** Whether `token` prints nothing (bos and other control tokens). */
export function isControl(token: i32): bool {
  if (token == bos) return true;
  for (let i = 0; i < nControl; i++) if (load<i32>(controls + (<usize>i << 2)) == token) return true;
  return false;
}

/**
 * Token ids of the UTF-8 text (text, n) with bos in front when the model adds it, into out (≤ n + 2,) i32.
 * Returns the count, or an ENCODE_ error.
 */
export function encode(text: usize, n: i32, out: usize): i32 {
  let count = 0;
  if (flags & FLAG_ADD_BOS && bos >= 0) {
    store<i32>(out, bos);
    count++;
  }
  count = family == FAMILY_SPM ? encodeSpm(text, n, out, count) : encodeBpe(text, n, out, count);
  if (count == 0) {
    if (bos < 0) return ENCODE_EMPTY;
    store<i32>(out, bos);
    count = 1;
  }
  return count;
}

/** run.c's encoding of (text, n) after the `count` ids already in out. */
function encodeSpm(text: usize, n: i32, out: usize, count: i32): i32 {
  if (n > 0) {
    if (spaceId < 0) return ENCODE_NO_SPACE;
    store<i32>(out + (<usize>count << 2), spaceId);
    count++;
  }
  // One run per character: a lead byte and its continuation bytes, at most 4 (as run.c).
  let start = 0;
  for (let i = 1; i <= n; i++) {
    const continuation = i < n && (load<u8>(text + <usize>i) & 0xc0) == 0x80;
    if (continuation && i - start < 4) continue;
    const id = lookup(text + <usize>start, i - start, 0, 0);
    if (id >= 0) {
      store<i32>(out + (<usize>count << 2), id);
      count++;
    } else {
      if (!byteFallback) return ENCODE_NO_BYTE_FALLBACK;
      for (let j = start; j < i; j++) {
        store<i32>(out + (<usize>count << 2), <i32>load<u8>(text + <usize>j) + BYTE_TOKEN_OFFSET);
        count++;
      }
    }
    start = i;
  }
  return mergePairs(out, count);
}

// ---------------------------------------------------------------------------------------------------------
// Hugging Face BPE families

/** Length of the added token matching at text + i (the longest), its index in addedAt; 0 if none. */
let addedAt: usize = 0;
function addedMatch(text: usize, i: i32, n: i32): i32 {
  let best = 0;
  let r = added;
  for (let k = 0; k < nAdded; k++) {
    const len = load<i32>(r, 4);
    if (len > best && i + len <= n && memory.compare(text + <usize>i, r + 8, <usize>len) == 0) {
      best = len;
      addedAt = r;
    }
    r += 8 + ((<usize>len + 3) & ~3);
  }
  return best;
}

function encodeBpe(text: usize, n: i32, out: usize, count: i32): i32 {
  let section = 0;
  let start = 0;
  let i = 0;
  while (i <= n) {
    const len = i < n ? addedMatch(text, i, n) : 0;
    if (len == 0 && i < n) {
      i++;
      continue;
    }
    if (i > start) {
      let p = text + <usize>start;
      let len = i - start;
      if (flags & FLAG_NFC) {
        len = normalizeNfc(p, len);
        if (len < 0) return len;
        p = normalArea;
      }
      // ids never outnumber the section's bytes (+1 for a "▁" in front); the normal form may have more bytes
      // than the prompt, so the prompt buffer is checked for them
      if (<i64>count + <i64>len + 2 > <i64>outSlots) return ENCODE_TOO_LONG;
      count = family == FAMILY_BYTE_LEVEL ? byteLevelSection(p, len, out, count) : metaspaceSection(p, len, out, count, section);
      if (count < 0) return count;
      section++;
    }
    if (len > 0) {
      store<i32>(out + (<usize>count << 2), load<i32>(addedAt));
      count++;
      section++;
    }
    i += len > 0 ? len : 1;
    start = i;
  }
  return count;
}

/** Code point at p (length in cpLen); a byte no character starts with counts as one code point of its own. */
let cpLen: i32 = 1;
function codePointAt(p: usize, left: i32): u32 {
  const b = <u32>load<u8>(p);
  let need = 0;
  let c = b;
  if (b >= 0xc2 && b <= 0xdf) {
    need = 1;
    c = b & 0x1f;
  } else if (b >= 0xe0 && b <= 0xef) {
    need = 2;
    c = b & 0xf;
  } else if (b >= 0xf0 && b <= 0xf4) {
    need = 3;
    c = b & 0x7;
  }
  if (need >= left) need = 0;
  for (let k = 1; k <= need; k++) {
    const x = <u32>load<u8>(p + <usize>k);
    if ((x & 0xc0) != 0x80) {
      cpLen = 1;
      return b;
    }
    c = (c << 6) | (x & 0x3f);
  }
  cpLen = need + 1;
  return need == 0 ? b : c;
}

function inRanges(table: usize, count: i32, c: u32): bool {
  let lo = 0;
  let hi = count - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = table + (<usize>mid << 3);
    if (c < load<u32>(r)) hi = mid - 1;
    else if (c > load<u32>(r, 4)) lo = mid + 1;
    else return true;
  }
  return false;
}

const CLASS_LETTER: i32 = 1;
const CLASS_NUMBER: i32 = 2;
const CLASS_SPACE: i32 = 3;
const CLASS_OTHER: i32 = 4;
function classOf(c: u32): i32 {
  if (inRanges(letters, nLetters, c)) return CLASS_LETTER;
  if (inRanges(numbers, nNumbers, c)) return CLASS_NUMBER;
  if (inRanges(spaces, nSpaces, c)) return CLASS_SPACE;
  return CLASS_OTHER;
}

/** Bytes GPT-2's pattern matches at p (of left bytes): 's|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+ */
function gpt2Match(p: usize, left: i32): i32 {
  const b0 = load<u8>(p);
  if (b0 == 0x27 && left >= 2) {
    const b1 = load<u8>(p, 1);
    if (b1 == 0x73 || b1 == 0x74 || b1 == 0x6d || b1 == 0x64) return 2; // 's 't 'm 'd
    if (left >= 3) {
      const b2 = load<u8>(p, 2);
      if ((b1 == 0x72 && b2 == 0x65) || (b1 == 0x76 && b2 == 0x65) || (b1 == 0x6c && b2 == 0x6c)) return 3; // 're 've 'll
    }
  }
  // " ?" then a run of one class (letters, numbers, or neither those nor space)
  let q = b0 == 0x20 && left > 1 ? 1 : 0;
  let first = codePointAt(p + <usize>q, left - q);
  let cls = classOf(first);
  if (cls == CLASS_SPACE && q == 1) {
    q = 0;
    first = 0x20;
    cls = CLASS_SPACE;
  }
  if (cls != CLASS_SPACE) {
    let i = q + cpLen;
    while (i < left) {
      const c = codePointAt(p + <usize>i, left - i);
      if (classOf(c) != cls) break;
      i += cpLen;
    }
    return i;
  }
  return spaceMatch(p, left, false);
}

/**
 * Bytes a Split step with Qwen2's or Llama 3's pattern matches at p (of left bytes), `maxDigits` 1 (Qwen2) or
 * 3 (Llama 3); \s is White_Space (the spaces table), as Oniguruma has it:
 *   (?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,maxDigits}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+
 * Every position matches one alternative, so the matches tile the text. Each alternative is decided by the
 * first one or two characters and then takes one run, so a match costs its own length: linear in the text,
 * whatever its runs (the regex engine's backtracking of \s*[\r\n]+ over a long blank run is replaced by
 * remembering the run's last line break).
 */
function splitMatch(p: usize, left: i32, maxDigits: i32): i32 {
  const b0 = load<u8>(p);
  if (b0 == 0x27 && left >= 2) {
    const b1 = load<u8>(p, 1) | 0x20; // ASCII case folded: (?i:…)
    if (b1 == 0x73 || b1 == 0x74 || b1 == 0x6d || b1 == 0x64) return 2; // 's 't 'm 'd
    if (left >= 3) {
      const b2 = load<u8>(p, 2) | 0x20;
      if ((b1 == 0x72 && b2 == 0x65) || (b1 == 0x76 && b2 == 0x65) || (b1 == 0x6c && b2 == 0x6c)) return 3; // 're 've 'll
    }
  }
  const c0 = codePointAt(p, left);
  const l0 = cpLen;
  const k0 = classOf(c0);
  // [^\r\n\p{L}\p{N}]?\p{L}+
  let i = -1;
  if (k0 == CLASS_LETTER) i = l0;
  else if (k0 != CLASS_NUMBER && c0 != 0x0d && c0 != 0x0a && l0 < left && classOf(codePointAt(p + <usize>l0, left - l0)) == CLASS_LETTER) i = l0 + cpLen;
  if (i >= 0) return runOf(p, left, i, CLASS_LETTER);
  // \p{N}{1,maxDigits}
  if (k0 == CLASS_NUMBER) {
    i = l0;
    for (let k = 1; k < maxDigits && i < left; k++) {
      if (classOf(codePointAt(p + <usize>i, left - i)) != CLASS_NUMBER) break;
      i += cpLen;
    }
    return i;
  }
  //  ?[^\s\p{L}\p{N}]+[\r\n]*
  if (k0 == CLASS_OTHER || (c0 == 0x20 && l0 < left && classOf(codePointAt(p + 1, left - 1)) == CLASS_OTHER)) {
    i = runOf(p, left, k0 == CLASS_OTHER ? 0 : 1, CLASS_OTHER);
    while (i < left && (load<u8>(p + <usize>i) == 0x0d || load<u8>(p + <usize>i) == 0x0a)) i++;
    return i;
  }
  return spaceMatch(p, left, true);
}

/**
 * Bytes the whitespace alternatives match at p (of left bytes), a run of White_Space: with `lineBreaks`
 * (Qwen2, Llama 3) first \s*[\r\n]+, up to the run's last line break; then \s+(?!\S), all of a run that
 * ends the text, else all but its last character; else \s+, a single character.
 */
function spaceMatch(p: usize, left: i32, lineBreaks: bool): i32 {
  let i = 0;
  let last = 0;
  let lineEnd = -1;
  let chars = 0;
  while (i < left) {
    const c = codePointAt(p + <usize>i, left - i);
    if (classOf(c) != CLASS_SPACE) break;
    last = i;
    i += cpLen;
    if (c == 0x0d || c == 0x0a) lineEnd = i;
    chars++;
  }
  if (lineBreaks && lineEnd > 0) return lineEnd;
  if (i == left || chars == 1) return i;
  return last;
}

/** End of the run of class `cls` characters from byte i (of left bytes at p). */
function runOf(p: usize, left: i32, i: i32, cls: i32): i32 {
  while (i < left) {
    if (classOf(codePointAt(p + <usize>i, left - i)) != cls) break;
    i += cpLen;
  }
  return i;
}

/** A section of byte-level text: cut by a Split pattern, or at every \p{N} character (Digits), first. */
function byteLevelSection(p: usize, n: i32, out: usize, count: i32): i32 {
  if (flags & (FLAG_SPLIT_QWEN2 | FLAG_SPLIT_LLAMA3)) {
    const maxDigits = flags & FLAG_SPLIT_LLAMA3 ? 3 : 1;
    let i = 0;
    while (i < n && count >= 0) {
      const len = splitMatch(p + <usize>i, n - i, maxDigits);
      count = byteLevelRun(p + <usize>i, len, out, count);
      i += len;
    }
    return count;
  }
  if (!(flags & FLAG_DIGITS)) return byteLevelRun(p, n, out, count);
  let start = 0;
  let i = 0;
  while (i < n) {
    const c = codePointAt(p + <usize>i, n - i);
    const len = cpLen;
    if (inRanges(numbers, nNumbers, c)) {
      if (i > start) count = byteLevelRun(p + <usize>start, i - start, out, count);
      if (count >= 0) count = byteLevelRun(p + <usize>i, len, out, count);
      if (count < 0) return count;
      start = i + len;
    }
    i += len;
  }
  return start < n ? byteLevelRun(p + <usize>start, n - start, out, count) : count;
}

function byteLevelRun(p: usize, n: i32, out: usize, count: i32): i32 {
  let i = 0;
  while (i < n) {
    const len = flags & FLAG_USE_REGEX ? gpt2Match(p + <usize>i, n - i) : n;
    const start = count;
    const whole = flags & FLAG_IGNORE_MERGES ? lookup(p + <usize>i, len, 0, 0) : -1;
    if (whole >= 0) {
      store<i32>(out + (<usize>count << 2), whole);
      count++;
    } else {
      for (let k = 0; k < len; k++) {
        let id = load<i32>(byteIds + (<usize>load<u8>(p + <usize>(i + k)) << 2));
        if (id < 0) id = unk;
        if (id < 0) return ENCODE_NO_BYTE_FALLBACK;
        store<i32>(out + (<usize>count << 2), id);
        count++;
      }
      count = start + mergeRanked(out + (<usize>start << 2), count - start);
    }
    i += len;
  }
  return count;
}

/** A character's piece (a space or "▁" is the space piece), else its <0xXX> tokens, else <unk>. */
function pushChar(p: usize, len: i32, out: usize, count: i32): i32 {
  const isSpace = (len == 1 && load<u8>(p) == 0x20) || (len == 3 && load<u8>(p) == 0xe2 && load<u8>(p, 1) == 0x96 && load<u8>(p, 2) == 0x81);
  const id = isSpace ? spaceId : lookup(p, len, 0, 0);
  if (id >= 0) {
    store<i32>(out + (<usize>count << 2), id);
    return count + 1;
  }
  if (flags & FLAG_BYTE_FALLBACK) {
    let all = true;
    for (let k = 0; k < len; k++) all = all && load<i32>(byteIds + (<usize>load<u8>(p + <usize>k) << 2)) >= 0;
    if (all) {
      for (let k = 0; k < len; k++) {
        store<i32>(out + (<usize>count << 2), load<i32>(byteIds + (<usize>load<u8>(p + <usize>k) << 2)));
        count++;
      }
      return count;
    }
  }
  if (unk < 0) return ENCODE_NO_BYTE_FALLBACK;
  store<i32>(out + (<usize>count << 2), unk);
  return count + 1;
}

function metaspaceSection(p: usize, n: i32, out: usize, count: i32, section: i32): i32 {
  let start = count;
  const first = codePointAt(p, n);
  const startsWithSpace = first == 0x20 || first == 0x2581;
  if (prepend == PREPEND_UNCONDITIONAL || (!startsWithSpace && (prepend == PREPEND_ALWAYS || (prepend == PREPEND_FIRST && section == 0)))) {
    if (spaceId < 0) return ENCODE_NO_SPACE;
    store<i32>(out + (<usize>count << 2), spaceId);
    count++;
  }
  let i = 0;
  while (i < n) {
    const c = codePointAt(p + <usize>i, n - i);
    const len = cpLen;
    if (flags & FLAG_SPLIT && (c == 0x20 || c == 0x2581) && count > start) {
      count = start + mergeRanked(out + (<usize>start << 2), count - start);
      start = count;
    }
    count = pushChar(p + <usize>i, len, out, count);
    if (count < 0) return count;
    i += len;
  }
  return start + mergeRanked(out + (<usize>start << 2), count - start);
}

/** Index of the merge of ids (a, b), or -1. */
function mergeOf(a: i32, b: i32): i32 {
  if (nMerges == 0) return -1;
  let slot = ((<u32>a * 0x9e3779b1) ^ (<u32>b * 0x85ebca6b)) & mergeMask;
  let e = load<i32>(mergeHash + (<usize>slot << 2));
  while (e != 0) {
    const m = merges + <usize>(e - 1) * 12;
    if (load<i32>(m) == a && load<i32>(m, 4) == b) return e - 1;
    slot = (slot + 1) & mergeMask;
    e = load<i32>(mergeHash + (<usize>slot << 2));
  }
  return -1;
}

// Merge tables (ARCHITECTURE.md, "Tokenizers"): five planned (capacity,) i32 arrays after one another at
// `mergeTables`, indexed by token position: next, prev, pair (what the pair with the right neighbour merges
// by, or -1), heap (positions), where (heap slot or -1). setMergeTables() names them before encode().
// Both merge orders run on them in O(n log n): by score (sentencepiece: the merged piece's id, highest score
// first) and by rank (Hugging Face BPE: the merge's index, lowest first); leftmost on ties for both.
let mergeTables: usize = 0;
let mergeCapacity: i32 = 0;
let ranked: bool = false;
let heapSize: i32 = 0;

/**
 * Names the planned buffers encode() works in: the merge tables (capacity slots of COMMAND_MERGE_SLOT_BYTES: five i32
 * and one byte, the last `capacity` bytes holding a section's normal form, normalArea) and the prompt tokens'
 * capacity (promptSlots ids).
 */
export function setMergeTables(tables: usize, capacity: i32, promptSlots: i32): void {
  mergeTables = tables;
  mergeCapacity = capacity;
  normalArea = tables + <usize>capacity * (COMMAND_MERGE_SLOT_BYTES - 1);
  outSlots = promptSlots;
}
let normalArea: usize = 0;
let outSlots: i32 = 0;

/** Whether the tokenizer rewrites the prompt into a normal form before splitting it (its bytes may change). */
export function normalizes(): bool {
  return (flags & FLAG_NFC) != 0;
}

// @ts-ignore: decorator
@inline function table(k: i32, i: i32): usize {
  return mergeTables + ((<usize>k * <usize>mergeCapacity + <usize>i) << 2);
}
// @ts-ignore: decorator
@inline function nextOf(i: i32): i32 { return load<i32>(table(0, i)); }
// @ts-ignore: decorator
@inline function prevOf(i: i32): i32 { return load<i32>(table(1, i)); }
// @ts-ignore: decorator
@inline function pairOf(i: i32): i32 { return load<i32>(table(2, i)); }
// @ts-ignore: decorator
@inline function heapAt(k: i32): i32 { return load<i32>(table(3, k)); }
// @ts-ignore: decorator
@inline function whereOf(i: i32): i32 { return load<i32>(table(4, i)); }

/** Does node a's pair merge before node b's: higher score (or lower rank), then leftmost. */
function before(a: i32, b: i32): bool {
  const pa = pairOf(a);
  const pb = pairOf(b);
  if (ranked) return pa < pb || (pa == pb && a < b);
  const sa = score(pa);
  const sb = score(pb);
  return sa > sb || (sa == sb && a < b);
}

// @ts-ignore: decorator
@inline function place(node: i32, at: i32): void {
  store<i32>(table(3, at), node);
  store<i32>(table(4, node), at);
}

function siftUp(at: i32): void {
  const node = heapAt(at);
  while (at > 0) {
    const parent = (at - 1) >> 1;
    if (!before(node, heapAt(parent))) break;
    place(heapAt(parent), at);
    at = parent;
  }
  place(node, at);
}

function siftDown(at: i32): void {
  const node = heapAt(at);
  for (;;) {
    let child = 2 * at + 1;
    if (child >= heapSize) break;
    if (child + 1 < heapSize && before(heapAt(child + 1), heapAt(child))) child++;
    if (!before(heapAt(child), node)) break;
    place(heapAt(child), at);
    at = child;
  }
  place(node, at);
}

function heapRemove(node: i32): void {
  const at = whereOf(node);
  store<i32>(table(4, node), -1);
  heapSize--;
  const last = heapAt(heapSize);
  if (last == node) return;
  place(last, at);
  siftUp(at);
  siftDown(whereOf(last));
}

/** What tokens a, b merge by: the merge index (ranked) or the merged piece's id (scored); -1 for none. */
function pairKey(a: i32, b: i32): i32 {
  if (ranked) return mergeOf(a, b);
  const id = lookup(pieceBytes(a), pieceLen(a), pieceBytes(b), pieceLen(b));
  return id >= 0 && <f64>score(id) > NO_MERGE_SCORE ? id : -1;
}

/** (Re)computes node i's pair with its right neighbour (tokens t) and its place in the heap. */
function rekey(t: usize, i: i32): void {
  const j = nextOf(i);
  const key = j < 0 ? -1 : pairKey(load<i32>(t + (<usize>i << 2)), load<i32>(t + (<usize>j << 2)));
  store<i32>(table(2, i), key);
  if (key < 0) {
    if (whereOf(i) >= 0) heapRemove(i);
    return;
  }
  if (whereOf(i) < 0) {
    place(i, heapSize);
    heapSize++;
    siftUp(heapSize - 1);
  } else {
    siftUp(whereOf(i));
    siftDown(whereOf(i));
  }
}

/**
 * Merges tokens t (count,) in place as host/core/tokenizer.ts does: a linked list of tokens and a binary heap
 * of the positions whose pair with the right neighbour merges; merging i with its right neighbour j removes j
 * and re-keys i and its left neighbour, the only pairs that changed. Returns the count.
 */
function mergeHeap(t: usize, count: i32, byRank: bool): i32 {
  if (count < 2) return count;
  ranked = byRank;
  for (let i = 0; i < count; i++) {
    store<i32>(table(0, i), i + 1 < count ? i + 1 : -1);
    store<i32>(table(1, i), i - 1);
    store<i32>(table(2, i), -1);
    store<i32>(table(4, i), -1);
  }
  heapSize = 0;
  for (let i = 0; i + 1 < count; i++) rekey(t, i);
  while (heapSize > 0) {
    const i = heapAt(0);
    const j = nextOf(i);
    const key = pairOf(i);
    store<i32>(t + (<usize>i << 2), ranked ? load<i32>(merges + <usize>key * 12, 8) : key);
    if (whereOf(j) >= 0) heapRemove(j);
    const k = nextOf(j);
    store<i32>(table(0, i), k);
    if (k >= 0) store<i32>(table(1, k), i);
    rekey(t, i);
    if (prevOf(i) >= 0) rekey(t, prevOf(i));
  }
  let n = 0;
  for (let i = 0; i >= 0; i = nextOf(i)) {
    store<i32>(t + (<usize>n << 2), load<i32>(t + (<usize>i << 2)));
    n++;
  }
  return n;
}

/**
 * Merges the adjacent pair of lowest merge rank (leftmost on ties) until none is a merge; returns the count.
 * assembly/command.ts refuses a prompt of more bytes than the planned tables hold, so every prompt merges in
 * O(n log n).
 */
function mergeRanked(t: usize, count: i32): i32 {
  return mergeHeap(t, count, true);
}

/** Merges the best-scoring adjacent pair (leftmost on ties) until no pair is a piece; returns the count. */
function mergePairs(t: usize, count: i32): i32 {
  return mergeHeap(t, count, false);
}

// Result of decode(): the bytes to print for a token.
export let decodedPtr: usize = 0;
export let decodedLen: i32 = 0;

/**
 * Bytes for `token` after `prev` (decodedPtr, decodedLen): nothing for control tokens, no leading space
 * after bos (sentencepiece-style families; Llama-style also at the start), <0xXX> as its byte.
 */
export function decode(prev: i32, token: i32): void {
  let p = pieceBytes(token);
  let n = pieceLen(token);
  if (isControl(token)) n = 0;
  const dropSpace = family == FAMILY_SPM ? prev == bos : family == FAMILY_METASPACE && (prev < 0 || prev == bos);
  if (dropSpace && n > 0 && load<u8>(p) == 0x20) {
    p++;
    n--;
  }
  const b = family == FAMILY_BYTE_LEVEL || (family == FAMILY_METASPACE && !(flags & FLAG_BYTE_FALLBACK)) ? -1 : byteValue(p, n);
  if (b >= 0) {
    store<u8>(oneByte, <u8>b);
    p = oneByte;
    n = 1;
  }
  decodedPtr = p;
  decodedLen = n;
}

// ---------------------------------------------------------------------------------------------------------
// Unicode normal form C (GPT-NeoX/Pythia, Qwen2), as String.prototype.normalize("NFC") gives it on the host:
// every character replaced by its full canonical decomposition (the decomposition table; Hangul syllables by
// rule), each run of non-starters put in canonical order (a stable sort by combining class), then every
// character composed with the last starter before it when nothing between them blocks it (the composition
// table; Hangul by rule). The tables come from the host (tools/package/nfc-tables.ts). The code points are
// worked on in the merge tables (five i32 per slot, idle until the section is merged), the UTF-8 result goes
// to normalArea; both hold what a prompt that passed the command's byte check can become, and a section
// that would not fit is ENCODE_TOO_LONG.

const S_BASE: u32 = 0xac00;
const L_BASE: u32 = 0x1100;
const V_BASE: u32 = 0x1161;
const T_BASE: u32 = 0x11a7;
const L_COUNT: u32 = 19;
const V_COUNT: u32 = 21;
const T_COUNT: u32 = 28;
const N_COUNT: u32 = V_COUNT * T_COUNT;
const S_COUNT: u32 = L_COUNT * N_COUNT;
const cccCounts: usize = memory.data(256 * 4); // counting sort of a long run of non-starters

/** Canonical combining class order of c (0 = starter; equal ranks = equal classes). */
function cccOf(c: u32): u32 {
  if (c < 0x300) return 0;
  let lo = 0;
  let hi = nCcc - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = cccs + (<usize>mid << 3);
    const packed = load<u32>(r, 4);
    if (c < load<u32>(r)) hi = mid - 1;
    else if (c > packed >> 8) lo = mid + 1;
    else return packed & 0xff;
  }
  return 0;
}

/** Index of c's decomposition record, or -1. */
function decompositionOf(c: u32): i32 {
  if (c < 0xc0) return -1;
  let lo = 0;
  let hi = nDecomp - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const at = load<u32>(decomps + (<usize>mid << 3));
    if (c < at) hi = mid - 1;
    else if (c > at) lo = mid + 1;
    else return mid;
  }
  return -1;
}

/** The primary composite of (a, b), or 0. */
function compose(a: u32, b: u32): u32 {
  if (a >= L_BASE && a < L_BASE + L_COUNT && b >= V_BASE && b < V_BASE + V_COUNT) return S_BASE + ((a - L_BASE) * V_COUNT + (b - V_BASE)) * T_COUNT;
  if (a >= S_BASE && a < S_BASE + S_COUNT && (a - S_BASE) % T_COUNT == 0 && b > T_BASE && b < T_BASE + T_COUNT) return a + (b - T_BASE);
  const key = (<u64>a << 21) | <u64>b;
  let lo = 0;
  let hi = nComp - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const r = comps + <usize>mid * 12;
    const at = (<u64>load<u32>(r) << 21) | <u64>load<u32>(r, 4);
    if (key < at) hi = mid - 1;
    else if (key > at) lo = mid + 1;
    else return load<u32>(r, 8);
  }
  return 0;
}

/** Puts the run cps[from, to) of non-starters in canonical order (stable by class), tmp holding as many. */
function reorder(cps: usize, from: i32, to: i32, tmp: usize): void {
  const n = to - from;
  if (n < 2) return;
  if (n <= 16) {
    for (let i = from + 1; i < to; i++) {
      const c = load<u32>(cps + (<usize>i << 2));
      const k = cccOf(c);
      let j = i - 1;
      while (j >= from && cccOf(load<u32>(cps + (<usize>j << 2))) > k) {
        store<u32>(cps + (<usize>(j + 1) << 2), load<u32>(cps + (<usize>j << 2)));
        j--;
      }
      store<u32>(cps + (<usize>(j + 1) << 2), c);
    }
    return;
  }
  // counting sort: linear in the run, however long (a prompt of thousands of combining marks)
  memory.fill(cccCounts, 0, 256 * 4);
  for (let i = from; i < to; i++) {
    const a = cccCounts + (<usize>cccOf(load<u32>(cps + (<usize>i << 2))) << 2);
    store<u32>(a, load<u32>(a) + 1);
  }
  let sum: u32 = 0;
  for (let k = 0; k < 256; k++) {
    const a = cccCounts + (<usize>k << 2);
    const c = load<u32>(a);
    store<u32>(a, sum);
    sum += c;
  }
  for (let i = from; i < to; i++) {
    const c = load<u32>(cps + (<usize>i << 2));
    const a = cccCounts + (<usize>cccOf(c) << 2);
    const at = load<u32>(a);
    store<u32>(a, at + 1);
    store<u32>(tmp + (<usize>at << 2), c);
  }
  memory.copy(cps + (<usize>from << 2), tmp, <usize>n << 2);
}

// @ts-ignore: decorator
@inline function putCp(cps: usize, at: i32, c: u32): i32 {
  store<u32>(cps + (<usize>at << 2), c);
  return at + 1;
}

/** Writes (p, n) in normal form C to normalArea; returns its length, or ENCODE_TOO_LONG. */
function normalizeNfc(p: usize, n: i32): i32 {
  // decomposed code points in the first half of the merge tables' i32, the sort's scratch in the second
  const room = (mergeCapacity * 5) >> 1;
  const cps = mergeTables;
  const tmp = mergeTables + (<usize>room << 2);
  let m = 0;
  let i = 0;
  while (i < n) {
    const c = codePointAt(p + <usize>i, n - i);
    i += cpLen;
    if (m + 7 > room) return ENCODE_TOO_LONG;
    if (c >= S_BASE && c < S_BASE + S_COUNT) {
      const s = c - S_BASE;
      m = putCp(cps, m, L_BASE + s / N_COUNT);
      m = putCp(cps, m, V_BASE + (s % N_COUNT) / T_COUNT);
      if (s % T_COUNT != 0) m = putCp(cps, m, T_BASE + s % T_COUNT);
      continue;
    }
    const d = decompositionOf(c);
    if (d < 0) {
      m = putCp(cps, m, c);
      continue;
    }
    const e = load<u32>(decomps + (<usize>d << 3), 4);
    for (let k: u32 = 0; k < (e & 7); k++) m = putCp(cps, m, load<u32>(pool + (<usize>((e >> 3) + k) << 2)));
  }
  // canonical order: each maximal run of non-starters
  let run = 0;
  for (let k = 0; k <= m; k++) {
    if (k < m && cccOf(load<u32>(cps + (<usize>k << 2))) != 0) continue;
    reorder(cps, run, k, tmp);
    run = k + 1;
  }
  // composition (UAX #15's: with the last starter unless a character of the same or a higher class, or a
  // starter, stands between)
  let kept = 0;
  if (m > 0) {
    let starter = 0;
    let last = cccOf(load<u32>(cps));
    if (last != 0) last = 256;
    kept = 1;
    for (let k = 1; k < m; k++) {
      const c = load<u32>(cps + (<usize>k << 2));
      const cc = cccOf(c);
      const composite = last == 256 ? 0 : compose(load<u32>(cps + (<usize>starter << 2)), c);
      if (composite != 0 && (last < cc || last == 0)) {
        store<u32>(cps + (<usize>starter << 2), composite);
        continue;
      }
      if (cc == 0) starter = kept;
      last = cc;
      kept = putCp(cps, kept, c);
    }
  }
  // UTF-8 into normalArea (mergeCapacity bytes, of which a merge needs two for bos and the dummy prefix)
  const cap = mergeCapacity - 2;
  let len = 0;
  for (let k = 0; k < kept; k++) {
    const c = load<u32>(cps + (<usize>k << 2));
    const need = c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
    if (len + need > cap) return ENCODE_TOO_LONG;
    const q = normalArea + <usize>len;
    if (need == 1) store<u8>(q, <u8>c);
    else if (need == 2) {
      store<u8>(q, <u8>(0xc0 | (c >> 6)));
      store<u8>(q, <u8>(0x80 | (c & 0x3f)), 1);
    } else if (need == 3) {
      store<u8>(q, <u8>(0xe0 | (c >> 12)));
      store<u8>(q, <u8>(0x80 | ((c >> 6) & 0x3f)), 1);
      store<u8>(q, <u8>(0x80 | (c & 0x3f)), 2);
    } else {
      store<u8>(q, <u8>(0xf0 | (c >> 18)));
      store<u8>(q, <u8>(0x80 | ((c >> 12) & 0x3f)), 1);
      store<u8>(q, <u8>(0x80 | ((c >> 6) & 0x3f)), 2);
      store<u8>(q, <u8>(0x80 | (c & 0x3f)), 3);
    }
    len += need;
  }
  return len;
}
