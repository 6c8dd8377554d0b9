/**
 * The standalone WASI command (assembly/command.ts, packaged by tools/package/command.ts) as a user runs it: a real
 * process under node:wasi (so proc_exit ends that process, not the test runner), compared byte for byte
 * with what the TypeScript path (host/runtime/generate.ts with host/core/tokenizer.ts and host/runtime/sampler.ts) prints for the
 * same model, prompt, steps and seed; the packaged module's imports, memory and data segments; the wasm2c
 * native binary against node:wasi; and bad arguments.
 */
import { fromStream } from "../host/core/layout.ts";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import binaryen from "binaryen";
import { beforeAll, describe, expect, it } from "vitest";
import { generate } from "../host/runtime/generate.ts";
import type { LoweredModel } from "../host/core/lowered.ts";
import { lowerModel } from "../tools/convert/lower.ts";
import { readLlama2c } from "../tools/convert/llama2c.ts";
import type { Model, ModelConfig } from "../host/core/model.ts";
import { mulberry32, syntheticModel } from "../host/core/synthetic.ts";
import { readTokenizer } from "../host/core/tokenizer.ts";
import { commandTokenizerBytes } from "../tools/package/command-tokenizer.ts";
import { byteLevelTokenizer, metaspaceTokenizer } from "./fixtures/tokenizer-writer.ts";
import { type ArenaPlan, type AttentionMode, type PlanOptions, type Span, COMMAND_ARG_BYTES_EXTRA, COMMAND_ARG_BYTES_PER_TOKEN, COMMAND_MERGE_SLOT_BYTES, PLAN_COMMAND_SLOT, encodePlanBlock, planArena } from "../host/core/plan.ts";
import type { Build } from "../host/runtime/decoder.ts";
import { SAMPLER_DEFAULTS, type SamplerOptions } from "../host/runtime/sampler.ts";
import { type TextTokenizer, readTextTokenizer } from "../host/core/tokenizers.ts";
import { slimify } from "../tools/convert/slimify.ts";
import { WASI_IMPORTS, buildCommand, buildNative, nativeToolsMissing } from "../tools/package/command.ts";
import { byteFallbackVocab, randomLlamaWeights, writeTokenizerBin, writeV1, type Llama2cDims } from "./fixtures/llama2c-writer.ts";
import { DECODER_FEATURES, FEATURES_WITHOUT_SIMD, exportsOf, findMemoryGrow, importsOf, memoryLimits, slimError, usesSimd, validates } from "./helpers.ts";
import { RUNNER_PATH } from "../host/ship/deploy/release.ts";
import { skipNote } from "./skips.ts";
import { ropeTable } from "../host/core/rope.ts";

/** Every letter, so words merge; merges of several lengths and scores; "é" as a piece, "ü" by byte fallback. */
const PIECES = [
  " ", ..."abcdefghijklmnopqrstuvwxyz", "th", "he", "the", " the", "in", "an", "qu", "ick", "own", "ox", " f", "é", "ll", "lo", "hello",
];
const vocab = byteFallbackVocab(PIECES);
const DIMS: Llama2cDims = { dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: vocab.pieces.length, seqLen: 96 };
const CTX = 96;
/** Bytes the command's args buffer holds at this context (pointers and strings). */
const ARGS_CAPACITY = COMMAND_ARG_BYTES_PER_TOKEN * CTX + COMMAND_ARG_BYTES_EXTRA;
const PROMPT = "the quick brown fox é ü 🙂";
const STEPS = 48;
const BUILDS: Build[] = ["simd", "scalar"];

/** node:wasi in a child process (host/ship/deploy/run-wasi.mjs, the runner releases carry): the runtime every test machine has. */
const RUNNER = RUNNER_PATH;

interface Run {
  code: number | null;
  stdout: Buffer;
  stderr: string;
  lines: string[]; // non-empty stderr lines
}

const finish = (r: ReturnType<typeof spawnSync>): Run => {
  const stderr = (r.stderr as Buffer).toString("utf8");
  return { code: r.status, stdout: r.stdout as Buffer, stderr, lines: stderr.split("\n").filter((l) => l.trim() !== "") };
};

/** The command under node:wasi in a child process. */
const underNode = (wasm: string, args: string[]): Run =>
  finish(spawnSync(process.execPath, ["--no-warnings", RUNNER, wasm, ...args], { timeout: 30_000 }));

/** The wasm2c-built native binary. */
const native = (bin: string, args: string[]): Run => finish(spawnSync(bin, args, { timeout: 30_000 }));

/** stdout equals `text` + "\n" byte for byte (the text compared readably first). */
function expectText(r: Run, text: string): void {
  expect(r.stderr.includes("slimedge:"), r.stderr).toBe(false);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout.toString("utf8")).toBe(text + "\n");
  expect(r.stdout.equals(Buffer.from(text + "\n", "utf8"))).toBe(true);
}

const dir = mkdtempSync(join(tmpdir(), "slimedge-command-"));
let model: Model;
let tokenizer: TextTokenizer;
let tokenizerBytes: Uint8Array;
let layers: { modes: AttentionMode[]; wkv: (Float32Array | null)[] };
let lowered: LoweredModel;
let plan: ArenaPlan;
const wasm = {} as Record<Build, Uint8Array>;
const wasmPath = (build: Build) => join(dir, `model.${build}.cmd.wasm`);

beforeAll(() => {
  // Unshared classifier: logits of order 1, so sampling really samples (a shared one repeats the input token).
  model = readLlama2c(writeV1(DIMS, randomLlamaWeights(DIMS, 21), { sharedClassifier: false }), "command-model.bin");
  tokenizerBytes = writeTokenizerBin(vocab.pieces, vocab.scores);
  tokenizer = readTextTokenizer("llama2c", tokenizerBytes, "tokenizer.bin", DIMS.vocabSize);
  const s = slimify(model);
  layers = { modes: s.layers.map((l) => l.mode), wkv: s.wkv };
  lowered = lowerModel(model, layers, { weights: "f32" });
  plan = planArena(model.config, CTX, layers.modes, { tokenizerBytes: tokenizerBytes.length });
  for (const build of BUILDS) {
    wasm[build] = buildCommand(lowered, tokenizerBytes, plan, { build });
    writeFileSync(wasmPath(build), wasm[build]);
  }
});

/** What the TypeScript path prints (the CLI adds the final newline) for the prompt, steps and sampler. */
async function hostText(build: Build, prompt: string, steps: number, sampler: SamplerOptions): Promise<string> {
  const r = await generate(lowered, tokenizer, { prompt, steps, ctx: CTX, build, sampler });
  return r.text;
}

describe("planArena with an embedded tokenizer", () => {
  it("plans the command's regions after the tokenizer, tiling the arena, and points the plan block at them", () => {
    expect(layers.modes).toEqual(["slim", "slim"]);
    const names = plan.regions.map((r) => r.name);
    expect(names.slice(names.indexOf("tokenizer"))).toEqual(["tokenizer", "command", "piece_index", "sampler", "io"]);
    let at = 0;
    for (const r of plan.regions) {
      expect(r.offset, r.name).toBe(at);
      at += r.size;
    }
    expect(at).toBe(plan.totalBytes);
    const cmd = plan.command!;
    expect(cmd.tokenizerBytes).toBe(tokenizerBytes.length);
    expect(cmd.hashSlots).toBe(1024); // 2 · 306 pieces, rounded up to a power of two
    expect(cmd.promptTokens.size).toBe((cmd.args.size + 2) * 4);
    for (const [part, region] of [["pieces", "piece_index"], ["pieceHash", "piece_index"], ["probs", "sampler"], ["candidates", "sampler"], ["args", "io"], ["output", "io"]] as const) {
      const r = plan.regions.find((x) => x.name === region)!;
      const s = cmd[part];
      expect(s.offset % 16, part).toBe(0);
      expect(s.offset >= r.offset && s.offset + s.size <= r.offset + r.size, part).toBe(true);
    }
    expect(encodePlanBlock(plan)[PLAN_COMMAND_SLOT]).toBe(cmd.block.offset);
    const reactor = planArena(model.config, CTX, layers.modes);
    expect(reactor.command).toBeNull();
    expect(encodePlanBlock(reactor)[PLAN_COMMAND_SLOT]).toBe(0);
    expect(reactor.regions.map((r) => r.name)).not.toContain("io");
  });
});

describe("buildCommand", () => {
  it("imports only WASI preview-1 calls, exports _start and memory, and has fixed memory without memory.grow", () => {
    for (const build of BUILDS) {
      const bytes = wasm[build];
      expect(importsOf(bytes).sort(), build).toEqual([...WASI_IMPORTS].sort());
      expect(exportsOf(bytes).map((e) => e.name).sort()).toEqual(["_start", "memory"]);
      expect(memoryLimits(bytes)).toEqual({ initial: plan.pages, max: plan.pages });
      expect(findMemoryGrow(bytes), build).toBe(false);
      expect(validates(bytes, build === "simd" ? DECODER_FEATURES : FEATURES_WITHOUT_SIMD), build).toBe(true);
      expect(usesSimd(bytes), build).toBe(build === "simd");
    }
  });

  it("embeds the plan block, weights, RoPE table, tokenizer.bin and command block as data segments at their planned offsets", () => {
    const m = binaryen.readBinary(wasm.scalar);
    try {
      const seg = m as unknown as { getNumDataSegments(): number; getDataSegmentByIndex(i: number): number; getDataSegmentInfo(r: number): { offset: number; data: ArrayBuffer } };
      const segments = Array.from({ length: seg.getNumDataSegments() }, (_, i) => seg.getDataSegmentInfo(seg.getDataSegmentByIndex(i)));
      const at = (offset: number) => segments.find((s) => s.offset === offset);
      const weights = plan.regions.find((r) => r.name === "weights")!;
      expect(new Int32Array(at(plan.planBlock.offset)!.data)).toEqual(encodePlanBlock(plan));
      expect(at(weights.offset)!.data.byteLength).toBe(weights.size);
      // the embedding in the streaming layout (host/core/layout.ts): back in row order it is the model's
      const emb = fromStream(new Uint8Array(at(plan.embedding.offset)!.data, 0, plan.embedding.size), "f32", model.config.vocabSize, model.config.dim, 1);
      expect(new Float32Array(emb.buffer, 0, 8)).toEqual(model.weights.tokenEmbedding.subarray(0, 8));
      expect(new Uint8Array(at(plan.tokenizer!.offset)!.data).subarray(0, tokenizerBytes.length)).toEqual(tokenizerBytes);
      expect(at(plan.command!.block.offset)).toBeDefined();
      expect(new Float32Array(at(plan.ropeTable!.offset)!.data)).toEqual(ropeTable(model.config, CTX)); // the host's, as the reactor gets it
      // Everything else is the compiled module's own static data, below the plan block.
      const planned = [plan.planBlock.offset, weights.offset, plan.ropeTable!.offset, plan.tokenizer!.offset, plan.command!.block.offset];
      for (const s of segments.filter((s) => !planned.includes(s.offset))) expect(s.offset + s.data.byteLength).toBeLessThanOrEqual(plan.planBlock.offset);
    } finally {
      m.dispose();
    }
  });

  it("refuses a plan made without the tokenizer, and a tokenizer of another vocabulary size", () => {
    const reactor = planArena(model.config, CTX, layers.modes);
    expect(slimError(() => buildCommand(lowered, tokenizerBytes, reactor), "E_MODEL").message).toMatch(/tokenizerBytes/);
    const small = byteFallbackVocab(["a"]);
    const other = writeTokenizerBin(small.pieces, small.scores);
    const otherPlan = planArena(model.config, CTX, layers.modes, { tokenizerBytes: other.length });
    slimError(() => buildCommand(lowered, other, otherPlan), "E_FORMAT");
  });
});

describe.each(BUILDS)("the %s command under node:wasi", (build) => {
  it("prints the same greedy text as the TypeScript path, then one summary line", async () => {
    const want = await hostText(build, PROMPT, STEPS, { temperature: 0 });
    const r = underNode(wasmPath(build), [PROMPT, "-n", String(STEPS), "--temp", "0"]);
    expectText(r, want);
    expect(r.lines).toHaveLength(1);
    const prompt = tokenizer.prompt(PROMPT).length;
    expect(r.lines[0]).toMatch(new RegExp(`^prefill ${prompt} tok at [\\d.]+ tok/s · decode ${STEPS} tok at [\\d.]+ tok/s · ctx ${CTX} · .* · ${build}$`));
  });

  it("encodes like host/tokenizer.ts: equal-score merges leftmost first, pieces, byte fallback", async () => {
    const long = "the the thethe lllo hellohello ".repeat(6); // many equal-score pairs, near the context
    for (const prompt of ["the the thethe lllo hellohello", "héllo wörld é\tthe", " leading and trailing  ", long]) {
      const r = underNode(wasmPath(build), [prompt, "-n", "12", "--temp", "0"]);
      expectText(r, await hostText(build, prompt, 12, { temperature: 0 }));
      expect(r.lines[0]).toMatch(new RegExp(`^prefill ${tokenizer.prompt(prompt).length} tok `));
    }
  });

  it("takes a prompt that starts with - after --, flags before it", async () => {
    for (const prompt of ["-273.15", "---", "--ids"]) {
      const r = underNode(wasmPath(build), ["-n", "6", "--temp", "0", "--", prompt]);
      expectText(r, await hostText(build, prompt, 6, { temperature: 0 }));
      expect(r.lines[0]).toMatch(new RegExp(`^prefill ${tokenizer.prompt(prompt).length} tok `));
    }
  });

  it("samples the same text as the TypeScript sampler for --temp 0.8 --seed 7 (top-p 0.9)", async () => {
    const want = await hostText(build, PROMPT, STEPS, { temperature: 0.8, topP: SAMPLER_DEFAULTS.topP, seed: 7 });
    expect(want).not.toBe(await hostText(build, PROMPT, STEPS, { temperature: 0 })); // the test really samples
    expectText(underNode(wasmPath(build), [PROMPT, "-n", String(STEPS), "--temp", "0.8", "--seed", "7"]), want);
  });

  it("takes --seed 0 and samples the same text as the host's sampler at seed 0", async () => {
    const want = await hostText(build, PROMPT, STEPS, { temperature: 0.8, topP: SAMPLER_DEFAULTS.topP, seed: 0 });
    expectText(underNode(wasmPath(build), [PROMPT, "-n", String(STEPS), "--temp", "0.8", "--seed", "0"]), want);
  });

  it("samples the full distribution (--top-p 1) and the defaults (temp 1, top-p 0.9, seed 42) as the host does", async () => {
    const full = await hostText(build, "hello", STEPS, { temperature: 1.25, topP: 1, seed: 123456789 });
    expectText(underNode(wasmPath(build), ["hello", "--top-p", "1", "--temp", "1.25", "--seed", "123456789", "-n", String(STEPS)]), full);
    const defaults = await hostText(build, PROMPT, 64, {});
    expectText(underNode(wasmPath(build), [PROMPT]), defaults);
  });

  it("starts from <s> alone without a prompt, and stops when the context is full", async () => {
    const empty = await hostText(build, "", 20, { temperature: 0.9, topP: 0.95, seed: 3 });
    expectText(underNode(wasmPath(build), ["-n", "20", "--temp", "0.9", "--top-p", "0.95", "--seed", "3"]), empty);
    expectText(underNode(wasmPath(build), [PROMPT, "-n", "0"]), await hostText(build, PROMPT, 0, {}));
    const full = await hostText(build, PROMPT, 500, { temperature: 0 });
    const r = underNode(wasmPath(build), [PROMPT, "-n", "500", "--temp", "0"]);
    expectText(r, full);
    expect(r.lines.at(-1)).toMatch(/stopped: context full$/);
  });
});

describe("bad arguments", () => {
  const cases: [string[], RegExp][] = [
    [["hi", "-n", "abc"], /-n\/--steps: expected a whole number ≥ 0, got "abc"/],
    [["hi", "--temp", "-1"], /--temp must be a number ≥ 0/],
    [["hi", "--temp", "0.5x"], /--temp must be a number ≥ 0 .*got "0.5x"/],
    [["hi", "--temp", "1e39"], /--temp "1e39" overflows float32/], // finite in f64, infinite in the sampler's f32, as inf is refused
    [["hi", "--temp", "inf"], /--temp must be a number ≥ 0/],
    [["hi", "--top-p", "0"], /--top-p must be a number in \(0, 1\]/],
    [["hi", "--top-p", "1.5"], /--top-p must be a number in \(0, 1\]/],
    [["hi", "--seed", "7x"], /--seed must be a whole number from 0 to 2\^64-1/],
    [["hi", "--seed", "18446744073709551616"], /--seed must be a whole number/],
    [["hi", "--bogus", "1"], /unknown flag "--bogus".*a prompt starting with - goes after --/],
    [["-273.15"], /unknown flag "-273.15"/],
    [["hi", "--temp"], /"--temp" needs a value/],
    [["hi", "there"], /a second prompt argument "there"/],
    [["ü".repeat(60)], /the prompt is 122 tokens, longer than the context of 96/],
    [["a".repeat(ARGS_CAPACITY)], new RegExp(`the arguments take \\d+ bytes, more than the ${ARGS_CAPACITY} this build plans for \\(${COMMAND_ARG_BYTES_PER_TOKEN} per context token\\)`)],
    [["a".repeat(1500)], /the prompt is at least \d+ tokens, longer than the context of 96/], // refused before encoding
  ];
  it.each(cases)("%j gives one line on stderr and exit code 2", (args, message) => {
    const r = underNode(wasmPath("scalar"), args);
    expect(r.lines, r.stderr).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^slimedge: /);
    expect(r.lines[0]).toMatch(message);
    expect(r.code).toBe(2);
    expect(r.stdout.length).toBe(0);
  });

  it("prints the usage on --help and exits 0", () => {
    const r = underNode(wasmPath("scalar"), ["--help"]);
    expect(r.code).toBe(0);
    expect(r.stdout.toString()).toMatch(/^usage: .*model\.cmd\.wasm.* \[--\] \["prompt"\]/);
  });
});

describe("the command's sampler refuses non-finite logits", () => {
  it("names them in one line, in the host's words, instead of sampling a token (greedy and sampled)", async () => {
    const finalNorm = model.weights.finalNorm.slice();
    finalNorm[0] = NaN; // every logit is a dot product with the normed x, whose first value is now NaN
    const poisoned = lowerModel({ ...model, weights: { ...model.weights, finalNorm } }, layers, { weights: "f32" });
    const path = join(dir, "nan.cmd.wasm");
    writeFileSync(path, buildCommand(poisoned, tokenizerBytes, plan, { build: "scalar" }));
    const host = await generate(poisoned, tokenizer, { prompt: "hello", steps: 4, ctx: CTX, build: "scalar", sampler: { temperature: 0 } }).then(
      () => null,
      (e: unknown) => e as Error,
    );
    expect(host?.message).toBe("the logits are not finite (NaN for token 0); check the weights and the prompt");
    for (const args of [["hello", "-n", "4", "--temp", "0"], ["hello", "-n", "4", "--temp", "0.8", "--seed", "5"]]) {
      const r = underNode(path, args);
      expect(r.lines, r.stderr).toEqual([`slimedge: ${host!.message}`]);
      expect(r.code).toBe(1);
    }
  });
});

describe("prompts of thousands of tokens in the command", () => {
  const LONG_CTX = 4096;
  /** `n` characters drawn from `alphabet` with a fixed seed: few merges apply, so they stay thousands of tokens. */
  const text = (n: number, alphabet: string, seed: number): string => {
    const r = mulberry32(seed);
    return Array.from({ length: n }, () => alphabet[Math.floor(r() * alphabet.length)]).join("");
  };
  const overlaps = (a: Span, b: Span) => a.size > 0 && b.size > 0 && a.offset < b.offset + b.size && b.offset < a.offset + a.size;

  const tiny: ModelConfig = { arch: "llama", dim: 8, hiddenDim: 16, nLayers: 1, nHeads: 2, nKvHeads: 2, vocabSize: DIMS.vocabSize, seqLen: 512, normEps: 1e-5, ropeTheta: 10000, sharedClassifier: true };

  it("plans merge tables over the larger of the K/V caches and the sampler, never over what encoding uses, for up to every argument byte", () => {
    const cases: [string, ModelConfig, number, AttentionMode[], PlanOptions][] = [
      ["this model at ctx 96", model.config, CTX, layers.modes, {}],
      ["this model at ctx 4096", { ...model.config, seqLen: LONG_CTX }, LONG_CTX, layers.modes, {}],
      ["a tiny model with a q8 cache", tiny, 512, ["vanilla"], { kCache: "q8" }],
    ];
    const slotsOf = (p: ArenaPlan) => p.command!.mergeTables.size / COMMAND_MERGE_SLOT_BYTES;
    for (const [what, config, ctx, modes, opts] of cases) {
      const p = planArena(config, ctx, modes, { ...opts, tokenizerBytes: tokenizerBytes.length });
      const cmd = p.command!;
      const k = p.regions.find((r) => r.name === "k_cache")!;
      const v = p.regions.find((r) => r.name === "v_cache")!;
      const sampler = p.regions.find((r) => r.name === "sampler")!;
      const caches: Span = { name: "caches", offset: k.offset, size: v.offset + v.size - k.offset };
      const under = caches.size >= sampler.size ? caches : sampler;
      expect(cmd.mergeTables.offset, what).toBe(under.offset);
      expect(slotsOf(p), what).toBe(Math.min(cmd.promptTokens.size / 4, Math.floor(under.size / COMMAND_MERGE_SLOT_BYTES)));
      // nothing encoding reads or writes, nor anything that must keep its value until then, is under the tables
      const live: Span[] = [p.planBlock, p.regions.find((r) => r.name === "weights")!, p.tokenizer!, cmd.block, cmd.pieces, cmd.pieceHash, cmd.args, cmd.promptTokens, cmd.output];
      if (p.ropeTable) live.push(p.ropeTable);
      for (const s of live) expect(overlaps(cmd.mergeTables, s), `${what}: merge tables over ${s.name}`).toBe(false);
    }
    // a model of ordinary width holds a prompt of every length its context allows: at most max_token_length
    // bytes per token of ctx, so bytes + 2 ≤ slots; here even one token per argument byte
    const wide = planArena({ ...model.config, seqLen: LONG_CTX }, LONG_CTX, layers.modes, { tokenizerBytes: tokenizerBytes.length });
    expect(slotsOf(wide)).toBe(wide.command!.promptTokens.size / 4);
    const atCtx = planArena(model.config, CTX, layers.modes, { tokenizerBytes: tokenizerBytes.length });
    expect(slotsOf(atCtx)).toBeGreaterThanOrEqual(CTX * readTokenizer(tokenizerBytes, "tokenizer.bin").maxTokenLength + 2);
  });

  it("refuses, before encoding and in one line, a prompt of more bytes than a tiny model's merge tables hold, and merges one that fits", async () => {
    const low = lowerModel(syntheticModel(tiny, 4), { modes: ["vanilla"], wkv: [null] }, { weights: "f32" });
    const p = planArena(tiny, 512, ["vanilla"], { kCache: "q8", tokenizerBytes: tokenizerBytes.length });
    const slots = p.command!.mergeTables.size / COMMAND_MERGE_SLOT_BYTES;
    const path = join(dir, "tiny-q8.cmd.wasm");
    writeFileSync(path, buildCommand(low, tokenizerBytes, p, { build: "scalar" }));
    const over = text(slots, "abcdefghijklmnopqrstuvwxyz ", 7); // slots - 2 bytes fit
    const r = underNode(path, [over, "-n", "0"]);
    expect(r.lines, r.stderr).toEqual([`slimedge: the prompt is ${slots} bytes, more than the ${slots - 2} this module was planned for`]);
    expect(r.code).toBe(2);
    expect(r.stdout.length).toBe(0);
    const fits = over.slice(0, 400); // fewer tokens than ctx 512, too
    expect(slots - 2).toBeGreaterThan(400);
    const ok = underNode(path, [fits, "-n", "0", "--ids"]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.lines[0]).toBe(`prompt ids: ${tokenizer.prompt(fits).join(" ")}`);
  });

  it("merges a prompt of over 3,000 tokens by score (sentencepiece) as the host does, and generates the same text after it", async () => {
    const dims = { ...DIMS, seqLen: LONG_CTX };
    const m = readLlama2c(writeV1(dims, randomLlamaWeights(dims, 21), { sharedClassifier: false }), "long-model.bin");
    const low = lowerModel(m, layers, { weights: "f32" });
    const p = planArena(m.config, LONG_CTX, layers.modes, { tokenizerBytes: tokenizerBytes.length });
    const path = join(dir, "long.cmd.wasm");
    writeFileSync(path, buildCommand(low, tokenizerBytes, p, { build: "scalar" }));
    const prompt = text(3600, "abcdefghijklmnopqrstuvwxyz ", 5);
    const ids = tokenizer.prompt(prompt);
    expect(ids.length).toBeGreaterThan(3000);
    const host = await generate(low, tokenizer, { prompt, steps: 4, ctx: LONG_CTX, build: "scalar", sampler: { temperature: 0 } });
    const r = underNode(path, [prompt, "-n", "4", "--temp", "0", "--ids"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.lines[0]).toBe(`prompt ids: ${ids.join(" ")}`);
    expect(r.stdout.toString("utf8")).toBe(host.text + "\n"); // the caches the tables lay over hold nothing stale
  });

  it("merges prompts of thousands of tokens by rank (byte-level and Llama-style BPE) as the host does", () => {
    const families = [
      ["byte-level", byteLevelTokenizer({ merges: 120 }).json],
      ["Llama-style", metaspaceTokenizer({ merges: 100, style: "normalizer" }).json],
    ] as const;
    for (const [what, json] of families) {
      const bytes = new TextEncoder().encode(JSON.stringify(json));
      const tok = readTextTokenizer("hf-json", bytes, `${what} tokenizer.json`);
      const config: ModelConfig = { arch: "llama", dim: 16, hiddenDim: 32, nLayers: 1, nHeads: 2, nKvHeads: 2, vocabSize: tok.vocabSize, seqLen: LONG_CTX, normEps: 1e-5, ropeTheta: 10000, sharedClassifier: true };
      const low = lowerModel(syntheticModel(config, 9), { modes: ["vanilla"], wkv: [null] }, { weights: "f32" });
      const tokBytes = commandTokenizerBytes(tok, config.vocabSize);
      const path = join(dir, `long-${what}.cmd.wasm`);
      writeFileSync(path, buildCommand(low, tokBytes, planArena(config, LONG_CTX, ["vanilla"], { tokenizerBytes: tokBytes.length }), { build: "scalar" }));
      // one piece of 3,500 letters for GPT-2's regex; one section for the Llama style
      const prompt = text(3500, "abcdefghijklmnopqrstuvwxyz", 6);
      const ids = tok.prompt(prompt);
      expect(ids.length, what).toBeGreaterThan(2000);
      const r = underNode(path, [prompt, "-n", "0", "--ids"]);
      expect(r.code, r.stderr).toBe(0);
      expect(r.lines[0], what).toBe(`prompt ids: ${ids.join(" ")}`);
    }
  });
});

const missing = nativeToolsMissing();
const nativeSkip = missing.length > 0 && `needs ${missing.join(" and ")}`;
describe("the wasm2c native build (scalar)", () => {
  it.skipIf(nativeSkip)(
    `prints exactly what node:wasi prints${skipNote(nativeSkip)}`,
    () => {
      const bin = join(dir, "model-native");
      buildNative(wasmPath("scalar"), bin);
      const runs = [
        [PROMPT, "-n", String(STEPS), "--temp", "0"],
        [PROMPT, "-n", String(STEPS), "--temp", "0.8", "--seed", "7"],
        ["hello", "--top-p", "1", "--temp", "1.25", "--seed", "123456789"],
      ];
      for (const args of runs) {
        const want = underNode(wasmPath("scalar"), args);
        const got = native(bin, args);
        expect(got.code, got.stderr).toBe(0);
        expect(got.stdout.toString("utf8")).toBe(want.stdout.toString("utf8"));
        expect(got.stdout.equals(want.stdout)).toBe(true);
        expect(got.lines).toHaveLength(1);
      }
      const bad = native(bin, ["hi", "-n", "abc"]);
      expect(bad.code).toBe(2);
      expect(bad.lines).toEqual(underNode(wasmPath("scalar"), ["hi", "-n", "abc"]).lines);
    },
  );

  it.skipIf(nativeSkip)(`refuses the simd build with a sentence (wasm2c 1.0.32 cannot translate SIMD)${skipNote(nativeSkip)}`, () => {
    expect(slimError(() => buildNative(wasmPath("simd"), join(dir, "never")), "E_RUNTIME").message).toMatch(/SIMD.*scalar/);
  });
});
