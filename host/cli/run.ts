/** `slimedge run`: generate text on the simulated board. */
import { Command, Option } from "commander";
import { SAMPLER_DEFAULTS } from "../runtime/sampler.ts";
import { generate, summaryLine } from "../runtime/generate.ts";
import { type AttentionMode, type CacheDtype, type WeightDtype } from "../core/plan.ts";
import type { Build } from "../runtime/decoder.ts";
import { fail } from "../core/errors.ts";
import { getBoard } from "../../boards/index.ts";
import { boardThroughput, overBudget } from "../../tools/package/fit.ts";
import { estimateTokensPerSecond } from "../core/estimate.ts";
import { wholeNumber, number, openModel, loadModelTokenizer, lowerSource } from "./options.ts";
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
}

export async function run(checkpoint: string | undefined, flags: RunFlags, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<void> {
  const src = openModel(checkpoint, { random: true });
  const tokenizer = loadModelTokenizer(src, flags.tokenizer);
  if (src.notice) err.write(`note: ${src.notice}\n`);
  const seqLen = src.config.seqLen;
  const ctx = flags.ctx ?? seqLen;
  if (ctx > seqLen) fail("E_FLAG", `--ctx ${ctx} exceeds the model's seq_len ${seqLen}`);
  const prompt = tokenizer.prompt(flags.prompt);
  // A .slim file runs its stored bytes and layer modes; a checkpoint is slimified on this prompt and lowered.
  const { lowered, notes } = lowerSource(src, {
    mode: flags.mode,
    weights: flags.quant,
    slimify: { threshold: flags.threshold, prompt: prompt.slice(0, 64), kCache: flags.kcache },
  });
  for (const n of notes) err.write(`note: ${n}\n`);
  // A simulated board: its memory budget is enforced before anything loads, and its runtime's SIMD decides the build.
  const board = flags.board === undefined ? undefined : getBoard(flags.board);
  const build: Build = flags.build ?? (board && !board.simd ? "scalar" : "simd");
  if (board && !board.simd && build === "simd") fail("E_FLAG", `--build simd: ${board.name} runs ${board.runtime} without WASM SIMD`);
  const result = await generate(lowered, tokenizer, {
    prompt: flags.prompt,
    steps: flags.steps,
    ctx,
    build,
    kCache: flags.kcache,
    keepGoing: flags.keepGoing,
    // a simulated board keeps the smallest arena unless asked; the host takes prompts 16 tokens per weight pass
    prefillBlock: flags.prefillBlock ?? (board ? 1 : DEFAULT_PREFILL_BLOCK),
    sampler: { temperature: flags.temp, topP: flags.topP, seed: flags.seed },
    onText: (s) => out.write(s),
    checkPlan: (plan) => {
      const over = board && overBudget(plan, board);
      if (over) throw over;
    },
  });
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
    .argument("[checkpoint]", "llama2.c .bin (v0/v1/v2), .slim, GGUF, or a Hugging Face folder; default: models/slimedge-tiny/model.bin")
    .option("-p, --prompt <text>", "prompt text", "Once upon a time")
    .option("-n, --steps <n>", "tokens to generate after the prompt", wholeNumber("-n/--steps", 0), 64)
    .addOption(new Option("--mode <mode>", "attention: slim (K-cache only) or vanilla (K+V cache)").choices(["slim", "vanilla"]).default("slim"))
    .option("--temp <t>", "sampling temperature; 0 = greedy", number("--temp"), SAMPLER_DEFAULTS.temperature)
    .option("--top-p <p>", "nucleus sampling threshold in (0, 1]", number("--top-p"), SAMPLER_DEFAULTS.topP)
    .option("--seed <n>", "random seed", wholeNumber("--seed", 1), SAMPLER_DEFAULTS.seed)
    .option("--ctx <n>", "context length to plan for (default: the model's seq_len)", wholeNumber("--ctx", 1))
    .option("--tokenizer <file>", "tokenizer.json or tokenizer.bin (default: the model's own: embedded in .slim/GGUF, or beside the checkpoint)")
    .addOption(new Option("--build <build>", "decoder build (default: simd, or scalar on a --board without WASM SIMD)").choices(["simd", "scalar"]))
    .option("--board <name>", "simulate a board (see `slimedge boards`): enforce its memory budget, use its SIMD or not, estimate its speed")
    .option("--threshold <x>", "largest V-reconstruction error a slim layer may have", number("--threshold"), 1e-3)
    .addOption(new Option("--quant <dtype>", "weight storage of a checkpoint (default f32; slim layers keep W_K and W_KV in f32); a .slim runs the dtype it stores").choices(["f32", "f16", "q8_0", "q4_0"]))
    .addOption(new Option("--kcache <dtype>", "cache rows: f32, f16, or q8 (int8 plus a scale per row); slim layers whose V error grows too much at that precision keep a V-cache").choices(["f32", "f16", "q8"]).default("f32"))
    .option("--prefill-block <n>", `prompt tokens per pass over the weights (default ${DEFAULT_PREFILL_BLOCK}, or 1 with --board); each adds activation memory`, wholeNumber("--prefill-block", 1))
    .option("--keep-going", "on <s> (the end of a training sequence) start a new line and go on, instead of stopping", false)
    .action(async (checkpoint: string | undefined, flags: RunFlags) => run(checkpoint, flags, process.stdout, process.stderr));
}
