/** `slimedge build`: a board-ready artifact folder. */
import { basename, dirname, join, resolve } from "node:path";
import { Command } from "commander";
import { type AttentionMode, type CacheDtype, type WeightDtype, DECODER_WEIGHTS, planArena } from "../core/plan.ts";
import { addTerms } from "../core/vocabulary.ts";
import { planOptionsFor } from "../core/lowered.ts";
import { fail } from "../core/errors.ts";
import { getBoard } from "../../boards/index.ts";
import { overBudget, refusedBeforeSlimify } from "../../tools/package/fit.ts";
import { commandTokenizerBytes } from "../../tools/package/command-tokenizer.ts";
import { root, openModel, loadModelTokenizer, lowerSource } from "./options.ts";
import { writeFileAtomic } from "../core/files.ts";
import type { FirmwareKind } from "../../tools/package/firmware.ts";
import { RUNTIME_MEMORY } from "../../boards/runtimes.ts";
import { chipOfBoard, esptoolChipArg, planFlash, readArtifactDir } from "../ship/flash/images.ts";
import { partitionsCsv } from "../ship/flash/partitions.ts";
import { calibrationTokens } from "../../tools/convert/calibrate.ts";

export function register(cli: Command): void {
  const cmd = cli
    .command("build")
    .description("a board-ready artifact folder: reactor .wasm, standalone WASI .cmd.wasm, plan.json, memory map")
    .argument("[checkpoint]", "a .slim file (its stored weights and layer modes), or a checkpoint to slimify and lower; default: models/slimedge-tiny-v2/model.bin")
    ;
  addTerms(cmd, [
    ["board", { required: true }],
    ["ctx", { required: true }],
    ["mode", { description: "attention of a checkpoint: auto or slim (slimify decides per layer; vanilla for grouped K/V), or vanilla", default: "auto" }],
    ["weights", { description: "weight storage of a checkpoint: f32 (default), f16, q8_0 or q4_0; a .slim builds the dtype it stores" }],
    ["cache", { description: "cache row storage: f32, f16 or q8 (slimify decides the slim layers at that precision, as `plan` does)", default: "f32" }],
    ["simd", { default: "auto" }],
    ["tokenizer", { description: "tokenizer.json or tokenizer.bin to embed (default: the model's own)" }],
    ["threshold", { default: 1e-3 }],
    ["out", { description: "output folder (default: build/<board>)" }],
    ["firmware", { description: "also write an ESP-IDF project into <out>/firmware: wamr (WAMR's interpreter as a component) or native (the module through wasm2c)", choices: ["wamr", "native"] }],
    ["quiet"],
  ]);
  cmd
    .action(async (checkpoint: string | undefined, flags: { board: string; ctx: number; mode: AttentionMode | "auto"; weights?: WeightDtype; cache: CacheDtype; simd: "on" | "off" | "auto"; tokenizer?: string; threshold: number; out?: string; firmware?: FirmwareKind; quiet?: boolean }) => {
      // progress from the first second: reading and slimifying the model, loading the compiler, then build's own steps
      const STEPS = 9;
      const say = (i: number, what: string) => flags.quiet || process.stderr.write(`[${i}/${STEPS}] ${what}\n`);
      const board = getBoard(flags.board);
      if (flags.firmware) chipOfBoard(board); // an ESP-IDF project is for an Espressif board: say so before building
      if (flags.weights !== undefined && !DECODER_WEIGHTS.includes(flags.weights))
        fail("E_FLAG", `--weights ${flags.weights}: the decoder runs ${DECODER_WEIGHTS.join(" and ")} weights; \`slimedge plan\` sizes ${flags.weights}`);
      say(1, `read ${checkpoint ?? "the shipped model"} and its tokenizer`);
      const src = openModel(checkpoint);
      // the command's own form of the tokenizer: one clear line now rather than a packaging failure later
      const tokenizer = loadModelTokenizer(src, flags.tokenizer);
      const tokBytes = commandTokenizerBytes(tokenizer, src.config.vocabSize);
      // --ctx is checked before the slim transform and the compiler: the stored modes of a .slim, or the
      // smallest plan slimify could choose, must fit the board (tools/package/fit.ts refusedBeforeSlimify).
      const planOptions = { ...(src.slim ? planOptionsFor(src.slim.lowered) : { weights: flags.weights ?? "f32" }), kCache: flags.cache, tokenizerBytes: tokBytes.length };
      const early = src.slim
        ? overBudget(planArena(src.config, flags.ctx, src.slim.modes, planOptions), board)
        : refusedBeforeSlimify(src.config, flags.ctx, board, flags.mode, planOptions);
      if (early) throw early;
      // slimify decides on the model's calibration set, as `plan` and `run` without a prompt do
      const slimifyOptions = { threshold: flags.threshold, prompt: calibrationTokens(src.config, tokenizer), kCache: flags.cache };
      say(2, src.slim ? "stored layers and weights as they are" : `slimify at ${flags.cache} cache rows and lower to ${flags.weights ?? "f32"} weights`);
      const { lowered, layers, notes } = lowerSource(src, { mode: flags.mode, weights: flags.weights, slimify: slimifyOptions });
      for (const n of notes) process.stderr.write(`note: ${n}\n`);
      const out = flags.out ?? join(root, "build", board.name);
      const stem = basename(src.path).replace(/\.[^.]*$/, "");
      const name = stem === "model" ? basename(dirname(resolve(src.path))) : stem; // models/<name>/model.bin -> <name>
      // loaded here, not at start-up: the compiler and binaryen take seconds to load, and only `build` needs them
      say(3, "load the compiler (AssemblyScript, binaryen)");
      const { buildLowered } = await import("../../tools/package/build.ts");
      const result = await buildLowered(lowered, layers, tokBytes, {
        name, board, ctx: flags.ctx, simd: flags.simd, kCache: flags.cache, out,
        onStep: (i, _n, what) => say(i + 3, what),
      });
      const p = result.plan;
      process.stdout.write(
        `${name} for ${board.name}: ${p.pages} pages (${p.totalBytes} bytes planned), ctx ${p.ctx}, layers ${p.modes.map((m) => (m === "slim" ? "S" : "V")).join("")}, ${p.weights} weights, ${p.kCache} cache rows, ${result.build} build\n` +
          result.files.map((f) => `  ${f}\n`).join("") +
          `run it: node ${join(root, "host", "ship", "deploy", "run-wasi.mjs")} ${join(out, `${name}.cmd.wasm`)} "Once upon a time" -n 64   (or: wasmtime ${join(out, `${name}.cmd.wasm`)} "Once upon a time" -n 64)\n`,
      );
      if (flags.firmware) {
        const { writeIdfProject } = await import("../../tools/package/firmware.ts");
        const project = join(out, "firmware");
        const stack = RUNTIME_MEMORY[board.runtime]?.wasmStackBytes || 8192;
        const files = writeIdfProject(out, board.name, flags.firmware, project, stack);
        // the layout `slimedge flash` writes, so idf.py and the board agree on where the partitions are
        writeFileAtomic(join(project, "partitions.csv"), partitionsCsv(planFlash(readArtifactDir(out), board).partitions), "partitions.csv");
        process.stdout.write(
          `ESP-IDF project (${flags.firmware} firmware) in ${project}: ${files.length + 1} files\n` +
            `build it: cd ${project} && ${flags.firmware === "wamr" ? "WAMR_PATH=<wasm-micro-runtime checkout> " : ""}idf.py set-target ${esptoolChipArg(chipOfBoard(board))} build\n` +
            `then: slimedge flash ${out} --port <port> (it finds ${join(project, "build", "slimedge.bin")})\n`,
        );
      }
    });
}
