/** `slimedge convert`: a checkpoint as a .slim container. */
import { Command } from "commander";
import { addTerms } from "../core/vocabulary.ts";
import { BIG_INPUT_BYTES, inputBytes } from "../../tools/convert/convert.ts";
import { convert } from "../api/convert.ts";
import { progressBar } from "../core/progress.ts";

export function register(cli: Command): void {
  const cmd = cli
    .command("convert")
    .description("a checkpoint as a .slim container: slimify per layer, embed the tokenizer, checksums (format: host/core/slim-format.ts)")
    .argument("<checkpoint>", "llama2.c model .bin (v0/v1/v2), GGUF file, Hugging Face folder (config.json + safetensors), or a .slim file to convert again")
    ;
  addTerms(cmd, [
    ["out", { description: "the .slim file to write (written to a temporary name, then renamed)", placeholder: "<file>", required: true }],
    ["weights", { description: "storage of the weight matrices (q8_0 / q4_0: one f32 scale per group of 32 values, halved until it divides dim and hidden_dim; the file stores the group size); W_KV, norms, biases, slim layers' W_K and learned positions stay f32", default: "f32" }],
    ["mode", { description: "auto: slimify decides per layer; slim: every layer whose W_K inverts; vanilla: no layer", default: "auto" }],
    ["threshold", { default: 1e-3 }],
    ["tokenizer", { description: "tokenizer.json or tokenizer.bin to embed (default: the model's own)" }],
    ["prompt", { description: "calibration prompt slimify measures the error on (needs the tokenizer)" }],
    ["quiet"],
  ]);
  cmd
    .action((checkpoint: string, flags: { out: string; weights: "f32" | "f16" | "q8_0" | "q4_0"; mode: "auto" | "slim" | "vanilla"; threshold: number; tokenizer?: string; prompt?: string; quiet?: boolean }) => {
      const bar = flags.quiet ? { shown: false, update: () => {}, stop: () => {} } : progressBar("packing [{bar}] {percentage}% | {value}/{total} MiB | tensor {tensor}", {
        always: inputBytes(checkpoint) > BIG_INPUT_BYTES, // a big conversion logs its progress even into a pipe
        formatValue: (v) => (v / 2 ** 20).toFixed(1),
      });
      try {
        // every stage is a line from the first second (reading, slimify, packing, writing); the bar within packing
        const onStage = flags.quiet ? undefined : (s: string) => (bar.stop(), process.stderr.write(`${s}\n`));
        const onProgress = (index: number, written: number, total: number) => bar.update(written, total, { tensor: index + 1 });
        const { quiet: _quiet, ...rest } = flags;
        const result = convert({ ...rest, checkpoint, onStage, onProgress });
        bar.stop();
        for (const n of result.notes) process.stderr.write(`note: ${n}\n`);
        process.stdout.write(result.summary + "\n");
      } finally {
        bar.stop();
      }
    });
}
