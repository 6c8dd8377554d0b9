/** `slimedge build`: a board-ready artifact folder. */
import { join } from "node:path";
import { Command } from "commander";
import type { AttentionMode, CacheDtype, WeightDtype } from "../core/plan.ts";
import { addTerms } from "../core/vocabulary.ts";
import { getBoard } from "../../boards/index.ts";
import { root } from "./options.ts";
import { build } from "../api/build.ts";
import { writeFileAtomic } from "../core/files.ts";
import type { FirmwareKind } from "../../tools/package/firmware.ts";
import { RUNTIME_MEMORY } from "../../boards/runtimes.ts";
import { chipOfBoard, esptoolChipArg, planFlash, readArtifactDir } from "../ship/flash/images.ts";
import { partitionsCsv } from "../ship/flash/partitions.ts";

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
      const board = getBoard(flags.board);
      if (flags.firmware) chipOfBoard(board); // an ESP-IDF project is for an Espressif board: say so before building
      const result = await build({
        checkpoint, board: flags.board, ctx: flags.ctx, mode: flags.mode, weights: flags.weights, cache: flags.cache,
        simd: flags.simd === "auto" ? undefined : flags.simd === "on", tokenizer: flags.tokenizer, threshold: flags.threshold, out: flags.out,
        onNote: (n) => process.stderr.write(`note: ${n}\n`),
        onProgress: (i, n, what) => flags.quiet || process.stderr.write(`[${i}/${n}] ${what}\n`),
      });
      const { name, out } = result;
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
