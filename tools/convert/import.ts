/**
 * One entry point for every checkpoint format: `importModel(path)` asks each importer in IMPORTERS, in
 * order, whether it reads the path (by its first bytes, its name, or being a folder), and the first that
 * does loads it into the canonical Model (host/core/model.ts) along with the tokenizer it found.
 *
 * To add a format: write tools/convert/<format>.ts and put an Importer for it into IMPORTERS, before
 * llama2.c — legacy llama2.c files have no magic, so llama2.c is the fallback for any other file.
 */
import { statSync, existsSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fail } from "../../host/core/errors.ts";
import type { WeightDtype } from "../../host/core/plan.ts";
import { checkFiniteWeights } from "../../host/core/model.ts";
import { LLAMA2C_MAGIC, readLlama2c } from "./llama2c.ts";
import { readHead, readWholeFile } from "../../host/core/files.ts";
import { hasSlimMagic, loadSlim } from "../../host/core/slim-read.ts";
import { standardModel } from "../../host/core/standard-model.ts";
import type { Importer, ImportedModel } from "./importer.ts";

export type { Importer, ImportedModel };
import { ggufImporter } from "./gguf.ts";
import { huggingFaceImporter } from "./huggingface.ts";

/** A .slim container read back as the standard model it computes (e.g. to convert it again at another dtype). */
const slimImporter: Importer = {
  name: ".slim",
  detects: (path) => hasSlimMagic(path),
  load(path) {
    const f = loadSlim(path);
    const storage: Partial<Record<WeightDtype, number>> = {};
    for (const t of f.tensors) storage[t.dtype] = (storage[t.dtype] ?? 0) + t.byteLength;
    return {
      model: standardModel(f.lowered),
      format: `.slim v${f.version} container`,
      tokenizer: f.tokenizerKind && f.tokenizer ? { kind: f.tokenizerKind, bytes: f.tokenizer.slice(), source: `${path} (embedded)` } : null,
      storage,
    };
  },
};

/** llama2.c v0/v1/v2 checkpoints (host/llama2c.ts), with the tokenizer.bin next to them when there is one. */
const llama2cImporter: Importer = {
  name: "llama2.c",
  detects: (_path, _head, isFolder) => !isFolder,
  load(path) {
    const bytes = readWholeFile(path, "llama2.c checkpoint");
    const model = readLlama2c(bytes, path);
    const c = model.config;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    const version = view.getUint32(0, true) === LLAMA2C_MAGIC ? view.getInt32(4, true) : 0;
    const headerBytes = version === 0 ? 28 : 256;
    const norms = 4 * (2 * c.nLayers + 1) * c.dim;
    const storage: Partial<Record<WeightDtype, number>> =
      version === 2 ? { f32: norms, q8_0: bytes.length - headerBytes - norms } : { f32: bytes.length - headerBytes };
    const tokPath = join(dirname(path), "tokenizer.bin");
    const tokenizer = existsSync(tokPath) ? { kind: "llama2c" as const, bytes: readWholeFile(tokPath, "tokenizer"), source: tokPath } : null;
    return { model, format: `llama2.c v${version} checkpoint`, tokenizer, storage };
  },
};

/** Importers in the order they are asked; the first whose detects() says yes loads the file. */
export const IMPORTERS: Importer[] = [slimImporter, llama2cImporter];

/**
 * Why a folder is not a checkpoint: the one folder format is Hugging Face's, which needs config.json; a
 * folder holding one model file (models/<name>/model.bin) is named with the file to pass instead.
 */
function notAModelFolder(path: string): string {
  let files: string[] = [];
  try {
    files = readdirSync(path);
  } catch {
    // unreadable: say only what is missing
  }
  const models = files.filter((f) => /\.(bin|slim|gguf)$/i.test(f) && !/^tokenizer/i.test(f)).sort((a, b) => Number(b === "model.bin") - Number(a === "model.bin"));
  const hint = models.length > 0 ? `; it holds ${models.slice(0, 3).join(", ")}: pass the file, e.g. ${join(path, models[0])}` : "";
  return `${path}: a folder, but not a Hugging Face checkpoint folder: no config.json in it (expected config.json and model.safetensors)${hint}`;
}

/** Reads any supported checkpoint into the canonical Model. */
export function importModel(path: string): ImportedModel {
  let isFolder = false;
  try {
    isFolder = statSync(path).isDirectory();
  } catch {
    // a missing path: the fallback importer's reader names it
  }
  const head = isFolder ? new Uint8Array(0) : readHead(path, 16);
  const importer = IMPORTERS.find((i) => i.detects(path, head, isFolder));
  if (!importer && isFolder) return fail("E_FILE", notAModelFolder(path));
  if (!importer) return fail("E_MODEL", `${path}: no importer reads this file (known: ${IMPORTERS.map((i) => i.name).join(", ")}).`);
  const imported = importer.load(path);
  checkFiniteWeights(imported.model, path);
  return imported;
}

// GGUF files (gguf.ts) and Hugging Face folders (huggingface.ts), asked before the llama2.c fallback.
IMPORTERS.splice(IMPORTERS.indexOf(llama2cImporter), 0, ggufImporter, huggingFaceImporter);
