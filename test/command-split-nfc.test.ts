// The standalone command's Split matchers (Qwen2's and Llama 3's patterns) and its Unicode normal form C
// (GPT-NeoX/Pythia, Qwen2), held to the host tokenizer id for id — the host being held to
// @huggingface/tokenizers on the same prompts by test/tokenizer-families.test.ts: the shared prompt list
// (every fourth prompt in CI, all with SLIMEDGE_ALL_PROMPTS=1), every character NFC changes and every
// composite in decomposed form, random runs of combining marks and Hangul jamo, and 100,000-character inputs
// of long whitespace and letter runs (a backtracking matcher would take minutes; no time is asserted). Also
// the sizes of the tables the command carries, counted in the plan and its memory map, and the refusals.
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Tokenizer as HfOracle } from "@huggingface/tokenizers";
import { afterAll, describe, expect, it } from "vitest";
import { COMMAND_MERGE_SLOT_BYTES, formatMemoryMap, planArena } from "../host/core/plan.ts";
import type { ModelConfig } from "../host/core/model.ts";
import { mulberry32, syntheticModel } from "../host/core/synthetic.ts";
import { LLAMA3_SPLIT, QWEN2_SPLIT, bytesToUnicode } from "../host/core/hf-tokenizer.ts";
import { readTextTokenizer, type TextTokenizer } from "../host/core/tokenizers.ts";
import { lowerModel } from "../tools/convert/lower.ts";
import { buildCommand } from "../tools/package/command.ts";
import { commandTokenizerBytes } from "../tools/package/command-tokenizer.ts";
import { nfcTables } from "../tools/package/nfc-tables.ts";
import { RUNNER_PATH } from "../host/ship/deploy/release.ts";
import { HARD_PROMPTS, familyTokenizer, type FamilyName } from "./fixtures/family-tokenizers.ts";
import { slimError } from "./helpers.ts";
import { getBoard } from "../boards/index.ts";
import { overBudget } from "../tools/package/fit.ts";

const root = mkdtempSync(join(tmpdir(), "slimedge-split-nfc-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));
const CTX = 4096;
const LONG_CTX = 20_000; // 100,000 argument bytes need 8 per context token, and merge tables of 21 bytes per byte
const ALL = process.env.SLIMEDGE_ALL_PROMPTS === "1";

/**
 * The family's tokenizer.json with merges that double runs of `units` (byte-level symbols) up to 2^16, so a
 * 100,000-character run of them is a few tokens and the prefill after --ids stays short; then a merge for
 * every pair of bytes, so every piece becomes pairs of bytes and the ids show where the pre-tokenizer cut
 * (with the trained merges alone, most wrong cuts give the same ids).
 */
function withRuns(json: Record<string, any>, units: string[][]): Record<string, any> {
  const vocab: Record<string, number> = { ...json.model.vocab };
  let next = Math.max(...Object.values(vocab), ...json.added_tokens.map((t: any) => t.id)) + 1;
  const merges: [string, string][] = [...json.model.merges];
  const have = new Set(merges.map(([a, b]) => `${a} ${b}`));
  const add = (a: string, b: string) => {
    if (vocab[a + b] === undefined) vocab[a + b] = next++;
    if (!have.has(`${a} ${b}`)) merges.push([a, b]), have.add(`${a} ${b}`);
  };
  for (const symbols of units) {
    let unit = symbols[0];
    for (const s of symbols.slice(1)) add(unit, s), (unit += s);
    for (let k = 0; k < 16; k++) add(unit, unit), (unit += unit);
  }
  const symbols = bytesToUnicode();
  for (const a of symbols) for (const b of symbols) add(a, b);
  return { ...json, model: { ...json.model, vocab, merges } };
}

const jsons = new Map<FamilyName, Record<string, any>>();
const testJson = (family: FamilyName) => jsons.get(family) ?? jsons.set(family, withRuns(familyTokenizer(family).json, [["Ġ"], ["ĉ"], ["a", "b"]])).get(family)!;
const hfBytes = (json: object) => new TextEncoder().encode(JSON.stringify(json));

interface Built {
  tok: TextTokenizer;
  tokBytes: Uint8Array;
  wasm: string;
  ctx: number;
}
const built = new Map<string, Built>();

/** A 1-layer model of the family's vocabulary with the command built around it (once per family and ctx). */
function commandFor(family: FamilyName, ctx = CTX): Built {
  const have = built.get(`${family}/${ctx}`);
  if (have) return have;
  const json = testJson(family);
  const tok = readTextTokenizer("hf-json", hfBytes(json), `${family}/tokenizer.json`);
  const config: ModelConfig = { arch: "llama", dim: 16, hiddenDim: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, vocabSize: tok.vocabSize, seqLen: ctx, normEps: 1e-5, ropeTheta: 10000, sharedClassifier: true };
  const low = lowerModel(syntheticModel(config, 3), { modes: ["vanilla"], wkv: [null] }, { weights: "f32" });
  const tokBytes = commandTokenizerBytes(tok, config.vocabSize);
  const wasm = join(root, `${family}-${ctx}.cmd.wasm`);
  writeFileSync(wasm, buildCommand(low, tokBytes, planArena(config, ctx, ["vanilla"], { tokenizerBytes: tokBytes.length }), { build: "simd" }));
  const b = { tok, tokBytes, wasm, ctx };
  built.set(`${family}/${ctx}`, b);
  return b;
}

function ids(wasm: string, prompt: string) {
  const r = spawnSync(process.execPath, ["--no-warnings", RUNNER_PATH, wasm, "-n", "0", "--ids", "--", prompt], { timeout: 300_000, maxBuffer: 64 << 20 });
  const stderr = r.stderr.toString("utf8");
  return { code: r.status, stderr, line: stderr.split("\n")[0] };
}

function expectHostIds(b: Built, prompt: string, what: string): number {
  const want = b.tok.prompt(prompt);
  expect(want.length, what).toBeLessThan(b.ctx);
  const r = ids(b.wasm, prompt);
  expect(r.code, r.stderr.slice(0, 400)).toBe(0);
  expect(r.line, what).toBe(`prompt ids: ${want.join(" ")}`);
  return want.length;
}

describe.each(["qwen2", "llama3", "neox"] as const)("the %s tokenizer in the standalone command", (family) => {
  it("gives the host's --ids on the shared prompt list", () => {
    const b = commandFor(family);
    const prompts = ALL ? HARD_PROMPTS : HARD_PROMPTS.filter((_, k) => k % 4 === 0);
    console.log(`  ${family}: --ids on ${prompts.length} of ${HARD_PROMPTS.length} prompts`);
    for (const p of prompts) expectHostIds(b, p, JSON.stringify(p));
  }, 900_000);

  it("gives the host's ids, and the host @huggingface/tokenizers', on random mixtures of what the patterns tell apart", () => {
    const b = commandFor(family);
    const oracle = new HfOracle(testJson(family) as never, {});
    const rand = mulberry32(family.length * 7919);
    // letters (cased, CJK, modifier), numbers (ASCII, Arabic-Indic, fractions, Roman, superscripts), blanks
    // (line breaks alone and in runs, U+0085 and U+3000 White_Space, U+FEFF and U+200B not), the
    // contractions in both cases, punctuation, emoji, combining marks (NFC), added tokens
    const parts = [
      ..."aZéßx東ア한αЖـ", ..."19٣½Ⅻ²", " ", "  ", "   ", "\t", "\n", "\r", "\r\n", "\n\n", " \n", "\u0085", "\u00a0", "\u3000", "\u2028", "\ufeff", "\u200b",
      "'", "'s", "'S", "'re", "'RE", "'Ve", "'ll", "'LL", "'d", "'M", "'t", "'x", ..."!?.,-_()\"#", "🙂", "👋🏽", "\u0301", "\u0308", "\u0323", "e\u0301", "\u1100\u1161", "\u200d", "<|endoftext|>",
    ];
    for (let k = 0; k < 6; k++) {
      const p = Array.from({ length: 900 }, () => parts[Math.floor(rand() * parts.length)]).join("");
      expect(b.tok.prompt(p), `host = library, mixture ${k}`).toEqual(oracle.encode(p).ids);
      expectHostIds(b, p, `mixture ${k}`);
    }
  }, 300_000);

  it("gives the host's ids for 100,000 characters of long whitespace and letter runs (a linear-time matcher)", () => {
    const b = commandFor(family, LONG_CTX);
    const long = " ".repeat(30_000) + "\n" + "\t".repeat(19_999) + "x" + "ab".repeat(24_999) + "a";
    const blank = " ".repeat(60_000) + "\n" + " ".repeat(39_999);
    for (const [what, p] of [["runs", long], ["blank lines", blank]] as const) {
      expect([...p].length).toBe(100_000);
      const n = expectHostIds(b, p, what);
      console.log(`  ${family}: ${what}, 100,000 characters, ${n} ids`);
    }
  }, 600_000);
});

describe("normal form C in the standalone command (Qwen2's tokenizer: NFC, then its Split pattern)", () => {
  const t = nfcTables();
  /** Prompts of at most ~2,500 UTF-8 bytes from the characters, cut at character boundaries. */
  const chunks = (chars: string[], sep = "") => {
    const out: string[] = [];
    let cur = "";
    for (const ch of chars) {
      if (Buffer.byteLength(cur + ch) > 2500) out.push(cur), (cur = "");
      cur += (cur ? sep : "") + ch;
    }
    return cur ? [...out, cur] : out;
  };

  it("gives the host's ids for every character NFC changes, alone and run together, and every composite decomposed", () => {
    const b = commandFor("qwen2");
    const changed = t.decompositions.map(([c]) => String.fromCodePoint(c));
    const decomposed = t.compositions.map(([, , x]) => String.fromCodePoint(x).normalize("NFD"));
    const prompts = [...chunks(changed, " "), ...chunks(changed), ...chunks(decomposed, " ")];
    // the test can fail: most of these prompts are not in NFC
    expect(prompts.filter((p) => p.normalize("NFC") !== p).length).toBe(prompts.length);
    for (const p of prompts) expectHostIds(b, p, `${[...p].length} characters from U+${p.codePointAt(0)!.toString(16)}`);
  }, 600_000);

  it("gives the host's ids for random runs of combining marks (reordering, blocking) and Hangul jamo", () => {
    const b = commandFor("qwen2");
    const rand = mulberry32(11);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rand() * xs.length)];
    const marks = t.ranks.flatMap(([lo, hi]) => Array.from({ length: Math.min(hi - lo + 1, 4) }, (_, k) => String.fromCodePoint(lo + k)));
    const bases = [..."aeiouAEIOUnsczgkhwyαεηιουωАЕИОУ", "\u0627", "\u05d0", "\u0915", "\u1100", ...t.compositions.slice(0, 200).map(([a]) => String.fromCodePoint(a))];
    const words: string[] = [];
    for (let i = 0; i < 600; i++) {
      let w = pick(bases);
      const n = Math.floor(rand() * 5);
      for (let k = 0; k < n; k++) w += rand() < 0.7 ? pick(marks) : String.fromCodePoint(...t.compositions[Math.floor(rand() * t.compositions.length)].slice(1, 2));
      words.push(w);
    }
    const jamo = Array.from({ length: 800 }, () => {
      const l = 0x1100 + Math.floor(rand() * 19);
      const v = 0x1161 + Math.floor(rand() * 21);
      const tail = rand() < 0.5 ? [0x11a8 + Math.floor(rand() * 27)] : [];
      return rand() < 0.1 ? String.fromCodePoint(0xac00 + Math.floor(rand() * 11172), 0x11a8) : String.fromCodePoint(l, v, ...tail);
    });
    // a mark of lower class after one of higher class, three times over, as one word of 6,000 marks: the
    // long-run sort
    const zalgo = "a" + "\u0301\u0316\u0334".repeat(800);
    const prompts = [...chunks(words, " "), ...chunks(words), ...chunks(jamo), ...chunks(jamo, " "), zalgo];
    expect(prompts.filter((p) => p.normalize("NFC") !== p).length).toBe(prompts.length);
    for (const p of prompts) expectHostIds(b, p, JSON.stringify(p.slice(0, 40)));
  }, 600_000);
});

describe("the tables the command carries", () => {
  const qwen = readTextTokenizer("hf-json", hfBytes(familyTokenizer("qwen2").json), "qwen2/tokenizer.json");
  const vocab = qwen.vocabSize;

  it(`NFC: decompositions, combining class ranks and compositions from String.prototype.normalize, sized exactly`, () => {
    const t = nfcTables();
    const pool = t.decompositions.reduce((n, [, d]) => n + d.length, 0);
    expect(t.bytes.length).toBe(16 + 8 * t.decompositions.length + 4 * pool + 8 * t.ranks.length + 12 * t.compositions.length);
    console.log(`  NFC tables: ${t.decompositions.length} decompositions (${pool} code points), ${t.ranks.length} class ranges (${Math.max(...t.ranks.map((r) => r[2]))} classes), ${t.compositions.length} compositions: ${t.bytes.length} bytes`);
    // spot checks against Unicode's data: é = e + U+0301; U+0344 is a non-starter decomposition (never
    // composed); U+0958 is excluded from composition; U+0316 (class 220) sorts before U+0301 (230), U+0334
    // (class 1) first
    const dec = new Map(t.decompositions);
    expect(dec.get(0xe9)).toEqual([0x65, 0x301]);
    expect(t.compositions).toContainEqual([0x65, 0x301, 0xe9]);
    expect(t.compositions.some(([, , x]) => x === 0x344 || x === 0x958)).toBe(false);
    const rank = (c: number) => t.ranks.find(([lo, hi]) => c >= lo && c <= hi)?.[2] ?? 0;
    expect(rank(0x334)).toBe(1);
    expect(rank(0x316)).toBeLessThan(rank(0x301));
    expect(rank(0x301)).toBe(rank(0x300));
    expect(rank(0x41)).toBe(0);
  });

  it("the plan's tokenizer region grows by exactly the NFC table bytes, and its memory map shows it", () => {
    const json = familyTokenizer("qwen2").json;
    const plain = readTextTokenizer("hf-json", hfBytes({ ...json, normalizer: null }), "qwen2 without NFC");
    const withNfc = commandTokenizerBytes(qwen, vocab);
    const without = commandTokenizerBytes(plain, vocab);
    expect(withNfc.length - without.length).toBe(nfcTables().bytes.length - 16);
    const config: ModelConfig = { arch: "llama", dim: 16, hiddenDim: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, vocabSize: vocab, seqLen: 64, normEps: 1e-5, ropeTheta: 10000, sharedClassifier: true };
    const a = planArena(config, 64, ["vanilla"], { tokenizerBytes: withNfc.length });
    const b = planArena(config, 64, ["vanilla"], { tokenizerBytes: without.length });
    expect(a.command!.tokenizerBytes - b.command!.tokenizerBytes).toBe(nfcTables().bytes.length - 16);
    expect(a.totalBytes - b.totalBytes).toBeGreaterThanOrEqual(nfcTables().bytes.length - 16);
    expect(a.totalBytes - b.totalBytes).toBeLessThan(nfcTables().bytes.length - 16 + 64); // the region's alignment
    const region = (p: typeof a) => p.regions.find((r) => r.name === "tokenizer")!;
    expect(region(a).size - region(b).size).toBe(a.totalBytes - b.totalBytes);
    const line = formatMemoryMap(a).split("\n").find((l) => /tokenizer/.test(l));
    console.log(`  memory map: ${line?.trim()}`);
    expect(line).toBeDefined();
    console.log(`  qwen2 command tokenizer: ${withNfc.length} bytes with NFC, ${without.length} without`);
  });

  it("a board whose memory holds the command without the NFC tables but not with them is refused with the numbers", () => {
    const json = familyTokenizer("qwen2").json;
    const plain = readTextTokenizer("hf-json", hfBytes({ ...json, normalizer: null }), "qwen2 without NFC");
    const withNfc = commandTokenizerBytes(qwen, vocab).length;
    const without = commandTokenizerBytes(plain, vocab).length;
    const config: ModelConfig = { arch: "llama", dim: 16, hiddenDim: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, vocabSize: vocab, seqLen: 4096, normEps: 1e-5, ropeTheta: 10000, sharedClassifier: true };
    // a context where the 45 KB of tables cross a 64 KiB page boundary
    let ctx = 64;
    while (planArena(config, ctx, ["vanilla"], { tokenizerBytes: withNfc }).pages === planArena(config, ctx, ["vanilla"], { tokenizerBytes: without }).pages) ctx++;
    const small = planArena(config, ctx, ["vanilla"], { tokenizerBytes: without });
    const board = { ...getBoard("rpi-4"), name: "test-board", linearMemoryBytes: small.pages * 65536 };
    expect(overBudget(small, board)).toBeNull();
    const e = overBudget(planArena(config, ctx, ["vanilla"], { tokenizerBytes: withNfc }), board)!;
    expect(e.code).toBe("E_FIT");
    expect(e.message.split("\n")).toHaveLength(1);
    expect(e.message).toMatch(/^does not fit test-board: ctx \d+ .* needs \d+ bytes = \d+ pages .*tokenizer 66\.\d KiB.* of \d+ bytes/);
  });

  it("Split: \\p{L}, \\p{N} and White_Space (Oniguruma's \\s: U+0085 yes, U+FEFF no)", () => {
    const llama = readTextTokenizer("hf-json", hfBytes(familyTokenizer("llama3").json), "llama3/tokenizer.json");
    const gpt2 = readTextTokenizer("hf-json", hfBytes(familyTokenizer("gpt2").json), "gpt2/tokenizer.json");
    const split = commandTokenizerBytes(llama, llama.vocabSize);
    expect(split.length).toBeGreaterThan(0);
    // the same vocabulary size, so the difference is the tables: White_Space is not JavaScript's \s
    expect(Buffer.from(split).includes(Buffer.from([0x85, 0, 0, 0, 0x85, 0, 0, 0]))).toBe(true);
    expect(Buffer.from(commandTokenizerBytes(gpt2, gpt2.vocabSize)).includes(Buffer.from([0x85, 0, 0, 0, 0x85, 0, 0, 0]))).toBe(false);
  });
});

describe("refusals", () => {
  const variant = (pattern: string, extra: Record<string, unknown> = {}) => {
    const json = familyTokenizer("llama3").json;
    const pre = { type: "Sequence", pretokenizers: [{ type: "Split", pattern: { Regex: pattern }, behavior: "Isolated", invert: false }, { type: "ByteLevel", add_prefix_space: false, trim_offsets: true, use_regex: false }] };
    return readTextTokenizer("hf-json", hfBytes({ ...json, pre_tokenizer: pre, ...extra }), "custom/tokenizer.json");
  };

  it("build refuses a Split pattern the command has no matcher for, in one line naming it", () => {
    const other = LLAMA3_SPLIT.replace("\\p{N}{1,3}", "\\p{N}{1,2}");
    const tok = variant(other);
    const e = slimError(() => commandTokenizerBytes(tok, tok.vocabSize), "E_MODEL");
    expect(e.message.split("\n")).toHaveLength(1);
    expect(e.message).toContain(`its Split ${JSON.stringify(other)} step is not one the standalone command carries`);
    expect(e.message).toContain("Qwen2's and Llama 3's Split patterns");
    // the known patterns pass
    for (const p of [QWEN2_SPLIT, LLAMA3_SPLIT]) expect(commandTokenizerBytes(variant(p), tok.vocabSize).length).toBeGreaterThan(0);
  });

  it("build refuses NFKC in one line with the size of what is missing", () => {
    const tok = variant(QWEN2_SPLIT, { normalizer: { type: "NFKC" } });
    const e = slimError(() => commandTokenizerBytes(tok, tok.vocabSize), "E_MODEL");
    expect(e.message.split("\n")).toHaveLength(1);
    expect(e.message).toMatch(/its NFKC normalizer is not implemented in the standalone command \(only NFC is; .* \d+ characters, \d+ bytes/);
  });

  it("the command refuses, in one line, a prompt whose normal form C passes the planned bytes", () => {
    const b = commandFor("qwen2");
    // U+0958 (3 bytes) stays two code points (6 bytes) in NFC: 5,000 of them are 15,000 bytes in, 30,000 out
    const r = ids(b.wasm, "\u0958".repeat(5_000));
    const planned = planArena({ arch: "llama", dim: 16, hiddenDim: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, vocabSize: b.tok.vocabSize, seqLen: CTX, normEps: 1e-5, ropeTheta: 10000, sharedClassifier: true }, CTX, ["vanilla"], { tokenizerBytes: b.tokBytes.length });
    const slots = planned.command!.mergeTables.size / COMMAND_MERGE_SLOT_BYTES;
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n")).toEqual([`slimedge: the prompt in Unicode normal form C is more than the ${slots - 2} bytes this module was planned for`]);
  });
});
