/** `slimedge slimify`: the per-layer slim decision of a checkpoint. */
import { Command } from "commander";
import { planArena } from "../core/plan.ts";
import { slimify, formatSlimifyReport } from "../../tools/convert/slimify.ts";
import { standardModel } from "../core/standard-model.ts";
import { openModel, loadModelTokenizer } from "./options.ts";
import { addTerms } from "../core/vocabulary.ts";

export function register(cli: Command): void {
  const cmd = cli
    .command("slimify")
    .description("per layer: cond(W_K), max |W_KV| and V-reconstruction error, and whether the layer runs slim")
    .argument("<checkpoint>", "llama2.c model .bin, GGUF, Hugging Face folder or .slim file")
    ;
  addTerms(cmd, [
    ["prompt", { description: "prompt whose activations measure the error (needs the tokenizer)", default: "Once upon a time" }],
    ["tokenizer"],
    ["threshold", { default: 1e-3 }],
  ]);
  cmd
    .action((checkpoint: string, flags: { prompt: string; tokenizer?: string; threshold: number }) => {
      const src = openModel(checkpoint);
      const model = src.model ?? standardModel(src.slim!.lowered); // a .slim file as the standard model it computes
      const tokenizer = loadModelTokenizer(src, flags.tokenizer);
      const prompt = tokenizer.prompt(flags.prompt).slice(0, 256);
      const report = slimify(model, { threshold: flags.threshold, prompt });
      process.stdout.write(formatSlimifyReport(report) + "\n");
      const perToken = planArena(model.config, 1, report.layers.map((l) => l.mode)); // one cache row per layer
      const slim = report.layers.filter((l) => l.mode === "slim").length;
      process.stdout.write(
        `${slim} of ${model.config.nLayers} layers slim: context memory ${perToken.contextBytes} bytes/token ` +
          `(vanilla ${perToken.vanillaContextBytes})\n`,
      );
    });
}
