/** `slimedge run`: generate text on the simulated board. */
import { Command } from "commander";
import { SAMPLER_DEFAULTS } from "../runtime/sampler.ts";
import { summaryLine } from "../runtime/generate.ts";
import { generate, DEFAULT_PROMPT } from "../api/generate.ts";
import { type AttentionMode, type CacheDtype, type WeightDtype } from "../core/plan.ts";
import type { Build } from "../runtime/decoder.ts";
import { fail } from "../core/errors.ts";
import { getBoard } from "../../boards/index.ts";
import { boardThroughput } from "../../tools/package/fit.ts";
import { estimateTokensPerSecond } from "../core/estimate.ts";
import { loadModelTokenizer, DEFAULT_MODEL_DIR } from "./options.ts";
import { addTerms } from "../core/vocabulary.ts";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { readWholeFile } from "../core/files.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { importModel } from "../../tools/convert/import.ts";
import { commandTokenizerBytes } from "../../tools/package/command-tokenizer.ts";
import { tokenWork } from "../core/estimate.ts";
import { calibrationTokens } from "../../tools/convert/calibrate.ts";

/** The prompt of `run` without -p; the note when a prompt decides the layers otherwise than `plan`. */
export { DEFAULT_PROMPT, planDifference } from "../api/generate.ts";
import { EMULATED, emulatedBoard } from "../../boards/emulated.ts";
import { emulate, measuredEstimate } from "../ship/emulate.ts";
import { planFlash, readArtifactDir, writeFlashFiles } from "../ship/flash/images.ts";
import { DEFAULT_PREFILL_BLOCK } from "../runtime/generate.ts";

interface RunFlags {
  prompt: string;
  steps: number;
  mode: AttentionMode | "auto";
  temp: number;
  topP: number;
  seed: number;
  ctx?: number;
  tokenizer?: string;
  simd: "on" | "off" | "auto";
  board?: string;
  weights?: WeightDtype;
  cache: CacheDtype;
  threshold: number;
  keepGoing?: boolean;
  prefillBlock?: number;
  emulate?: boolean;
  chat?: boolean;
}

export async function run(checkpoint: string | undefined, flags: RunFlags, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<void> {
  if (flags.emulate) return runEmulated(checkpoint, flags, out, err);
  const board = flags.board === undefined ? undefined : getBoard(flags.board);
  const result = await generate({
    checkpoint,
    prompt: flags.prompt,
    steps: flags.steps,
    temperature: flags.temp,
    topP: flags.topP,
    seed: flags.seed,
    ctx: flags.ctx,
    mode: flags.mode,
    weights: flags.weights,
    cache: flags.cache,
    simd: flags.simd === "auto" ? undefined : flags.simd === "on",
    board: flags.board,
    threshold: flags.threshold,
    tokenizer: flags.tokenizer,
    prefillBlock: flags.prefillBlock,
    chat: flags.chat,
    keepGoing: flags.keepGoing,
    onToken: (s) => out.write(s),
    onNote: (n) => err.write(`note: ${n}\n`),
  });
  const build = result.build;
  out.write("\n");
  err.write(summaryLine(result, build) + "\n");
  if (board) {
    const n = result.promptTokens + result.generated;
    const estimate = estimateTokensPerSecond(result.plan, n, boardThroughput(board));
    err.write(
      `estimate on ${board.name} (${board.runtime}, ${board.simd ? "SIMD" : "no SIMD"}, arena in ${board.arenaMemory}): ` +
        `~${estimate.toPrecision(3)} tok/s decode at position ${n} — from counted bytes and MACs against the profile's ` +
        `bandwidth and MAC rate (host/estimate.ts), not measured on the board\n`,
    );
  }
}

export function register(cli: Command): void {
  const cmd = cli
    .command("run")
    .description("generate text from a model (default: the shipped one) on the simulated host board")
    .argument("[checkpoint]", "llama2.c .bin (v0/v1/v2), .slim, GGUF, or a Hugging Face folder; default: models/slimedge-tiny-v2/model.bin")
    ;
  addTerms(cmd, [
    ["prompt", { description: "prompt text; slimify decides on its activations (without -p: on the calibration set `plan` uses)", default: DEFAULT_PROMPT }],
    ["steps", { default: 64 }],
    ["mode", { default: "auto" }],
    ["temp", { default: SAMPLER_DEFAULTS.temperature }],
    ["topP", { default: SAMPLER_DEFAULTS.topP }],
    ["seed", { default: SAMPLER_DEFAULTS.seed }],
    ["ctx", { description: "context length to plan for (default: the model's seq_len)" }],
    ["tokenizer", { description: "tokenizer.json or tokenizer.bin (default: the model's own: embedded in .slim/GGUF, or beside the checkpoint)" }],
    ["simd", { description: "WASM SIMD build: on, off, or auto (on; off on a --board without WASM SIMD)", default: "auto" }],
    ["board", { description: "simulate a board (see `slimedge boards`): enforce its memory budget, use its SIMD or not, estimate its speed" }],
    ["threshold", { default: 1e-3 }],
    ["weights", { description: "weight storage of a checkpoint: f32 (default), f16, q8_0 or q4_0 (slim layers keep W_K and W_KV in f32); a .slim runs the dtype it stores" }],
    ["cache", { description: "cache rows: f32, f16, or q8 (int8 plus a scale per row); slim layers whose V error grows too much at that precision keep a V-cache", default: "f32" }],
    ["prefillBlock", { description: `prompt tokens per pass over the weights (default ${DEFAULT_PREFILL_BLOCK}, or 1 with --board); each adds activation memory` }],
    ["emulate"],
    ["chat", { default: false }],
    ["keepGoing", { default: false }],
  ]);
  cmd
    .action(async (checkpoint: string | undefined, flags: RunFlags) => run(checkpoint, flags, process.stdout, process.stderr));
}

/**
 * `run --board X --emulate`: the artifact for the board, the native firmware (wasm2c + the board's toolchain),
 * the flash images with the firmware in the app partition, and a run of those images in QEMU. The text comes
 * from the emulated board; the estimate from the instructions it counted.
 */
async function runEmulated(checkpoint: string | undefined, flags: RunFlags, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<void> {
  const name = flags.board ?? fail("E_FLAG", `--emulate needs --board: one of ${EMULATED.map((x) => x.board).join(", ")}`);
  const e = emulatedBoard(name) ?? fail("E_FLAG", `--board ${name}: no emulated build; --emulate takes ${EMULATED.map((x) => x.board).join(", ")}`);
  if (flags.simd === "on") fail("E_FLAG", "--simd on: the native firmware is translated from the scalar build (wasm2c has no SIMD)");
  const board = getBoard(name);
  const path = checkpoint ?? join(DEFAULT_MODEL_DIR, "model.bin");
  if (!existsSync(path)) fail("E_FILE", `${path}: no such checkpoint`);
  const imported = importModel(path);
  const model = imported.model;
  const tokenizer = loadModelTokenizer({ path, slim: null, model, config: model.config, tokenizer: imported.tokenizer }, flags.tokenizer);
  const tokenizerBytes = commandTokenizerBytes(tokenizer, model.config.vocabSize); // what the firmware's command embeds
  const ctx = flags.ctx ?? model.config.seqLen;
  const work = mkdtempSync(join(tmpdir(), "slimedge-emulate-"));
  try {
    const { buildArtifact } = await import("../../tools/package/build.ts");
    const { buildFirmware } = await import("../../tools/package/firmware.ts");
    const artifactDir = join(work, "artifact");
    const step = (what: string) => err.write(`[emulate] ${what}\n`);
    const built = await buildArtifact(model, tokenizerBytes, {
      name: "model", board, ctx, mode: flags.mode, quant: flags.weights ?? "f32", kCache: flags.cache, simd: "off", out: artifactDir, threshold: flags.threshold,
      calibration: calibrationTokens(model.config, tokenizer), // the artifact serves any prompt: the plan's decision
      onStep: (i, n, what) => step(`build ${i}/${n} ${what}`),
    });
    step(`native firmware for ${e.board} (${e.isa}): wasm2c + ${e.cc}`);
    const fw = buildFirmware(artifactDir, e.board, join(work, "firmware"));
    const flashDir = join(work, "flash");
    writeFlashFiles(planFlash(readArtifactDir(artifactDir), board, { firmware: readWholeFile(fw.app!, "firmware image") }), flashDir);
    step(`${e.qemu.binary} -M ${e.qemu.machine} -icount shift=0, flash images from ${flashDir}`);
    const quote = (s: string) => `"${s.replace(/"/g, "")}"`;
    const line = [quote(flags.prompt), "-n", String(flags.steps), "--temp", String(flags.temp), "--top-p", String(flags.topP), "--seed", String(flags.seed)].join(" ");
    const r = await emulate(e, board, { flashDir, entry: fw.entry!, stackTop: fw.stackTop!, args: line });
    out.write(r.stdout);
    err.write(r.stderr.endsWith("\n") || r.stderr === "" ? r.stderr : `${r.stderr}\n`);
    if (r.code !== 0) fail("E_RUNTIME", `the emulated ${board.name} exited with code ${r.code}`);
    const ram = fw.ram!;
    const inPlace = built.plan.flash;
    err.write(
      `RAM of ${board.name}: ${inPlace ? "arena without the weights" : "linear memory"} ${ram.linearMemory} + firmware .data/.bss ${ram.data + ram.bss} + native stack ${ram.stack} ` +
        `= ${ram.total} of ${ram.board} bytes (the native firmware keeps no module and no runtime); code ${fw.textBytes} bytes in flash` +
        (inPlace ? `; weights, RoPE table and tokenizer ${inPlace.size} bytes read in place from the model partition` : "") + "\n",
    );
    if (r.instructionsPerToken !== null) {
      const n = Math.min(built.plan.ctx, (r.generated ?? 0) + 8);
      const w = tokenWork(built.plan, n);
      const est = measuredEstimate(e, board, r.instructionsPerToken, w.weightBytes + w.attentionBytes);
      err.write(
        `estimate on ${board.name} (native firmware from wasm2c, ${board.cpu.clockMHz} MHz): ${r.instructionsPerToken} instructions per token ` +
          `(${r.decodeInstructions} over ${r.decodeSteps} decode steps) counted in the emulator x CPI ${e.cpi} (assumed) -> ${est.compute.toPrecision(3)} tok/s; memory floor ${est.memory.toPrecision(3)} tok/s ` +
          `(${w.weightBytes + w.attentionBytes} bytes per token at ${board.throughput.memoryBytesPerSecond / 1e6} MB/s); ` +
          `~${est.tokensPerSecond.toPrecision(3)} tok/s, bound by ${est.boundBy}\n`,
      );
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}
