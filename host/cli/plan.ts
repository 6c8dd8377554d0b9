/** `slimedge plan`: what fits on a board. */
import { Command, Option } from "commander";
import { fail } from "../core/errors.ts";
import { getBoard } from "../../boards/index.ts";
import { CACHE_DTYPES, WEIGHT_DTYPES, type PlanQuery } from "../../tools/package/fit.ts";
import { writeMemoryMap } from "../../tools/package/memory-map.ts";
import { number, wholeNumber } from "./options.ts";
import { plan as planFor } from "../api/build.ts";

export function register(cli: Command): void {
  cli
    .command("plan")
    .description("what fits on a board: the largest context slim vs vanilla per weight and K-cache precision; with --ctx, that plan's memory map")
    .argument("[checkpoint]", "a checkpoint or a .slim file; default: models/slimedge-tiny-v2/model.bin")
    .requiredOption("--board <name>", "board profile (see `slimedge boards`)")
    .option("--ctx <n>", "context length of one plan to map and check against the board", wholeNumber("--ctx", 1))
    .addOption(new Option("--mode <mode>", "attention of the --ctx plan").choices(["slim", "vanilla"]).default("slim"))
    .addOption(new Option("--weights <dtype>", "weight storage of the --ctx plan").choices([...WEIGHT_DTYPES]).default("f32"))
    .addOption(new Option("--k-cache <dtype>", "cache row storage of the --ctx plan").choices([...CACHE_DTYPES]).default("f32"))
    .option("--out <dir>", "with --ctx: write memory-map.svg and memory-map.txt into this folder")
    .option("--threshold <x>", "slimify threshold that decides, per cache precision, which layers stay slim", number("--threshold"), 1e-3)
    .action((checkpoint: string | undefined, flags: PlanQuery & { board: string; out?: string; threshold: number }) => {
      const board = getBoard(flags.board);
      if (flags.out !== undefined && flags.ctx === undefined) fail("E_FLAG", "--out: needs --ctx <n>, the context of the plan to draw");
      const { text, plan, error } = planFor({ checkpoint, board: flags.board, ctx: flags.ctx, mode: flags.mode, weights: flags.weights, cache: flags.kCache, threshold: flags.threshold });
      process.stdout.write(text + "\n");
      if (plan && flags.out !== undefined) {
        const files = writeMemoryMap(plan, flags.out, board);
        process.stdout.write(`wrote ${files.svg} and ${files.txt}\n`);
      }
      if (error) throw error;
    });
}
