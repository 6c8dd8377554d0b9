/** What several commands share: the shipped model's place, flag parsers, and finding the model and tokenizer to run. */
import { existsSync, statSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { InvalidArgumentError } from "commander";
import type { Model } from "../core/model.ts";
import { loadLlama2c } from "../../tools/convert/llama2c.ts";
import { importModel } from "../../tools/convert/import.ts";
import { loadTokenizer, type Tokenizer } from "../core/tokenizer.ts";
import { type SlimLayers } from "../runtime/generate.ts";
import { syntheticModel } from "../core/synthetic.ts";
import { fail } from "../core/errors.ts";
import { hasSlimMagic, loadSlimForRun } from "../core/container.ts";

export const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
export const DEFAULT_MODEL_DIR = join(root, "models", "slimedge-tiny");

export const wholeNumber = (flag: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!/^\d+$/.test(v.trim()) || n < min) throw new InvalidArgumentError(`${flag}: expected a whole number ≥ ${min}, got "${v}"`);
  return n;
};
export const number = (flag: string) => (v: string) => {
  const n = Number(v);
  if (v.trim() === "" || !Number.isFinite(n)) throw new InvalidArgumentError(`${flag}: expected a number, got "${v}"`);
  return n;
};

/** The checkpoint and tokenizer to run, and a sentence when they are not what the user might assume. */
export function resolveModel(checkpoint: string | undefined, tokenizerPath: string | undefined): { model: Model; tokenizer: Tokenizer; notice?: string; slim?: SlimLayers } {
  if (checkpoint && hasSlimMagic(checkpoint)) return loadSlimForRun(checkpoint, tokenizerPath); // stored layer modes, W_KV, tokenizer
  if (checkpoint) {
    const model = importModel(checkpoint).model; // llama2.c, GGUF or a Hugging Face folder
    const tokPath = tokenizerPath ?? join(statSync(checkpoint).isDirectory() ? checkpoint : dirname(checkpoint), "tokenizer.bin");
    if (!existsSync(tokPath)) fail("E_FILE", `${tokPath}: no tokenizer next to the checkpoint; pass --tokenizer <tokenizer.bin>`);
    return { model, tokenizer: loadTokenizer(tokPath, model.config.vocabSize) };
  }
  const shipped = join(DEFAULT_MODEL_DIR, "model.bin");
  const tokPath = tokenizerPath ?? join(DEFAULT_MODEL_DIR, "tokenizer.bin");
  if (existsSync(shipped)) {
    const model = loadLlama2c(shipped);
    return { model, tokenizer: loadTokenizer(tokPath, model.config.vocabSize) };
  }
  // No trained default model in this checkout: random weights of the default shape, said plainly.
  const tokenizer = loadTokenizer(tokPath);
  const model = syntheticModel(
    { arch: "llama", dim: 128, hiddenDim: 352, nLayers: 6, nHeads: 8, nKvHeads: 8, vocabSize: tokenizer.vocabSize, seqLen: 2048, normEps: 1e-5, ropeTheta: 10000, sharedClassifier: true },
    1,
  );
  return { model, tokenizer, notice: `no trained default model found at ${shipped}: running RANDOM weights generated on the fly, so the text is noise` };
}
