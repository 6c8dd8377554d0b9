/**
 * Robustness of the checkpoint importers against seeded single-byte corruptions and truncations, in the
 * style of container.test.ts's robustness section: a tiny Llama as safetensors (readSafetensors, and the
 * full Hugging Face folder import with config.json) and as GGUF (F32 norms, Q8_0 matrices; readGguf and
 * importGguf). Every read must either throw SlimError E_FORMAT / E_MODEL naming the file, or succeed;
 * never another exception, never a long stall.
 *
 * Neither format has a checksum, so a flip inside tensor data is a valid file with other weights: such a
 * read must succeed and the model must differ from the original in exactly the tensor holding the byte
 * (or not at all, for alignment padding between GGUF tensors). A success from a flip before the data
 * section must give the original model, or fall into one of the categories listed and explained in
 * `headerAcceptance` below. Truncations are always rejected. The category counts are printed.
 */
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { SlimError } from "../host/core/errors.ts";
import type { Model } from "../host/core/model.ts";
import { mulberry32 } from "../host/core/synthetic.ts";
import { type GgufFile, ggufTokenizerBin, importGguf, readGguf } from "../tools/convert/gguf.ts";
import { importHfLlama } from "../tools/convert/hf-llama.ts";
import { readSafetensors, type SafetensorsFile } from "../tools/convert/safetensors.ts";
import { GT, writeGguf, writeGgufLlama } from "./fixtures/gguf-writer.ts";
import { randomHfLlama, writeHfCheckpoint } from "./fixtures/safetensors-writer.ts";

const root = mkdtempSync(join(tmpdir(), "slimedge-import-fuzz-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const FLIPS = 1200; // uniformly random offsets
const HEADER_FLIPS = 600; // a denser sample of the bytes before the data section
const SPREAD_CUTS = 300; // truncation points spread over the whole file, after every cut in the first 64 bytes

// ---------------------------------------------------------------------------------------------------------
// shared machinery

interface Outcome<T> {
  value?: T;
  error?: SlimError;
  crash?: unknown; // anything that is not a SlimError
}

/** Runs one read, timing it; SlimErrors and other exceptions are returned, not thrown. */
class Runner {
  failures: string[] = [];
  counts = new Map<string, number>();
  maxMs = 0;
  reads = 0;

  attempt<T>(what: string, name: string, run: () => T): Outcome<T> {
    const t0 = performance.now();
    let out: Outcome<T>;
    try {
      out = { value: run() };
    } catch (e) {
      out = e instanceof SlimError ? { error: e } : { crash: e };
    }
    const ms = performance.now() - t0;
    this.maxMs = Math.max(this.maxMs, ms);
    this.reads++;
    if (out.crash !== undefined) this.fail(`${what}: threw ${String(out.crash)} instead of a SlimError`);
    if (out.error) {
      if (out.error.code !== "E_FORMAT" && out.error.code !== "E_MODEL") this.fail(`${what}: SlimError ${out.error.code}: ${out.error.message}`);
      if (!out.error.message.includes(name)) this.fail(`${what}: the message does not name ${name}: ${out.error.message}`);
    }
    return out;
  }

  fail(message: string): void {
    this.failures.push(message);
  }

  count(category: string): void {
    this.counts.set(category, (this.counts.get(category) ?? 0) + 1);
  }

  report(title: string): void {
    const lines = [...this.counts].sort(([a], [b]) => a.localeCompare(b)).map(([k, n]) => `  ${String(n).padStart(5)}  ${k}`);
    console.log(`${title}: ${this.reads} reads, slowest ${this.maxMs.toFixed(1)} ms\n${lines.join("\n")}`);
  }
}

/** A copy of `bytes` with byte `at` XORed with `mask`. */
const flipped = (bytes: Uint8Array, at: number, mask: number): Uint8Array => {
  const b = bytes.slice();
  b[at] ^= mask;
  return b;
};

/** Cut points: every byte of the first 64, then SPREAD_CUTS evenly spread up to (not including) the length. */
function cutPoints(length: number): number[] {
  const cuts = new Set<number>();
  for (let c = 0; c < 64; c++) cuts.add(c);
  for (let k = 0; k < SPREAD_CUTS; k++) cuts.add(64 + Math.floor((k * (length - 64)) / SPREAD_CUTS));
  return [...cuts].filter((c) => c < length).sort((a, b) => a - b);
}

/** Seeded single-byte corruptions: FLIPS anywhere, HEADER_FLIPS before `dataStart`; xor masks 1..255. */
function corruptions(seed: number, length: number, dataStart: number): { at: number; mask: number }[] {
  const rand = mulberry32(seed);
  const mask = () => 1 + Math.floor(rand() * 255);
  const out: { at: number; mask: number }[] = [];
  for (let k = 0; k < FLIPS; k++) out.push({ at: Math.floor(rand() * length), mask: mask() });
  for (let k = 0; k < HEADER_FLIPS; k++) out.push({ at: Math.floor(rand() * dataStart), mask: mask() });
  return out;
}

/** Every weight array of a model under a path (tokenEmbedding, layers.0.wq, ...). */
function weightArrays(m: Model): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [k, v] of Object.entries(m.weights)) if (v instanceof Float32Array) out.set(k, v);
  m.weights.layers.forEach((l, i) => {
    for (const [k, v] of Object.entries(l)) if (v instanceof Float32Array) out.set(`layers.${i}.${k}`, v);
  });
  return out;
}

/** Bit-identical (NaN payloads and -0 included). */
function sameBits(a: Float32Array, b: Float32Array): boolean {
  if (a.length !== b.length) return false;
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

/** Config fields and weight arrays in which two models differ. */
function modelDiff(a: Model, b: Model): { config: string[]; weights: string[] } {
  const ca = a.config as unknown as Record<string, unknown>;
  const cb = b.config as unknown as Record<string, unknown>;
  const config = [...new Set([...Object.keys(ca), ...Object.keys(cb)])].filter((k) => !Object.is(ca[k], cb[k])).sort();
  const wa = weightArrays(a);
  const wb = weightArrays(b);
  const weights = [...new Set([...wa.keys(), ...wb.keys()])].filter((k) => !wa.has(k) || !wb.has(k) || !sameBits(wa.get(k)!, wb.get(k)!)).sort();
  return { config, weights };
}

const describeDiff = (d: { config: string[]; weights: string[] }) => `config [${d.config.join(", ")}], weights [${d.weights.join(", ")}]`;

/** The model field a Llama tensor lands in; `layer` and `kind` come from the tensor's name. */
const LAYER_FIELD: Record<string, string> = {
  input_layernorm: "attnNorm", "self_attn.q_proj": "wq", "self_attn.k_proj": "wk", "self_attn.v_proj": "wv", "self_attn.o_proj": "wo",
  post_attention_layernorm: "ffnNorm", "mlp.gate_proj": "w1", "mlp.down_proj": "w2", "mlp.up_proj": "w3",
  attn_norm: "attnNorm", attn_q: "wq", attn_k: "wk", attn_v: "wv", attn_output: "wo", ffn_norm: "ffnNorm", ffn_gate: "w1", ffn_down: "w2", ffn_up: "w3",
};
const TOP_FIELD: Record<string, string> = {
  "model.embed_tokens.weight": "tokenEmbedding", "lm_head.weight": "classifier", "model.norm.weight": "finalNorm",
  "token_embd.weight": "tokenEmbedding", "output.weight": "classifier", "output_norm.weight": "finalNorm",
};
function fieldOf(tensor: string): string {
  if (TOP_FIELD[tensor]) return TOP_FIELD[tensor];
  const m = /^(?:model\.layers|blk)\.(\d+)\.(.+)\.weight$/.exec(tensor);
  if (!m || !LAYER_FIELD[m[2]]) throw new Error(`no model field for ${tensor}`);
  return `layers.${m[1]}.${LAYER_FIELD[m[2]]}`;
}

// ---------------------------------------------------------------------------------------------------------
// safetensors

describe("safetensors import robustness", () => {
  const hf = randomHfLlama(
    { hidden_size: 16, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 2, num_key_value_heads: 1, vocab_size: 16, max_position_embeddings: 16 },
    31,
  );
  const dir = join(root, "hf");
  mkdirSync(dir);
  writeHfCheckpoint(dir, hf); // F32, __metadata__ {"format": "pt"}
  const stPath = join(dir, "model.safetensors");
  const ST_NAME = "tiny-llama.safetensors";

  it("every single-byte corruption and truncation is rejected with a SlimError naming the file, or read as the data says", () => {
    const original = new Uint8Array(readFileSync(stPath));
    // the layout, from the format description rather than the reader: u64 N, N bytes of JSON, the buffer
    const n = Number(new DataView(original.buffer, original.byteOffset).getBigUint64(0, true));
    const dataStart = 8 + n;
    const json = JSON.parse(new TextDecoder().decode(original.subarray(8, dataStart))) as Record<string, { dtype: string; data_offsets: [number, number] }>;
    const spans = Object.entries(json)
      .filter(([k]) => k !== "__metadata__")
      .map(([tensor, e]) => ({ tensor, start: dataStart + e.data_offsets[0], end: dataStart + e.data_offsets[1] }));
    expect(spans.reduce((s, t) => s + t.end - t.start, 0)).toBe(original.length - dataStart); // no byte of the buffer is unused
    const tensorAt = (at: number) => spans.find((s) => at >= s.start && at < s.end)!.tensor;

    const base = readSafetensors(original, ST_NAME);
    const baseValues = new Map([...base.entries.keys()].map((t) => [t, base.f32(t)]));
    const baseModel = importHfLlama(dir);
    const r = new Runner();

    /** Reads `bytes` both ways; returns the two outcomes. */
    const readBoth = (bytes: Uint8Array, what: string) => {
      const st = r.attempt(`${what} (readSafetensors)`, ST_NAME, () => readSafetensors(bytes, ST_NAME));
      writeFileSync(stPath, bytes);
      const model = r.attempt(`${what} (HF import)`, stPath, () => importHfLlama(dir));
      return { st, model };
    };

    /**
     * Header flips readSafetensors may accept, each explained: JSON whitespace (the writer pads the header
     * with spaces; tab, newline and CR are whitespace too), a __metadata__ value (free text), a tensor name
     * (the file stays valid; the HF import then misses the tensor), and a dtype turned into another of the
     * same width (F32 -> I32 / U32: the byte range still fits; converting it to floats is E_MODEL).
     */
    const headerAcceptance = (st: SafetensorsFile, what: string): string | undefined => {
      const sameEntries = JSON.stringify([...st.entries]) === JSON.stringify([...base.entries]);
      const sameMeta = JSON.stringify(st.metadata) === JSON.stringify(base.metadata);
      if (sameEntries && sameMeta) return "identical (JSON whitespace)";
      if (sameEntries) return "__metadata__ value changed";
      const gone = [...base.entries.keys()].filter((t) => !st.entries.has(t));
      const added = [...st.entries.keys()].filter((t) => !base.entries.has(t));
      if (sameMeta && gone.length === 1 && added.length === 1 && JSON.stringify(st.entries.get(added[0])) === JSON.stringify(base.entries.get(gone[0]))) {
        return "tensor renamed";
      }
      const changed = [...base.entries.keys()].filter((t) => JSON.stringify(st.entries.get(t)) !== JSON.stringify(base.entries.get(t)));
      if (sameMeta && gone.length === 0 && added.length === 0 && changed.length === 1) {
        const [was, now] = [base.entry(changed[0]), st.entry(changed[0])];
        if (was.dtype === "F32" && (now.dtype === "I32" || now.dtype === "U32") && JSON.stringify({ ...now, dtype: "F32" }) === JSON.stringify(was)) {
          const conv = r.attempt(`${what} (f32 of ${changed[0]})`, ST_NAME, () => st.f32(changed[0]));
          if (conv.error?.code !== "E_MODEL") r.fail(`${what}: tensor ${changed[0]} became ${now.dtype}, yet converting it was not refused with E_MODEL`);
          return `dtype F32 -> ${now.dtype} (same width)`;
        }
      }
      return undefined;
    };

    for (const { at, mask } of corruptions(1701, original.length, dataStart)) {
      const what = `byte ${at} ^ ${mask}`;
      const { st, model } = readBoth(flipped(original, at, mask), what);
      if (at >= dataStart) {
        // inside the buffer: a valid file whose one tensor holds another value
        const tensor = tensorAt(at);
        if (!st.value || !model.value) {
          r.fail(`${what}: a flip in the data of ${tensor} was rejected (${(st.error ?? model.error)?.message})`);
          continue;
        }
        if (JSON.stringify([...st.value.entries]) !== JSON.stringify([...base.entries])) r.fail(`${what}: a data flip changed the header entries`);
        for (const [t, values] of baseValues) {
          if (sameBits(st.value.f32(t), values) !== (t !== tensor)) r.fail(`${what}: tensor ${t} ${t === tensor ? "did not change" : "changed"} (the flip is in ${tensor})`);
        }
        const d = modelDiff(model.value, baseModel);
        if (d.config.length !== 0 || d.weights.join() !== fieldOf(tensor)) r.fail(`${what}: a flip in ${tensor} changed ${describeDiff(d)}`);
        r.count("data flip: accepted, only that tensor changed");
        continue;
      }
      // before the buffer: the length field or the JSON header
      if (!st.value) r.count(`header flip: rejected ${st.error?.code ?? "(crash)"}`);
      else {
        const why = headerAcceptance(st.value, what);
        if (why === undefined) r.fail(`${what}: readSafetensors accepted a header flip with an unexplained change`);
        r.count(`header flip: readSafetensors accepted: ${why ?? "UNEXPLAINED"}`);
      }
      if (model.value) {
        // config.json is untouched, so an accepted header must give the very same model
        const d = modelDiff(model.value, baseModel);
        if (d.config.length + d.weights.length !== 0) r.fail(`${what}: the HF import accepted a header flip and changed ${describeDiff(d)}`);
        r.count("header flip: HF import accepted, model identical");
      } else r.count(`header flip: HF import rejected ${model.error?.code ?? "(crash)"}`);
    }

    for (const cut of cutPoints(original.length)) {
      const { st, model } = readBoth(original.subarray(0, cut), `cut at ${cut}`);
      if (st.value || model.value) r.fail(`cut at ${cut}: a truncated file was accepted`);
      else r.count("truncation: rejected by both");
    }
    writeFileSync(stPath, original);

    r.report(`safetensors (${original.length} bytes, data from byte ${dataStart})`);
    expect(r.failures.slice(0, 20)).toEqual([]);
    expect(r.reads).toBeGreaterThan(2 * (FLIPS + HEADER_FLIPS));
  });
});

// ---------------------------------------------------------------------------------------------------------
// GGUF

describe("GGUF import robustness", () => {
  // vocab 17: token_embd is 17 rows of Q8_0 (578 bytes), so 30 bytes of alignment padding follow it
  const hf = randomHfLlama(
    { hidden_size: 32, intermediate_size: 32, num_hidden_layers: 1, num_attention_heads: 4, num_key_value_heads: 2, vocab_size: 17, max_position_embeddings: 16 },
    32,
  );
  const original = writeGgufLlama(hf, { type: "Q8_0" }).bytes; // 2-D tensors Q8_0, norms F32
  const path = join(root, "tiny-llama.gguf");

  /** Metadata and tensor table as comparable text (bigints spelled out). */
  const valueText = (v: unknown) => JSON.stringify(v, (_, x) => (typeof x === "bigint" ? `${x}n` : x));
  const tableText = (f: GgufFile) => valueText({ version: f.version, alignment: f.alignment, metadata: [...f.metadata], tensors: [...f.tensors] });

  it("every single-byte corruption and truncation is rejected with a SlimError naming the file, or read as the data says", () => {
    const base = readGguf(original, path);
    const tensors = [...base.tensors.values()];
    expect(new Set(tensors.map((t) => t.type))).toEqual(new Set([0, 8])); // F32 and Q8_0
    // the data section starts at the first multiple of the alignment after the tensor table
    const dataStart = Math.min(...tensors.map((t) => t.start - t.offset));
    expect(tensors.every((t) => t.start - t.offset === dataStart)).toBe(true);
    expect(dataStart % base.alignment).toBe(0);
    expect(Math.max(...tensors.map((t) => t.start + t.bytes))).toBe(original.length);
    const tensorAt = (at: number) => tensors.find((t) => at >= t.start && at < t.start + t.bytes)?.name;
    const baseText = tableText(base);
    writeFileSync(path, original);
    const baseModel = importGguf(path);
    const r = new Runner();

    const readBoth = (bytes: Uint8Array, what: string) => {
      const file = r.attempt(`${what} (readGguf)`, path, () => readGguf(bytes, path));
      writeFileSync(path, bytes);
      const model = r.attempt(`${what} (importGguf)`, path, () => importGguf(path));
      if (model.value && !file.value) r.fail(`${what}: importGguf accepted what readGguf refused`);
      return { file, model };
    };

    /**
     * Header flips importGguf may accept with a model other than the original, each explained:
     *  - a scalar hyperparameter with nothing to check it against: llama.context_length (seqLen),
     *    layer_norm_rms_epsilon (normEps), rope.freq_base (ropeTheta), rope.dimension_count (rotaryDims,
     *    any even value up to the head size), whether the value or its value type (u32 <-> f32 bits) changed;
     *  - a tensor type turned into a narrower float type whose bytes fit in the same place (F32 -> F16 or
     *    BF16 for a norm): the same dims, half the bytes, other values;
     *  - output.weight renamed: the file then has no classifier, which GGUF means as tied to token_embd.
     * Identical models (general.name / general.file_type, a key renamed whose default is the written value,
     * u32 <-> i32 value types, version 3 -> 2, the zero padding before the data) need no explanation.
     */
    const headerAcceptance = (m: Model, f: GgufFile): string | undefined => {
      const d = modelDiff(m, baseModel);
      if (d.config.length + d.weights.length === 0) return `identical model: ${whatChanged(f)}`;
      const free = ["normEps", "ropeTheta", "rotaryDims", "seqLen"];
      if (d.weights.length === 0 && d.config.every((k) => free.includes(k))) return `hyperparameter ${d.config.join(", ")} changed`;
      if (d.config.length === 0 && d.weights.length === 1) {
        const retyped = [...base.tensors.values()].filter((t) => f.tensors.get(t.name)?.type !== t.type);
        if (retyped.length === 1 && retyped[0].type === 0 && [1, 30].includes(f.tensors.get(retyped[0].name)!.type) && fieldOf(retyped[0].name) === d.weights[0]) {
          return `tensor type F32 -> ${f.tensors.get(retyped[0].name)!.type === 1 ? "F16" : "BF16"}`;
        }
      }
      if (d.config.join() === "sharedClassifier" && d.weights.join() === "classifier" && m.weights.classifier === m.weights.tokenEmbedding && !f.tensors.has("output.weight")) {
        return "output.weight renamed: classifier tied to token_embd";
      }
      return undefined;
    };
    /** What an accepted header flip changed in the parsed file, when the model came out identical. */
    const whatChanged = (f: GgufFile): string => {
      if (tableText(f) === baseText) return "zero padding before the data section";
      if (f.version !== base.version) return `version ${base.version} -> ${f.version}`;
      const removed = [...base.metadata.keys()].filter((k) => !f.metadata.has(k));
      const added = [...f.metadata.keys()].filter((k) => !base.metadata.has(k));
      if (removed.length === 1 && added.length === 1) return `metadata key ${removed[0]} renamed (unread, or its default equals the written value)`;
      const changed = [...base.metadata.keys()].filter((k) => valueText(f.metadata.get(k)) !== valueText(base.metadata.get(k)));
      if (removed.length + added.length === 0 && changed.length === 1) return `metadata value of ${changed[0]} changed (unread, or the same number under another value type)`;
      return "other table change";
    };

    for (const { at, mask } of corruptions(1702, original.length, dataStart)) {
      const what = `byte ${at} ^ ${mask}`;
      const { file, model } = readBoth(flipped(original, at, mask), what);
      if (at >= dataStart) {
        const tensor = tensorAt(at);
        if (!file.value || !model.value) {
          r.fail(`${what}: a flip in the data section (${tensor ?? "padding"}) was rejected (${(file.error ?? model.error)?.message})`);
          continue;
        }
        if (tableText(file.value) !== baseText) r.fail(`${what}: a data flip changed the metadata or tensor table`);
        const d = modelDiff(model.value, baseModel);
        const want = tensor === undefined ? "" : fieldOf(tensor);
        if (d.config.length !== 0 || d.weights.join() !== want) r.fail(`${what}: a flip in ${tensor ?? "padding"} changed ${describeDiff(d)}`);
        r.count(tensor === undefined ? "data flip: padding between tensors, model identical" : `data flip: accepted, only that tensor changed (${base.tensors.get(tensor)!.type === 8 ? "Q8_0" : "F32"})`);
        continue;
      }
      if (!model.value) {
        r.count(`header flip: rejected ${model.error?.code ?? "(crash)"}${file.value ? " by importGguf" : " by readGguf"}`);
        continue;
      }
      const why = headerAcceptance(model.value, file.value!);
      if (why === undefined) r.fail(`${what}: importGguf accepted a header flip and changed ${describeDiff(modelDiff(model.value, baseModel))}`);
      r.count(`header flip: accepted, ${why ?? "UNEXPLAINED"}`);
    }

    for (const cut of cutPoints(original.length)) {
      const { file, model } = readBoth(original.subarray(0, cut), `cut at ${cut}`);
      if (file.value || model.value) r.fail(`cut at ${cut}: a truncated file was accepted`);
      else r.count("truncation: rejected by both");
    }

    r.report(`GGUF (${original.length} bytes, data from byte ${dataStart})`);
    expect(r.failures.slice(0, 20)).toEqual([]);
    expect(r.reads).toBeGreaterThan(2 * (FLIPS + HEADER_FLIPS));
  });

  it("a u64 metadata value where a string is expected is refused with a SlimError, not a JSON.stringify TypeError", () => {
    // not reachable by one flip of the fixture, found reading the messages: JSON.stringify throws on bigints
    const u64 = (key: string) => ({ key, v: { type: GT.U64, value: 2n ** 60n } });
    const llama = { key: "general.architecture", v: { type: GT.STRING, value: "llama" } };
    const refused = (run: () => unknown, key: string) => {
      let thrown: unknown;
      try {
        run();
      } catch (e) {
        thrown = e;
      }
      expect(thrown, key).toBeInstanceOf(SlimError);
      expect((thrown as SlimError).code, key).toBe("E_MODEL");
      expect((thrown as SlimError).message, key).toContain(`${key} is 1152921504606846976,`);
    };
    writeFileSync(path, writeGguf([u64("general.architecture")], []));
    refused(() => importGguf(path), "general.architecture");
    writeFileSync(path, writeGguf([llama, u64("llama.rope.scaling.type")], []));
    refused(() => importGguf(path), "llama.rope.scaling.type");
    refused(() => ggufTokenizerBin(readGguf(writeGguf([u64("tokenizer.ggml.model")], []), path)), "tokenizer.ggml.model");
  });
});
