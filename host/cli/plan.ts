/** `slimedge plan`: what fits on a board. */
import { Command } from "commander";
import type { AttentionMode, CacheDtype } from "../core/plan.ts";
import { addTerms } from "../core/vocabulary.ts";
import { fail } from "../core/errors.ts";
import { getBoard } from "../../boards/index.ts";
import type { PlanQuery } from "../../tools/package/fit.ts";
import { writeMemoryMap } from "../../tools/package/memory-map.ts";
import { plan as planFor } from "../api/build.ts";

export function register(cli: Command): void {
  const cmd = cli
    .command("plan")
    .description("what fits on a board: the largest context slim vs vanilla per weight and K-cache precision; with --ctx, that plan's memory map")
    .argument("[checkpoint]", "a checkpoint or a .slim file; default: models/slimedge-tiny-v2/model.bin")
    ;
  addTerms(cmd, [
    ["board", { required: true }],
    ["ctx", { description: "context length of one plan to map and check against the board" }],
    ["mode", { description: "attention of the --ctx plan: auto or slim (slimify's per-layer decision, the slim column), or vanilla", default: "auto" }],
    ["weights", { description: "weight storage of the --ctx plan", default: "f32" }],
    ["cache", { description: "cache row storage of the --ctx plan", default: "f32" }],
    ["tokenizer", { description: "the tokenizer `build` would embed (default: the model's own); its bytes are planned" }],
    ["out", { description: "with --ctx: write memory-map.svg and memory-map.txt into this folder" }],
    ["threshold", { description: "slimify threshold that decides, per cache precision, which layers stay slim", default: 1e-3 }],
  ]);
  cmd
    .action((checkpoint: string | undefined, flags: Omit<PlanQuery, "mode" | "kCache"> & { mode: AttentionMode | "auto"; cache: CacheDtype; board: string; out?: string; threshold: number; tokenizer?: string }) => {
      const board = getBoard(flags.board);
      if (flags.out !== undefined && flags.ctx === undefined) fail("E_FLAG", "--out: needs --ctx <n>, the context of the plan to draw");
      const { text, plan, error, tokenizerBytes } = planFor({ checkpoint, board: flags.board, ctx: flags.ctx, mode: flags.mode, weights: flags.weights, cache: flags.cache, threshold: flags.threshold, tokenizer: flags.tokenizer });
      process.stdout.write(text + "\n");
      process.stdout.write(
        tokenizerBytes > 0
          ? `planned as \`slimedge build\` places it: the decoder plus the standalone command (tokenizer ${tokenizerBytes} bytes, its buffers), ${board.runtime} runtime included\n`
          : `note: no tokenizer found, so the standalone command's regions are not counted; \`build\` needs one (--tokenizer)\n`,
      );
      if (plan && flags.out !== undefined) {
        const files = writeMemoryMap(plan, flags.out, board);
        process.stdout.write(`wrote ${files.svg} and ${files.txt}\n`);
      }
      if (error) throw error;
    });
}
