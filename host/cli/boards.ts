/** `slimedge boards`: the board profiles. */
import { Command } from "commander";
import { allBoards } from "../../boards/index.ts";
import { formatBoardTable } from "../../tools/package/fit.ts";

export function register(cli: Command): void {
  cli
    .command("boards")
    .description("the board profiles: memory for the module's linear memory, flash, runtime, WASM SIMD (facts and sources in boards/)")
    .action(() => {
      process.stdout.write(formatBoardTable(allBoards()) + "\n");
    });
}
