import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { bytesToUnicode, GPT2_PATTERN, loadHfTokenizer, readHfTokenizer } from "../host/core/hf-tokenizer.ts";
import { Utf8Stream } from "../host/core/tokenizer.ts";
import { slimError } from "./helpers.ts";
import { metaspaceTokenizer } from "./fixtures/tokenizer-writer.ts";

const root = mkdtempSync(join(tmpdir(), "slimedge-hftok-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** GPT-2's byte symbols in encoder.json order: the printable bytes first, then the remapped ones. */
const BYTE_SYMBOLS = (() => {
  const table = bytesToUnicode();
  return [...table].sort((a, b) => a.codePointAt(0)! - b.codePointAt(0)!);
})();

/**
 * A tiny tokenizer.json in GPT-2's shape: ids 0..255 are the byte symbols, then one id per merge result,
 * then <|endoftext|> as an added special token.
 */
function tinyTokenizer(merges: string[], extra: Record<string, unknown> = {}, model: Record<string, unknown> = {}) {
  const vocab: Record<string, number> = {};
  BYTE_SYMBOLS.forEach((s, i) => (vocab[s] = i));
  for (const m of merges) vocab[m.replace(" ", "")] ??= Object.keys(vocab).length;
  const eot = Object.keys(vocab).length;
  const json = {
    version: "1.0",
    added_tokens: [{ id: eot, content: "<|endoftext|>", single_word: false, lstrip: false, rstrip: false, normalized: true, special: true }],
    normalizer: null,
    pre_tokenizer: { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: true },
    post_processor: { type: "ByteLevel", add_prefix_space: true, trim_offsets: false, use_regex: true },
    decoder: { type: "ByteLevel", add_prefix_space: true, trim_offsets: true, use_regex: true },
    model: { type: "BPE", dropout: null, unk_token: null, continuing_subword_prefix: "", end_of_word_suffix: "", fuse_unk: false, byte_fallback: false, vocab, merges, ...model },
    ...extra,
  };
  return { json, vocab, eot, tok: readHfTokenizer(JSON.stringify(json), "tokenizer.json") };
}

const MERGES = ["h e", "Ġ t", "Ġt he", "c a", "ca t", "Ġ cat", "l l", "e l", "a a", "aa aa"];
const { tok, vocab, eot } = tinyTokenizer(MERGES);
const id = (symbol: string) => {
  const v = vocab[symbol];
  if (v === undefined) throw new Error(`no ${symbol}`);
  return v;
};
const byte = (ch: string) => id(bytesToUnicode()[ch.charCodeAt(0)]);

describe("bytesToUnicode", () => {
  it("keeps printable bytes and moves the 68 others to U+0100 onwards, in byte order", () => {
    const t = bytesToUnicode();
    expect(t[0x41]).toBe("A");
    expect(t[0xe9]).toBe("é");
    expect(t[0x00]).toBe("\u0100"); // Ā
    expect(t[0x0a]).toBe("\u010a"); // Ċ: newline
    expect(t[0x20]).toBe("\u0120"); // Ġ: space
    expect(t[0x7f]).toBe("\u0121"); // ġ: the first remapped byte after the 33 controls and space
    expect(t[0xa0]).toBe("\u0142"); // ł
    expect(t[0xad]).toBe("\u0143"); // Ń: soft hyphen, the last one
    expect(new Set(t).size).toBe(256);
  });
});

describe("GPT2_PATTERN", () => {
  it("splits contractions, letter, number and other runs with one leading space, and whitespace", () => {
    expect("Hello  world's 123!!".match(GPT2_PATTERN)).toEqual(["Hello", " ", " world", "'s", " 123", "!!"]);
    expect("I'll go\n\n  now".match(GPT2_PATTERN)).toEqual(["I", "'ll", " go", "\n\n ", " now"]);
    expect("naïve café 東京 ٣٤".match(GPT2_PATTERN)).toEqual(["naïve", " café", " 東京", " ٣٤"]);
  });
});

describe("HfTokenizer.encode", () => {
  it("applies merges by rank (hand-checked)", () => {
    // "the": t h e -> (h e) rank 0 -> t he; no merge for (t, he)
    // " cat": Ġ c a t -> (c a) -> Ġ ca t -> (ca t) -> Ġ cat -> (Ġ cat) -> Ġcat
    expect(tok.encode("the cat")).toEqual([byte("t"), id("he"), id("Ġcat")]);
    // " the": (h e) rank 0 first, then (Ġ t) rank 1, then (Ġt he) rank 2
    expect(tok.encode(" the")).toEqual([id("Ġthe")]);
  });

  it("prefers the lower rank where merges compete, and merges repeated pairs left to right", () => {
    // "ell": (e l) rank 7 vs (l l) rank 6 -> e ll
    expect(tok.encode("ell")).toEqual([byte("e"), id("ll")]);
    const swapped = tinyTokenizer(["e l", "l l"]);
    expect(swapped.tok.encode("ell")).toEqual([swapped.vocab["el"], swapped.vocab["l"]]);
    expect(tok.encode("aaa")).toEqual([id("aa"), byte("a")]);
    expect(tok.encode("aaaa")).toEqual([id("aaaa")]);
    expect(tok.encode("aaaaa")).toEqual([id("aaaa"), byte("a")]);
  });

  it("maps non-ASCII text through its UTF-8 bytes", () => {
    expect(tok.encode("é")).toEqual([id("Ã"), id("©")]); // C3 A9
    expect(tok.encode("\n")).toEqual([id("Ċ")]);
  });

  it("cuts added tokens out before pre-tokenizing", () => {
    expect(tok.encode("he<|endoftext|> the")).toEqual([id("he"), eot, id("Ġthe")]);
    expect(tok.encode("<|endoftext|><|endoftext|>")).toEqual([eot, eot]);
  });

  it("honours add_prefix_space, NFC normalization, ignore_merges and merges written as pairs", () => {
    const prefixed = tinyTokenizer(MERGES, { pre_tokenizer: { type: "ByteLevel", add_prefix_space: true, use_regex: true } });
    expect(prefixed.tok.encode("the")).toEqual([prefixed.vocab["Ġthe"]]);
    const nfc = tinyTokenizer(MERGES, { normalizer: { type: "NFC" } });
    expect(nfc.tok.encode("e\u0301")).toEqual(nfc.tok.encode("é"));
    expect(tok.encode("e\u0301")).not.toEqual(tok.encode("é"));
    const pairs = tinyTokenizer(MERGES, {}, { merges: MERGES.map((m) => m.split(" ")) });
    expect(pairs.tok.encode("the cat")).toEqual(tok.encode("the cat"));
    const ignore = tinyTokenizer(["t h", "Ġ th", "Ġth e"], {}, { ignore_merges: true, vocab: { ...tinyTokenizer([]).vocab, "Ġthe": 300, th: 301, "Ġth": 302 } });
    expect(ignore.tok.encode(" the")).toEqual([300]);
  });
});

describe("one long word", () => {
  // 130,000 characters with no space is one pre-token: its ids were once spread into push() as arguments
  it("encodes a 130,000-character word, byte-level and Metaspace alike, without running out of stack", () => {
    const ids = tok.encode("a".repeat(130_000));
    expect(ids).toHaveLength(32_500);
    expect(ids.every((i) => i === id("aaaa"))).toBe(true);
    const llama = readHfTokenizer(JSON.stringify(metaspaceTokenizer({ merges: 20, style: "metaspace" }).json), "llama/tokenizer.json");
    const word = "e".repeat(130_000);
    const lids = llama.encode(word);
    expect(lids.length).toBeGreaterThan(0);
    expect(llama.decode(lids)).toBe(word);
  });
});

describe("HfTokenizer.decode", () => {
  const samples = [
    "",
    "The quick brown fox jumps over the lazy dog.",
    "naïve café, 東京タワー, emoji 👋🏽 and ZWJ 👨‍👩‍👧!",
    "tabs\tand\r\nnewlines\n\n   trailing spaces   ",
    "I'm, you're, they'll, we'd, it's; don't",
    "numbers 1234567890 and ٣٤٥ and ½",
    "<|endoftext|>text after<|endoftext|>",
    "\u0000\u0001\u007f control bytes",
    "\ufeffBOM first", // a leading U+FEFF is text, not a byte-order mark to drop
    "\ufeff",
  ];

  it("round-trips text exactly", () => {
    for (const s of samples) expect(tok.decode(tok.encode(s)), JSON.stringify(s)).toBe(s);
  });

  it("drops special tokens on request", () => {
    expect(tok.decode(tok.encode("a<|endoftext|>b"), { skipSpecial: true })).toBe("ab");
  });

  it("streams bytes split across tokens through a Utf8Stream", () => {
    const stream = new Utf8Stream();
    const pieces = tok.encode("é👋").map((t) => stream.write(tok.tokenBytes(t)));
    expect(pieces.filter((p) => p.length > 0)).toEqual(["é", "👋"]);
  });

  it("names a bad id", () => {
    expect(slimError(() => tok.decode([99999]), "E_MODEL").message).toBe(`token id 99999 is outside the ${eot + 1}-token vocabulary of tokenizer.json.`);
  });
});

describe("readHfTokenizer", () => {
  it("loads from disk", () => {
    const path = join(root, "tokenizer.json");
    writeFileSync(path, JSON.stringify(tinyTokenizer(MERGES).json));
    const t = loadHfTokenizer(path);
    expect(t.encode(" the")).toEqual([id("Ġthe")]);
    expect(t.vocabSize).toBe(eot + 1);
  });

  it("refuses broken files with E_FORMAT", () => {
    expect(slimError(() => readHfTokenizer("{", "t.json"), "E_FORMAT").message).toMatch(/^t\.json: not valid JSON/);
    expect(slimError(() => readHfTokenizer("{}", "t.json"), "E_FORMAT").message).toBe("t.json: field model is missing or not an object.");
    const base = tinyTokenizer(MERGES).json;
    const bad = (edit: (j: any) => void) => {
      const j = structuredClone(base);
      edit(j);
      return () => readHfTokenizer(JSON.stringify(j), "t.json");
    };
    expect(slimError(bad((j) => (j.model.merges[3] = "ca")), "E_FORMAT").message).toBe('t.json: model.merges[3] is "ca", expected "a b" or ["a", "b"].');
    expect(slimError(bad((j) => (j.model.vocab.he = 0)), "E_FORMAT").message).toBe("t.json: model.vocab gives id 0 to more than one token.");
    expect(slimError(bad((j) => (j.model.unk_token = "<unk>")), "E_FORMAT").message).toMatch(/model\.unk_token is "<unk>", which is not in the vocabulary/);
  });

  it("refuses what it does not implement with E_MODEL", () => {
    const base = tinyTokenizer(MERGES).json;
    const other = (patch: Record<string, unknown>) => () => readHfTokenizer(JSON.stringify({ ...base, ...patch }), "t.json");
    expect(slimError(other({ model: { ...base.model, type: "WordPiece" } }), "E_MODEL").message).toBe('t.json: field model.type is "WordPiece", but only BPE tokenizers are read.');
    expect(slimError(other({ pre_tokenizer: { type: "Whitespace" } }), "E_MODEL").message).toMatch(/pre_tokenizer\.type is "Whitespace", but only ByteLevel \(GPT-2, GPT-NeoX\), Metaspace \(Llama\), or a Sequence of Split and Digits steps ending in ByteLevel/);
    const split = (extra: Record<string, unknown> = {}) => ({ type: "Split", pattern: { Regex: "\\s+" }, behavior: "Isolated", invert: false, ...extra });
    const bl = { type: "ByteLevel", add_prefix_space: false, use_regex: false };
    expect(slimError(other({ pre_tokenizer: split() }), "E_MODEL").message).toMatch(/field pre_tokenizer\.type is "Split", but only ByteLevel/);
    expect(slimError(other({ pre_tokenizer: { type: "Sequence", pretokenizers: [split(), { type: "Digits" }] } }), "E_MODEL").message).toMatch(/pre_tokenizer\.pretokenizers does not end in ByteLevel/);
    expect(slimError(other({ pre_tokenizer: { type: "Sequence", pretokenizers: [bl, split()] } }), "E_MODEL").message).toMatch(/pretokenizers\[0\] is ByteLevel but not the last step/);
    expect(slimError(other({ pre_tokenizer: { type: "Sequence", pretokenizers: [split({ behavior: "MergedWithPrevious" }), bl] } }), "E_MODEL").message).toBe('t.json: field pre_tokenizer.pretokenizers[0].behavior is "MergedWithPrevious", but only "Isolated" and "Removed" are implemented.');
    expect(slimError(other({ pre_tokenizer: { type: "Sequence", pretokenizers: [split({ invert: true }), bl] } }), "E_MODEL").message).toMatch(/pretokenizers\[0\]\.invert is true/);
    expect(slimError(other({ pre_tokenizer: { type: "Sequence", pretokenizers: [split({ pattern: { Regex: "^\\s+" } }), bl] } }), "E_MODEL").message).toBe('t.json: field pre_tokenizer.pretokenizers[0].pattern.Regex "^\\\\s+" is not implemented: the anchor ^ at 0 is not translated.');
    expect(slimError(other({ normalizer: { type: "Lowercase" } }), "E_MODEL").message).toMatch(/normalizer\.type is "Lowercase"/);
    expect(slimError(other({ model: { ...base.model, end_of_word_suffix: "</w>" } }), "E_MODEL").message).toMatch(/model\.end_of_word_suffix is "<\/w>", but only BPE without word markers is implemented/);
  });

  it("fails to encode a symbol missing from a vocabulary without unk_token", () => {
    const { json } = tinyTokenizer(MERGES);
    delete (json.model.vocab as Record<string, number>)["z"];
    const t = readHfTokenizer(JSON.stringify(json), "t.json");
    expect(slimError(() => t.encode("zz"), "E_MODEL").message).toBe('t.json has no vocabulary entry for the symbol "z" of "zz", and no unk_token.');
  });
});
