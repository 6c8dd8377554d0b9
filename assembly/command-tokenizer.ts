// The embedded tokenizer.bin, encoding and decoding exactly as host/tokenizer.ts (llama2.c run.c): a
// dummy-prefix space, each UTF-8 character as its piece else its bytes (id = byte + 3), then greedy merges of
// the best-scoring adjacent pair (leftmost on ties); decoding drops the space after <s> and turns <0xXX>
// pieces into the raw byte.
//
// tokenizer.bin: i32 max_token_length, then per token f32 score, i32 len, len bytes. Lookups go through two
// planned tables filled by loadTokenizer():
//   pieces    (vocab,) i32      address of token i's record
//   pieceHash (slots,) i32      open addressing, FNV-1a of the piece bytes -> first id carrying them, + 1

export const BOS: i32 = 1;
export const EOS: i32 = 2;
const BYTE_TOKEN_OFFSET: i32 = 3; // byte b falls back to token b + 3
const NO_MERGE_SCORE: f64 = -1e10; // run.c's starting best score: pairs at or below it never merge

// encode() failures (positive counts are success)
export const ENCODE_NO_SPACE: i32 = -1; // no " " piece for the dummy prefix
export const ENCODE_NO_BYTE_FALLBACK: i32 = -2; // a character is not a piece and ids 3..258 are not <0x00>..<0xFF>

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
  if (at != end) return false;
  byteFallback = nVocab >= BYTE_TOKEN_OFFSET + 256;
  for (let b = 0; b < 256 && byteFallback; b++) {
    const id = BYTE_TOKEN_OFFSET + b;
    byteFallback = byteValue(pieceBytes(id), pieceLen(id)) == b;
  }
  store<u8>(oneByte, 0x20);
  spaceId = lookup(oneByte, 1, 0, 0);
  return true;
}

/**
 * Token ids of the UTF-8 text (text, n) with <s> in front, into out (≤ n + 2,) i32. Returns the count, or
 * an ENCODE_ error.
 */
export function encode(text: usize, n: i32, out: usize): i32 {
  let count = 0;
  store<i32>(out, BOS);
  count++;
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

/** Merges the best-scoring adjacent pair (leftmost on ties) until no pair is a piece; returns the count. */
function mergePairs(t: usize, count: i32): i32 {
  while (count > 1) {
    let best = NO_MERGE_SCORE;
    let bestId = -1;
    let bestAt = -1;
    for (let i = 0; i + 1 < count; i++) {
      const a = load<i32>(t + (<usize>i << 2));
      const b = load<i32>(t + (<usize>(i + 1) << 2));
      const id = lookup(pieceBytes(a), pieceLen(a), pieceBytes(b), pieceLen(b));
      if (id >= 0 && <f64>score(id) > best) {
        best = <f64>score(id);
        bestId = id;
        bestAt = i;
      }
    }
    if (bestAt < 0) return count;
    store<i32>(t + (<usize>bestAt << 2), bestId);
    const from = t + (<usize>(bestAt + 2) << 2);
    memory.copy(from - 4, from, <usize>(count - bestAt - 2) << 2);
    count--;
  }
  return count;
}

// Result of decode(): the bytes to print for a token.
export let decodedPtr: usize = 0;
export let decodedLen: i32 = 0;

/** Bytes for `token` after `prev` (decodedPtr, decodedLen): no leading space after <s>, <0xXX> as its byte. */
export function decode(prev: i32, token: i32): void {
  let p = pieceBytes(token);
  let n = pieceLen(token);
  if (prev == BOS && n > 0 && load<u8>(p) == 0x20) {
    p++;
    n--;
  }
  const b = byteValue(p, n);
  if (b >= 0) {
    store<u8>(oneByte, <u8>b);
    p = oneByte;
    n = 1;
  }
  decodedPtr = p;
  decodedLen = n;
}
