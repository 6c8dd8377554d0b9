/** `slimedge convert`: a checkpoint as a .slim container. */
import { Command, Option } from "commander";
import { BIG_INPUT_BYTES, inputBytes } from "../../tools/convert/convert.ts";
import { convert } from "../api/convert.ts";
import { progressBar } from "../core/progress.ts";
import { positive } from "./options.ts";

export function register(cli: Command): void {
  cli
    .command("convert")
    .description("a checkpoint as a .slim container: slimify per layer, embed the tokenizer, checksums (format: host/core/slim-format.ts)")
    .argument("<checkpoint>", "llama2.c model .bin (v0, v1 or v2), or a .slim file to convert again")
    .requiredOption("-o, --out <file>", "the .slim file to write (written to a temporary name, then renamed)")
    .addOption(new Option("--dtype <dtype>", "storage of the weight matrices (q8_0 / q4_0: one f32 scale per group of 32 values, halved until it divides dim and hidden_dim; the file stores the group size); W_KV, norms, biases, slim layers' W_K and learned positions stay f32").choices(["f32", "f16", "q8_0", "q4_0"]).default("f32"))
    .addOption(new Option("--mode <mode>", "auto: slimify decides per layer; slim: every layer whose W_K inverts; vanilla: no layer").choices(["auto", "slim", "vanilla"]).default("auto"))
    .option("--threshold <x>", "largest V-reconstruction error a slim layer may have", positive("--threshold"), 1e-3)
    .option("--tokenizer <file>", "tokenizer.json or tokenizer.bin to embed (default: the model's own)")
    .option("-p, --prompt <text>", "calibration prompt slimify measures the error on (needs the tokenizer)")
    .action((checkpoint: string, flags: { out: string; dtype: "f32" | "f16" | "q8_0" | "q4_0"; mode: "auto" | "slim" | "vanilla"; threshold: number; tokenizer?: string; prompt?: string }) => {
      const bar = progressBar("packing [{bar}] {percentage}% | {value}/{total} MiB | tensor {tensor}", {
        always: inputBytes(checkpoint) > BIG_INPUT_BYTES, // a big conversion logs its progress even into a pipe
        formatValue: (v) => (v / 2 ** 20).toFixed(1),
      });
      try {
        const onStage = bar.shown ? (s: string) => (bar.stop(), process.stderr.write(`${s}\n`)) : undefined;
        const onProgress = (index: number, written: number, total: number) => bar.update(written, total, { tensor: index + 1 });
        const result = convert({ ...flags, checkpoint, weights: flags.dtype, onStage, onProgress });
        bar.stop();
        for (const n of result.notes) process.stderr.write(`note: ${n}\n`);
        process.stdout.write(result.summary + "\n");
      } finally {
        bar.stop();
      }
    });
}
