/** `slimedge quantize-report`: what each weight and cache precision costs a checkpoint. */
import { refuseOverwrite } from "../core/files.ts";
import { Command } from "commander";
import { addTerms } from "../core/vocabulary.ts";
import { progressBar } from "../core/progress.ts";
import { standardModel } from "../core/standard-model.ts";
import { readTextTokenizer } from "../core/tokenizers.ts";
import { findTokenizer, openModel } from "./options.ts";
import { CALIBRATION_PROMPT, calibrationTokens } from "../../tools/convert/calibrate.ts";
import { REPORT_CACHES, REPORT_WEIGHTS, formatQuantizationReport, parseDtypes, quantizationReport, writeReportJson } from "../../tools/convert/quantize-report.ts";

export function register(cli: Command): void {
  const cmd = cli
    .command("quantize-report")
    .description("what f16 / q8_0 / q4_0 weights and f16 / q8 cache rows cost a checkpoint, against its float64 forward pass: per tensor, per layer on the logits, and K-cache error amplified into V by W_KV")
    .argument("<checkpoint>", "llama2.c model .bin, GGUF, Hugging Face folder or .slim file")
    ;
  addTerms(cmd, [
    ["prompt", { description: "prompt measured on, encoded with the model's own tokenizer (default: the calibration prompt `plan` decides on; without a tokenizer: token ids 1..32)" }],
    ["weights", { description: "weight dtypes, comma-separated", list: true, default: REPORT_WEIGHTS.join(",") }],
    ["cache", { description: "cache row dtypes, comma-separated", list: true, default: REPORT_CACHES.join(",") }],
    ["json"],
    ["quiet"],
  ]);
  cmd
    .action((checkpoint: string, flags: { prompt?: string; weights: string; cache: string; json?: string; quiet?: boolean }) => {
      const weights = parseDtypes("--weights", flags.weights, ["f32", "f16", "q8_0", "q4_0"] as const);
      const kCaches = parseDtypes("--cache", flags.cache, ["f32", "f16", "q8"] as const);
      if (!flags.quiet) process.stderr.write(`reading ${checkpoint}\n`);
      const src = openModel(checkpoint);
      const model = src.model ?? standardModel(src.slim!.lowered); // a .slim file as the standard model it computes
      const tok = findTokenizer(src, undefined);
      const tokenizer = tok ? readTextTokenizer(tok.kind, tok.bytes, tok.source, model.config.vocabSize) : null;
      // Without -p, the calibration set `plan`, `build` and `run` decide on, so the slim decisions below are theirs.
      const calibration = flags.prompt === undefined ? calibrationTokens(model.config, tokenizer) : undefined;
      const tokens =
        calibration ??
        (tokenizer
          ? tokenizer.prompt(flags.prompt ?? CALIBRATION_PROMPT).slice(0, model.config.seqLen)
          : Array.from({ length: Math.min(32, model.config.vocabSize - 1, model.config.seqLen) }, (_, i) => i + 1));
      const input = calibration ? "the calibration prompt (as plan)" : flags.prompt !== undefined && tokenizer ? "the -p prompt" : tokenizer ? "the calibration prompt" : "token ids 1..32";
      process.stdout.write(`measured on ${input}: ${tokens.length} positions\n`);
      // one line per measurement on stderr (a bar on a terminal): the float64 forward passes take seconds each
      const bar = flags.quiet ? null : progressBar("measuring [{bar}] {value}/{total} | {what}");
      const onStep = flags.quiet ? undefined : (done: number, total: number, what: string) => (bar!.shown ? bar!.update(done, total, { what }) : process.stderr.write(`[${done + 1}/${total}] ${what}\n`));
      let report;
      try {
        report = quantizationReport(model, tokens, { weights, kCaches, onStep: (d, t, w) => (d < t ? onStep?.(d, t, w) : undefined) });
      } finally {
        bar?.stop();
      }
      process.stdout.write(formatQuantizationReport(report) + "\n");
      if (flags.json !== undefined) {
        refuseOverwrite(flags.json, [checkpoint], "--json");
        writeReportJson(report, flags.json);
        process.stdout.write(`wrote ${flags.json}\n`);
      }
    });
}
