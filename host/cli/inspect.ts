/** `slimedge inspect`: what a model file holds. */
import { Command } from "commander";
import { inspectFile } from "../../tools/convert/inspect.ts";
import { addTerms } from "../core/vocabulary.ts";

export function register(cli: Command): void {
  const cmd = cli
    .command("inspect")
    .description("what a model file holds: architecture, parameters, dtypes, per-layer conditioning and layout, context memory per token, checksums")
    .argument("<file>", ".slim container, llama2.c model .bin (v0/v1/v2), GGUF file or Hugging Face folder")
    ;
  addTerms(cmd, [["threshold", { description: "for a checkpoint: the slimify threshold that decides each layer", default: 1e-3 }]]);
  cmd
    .action((file: string, flags: { threshold: number }) => {
      process.stdout.write(inspectFile(file, flags.threshold) + "\n");
    });
}
