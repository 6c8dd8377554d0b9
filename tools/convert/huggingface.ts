/**
 * Hugging Face checkpoint folders for importModel (tools/import/index.ts): config.json's model_type picks
 * the importer (hf-llama.ts, hf-gpt2.ts, hf-neox.ts); tokenizer.json, else tokenizer.bin, rides along.
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fail } from "../../host/core/errors.ts";
import { readWholeFile } from "../../host/core/files.ts";
import type { Model } from "../../host/core/model.ts";
import type { WeightDtype } from "../../host/core/plan.ts";
import { hfGpt2FromCheckpoint } from "./hf-gpt2.ts";
import { hfLlamaFromCheckpoint } from "./hf-llama.ts";
import { hfNeoxFromCheckpoint } from "./hf-neox.ts";
import type { Importer } from "./importer.ts";
import { HF_CONFIG, loadHfCheckpoint, type HfCheckpoint } from "./safetensors.ts";

/** Importers by config.json model_type. */
export const HF_ARCHITECTURES: Readonly<Record<string, (ck: HfCheckpoint) => Model>> = {
  llama: hfLlamaFromCheckpoint,
  gpt2: hfGpt2FromCheckpoint,
  gpt_neox: hfNeoxFromCheckpoint,
};

/** Imports a Hugging Face checkpoint folder, choosing the architecture by config.json's model_type. */
export function importHuggingFace(dir: string): Model {
  return fromCheckpoint(loadHfCheckpoint(dir));
}

function fromCheckpoint(ck: HfCheckpoint): Model {
  const type = ck.config.model_type;
  const importer = typeof type === "string" ? HF_ARCHITECTURES[type] : undefined;
  if (!importer) {
    const known = Object.keys(HF_ARCHITECTURES).map((k) => JSON.stringify(k)).join(", ");
    return fail("E_MODEL", `${ck.configPath}: field model_type is ${type === undefined ? "missing" : JSON.stringify(type)}, but only ${known} checkpoints are imported.`);
  }
  return importer(ck);
}

/** The checkpoint folder a path names: the folder itself, or the folder of its config.json or a .safetensors file. */
function checkpointDir(path: string, isFolder: boolean): string | undefined {
  const dir = isFolder ? path : basename(path) === HF_CONFIG || path.endsWith(".safetensors") ? dirname(path) : undefined;
  return dir !== undefined && existsSync(join(dir, HF_CONFIG)) ? dir : undefined;
}

/** Bytes per stored dtype (BF16 has no WeightDtype, so is left out). */
function storageOf(ck: HfCheckpoint): Partial<Record<WeightDtype, number>> {
  const dtypes: Record<string, WeightDtype> = { F32: "f32", F16: "f16" };
  const storage: Partial<Record<WeightDtype, number>> = {};
  for (const name of ck.tensorNames()) {
    const e = ck.entry(name);
    const d = dtypes[e.dtype];
    if (d) storage[d] = (storage[d] ?? 0) + (e.end - e.start);
  }
  return storage;
}

/** Folders holding config.json (or a path to their config.json or a .safetensors file). */
export const huggingFaceImporter: Importer = {
  name: "Hugging Face folder",
  detects: (path, _head, isFolder) => checkpointDir(path, isFolder) !== undefined,
  load(path) {
    const dir = checkpointDir(path, statSync(path).isDirectory())!;
    const ck = loadHfCheckpoint(dir);
    const model = fromCheckpoint(ck);
    const json = join(dir, "tokenizer.json");
    const bin = join(dir, "tokenizer.bin");
    const tokenizer = existsSync(json)
      ? { kind: "hf-json" as const, bytes: readWholeFile(json, "tokenizer.json"), source: json }
      : existsSync(bin)
        ? { kind: "llama2c" as const, bytes: readWholeFile(bin, "tokenizer"), source: bin }
        : null;
    return { model, format: `Hugging Face ${model.config.arch} checkpoint (safetensors)`, tokenizer, storage: storageOf(ck) };
  },
};
