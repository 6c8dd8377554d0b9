// The `slimedge run` command as a user meets it: a real process, real files, exit codes and stderr.
import { describe, it, expect, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomLlamaWeights, writeV1, writeTokenizerBin, byteFallbackVocab, type Llama2cDims } from "./fixtures/llama2c-writer.ts";

const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");
const dir = mkdtempSync(join(tmpdir(), "slimedge-cli-"));

function slimedge(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stderr.split("\n").filter((l) => l.trim() !== "") };
}

/** One line on stderr, naming what it should, no stack trace, the expected exit code. */
function expectOneLine(r: ReturnType<typeof slimedge>, code: number, ...mentions: (string | RegExp)[]) {
  expect(r.lines, r.stderr).toHaveLength(1);
  expect(r.stderr).not.toMatch(/^\s+at /m);
  expect(r.code).toBe(code);
  for (const m of mentions) expect(r.lines[0]).toMatch(m);
}

const vocabPieces = ["e", "t", "a", " ", "th", "the", " the", "he", "in", "an", "on", "ce", "up"];
const vocab = byteFallbackVocab(vocabPieces);
const mha: Llama2cDims = { dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: vocab.pieces.length, seqLen: 64 };
const gqa: Llama2cDims = { ...mha, nKvHeads: 2 };
let good: Uint8Array;

beforeAll(() => {
  good = writeV1(mha, randomLlamaWeights(mha, 5));
  writeFileSync(join(dir, "tokenizer.bin"), writeTokenizerBin(vocab.pieces, vocab.scores));
  writeFileSync(join(dir, "good.bin"), good);
  writeFileSync(join(dir, "gqa.bin"), writeV1(gqa, randomLlamaWeights(gqa, 6)));
  writeFileSync(join(dir, "truncated.bin"), good.subarray(0, good.length - 1000));
  const badMagic = good.slice();
  badMagic.set([0x47, 0x47, 0x55, 0x46], 0); // "GGUF"
  writeFileSync(join(dir, "magic.bin"), badMagic);
  const badVersion = good.slice();
  new DataView(badVersion.buffer).setInt32(4, 7, true);
  writeFileSync(join(dir, "version.bin"), badVersion);
  const badDims = good.slice();
  new DataView(badDims.buffer).setInt32(8, 48, true); // dim 48 with the same bytes
  writeFileSync(join(dir, "dims.bin"), badDims);
});

describe("slimedge run", () => {
  it("streams text and ends with one summary line", () => {
    const r = slimedge("run", join(dir, "good.bin"), "-p", "the", "-n", "20", "--temp", "0");
    expect(r.code).toBe(0);
    expect(r.stdout.startsWith("the")).toBe(true);
    const summary = r.lines.at(-1)!;
    expect(summary).toMatch(/prefill \d+ tok at [\d.]+ tok\/s/);
    expect(summary).toMatch(/decode 20 tok at [\d.]+ tok\/s/);
    // 2 layers × 64 ctx × 32 dim × 4 bytes = 16 KiB of K; vanilla doubles it.
    expect(summary).toMatch(/context memory 16\.0 KiB \(slim; vanilla would need 32\.0 KiB\)/);
  });

  it("gives the same greedy text in slim and vanilla mode", () => {
    const slim = slimedge("run", join(dir, "good.bin"), "-p", "the", "-n", "40", "--temp", "0", "--mode", "slim");
    const vanilla = slimedge("run", join(dir, "good.bin"), "-p", "the", "-n", "40", "--temp", "0", "--mode", "vanilla");
    expect(slim.stdout).toBe(vanilla.stdout);
  });

  it("runs a grouped-query checkpoint in vanilla mode and says why", () => {
    const r = slimedge("run", join(dir, "gqa.bin"), "-n", "5", "--tokenizer", join(dir, "tokenizer.bin"));
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/running vanilla: the model has 2 K\/V heads for 4 query heads \(grouped-query attention\)/);
    expect(r.lines.at(-1)).toMatch(/\(vanilla; vanilla would need/);
  });

  it("names a truncated file", () => {
    expectOneLine(slimedge("run", join(dir, "truncated.bin")), 1, "truncated.bin", /bytes/);
  });

  it("names a wrong magic", () => {
    expectOneLine(slimedge("run", join(dir, "magic.bin")), 1, "magic.bin", /GGUF|magic/);
  });

  it("names an unknown version", () => {
    expectOneLine(slimedge("run", join(dir, "version.bin")), 1, "version.bin", /version/);
  });

  it("names header dimensions that disagree with the file size", () => {
    expectOneLine(slimedge("run", join(dir, "dims.bin")), 1, "dims.bin", /dim/);
  });

  it("refuses --ctx beyond the model's seq_len", () => {
    expectOneLine(slimedge("run", join(dir, "good.bin"), "--ctx", "65"), 2, "--ctx", /seq_len 64/);
  });

  it("refuses a prompt longer than the context", () => {
    const prompt = "the cat sat on the mat ".repeat(10);
    expectOneLine(slimedge("run", join(dir, "good.bin"), "--ctx", "16", "-p", prompt), 2, "--prompt", /--ctx 16/);
  });

  it("refuses malformed flags with one line", () => {
    expectOneLine(slimedge("run", join(dir, "good.bin"), "--temp", "hot"), 2, "--temp");
    expectOneLine(slimedge("run", join(dir, "good.bin"), "--top-p", "1.5"), 2, "--top-p");
    expectOneLine(slimedge("run", join(dir, "good.bin"), "-n", "-3"), 2, /steps|-n/);
    expectOneLine(slimedge("run", join(dir, "good.bin"), "--mode", "fast"), 2, "--mode");
  });

  it("reports per-layer conditioning with `slimedge slimify`", () => {
    const r = slimedge("slimify", join(dir, "good.bin"), "-p", "the");
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/cond\(W_K\)\s+max\|W_KV\|\s+err random\s+err prompt/);
    expect(r.stdout.split("\n").filter((l) => /^\s+\d+\s/.test(l))).toHaveLength(mha.nLayers);
    // 2 layers × 32 dims × 4 bytes of K per token; vanilla twice that
    expect(r.stdout).toMatch(/2 of 2 layers slim: context memory 256 bytes\/token \(vanilla 512\)/);
  });

  it("simulates a board: scalar build where it has no SIMD, and an estimate labelled as one", () => {
    const r = slimedge("run", join(dir, "good.bin"), "-n", "8", "--board", "esp32-s3", "--ctx", "64");
    expect(r.code).toBe(0);
    expect(r.lines.at(-2)).toMatch(/· scalar, f32 weights, f32 cache rows$/);
    expect(r.lines.at(-1)).toMatch(/^estimate on esp32-s3 \(wasm2c-native, no SIMD, arena in PSRAM\): ~[\d.]+ tok\/s .* not measured on the board$/);
  });

  it("refuses a run that does not fit the simulated board, with needed and available bytes", () => {
    // 2 × 64 × 32 × 4 weights alone are 64 KiB per matrix kind; esp32 has 2 pages of linear memory
    const r = slimedge("run", join(dir, "good.bin"), "--board", "esp32", "--ctx", "64");
    expectOneLine(r, 1, /^slimedge: does not fit esp32: ctx 64 .* needs \d+ bytes = \d+ pages .* of 131072 bytes/);
  });

  it("names a missing checkpoint", () => {
    expectOneLine(slimedge("run", join(dir, "nope.bin")), 1, "nope.bin");
  });
});
