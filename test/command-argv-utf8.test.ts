/**
 * Invalid UTF-8 in the standalone command's arguments (assembly/command.ts after args_get): Node turns every
 * maximal invalid subsequence of process.argv into U+FFFD before node:wasi hands the arguments over, so the
 * command does the same to every argument under every runtime. Raw bytes reach a process only through a
 * shell here (printf with octal escapes), both for node:wasi (host/ship/deploy/run-wasi.mjs) and for the
 * wasm2c native build, which gets the bytes as they are. The oracle is TextDecoder (WHATWG), not the command.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { readLlama2c } from "../tools/convert/llama2c.ts";
import { lowerModel } from "../tools/convert/lower.ts";
import { slimify } from "../tools/convert/slimify.ts";
import { COMMAND_ARG_BYTES_EXTRA, COMMAND_ARG_BYTES_PER_TOKEN, planArena } from "../host/core/plan.ts";
import { type TextTokenizer, readTextTokenizer } from "../host/core/tokenizers.ts";
import { buildCommand, buildNative, nativeToolsMissing } from "../tools/package/command.ts";
import { RUNNER_PATH } from "../host/ship/deploy/release.ts";
import { byteFallbackVocab, randomLlamaWeights, writeTokenizerBin, writeV1, type Llama2cDims } from "./fixtures/llama2c-writer.ts";
import { skipNote } from "./skips.ts";

const vocab = byteFallbackVocab([" ", ..."abcdefghijklmnopqrstuvwxyz", "th", "he", "the", "é", "€"]);
const DIMS: Llama2cDims = { dim: 32, hiddenDim: 64, nLayers: 1, nHeads: 4, nKvHeads: 4, vocabSize: vocab.pieces.length, seqLen: 64 };
const CTX = 64;
const ARGS_CAPACITY = COMMAND_ARG_BYTES_PER_TOKEN * CTX + COMMAND_ARG_BYTES_EXTRA;

const b = (...parts: (string | number[])[]): Uint8Array =>
  Uint8Array.from(parts.flatMap((p) => (typeof p === "string" ? [...Buffer.from(p, "utf8")] : p)));

/** Hostile prompts: bytes no valid UTF-8 holds, mixed with text (no NUL and no newline: argv and $(...) cannot carry them). */
const HOSTILE: Uint8Array[] = [
  b([0x80]), // a lone continuation byte
  b("ab", [0x80, 0xbf, 0x80], "c"), // several
  b("x", [0xc0, 0x80], "y"), // overlong NUL
  b([0xe0, 0x80, 0x80], "the"), // overlong three-byte
  b([0xed, 0xa0, 0x80], "he", [0xed, 0xbf, 0xbf]), // surrogates
  b([0xf4, 0x90, 0x80, 0x80]), // past U+10FFFF
  b("the ", [0xe2, 0x82]), // cut short at the end
  b("a", [0xe2, 0x82], "b", [0xf0, 0x9f, 0x99], " c"), // cut short in the middle
  b([0xff], "é", [0xfe, 0xff]), // bytes no character starts with
  b([0xc1, 0xbf, 0xf5, 0x80, 0xf8, 0x88, 0x80, 0x80, 0x80]), // more leads that never start a character
  b("€", [0xe2, 0x82, 0xe2, 0x82, 0xac], "é", [0xc3]), // a cut-short € before a whole one, a cut é at the end
  b([0xf0, 0x90, 0x80], "🙂", [0xf0, 0x8f, 0xbf, 0xbf]), // cut four-byte, valid, overlong four-byte
  b([0xe0, 0xa0], [0xed, 0x9f, 0xbf], [0xc2]), // cut, the last code point before the surrogates, cut
];

/** Node's/WHATWG's rule: TextDecoder's replacement, encoded again. */
const replaced = (bytes: Uint8Array): Uint8Array => Buffer.from(new TextDecoder().decode(bytes), "utf8");

/** printf escapes for every byte, so the shell hands the raw bytes on as one argument. */
const escaped = (bytes: Uint8Array): string => [...bytes].map((x) => "\\" + x.toString(8).padStart(3, "0")).join("");

interface Run {
  code: number | null;
  lines: string[]; // the ids line and error lines
}
/** Runs `prefix... <bytes> rest...` through sh, the bytes made by printf (rest: words without spaces). */
function withRaw(prefix: string[], bytes: Uint8Array, rest: string[]): Run {
  const r = spawnSync("sh", ["-c", 'exec "$@" "$(printf "$SLIM_RAW")" $SLIM_REST', "sh", ...prefix], {
    env: { ...process.env, SLIM_RAW: escaped(bytes), SLIM_REST: rest.join(" ") },
    timeout: 30_000,
  });
  const text = (r.stderr as Buffer).toString("utf8") + (r.stdout as Buffer).toString("utf8");
  return { code: r.status, lines: text.split("\n").filter((l) => l.startsWith("prompt ids:") || l.startsWith("slimedge:")) };
}

const dir = mkdtempSync(join(tmpdir(), "slimedge-argv-utf8-"));
const wasmPath = join(dir, "model.scalar.cmd.wasm");
const binPath = join(dir, "model-native");
let tokenizer: TextTokenizer;

beforeAll(() => {
  const model = readLlama2c(writeV1(DIMS, randomLlamaWeights(DIMS, 5)), "argv-model.bin");
  const tokenizerBytes = writeTokenizerBin(vocab.pieces, vocab.scores);
  tokenizer = readTextTokenizer("llama2c", tokenizerBytes, "tokenizer.bin", DIMS.vocabSize);
  const s = slimify(model);
  const layers = { modes: s.layers.map((l) => l.mode), wkv: s.wkv };
  const plan = planArena(model.config, CTX, layers.modes, { tokenizerBytes: tokenizerBytes.length });
  writeFileSync(wasmPath, buildCommand(lowerModel(model, layers, { weights: "f32" }), tokenizerBytes, plan, { build: "scalar" }));
});

const node = [process.execPath, "--no-warnings", RUNNER_PATH, wasmPath];
const IDS = ["-n", "0", "--ids"];

describe("invalid UTF-8 in the command's arguments under node:wasi", () => {
  it("the oracle replaces something in every hostile prompt (and the escapes carry the bytes)", () => {
    for (const p of HOSTILE) expect(Buffer.from(replaced(p)).equals(Buffer.from(p)), escaped(p)).toBe(false);
    const r = spawnSync("sh", ["-c", 'printf "$SLIM_RAW"'], { env: { ...process.env, SLIM_RAW: escaped(HOSTILE[7]) } });
    expect(Buffer.from(r.stdout).equals(Buffer.from(HOSTILE[7]))).toBe(true);
  });

  it("encodes the prompt as the library encodes TextDecoder's text", () => {
    for (const p of HOSTILE) {
      const r = withRaw(node, p, IDS);
      expect(r.code, r.lines.join("\n")).toBe(0);
      expect(r.lines, escaped(p)).toEqual([`prompt ids: ${tokenizer.prompt(new TextDecoder().decode(p)).join(" ")}`]);
    }
  });
});

const missing = nativeToolsMissing();
const nativeSkip = missing.length > 0 && `needs ${missing.join(" and ")}`;
describe("invalid UTF-8 in the command's arguments natively (wasm2c build)", () => {
  it.skipIf(nativeSkip)(`gives the ids node:wasi gives for every hostile prompt${skipNote(nativeSkip)}`, () => {
    buildNative(wasmPath, binPath);
    for (const p of [...HOSTILE, b("the é € 🙂 valid text")]) {
      const want = [`prompt ids: ${tokenizer.prompt(new TextDecoder().decode(p)).join(" ")}`];
      const got = withRaw([binPath], p, IDS);
      expect(got.code, got.lines.join("\n")).toBe(0);
      expect(got.lines, escaped(p)).toEqual(want);
      expect(withRaw(node, p, IDS).lines, escaped(p)).toEqual(want);
    }
  }, 120_000);

  it.skipIf(nativeSkip)(`refuses arguments whose replaced size passes the plan with the line node:wasi gives${skipNote(nativeSkip)}`, () => {
    buildNative(wasmPath, binPath);
    // raw bytes fit; three times as many after replacement do not
    const p = new Uint8Array(Math.floor(ARGS_CAPACITY / 2)).fill(0xff);
    const line = (argv0: string) => {
      const argv = [Buffer.from(argv0), replaced(p), ...IDS.map((a) => Buffer.from(a))];
      const n = argv.length * 4 + argv.reduce((s, a) => s + a.length + 1, 0);
      return `slimedge: the arguments take ${n} bytes, more than the ${ARGS_CAPACITY} this build plans for (${COMMAND_ARG_BYTES_PER_TOKEN} per context token)`;
    };
    const raw = 4 * 5 + binPath.length + 1 + p.length + 1 + IDS.reduce((s, a) => s + a.length + 1, 0);
    expect(raw).toBeLessThanOrEqual(ARGS_CAPACITY);
    const got = withRaw([binPath], p, IDS);
    expect(got.code).toBe(2);
    expect(got.lines).toEqual([line(binPath)]);
    const viaNode = withRaw(node, p, IDS);
    expect(viaNode.code).toBe(2);
    expect(viaNode.lines).toEqual([line(wasmPath)]);
  }, 120_000);
});
