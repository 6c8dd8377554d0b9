// run.c's stop rule on llama2.c models (stop at <s> only; a generated </s> is printed and generation goes
// on) and the printed bytes (characters split across byte tokens held until complete, lone and control
// bytes dropped), in `slimedge run` and in the standalone command alike. The models are built so greedy
// decoding follows a chosen token chain: the residual branches are zeroed, so the last hidden state is the
// current token's embedding, a one-hot direction, and the classifier row of the wanted next token reads it.
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { RUNNER_PATH } from "../host/ship/deploy/release.ts";
import { beforeAll, describe, expect, it } from "vitest";
import { readLlama2c } from "../tools/convert/llama2c.ts";
import { readTextTokenizer, type TextTokenizer } from "../host/core/tokenizers.ts";
import { generate } from "../host/runtime/generate.ts";
import { lowerModel } from "../tools/convert/lower.ts";
import { planArena } from "../host/core/plan.ts";
import { slimify } from "../tools/convert/slimify.ts";
import { buildCommand } from "../tools/package/command.ts";
import { commandTokenizerBytes } from "../tools/package/command-tokenizer.ts";
import { byteFallbackVocab, randomLlamaWeights, writeTokenizerBin, writeV1, type Llama2cDims } from "./fixtures/llama2c-writer.ts";

const root = mkdtempSync(join(tmpdir(), "slimedge-stop-"));
const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");
const runner = RUNNER_PATH; // node:wasi, the runner releases carry
const vocab = byteFallbackVocab([" ", "x", "a", "b", "é", " x"]);
const DIMS: Llama2cDims = { dim: 32, hiddenDim: 64, nLayers: 1, nHeads: 4, nKvHeads: 4, vocabSize: vocab.pieces.length, seqLen: 32 };
const tokenizerBin = writeTokenizerBin(vocab.pieces, vocab.scores);
const tok: TextTokenizer = readTextTokenizer("llama2c", tokenizerBin, "tokenizer.bin", DIMS.vocabSize);
const id = (piece: string) => vocab.pieces.indexOf(piece);
const byte = (b: number) => 3 + b;
const PROMPT = "x";
const last = tok.prompt(PROMPT).at(-1)!; // " x"

/** llama2.c weights whose greedy continuation of token t is next.get(t). */
function chainModel(next: Map<number, number>): Uint8Array {
  const w = randomLlamaWeights(DIMS, 77);
  const d = DIMS.dim;
  w.wo.fill(0);
  w.w2.fill(0);
  w.rms_final_weight.fill(1);
  w.token_embedding_table.fill(0);
  w.wcls = new Float32Array(DIMS.vocabSize * d);
  [...next.keys()].forEach((from, k) => {
    w.token_embedding_table[from * d + k] = 5;
    w.wcls[next.get(from)! * d + k] += 10;
  });
  return writeV1(DIMS, w, { sharedClassifier: false });
}

function slimedge(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, lines: r.stderr.split("\n").filter((l) => l.trim() !== ""), stderr: r.stderr };
}

function command(wasm: string, args: string[]) {
  const r = spawnSync(process.execPath, ["--no-warnings", runner, wasm, ...args], { timeout: 60_000 });
  const stderr = r.stderr.toString("utf8");
  return { code: r.status, stdout: r.stdout as Buffer, lines: stderr.split("\n").filter((l) => l.trim() !== ""), stderr };
}

/** Writes model.bin + tokenizer.bin into a folder, and the standalone command beside them. */
function fixture(name: string, next: Map<number, number>): { model: string; wasm: string } {
  const dir = join(root, name);
  mkdirSync(dir);
  const bytes = chainModel(next);
  writeFileSync(join(dir, "model.bin"), bytes);
  writeFileSync(join(dir, "tokenizer.bin"), tokenizerBin);
  const model = readLlama2c(bytes, name);
  const s = slimify(model);
  const lowered = lowerModel(model, { modes: s.layers.map((l) => l.mode), wkv: s.wkv }, { weights: "f32" });
  const tokBytes = commandTokenizerBytes(tok, DIMS.vocabSize);
  const plan = planArena(model.config, DIMS.seqLen, lowered.modes, { tokenizerBytes: tokBytes.length });
  writeFileSync(join(dir, "model.cmd.wasm"), buildCommand(lowered, tokBytes, plan, { build: "scalar" }));
  return { model: join(dir, "model.bin"), wasm: join(dir, "model.cmd.wasm") };
}

let eos: { model: string; wasm: string };
let bos: { model: string; wasm: string };
let utf8: { model: string; wasm: string };
// 中 as three byte tokens, a lone continuation byte, backspace, "a", a lead byte cut short by "b", then "é"
const CHAIN = [byte(0xe4), byte(0xb8), byte(0xad), byte(0x80), byte(0x08), id("a"), byte(0xc3), id("b"), id("é")];

beforeAll(() => {
  eos = fixture("eos", new Map([[last, 2], [2, 2]]));
  bos = fixture("bos", new Map([[last, 1], [1, 1]]));
  const chain = new Map<number, number>();
  [last, ...CHAIN].forEach((t, i) => i < CHAIN.length && chain.set(t, CHAIN[i]));
  utf8 = fixture("utf8", chain);
});

describe("stop tokens on llama2.c models, as run.c", () => {
  it("goes on after a generated </s> (id 2), printing its piece, in run and in the standalone command", () => {
    const r = slimedge("run", eos.model, "-p", PROMPT, "-n", "5", "--temp", "0");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("x" + "</s>".repeat(5) + "\n");
    expect(r.lines.at(-1)).toMatch(/decode 5 tok/);
    expect(r.lines.at(-1)).not.toMatch(/stopped/);
    const c = command(eos.wasm, [PROMPT, "-n", "5", "--temp", "0"]);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout.toString("utf8")).toBe(r.stdout);
    expect(c.lines.at(-1)).toMatch(/decode 5 tok/);
    expect(c.lines.at(-1)).not.toMatch(/stopped/);
  });

  it("stops at <s> (id 1) and names it; --keep-going starts a new line instead", () => {
    const r = slimedge("run", bos.model, "-p", PROMPT, "-n", "5", "--temp", "0");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe("x\n");
    expect(r.lines.at(-1)).toMatch(/decode 0 tok .* · stopped at <s>$/);
    const c = command(bos.wasm, [PROMPT, "-n", "5", "--temp", "0"]);
    expect(c.stdout.toString("utf8")).toBe("x\n");
    expect(c.lines.at(-1)).toMatch(/decode 0 tok .* · stopped at <s>$/);
    const k = slimedge("run", bos.model, "-p", PROMPT, "-n", "3", "--temp", "0", "--keep-going");
    expect(k.stdout).toBe("x\n\n\n\n");
    expect(k.lines.at(-1)).toMatch(/decode 3 tok/);
  });
});

describe("printed bytes", () => {
  const want = "x中abé";

  it("holds a character split across byte tokens, drops lone, cut-short and control bytes: generate()", async () => {
    const model = readLlama2c(chainModel(new Map([[last, CHAIN[0]], ...CHAIN.slice(0, -1).map((t, i): [number, number] => [t, CHAIN[i + 1]])])), "chain");
    const r = await generate(lowerModel(model, { modes: ["vanilla"], wkv: [null] }, { weights: "f32" }), tok, { prompt: PROMPT, steps: CHAIN.length, ctx: 32, build: "scalar", sampler: { temperature: 0 } });
    expect(r.tokens.slice(-CHAIN.length)).toEqual(CHAIN);
    expect(r.text).toBe(want);
  });

  it("prints the same in `slimedge run` and in the standalone command, byte for byte", () => {
    const r = slimedge("run", utf8.model, "-p", PROMPT, "-n", String(CHAIN.length), "--temp", "0");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(want + "\n");
    const c = command(utf8.wasm, [PROMPT, "-n", String(CHAIN.length), "--temp", "0"]);
    expect(c.code, c.stderr).toBe(0);
    expect(c.stdout.equals(Buffer.from(want + "\n", "utf8"))).toBe(true);
  });
});
