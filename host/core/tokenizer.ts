/**
 * llama2.c tokenizer: reads tokenizer.bin and encodes/decodes like run.c (sentencepiece-style BPE with a
 * dummy-prefix space and byte fallback).
 *
 * Pieces are bytes, not text: a piece may be half of a UTF-8 character. Lookups therefore key on
 * "binary strings" (one char per byte, latin1), which concatenate exactly as the bytes do.
 */
import { fail } from "./errors.ts";
import { readWholeFile } from "./files.ts";

export const UNK = 0;
export const BOS = 1;
export const EOS = 2;
/** Byte b falls back to token b + 3: ids 0..2 are <unk>, <s>, </s>. */
const BYTE_TOKEN_OFFSET = 3;
/** run.c starts its best merge score here, so pairs scoring at or below it never merge. */
const NO_MERGE_SCORE = -1e10;

const BYTE_PIECE = /^<0x([0-9A-Fa-f]{2})>$/;
const utf8 = new TextEncoder();

/** Each byte as the code point of the same value (latin1), without Node's Buffer so the web page reads it too. */
const binaryString = (bytes: Uint8Array): string => {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return s;
};

export interface EncodeOptions {
  bos?: boolean; // prepend <s> (id 1)
  eos?: boolean; // append </s> (id 2)
}

export class Tokenizer {
  private readonly keys: string[]; // piece i as a binary string
  private readonly ids = new Map<string, number>(); // piece -> first id carrying it
  private readonly byteFallback: boolean; // ids 3..258 really are <0x00>..<0xFF>

  constructor(
    readonly pieces: readonly Uint8Array[], // (vocab,) raw bytes of each piece
    readonly scores: Float32Array, // (vocab,) merge priority, higher merges first
    readonly maxTokenLength: number,
    readonly name: string, // file named in error messages
  ) {
    this.keys = pieces.map(binaryString);
    this.keys.forEach((k, id) => this.ids.has(k) || this.ids.set(k, id));
    this.byteFallback = pieces.length >= BYTE_TOKEN_OFFSET + 256 && this.keys.slice(BYTE_TOKEN_OFFSET, BYTE_TOKEN_OFFSET + 256).every((k, b) => bytePieceValue(k) === b);
  }

  get vocabSize(): number {
    return this.pieces.length;
  }

  /** Token ids for `text`, as run.c's encode: dummy " " prefix, codepoints or their bytes, then greedy BPE merges. */
  encode(text: string, opts: EncodeOptions = {}): number[] {
    const tokens: number[] = [];
    if (opts.bos) tokens.push(BOS);
    if (text.length > 0) tokens.push(this.dummyPrefix());
    for (const cp of codepoints(utf8.encode(text))) {
      const id = this.ids.get(binaryString(cp));
      if (id !== undefined) tokens.push(id);
      else for (const byte of cp) tokens.push(this.byteToken(byte, text));
    }
    this.mergePairs(tokens);
    if (opts.eos) tokens.push(EOS);
    return tokens;
  }

  /**
   * The fewest tokens `text` can encode to: every token but <s> stands for at most max_token_length bytes of
   * the dummy-prefixed text (a byte-fallback token for one byte). Lets a caller refuse an over-long prompt
   * before encoding it.
   */
  minTokens(text: string, opts: EncodeOptions = {}): number {
    const bytes = text.length === 0 ? 0 : 1 + utf8.encode(text).length;
    return (opts.bos ? 1 : 0) + Math.ceil(bytes / this.maxTokenLength) + (opts.eos ? 1 : 0);
  }

  /**
   * Merges, as run.c, the adjacent pair whose concatenation is the best-scoring piece (leftmost on ties) until
   * no pair is a piece, in O(n log n) (ARCHITECTURE.md, "Tokenizers"): tokens form a linked list and every
   * node whose pair with its right neighbour is a piece sits in a binary heap ordered by (score desc, position
   * asc). Merging node i with its right neighbour j removes j and re-keys i and i's left neighbour, the only
   * pairs that changed. Positions never reorder, so "smallest original index" is "leftmost now". <s> takes
   * part too, as in run.c, though no real vocabulary has a piece starting with it.
   */
  private mergePairs(tokens: number[]): void {
    const n = tokens.length;
    if (n < 2) return;
    const next = new Int32Array(n);
    const prev = new Int32Array(n);
    const pair = new Int32Array(n).fill(-1); // id of piece(tokens[i]) + piece(tokens[next[i]]), or -1
    const heap = new Int32Array(n); // node indices
    const where = new Int32Array(n).fill(-1); // node -> heap slot, -1 when not in the heap
    let size = 0;
    for (let i = 0; i < n; i++) {
      next[i] = i + 1 < n ? i + 1 : -1;
      prev[i] = i - 1;
    }
    const scores = this.scores;
    const before = (a: number, b: number): boolean => scores[pair[a]] > scores[pair[b]] || (scores[pair[a]] === scores[pair[b]] && a < b);
    const place = (node: number, at: number) => {
      heap[at] = node;
      where[node] = at;
    };
    const up = (at: number) => {
      const node = heap[at];
      while (at > 0) {
        const parent = (at - 1) >> 1;
        if (!before(node, heap[parent])) break;
        place(heap[parent], at);
        at = parent;
      }
      place(node, at);
    };
    const down = (at: number) => {
      const node = heap[at];
      for (;;) {
        let child = 2 * at + 1;
        if (child >= size) break;
        if (child + 1 < size && before(heap[child + 1], heap[child])) child++;
        if (!before(heap[child], node)) break;
        place(heap[child], at);
        at = child;
      }
      place(node, at);
    };
    const remove = (node: number) => {
      const at = where[node];
      where[node] = -1;
      const last = heap[--size];
      if (last === node) return;
      place(last, at);
      up(at);
      down(where[last]);
    };
    // (Re)computes node i's pair with its right neighbour and its place in the heap.
    const rekey = (i: number) => {
      const j = next[i];
      const id = j < 0 ? undefined : this.ids.get(this.keys[tokens[i]] + this.keys[tokens[j]]);
      const merges = id !== undefined && scores[id] > NO_MERGE_SCORE;
      if (!merges) {
        if (where[i] >= 0) remove(i);
        pair[i] = -1;
        return;
      }
      pair[i] = id;
      if (where[i] < 0) {
        place(i, size++);
        up(size - 1);
      } else {
        up(where[i]);
        down(where[i]);
      }
    };
    for (let i = 0; i + 1 < n; i++) rekey(i);
    while (size > 0) {
      const i = heap[0];
      const j = next[i];
      tokens[i] = pair[i];
      if (where[j] >= 0) remove(j);
      next[i] = next[j];
      if (next[j] >= 0) prev[next[j]] = i;
      rekey(i);
      if (prev[i] >= 0) rekey(prev[i]);
    }
    let count = 0;
    for (let i = 0; i >= 0; i = next[i]) tokens[count++] = tokens[i];
    tokens.length = count;
  }

  private dummyPrefix(): number {
    const id = this.ids.get(" ");
    return id ?? fail("E_MODEL", `${this.name} has no " " token, which encoding needs for the leading dummy-prefix space.`);
  }

  private byteToken(byte: number, text: string): number {
    if (!this.byteFallback) {
      fail("E_MODEL", `${this.name} has no byte-fallback tokens <0x00>..<0xFF> at ids 3..258, so it cannot encode ${JSON.stringify(text)}.`);
    }
    return byte + BYTE_TOKEN_OFFSET;
  }

  /**
   * Bytes to print for `token` following `prev`, as run.c's decode: after <s> a leading space is dropped
   * (sentencepiece's dummy prefix), and <0xXX> pieces stand for the raw byte. Feed them to a Utf8Stream.
   */
  decode(prev: number, token: number): Uint8Array {
    let piece = this.piece(token);
    if (prev === BOS && piece[0] === 0x20) piece = piece.subarray(1);
    const byte = bytePieceValue(binaryString(piece));
    return byte === undefined ? piece : Uint8Array.of(byte);
  }

  /** Text of a whole sequence, decoding each token after the one before it; <s> and </s> print nothing. */
  decodeAll(tokens: readonly number[]): string {
    const stream = new Utf8Stream();
    let text = "";
    let prev = -1;
    for (const token of tokens) {
      if (token !== BOS && token !== EOS) text += stream.write(this.decode(prev, token));
      prev = token;
    }
    return text + stream.end();
  }

  /** Raw bytes of a piece, checking the id. */
  piece(token: number): Uint8Array {
    if (!Number.isInteger(token) || token < 0 || token >= this.pieces.length) {
      fail("E_MODEL", `token id ${token} is outside the ${this.pieces.length}-token vocabulary of ${this.name}.`);
    }
    return this.pieces[token];
  }
}

/** Byte value of a "<0xXX>" piece, else undefined. */
function bytePieceValue(key: string): number | undefined {
  const m = BYTE_PIECE.exec(key);
  return m ? parseInt(m[1], 16) : undefined;
}

/** Splits UTF-8 into one byte run per character: a lead byte plus its continuation bytes (at most 4, as run.c). */
function* codepoints(bytes: Uint8Array): Generator<Uint8Array> {
  let start = 0;
  for (let i = 1; i <= bytes.length; i++) {
    const continuation = i < bytes.length && (bytes[i] & 0xc0) === 0x80;
    if (!continuation || i - start >= 4) {
      yield bytes.subarray(start, i);
      start = i;
    }
  }
}

/**
 * Turns a stream of byte chunks into printable text, as assembly/command-utf8.ts does byte for byte: an
 * incomplete UTF-8 sequence is held until its remaining bytes arrive (byte-fallback tokens split characters
 * across tokens); bytes that cannot be part of a character (a lone continuation byte, a sequence cut short,
 * an overlong or surrogate form — the WHATWG decoder's maximal invalid subsequences) print nothing; and so do
 * control characters other than whitespace (like run.c's safe_printf, which skips unprintable single bytes).
 */
export class Utf8Stream {
  private needed = 0; // continuation bytes the current character still needs
  private seen = 0;
  private codePoint = 0;
  private lower = 0x80; // bounds of the next continuation byte
  private upper = 0xbf;
  private out = "";

  /** Text completed by these bytes. */
  write(bytes: Uint8Array): string {
    for (const b of bytes) this.byte(b);
    const text = this.out;
    this.out = "";
    return text;
  }

  /** Ends the stream: an unfinished character prints nothing. */
  end(): string {
    this.reset();
    const text = this.out;
    this.out = "";
    return text;
  }

  private reset(): void {
    this.needed = 0;
    this.seen = 0;
    this.codePoint = 0;
    this.lower = 0x80;
    this.upper = 0xbf;
  }

  private emit(c: number): void {
    if (printable(c)) this.out += String.fromCodePoint(c);
  }

  private byte(b: number): void {
    if (this.needed === 0) {
      if (b < 0x80) this.emit(b);
      else if (b >= 0xc2 && b <= 0xdf) [this.needed, this.codePoint] = [1, b & 0x1f];
      else if (b >= 0xe0 && b <= 0xef) {
        if (b === 0xe0) this.lower = 0xa0;
        if (b === 0xed) this.upper = 0x9f;
        [this.needed, this.codePoint] = [2, b & 0xf];
      } else if (b >= 0xf0 && b <= 0xf4) {
        if (b === 0xf0) this.lower = 0x90;
        if (b === 0xf4) this.upper = 0x8f;
        [this.needed, this.codePoint] = [3, b & 0x7];
      } // else: a byte no character starts with, dropped
      return;
    }
    if (b < this.lower || b > this.upper) {
      // the sequence so far is dropped; the byte starts over on its own
      this.reset();
      this.byte(b);
      return;
    }
    this.lower = 0x80;
    this.upper = 0xbf;
    this.codePoint = (this.codePoint << 6) | (b & 0x3f);
    if (++this.seen < this.needed) return;
    const c = this.codePoint;
    this.reset();
    this.emit(c);
  }
}

/** Not a control character, or whitespace (\t \n \v \f \r): C0 controls, DEL and C1 controls print nothing. */
export const printable = (c: number): boolean => (c >= 0x20 && c !== 0x7f && (c < 0x80 || c > 0x9f)) || (c >= 0x09 && c <= 0x0d);

// ---------------------------------------------------------------------------------------------
// tokenizer.bin

/**
 * Reads tokenizer.bin: int32 max_token_length, then per token float32 score, int32 len, len bytes.
 * The file does not store its token count; pass the model's vocabSize to check it matches.
 */
export function readTokenizer(bytes: Uint8Array, name: string, vocabSize?: number): Tokenizer {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < 4) {
    fail("E_FORMAT", `${name}: file is ${bytes.length} bytes, too short for the 4-byte max_token_length field.`);
  }
  const maxTokenLength = view.getInt32(0, true);
  if (maxTokenLength <= 0) {
    fail("E_FORMAT", `${name}: field max_token_length is ${maxTokenLength}, expected a positive number.`);
  }
  const pieces: Uint8Array[] = [];
  const scores: number[] = [];
  for (let at = 4; at < bytes.length; ) {
    const i = pieces.length;
    if (at + 8 > bytes.length) {
      fail("E_FORMAT", `${name}: token ${i} is truncated: its score and len fields need 8 bytes but ${bytes.length - at} remain.`);
    }
    const len = view.getInt32(at + 4, true);
    if (len < 0 || len > maxTokenLength) {
      fail("E_FORMAT", `${name}: token ${i} has len=${len}, expected 0..${maxTokenLength} (max_token_length).`);
    }
    if (at + 8 + len > bytes.length) {
      fail("E_FORMAT", `${name}: token ${i} is truncated: its len field says ${len} bytes but ${bytes.length - at - 8} remain.`);
    }
    scores.push(view.getFloat32(at, true));
    pieces.push(new Uint8Array(bytes.subarray(at + 8, at + 8 + len))); // a copy, so the file's buffer can go
    at += 8 + len;
  }
  if (pieces.length === 0) fail("E_FORMAT", `${name}: holds no tokens after its max_token_length field.`);
  if (vocabSize !== undefined && pieces.length !== vocabSize) {
    fail("E_FORMAT", `${name}: holds ${pieces.length} tokens, but the model's vocab_size is ${vocabSize}.`);
  }
  return new Tokenizer(pieces, Float32Array.from(scores), maxTokenLength, name);
}

/** Reads tokenizer.bin from disk. */
export function loadTokenizer(path: string, vocabSize?: number): Tokenizer {
  return readTokenizer(readWholeFile(path, "tokenizer"), path, vocabSize);
}
