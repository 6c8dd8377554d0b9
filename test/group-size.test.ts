// Any group size through every path a user takes (ARCHITECTURE.md, "Weight layout"): a stories260K-shaped
// llama2.c checkpoint (dim 64, hidden_dim 172 = 4·43, GQA 8/4), whose rows are not multiples of 32, under
// q8_0 and q4_0 in groups of 4 — `run --weights`, `convert --weights` and the .slim it writes, `build` and its
// standalone command, `plan` and `quantize-report` — as real processes, with the greedy text checked against
// the float64 oracle (test/reference.ts) run on the weights the decoder holds; and rows that cannot be
// grouped refused in one line that names no flag.
import { describe, it, expect, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomLlamaWeights, writeV1, writeTokenizerBin, type Llama2cDims } from "./fixtures/llama2c-writer.ts";
import { readLlama2c } from "../tools/convert/llama2c.ts";
import { lowerModel } from "../tools/convert/lower.ts";
import { readSlim } from "../host/core/slim-read.ts";
import { readTokenizer, BOS, EOS, type Tokenizer } from "../host/core/tokenizer.ts";
import { RUNNER_PATH } from "../host/ship/deploy/release.ts";
import type { Model } from "../host/core/model.ts";
import { Reference } from "./reference.ts";
import { storedModel } from "./stored-weights.ts";

const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");
const dir = mkdtempSync(join(tmpdir(), "slimedge-groups-"));

function slimedge(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 300_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stderr.split("\n").filter((l) => l.trim() !== "") };
}

/** The standalone command under node:wasi in a child process (proc_exit must not end the test runner). */
function command(wasm: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ["--no-warnings", RUNNER_PATH, wasm, ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

// Single characters only, no byte fallback and no merges: every generated character is one token, so a run's
// text gives back the tokens it chose.
const PIECES = ["<unk>", "<s>", "</s>", " ", ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", ".", ","];
const DIMS: Llama2cDims = { dim: 64, hiddenDim: 172, nLayers: 2, nHeads: 8, nKvHeads: 4, vocabSize: PIECES.length, seqLen: 128 };
const PROMPT = "once upon a time";
const STEPS = 40;
// The decoder's logits stay within TOL = 2e-2 × max |ref| of the oracle on the stored weights (test/quant.test.ts
// measures 1.1e-2 and 1.3e-2 on this shape). So each token a greedy run picks has an oracle logit within
// 2·TOL·max |ref| of the oracle's best, and it is the oracle's best wherever that leads by more.
const TOL = 2e-2;

let model: Model;
let tokenizer: Tokenizer;
const ckpt = join(dir, "model.bin");
const odd = join(dir, "odd.bin");

beforeAll(() => {
  // a separate classifier: a random model sharing it with the embedding repeats its last prompt token
  const bytes = writeV1(DIMS, randomLlamaWeights(DIMS, 12), { sharedClassifier: false });
  writeFileSync(ckpt, bytes);
  const tok = writeTokenizerBin(PIECES, PIECES.map((_, i) => -i));
  writeFileSync(join(dir, "tokenizer.bin"), tok);
  const oddDims = { ...DIMS, hiddenDim: 171 }; // no even group divides 171
  writeFileSync(odd, writeV1(oddDims, randomLlamaWeights(oddDims, 13), { sharedClassifier: false }));
  model = readLlama2c(bytes, "model.bin");
  tokenizer = readTokenizer(tok, "tokenizer.bin", DIMS.vocabSize);
});

/**
 * Checks a greedy run's stdout (the prompt, the generated text, a newline) against the float64 oracle on the
 * weights `weights` stores (lowered here as `run` lowers them: GQA runs vanilla), fed the run's own tokens:
 * every token within the tolerance of the oracle's best, and the oracle's best wherever the tolerance decides
 * it. Returns how many steps it decided.
 */
function expectOracleText(stdout: string, weights: "q8_0" | "q4_0", what: string): number {
  const lowered = lowerModel(model, { modes: ["vanilla", "vanilla"], wkv: [null, null] }, { weights });
  expect(lowered.groupSize).toBe(4);
  const ref = new Reference(storedModel(model, lowered));
  expect(stdout.startsWith(PROMPT) && stdout.endsWith("\n"), what).toBe(true);
  const chosen = [...stdout.slice(PROMPT.length, -1)].map((ch) => PIECES.indexOf(ch));
  expect(chosen.every((t) => t > 2), `${what}: ${JSON.stringify(stdout)}`).toBe(true);
  expect(chosen.length).toBeLessThanOrEqual(STEPS);
  let logits: Float64Array<ArrayBufferLike> = new Float64Array(0);
  for (const t of tokenizer.encode(PROMPT, { bos: true })) logits = ref.step(t);
  let decided = 0;
  for (let i = 0; i <= chosen.length && i < STEPS; i++) {
    const order = [...logits.keys()].sort((a, b) => logits[b] - logits[a]);
    const slack = 2 * TOL * Math.max(...logits.map(Math.abs));
    // a run shorter than STEPS stopped at <s> or </s> (the end of a training sequence)
    const t = i < chosen.length ? chosen[i] : logits[BOS] > logits[EOS] ? BOS : EOS;
    if (logits[order[0]] - logits[order[1]] > slack) {
      decided++;
      expect(t, `${what}: token ${i}`).toBe(order[0]);
    } else expect(logits[t], `${what}: token ${i}`).toBeGreaterThanOrEqual(logits[order[0]] - slack);
    if (i < chosen.length) logits = ref.step(t);
  }
  expect(decided, what).toBeGreaterThanOrEqual(STEPS / 2); // the token checks are not vacuous
  return decided;
}

describe.each(["q8_0", "q4_0"] as const)("a stories260K-shaped checkpoint under %s (groups of 4)", (weights) => {
  it.each(["simd", "scalar"])("run --weights: the oracle's greedy text (%s build)", (build) => {
    const r = slimedge("run", ckpt, "--weights", weights, "--simd", build === "simd" ? "on" : "off", "-p", PROMPT, "-n", String(STEPS), "--temp", "0");
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines.at(-1)).toMatch(new RegExp(`${build}, ${weights} weights`));
    const decided = expectOracleText(r.stdout, weights, `run --weights ${weights} --simd ${build}`);
    console.log(`  run --weights ${weights} (${build}): ${JSON.stringify(r.stdout.slice(0, -1))}, ${decided} of ${STEPS} tokens decided by the tolerance`);
  });

  it("convert --weights writes groups of 4 into the .slim file, and running it gives the checkpoint's text", () => {
    const file = join(dir, `${weights}.slim`);
    const c = slimedge("convert", ckpt, "--weights", weights, "-o", file);
    expect(c.code, c.stderr).toBe(0);
    const f = readSlim(readFileSync(file), file);
    expect(f.groupSize).toBe(4);
    expect(f.tensors.find((t) => t.name === "layers.1.w2")!.dtype).toBe(weights);
    expect(slimedge("inspect", file).stdout).toMatch(new RegExp(`${weights} [\\d.]+ KiB \\(16 tensors, groups of 4\\)`));
    const fromFile = slimedge("run", file, "-p", PROMPT, "-n", String(STEPS), "--temp", "0");
    expect(fromFile.code, fromFile.stderr).toBe(0);
    expect(fromFile.stdout).toBe(slimedge("run", ckpt, "--weights", weights, "-p", PROMPT, "-n", String(STEPS), "--temp", "0").stdout);
    expectOracleText(fromFile.stdout, weights, `run ${weights}.slim`);
  });

  it("quantize-report measures it at groups of 4", () => {
    const r = slimedge("quantize-report", ckpt, "--weights", weights, "--cache", "f16");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/weight round trip per tensor \(q8_0 \/ q4_0 group size 4\)/);
    expect(r.stdout).toMatch(new RegExp(`^tensor\\s+${weights} rel`, "m"));
  });
});

describe("build of a stories260K-shaped checkpoint with --weights q4_0", () => {
  it("packages a standalone command for a board without SIMD that prints the oracle's greedy text", () => {
    const out = join(dir, "esp32-s3");
    const r = slimedge("build", ckpt, "--weights", "q4_0", "--board", "esp32-s3", "--ctx", "64", "--out", out);
    expect(r.code, r.stderr).toBe(0);
    const plan = JSON.parse(readFileSync(join(out, "plan.json"), "utf8"));
    expect([plan.build, plan.weights, plan.groupSize]).toEqual(["scalar", "q4_0", 4]);
    const wasm = readdirSync(out).find((f) => f.endsWith(".cmd.wasm"))!;
    const cmd = command(join(out, wasm), PROMPT, "-n", String(STEPS), "--temp", "0");
    expect(cmd.code, cmd.stderr).toBe(0);
    expectOracleText(cmd.stdout, "q4_0", `${wasm} (scalar)`);
  }, 300_000);
});

describe("rows that no even group divides (hidden_dim 171)", () => {
  it.each([
    { label: "run --weights q4_0", args: ["run", odd, "--weights", "q4_0", "-n", "4"] },
    { label: "run --weights q8_0", args: ["run", odd, "--weights", "q8_0", "-n", "4"] },
    { label: "convert --weights q4_0", args: ["convert", odd, "--weights", "q4_0", "-o", join(dir, "odd.slim")] },
  ])("$label: one line naming the rows and no flag, nothing written", ({ args }) => {
    const r = slimedge(...args);
    expect(r.code).not.toBe(0);
    expect(r.lines.slice(0, -1).filter((l) => !/^(reading|slimify:|packing|writing) /.test(l)), r.stderr).toEqual([]); // convert's stages
    r.lines = r.lines.slice(-1);
    expect(r.lines, r.stderr).toHaveLength(1);
    expect(r.stderr).not.toMatch(/^\s+at /m);
    expect(r.lines[0]).toMatch(/q[48]_0 needs matrix rows of an even length; the model has dim 64 and hidden_dim 171 \(f16 and f32 weights take any\)$/);
    expect(r.lines[0]).not.toMatch(/--/);
    expect(existsSync(join(dir, "odd.slim"))).toBe(false);
  });

  it("plan marks the q8_0 and q4_0 rows n/a and sizes the others", () => {
    const r = slimedge("plan", odd, "--board", "esp32-s3");
    expect(r.code, r.stderr).toBe(0);
    const rows = r.stdout.split("\n").filter((l) => /^(f32|f16|q8_0|q4_0)\s/.test(l));
    expect(rows).toHaveLength(12);
    for (const row of rows) expect(row.includes("n/a"), row).toBe(/^q[48]_0/.test(row));
  });
});
