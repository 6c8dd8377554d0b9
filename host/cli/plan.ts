/** `slimedge plan`: what fits on a board. */
import { Command } from "commander";
import type { AttentionMode, CacheDtype } from "../core/plan.ts";
import { addTerms } from "../core/vocabulary.ts";
import { commandTokenizerBytes } from "../../tools/package/command-tokenizer.ts";
import { fail } from "../core/errors.ts";
import { getBoard } from "../../boards/index.ts";
import { planOnBoard, slimDecisions, type PlanQuery } from "../../tools/package/fit.ts";
import { isMultiHead } from "../core/model.ts";
import { writeMemoryMap } from "../../tools/package/memory-map.ts";
import { findTokenizer, openModel } from "./options.ts";
import { readTextTokenizer } from "../core/tokenizers.ts";
import { calibrationTokens } from "../../tools/convert/calibrate.ts";

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
      const src = openModel(checkpoint);
      // The slim column and a --mode slim plan follow slimify's per-layer decision at each cache precision,
      // measured on the model's calibration set as `run` without a prompt, `build` and `convert` measure it
      // (a .slim file carries the one decision it was converted with).
      const tok = findTokenizer(src, flags.tokenizer);
      const text0 = tok ? readTextTokenizer(tok.kind, tok.bytes, tok.source, src.config.vocabSize) : null;
      const calibration = text0 && src.model && isMultiHead(src.config) ? calibrationTokens(src.config, text0) : undefined;
      const decisions = src.model && isMultiHead(src.config) ? slimDecisions(src.model, flags.threshold, calibration) : src.slim?.modes;
      // `build` places the standalone command beside the decoder: its tokenizer, block, piece index, sampler
      // and io buffers. They are planned here too, so every context below is one `build` makes.
      const tokenizerBytes = text0 ? commandTokenizerBytes(text0, src.config.vocabSize).length : 0;
      const query: PlanQuery = { ctx: flags.ctx, mode: flags.mode === "vanilla" ? "vanilla" : "slim", weights: flags.weights, kCache: flags.cache };
      const { text, plan, error } = planOnBoard(src.config, board, query, decisions, tokenizerBytes);
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
