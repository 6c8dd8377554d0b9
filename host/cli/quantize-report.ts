/** `slimedge quantize-report`: what each weight and cache precision costs a checkpoint. */
import { existsSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { Command } from "commander";
import { importModel } from "../../tools/convert/import.ts";
import { loadTokenizer } from "../core/tokenizer.ts";
import { REPORT_CACHES, REPORT_WEIGHTS, formatQuantizationReport, parseDtypes, quantizationReport, writeReportJson } from "../../tools/convert/quantize-report.ts";

export function register(cli: Command): void {
  cli
    .command("quantize-report")
    .description("what f16 / q8_0 / q4_0 weights and f16 / q8 cache rows cost a checkpoint, against its float64 forward pass: per tensor, per layer on the logits, and K-cache error amplified into V by W_KV")
    .argument("<checkpoint>", "llama2.c model .bin, GGUF or Hugging Face folder")
    .option("-p, --prompt <text>", "prompt measured on, encoded with the tokenizer.bin next to the checkpoint (without one: token ids 1..32)", "Once upon a time")
    .option("--weights <list>", `weight dtypes, comma-separated (default ${REPORT_WEIGHTS.join(",")})`, REPORT_WEIGHTS.join(","))
    .option("--kcache <list>", `cache row dtypes, comma-separated (default ${REPORT_CACHES.join(",")})`, REPORT_CACHES.join(","))
    .option("--json <file>", "also write the report as JSON (to a temporary name, then renamed)")
    .action((checkpoint: string, flags: { prompt: string; weights: string; kcache: string; json?: string }) => {
      const weights = parseDtypes("--weights", flags.weights, ["f32", "f16", "q8_0", "q4_0"] as const);
      const kCaches = parseDtypes("--kcache", flags.kcache, ["f32", "f16", "q8"] as const);
      const model = importModel(checkpoint).model;
      const tokPath = join(statSync(checkpoint).isDirectory() ? checkpoint : dirname(checkpoint), "tokenizer.bin");
      const tokens = existsSync(tokPath)
        ? loadTokenizer(tokPath, model.config.vocabSize).encode(flags.prompt, { bos: true }).slice(0, model.config.seqLen)
        : Array.from({ length: Math.min(32, model.config.vocabSize - 1, model.config.seqLen) }, (_, i) => i + 1);
      const report = quantizationReport(model, tokens, { weights, kCaches });
      process.stdout.write(formatQuantizationReport(report) + "\n");
      if (flags.json !== undefined) {
        writeReportJson(report, flags.json);
        process.stdout.write(`wrote ${flags.json}\n`);
      }
    });
}
