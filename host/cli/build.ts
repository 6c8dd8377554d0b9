/** `slimedge build`: a board-ready artifact folder. */
import { join } from "node:path";
import { Command, Option } from "commander";
import { type AttentionMode, type WeightDtype } from "../core/plan.ts";
import { getBoard } from "../../boards/index.ts";
import { WEIGHT_DTYPES } from "../../tools/package/fit.ts";
import { wholeNumber, positive } from "./options.ts";
import { build } from "../api/build.ts";
import { writeFileAtomic } from "../core/files.ts";
import type { FirmwareKind } from "../../tools/package/firmware.ts";
import { RUNTIME_MEMORY } from "../../boards/runtimes.ts";
import { chipOfBoard, esptoolChipArg, planFlash, readArtifactDir } from "../ship/flash/images.ts";
import { partitionsCsv } from "../ship/flash/partitions.ts";

export function register(cli: Command): void {
  cli
    .command("build")
    .description("a board-ready artifact folder: reactor .wasm, standalone WASI .cmd.wasm, plan.json, memory map")
    .argument("[checkpoint]", "a .slim file (its stored weights and layer modes), or a checkpoint to slimify and lower; default: models/slimedge-tiny-v2/model.bin")
    .requiredOption("--board <name>", "board profile (see `slimedge boards`)")
    .requiredOption("--ctx <n>", "context length to plan for", wholeNumber("--ctx", 1))
    .addOption(new Option("--mode <mode>", "attention of a checkpoint: slim or auto (slimify decides per layer; vanilla for grouped K/V), or vanilla").choices(["slim", "vanilla", "auto"]).default("auto"))
    .addOption(new Option("--quant <dtype>", "weight storage of a checkpoint (default f32); a .slim builds the dtype it stores").choices([...WEIGHT_DTYPES]))
    .addOption(new Option("--simd <when>", "SIMD build: on, off, or auto (what the board's runtime has)").choices(["on", "off", "auto"]).default("auto"))
    .option("--tokenizer <file>", "tokenizer.json or tokenizer.bin to embed (default: the model's own)")
    .option("--threshold <x>", "largest V-reconstruction error a slim layer may have", positive("--threshold"), 1e-3)
    .option("--out <dir>", "output folder (default: build/<board>)")
    .addOption(new Option("--firmware <kind>", "also write an ESP-IDF project into <out>/firmware: wamr (WAMR's interpreter as a component) or native (the module through wasm2c)").choices(["wamr", "native"]))
    .action(async (checkpoint: string | undefined, flags: { board: string; ctx: number; mode: AttentionMode | "auto"; quant?: WeightDtype; simd: "on" | "off" | "auto"; tokenizer?: string; threshold: number; out?: string; firmware?: FirmwareKind }) => {
      const board = getBoard(flags.board);
      if (flags.firmware) chipOfBoard(board); // an ESP-IDF project is for an Espressif board: say so before building
      const result = await build({
        checkpoint, board: flags.board, ctx: flags.ctx, mode: flags.mode, weights: flags.quant,
        simd: flags.simd === "auto" ? undefined : flags.simd === "on", tokenizer: flags.tokenizer, threshold: flags.threshold, out: flags.out,
        onNote: (n) => process.stderr.write(`note: ${n}\n`),
        onProgress: (i, n, what) => process.stderr.write(`[${i}/${n}] ${what}\n`),
      });
      const { name, out } = result;
      const p = result.plan;
      process.stdout.write(
        `${name} for ${board.name}: ${p.pages} pages (${p.totalBytes} bytes planned), ctx ${p.ctx}, layers ${p.modes.map((m) => (m === "slim" ? "S" : "V")).join("")}, ${p.weights} weights, ${result.build} build\n` +
          result.files.map((f) => `  ${f}\n`).join("") +
          `run it: wasmtime ${join(out, `${name}.cmd.wasm`)} "Once upon a time" -n 64\n`,
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
