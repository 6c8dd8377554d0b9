/** `slimedge build`: a board-ready artifact folder. */
import { existsSync, readFileSync } from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { Command, Option } from "commander";
import { importModel } from "../../tools/convert/import.ts";
import { loadTokenizer } from "../core/tokenizer.ts";
import { type AttentionMode, type WeightDtype } from "../core/plan.ts";
import { fail } from "../core/errors.ts";
import { getBoard } from "../../boards/index.ts";
import { WEIGHT_DTYPES } from "../../tools/package/fit.ts";
import { root, DEFAULT_MODEL_DIR, wholeNumber, number } from "./options.ts";

export function register(cli: Command): void {
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
}
