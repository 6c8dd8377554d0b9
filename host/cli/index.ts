/**
 * The `slimedge` command line: a thin layer over the library. User errors become one line on stderr and a
 * non-zero exit code; only a bug prints a stack trace.
 *
 * This is the one module of host/ that reaches into tools/ and boards/: running a raw checkpoint in slim
 * mode needs the offline slim transform (W_KV in float64) at load time, and planning needs board profiles.
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { Command, Option, InvalidArgumentError, CommanderError } from "commander";
import type { Model } from "../core/model.ts";
import { loadLlama2c } from "../../tools/convert/llama2c.ts";
import { importModel } from "../../tools/convert/import.ts";
import { loadTokenizer, type Tokenizer } from "../core/tokenizer.ts";
import { SAMPLER_DEFAULTS } from "../runtime/sampler.ts";
import { generate, resolveModes, summaryLine, type SlimLayers } from "../runtime/generate.ts";
import { planArena, type AttentionMode, type CacheDtype, type WeightDtype } from "../core/plan.ts";
import type { Build } from "../runtime/decoder.ts";
import { syntheticModel } from "../core/synthetic.ts";
import { SlimError, fail } from "../core/errors.ts";
import { slimify, formatSlimifyReport } from "../../tools/convert/slimify.ts";
import { allBoards, getBoard } from "../../boards/index.ts";
import { CACHE_DTYPES, WEIGHT_DTYPES, boardThroughput, formatBoardTable, overBudget, planOnBoard, type PlanQuery } from "../../tools/package/fit.ts";
import { estimateTokensPerSecond } from "../core/estimate.ts";
import { writeMemoryMap } from "../../tools/package/memory-map.ts";
import { DEFAULT_REMOTE_DIR, deployCommand, rollbackCommand, type BoardFlags, type DeployFlags } from "../ship/deploy/commands.ts";
import { SSH_RUNTIMES } from "../ship/deploy/release.ts";
import { hasSlimMagic, loadSlimForRun } from "../core/container.ts";
import { BIG_INPUT_BYTES, convertModel, convertSummary, inputBytes, inspectFile } from "../../tools/convert/pack.ts";
import { progressBar } from "../core/progress.ts";
import { DEFAULT_APP_BYTES } from "../ship/flash/partitions.ts";
import { flashCommand, parseBytes, type FlashFlags } from "../ship/flash/command.ts";
import { REPORT_CACHES, REPORT_WEIGHTS, formatQuantizationReport, parseDtypes, quantizationReport, writeReportJson } from "../../tools/convert/quantize-report.ts";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const DEFAULT_MODEL_DIR = join(root, "models", "slimedge-tiny");

const wholeNumber = (flag: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < min) throw new InvalidArgumentError(`${flag}: expected a whole number ≥ ${min}, got "${v}"`);
  return n;
};
const number = (flag: string) => (v: string) => {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag}: expected a number, got "${v}"`);
  return n;
};

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
  quant: WeightDtype;
  kcache: CacheDtype;
  threshold: number;
  keepGoing?: boolean;
}

/** The checkpoint and tokenizer to run, and a sentence when they are not what the user might assume. */
function resolveModel(checkpoint: string | undefined, tokenizerPath: string | undefined): { model: Model; tokenizer: Tokenizer; notice?: string; slim?: SlimLayers } {
  if (checkpoint && hasSlimMagic(checkpoint)) return loadSlimForRun(checkpoint, tokenizerPath); // stored layer modes, W_KV, tokenizer
  if (checkpoint) {
    const model = importModel(checkpoint).model; // llama2.c, GGUF or a Hugging Face folder
    const tokPath = tokenizerPath ?? join(statSync(checkpoint).isDirectory() ? checkpoint : dirname(checkpoint), "tokenizer.bin");
    if (!existsSync(tokPath)) fail("E_FILE", `${tokPath}: no tokenizer next to the checkpoint; pass --tokenizer <tokenizer.bin>`);
    return { model, tokenizer: loadTokenizer(tokPath, model.config.vocabSize) };
  }
  const shipped = join(DEFAULT_MODEL_DIR, "model.bin");
  const tokPath = tokenizerPath ?? join(DEFAULT_MODEL_DIR, "tokenizer.bin");
  if (existsSync(shipped)) {
    const model = loadLlama2c(shipped);
    return { model, tokenizer: loadTokenizer(tokPath, model.config.vocabSize) };
  }
  // No trained default model in this checkout: random weights of the default shape, said plainly.
  const tokenizer = loadTokenizer(tokPath);
  const model = syntheticModel(
    { arch: "llama", dim: 128, hiddenDim: 352, nLayers: 6, nHeads: 8, nKvHeads: 8, vocabSize: tokenizer.vocabSize, seqLen: 2048, normEps: 1e-5, ropeTheta: 10000, sharedClassifier: true },
    1,
  );
  return { model, tokenizer, notice: `no trained default model found at ${shipped}: running RANDOM weights generated on the fly, so the text is noise` };
}

async function run(checkpoint: string | undefined, flags: RunFlags, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<void> {
  const { model, tokenizer, notice, slim } = resolveModel(checkpoint, flags.tokenizer);
  if (notice) err.write(`note: ${notice}\n`);
  const ctx = flags.ctx ?? model.config.seqLen;
  if (ctx > model.config.seqLen) fail("E_FLAG", `--ctx ${ctx} exceeds the model's seq_len ${model.config.seqLen}`);
  const prompt = tokenizer.encode(flags.prompt, { bos: true });
  const layers = resolveModes(model, flags.mode, (): SlimLayers => {
    if (slim) return slim; // a .slim file carries its per-layer decision and W_KV
    const report = slimify(model, { threshold: flags.threshold, prompt: prompt.slice(0, 64), kCache: flags.kcache });
    const notes = report.layers
      .filter((l) => l.mode === "vanilla")
      .map((l) => `layer ${l.layer} keeps its V-cache: ${l.reason ?? "reconstruction error above the threshold"}`);
    return { modes: report.layers.map((l) => l.mode), wkv: report.wkv, notes };
  });
  for (const n of layers.notes) err.write(`note: ${n}\n`);
  // A simulated board: its memory budget is enforced before anything loads, and its runtime's SIMD decides the build.
  const board = flags.board === undefined ? undefined : getBoard(flags.board);
  const build: Build = flags.build ?? (board && !board.simd ? "scalar" : "simd");
  if (board && !board.simd && build === "simd") fail("E_FLAG", `--build simd: ${board.name} runs ${board.runtime} without WASM SIMD`);
  const result = await generate(model, tokenizer, layers, {
    prompt: flags.prompt,
    steps: flags.steps,
    ctx,
    build,
    weights: flags.quant,
    kCache: flags.kcache,
    keepGoing: flags.keepGoing,
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

export function program(): Command {
  const cli = new Command("slimedge")
    .description("Transformer language models as fixed-memory WebAssembly, with slim attention (K-cache only).");
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
    .option("--tokenizer <file>", "tokenizer.bin (default: next to the checkpoint)")
    .addOption(new Option("--build <build>", "decoder build (default: simd, or scalar on a --board without WASM SIMD)").choices(["simd", "scalar"]))
    .option("--board <name>", "simulate a board (see `slimedge boards`): enforce its memory budget, use its SIMD or not, estimate its speed")
    .option("--threshold <x>", "largest V-reconstruction error a slim layer may have", number("--threshold"), 1e-3)
    .addOption(new Option("--quant <dtype>", "weight storage (slim layers keep W_K and W_KV in f32)").choices(["f32", "f16", "q8_0", "q4_0"]).default("f32"))
    .addOption(new Option("--kcache <dtype>", "cache rows: f32, f16, or q8 (int8 plus a scale per row); slim layers whose V error grows too much at that precision keep a V-cache").choices(["f32", "f16", "q8"]).default("f32"))
    .option("--keep-going", "on <s> (the end of a training sequence) start a new line and go on, instead of stopping", false)
    .action(async (checkpoint: string | undefined, flags: RunFlags) => run(checkpoint, flags, process.stdout, process.stderr));
  cli
    .command("slimify")
    .description("per layer: cond(W_K), max |W_KV| and V-reconstruction error, and whether the layer runs slim")
    .argument("<checkpoint>", "llama2.c model .bin")
    .option("-p, --prompt <text>", "prompt whose activations measure the error (needs the tokenizer)", "Once upon a time")
    .option("--tokenizer <file>", "tokenizer.bin (default: next to the checkpoint)")
    .option("--threshold <x>", "largest V-reconstruction error a slim layer may have", number("--threshold"), 1e-3)
    .action((checkpoint: string, flags: { prompt: string; tokenizer?: string; threshold: number }) => {
      const { model, tokenizer } = resolveModel(checkpoint, flags.tokenizer);
      const prompt = tokenizer.encode(flags.prompt, { bos: true }).slice(0, 256);
      const report = slimify(model, { threshold: flags.threshold, prompt });
      process.stdout.write(formatSlimifyReport(report) + "\n");
      const perToken = planArena(model.config, 1, report.layers.map((l) => l.mode)); // one cache row per layer
      const slim = report.layers.filter((l) => l.mode === "slim").length;
      process.stdout.write(
        `${slim} of ${model.config.nLayers} layers slim: context memory ${perToken.contextBytes} bytes/token ` +
          `(vanilla ${perToken.vanillaContextBytes})\n`,
      );
    });
  cli
    .command("quantize-report")
    .description("what f16 / q8_0 / q4_0 weights and f16 / q8 cache rows cost a checkpoint, against its float64 forward pass: per tensor, per layer on the logits, and K-cache error amplified into V by W_KV")
    .argument("<checkpoint>", "llama2.c model .bin, GGUF or Hugging Face folder")
    .option("-p, --prompt <text>", "prompt measured on, encoded with the tokenizer.bin next to the checkpoint (without one: token ids 1..32)", "Once upon a time")
    .option("--weights <list>", `weight dtypes, comma-separated (default ${REPORT_WEIGHTS.join(",")})`, REPORT_WEIGHTS.join(","))
    .option("--kcache <list>", `cache row dtypes, comma-separated (default ${REPORT_CACHES.join(",")})`, REPORT_CACHES.join(","))
    .option("--json <file>", "also write the report as JSON (to a temporary name, then renamed)")
    .action((checkpoint: string, flags: { prompt: string; weights: string; kcache: string; json?: string }) => {
      const weights = parseDtypes("--weights", flags.weights, ["f32", "f16", "q8_0", "q4_0"] as const);
      const kCaches = parseDtypes("--kcache", flags.kcache, ["f32", "f16", "q8"] as const);
      const model = importModel(checkpoint).model;
      const tokPath = join(statSync(checkpoint).isDirectory() ? checkpoint : dirname(checkpoint), "tokenizer.bin");
      const tokens = existsSync(tokPath)
        ? loadTokenizer(tokPath, model.config.vocabSize).encode(flags.prompt, { bos: true }).slice(0, model.config.seqLen)
        : Array.from({ length: Math.min(32, model.config.vocabSize - 1, model.config.seqLen) }, (_, i) => i + 1);
      const report = quantizationReport(model, tokens, { weights, kCaches });
      process.stdout.write(formatQuantizationReport(report) + "\n");
      if (flags.json !== undefined) {
        writeReportJson(report, flags.json);
        process.stdout.write(`wrote ${flags.json}\n`);
      }
    });
  cli
    .command("boards")
    .description("the board profiles: memory for the module's linear memory, flash, runtime, WASM SIMD (facts and sources in boards/)")
    .action(() => {
      process.stdout.write(formatBoardTable(allBoards()) + "\n");
    });
  cli
    .command("plan")
    .description("what fits on a board: the largest context slim vs vanilla per weight and K-cache precision; with --ctx, that plan's memory map")
    .argument("[checkpoint]", "llama2.c model .bin; default: models/slimedge-tiny/model.bin")
    .requiredOption("--board <name>", "board profile (see `slimedge boards`)")
    .option("--ctx <n>", "context length of one plan to map and check against the board", wholeNumber("--ctx", 1))
    .addOption(new Option("--mode <mode>", "attention of the --ctx plan").choices(["slim", "vanilla"]).default("slim"))
    .addOption(new Option("--weights <dtype>", "weight storage of the --ctx plan").choices([...WEIGHT_DTYPES]).default("f32"))
    .addOption(new Option("--k-cache <dtype>", "cache row storage of the --ctx plan").choices([...CACHE_DTYPES]).default("f32"))
    .option("--out <dir>", "with --ctx: write memory-map.svg and memory-map.txt into this folder")
    .action((checkpoint: string | undefined, flags: PlanQuery & { board: string; out?: string }) => {
      const board = getBoard(flags.board);
      if (flags.out !== undefined && flags.ctx === undefined) fail("E_FLAG", "--out: needs --ctx <n>, the context of the plan to draw");
      const path = checkpoint ?? join(DEFAULT_MODEL_DIR, "model.bin");
      if (!checkpoint && !existsSync(path)) fail("E_FILE", `${path}: no checkpoint given and no default model there; pass a llama2.c .bin`);
      const { text, plan, error } = planOnBoard(importModel(path).model.config, board, flags);
      process.stdout.write(text + "\n");
      if (plan && flags.out !== undefined) {
        const files = writeMemoryMap(plan, flags.out, board);
        process.stdout.write(`wrote ${files.svg} and ${files.txt}\n`);
      }
      if (error) throw error;
    });
  cli
    .command("build")
    .description("a board-ready artifact folder: reactor .wasm, standalone WASI .cmd.wasm, plan.json, memory map")
    .argument("[checkpoint]", "llama2.c model .bin; default: models/slimedge-tiny/model.bin")
    .requiredOption("--board <name>", "board profile (see `slimedge boards`)")
    .requiredOption("--ctx <n>", "context length to plan for", wholeNumber("--ctx", 1))
    .addOption(new Option("--mode <mode>", "attention: slim, vanilla, or auto (slim unless the model has grouped K/V)").choices(["slim", "vanilla", "auto"]).default("auto"))
    .addOption(new Option("--quant <dtype>", "weight storage").choices([...WEIGHT_DTYPES]).default("f32"))
    .addOption(new Option("--simd <when>", "SIMD build: on, off, or auto (what the board's runtime has)").choices(["on", "off", "auto"]).default("auto"))
    .option("--tokenizer <file>", "tokenizer.bin to embed (default: next to the checkpoint)")
    .option("--threshold <x>", "largest V-reconstruction error a slim layer may have", number("--threshold"), 1e-3)
    .option("--out <dir>", "output folder (default: build/<board>)")
    .action(async (checkpoint: string | undefined, flags: { board: string; ctx: number; mode: AttentionMode | "auto"; quant: WeightDtype; simd: "on" | "off" | "auto"; tokenizer?: string; threshold: number; out?: string }) => {
      const board = getBoard(flags.board);
      const path = checkpoint ?? join(DEFAULT_MODEL_DIR, "model.bin");
      if (!checkpoint && !existsSync(path)) fail("E_FILE", `${path}: no checkpoint given and no default model there; pass a llama2.c .bin`);
      const model = importModel(path).model;
      const tokPath = flags.tokenizer ?? join(dirname(path), "tokenizer.bin");
      loadTokenizer(tokPath, model.config.vocabSize); // one clear line now rather than a packaging failure later
      const out = flags.out ?? join(root, "build", board.name);
      const stem = basename(path).replace(/\.[^.]*$/, "");
      const name = stem === "model" ? basename(dirname(resolve(path))) : stem; // models/<name>/model.bin -> <name>
      // loaded here, not at start-up: the compiler and binaryen take seconds to load, and only `build` needs them
      const { buildArtifact } = await import("../../tools/package/build.ts");
      const result = await buildArtifact(model, readFileSync(tokPath), {
        name, board, ctx: flags.ctx, mode: flags.mode, quant: flags.quant, simd: flags.simd, out, threshold: flags.threshold,
        onStep: (i, n, what) => process.stderr.write(`[${i}/${n}] ${what}\n`),
      });
      const p = result.plan;
      process.stdout.write(
        `${name} for ${board.name}: ${p.pages} pages (${p.totalBytes} bytes planned), ctx ${p.ctx}, layers ${p.modes.map((m) => (m === "slim" ? "S" : "V")).join("")}, ${result.build} build\n` +
          result.files.map((f) => `  ${f}\n`).join("") +
          `run it: wasmtime ${join(out, `${name}.cmd.wasm`)} "Once upon a time" -n 64\n`,
      );
    });
  cli
    .command("deploy")
    .description("put a `slimedge build` folder on a single-board computer over SSH (or on every board of an inventory), switch to it atomically, and run it")
    .argument("<artifact-dir>", "folder written by slimedge build: <name>.cmd.wasm, <name>.wasm, plan.json, memory map")
    .option("--host <user@addr[:port]>", "the board to deploy to")
    .option("--inventory <boards.yaml>", "deploy to every board listed there instead (name, host, port, user, key, board, runtime, remote-dir)")
    .option("--board <name>", "board profile the artifact was built for (see `slimedge boards`); needed with --host")
    .option("--key <file>", "SSH private key (default: ssh-agent and ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")
    .addOption(new Option("--runtime <name>", "what runs <name>.cmd.wasm on the board (default: the board profile's)").choices([...SSH_RUNTIMES]))
    .option("--remote-dir <dir>", `where releases live on the board (default: ${DEFAULT_REMOTE_DIR})`)
    .option("--known-hosts <file>", "known_hosts file to check the host key against (default: ~/.ssh/known_hosts)")
    .option("--host-key-sha256 <fp>", "trust exactly this host key fingerprint (SHA256:…, as ssh-keygen -lf prints it)")
    .option("--accept-new-host-key", "first contact: record an unknown host key in the known_hosts file (a changed key is still refused)")
    .option("-p, --prompt <text>", "prompt for the run after deploying (default: \"Once upon a time\")")
    .option("-n, --steps <n>", "tokens to generate in that run (default: 64)", wholeNumber("-n/--steps", 0))
    .option("--no-run", "deploy only; do not run the model")
    .option("--concurrency <n>", "boards deployed at once with --inventory", wholeNumber("--concurrency", 1), 4)
    .option("--timeout <s>", "seconds per board for connecting, uploading, checking and switching", wholeNumber("--timeout", 1), 120)
    .action((dir: string, flags: DeployFlags) => deployCommand(dir, flags, process.stdout, process.stderr));
  cli
    .command("rollback")
    .description("point the board's current release back at the previous one (again: forward to the one rolled back from)")
    .option("--host <user@addr[:port]>", "the board")
    .option("--inventory <boards.yaml>", "roll back every board listed there instead")
    .option("--key <file>", "SSH private key (default: ssh-agent and ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")
    .option("--remote-dir <dir>", `where releases live on the board (default: ${DEFAULT_REMOTE_DIR})`)
    .option("--known-hosts <file>", "known_hosts file to check the host key against (default: ~/.ssh/known_hosts)")
    .option("--host-key-sha256 <fp>", "trust exactly this host key fingerprint (SHA256:…)")
    .option("--accept-new-host-key", "first contact: record an unknown host key in the known_hosts file")
    .option("--concurrency <n>", "boards at once with --inventory", wholeNumber("--concurrency", 1), 4)
    .option("--timeout <s>", "seconds per board", wholeNumber("--timeout", 1), 60)
    .action((flags: BoardFlags) => rollbackCommand(flags, process.stdout, process.stderr));
  cli
    .command("convert")
    .description("a checkpoint as a .slim container: slimify per layer, embed the tokenizer, checksums (format: host/container.ts)")
    .argument("<checkpoint>", "llama2.c model .bin (v0, v1 or v2), or a .slim file to convert again")
    .requiredOption("-o, --out <file>", "the .slim file to write (written to a temporary name, then renamed)")
    .addOption(new Option("--dtype <dtype>", "storage of the weight matrices (q8_0 / q4_0: groups of 32); W_KV, norms and biases stay f32, and under q8_0 / q4_0 also slim layers' W_K and learned positions").choices(["f32", "f16", "q8_0", "q4_0"]).default("f32"))
    .addOption(new Option("--mode <mode>", "auto: slimify decides per layer; slim: every layer whose W_K inverts; vanilla: no layer").choices(["auto", "slim", "vanilla"]).default("auto"))
    .option("--threshold <x>", "largest V-reconstruction error a slim layer may have", number("--threshold"), 1e-3)
    .option("--tokenizer <file>", "tokenizer.bin to embed (default: next to the checkpoint)")
    .option("-p, --prompt <text>", "calibration prompt slimify measures the error on (needs the tokenizer)")
    .action((checkpoint: string, flags: { out: string; dtype: "f32" | "f16" | "q8_0" | "q4_0"; mode: "auto" | "slim" | "vanilla"; threshold: number; tokenizer?: string; prompt?: string }) => {
      const bar = progressBar("packing [{bar}] {percentage}% | {value}/{total} MiB | tensor {tensor}", {
        always: inputBytes(checkpoint) > BIG_INPUT_BYTES, // a big conversion logs its progress even into a pipe
        formatValue: (v) => (v / 2 ** 20).toFixed(1),
      });
      try {
        const onStage = bar.shown ? (s: string) => (bar.stop(), process.stderr.write(`${s}\n`)) : undefined;
        const onProgress = (index: number, written: number, total: number) => bar.update(written, total, { tensor: index + 1 });
        const result = convertModel(checkpoint, flags.out, { ...flags, onStage, onProgress });
        bar.stop();
        for (const n of result.notes) process.stderr.write(`note: ${n}\n`);
        process.stdout.write(convertSummary(result, flags.dtype) + "\n");
      } finally {
        bar.stop();
      }
    });
  cli
    .command("inspect")
    .description("what a model file holds: architecture, parameters, dtypes, per-layer conditioning and layout, context memory per token, checksums")
    .argument("<file>", ".slim container or llama2.c model .bin")
    .option("--threshold <x>", "for a checkpoint: the slimify threshold that decides each layer", number("--threshold"), 1e-3)
    .action((file: string, flags: { threshold: number }) => {
      process.stdout.write(inspectFile(file, flags.threshold) + "\n");
    });
  cli
    .command("flash")
    .description("write a `slimedge build` folder to an ESP32 board's flash with esptool-js (partition table, model, reactor + plan), each image MD5-verified; or, with --out, the images and flash_args for esptool.py")
    .argument("<artifact-dir>", "folder written by slimedge build: <name>.cmd.wasm, <name>.wasm, plan.json")
    .option("--board <name>", "board profile (see `slimedge boards`); default: the board plan.json was planned for")
    .option("--port <device>", "the board's serial port, e.g. /dev/ttyUSB0 or /dev/ttyACM0")
    .option("--baud <n>", "baud rate after connecting at 115200", wholeNumber("--baud", 9600), 460800)
    .option("--out <dir>", "write partition-table.bin, model.bin, artifact.bin, flash_args and partitions.csv here instead of flashing")
    .option("--firmware <app.bin>", "board firmware to write into the factory app partition (default: the partition is reserved, not written)")
    .option("--app-size <bytes>", "size of the factory app partition, e.g. 1M or 0x180000 (grown to fit --firmware)", parseBytes("--app-size"), DEFAULT_APP_BYTES)
    .addOption(new Option("--before <how>", "default_reset: DTR/RTS put the board into its bootloader; no_reset: it is there already").choices(["default_reset", "no_reset"]).default("default_reset"))
    .addOption(new Option("--after <how>", "hard_reset: RTS pulse; soft_reset: the ROM jumps to the app; no_reset: stay in the bootloader").choices(["hard_reset", "soft_reset", "no_reset"]).default("hard_reset"))
    .option("--verbose", "print esptool-js's own messages")
    .action((dir: string, flags: FlashFlags) => flashCommand(dir, flags, process.stdout, process.stderr));
  return cli;
}

export async function main(argv: string[]): Promise<number> {
  const cli = program();
  cli.exitOverride();
  cli.commands.forEach((c) => c.exitOverride());
  try {
    await cli.parseAsync(argv, { from: "user" });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2; // commander already printed its one line
    if (e instanceof SlimError) {
      process.stderr.write(`slimedge: ${e.message}\n`);
      return e.code === "E_FLAG" ? 2 : 1;
    }
    throw e;
  }
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main(process.argv.slice(2)).then((code) => (process.exitCode = code));
}
