/**
 * A fuzz pass over model files and flags, as the CLI meets them (its own process each time): mutated llama2.c
 * headers, truncations, flipped bytes, a damaged .slim and tokenizer.bin, GGUF files and Hugging Face folders
 * whose headers or configs lie, a header claiming 100,000 layers in a
 * file of the size they would need, nonsense flag values, hostile chat templates (`run --chat`) and mutated
 * flash_args for the host firmware (built with AddressSanitizer). Every run must end without a stack trace and
 * without a hang, in success or one line on stderr; its peak RSS must stay below 4× the input + 256 MB; no
 * output may be left half-written and no temporary file left behind. Seeded, so every run checks the same cases.
 */
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { byteFallbackVocab, randomLlamaWeights, writeTokenizerBin, writeV1, type Llama2cDims } from "./fixtures/llama2c-writer.ts";
import { GT, llamaVocab, writeGgufLlama } from "./fixtures/gguf-writer.ts";
import { randomHfLlama, writeHfCheckpoint, type HfLlamaShape } from "./fixtures/safetensors-writer.ts";
import { metaspaceTokenizer } from "./fixtures/tokenizer-writer.ts";
import { BAD_FLASH_ARGS, HOSTILE_TEMPLATES } from "./fixtures/hostile.ts";
import { buildArtifact } from "../tools/package/build.ts";
import { buildFirmware } from "../tools/package/firmware.ts";
import { planFlash, readArtifactDir, writeFlashFiles } from "../host/ship/flash/images.ts";
import { loadLlama2c } from "../tools/convert/llama2c.ts";
import { getBoard } from "../boards/index.ts";
import { skipNote, toolMissing } from "./skips.ts";

const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");
const dir = mkdtempSync(join(tmpdir(), "slimedge-fuzz-"));
const rssFile = join(dir, "rss");
// Written by the CLI process as it exits: its peak resident set (KiB), without touching its stdout or stderr.
const RSS_HOOK = `data:text/javascript,import{writeFileSync}from"node:fs";process.on("exit",()=>writeFileSync(process.env.SLIMEDGE_RSS_FILE,String(process.resourceUsage().maxRSS)))`;
const vocab = byteFallbackVocab(["e", "t", " ", "th", "the", " the"]);
const dims: Llama2cDims = { dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: vocab.pieces.length, seqLen: 64 };
const MB = 1 << 20;

interface Outcome {
  args: string[];
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: string[];
  stderr: string;
  rssBytes: number;
}

function slimedge(args: string[]): Outcome {
  rmSync(rssFile, { force: true });
  const r = spawnSync(process.execPath, ["--import", RSS_HOOK, bin, ...args], {
    encoding: "utf8",
    timeout: 60_000,
    env: { ...process.env, SLIMEDGE_RSS_FILE: rssFile },
  });
  const rss = existsSync(rssFile) ? Number(readFileSync(rssFile, "utf8")) * 1024 : NaN;
  return { args, code: r.status, signal: r.signal, stderr: r.stderr, lines: r.stderr.split("\n").filter((l) => l.trim() !== ""), rssBytes: rss };
}

/** The outcome holds the rules: no hang, no stack trace, success or one line, bounded memory. */
function problems(o: Outcome, inputBytes: number): string[] {
  const p: string[] = [];
  const what = JSON.stringify(o.args.map((a) => a.replace(dir, "<dir>")));
  if (o.signal) p.push(`${what}: ended by ${o.signal} (a hang hit the 60 s limit?)`);
  if (/^\s+at /m.test(o.stderr)) p.push(`${what}: stack trace`);
  // A failure is one line with the one prefix "slimedge: " (the flag parser's refusals too), last on stderr; progress
  // lines a long conversion printed before it may precede it.
  const errorLines = o.lines.filter((l) => /^(slimedge|error): |Error\b/.test(l));
  if (errorLines.some((l) => l.startsWith("error: "))) p.push(`${what}: an "error: " line, not the one "slimedge: " prefix`);
  const last = o.lines.at(-1) ?? "";
  if (o.code !== 0 && (errorLines.length !== 1 || errorLines[0] !== last)) p.push(`${what}: exit ${o.code} with ${errorLines.length} error lines: ${o.stderr.slice(0, 300)}`);
  if (o.code === 0 && errorLines.length > 0) p.push(`${what}: exit 0 but printed ${errorLines[0]}`);
  const limit = 4 * inputBytes + 256 * MB;
  if (!(o.rssBytes < limit)) p.push(`${what}: peak RSS ${(o.rssBytes / MB).toFixed(0)} MB, limit ${(limit / MB).toFixed(0)} MB`);
  return p;
}

/** xorshift32: the same cases every run. */
function rng(seed: number): () => number {
  let s = seed >>> 0 || 1;
  return () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
}

const cases: { name: string; path: string; bytes: number; kind: "model" | "slim" | "tokenizer" | "gguf" | "hf" }[] = [];
// GGUF and Hugging Face cases share one small Llama shape and a 48-piece tokenizer.bin that matches it.
const hfVocab = llamaVocab(["\u2581", "t", "h", "e", "th", "he", "the", "\u2581t", "\u2581th", "\u2581the", "in", "an", "er", "on", "re", "nd", "ed"]);
const HF: HfLlamaShape = { hidden_size: 32, intermediate_size: 64, num_hidden_layers: 2, num_attention_heads: 4, num_key_value_heads: 4, vocab_size: hfVocab.tokens.length, max_position_embeddings: 32 };

beforeAll(() => {
  const model = writeV1(dims, randomLlamaWeights(dims, 9));
  const tok = writeTokenizerBin(vocab.pieces, vocab.scores);
  writeFileSync(join(dir, "tokenizer.bin"), tok);
  const put = (name: string, data: Uint8Array, kind: (typeof cases)[number]["kind"]) => {
    writeFileSync(join(dir, name), data);
    cases.push({ name, path: join(dir, name), bytes: data.length, kind });
  };
  const r = rng(20261129);
  // llama2.c v1 header: magic, version, then dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len
  const extremes = [0, -1, 3, 100_000, 2 ** 30, 2 ** 31 - 1];
  for (let f = 0; f < 7; f++) {
    for (const v of [extremes[Math.floor(r() * extremes.length)]]) {
      const b = model.slice();
      new DataView(b.buffer).setInt32(8 + 4 * f, v, true);
      put(`field${f}-${v}.bin`, b, "model");
    }
  }
  for (let k = 0; k < 5; k++) put(`cut${k}.bin`, model.slice(0, Math.floor(r() * model.length)), "model");
  for (let k = 0; k < 5; k++) {
    const b = model.slice();
    for (let j = 0; j < 4; j++) b[Math.floor(r() * (k < 3 ? 64 : b.length))] ^= 1 + Math.floor(r() * 255);
    put(`flip${k}.bin`, b, "model");
  }
  // 100,000 layers of dim 2 in exactly the bytes they need (v0 header: 7 int32, no magic): ~13 MB
  const L = 100_000;
  const floats = 1 * 2 + L * (2 + 4 * 4 + 2 + 3 * 2 * 2) + 2 + 1 * 1;
  const big = new Uint8Array(28 + 4 * floats);
  new Int32Array(big.buffer, 0, 7).set([2, 2, L, 1, 1, 1, 1]);
  put("layers-100000.bin", big, "model");
  // a .slim, then damaged copies
  const slimPath = join(dir, "good.slim");
  writeFileSync(join(dir, "base.bin"), model);
  expect(slimedge(["convert", join(dir, "base.bin"), "-o", slimPath]).code).toBe(0);
  const slim = new Uint8Array(readFileSync(slimPath));
  for (let k = 0; k < 4; k++) {
    const b = slim.slice();
    b[Math.floor(r() * Math.min(b.length, k < 2 ? 256 : b.length))] ^= 0x5a;
    put(`slim${k}.slim`, b, "slim");
  }
  put("slim-cut.slim", slim.slice(0, Math.floor(slim.length / 3)), "slim");
  // GGUF: flipped header bytes, a cut, and metadata claiming 100,000 blocks or a huge embedding
  writeFileSync(join(dir, "hf-tokenizer.bin"), writeTokenizerBin(hfVocab.tokens.map((t) => t.replace(/\u2581/g, " ")), hfVocab.scores));
  const hf = randomHfLlama(HF, 5);
  const gguf = writeGgufLlama(hf, { vocab: hfVocab }).bytes;
  put("good.gguf", gguf, "gguf");
  for (let k = 0; k < 6; k++) {
    const b = gguf.slice();
    for (let j = 0; j < 3; j++) b[Math.floor(r() * Math.min(b.length, 2048))] ^= 1 << Math.floor(r() * 8);
    put(`flip${k}.gguf`, b, "gguf");
  }
  put("cut.gguf", gguf.slice(0, Math.floor(gguf.length * 0.6)), "gguf");
  for (const [key, v] of [["llama.block_count", 100_000], ["llama.embedding_length", 2 ** 30], ["llama.context_length", 2 ** 31 - 1], ["llama.feed_forward_length", 0]] as const) {
    const b = writeGgufLlama(hf, { vocab: hfVocab, dropKeys: [key], extraKv: [{ key, v: { type: GT.U32, value: v } }] }).bytes;
    put(`${key}-${v}.gguf`, b, "gguf");
  }
  // Hugging Face folders: config fields out of range, a header whose shapes or offsets lie
  const hfCase = (name: string, opts: Parameters<typeof writeHfCheckpoint>[2]) => {
    const d = join(dir, name);
    writeHfCheckpoint(d, hf, opts);
    cases.push({ name, path: d, bytes: statSync(join(d, "model.safetensors")).size + statSync(join(d, "config.json")).size, kind: "hf" });
  };
  hfCase("hf-good", {});
  hfCase("hf-layers-100000", { config: { num_hidden_layers: 100_000 } });
  hfCase("hf-hidden-huge", { config: { hidden_size: 2 ** 30 } });
  hfCase("hf-heads-0", { config: { num_attention_heads: 0 } });
  hfCase("hf-positions-huge", { config: { max_position_embeddings: 2 ** 31 - 1 } });
  hfCase("hf-shape-huge", { editHeader: (h) => ((h["model.embed_tokens.weight"] as { shape: number[] }).shape = [2 ** 31, 2 ** 31]) });
  hfCase("hf-offsets-past-end", { editHeader: (h) => ((h["model.norm.weight"] as { data_offsets: number[] }).data_offsets = [0, 2 ** 40]) });
  hfCase("hf-dtype", { editHeader: (h) => ((h["model.norm.weight"] as { dtype: string }).dtype = "F64") });
  // tokenizer.bin: max_token_length 0 and huge, a len past the end
  for (const [i, v] of [[0, 0], [0, 2 ** 31 - 1], [8, 2 ** 30]] as const) {
    const b = tok.slice();
    new DataView(b.buffer).setInt32(i, v, true);
    put(`tok-${i}-${v}.bin`, b, "tokenizer");
  }
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe("fuzz: the rules", () => {
  const ok: Outcome = { args: ["run"], code: 0, signal: null, lines: [], stderr: "", rssBytes: 50 * MB };
  it("accept success and one error line after progress lines", () => {
    expect(problems(ok, 1000)).toEqual([]);
    const lines = ["reading x.bin", "slimedge: x.bin: header field n_layers is 100000, expected between 1 and 1024."];
    expect(problems({ ...ok, code: 1, lines, stderr: lines.join("\n") }, 1000)).toEqual([]);
  });
  it("catch a stack trace, two error lines, a hang and too much memory", () => {
    const trace = "TypeError: x is undefined\n    at f (host/runtime/decoder.ts:1:1)";
    expect(problems({ ...ok, code: 1, lines: trace.split("\n"), stderr: trace }, 1000).join()).toMatch(/stack trace/);
    const two = ["slimedge: a", "slimedge: b"];
    expect(problems({ ...ok, code: 1, lines: two, stderr: two.join("\n") }, 1000).join()).toMatch(/2 error lines/);
    expect(problems({ ...ok, code: null, signal: "SIGTERM" }, 1000).join()).toMatch(/hang/);
    expect(problems({ ...ok, rssBytes: 300 * MB }, 1000).join()).toMatch(/peak RSS 300 MB, limit 256 MB/);
    expect(problems({ ...ok, rssBytes: NaN }, 1000).join()).toMatch(/peak RSS/);
  });
});

describe("fuzz: model files", () => {
  it("inspect, run and convert end in success or one line, within the memory bound, leaving nothing half-written", () => {
    const found: string[] = [];
    let runs = 0;
    for (const c of cases) {
      const out = join(dir, `${c.name}.out.slim`);
      const tokenizer = join(dir, c.kind === "gguf" || c.kind === "hf" ? "hf-tokenizer.bin" : "tokenizer.bin");
      const runsOf: string[][] =
        c.kind === "tokenizer"
          ? [["run", join(dir, "base.bin"), "--tokenizer", c.path, "-n", "2", "-p", "the"]]
          : [["inspect", c.path], ["run", c.path, "--tokenizer", tokenizer, "-n", "2", "-p", "the"], ["convert", c.path, "-o", out]];
      for (const args of runsOf) {
        const o = slimedge(args);
        runs++;
        if (c.name.includes("good") && o.code !== 0) found.push(`${c.name}: the unmodified file failed ${args[0]}: ${o.stderr.slice(0, 200)}`);
        found.push(...problems(o, c.bytes + statSync(tokenizer).size));
        if (args[0] === "convert" && existsSync(out)) {
          if (o.code !== 0) found.push(`${c.name}: convert failed but left ${out}`);
          else if (slimedge(["inspect", out]).code !== 0) found.push(`${c.name}: convert wrote a .slim that inspect refuses`);
        }
      }
    }
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
    expect(found).toEqual([]);
    expect(runs).toBeGreaterThan(60);
  }, 900_000);

  it("nonsense flag values end in one line each", () => {
    const model = join(dir, "base.bin");
    const flags: string[][] = [
      ["run", model, "--ctx", "-5"],
      ["run", model, "--ctx", "1e99"],
      ["run", model, "--ctx", "0x10"],
      ["run", model, "--temp", "nan"],
      ["run", model, "--temp", "1e-320"],
      ["run", model, "--top-p", "2"],
      ["run", model, "-n", "-1"],
      ["run", model, "--seed", "-1"], // 0 is a seed like any other
      ["run", model, "--threshold", "-1"],
      ["run", model, "--cache", "q3"],
      ["run", model, "--mode", "fast"],
      ["run", model, "-p", "a ".repeat(40_000)],
      ["inspect", model, "--threshold", "-1"],
      ["convert", model, "-o", model],
      ["convert", model, "-o", join(dir, "no-such-dir", "x.slim")],
      ["convert", model, "-o", join(dir, "x.slim"), "--weights", "q5"],
      ["plan", model, "--ctx", "0"],
      ["build", model, "--board", "esp32-s3", "--ctx", "99999999", "--out", join(dir, "never")],
      ["build", model, "--board", "no-such-board", "--ctx", "8"],
      ["deploy", dir, "--host", "pi@127.0.0.1:1", "--board", "rpi-4", "--remote-dir", "a\nb"],
      ["quantize-report", model, "--weights", "q9"],
    ];
    const found: string[] = [];
    for (const args of flags) {
      const o = slimedge(args);
      found.push(...problems(o, statSync(model).size));
      if (o.code === 0) found.push(`${JSON.stringify(args.map((a) => a.slice(0, 40)))}: accepted`);
    }
    expect(existsSync(join(dir, "never"))).toBe(false);
    expect(readdirSync(dir).filter((f) => f.includes(".tmp-"))).toEqual([]);
    expect(found).toEqual([]);
  }, 600_000);
});

// The seeded mutants of the chat templates and flash_args: 3 and 30 in CI; SLIMEDGE_FUZZ_MUTANTS=10 runs ten times as many.
const MUTANTS = Math.max(1, Number(process.env.SLIMEDGE_FUZZ_MUTANTS ?? 1));

describe("fuzz: chat templates", () => {
  it("hostile templates and seeded mutations of them end in success or one line, within the memory bound", () => {
    const tok = metaspaceTokenizer({ merges: 40, style: "normalizer", extraSpecials: ["<|user|>"] });
    const shape: HfLlamaShape = { ...HF, vocab_size: tok.vocabSize, num_hidden_layers: 1 };
    const weights = randomHfLlama(shape, 8);
    const r = rng(20261207);
    // each integer literal replaced by one of these: loop bounds from nothing to far past any budget
    const sizes = [0, 1, 3, 1000, 100_000, 1_000_000, 2 ** 31 - 1, 1e15];
    const templates = Object.entries(HOSTILE_TEMPLATES);
    for (let k = 0; k < 3 * MUTANTS; k++) {
      const [name, t] = templates[Math.floor(r() * templates.length)];
      templates.push([`${name} mutated ${k}`, t.replace(/\d+/g, () => String(sizes[Math.floor(r() * sizes.length)]))]);
    }
    const found: string[] = [];
    for (const [i, [name, template]] of templates.entries()) {
      const d = join(dir, `chat-${i}`);
      writeHfCheckpoint(d, weights, { config: { bos_token_id: 1, eos_token_id: 2 } });
      writeFileSync(join(d, "tokenizer.json"), JSON.stringify(tok.json));
      writeFileSync(join(d, "tokenizer_config.json"), JSON.stringify({ bos_token: "<s>", eos_token: "</s>", chat_template: template }));
      const o = slimedge(["run", d, "--chat", "-p", "hello", "-n", "2"]);
      found.push(...problems(o, statSync(join(d, "model.safetensors")).size).map((p) => `${name}: ${p}`));
      if (o.code !== 0 && !/chat template|--prompt/.test(o.lines.at(-1) ?? "")) found.push(`${name}: the line names neither the chat template nor the prompt: ${o.lines.at(-1)}`);
    }
    expect(found).toEqual([]);
  }, 600_000);
});

const firmwareMissing = toolMissing("wasm2c", "wabt") ?? toolMissing("cc", "gcc") ??
  (spawnSync("cc", ["-fsanitize=address", "-x", "c", "-o", "/dev/null", "-"], { input: "int main(void){return 0;}" }).status === 0 ? null : "cc has no -fsanitize=address (libasan)");
describe.skipIf(firmwareMissing !== null)(`fuzz: the host firmware's flash_args${skipNote(firmwareMissing)}`, () => {
  it("mutated flash_args end in the command's text or one line, exit 2 or 70, with no AddressSanitizer report", async () => {
    // the firmware.test.ts model: small enough for esp32-c3's 3 pages at q8_0
    const small: Llama2cDims = { dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: 1024, seqLen: 64 };
    const modelDir = join(dir, "fw-model");
    cpSync(join(import.meta.dirname, "..", "models", "slimedge-tiny", "tokenizer.bin"), join(modelDir, "tokenizer.bin"));
    writeFileSync(join(modelDir, "model.bin"), writeV1(small, randomLlamaWeights(small, 3)));
    const art = join(dir, "fw-artifact");
    await buildArtifact(loadLlama2c(join(modelDir, "model.bin")), readFileSync(join(modelDir, "tokenizer.bin")), {
      name: "model", board: getBoard("esp32-c3"), ctx: 32, mode: "auto", quant: "q8_0", simd: "auto", out: art, threshold: 1e-3,
    });
    const flash = join(dir, "fw-flash");
    writeFlashFiles(planFlash(readArtifactDir(art), getBoard("esp32-c3")), flash);
    const fw = buildFirmware(art, "host", join(dir, "fw-asan"), { sanitize: "address" });
    const good = readFileSync(join(flash, "flash_args"), "utf8");

    const r = rng(20261208);
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(r() * xs.length)];
    const hex = () => Array.from({ length: 1 + Math.floor(r() * 18) }, () => pick("0123456789abcdefABCDEF".split(""))).join("");
    const offsets = () => pick(["-", "", "0x", "0x-", "0X", "+0x", " 0x"]) + hex();
    const sizes = () => pick(["-1", "0", "1", "4", "128", "129", "4095", "4096", "4097", "99999999999", "1e3", "", "0x10"]) + pick(["MB", "GB", "KB", "", "MBx"]);
    const mutants: string[] = BAD_FLASH_ARGS.map(([, edit]) => edit(good));
    for (let k = 0; k < 30 * MUTANTS; k++) {
      const lines = good.split("\n");
      const i = Math.floor(r() * (lines.length - 1));
      switch (Math.floor(r() * 6)) {
        case 0: lines[i] = lines[i].replace(/^0x[0-9a-f]+/, offsets()); break;
        case 1: lines[0] = lines[0].replace(/--flash_size \S+/, `--flash_size ${sizes()}`); break;
        case 2: lines.splice(i, 0, lines[Math.floor(r() * (lines.length - 1))]); break;
        case 3: lines.splice(i, 1); break;
        case 4: lines[i] = lines[i].slice(0, Math.floor(r() * lines[i].length)); break;
        default: lines[i] = lines[i].replace(/ /, pick(["\t", "  ", " \r", "\u0000", " ../"]));
      }
      mutants.push(lines.join("\n"));
    }
    mutants.push("x".repeat(5000) + "\n", good.replace(/\n/g, "\r\n"), "");
    const found: string[] = [];
    for (const [k, text] of mutants.entries()) {
      const bad = join(dir, `fw-flash-${k}`);
      cpSync(flash, bad, { recursive: true });
      writeFileSync(join(bad, "flash_args"), text);
      const o = spawnSync(fw.elf, [bad, "Once", "-n", "2", "--temp", "0"], { encoding: "utf8", timeout: 60_000 });
      const lines = o.stderr.split("\n").filter((l) => l !== "");
      const what = `${JSON.stringify(text.slice(0, 160))}`;
      if (o.signal) found.push(`${what}: ended by ${o.signal}`);
      else if (/AddressSanitizer|LeakSanitizer|runtime error/.test(o.stderr)) found.push(`${what}: ${o.stderr.slice(0, 400)}`);
      else if (o.status === 0) { if (!o.stdout.startsWith("Once")) found.push(`${what}: exit 0 without the command's text`); }
      else if (!((o.status === 2 || o.status === 70) && lines.length === 1 && /^slimedge-fw: /.test(lines[0]))) found.push(`${what}: exit ${o.status}: ${o.stderr.slice(0, 300)}`);
      rmSync(bad, { recursive: true, force: true });
    }
    expect(found).toEqual([]);
    expect(mutants.length).toBeGreaterThan(40);
  }, 900_000);
});
