import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SlimError } from "../host/core/errors.ts";
import { BOS, EOS, loadTokenizer, readTokenizer, Tokenizer, Utf8Stream } from "../host/core/tokenizer.ts";
import { byteFallbackVocab, writeTokenizerBin } from "./fixtures/llama2c-writer.ts";

/**
 * A small llama-like vocabulary. Single characters first (looked up directly, never merged into), then
 * merges ranked by score: earlier pieces score higher, as sentencepiece writes them.
 */
const CHARS = [" ", "h", "e", "l", "o", "w", "r", "d", "a", "b", "c", "!", "\n", "ü"];
const MERGES = ["ll", "he", "hell", "hello", " hello", "or", "ld", "wor", "world", " world", "o!", " w", "bc", "ab"];
const vocab = byteFallbackVocab([...CHARS, ...MERGES], [
  ...CHARS.map(() => -1000), // single characters never form by merging, so their scores do not matter
  ...MERGES.map((_, i) => -i),
]);
const tok = readTokenizer(writeTokenizerBin(vocab.pieces, vocab.scores), "tokenizer.bin");
const id = (piece: string) => {
  const i = vocab.pieces.indexOf(piece);
  if (i < 0) throw new Error(`test vocab has no ${JSON.stringify(piece)}`);
  return i;
};
const byteId = (b: number) => b + 3;

function formatError(fn: () => unknown): SlimError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SlimError);
    expect((err as SlimError).code).toBe("E_FORMAT");
    return err as SlimError;
  }
  throw new Error("expected a SlimError, but nothing was thrown");
}

describe("readTokenizer", () => {
  it("reads pieces, scores and max_token_length", () => {
    expect(tok.vocabSize).toBe(vocab.pieces.length);
    expect(tok.maxTokenLength).toBe(6); // "<0xFF>" and " hello", " world"
    expect(new TextDecoder().decode(tok.piece(id(" hello")))).toBe(" hello");
    expect(tok.scores[id("ll")]).toBe(-0);
    expect(tok.scores[id("ab")]).toBe(-(MERGES.length - 1));
  });

  it("checks the token count against the model's vocab_size", () => {
    const bytes = writeTokenizerBin(vocab.pieces, vocab.scores);
    expect(readTokenizer(bytes, "tokenizer.bin", vocab.pieces.length).vocabSize).toBe(vocab.pieces.length);
    const err = formatError(() => readTokenizer(bytes, "tokenizer.bin", 32000));
    expect(err.message).toContain("tokenizer.bin");
    expect(err.message).toContain("vocab_size is 32000");
  });

  it("names the file and field of a truncated or corrupt tokenizer", () => {
    const bytes = writeTokenizerBin(vocab.pieces, vocab.scores);
    for (const cut of [0, 2, 5, 9, bytes.length - 1]) {
      const err = formatError(() => readTokenizer(bytes.slice(0, cut), "tok.bin"));
      expect(err.message).toContain("tok.bin");
      expect(err.message).toMatch(/too short|truncated|no tokens/);
    }
    const badMax = bytes.slice();
    new DataView(badMax.buffer).setInt32(0, 0, true);
    expect(formatError(() => readTokenizer(badMax, "tok.bin")).message).toContain("max_token_length");
    const badLen = bytes.slice();
    new DataView(badLen.buffer).setInt32(8, -3, true); // token 0's len
    expect(formatError(() => readTokenizer(badLen, "tok.bin")).message).toContain("token 0 has len=-3");
  });

  it("loads from disk and names a missing file", () => {
    const dir = mkdtempSync(join(tmpdir(), "slimedge-tok-"));
    try {
      const path = join(dir, "tokenizer.bin");
      writeFileSync(path, writeTokenizerBin(vocab.pieces, vocab.scores));
      expect(loadTokenizer(path).encode("hello")).toEqual([id(" hello")]);
      expect(() => loadTokenizer(join(dir, "nope.bin"))).toThrow(expect.objectContaining({ code: "E_FILE" }));
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("Tokenizer.encode", () => {
  it("prepends BOS and the dummy-prefix space, then merges", () => {
    expect(tok.encode("hello", { bos: true })).toEqual([BOS, id(" hello")]);
    expect(tok.encode("hello world", { bos: true })).toEqual([BOS, id(" hello"), id(" world")]);
  });

  it("appends EOS only when asked", () => {
    expect(tok.encode("hello", { bos: true, eos: true })).toEqual([BOS, id(" hello"), EOS]);
    expect(tok.encode("hello")).toEqual([id(" hello")]);
  });

  it("adds no dummy prefix to empty text", () => {
    expect(tok.encode("", { bos: true })).toEqual([BOS]);
    expect(tok.encode("")).toEqual([]);
  });

  it("merges the best-scoring pair first, not the leftmost", () => {
    // "bc" outranks "ab", so "abc" becomes a + bc even though "ab" comes first in the text.
    expect(tok.encode("abc")).toEqual([id(" "), id("a"), id("bc")]);
    // " w" is a piece too, but ranks below "or", "ld" and "wor", so " world" still forms whole.
    expect(tok.encode("world")).toEqual([id(" world")]);
  });

  it("keeps merging until no adjacent pair is a piece", () => {
    expect(tok.encode("hello!")).toEqual([id(" hello"), id("!")]);
    expect(tok.encode("lo!")).toEqual([id(" "), id("l"), id("o!")]);
  });

  it("looks up a whole multi-byte character when the vocabulary has it", () => {
    expect(tok.encode("ü")).toEqual([id(" "), id("ü")]);
  });

  it("falls back to <0xXX> byte tokens for characters missing from the vocabulary", () => {
    expect(tok.encode("é")).toEqual([id(" "), byteId(0xc3), byteId(0xa9)]);
    expect(tok.encode("h🙂")).toEqual([id(" "), id("h"), byteId(0xf0), byteId(0x9f), byteId(0x99), byteId(0x82)]);
    expect(tok.encode("\t")).toEqual([id(" "), byteId(0x09)]);
  });

  it("refuses text it cannot encode without byte-fallback tokens", () => {
    const small = readTokenizer(writeTokenizerBin(["<unk>", "<s>", "</s>", " ", "a"], [0, 0, 0, 0, 0]), "tiny.bin");
    expect(small.encode("a")).toEqual([3, 4]);
    expect(() => small.encode("é")).toThrow(expect.objectContaining({ code: "E_MODEL", message: expect.stringContaining("tiny.bin") }));
  });
});

describe("Tokenizer.decode", () => {
  const text = (bytes: Uint8Array) => new TextDecoder().decode(bytes);

  it("strips the leading space only right after BOS", () => {
    expect(text(tok.decode(BOS, id(" hello")))).toBe("hello");
    expect(text(tok.decode(id("hello"), id(" world")))).toBe(" world");
  });

  it("turns <0xXX> pieces into their raw byte", () => {
    expect(text(tok.decode(id("a"), byteId(0x0a)))).toBe("\n");
    expect(Array.from(tok.decode(id("a"), byteId(0xc3)))).toEqual([0xc3]);
  });

  it("rejects a token id outside the vocabulary", () => {
    expect(() => tok.decode(BOS, tok.vocabSize)).toThrow(expect.objectContaining({ code: "E_MODEL" }));
  });
});

describe("Tokenizer.decodeAll", () => {
  const samples = ["hello", "hello world!", " hello", "abc\nabc", "héllo wörld", "naïve café 🙂🙃", "日本語", "tabs\tand\r\nnewlines", "x"];

  for (const s of samples) {
    it(`round-trips ${JSON.stringify(s)}`, () => {
      expect(tok.decodeAll(tok.encode(s, { bos: true }))).toBe(s);
      expect(tok.decodeAll(tok.encode(s, { bos: true, eos: true }))).toBe(s);
    });
  }
});

describe("Utf8Stream", () => {
  it("holds back a character split across chunks until it is complete", () => {
    const stream = new Utf8Stream();
    const bytes = new TextEncoder().encode("a🙂b");
    const parts = Array.from(bytes, (b) => stream.write(Uint8Array.of(b)));
    expect(parts).toEqual(["a", "", "", "", "🙂", "b"]);
    expect(stream.end()).toBe("");
  });

  it("drops an unfinished character at the end, lone and invalid bytes, and control characters but not whitespace", () => {
    const stream = new Utf8Stream();
    expect(stream.write(Uint8Array.of(0xe6, 0x97))).toBe("");
    expect(stream.end()).toBe("");
    // a lone continuation byte, a lead byte cut short by ASCII, an overlong form, a surrogate, 0xFF
    expect(stream.write(Uint8Array.of(0x80, 0x41, 0xe2, 0x42, 0xc0, 0xaf, 0xed, 0xa0, 0x80, 0xff, 0x43))).toBe("ABC");
    // backspace, escape, DEL and a C1 control print nothing; tab, newline and carriage return do
    expect(stream.write(Uint8Array.of(0x08, 0x1b, 0x7f, 0xc2, 0x85, 0x09, 0x0a, 0x0d, 0x44))).toBe("\t\n\rD");
    expect(stream.end()).toBe("");
  });
});

describe("Tokenizer", () => {
  it("keys lookups on exact bytes, so a piece that is not valid UTF-8 still merges", () => {
    const pieces = ["<unk>", "<s>", "</s>", " ", "x", Uint8Array.of(0x20, 0xff), "x"];
    const t = readTokenizer(writeTokenizerBin(pieces, [0, 0, 0, 0, 0, 0, 0]), "raw.bin");
    expect(t).toBeInstanceOf(Tokenizer);
    expect(t.encode("x")).toEqual([3, 4]); // the duplicate "x" at id 6 loses to the first
    expect(Array.from(t.decode(0, 5))).toEqual([0x20, 0xff]);
  });
});

/** run.c's merge loop, written out plainly: scan every adjacent pair, merge the best (leftmost on ties). */
function runcMerges(t: Tokenizer, tokens: number[]): number[] {
  const key = (i: number) => Buffer.from(t.pieces[i]).toString("latin1");
  const ids = new Map<string, number>();
  t.pieces.forEach((_, i) => ids.has(key(i)) || ids.set(key(i), i));
  const out = [...tokens];
  for (;;) {
    let best = -1e10;
    let bestId = -1;
    let bestAt = -1;
    for (let i = 0; i + 1 < out.length; i++) {
      const id = ids.get(key(out[i]) + key(out[i + 1]));
      if (id !== undefined && t.scores[id] > best) [best, bestId, bestAt] = [t.scores[id], id, i];
    }
    if (bestAt < 0) return out;
    out.splice(bestAt, 2, bestId);
  }
}

describe("BPE merging (priority queue over adjacent pairs)", () => {
  // A vocabulary with many equal scores, so ties and re-keyed neighbours are exercised.
  const alphabet = [" ", "a", "b", "c"];
  const rnd = (() => {
    let s = 12345;
    return () => ((s = (s * 1103515245 + 12345) >>> 0) / 2 ** 32);
  })();
  const merges = new Set<string>();
  while (merges.size < 60) {
    const len = 2 + Math.floor(rnd() * 5);
    merges.add(Array.from({ length: len }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join(""));
  }
  const v = byteFallbackVocab([...alphabet, ...merges], [...alphabet.map(() => -1000), ...[...merges].map(() => -Math.floor(rnd() * 4))]);
  const tied = readTokenizer(writeTokenizerBin(v.pieces, v.scores), "tied.bin");

  it("gives run.c's ids on 400 random texts over a vocabulary full of equal scores", () => {
    for (let k = 0; k < 400; k++) {
      const text = Array.from({ length: 1 + Math.floor(rnd() * 40) }, () => alphabet[Math.floor(rnd() * alphabet.length)]).join("");
      const unmerged = [BOS, v.pieces.indexOf(" "), ...[...text].map((ch) => v.pieces.indexOf(ch))];
      expect(tied.encode(text, { bos: true }), JSON.stringify(text)).toEqual(runcMerges(tied, unmerged));
    }
  });

  it("does O(n log n) work: 32 KB of \"hello world \" reads the scores fewer than 64·n·log2(n) times", () => {
    let reads = 0;
    const counted = new Proxy(new Float32Array(vocab.scores), {
      get(target, prop) {
        if (typeof prop === "string" && /^\d+$/.test(prop)) reads++;
        const value = Reflect.get(target, prop, target);
        return typeof value === "function" ? value.bind(target) : value;
      },
    });
    const t = new Tokenizer(vocab.pieces.map((p) => new TextEncoder().encode(p)), counted, 6, "counted.bin");
    const text = "hello world ".repeat(2731);
    const ids = t.encode(text);
    expect(ids).toEqual([...Array.from({ length: 2731 }, () => [id(" hello"), id(" world")]).flat(), id(" ")]);
    const n = text.length + 1;
    // run.c's loop reads a score per matching pair per merge: about 10⁸ here.
    expect(reads).toBeLessThan(64 * n * Math.log2(n));
  });

  it("tells the fewest tokens a text can become, so over-long prompts are refused before encoding", () => {
    expect(tok.minTokens("", { bos: true })).toBe(1);
    for (const s of ["hello world", "a ".repeat(300), "ü".repeat(40)]) {
      expect(tok.minTokens(s, { bos: true })).toBeLessThanOrEqual(tok.encode(s, { bos: true }).length);
    }
    expect(tok.minTokens("a".repeat(599), { bos: true })).toBe(1 + 100); // 600 bytes with the prefix, 6 per token at most
  });
});
