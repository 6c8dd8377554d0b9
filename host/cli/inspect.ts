/** `slimedge inspect`: what a model file holds. */
import { Command } from "commander";
import { inspectFile } from "../../tools/convert/inspect.ts";
import { positive } from "./options.ts";

export function register(cli: Command): void {
  cli
    .command("inspect")
    .description("what a model file holds: architecture, parameters, dtypes, per-layer conditioning and layout, context memory per token, checksums")
    .argument("<file>", ".slim container or llama2.c model .bin")
    .option("--threshold <x>", "for a checkpoint: the slimify threshold that decides each layer", positive("--threshold"), 1e-3)
    .action((file: string, flags: { threshold: number }) => {
      process.stdout.write(inspectFile(file, flags.threshold) + "\n");
    });
}
