/** `slimedge run`: generate text on the simulated board. */
import { Command, Option } from "commander";
import { SAMPLER_DEFAULTS } from "../runtime/sampler.ts";
import { summaryLine } from "../runtime/generate.ts";
import { generate, DEFAULT_PROMPT } from "../api/generate.ts";
import { type AttentionMode, type CacheDtype, type WeightDtype } from "../core/plan.ts";
import type { Build } from "../runtime/decoder.ts";
import { fail } from "../core/errors.ts";
import { getBoard } from "../../boards/index.ts";
import { boardThroughput } from "../../tools/package/fit.ts";
import { estimateTokensPerSecond } from "../core/estimate.ts";
import { wholeNumber, number, loadModelTokenizer, DEFAULT_MODEL_DIR, positive } from "./options.ts";
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
  mode: AttentionMode;
  temp: number;
  topP: number;
  seed: number;
  ctx?: number;
  tokenizer?: string;
  build?: Build;
  board?: string;
  quant?: WeightDtype;
  kcache: CacheDtype;
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
    weights: flags.quant,
    cache: flags.kcache,
    simd: flags.build === undefined ? undefined : flags.build === "simd",
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
  cli
    .command("run")
    .description("generate text from a model (default: the shipped one) on the simulated host board")
    .argument("[checkpoint]", "llama2.c .bin (v0/v1/v2), .slim, GGUF, or a Hugging Face folder; default: models/slimedge-tiny-v2/model.bin")
    .option("-p, --prompt <text>", "prompt text; slimify decides on its activations (without -p: on the calibration set `plan` uses)", DEFAULT_PROMPT)
    .option("-n, --steps <n>", "tokens to generate after the prompt", wholeNumber("-n/--steps", 0), 64)
    .addOption(new Option("--mode <mode>", "attention: slim (K-cache only) or vanilla (K+V cache)").choices(["slim", "vanilla"]).default("slim"))
    .option("--temp <t>", "sampling temperature; 0 = greedy", number("--temp"), SAMPLER_DEFAULTS.temperature)
    .option("--top-p <p>", "nucleus sampling threshold in (0, 1]", number("--top-p"), SAMPLER_DEFAULTS.topP)
    .option("--seed <n>", "random seed", wholeNumber("--seed", 1), SAMPLER_DEFAULTS.seed)
    .option("--ctx <n>", "context length to plan for (default: the model's seq_len)", wholeNumber("--ctx", 1))
    .option("--tokenizer <file>", "tokenizer.json or tokenizer.bin (default: the model's own: embedded in .slim/GGUF, or beside the checkpoint)")
    .addOption(new Option("--build <build>", "decoder build (default: simd, or scalar on a --board without WASM SIMD)").choices(["simd", "scalar"]))
    .option("--board <name>", "simulate a board (see `slimedge boards`): enforce its memory budget, use its SIMD or not, estimate its speed")
    .option("--threshold <x>", "largest V-reconstruction error a slim layer may have", positive("--threshold"), 1e-3)
    .addOption(new Option("--quant <dtype>", "weight storage of a checkpoint (default f32; slim layers keep W_K and W_KV in f32); a .slim runs the dtype it stores").choices(["f32", "f16", "q8_0", "q4_0"]))
    .addOption(new Option("--kcache <dtype>", "cache rows: f32, f16, or q8 (int8 plus a scale per row); slim layers whose V error grows too much at that precision keep a V-cache").choices(["f32", "f16", "q8"]).default("f32"))
    .option("--prefill-block <n>", `prompt tokens per pass over the weights (default ${DEFAULT_PREFILL_BLOCK}, or 1 with --board); each adds activation memory`, wholeNumber("--prefill-block", 1))
    .option("--emulate", "with --board: build the artifact and the native firmware, write the flash images and run them on the emulated board (QEMU), counting instructions per token")
    .option("--chat", "put the prompt in the model's chat template as a user message (refused for a model without one)", false)
    .option("--keep-going", "on <s> (the end of a training sequence) start a new line and go on, instead of stopping", false)
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
  if (flags.build === "simd") fail("E_FLAG", "--build simd: the native firmware is translated from the scalar build (wasm2c has no SIMD)");
  if (flags.kcache !== "f32") fail("E_FLAG", `--kcache ${flags.kcache}: the board firmware is built with f32 cache rows; leave --kcache out`);
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
      name: "model", board, ctx, mode: flags.mode, quant: flags.quant ?? "f32", simd: "off", out: artifactDir, threshold: flags.threshold,
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
    err.write(
      `RAM of ${board.name}: linear memory ${ram.linearMemory} + firmware .data/.bss ${ram.data + ram.bss} + native stack ${ram.stack} ` +
        `= ${ram.total} of ${ram.board} bytes (the native firmware keeps no module and no runtime); code ${fw.textBytes} bytes in flash\n`,
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
