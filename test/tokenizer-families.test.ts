// The tokenizers of the families people download (GPT-2, Phi-2, GPT-NeoX/Pythia, SmolLM/SmolLM2, Qwen2/2.5,
// Llama 3.x), each as a tokenizer.json with the family's own normalizer, pre-tokenizer and special tokens
// (test/fixtures/family-tokenizers.ts), held to @huggingface/tokenizers id for id on the shared list of hard
// prompts; and the same vocabularies as GGUF files naming their tokenizer.ggml.pre.
import { Tokenizer as HfOracle } from "@huggingface/tokenizers";
import { describe, expect, it } from "vitest";
import { preSplit, readHfTokenizer, translateOnigRegex, LLAMA3_SPLIT, QWEN2_SPLIT } from "../host/core/hf-tokenizer.ts";
import { readTextTokenizer } from "../host/core/tokenizers.ts";
import { ggufTokenizerBundle, readGguf } from "../tools/convert/gguf.ts";
import { commandTokenizerBytes } from "../tools/package/command-tokenizer.ts";
import { HARD_PROMPTS, PROMPT_CATEGORIES, familyGgufKv, familyTokenizer, type FamilyName } from "./fixtures/family-tokenizers.ts";
import { GT, writeGguf } from "./fixtures/gguf-writer.ts";
import { slimError } from "./helpers.ts";

const FAMILIES: FamilyName[] = ["gpt2", "phi2", "neox", "smollm", "qwen2", "llama3"];
const oracleOf = (json: object) => new HfOracle(json as never, {});

/**
 * @huggingface/tokenizers' Digits matches JavaScript's \d (ASCII 0-9), where the Rust library that
 * transformers runs splits at char::is_numeric (every \p{N}: "٣", "½", "²"). The host follows Rust; the
 * oracle is held to the same rule by giving it the equivalent Split step (\p{N}, Isolated) instead.
 */
function rustDigits(json: Record<string, any>): Record<string, any> {
  const pre = json.pre_tokenizer;
  if (pre?.type !== "Sequence") return json;
  const pretokenizers = pre.pretokenizers.map((s: any) =>
    s.type === "Digits" ? { type: "Split", pattern: { Regex: s.individual_digits ? "\\p{N}" : "\\p{N}+" }, behavior: "Isolated", invert: false } : s,
  );
  return { ...json, pre_tokenizer: { ...pre, pretokenizers } };
}

describe("the shared prompt list", () => {
  it(`has ${HARD_PROMPTS.length} prompts (>= 200) over ${PROMPT_CATEGORIES.join(", ")}`, () => {
    expect(HARD_PROMPTS.length).toBeGreaterThanOrEqual(200);
    expect(new Set(HARD_PROMPTS).size).toBe(HARD_PROMPTS.length);
    const has = (re: RegExp) => HARD_PROMPTS.filter((p) => re.test(p)).length;
    expect(has(/\p{Extended_Pictographic}/u)).toBeGreaterThanOrEqual(15); // emoji
    expect(has(/[\p{sc=Han}\p{sc=Hiragana}\p{sc=Katakana}\p{sc=Hangul}]/u)).toBeGreaterThanOrEqual(15); // CJK
    expect(has(/\p{M}/u)).toBeGreaterThanOrEqual(15); // combining marks
    expect(has(/[\p{sc=Arabic}\p{sc=Hebrew}]/u)).toBeGreaterThanOrEqual(8); // right to left
    expect(has(/\p{N}/u)).toBeGreaterThanOrEqual(30);
    expect(has(/\s\s|\t|\n/u)).toBeGreaterThanOrEqual(25);
  });
});

describe.each(FAMILIES)("the %s tokenizer.json", (family) => {
  const fam = familyTokenizer(family);
  const host = readHfTokenizer(JSON.stringify(fam.json), `${family}/tokenizer.json`);
  const oracle = oracleOf(fam.json);

  it("gives @huggingface/tokenizers' ids on every prompt of the list (Digits at Rust's \\p{N}, see rustDigits)", () => {
    const ruled = oracleOf(rustDigits(fam.json));
    const wrong: string[] = [];
    for (const p of HARD_PROMPTS) {
      const want = ruled.encode(p).ids;
      const got = host.encode(p);
      if (JSON.stringify(got) !== JSON.stringify(want)) wrong.push(`${JSON.stringify(p)}: ${got.join(",")} != ${want.join(",")}`);
    }
    expect(wrong).toEqual([]);
  });

  it("and its own Digits rule everywhere but non-ASCII numerals", () => {
    const differ = HARD_PROMPTS.filter((p) => JSON.stringify(host.encode(p)) !== JSON.stringify(oracle.encode(p).ids));
    if (family !== "smollm") expect(differ).toEqual([]);
    else for (const p of differ) expect(p, "only where JavaScript's \\d and Rust's is_numeric disagree").toMatch(/[^\P{N}0-9]/u);
  });

  it("decodes every prompt's ids to the oracle's text, which is the prompt (after NFC where the family normalizes)", () => {
    const nfc = family === "neox" || family === "qwen2";
    for (const p of HARD_PROMPTS) {
      const ids = host.encode(p);
      expect(host.decode(ids), JSON.stringify(p)).toBe(oracle.decode(ids, { skip_special_tokens: false, clean_up_tokenization_spaces: false }));
      expect(host.decode(ids)).toBe(nfc ? p.normalize("NFC") : p);
    }
  });

  it("merges a single word of 200,000 characters (no spread of its ids onto the call stack)", () => {
    const word = "ab".repeat(100_000);
    const ids = host.encode(word);
    expect(host.decode(ids)).toBe(word);
  });
});

describe("Split patterns in Oniguruma syntax", () => {
  it("translate (?i:…) to ASCII case classes and \\s to White_Space (U+0085 yes, U+FEFF no, as Oniguruma)", () => {
    for (const source of [QWEN2_SPLIT, LLAMA3_SPLIT]) {
      const re = translateOnigRegex(source) as RegExp;
      expect(re).toBeInstanceOf(RegExp);
      expect("I'M HERE'LL".match(re)).toEqual(["I", "'M", " HERE", "'LL"]);
    }
    const ws = translateOnigRegex("\\s+") as RegExp;
    expect("a\u0085b".match(ws)).toEqual(["\u0085"]);
    expect("a\ufeffb".match(ws)).toBeNull();
    expect(preSplit("12345 abc", [{ type: "split", source: LLAMA3_SPLIT, literal: false, regex: translateOnigRegex(LLAMA3_SPLIT) as RegExp, behavior: "Isolated" }])).toEqual(["123", "45", " abc"]);
    expect(preSplit("12345 abc", [{ type: "split", source: QWEN2_SPLIT, literal: false, regex: translateOnigRegex(QWEN2_SPLIT) as RegExp, behavior: "Isolated" }])).toEqual(["1", "2", "3", "4", "5", " abc"]);
  });

  it("refuse what they cannot translate, saying what", () => {
    expect(translateOnigRegex("(?i)abc")).toBe('the group "(?i)" at 0 is not translated');
    expect(translateOnigRegex("a$")).toBe("the anchor $ at 1 is not translated");
    expect(translateOnigRegex("\\bword")).toBe("the escape \\b is not translated");
    expect(translateOnigRegex("[[a]]")).toBe("it nests a character class");
    expect(translateOnigRegex("(?>a)")).toBe('the group "(?>a" at 0 is not translated');
  });

  it("Digits splits at every numeric character, as Rust's char::is_numeric (\\p{N})", () => {
    expect(preSplit("a12½٣x²", [{ type: "digits", individual: true }])).toEqual(["a", "1", "2", "½", "٣", "x", "²"]);
    expect(preSplit("a12½٣x²", [{ type: "digits", individual: false }])).toEqual(["a", "12½٣", "x", "²"]);
  });
});

/** The family's vocabulary as a GGUF "gpt2" tokenizer with `pre` as tokenizer.ggml.pre. */
function ggufOf(family: FamilyName, pre: string | undefined): Uint8Array {
  return writeGguf([{ key: "general.architecture", v: { type: GT.STRING, value: "llama" } }, ...familyGgufKv(family, pre)], []);
}

describe("GGUF vocabularies by tokenizer.ggml.pre", () => {
  const cases: [FamilyName, string | undefined][] = [["gpt2", undefined], ["gpt2", "gpt-2"], ["phi2", "gpt-2"], ["phi2", "phi-2"], ["smollm", "smollm"], ["qwen2", "qwen2"], ["llama3", "llama-bpe"]];
  it.each(cases)("%s as pre %j gives the ids of the tokenizer.json it came from on every prompt", (family, pre) => {
    const file = readGguf(ggufOf(family, pre), `${family}.gguf`);
    const tok = readTextTokenizer("bundle", ggufTokenizerBundle(file)!, `${family}.gguf`);
    const oracle = oracleOf(rustDigits(familyTokenizer(family).json));
    for (const p of HARD_PROMPTS) expect(tok.encode(p), JSON.stringify(p)).toEqual(oracle.encode(p).ids);
  });

  it("refuses another pre-tokenizer in one line naming the ones read", () => {
    const e = slimError(() => ggufTokenizerBundle(readGguf(ggufOf("gpt2", "deepseek-llm"), "d.gguf")), "E_MODEL");
    expect(e.message).toBe('d.gguf: metadata key tokenizer.ggml.pre is "deepseek-llm", but only "gpt-2", "phi-2", "mpt", "olmo", "smollm", "starcoder", "refact", "qwen2", "llama-bpe" are implemented.');
  });
});

describe("the standalone command and these families", () => {
  const load = (family: FamilyName, edit: (json: Record<string, any>) => void = () => {}) => {
    const fam = familyTokenizer(family);
    edit(fam.json);
    return { fam, tok: readTextTokenizer("hf-json", new TextEncoder().encode(JSON.stringify(fam.json)), `${family}/tokenizer.json`) };
  };

  it("carries SmolLM's Digits step (flag 64) with the \\p{L}, \\p{N}, \\s tables in its tokenizer bytes", () => {
    const flagsOf = (family: FamilyName) => {
      const { fam, tok } = load(family);
      return flagsIn(commandTokenizerBytes(tok, fam.vocabSize), fam.vocabSize);
    };
    const flagsIn = (bytes: Uint8Array, vocabSize: number) => {
      const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
      let at = 4;
      for (let id = 0; id < vocabSize; id++) at += 8 + view.getInt32(at + 4, true);
      expect(view.getUint32(at, true)).toBe(0x584b5453); // "STKX"
      expect(view.getUint32(bytes.length - 4, true)).toBe(0x454b5453); // "STKE" closes the extension
      return view.getUint32(at + 8, true);
    };
    expect(flagsOf("smollm") & 64).toBe(64);
    expect(flagsOf("gpt2") & 64).toBe(0);
    // Qwen2's Split matcher (128) and NFC (512), Llama 3's matcher (256), NeoX's NFC before GPT-2's regex (4)
    expect(flagsOf("qwen2") & (4 | 128 | 256 | 512)).toBe(128 | 512);
    expect(flagsOf("llama3") & (4 | 128 | 256 | 512)).toBe(256);
    expect(flagsOf("neox") & (4 | 128 | 256 | 512)).toBe(4 | 512);
    // GGUF vocabularies with pre qwen2 and llama-bpe carry the same steps as their tokenizer.json
    for (const [family, pre] of [["qwen2", "qwen2"], ["llama3", "llama-bpe"]] as const) {
      const { fam } = load(family);
      const gguf = readTextTokenizer("bundle", ggufTokenizerBundle(readGguf(ggufOf(family, pre), `${family}.gguf`))!, `${family}.gguf`);
      expect(flagsIn(commandTokenizerBytes(gguf, fam.vocabSize), fam.vocabSize) & ~1, pre).toBe(flagsOf(family) & ~1); // bos aside
    }
  });

  it("refuses, in one line that says what is missing and how large it would be, the pre-tokenizers and normal forms it does not carry", () => {
    const runs = (json: Record<string, any>) => (json.pre_tokenizer.pretokenizers[0].individual_digits = false);
    const nfkc = (json: Record<string, any>) => (json.normalizer = { type: "NFKC" });
    const digitsThenSplit = (json: Record<string, any>) => json.pre_tokenizer.pretokenizers.unshift({ type: "Digits", individual_digits: true });
    for (const [family, edit, re] of [
      ["smollm", runs, /cannot embed this tokenizer in the standalone command: its Digits \(individual_digits: false\) step is not one the standalone command carries \(it has matchers for Qwen2's and Llama 3's Split patterns alone, Isolated, before a ByteLevel without its regex, and SmolLM's single Digits step\)\.$/],
      ["llama3", digitsThenSplit, /its sequence of Digits \(individual_digits: true\), Split "\(\?i:'s.*" steps is not one the standalone command carries \(/],
      ["neox", nfkc, /its NFKC normalizer is not implemented in the standalone command \(only NFC is; it would carry Unicode's compatibility decompositions: \d+ characters, \d+ bytes, plus the combining classes and the composition pairs; Hangul by rule\)\.$/],
    ] as const) {
      const { fam, tok } = load(family, edit);
      const e = slimError(() => commandTokenizerBytes(tok, fam.vocabSize), "E_MODEL");
      expect(e.message.split("\n")).toHaveLength(1);
      expect(e.message).toMatch(re);
    }
  });
});
