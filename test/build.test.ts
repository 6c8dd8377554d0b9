// `slimedge build` for the shipped model on every board: where it fits, both artifacts generate text;
// where it does not, the build stops before compiling with the needed and available bytes.
import { arenaBytes } from "../host/core/layout.ts";
import { describe, it, expect, beforeAll } from "vitest";
import { mkdtempSync, readFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadLlama2c } from "../tools/convert/llama2c.ts";
import type { Model } from "../host/core/model.ts";
import { decoderFor } from "./helpers.ts";
import { argmax } from "../host/runtime/sampler.ts";
import { SlimError } from "../host/core/errors.ts";
import { allBoards } from "../boards/index.ts";
import { buildArtifact } from "../tools/package/build.ts";
import { buildNative, nativeToolsMissing } from "../tools/package/command.ts";
import { slimify } from "../tools/convert/slimify.ts";
import { fits } from "../tools/package/fit.ts";
import { planArena, layerModes } from "../host/core/plan.ts";
import { memoryLimits } from "../tools/package/verify.ts";
import { RUNNER_PATH } from "../host/ship/deploy/release.ts";
import { skipNote } from "./skips.ts";
import { readSlim } from "../host/core/slim-read.ts";

const modelDir = join(import.meta.dirname, "..", "models", "slimedge-tiny");
const CTX = 256;
const runner = RUNNER_PATH;

let model: Model;
let tokenizer: Uint8Array;

beforeAll(() => {
  model = loadLlama2c(join(modelDir, "model.bin"));
  tokenizer = readFileSync(join(modelDir, "tokenizer.bin"));
});

/** Runs a WASI command under node:wasi in a child process (proc_exit must not end the test runner). */
function runCommand(wasm: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ["--no-warnings", runner, wasm, ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("buildArtifact on every board", () => {
  const boards = allBoards();
  // The same plan for every board (one model, one ctx): whether it fits depends only on the board.
  const fitsOn = (name: string) => {
    const c = loadLlama2c(join(modelDir, "model.bin")).config;
    const plan = planArena(c, CTX, layerModes(c, "slim"), { tokenizerBytes: readFileSync(join(modelDir, "tokenizer.bin")).length });
    return fits(plan, boards.find((b) => b.name === name)!);
  };

  it.each(boards.map((b) => b.name))("builds for %s, or refuses with the numbers", async (name) => {
    const board = boards.find((b) => b.name === name)!;
    const out = mkdtempSync(join(tmpdir(), `slimedge-build-${name}-`));
    const options = { name: "tiny", board, ctx: CTX, mode: "auto" as const, quant: "f32" as const, simd: "auto" as const, out, threshold: 1e-3 };
    if (!fitsOn(name)) {
      const e = await buildArtifact(model, tokenizer, options).catch((x) => x);
      expect(e).toBeInstanceOf(SlimError);
      expect(e.code).toBe("E_FIT");
      expect(e.message).toContain(`does not fit ${name}`);
      // over the RAM (pages against the linear memory) or over the flash (f32 weights past a 4 MB flash)
      expect(e.message).toMatch(new RegExp(`needs \\d+ bytes = \\d+ pages .* of ${board.linearMemoryBytes} bytes|needs \\d+ bytes of flash, \\d+ more than the board's ${board.flashBytes}`));
      return;
    }
    const r = await buildArtifact(model, tokenizer, options);
    expect(r.build).toBe(board.simd ? "simd" : "scalar");
    const reactor = readFileSync(join(out, "tiny.wasm"));
    expect(memoryLimits(reactor)).toEqual({ initial: r.plan.pages, max: r.plan.pages });
    const plan = JSON.parse(readFileSync(join(out, "plan.json"), "utf8"));
    expect(plan.pages).toBe(r.plan.pages);
    expect(readFileSync(join(out, "memory-map.svg"), "utf8")).toMatch(/^<svg/);

    // The reactor artifact, driven by the host: greedy text from the prompt's tokens.
    const dec = await decoderFor(model, r.plan, slimify(model).wkv, r.build, reactor);
    let logits = dec.prefill([1, 400, 300]);
    for (let i = 0; i < 16; i++) logits = dec.step(argmax(logits));
    expect(dec.memoryBytes).toBe(r.plan.pages * 65536);

    // The standalone command prints the prompt and a continuation, and a summary on stderr.
    const cmd = runCommand(join(out, "tiny.cmd.wasm"), "The committee", "-n", "24", "--temp", "0");
    expect(cmd.code, cmd.stderr).toBe(0);
    expect(cmd.stdout.startsWith("The committee")).toBe(true);
    expect(cmd.stdout.length).toBeGreaterThan("The committee".length + 20);
    expect(cmd.stderr).toMatch(/tok\/s/);
  });
});

describe("the shipped model's standalone command on an independent runtime", () => {
  const missing = nativeToolsMissing();
  const why = missing.length > 0 && `needs ${missing.join(" and ")}`;
  it.skipIf(why)(`prints the same greedy and sampled text under node:wasi and as a wasm2c native program${skipNote(why)}`, async () => {
    const board = allBoards().find((b) => b.name === "host")!;
    const out = mkdtempSync(join(tmpdir(), "slimedge-native-"));
    // wasm2c translates the scalar build (it cannot translate WASM SIMD).
    await buildArtifact(model, tokenizer, { name: "tiny", board, ctx: CTX, mode: "auto", quant: "f32", simd: "off", out, threshold: 1e-3 });
    const wasm = join(out, "tiny.cmd.wasm");
    buildNative(wasm, join(out, "tiny-native"));
    for (const args of [["The committee noted with concern that", "-n", "64", "--temp", "0"], ["The committee", "-n", "64", "--temp", "0.8", "--seed", "7"]]) {
      const viaNode = runCommand(wasm, ...args);
      const native = spawnSync(join(out, "tiny-native"), args, { encoding: "utf8", timeout: 60_000 });
      expect(viaNode.code, viaNode.stderr).toBe(0);
      expect(native.status, native.stderr).toBe(0);
      expect(native.stdout).toBe(viaNode.stdout);
      expect(viaNode.stdout.startsWith(args[0])).toBe(true);
      expect(viaNode.stdout.length, viaNode.stdout).toBeGreaterThan(args[0].length + 1); // sampling may reach </s> early
    }
  });
});

describe("slimedge build of a .slim file", () => {
  const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");
  const cli = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 300_000 });

  it("keeps the stored layer modes where slimify would decide otherwise, and packages the stored q8_0 bytes as they are", () => {
    // slimify makes every layer of the shipped model slim; the file stores them all vanilla
    expect(slimify(model).layers.map((l) => l.mode)).toEqual(Array(6).fill("slim"));
    const dir = mkdtempSync(join(tmpdir(), "slimedge-build-slim-"));
    const file = join(dir, "tiny.slim");
    const conv = cli("convert", join(modelDir, "model.bin"), "-o", file, "--mode", "vanilla", "--weights", "q8_0");
    expect(conv.status, conv.stderr).toBe(0);
    const out = join(dir, "out");
    const r = cli("build", file, "--board", "host", "--ctx", "64", "--out", out);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^tiny for host: .* layers VVVVVV, q8_0 weights, /);
    const plan = JSON.parse(readFileSync(join(out, "plan.json"), "utf8"));
    expect(plan.modes).toEqual(Array(6).fill("vanilla"));
    expect(plan.weights).toBe("q8_0");
    expect(plan.slimify.map((l: { reasonCode: number }) => l.reasonCode)).toEqual(Array(6).fill(4)); // the stored records: vanilla by choice
    // asking for another dtype or mode than the file stores is one clear line
    const other = cli("build", file, "--board", "host", "--ctx", "64", "--out", out, "--weights", "f32");
    expect(other.status).toBe(2);
    const lines = other.stderr.trim().split("\n");
    expect(lines.slice(0, -1).every((l) => /^\[\d\/\d\] /.test(l)), other.stderr).toBe(true); // build's progress lines, then the one error
    expect(lines.at(-1)).toMatch(/^slimedge: --weights f32: .*tiny\.slim stores q8_0 weights/);
    // the standalone command carries the file's q8_0 bytes unchanged (in the streaming order, host/core/layout.ts), and runs
    const f = readSlim(readFileSync(file), file);
    const wq = f.lowered.tensors.find((t) => t.name === "layers.3.wq")!;
    expect(wq.dtype).toBe("q8_0");
    expect(readFileSync(join(out, "tiny.cmd.wasm")).indexOf(Buffer.from(arenaBytes(wq, 0)))).toBeGreaterThan(0);
    const cmd = runCommand(join(out, "tiny.cmd.wasm"), "The committee", "-n", "8", "--temp", "0");
    expect(cmd.code, cmd.stderr).toBe(0);
    expect(cmd.stdout.startsWith("The committee")).toBe(true);
  });
});
