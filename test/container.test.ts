/**
 * The .slim container: both readers (host/core/slim-check.ts in TypeScript, test/assembly/container.ts
 * compiled here with asc) run on the same bytes — valid files of several architectures, files broken one part
 * at a time with their CRCs recomputed (so the structure checks, not the CRCs, must find the fault), and
 * thousands of seeded single-byte corruptions and truncations. They must agree on every verdict and field.
 * Round trips: f32 bit-identical, f16 within binary16 rounding, q8_0 / q4_0 exactly host/core/quant.ts's
 * dequantized values (slim layers' W_K and W_KV bit-identical f32; a slim layer's b_O folded), the stored
 * bytes reaching the decoder's weight region unchanged, the decoder's logits unchanged.
 */
import { fromStream } from "../host/core/layout.ts";
import { describe, expect, it, beforeAll } from "vitest";
import asc from "assemblyscript/asc";
import { readFileSync, writeFileSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import * as zlib from "node:zlib";
import { crc32, hex32 } from "../host/core/crc32.ts";
import {
  ARCH_CODES, ACTIVATION_CODES, ContainerError, DTYPE_CODES, ENTRY, FIXED_HEADER_BYTES, FLAG, HEADER, LAYER, LAYER_RECORD_BYTES,
  LAYER_VALUES, NORM_CODES, SLIM_STATUS, TENSOR_ENTRY_BYTES, TENSOR_NAME_BYTES, TOKENIZER_CODES, statusName, type SlimHeader,
} from "../host/core/slim-format.ts";
import { checkSlim } from "../host/core/slim-check.ts";
import { readSlim, type SlimFile } from "../host/core/slim-read.ts";
import { slimTensorList } from "../host/core/tensors.ts";
import { planOptionsFor, storedDtype } from "../host/core/lowered.ts";
import { standardModel } from "../host/core/standard-model.ts";
import { loadModelTokenizer, lowerSource, openModel } from "../host/cli/options.ts";
import { SlimError } from "../host/core/errors.ts";
import { type Model, type ModelConfig, type LayerWeights, archOf, kvDim } from "../host/core/model.ts";
import { planArena, groupSizeFor } from "../host/core/plan.ts";
import { Decoder } from "../host/runtime/decoder.ts";
import { withFixedMemory } from "../host/runtime/wasm.ts";
import { mulberry32, syntheticModel } from "../host/core/synthetic.ts";
import { readTokenizer } from "../host/core/tokenizer.ts";
import { slimify, type SlimifyResult } from "../tools/convert/slimify.ts";
import { encodeSlim, sealSlim, type RawTensor } from "../tools/convert/slim-write.ts";
import { convertModel, packModel as packSlim } from "../tools/convert/convert.ts";
import { inspectFile } from "../tools/convert/inspect.ts";
import { dequantizeQ4, dequantizeQ8, f16Bits, q4Bytes, q8Bytes, quantizeQ4, quantizeQ8, storedValues } from "../host/core/quant.ts";
import { importModel } from "../tools/convert/import.ts";
import { checkpointModel, decoderFor, fixedTokens, logitsRatio, findMemoryGrow, importsOf } from "./helpers.ts";
import { referenceCanonical } from "./reference-arch.ts";
import { byteFallbackVocab, randomLlamaWeights, writeTokenizerBin, writeV1, type Llama2cDims } from "./fixtures/llama2c-writer.ts";

// ---------------------------------------------------------------------------------------------------------
// the assembly reader, driven through its exports

interface ContainerExports {
  memory: WebAssembly.Memory;
  inputAt(): number;
  memoryFor(len: number): number;
  check(ptr: number, len: number): number;
  failedIndex(): number;
  headerCrcStored(): number;
  headerCrcComputed(): number;
  dataCrcStored(): number;
  dataCrcComputed(): number;
  version(): number;
  headerBytes(): number;
  fileBytes(): number;
  arch(): number;
  dim(): number;
  hiddenDim(): number;
  nLayers(): number;
  nHeads(): number;
  nKvHeads(): number;
  vocabSize(): number;
  seqLen(): number;
  rotaryDims(): number;
  norm(): number;
  activation(): number;
  flags(): number;
  normEps(): number;
  ropeTheta(): number;
  groupSize(): number;
  slimThreshold(): number;
  tokenizerKind(): number;
  tokenizerOffset(): number;
  tokenizerBytes(): number;
  layerMode(l: number): number;
  layerReason(l: number): number;
  layerMeasured(l: number): number;
  layerValue(l: number, k: number): number;
  tensorCount(): number;
  tensorName(i: number): number;
  tensorNameLength(i: number): number;
  tensorDtype(i: number): number;
  tensorDims(i: number): number;
  tensorShape(i: number, k: number): number;
  tensorOffset(i: number): number;
  tensorBytes(i: number): number;
}

/** Compiles the AssemblyScript reader (test/assembly/container.ts with its asconfig.json) in memory. */
async function compileReader(): Promise<Uint8Array> {
  const dir = join(import.meta.dirname, "assembly");
  let wasm: Uint8Array | null = null;
  const { error, stderr } = await asc.main([join(dir, "container.ts"), "--config", join(dir, "asconfig.json"), "--target", "container"], {
    writeFile: (name: string, contents: Uint8Array | string) => {
      if (name.endsWith(".wasm")) wasm = contents as Uint8Array;
    },
  });
  if (error || !wasm) throw new Error(`asc test/assembly/container.ts: ${error?.message ?? "no module"}\n${stderr.toString()}`);
  return wasm;
}
let wasmCache: Promise<Uint8Array> | null = null;
const wasmBytes = (): Promise<Uint8Array> => (wasmCache ??= compileReader());

/** The module with memory fixed to what a file of up to maxLen bytes needs. */
async function asReader(maxLen: number) {
  const wasm = await wasmBytes();
  const probe = (await WebAssembly.instantiate(new WebAssembly.Module(wasm as Uint8Array<ArrayBuffer>), {})).exports as unknown as ContainerExports;
  const pages = Math.ceil(probe.memoryFor(maxLen) / 65536);
  const ex = (await WebAssembly.instantiate(new WebAssembly.Module(withFixedMemory(wasm, pages) as Uint8Array<ArrayBuffer>), {})).exports as unknown as ContainerExports;
  const at = ex.inputAt();
  return {
    ex,
    check(bytes: Uint8Array): number {
      new Uint8Array(ex.memory.buffer, at, bytes.length).set(bytes);
      return ex.check(at, bytes.length);
    },
    name(i: number): string {
      const p = ex.tensorName(i);
      return String.fromCharCode(...new Uint8Array(ex.memory.buffer, p, ex.tensorNameLength(i)));
    },
  };
}
type AsReader = Awaited<ReturnType<typeof asReader>>;

/** The TS verdict: a status code and the error, or the checked header. */
function tsVerdict(bytes: Uint8Array): { status: number; index: number; error?: ContainerError; header?: SlimHeader } {
  try {
    return { status: SLIM_STATUS.OK, index: -1, header: checkSlim(bytes, "model.slim") };
  } catch (e) {
    if (!(e instanceof ContainerError)) throw e;
    return { status: e.status, index: e.index, error: e };
  }
}

/** The part each status names in the TS message. */
const PART: Record<string, RegExp> = {
  TRUNCATED_HEADER: /truncated|too short/,
  BAD_MAGIC: /magic is .*not "SLIM"/,
  BAD_VERSION: /format version is \d+/,
  BAD_HEADER_LENGTH: /header field header_bytes is \d+/,
  HEADER_CRC: /header CRC mismatch \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}/,
  BAD_FIELD: /header field \w+ is .*, expected/,
  FILE_LENGTH: /file_bytes/,
  DATA_CRC: /data CRC mismatch \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}/,
  BAD_LAYER: /layer record \d+: /,
  BAD_TENSOR_ENTRY: /tensor table entry \d+.*: (name field|dtype code|n_dims|shape field)/,
  UNEXPECTED_TENSOR: /tensor table entry \d+ \(.+\): not a tensor of this model/,
  DUPLICATE_TENSOR: /tensor table entry \d+ \(.+\): duplicate of entry \d+/,
  TENSOR_SHAPE: /tensor \S+ \(table entry \d+\): shape \S+ does not match the config/,
  TENSOR_DTYPE: /tensor table entry \d+ \(.+\): (dtype|rows|byte_length)/,
  TENSOR_BOUNDS: /tensor table entry \d+ \(.+\): offset \d+/,
  MISSING_TENSOR: /tensor \S+ .* is missing from the tensor table/,
  BAD_TOKENIZER: /tokenizer: /,
  DATA_LENGTH: /the data section is \d+ bytes/,
};

/** Both readers on the same bytes: same status, same named entry, and for a sound file the same fields. */
function expectAgree(as: AsReader, bytes: Uint8Array): { status: number; ts: ReturnType<typeof tsVerdict> } {
  const ts = tsVerdict(bytes);
  const status = as.check(bytes);
  expect(statusName(status)).toBe(statusName(ts.status));
  if (ts.error) {
    expect(ts.error.code).toBe("E_FORMAT");
    expect(ts.error.message).toMatch(/^model\.slim: /);
    expect(ts.error.message).toMatch(PART[statusName(ts.status)]);
    expect(as.ex.failedIndex()).toBe(ts.index);
  } else {
    expectSameFields(as, ts.header!, bytes);
  }
  return { status, ts };
}

function expectSameFields(as: AsReader, h: SlimHeader, bytes: Uint8Array): void {
  const ex = as.ex;
  const c = h.config;
  const a = archOf(c);
  const flags = (c.sharedClassifier ? FLAG.sharedClassifier : 0) | (a.learnedPositions ? FLAG.learnedPositions : 0) | (a.parallelResidual ? FLAG.parallelResidual : 0) | (a.biases ? FLAG.biases : 0) | (a.classifierBias ? FLAG.classifierBias : 0) | (c.ropeFreqFactors ? FLAG.ropeFreqFactors : 0);
  expect({
    version: ex.version(), headerBytes: ex.headerBytes(), fileBytes: ex.fileBytes(), arch: ex.arch(), dim: ex.dim(), hiddenDim: ex.hiddenDim(),
    nLayers: ex.nLayers(), nHeads: ex.nHeads(), nKvHeads: ex.nKvHeads(), vocabSize: ex.vocabSize(), seqLen: ex.seqLen(), rotaryDims: ex.rotaryDims(),
    norm: ex.norm(), activation: ex.activation(), flags: ex.flags(), normEps: ex.normEps(), ropeTheta: ex.ropeTheta(), groupSize: ex.groupSize(),
    threshold: ex.slimThreshold(), tokenizerKind: ex.tokenizerKind(), tokenizerOffset: ex.tokenizerOffset(), tokenizerBytes: ex.tokenizerBytes(),
    headerCrc: [ex.headerCrcStored() >>> 0, ex.headerCrcComputed() >>> 0], dataCrc: [ex.dataCrcStored() >>> 0, ex.dataCrcComputed() >>> 0],
  }).toEqual({
    version: h.version, headerBytes: h.headerBytes, fileBytes: h.fileBytes, arch: ARCH_CODES.indexOf(c.arch), dim: c.dim, hiddenDim: c.hiddenDim,
    nLayers: c.nLayers, nHeads: c.nHeads, nKvHeads: c.nKvHeads, vocabSize: c.vocabSize, seqLen: c.seqLen, rotaryDims: a.rotaryDims,
    norm: NORM_CODES.indexOf(a.norm), activation: ACTIVATION_CODES.indexOf(a.activation), flags, normEps: c.normEps, ropeTheta: c.ropeTheta,
    groupSize: h.groupSize, threshold: h.threshold, tokenizerKind: TOKENIZER_CODES.indexOf(h.tokenizerKind), tokenizerOffset: h.tokenizerOffset,
    tokenizerBytes: h.tokenizerBytes, headerCrc: [h.headerCrc, crc32(bytes.subarray(16, h.headerBytes))], dataCrc: [h.dataCrc, crc32(bytes.subarray(h.headerBytes))],
  });
  expect(ex.tensorCount()).toBe(h.tensors.length);
  h.tensors.forEach((t, i) => {
    expect({ name: as.name(i), dtype: ex.tensorDtype(i), shape: [0, 1, 2, 3].slice(0, ex.tensorDims(i)).map((k) => ex.tensorShape(i, k)), offset: ex.tensorOffset(i), bytes: ex.tensorBytes(i) }).toEqual({
      name: t.name, dtype: DTYPE_CODES.indexOf(t.dtype), shape: t.shape, offset: t.offset, bytes: t.byteLength,
    });
  });
  h.layers.forEach((l, i) => {
    const measured = LAYER_VALUES.reduce((m, k, b) => m | (l[k] === null ? 0 : 1 << b), 0);
    expect([ex.layerMode(i), ex.layerReason(i), ex.layerMeasured(i)]).toEqual([l.mode === "slim" ? 1 : 0, l.reasonCode, measured]);
    LAYER_VALUES.forEach((k, b) => expect(Object.is(ex.layerValue(i, b), l[k] ?? 0)).toBe(true));
  });
}

// ---------------------------------------------------------------------------------------------------------
// models

const vocab = byteFallbackVocab(["e", "t", "a", " ", "th", "the", " the", "he", "in", "an", "on", "ce", "up", "Once", " upon", " a", " time"]);
const tokenizerBin = writeTokenizerBin(vocab.pieces, vocab.scores);
const V = vocab.pieces.length;

/** A Llama-shaped synthetic model with the GPT-2 / NeoX choices and their extra tensors added. */
function withArch(config: ModelConfig, seed: number): Model {
  const m = syntheticModel(config, seed);
  const rand = mulberry32(seed + 100);
  const vec = (n: number) => Float32Array.from({ length: n }, () => rand() - 0.5);
  const a = archOf(config);
  const kv = kvDim(config);
  m.weights.layers = m.weights.layers.map((L): LayerWeights => {
    const out: LayerWeights = { ...L };
    if (a.activation !== "swiglu") delete out.w3;
    if (a.norm === "layer") Object.assign(out, { attnNormBias: vec(config.dim), ffnNormBias: vec(config.dim) });
    if (a.biases) Object.assign(out, { bq: vec(config.dim), bk: vec(kv), bv: vec(kv), bo: vec(config.dim), b1: vec(config.hiddenDim), b2: vec(config.dim) });
    return out;
  });
  if (a.norm === "layer") m.weights.finalNormBias = vec(config.dim);
  if (a.learnedPositions) m.weights.positionEmbedding = vec(config.seqLen * config.dim);
  if (a.classifierBias) m.weights.classifierBias = vec(config.vocabSize);
  return m;
}

const small: Llama2cDims = { dim: 16, hiddenDim: 32, nLayers: 2, nHeads: 2, nKvHeads: 2, vocabSize: V, seqLen: 32 };
const gpt2: ModelConfig = { arch: "gpt2", dim: 24, hiddenDim: 48, nLayers: 2, nHeads: 3, nKvHeads: 3, vocabSize: 50, seqLen: 16, normEps: 1e-5, ropeTheta: 0, sharedClassifier: true, norm: "layer", activation: "gelu_tanh", rotaryDims: 0, learnedPositions: true, parallelResidual: false, biases: true };
const neox: ModelConfig = { arch: "neox", dim: 32, hiddenDim: 64, nLayers: 3, nHeads: 4, nKvHeads: 4, vocabSize: 40, seqLen: 24, normEps: 1e-5, ropeTheta: 10000, sharedClassifier: false, norm: "layer", activation: "gelu", rotaryDims: 2, learnedPositions: false, parallelResidual: true, biases: true };

interface Case {
  name: string;
  model: Model;
  report: SlimifyResult | null;
  tokenizer?: Uint8Array;
  threshold?: number;
}

function cases(): Case[] {
  const mha = checkpointModel({ dims: { ...small, dim: 32, hiddenDim: 64, nHeads: 4, nKvHeads: 4, seqLen: 64 }, version: 1, shared: true, seed: 3 }).model;
  const unshared = checkpointModel({ dims: { ...small, nLayers: 3 }, version: 0, shared: false, seed: 4 }).model;
  const gqa = checkpointModel({ dims: { ...small, dim: 32, nHeads: 4, nKvHeads: 2 }, version: 1, shared: true, seed: 5 }).model;
  const singular = checkpointModel({ dims: small, version: 1, shared: true, seed: 6 }).model;
  singular.weights.layers[1].wk.fill(0, 0, small.dim); // a zero row: W_K of layer 1 has no inverse
  const scaled: Model = { ...mha, config: { ...mha.config, ropeFreqFactors: [1, 1.75, 5.5, 8] } }; // 8 head dims: 4 pairs
  const g = withArch(gpt2, 7);
  const n = withArch(neox, 8);
  const phi = withArch({ ...neox, activation: "gelu_tanh", rotaryDims: 4, classifierBias: true }, 9);
  const tokens = readTokenizer(tokenizerBin, "tokenizer.bin", V).encode("Once upon a time", { bos: true });
  return [
    { name: "llama MHA, calibrated, tokenizer", model: mha, report: slimify(mha, { prompt: tokens }), tokenizer: tokenizerBin },
    { name: "llama v0 unshared classifier, hybrid by a tiny threshold", model: unshared, report: slimify(unshared, { threshold: 1e-12 }), threshold: 1e-12 },
    { name: "llama GQA (all vanilla)", model: gqa, report: slimify(gqa), tokenizer: tokenizerBin },
    { name: "llama with a singular W_K", model: singular, report: slimify(singular), tokenizer: tokenizerBin },
    { name: "gpt2-like (LayerNorm, GELU, learned positions, biases)", model: g, report: slimify(g) },
    { name: "neox-like (partial RoPE, parallel residual, biases, own classifier)", model: n, report: slimify(n) },
    { name: "phi-like (neox-like with a classifier bias, format version 3)", model: phi, report: slimify(phi) },
    { name: "llama, packed without slimify", model: mha, report: null },
    { name: "llama with RoPE frequency factors (Llama 3.x rope_scaling)", model: scaled, report: slimify(scaled, { prompt: tokens }), tokenizer: tokenizerBin },
  ];
}

/**
 * A tensor's values in the model, by its container name: what a file of the model in these layer modes
 * stores in f32. A slim layer's b_O is folded here, in float64: b_O + W_O·(b_V − W_KV·b_K).
 */
function valuesOf(m: Model, name: string, wkv: (Float32Array | null)[], modes: readonly string[] = []): Float32Array {
  const w = m.weights;
  const bo = /^layers\.(\d+)\.bo$/.exec(name);
  if (bo && modes[Number(bo[1])] === "slim") {
    const L = w.layers[Number(bo[1])];
    const W = wkv[Number(bo[1])]!;
    const d = m.config.dim;
    const r = Array.from({ length: d }, (_, i) => L.bv![i] - L.bk!.reduce((s, x, j) => s + W[i * d + j] * x, 0));
    return Float32Array.from({ length: d }, (_, i) => L.bo![i] + r.reduce((s, x, j) => s + L.wo[i * d + j] * x, 0));
  }
  const top: Record<string, Float32Array | undefined> = { token_embedding: w.tokenEmbedding, position_embedding: w.positionEmbedding, final_norm: w.finalNorm, final_norm_bias: w.finalNormBias, classifier: w.classifier, classifier_bias: w.classifierBias };
  const match = /^layers\.(\d+)\.(.+)$/.exec(name);
  if (!match) return top[name]!;
  const l = Number(match[1]);
  const field: Record<string, keyof LayerWeights> = { attn_norm: "attnNorm", attn_norm_bias: "attnNormBias", ffn_norm: "ffnNorm", ffn_norm_bias: "ffnNormBias" };
  return match[2] === "wkv" ? wkv[l]! : (w.layers[l][field[match[2]] ?? (match[2] as keyof LayerWeights)] as Float32Array);
}

const bits = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);

/** The values a read file stores for a tensor, decoded (host/core/quant.ts storedValues). */
function storedOf(f: SlimFile, name: string): Float32Array {
  const t = f.lowered.tensors.find((x) => x.name === name)!;
  return storedValues(t.bytes, t.shape.reduce((p, s) => p * s, 1), t.dtype, t.groupSize);
}

/** Whether a file of this model in these modes folds the tensor (a slim layer's b_O with biases). */
const isFolded = (name: string, modes: readonly string[]): boolean => {
  const m = /^layers\.(\d+)\.bo$/.exec(name);
  return m !== null && modes[Number(m[1])] === "slim";
};

/** Stored f32 values against the wanted ones: bit for bit, or within 1e-5 relative for a folded b_O (two float64 sums). */
function expectF32(got: Float32Array, want: Float32Array, what: string, folded: boolean): void {
  if (!folded) {
    expect(bits(got), what).toEqual(bits(want));
    return;
  }
  for (let i = 0; i < want.length; i++) if (!(Math.abs(got[i] - want[i]) <= 1e-5 * (1 + Math.abs(want[i])))) expect.fail(`${what}[${i}] = ${got[i]}, want ${want[i]}`);
}

// ---------------------------------------------------------------------------------------------------------

let as: AsReader;
let all: Case[];
const packed = new Map<string, { f32: Uint8Array; f16: Uint8Array }>();

beforeAll(async () => {
  all = cases();
  for (const c of all) {
    const opts = { layers: c.report, tokenizer: c.tokenizer, threshold: c.threshold };
    packed.set(c.name, { f32: packSlim(c.model, { ...opts, dtype: "f32" }), f16: packSlim(c.model, { ...opts, dtype: "f16" }) });
  }
  as = await asReader(Math.max(...[...packed.values()].map((p) => p.f32.length)) + 4096);
});

describe("crc32", () => {
  it("is the IEEE CRC-32 (check value, zlib, streaming)", () => {
    expect(hex32(crc32(new TextEncoder().encode("123456789")))).toBe("0xcbf43926");
    const data = Uint8Array.from({ length: 5000 }, (_, i) => (i * 131 + 7) & 0xff);
    if (typeof (zlib as { crc32?: unknown }).crc32 === "function") expect(crc32(data)).toBe((zlib as unknown as { crc32: (d: Uint8Array) => number }).crc32(data));
    expect(crc32(data.subarray(1234), crc32(data.subarray(0, 1234)))).toBe(crc32(data));
    expect(crc32(new Uint8Array(0))).toBe(0);
  });
});

describe("f16", () => {
  it("rounds to nearest even and maps every binary16 value back to itself", () => {
    expect(f16Bits(1)).toBe(0x3c00);
    expect(f16Bits(-2)).toBe(0xc000);
    expect(f16Bits(65504)).toBe(0x7bff);
    expect(f16Bits(65520)).toBe(0x7c00); // rounds up to infinity
    expect(f16Bits(2 ** -24)).toBe(0x0001);
    expect(f16Bits(2 ** -25)).toBe(0x0000); // a tie, to even
    expect(f16Bits(1 + 2 ** -11)).toBe(0x3c00); // a tie, to even
    expect(f16Bits(1 + 3 * 2 ** -11)).toBe(0x3c02);
    expect(f16Bits(NaN) & 0x7e00).toBe(0x7e00);
    const table = new Float32Array(1);
    for (let h = 0; h < 65536; h++) {
      const e = (h >>> 10) & 0x1f;
      const m = h & 0x3ff;
      if (e === 31 && m) continue; // NaNs
      table[0] = (h & 0x8000 ? -1 : 1) * (e === 0 ? m * 2 ** -24 : e === 31 ? Infinity : (1 + m / 1024) * 2 ** (e - 15));
      expect(f16Bits(table[0])).toBe(h);
    }
  });
});

describe("the AssemblyScript reader", () => {
  it("imports nothing and cannot grow its memory", async () => {
    const wasm = await wasmBytes();
    expect(importsOf(wasm)).toEqual([]);
    expect(findMemoryGrow(wasm)).toBe(false);
  });
});

describe("packSlim → readSlim", () => {
  it("keeps f32 tensors bit for bit, the config, the layer report and the tokenizer — and both readers agree", () => {
    for (const c of all) {
      const bytes = packed.get(c.name)!.f32;
      expect(expectAgree(as, bytes).status, c.name).toBe(SLIM_STATUS.OK);
      const f = readSlim(bytes, "model.slim");
      expect(f.config, c.name).toEqual({ ...c.model.config, ...archOf(c.model.config) });
      const modes = c.report ? c.report.layers.map((l) => l.mode) : Array(c.model.config.nLayers).fill("vanilla");
      expect(f.modes).toEqual(modes);
      const wkv = c.report ? c.report.wkv : modes.map(() => null);
      for (const t of slimTensorList(c.model.config, modes)) {
        expectF32(storedOf(f, t.name), valuesOf(c.model, t.name, wkv, modes), `${c.name}: ${t.name}`, isFolded(t.name, modes));
      }
      expect(f.tensors.every((t) => t.dtype === "f32")).toBe(true);
      const std = standardModel(f.lowered);
      if (c.model.config.sharedClassifier) expect(std.weights.classifier).toBe(std.weights.tokenEmbedding);
      if (c.report) {
        f.layers.forEach((l, i) => {
          const r = c.report!.layers[i];
          for (const k of LAYER_VALUES) expect(Object.is(l[k], r[k]), `${c.name} layer ${i} ${k}`).toBe(true);
          expect(l.mode).toBe(r.mode);
          if (r.mode === "vanilla" && r.cond !== null) expect(l.reason).toBe(r.reason); // the sentence slimify wrote, rebuilt from the numbers
        });
      }
      expect(f.tokenizer === null ? null : [...f.tokenizer]).toEqual(c.tokenizer ? [...c.tokenizer] : null);
      expect(f.tokenizerKind).toBe(c.tokenizer ? "llama2c" : null);
    }
  });

  it("stores why a layer is vanilla", () => {
    const reasons = (name: string) => readSlim(packed.get(name)!.f32, "m.slim").layers.map((l) => l.reasonCode);
    expect(reasons("llama MHA, calibrated, tokenizer")).toEqual([0, 0]);
    expect(reasons("llama v0 unshared classifier, hybrid by a tiny threshold")).toEqual([1, 1, 1]);
    expect(reasons("llama GQA (all vanilla)")).toEqual([3, 3]);
    expect(reasons("llama with a singular W_K")).toEqual([0, 2]);
    expect(reasons("llama, packed without slimify")).toEqual([4, 4]);
  });

  it("keeps f16 matrices within binary16 rounding, and vectors, W_KV, slim layers' W_K and positions exact", () => {
    for (const c of all) {
      const f = readSlim(packed.get(c.name)!.f16, "model.slim");
      expect(expectAgree(as, packed.get(c.name)!.f16).status).toBe(SLIM_STATUS.OK);
      const wkv = c.report ? c.report.wkv : f.modes.map(() => null);
      for (const t of f.tensors) {
        const got = storedOf(f, t.name);
        const want = valuesOf(c.model, t.name, wkv, f.modes);
        const slimWk = /^layers\.(\d+)\.wk$/.test(t.name) && f.modes[Number(t.name.split(".")[1])] === "slim";
        if (t.shape.length === 1 || t.name.endsWith(".wkv") || t.name === "position_embedding" || slimWk) {
          expect(t.dtype, `${c.name}: ${t.name}`).toBe("f32");
          expectF32(got, want, `${c.name}: ${t.name}`, isFolded(t.name, f.modes));
          continue;
        }
        expect(t.dtype).toBe("f16");
        for (let i = 0; i < want.length; i++) {
          const tol = Math.max(Math.abs(want[i]) * 2 ** -11, 2 ** -25);
          if (!(Math.abs(got[i] - want[i]) <= tol)) expect.fail(`${c.name}: ${t.name}[${i}] = ${got[i]}, want ${want[i]} ± ${tol}`);
        }
      }
    }
  });

  /** Packs `c` as q8_0 / q4_0 and checks every tensor against host/quant.ts; returns the file and its reading. */
  const quantRoundTrip = (c: Case, dtype: "q8_0" | "q4_0", g: number) => {
    const bytes = packSlim(c.model, { layers: c.report, tokenizer: c.tokenizer, threshold: c.threshold, dtype, groupSize: g });
    expect(expectAgree(as, bytes).status, c.name).toBe(SLIM_STATUS.OK);
    const f = readSlim(bytes, "model.slim");
    expect(f.groupSize).toBe(g);
    const wkv = c.report ? c.report.wkv : f.modes.map(() => null);
    const stored = new Map(f.tensors.map((t) => [t.name, t]));
    for (const t of slimTensorList(c.model.config, f.modes)) {
      const got = storedOf(f, t.name);
      const want = valuesOf(c.model, t.name, wkv, f.modes);
      const d = stored.get(t.name)!.dtype;
      const slimWk = /^layers\.(\d+)\.wk$/.test(t.name) && f.modes[Number(t.name.split(".")[1])] === "slim";
      const keptF32 = t.shape.length === 1 || t.name.endsWith(".wkv") || t.name === "position_embedding" || slimWk;
      expect(d, `${c.name}: ${t.name}`).toBe(keptF32 ? "f32" : dtype);
      expect(d).toBe(storedDtype(t.name, t.shape, f.modes, dtype));
      if (d === "f32") expectF32(got, want, `${c.name}: ${t.name}`, isFolded(t.name, f.modes));
      else expect(bits(got), `${c.name}: ${t.name}`).toEqual(bits(d === "q8_0" ? dequantizeQ8(quantizeQ8(want, g), g) : dequantizeQ4(quantizeQ4(want, g), g)));
    }
    return { bytes, f };
  };

  it("stores q8_0 matrices in host/core/quant.ts's layout and reads back exactly dequantizeQ8; slim W_K, W_KV and vectors stay f32", () => {
    const quantized = [];
    for (const c of all) {
      const { f } = quantRoundTrip(c, "q8_0", 8);
      quantized.push(...f.tensors.filter((t) => t.dtype === "q8_0").map((t) => t.name));
      // the bytes on file are q8Bytes of the original
      const t = f.tensors.find((e) => e.name === "layers.0.wq")!;
      const bytes = packSlim(c.model, { layers: c.report, dtype: "q8_0", groupSize: 8 });
      const h = checkSlim(bytes, "m.slim");
      const e = h.tensors.find((x) => x.name === "layers.0.wq")!;
      expect([...bytes.subarray(h.headerBytes + e.offset, h.headerBytes + e.offset + e.byteLength)]).toEqual([...q8Bytes(c.model.weights.layers[0].wq, 8)]);
      expect(t.byteLength).toBe(t.shape[0] * t.shape[1] * (1 + 4 / 8));
    }
    expect(new Set(quantized)).toEqual(new Set(["token_embedding", "classifier", ...["wq", "wk", "wv", "wo", "w1", "w2", "w3"].flatMap((k) => [0, 1, 2].map((l) => `layers.${l}.${k}`))]));
  });

  it("stores q4_0 matrices (groups of 32 and smaller) and reads back exactly dequantizeQ4", () => {
    const fits = all.filter((c) => c.model.config.dim % 32 === 0 && c.model.config.hiddenDim % 32 === 0);
    expect(fits.length).toBeGreaterThanOrEqual(3);
    const runs = [...fits.map((c) => ({ c, g: 32 })), ...all.map((c) => ({ c, g: groupSizeFor(c.model.config, "q4_0") })), { c: all[0], g: 2 }];
    expect(new Set(runs.map((r) => r.g))).toEqual(new Set([32, 16, 8, 2]));
    for (const { c, g } of runs) {
      const { bytes, f } = quantRoundTrip(c, "q4_0", g);
      for (const t of f.tensors.filter((e) => e.dtype === "q4_0")) {
        const at = f.headerBytes + t.offset;
        const orig = valuesOf(c.model, t.name, []);
        expect(t.byteLength).toBe(t.shape[0] * t.shape[1] * (1 / 2 + 4 / g));
        expect([...bytes.subarray(at, at + t.byteLength)], t.name).toEqual([...q4Bytes(orig, g)]);
        // re-quantizing the stored values gives the stored bytes again: exact for q4_0
        expect([...q4Bytes(storedOf(f, t.name), g)], t.name).toEqual([...q4Bytes(orig, g)]);
      }
    }
    expect(() => packSlim(all[0].model, { layers: all[0].report, dtype: "q4_0", groupSize: 3 })).toThrow(/^lower: q4_0 group size 3 must be an even whole number ≥ 2\.$/);
    expect(() => packSlim(all[1].model, { layers: all[1].report, dtype: "q4_0", groupSize: 32 })).toThrow(/q4_0 group size 32 does not divide dim 16/);
    expect(() => packSlim(all[1].model, { layers: all[1].report, dtype: "q8_0", groupSize: 32 })).toThrow(/q8_0 group size 32 does not divide dim 16/);
  });

  it("picks the group size when none is given: 32, halved until it divides dim and hidden_dim", () => {
    const shaped = (dim: number, hiddenDim: number) => ({ ...all[0].model.config, dim, hiddenDim });
    expect(groupSizeFor(shaped(128, 352))).toBe(32);
    expect(groupSizeFor(shaped(64, 172))).toBe(4); // stories260K
    expect(groupSizeFor(shaped(48, 136))).toBe(8);
    expect(groupSizeFor(shaped(64, 2))).toBe(2);
    expect(() => groupSizeFor(shaped(64, 171))).toThrow(/^q8_0 needs matrix rows of an even length; the model has dim 64 and hidden_dim 171 \(f16 and f32 weights take any\)$/);
    // q4_0 by the same rule
    expect(groupSizeFor(shaped(128, 352), "q4_0")).toBe(32);
    expect(groupSizeFor(shaped(64, 172), "q4_0")).toBe(4);
    expect(() => groupSizeFor(shaped(64, 171), "q4_0")).toThrow(/^q4_0 needs matrix rows of an even length; the model has dim 64 and hidden_dim 171 \(f16 and f32 weights take any\)$/);
    const c = all.find((x) => x.model.config.dim % 32 !== 0)!;
    for (const dtype of ["q8_0", "q4_0"] as const) {
      const f = readSlim(packSlim(c.model, { layers: c.report, dtype }), "m.slim");
      expect(f.groupSize).toBe(groupSizeFor(c.model.config));
      expect(f.groupSize).toBeLessThan(32);
    }
  });

  it("re-quantizes stored q8_0 values to the same int8 values and scales (exact, see host/core/quant.ts storedValues)", () => {
    for (const c of all) {
      const { f } = quantRoundTrip(c, "q8_0", 8);
      for (const t of f.tensors.filter((e) => e.dtype === "q8_0")) {
        const a = quantizeQ8(valuesOf(c.model, t.name, []), 8);
        const b = quantizeQ8(storedOf(f, t.name), 8);
        expect([...b.values], t.name).toEqual([...a.values]);
        expect(bits(b.scales), t.name).toEqual(bits(a.scales));
      }
    }
    // the scales quantizeQ8 makes (fround(amax / 127)) survive fround(fround(127·s) / 127), over a whole binade of amax
    const f = Math.fround;
    const amax = new Float32Array(1);
    const word = new Uint32Array(amax.buffer);
    let moved = 0;
    for (let m = 0; m < 1 << 23; m++) {
      word[0] = (127 << 23) | m;
      const s = f(amax[0] / 127);
      if (f(f(127 * s) / 127) !== s) moved++;
    }
    expect(moved).toBe(0);
  });

  it("reads back as the standard model it computes: W_V = W_KV·W_K, and with biases the float64 reference's logits", () => {
    const c = all[0];
    const f = readSlim(packed.get(c.name)!.f32, "model.slim");
    const want = c.model.weights.layers[0].wv;
    const got = standardModel(f.lowered).weights.layers[0].wv;
    let err = 0;
    let ref = 0;
    for (let i = 0; i < want.length; i++) {
      err += (got[i] - want[i]) ** 2;
      ref += want[i] ** 2;
    }
    expect(Math.sqrt(err / ref)).toBeLessThan(1e-4);
    // Biased slim layers store b_O folded and no b_V: the standard model they stand for (b_V = W_KV·b_K)
    // gives the independent float64 reference's logits of the original model.
    for (const name of ["gpt2-like (LayerNorm, GELU, learned positions, biases)", "neox-like (partial RoPE, parallel residual, biases, own classifier)"]) {
      const k = all.find((x) => x.name === name)!;
      const g = readSlim(packed.get(name)!.f32, "model.slim");
      expect(g.modes, name).toContain("slim");
      expect(g.tensors.some((t) => /^layers\.\d+\.bv$/.test(t.name) && g.modes[Number(t.name.split(".")[1])] === "slim"), name).toBe(false);
      const tokens = fixedTokens(k.model.config.vocabSize, 8);
      const a = referenceCanonical(k.model, tokens);
      const b = referenceCanonical(standardModel(g.lowered), tokens);
      for (let p = 0; p < tokens.length; p++) expect(logitsRatio(Float32Array.from(b[p]), Float32Array.from(a[p])), `${name} position ${p}`).toBeLessThan(1e-4);
    }
  });

  it("hands the decoder a q8_0 / q4_0 file's bytes as they are: its weight region holds them, in the streaming order", async () => {
    const c = all[0]; // dim 32, hidden 64, both layers slim
    for (const dtype of ["q8_0", "q4_0"] as const) {
      const bytes = packSlim(c.model, { layers: c.report, dtype });
      const f = readSlim(bytes, "model.slim");
      const plan = planArena(f.config, 32, f.modes, { weights: dtype });
      const d = await Decoder.create(f.lowered, plan, "scalar");
      const region = d.weightRegion();
      const base = plan.regions.find((r) => r.name === "weights")!.offset;
      const spans = [plan.embedding, ...plan.layers.flatMap((l) => [l.attnNorm, l.wq, l.wk, l.wvOrWkv, l.wo, l.ffnNorm, l.w1, l.w2, l.w3]), plan.finalNorm];
      let quantized = 0;
      for (const t of f.tensors) {
        const span = spans.find((s) => s.name === t.name)!;
        const onFile = bytes.subarray(f.headerBytes + t.offset, f.headerBytes + t.offset + t.byteLength);
        expect(span.size, t.name).toBe(t.byteLength);
        // the same bytes, matrices reordered into the streaming layout (host/core/layout.ts): back in row order they are the file's
        const held = region.subarray(span.offset - base, span.offset - base + span.size);
        const rowOrder = t.shape.length === 2 && !t.name.endsWith(".wkv") ? fromStream(held, t.dtype, t.shape[0], t.shape[1], t.dtype === dtype ? 32 : 1) : held;
        if (t.shape.length === 2) expect(Buffer.from(held).equals(Buffer.from(onFile)), `${dtype} ${t.name} is reordered`).toBe(false);
        if (!t.name.endsWith(".wkv")) expect(Buffer.from(rowOrder).equals(Buffer.from(onFile)), `${dtype} ${t.name}`).toBe(true);
        if (t.dtype === dtype) quantized++;
      }
      expect(quantized).toBe(1 + 2 * 5); // token_embedding; wq, wo, w1, w2 and w3 of both (slim) layers
    }
  });

  it("gives the decoder the same logits as the checkpoint it came from", async () => {
    const c = all[0];
    const tokens = fixedTokens(c.model.config.vocabSize, 20);
    const fromModel = async (m: Model, modes: ("slim" | "vanilla")[], wkv: (Float32Array | null)[], weights: "f32" | "q8_0" | "q4_0" = "f32") => {
      const d = await decoderFor(m, planArena(m.config, 32, modes, { weights }), wkv, "scalar");
      return Float32Array.from(d.prefill(tokens));
    };
    const fromFile = async (f: SlimFile) => {
      const d = await Decoder.create(f.lowered, planArena(f.config, 32, f.modes, { weights: f.lowered.weights }), "scalar");
      return Float32Array.from(d.prefill(tokens));
    };
    const modes = c.report!.layers.map((l) => l.mode);
    const want = await fromModel(c.model, modes, c.report!.wkv);
    const f = readSlim(packed.get(c.name)!.f32, "model.slim");
    expect(bits(await fromFile(f))).toEqual(bits(want));
    const h = readSlim(packed.get(c.name)!.f16, "model.slim");
    expect(logitsRatio(await fromFile(h), want)).toBeLessThan(1e-2);
    const vanilla = await fromModel(c.model, ["vanilla", "vanilla"], [null, null]);
    expect(logitsRatio(await fromModel(standardModel(f.lowered), ["vanilla", "vanilla"], [null, null]), vanilla)).toBeLessThan(1e-4); // W_V rebuilt from W_KV
    // q8_0 / q4_0: a file and the checkpoint lowered in memory put the same bytes in the arena
    for (const dtype of ["q8_0", "q4_0"] as const) {
      const q = readSlim(packSlim(c.model, { layers: c.report, dtype }), "model.slim");
      expect(bits(await fromFile(q)), dtype).toEqual(bits(await fromModel(c.model, modes, c.report!.wkv, dtype)));
    }
  });

  it("hands `slimedge run` and `build` the stored modes, bytes and embedded tokenizer, and refuses flags that ask for others", () => {
    const dir = mkdtempSync(join(tmpdir(), "slimedge-container-"));
    const path = join(dir, "m.slim");
    writeFileSync(path, packed.get("llama with a singular W_K")!.f32);
    const src = openModel(path);
    const r = lowerSource(src, { mode: "slim" });
    expect(r.lowered.modes).toEqual(["slim", "vanilla"]);
    expect(r.lowered).toBe(src.slim!.lowered); // the stored bytes, not a copy lowered again
    expect(r.notes).toEqual([expect.stringMatching(/^layer 1 keeps its V-cache .*: W_K of layer 1 is singular/)]);
    expect(loadModelTokenizer(src, undefined).prompt("the")).toEqual(readTokenizer(tokenizerBin, "t", V).encode("the", { bos: true }));
    expect(() => lowerSource(src, { mode: "slim", weights: "q8_0" })).toThrow(/--weights q8_0: .*m\.slim stores f32 weights, and they run as stored; convert the checkpoint again with --weights q8_0/);
    expect(() => lowerSource(src, { mode: "vanilla" })).toThrow(/--mode vanilla: .*m\.slim stores layer 0 slim/);
  });
});

// ---------------------------------------------------------------------------------------------------------
// broken files, one part at a time

/** A copy of `bytes` with `edit` applied and both CRCs recomputed: only the structure checks can object. */
function edited(bytes: Uint8Array, edit: (v: DataView, b: Uint8Array) => void, reseal = true): Uint8Array {
  const b = bytes.slice();
  edit(new DataView(b.buffer), b);
  return reseal ? sealSlim(b) : b;
}
const entryAt = (h: SlimHeader, i: number) => FIXED_HEADER_BYTES + LAYER_RECORD_BYTES * h.config.nLayers + TENSOR_ENTRY_BYTES * i;
const setName = (b: Uint8Array, at: number, name: string) => {
  b.fill(0, at, at + TENSOR_NAME_BYTES);
  b.set([...name].map((ch) => ch.charCodeAt(0)), at);
};

describe("readers name the broken part", () => {
  it("and agree on each", () => {
    const good = packed.get("llama with a singular W_K")!.f32; // layer 0 slim, layer 1 vanilla, tokenizer embedded
    const h = checkSlim(good, "model.slim");
    const scaled = packed.get("llama with RoPE frequency factors (Llama 3.x rope_scaling)")!.f32; // 4 f64 after the table
    const hs = checkSlim(scaled, "model.slim");
    const factorsAt = FIXED_HEADER_BYTES + LAYER_RECORD_BYTES * hs.config.nLayers + TENSOR_ENTRY_BYTES * hs.tensors.length;
    const idx = (name: string) => h.tensors.findIndex((t) => t.name === name);
    const e = (name: string) => entryAt(h, idx(name));
    const u32 = (at: number, x: number) => (v: DataView) => v.setUint32(at, x, true);
    const S = SLIM_STATUS;
    const broken: [string, Uint8Array, number, RegExp?][] = [
      ["3 bytes", good.subarray(0, 3), S.TRUNCATED_HEADER],
      ["magic", edited(good, (_, b) => b.set([0x61, 0x6b, 0x34, 0x32], 0), false), S.BAD_MAGIC, /llama2\.c checkpoint/],
      ["7 bytes", good.subarray(0, 7), S.TRUNCATED_HEADER, /before the format version/],
      ["version", edited(good, u32(HEADER.version, 4), false), S.BAD_VERSION, /version is 4, but this reader knows \.slim versions 2\.\.3 only\.$/],
      ["version 3 with neither flag bit 4 nor 5", edited(good, u32(HEADER.version, 3), false), S.BAD_FIELD, /flags is .*, expected bit 4 \(classifier bias\) or bit 5 \(RoPE frequency factors\) set in a version 3 file/],
      ["version 1", edited(good, u32(HEADER.version, 1), false), S.BAD_VERSION, /version is 1, but this reader knows \.slim versions 2\.\.3 only; convert the checkpoint again/],
      ["100 bytes", good.subarray(0, 100), S.TRUNCATED_HEADER, /shorter than the 128-byte fixed header/],
      ["header_bytes misaligned", edited(good, u32(HEADER.headerBytes, h.headerBytes + 4), false), S.BAD_HEADER_LENGTH],
      ["cut in the table", good.subarray(0, h.headerBytes - 40), S.TRUNCATED_HEADER, /header_bytes says the header is \d+ bytes/],
      ["header CRC", edited(good, (_, b) => (b[e("layers.0.wq") + ENTRY.shape] ^= 1), false), S.HEADER_CRC, /over bytes 16\.\.\d+\): the header, layer records or tensor table are corrupt/],
      ["arch", edited(good, u32(HEADER.arch, 3)), S.BAD_FIELD, /header field arch is 3, expected 0 \(llama\), 1 \(gpt2\) or 2 \(neox\)|header field arch is 3, expected 0 \(llama\), 1 \(gpt2\), 2 \(neox\)/],
      ["dim 0", edited(good, u32(HEADER.dim, 0)), S.BAD_FIELD, /header field dim is 0/],
      ["heads", edited(good, u32(HEADER.nHeads, 3)), S.BAD_FIELD, /dim is 16, expected a multiple of n_heads=3/],
      ["rotary", edited(good, u32(HEADER.rotaryDims, 3)), S.BAD_FIELD, /rotary_dims/],
      ["flags", edited(good, u32(HEADER.flags, 0x20)), S.BAD_FIELD, /flags/],
      ["flags: factors, none stored", edited(good, (v) => (v.setUint32(HEADER.version, 3, true), v.setUint32(HEADER.flags, v.getUint32(HEADER.flags, true) | FLAG.ropeFreqFactors, true))), S.BAD_HEADER_LENGTH, /and 4 RoPE frequency factors need \d+/],
      ["version 2 with flag bit 5", edited(scaled, u32(HEADER.version, 2), false), S.BAD_FIELD, /header field flags is 0x[0-9a-f]+, expected only bits 0\.\.3/],
      ["RoPE factor NaN", edited(scaled, (v) => v.setFloat64(factorsAt + 24, NaN, true)), S.BAD_FIELD, /header field rope_freq_factors is NaN at pair 3, expected a finite number > 0/],
      ["RoPE factor 0", edited(scaled, (v) => v.setFloat64(factorsAt, 0, true)), S.BAD_FIELD, /rope_freq_factors is 0 at pair 0/],
      ["eps", edited(good, (v) => v.setFloat64(HEADER.normEps, NaN, true)), S.BAD_FIELD, /norm_eps is NaN/],
      ["group size", edited(good, u32(HEADER.groupSize, 3)), S.BAD_FIELD, /group_size/],
      ["tokenizer kind", edited(good, u32(HEADER.tokenizerKind, 9)), S.BAD_FIELD, /tokenizer_kind/],
      ["n_tensors", edited(good, u32(HEADER.nTensors, h.tensors.length - 1)), S.BAD_HEADER_LENGTH, /need \d+/],
      ["truncated data", good.subarray(0, good.length - 16), S.FILE_LENGTH, /truncated: file is \d+ bytes, but header field file_bytes says \d+/],
      ["trailing bytes", Uint8Array.from([...good, 0]), S.FILE_LENGTH, /trailing bytes/],
      ["data CRC", edited(good, (_, b) => (b[h.headerBytes + 100] ^= 0x80), false), S.DATA_CRC, /tensor data or the tokenizer is corrupt/],
      ["slim with a reason", edited(good, u32(FIXED_HEADER_BYTES + LAYER.reason, 2)), S.BAD_LAYER, /layer record 0: mode 1 \(slim\) with reason 2/],
      ["unmeasured value", edited(good, u32(FIXED_HEADER_BYTES + LAYER.measured, 0)), S.BAD_LAYER, /layer record 0: cond is marked unmeasured but holds/],
      ["slim under GQA", edited(good, u32(HEADER.nKvHeads, 1)), S.BAD_LAYER, /layer record 0: slim, but the model has grouped K\/V/],
      ["name bytes", edited(good, (_, b) => (b[e("layers.0.wq")] = 0x41)), S.BAD_TENSOR_ENTRY, /name field/],
      ["dtype code", edited(good, u32(e("layers.0.wq") + ENTRY.dtype, 9)), S.BAD_TENSOR_ENTRY, /dtype code 9 is unknown/],
      ["n_dims", edited(good, u32(e("layers.0.wq") + ENTRY.nDims, 5)), S.BAD_TENSOR_ENTRY, /n_dims is 5/],
      ["wv in a slim layer", edited(good, (_, b) => setName(b, e("layers.0.wkv"), "layers.0.wv")), S.UNEXPECTED_TENSOR, /layer 0 is slim, which stores layers\.0\.wkv instead/],
      ["layer beyond", edited(good, (_, b) => setName(b, e("layers.1.w3"), "layers.2.w3")), S.UNEXPECTED_TENSOR, /layers 0\.\.1/],
      ["leading zero", edited(good, (_, b) => setName(b, e("layers.1.w3"), "layers.01.w3")), S.UNEXPECTED_TENSOR, /leading zeros/],
      ["duplicate", edited(good, (_, b) => setName(b, e("layers.0.wq"), "layers.0.attn_norm")), S.DUPLICATE_TENSOR, /\(layers\.0\.attn_norm\): duplicate of entry 1/],
      ["shape", edited(good, u32(e("layers.0.wk") + ENTRY.shape + 4, 8)), S.TENSOR_SHAPE, /tensor layers\.0\.wk \(table entry \d+\): shape 16×8 does not match the config \(kvDim × dim = 16×16\)/],
      ["f16 vector", edited(good, u32(e("layers.0.attn_norm") + ENTRY.dtype, 1)), S.TENSOR_DTYPE, /vectors \(norms, biases\) are stored as f32/],
      ["f16 slim W_K", edited(good, u32(e("layers.0.wk") + ENTRY.dtype, 1)), S.TENSOR_DTYPE, /\(layers\.0\.wk\): dtype f16, but W_KV, slim layers' W_K and the position embedding are stored as f32/],
      ["q8_0 W_KV", edited(good, u32(e("layers.0.wkv") + ENTRY.dtype, 2)), S.TENSOR_DTYPE, /\(layers\.0\.wkv\): dtype q8_0, but W_KV/],
      ["byte length", edited(good, (v) => v.setBigUint64(e("layers.0.wq") + ENTRY.byteLength, 1000n, true)), S.TENSOR_DTYPE, /byte_length is 1000, but 16×16 f32 values take 1024/],
      ["misaligned", edited(good, (v) => v.setBigUint64(e("layers.0.wq") + ENTRY.offset, BigInt(h.tensors[idx("layers.0.wq")].offset + 4), true)), S.TENSOR_BOUNDS, /is not a multiple of 16/],
      ["overlap", edited(good, (v) => v.setBigUint64(e("layers.0.wq") + ENTRY.offset, BigInt(h.tensors[idx("layers.0.wq") - 1].offset), true)), S.TENSOR_BOUNDS, /before the end .* of entry \d+/],
      ["beyond", edited(good, (v) => v.setBigUint64(e("layers.1.w3") + ENTRY.offset, 1n << 40n, true)), S.TENSOR_BOUNDS, /offset 1099511627776 \+ length 2048 is beyond the data section/],
      ["tokenizer beyond", edited(good, (v) => v.setBigUint64(HEADER.tokenizerBytes, BigInt(h.tokenizerBytes + 64), true)), S.BAD_TOKENIZER, /beyond the data section/],
      ["tokenizer over tensors", edited(good, (v) => v.setBigUint64(HEADER.tokenizerOffset, 0n, true)), S.BAD_TOKENIZER, /before the end/],
      ["no tokenizer with bytes", edited(good, u32(HEADER.tokenizerKind, 0)), S.BAD_TOKENIZER, /kind 0 \(none\) with offset/],
      ["data section padding", edited(Uint8Array.from([...good, ...new Uint8Array(16)]), (v) => v.setBigUint64(HEADER.fileBytes, BigInt(good.length + 16), true)), S.DATA_LENGTH, /should be \d+/],
    ];
    for (const [what, bytes, status, message] of broken) {
      const { ts } = expectAgree(as, bytes);
      expect(statusName(ts.status), what).toBe(statusName(status));
      if (message) expect(ts.error!.message, what).toMatch(message);
      expect(() => readSlim(bytes, "model.slim")).toThrow(SlimError);
    }
  });

  it("writes version 2 without RoPE frequency factors, version 3 with them, and reads their factors exactly", () => {
    const good = packed.get("llama with a singular W_K")!.f32;
    expect(checkSlim(good, "model.slim").version).toBe(2);
    const scaledBytes = packed.get("llama with RoPE frequency factors (Llama 3.x rope_scaling)")!.f32;
    expect(checkSlim(scaledBytes, "model.slim").version).toBe(3);
    const scaled = readSlim(scaledBytes, "model.slim");
    expect(scaled.config.ropeFreqFactors).toEqual([1, 1.75, 5.5, 8]);
    expect(scaled.lowered.tensors.some((t) => t.name.includes("rope"))).toBe(false); // config, not a tensor the arena places
    // a flip of the version field between 2 and 3 is caught either way (the field is outside both CRCs)
    const v3 = edited(good, (v) => v.setUint32(HEADER.version, 3, true), false);
    const { ts } = expectAgree(as, v3);
    expect(ts.error!.message).toMatch(/header field flags is 0x[0-9a-f]+, expected bit 4 \(classifier bias\) or bit 5 \(RoPE frequency factors\) set in a version 3 file/);
  });

  it("names a missing tensor", () => {
    const c = all[0];
    const f = readSlim(packed.get(c.name)!.f32, "model.slim");
    const tensors: RawTensor[] = f.tensors.filter((t) => t.name !== "layers.1.w3").map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, data: new Uint8Array(4 * t.shape.reduce((p, s) => p * s, 1)) }));
    const bytes = encodeSlim({ config: f.config, layers: f.layers.map((l) => ({ mode: l.mode, reason: l.reasonCode, values: LAYER_VALUES.map((k) => l[k]) })), threshold: f.threshold, groupSize: 0, tensors, tokenizer: null });
    const { ts } = expectAgree(as, bytes);
    expect(ts.status).toBe(SLIM_STATUS.MISSING_TENSOR);
    expect(ts.error!.message).toMatch(/tensor layers\.1\.w3 \(hidden_dim × dim\) is missing from the tensor table; a llama model with .*SwiGLU.* needs it/);
  });

  it("accepts q8_0 / q4_0 entries with any even group; loads either, refuses the two mixed", () => {
    const c = all[0];
    const f = readSlim(packed.get(c.name)!.f32, "model.slim");
    const g = 8;
    const tensors: RawTensor[] = f.tensors.map((t) => {
      const n = t.shape.reduce((p, s) => p * s, 1);
      const dtype = t.name === "layers.0.wq" ? "q8_0" : t.name === "layers.0.wo" ? "q4_0" : t.dtype;
      return { name: t.name, dtype, shape: t.shape, data: new Uint8Array(dtype === "q8_0" ? n + (4 * n) / g : dtype === "q4_0" ? n / 2 + (4 * n) / g : t.byteLength) };
    });
    const bytes = encodeSlim({ config: f.config, layers: f.layers.map((l) => ({ mode: l.mode, reason: l.reasonCode, values: LAYER_VALUES.map((k) => l[k]) })), threshold: f.threshold, groupSize: g, tensors, tokenizer: null });
    expect(expectAgree(as, bytes).status).toBe(SLIM_STATUS.OK);
    const e = (() => {
      try {
        readSlim(bytes, "model.slim");
      } catch (err) {
        return err as SlimError;
      }
    })();
    expect(e).toBeInstanceOf(SlimError);
    expect(e!.code).toBe("E_MODEL");
    expect(e!.message).toMatch(/tensor layers\.0\.wq is q8_0, but token_embedding is f32/);
    // all of them q4_0 at groups of 8: loads, with the group size the plan then uses
    const q4 = tensors.map((t) =>
      storedDtype(t.name, t.shape, f.modes, "q4_0") === "q4_0" ? { ...t, dtype: "q4_0" as const, data: new Uint8Array((t.shape[0] * t.shape[1]) / 2 + (4 * t.shape[0] * t.shape[1]) / g).fill(0x88) } : t.dtype === "f32" ? t : { ...t, dtype: "f32" as const, data: new Uint8Array(4 * t.shape[0] * t.shape[1]) },
    );
    const q4File = readSlim(encodeSlim({ config: f.config, layers: f.layers.map((l) => ({ mode: l.mode, reason: l.reasonCode, values: LAYER_VALUES.map((k) => l[k]) })), threshold: f.threshold, groupSize: g, tensors: q4, tokenizer: null }), "model.slim");
    expect(q4File.lowered.weights).toBe("q4_0");
    expect(q4File.lowered.groupSize).toBe(g);
    expect(planOptionsFor(q4File.lowered)).toEqual({ weights: "q4_0", groupSize: g });
    // one q8_0 matrix among f32 ones passes the checks, but no decoder runs two weight dtypes
    const q8only = tensors.map((t) => (t.dtype === "q4_0" ? { ...t, dtype: "f32" as const, data: new Uint8Array(4 * t.shape[0] * t.shape[1]) } : t));
    const mixed = encodeSlim({ config: f.config, layers: f.layers.map((l) => ({ mode: l.mode, reason: l.reasonCode, values: LAYER_VALUES.map((k) => l[k]) })), threshold: f.threshold, groupSize: g, tensors: q8only, tokenizer: null });
    expect(expectAgree(as, mixed).status).toBe(SLIM_STATUS.OK);
    expect(() => readSlim(mixed, "model.slim")).toThrow(/tensor layers\.0\.wq is q8_0, but token_embedding is f32/);
    // all of them q8_0: zero bytes are int8 0 and scale 0
    const q8 = tensors.map((t) => (t.shape.length === 2 && !t.name.endsWith(".wkv") && !t.name.endsWith(".wk") ? { ...t, dtype: "q8_0" as const, data: new Uint8Array((t.shape[0] * t.shape[1] * (g + 4)) / g) } : t.dtype === "q4_0" ? { ...t, dtype: "f32" as const, data: new Uint8Array(4 * t.shape[0] * t.shape[1]) } : t));
    const ok = readSlim(encodeSlim({ config: f.config, layers: f.layers.map((l) => ({ mode: l.mode, reason: l.reasonCode, values: LAYER_VALUES.map((k) => l[k]) })), threshold: f.threshold, groupSize: g, tensors: q8, tokenizer: null }), "model.slim");
    expect([...storedOf(ok, "layers.0.wq")]).toEqual(Array(f.config.dim * f.config.dim).fill(0));
  });
});

// ---------------------------------------------------------------------------------------------------------
// robustness

describe("robustness", () => {
  it("refuses a header claiming 100,000 layers, whose header_bytes, records and CRCs all fit it, at the n_layers field: both readers, the shared range", async () => {
    const good = packed.get("llama with a singular W_K")!.f32;
    const h = checkSlim(good, "model.slim");
    const L = 100_000;
    const nTensors = h.tensors.length;
    const headerBytes = Math.ceil((FIXED_HEADER_BYTES + LAYER_RECORD_BYTES * L + TENSOR_ENTRY_BYTES * nTensors) / 16) * 16;
    const data = good.subarray(h.headerBytes);
    const b = new Uint8Array(headerBytes + data.length);
    const v = new DataView(b.buffer);
    b.set(good.subarray(0, FIXED_HEADER_BYTES));
    v.setUint32(HEADER.nLayers, L, true);
    v.setUint32(HEADER.headerBytes, headerBytes, true);
    v.setBigUint64(HEADER.fileBytes, BigInt(b.length), true);
    for (let l = 0; l < L; l++) v.setUint32(FIXED_HEADER_BYTES + LAYER_RECORD_BYTES * l + LAYER.reason, 4, true); // vanilla by choice, all well-formed
    const table = FIXED_HEADER_BYTES + LAYER_RECORD_BYTES * h.config.nLayers;
    b.set(good.subarray(table, table + TENSOR_ENTRY_BYTES * nTensors), FIXED_HEADER_BYTES + LAYER_RECORD_BYTES * L);
    b.set(data, headerBytes);
    sealSlim(b);
    const big = await asReader(b.length + 4096);
    const { status, ts } = expectAgree(big, b);
    expect(statusName(status)).toBe("BAD_FIELD");
    expect(ts.error!.message).toBe("model.slim: header field n_layers is 100000, expected between 1 and 1024.");
    // 1024 layers pass the field check and fail later, at the header length the 2 stored tensors' table gives
    const edge = edited(good, (dv) => dv.setUint32(HEADER.nLayers, 1024, true));
    expect(statusName(expectAgree(as, edge).status)).toBe("BAD_HEADER_LENGTH");
  });

  it("rejects every single-byte corruption and truncation with E_FORMAT, and both readers agree", () => {
    const c = checkpointModel({ dims: small, version: 1, shared: true, seed: 11 }).model;
    const file = packSlim(c, { layers: slimify(c), dtype: "f16", tokenizer: tokenizerBin });
    const h = checkSlim(file, "model.slim");
    const rand = mulberry32(2024);
    const counts = new Map<string, number>();
    let n = 0;
    const reject = (bytes: Uint8Array, what: string) => {
      let model: unknown = null;
      try {
        model = readSlim(bytes, "model.slim").lowered;
      } catch (e) {
        if (!(e instanceof SlimError) || e.code !== "E_FORMAT") throw new Error(`${what}: ${String(e)}`);
      }
      if (model !== null) expect.fail(`${what}: a model came back from a broken file`);
      const { status } = expectAgree(as, bytes);
      counts.set(statusName(status), (counts.get(statusName(status)) ?? 0) + 1);
      n++;
    };
    // single bytes XORed with a random non-zero mask, anywhere; then a denser sample of the header
    for (let k = 0; k < 1500; k++) {
      const at = Math.floor(rand() * file.length);
      const mask = 1 + Math.floor(rand() * 255);
      reject(edited(file, (_, b) => (b[at] ^= mask), false), `byte ${at} ^ ${mask}`);
    }
    for (let k = 0; k < 500; k++) {
      const at = Math.floor(rand() * h.headerBytes);
      const mask = 1 << Math.floor(rand() * 8);
      reject(edited(file, (_, b) => (b[at] ^= mask), false), `header byte ${at} ^ ${mask}`);
    }
    // every bit of the first 24 bytes: magic, version, both CRCs, header_bytes, n_tensors
    for (let at = 0; at < 24; at++) for (let bit = 0; bit < 8; bit++) reject(edited(file, (_, b) => (b[at] ^= 1 << bit), false), `byte ${at} bit ${bit}`);
    // every cut inside the header, then every 37th byte of the data
    for (let cut = 0; cut < file.length; cut += cut < h.headerBytes + 64 ? 1 : 37) reject(file.subarray(0, cut), `cut at ${cut}`);
    expect(n).toBeGreaterThan(4000);
    // BAD_FIELD: version 2 flipped to 3, which needs flag bit 4 or 5 (the version field is outside both CRCs)
    expect([...counts.keys()].sort()).toEqual(["BAD_FIELD", "BAD_MAGIC", "BAD_VERSION", "BAD_HEADER_LENGTH", "DATA_CRC", "FILE_LENGTH", "HEADER_CRC", "TRUNCATED_HEADER"].sort());
  });

  it("agrees with itself on resealed header corruptions (structure checks behind a valid CRC)", () => {
    const c = checkpointModel({ dims: small, version: 1, shared: true, seed: 12 }).model;
    const file = packSlim(c, { layers: slimify(c), dtype: "f32", tokenizer: tokenizerBin });
    const h = checkSlim(file, "model.slim");
    const rand = mulberry32(77);
    const seen = new Set<string>();
    for (let k = 0; k < 1500; k++) {
      const at = 16 + Math.floor(rand() * (h.headerBytes - 16));
      const mask = 1 << Math.floor(rand() * 8);
      const bytes = edited(file, (_, b) => (b[at] ^= mask));
      let result: string;
      try {
        readSlim(bytes, "model.slim");
        result = "read";
      } catch (e) {
        if (!(e instanceof SlimError)) throw new Error(`byte ${at} ^ ${mask}: ${String(e)}`);
        result = e.code;
      }
      const { status } = expectAgree(as, bytes);
      seen.add(statusName(status));
      expect(result === "read" || result === "E_MODEL", `byte ${at} ^ ${mask}`).toBe(status === SLIM_STATUS.OK);
    }
    // the corruptions reach most structure checks, not only the first
    for (const s of ["OK", "BAD_FIELD", "BAD_LAYER", "BAD_TENSOR_ENTRY", "TENSOR_SHAPE", "TENSOR_DTYPE", "TENSOR_BOUNDS", "BAD_TOKENIZER", "FILE_LENGTH"]) expect(seen).toContain(s);
  });
});

// ---------------------------------------------------------------------------------------------------------
// convert / inspect

describe("slimedge convert and inspect", () => {
  const dir = mkdtempSync(join(tmpdir(), "slimedge-convert-"));
  const dims: Llama2cDims = { dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: V, seqLen: 64 };

  beforeAll(() => {
    writeFileSync(join(dir, "model.bin"), writeV1(dims, randomLlamaWeights(dims, 21)));
    writeFileSync(join(dir, "tokenizer.bin"), tokenizerBin);
  });

  it("converts a llama2.c checkpoint with its tokenizer, calibrated, per --mode", () => {
    const auto = convertModel(join(dir, "model.bin"), join(dir, "auto.slim"), { dtype: "f16", mode: "auto", threshold: 1e-3 });
    const f = readSlim(readFileSync(join(dir, "auto.slim")), "auto.slim");
    expect(f.modes).toEqual(["slim", "slim"]);
    expect(f.layers.every((l) => l.errActivations !== null)).toBe(true); // measured on the calibration prompt
    expect([...f.tokenizer!]).toEqual([...tokenizerBin]);
    expect(auto.notes).toEqual([]);
    convertModel(join(dir, "model.bin"), join(dir, "vanilla.slim"), { dtype: "f32", mode: "vanilla", threshold: 1e-3 });
    expect(readSlim(readFileSync(join(dir, "vanilla.slim")), "v.slim").layers.map((l) => [l.mode, l.reasonCode, l.cond !== null])).toEqual([["vanilla", 4, true], ["vanilla", 4, true]]);
    const forced = convertModel(join(dir, "model.bin"), join(dir, "slim.slim"), { dtype: "f32", mode: "slim", threshold: 1e-15 });
    expect(readSlim(readFileSync(join(dir, "slim.slim")), "s.slim").modes).toEqual(["slim", "slim"]);
    expect(forced.notes).toEqual([expect.stringMatching(/layer 0 is slim by --mode slim although V reconstruction error/), expect.stringMatching(/layer 1/)]);
    expect(importModel(join(dir, "auto.slim")).format).toBe(".slim v2 container");
  });

  it("converts to q8_0 and q4_0: matrices quantized, slim layers' W_K and W_KV f32, both readers agree", () => {
    for (const dtype of ["q8_0", "q4_0"] as const) {
      const out = join(dir, `${dtype}.slim`);
      const r = convertModel(join(dir, "model.bin"), out, { dtype, mode: "auto", threshold: 1e-3 });
      const bytes = readFileSync(out);
      expect(expectAgree(as, bytes).status).toBe(SLIM_STATUS.OK);
      const f = readSlim(bytes, out);
      expect(f.modes).toEqual(["slim", "slim"]);
      expect(f.groupSize).toBe(32);
      const byName = new Map(f.tensors.map((t) => [t.name, t.dtype]));
      expect([byName.get("token_embedding"), byName.get("layers.0.wq"), byName.get("layers.1.w2"), byName.get("layers.0.wk"), byName.get("layers.1.wkv"), byName.get("final_norm")]).toEqual([dtype, dtype, dtype, "f32", "f32", "f32"]);
      const deq = dtype === "q8_0" ? (x: Float32Array) => dequantizeQ8(quantizeQ8(x, 32), 32) : (x: Float32Array) => dequantizeQ4(quantizeQ4(x, 32), 32);
      expect(bits(storedOf(f, "layers.1.w1"))).toEqual(bits(deq(r.imported.model.weights.layers[1].w1)));
      expect(bits(storedOf(f, "layers.0.wk"))).toEqual(bits(r.imported.model.weights.layers[0].wk));
      expect(bits(storedOf(f, "layers.0.wkv"))).toEqual(bits(r.report.wkv[0]!));
      expect(inspectFile(out)).toMatch(new RegExp(`dtypes: f32 [\\d.]+ KiB \\(\\d+ tensors\\), ${dtype}`));
    }
  });

  it("inspects a .slim file and a checkpoint alike", () => {
    convertModel(join(dir, "model.bin"), join(dir, "m.slim"), { dtype: "f16", mode: "auto", threshold: 1e-3 });
    const slim = inspectFile(join(dir, "m.slim"));
    expect(slim).toMatch(/checksums: header CRC32 0x[0-9a-f]{8} ok, data CRC32 0x[0-9a-f]{8} ok/);
    expect(slim).toMatch(/architecture: llama \(RMSNorm, SwiGLU/);
    expect(slim).toMatch(/dtypes: f32 [\d.]+ KiB \(\d+ tensors\), f16/);
    // 2 layers × 32 dims × 4 bytes of K per token; vanilla twice that — numbers from planArena(ctx 1)
    expect(slim).toMatch(/context memory per token: 256 bytes with 2 of 2 layers slim \(SS\), vanilla 512 bytes/);
    const bin = inspectFile(join(dir, "model.bin"));
    expect(bin).toMatch(/llama2\.c v1 checkpoint/);
    expect(bin).toMatch(/checksums: none/);
    expect(bin).toMatch(/calibrated on \d+ prompt tokens/);
    const rows = (s: string) => s.split("\n").filter((l) => /^\s+\d+\s/.test(l));
    expect(rows(bin)).toHaveLength(2);
    expect(rows(slim)).toEqual(rows(bin)); // the stored report is what slimify measures
  });

  it("works from the command line: convert, inspect, run a .slim, and one line for a broken one", () => {
    const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");
    const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 120_000 });
    const out = join(dir, "cli.slim");
    const conv = cli("convert", join(dir, "model.bin"), "-o", out, "--weights", "f16");
    expect(conv.status, conv.stderr).toBe(0);
    expect(conv.stdout).toMatch(/^wrote .*cli\.slim: \d+ bytes, llama from llama2\.c v1 checkpoint, layers SS .* tokenizer llama2c \d+ bytes embedded/);
    const run = cli("run", out, "-p", "the", "-n", "8", "--temp", "0");
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.startsWith("the")).toBe(true);
    const q8 = join(dir, "cli-q8.slim");
    const convQ8 = cli("convert", join(dir, "model.bin"), "-o", q8, "--weights", "q8_0");
    expect(convQ8.status, convQ8.stderr).toBe(0);
    expect(convQ8.stdout).toMatch(/matrices q8_0 \(W_KV, slim layers' W_K and positions f32\)/);
    expect(readSlim(readFileSync(q8), "q8.slim").tensors.find((t) => t.name === "layers.0.wq")!.dtype).toBe("q8_0");
    const runQ8 = cli("run", q8, "-p", "the", "-n", "8", "--temp", "0", "--weights", "q8_0");
    expect(runQ8.status, runQ8.stderr).toBe(0);
    expect(runQ8.stdout.startsWith("the")).toBe(true);
    const broken = readFileSync(out);
    broken[broken.length - 100] ^= 4;
    writeFileSync(join(dir, "broken.slim"), broken);
    const bad = cli("inspect", join(dir, "broken.slim"));
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim().split("\n")).toEqual([expect.stringMatching(/^slimedge: .*broken\.slim: data CRC mismatch \(stored 0x[0-9a-f]{8}, computed 0x[0-9a-f]{8}/)]);
  });
});
