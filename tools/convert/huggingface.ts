/**
 * Hugging Face checkpoint folders for importModel (tools/import/index.ts): config.json's model_type picks
 * the importer (hf-llama.ts, hf-gpt2.ts, hf-neox.ts, hf-phi.ts); tokenizer.json (with the special tokens and chat
 * template the folder's config files name), else tokenizer.bin, rides along.
 */
import { existsSync, statSync } from "node:fs";
import { basename, dirname, join } from "node:path";
import { fail } from "../../host/core/errors.ts";
import { readWholeFile } from "../../host/core/files.ts";
import type { Model } from "../../host/core/model.ts";
import type { WeightDtype } from "../../host/core/plan.ts";
import { hfGpt2FromCheckpoint } from "./hf-gpt2.ts";
import { GEMMA3_MISSING, hfLlamaFromCheckpoint } from "./hf-llama.ts";
import { hfNeoxFromCheckpoint } from "./hf-neox.ts";
import { hfPhiFromCheckpoint } from "./hf-phi.ts";
import type { Importer } from "./importer.ts";
import { readTextTokenizer, writeBundle, type TokenizerMeta } from "../../host/core/tokenizers.ts";
import type { HfTokenizer } from "../../host/core/hf-tokenizer.ts";
import { HF_CONFIG, loadHfCheckpoint, type HfCheckpoint } from "./safetensors.ts";

/** Importers by config.json model_type. */
export const HF_ARCHITECTURES: Readonly<Record<string, (ck: HfCheckpoint) => Model>> = {
  llama: hfLlamaFromCheckpoint,
  qwen2: hfLlamaFromCheckpoint,
  gpt2: hfGpt2FromCheckpoint,
  gpt_neox: hfNeoxFromCheckpoint,
  phi: hfPhiFromCheckpoint,
};

/** Imports a Hugging Face checkpoint folder, choosing the architecture by config.json's model_type. */
export function importHuggingFace(dir: string): Model {
  return fromCheckpoint(loadHfCheckpoint(dir));
}

/** Families known not to fit the decoder's layer yet, with the first piece missing and the rest. */
const NOT_YET: Readonly<Record<string, string>> = { gemma3: GEMMA3_MISSING, gemma3_text: GEMMA3_MISSING };

function fromCheckpoint(ck: HfCheckpoint): Model {
  const type = ck.config.model_type;
  if (typeof type === "string" && NOT_YET[type]) return fail("E_MODEL", `${ck.configPath}: field model_type is ${JSON.stringify(type)}, which is not supported yet: ${NOT_YET[type]}.`);
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
      ? { kind: "bundle" as const, bytes: hfTokenizerBundle(dir, json, ck.config), source: json }
      : existsSync(bin)
        ? { kind: "llama2c" as const, bytes: readWholeFile(bin, "tokenizer"), source: bin }
        : null;
    return { model, format: `Hugging Face ${model.config.arch} checkpoint (safetensors)`, tokenizer, storage: storageOf(ck) };
  },
};

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);

/** A JSON file of the folder as an object, or undefined when it is not there. */
function optionalJson(path: string): Record<string, unknown> | undefined {
  if (!existsSync(path)) return undefined;
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(readWholeFile(path, "JSON file")));
  } catch (err) {
    return fail("E_FORMAT", `${path}: not valid JSON (${(err as Error).message}).`);
  }
  return isObject(v) ? v : fail("E_FORMAT", `${path}: expected a JSON object.`);
}

/**
 * tokenizer.json with the special tokens as the folder states them, as a bundle (host/core/tokenizers.ts):
 * bos from config.json bos_token_id; whether prompts start with it from tokenizer_config.json add_bos_token,
 * else from tokenizer.json's post-processor; the stop ids from generation_config.json eos_token_id, else
 * config.json's, else tokenizer_config.json's eos_token; the chat template from tokenizer_config.json
 * chat_template or chat_template.jinja.
 */
export function hfTokenizerBundle(dir: string, jsonPath: string, config: Record<string, unknown>): Uint8Array {
  const bytes = readWholeFile(jsonPath, "tokenizer.json");
  const tok = readTextTokenizer("hf-json", bytes, jsonPath);
  const genPath = join(dir, "generation_config.json");
  const tcPath = join(dir, "tokenizer_config.json");
  const gen = optionalJson(genPath) ?? {};
  const tc = optionalJson(tcPath) ?? {};
  const tokenString = (v: unknown): string | undefined => (typeof v === "string" ? v : isObject(v) && typeof v.content === "string" ? v.content : undefined);
  const ids = (v: unknown, where: string): number[] | undefined => {
    if (v === undefined || v === null) return undefined;
    const list = Array.isArray(v) ? v : [v];
    if (!list.every((x) => Number.isInteger(x) && x >= 0 && x < tok.vocabSize)) {
      return fail("E_FORMAT", `${where} is ${JSON.stringify(v)}, expected a token id (or a list of them) below ${tok.vocabSize}.`);
    }
    return list as number[];
  };
  const byName = (name: string | undefined, where: string): number[] | undefined => {
    if (name === undefined) return undefined;
    const id = (tok.inner as HfTokenizer).idOf(name);
    return id !== undefined ? [id] : fail("E_FORMAT", `${where} is ${JSON.stringify(name)}, which is not a token of ${jsonPath}.`);
  };
  const bosToken = tokenString(tc.bos_token);
  const eosToken = tokenString(tc.eos_token);
  const bos =
    ids(config.bos_token_id, `${join(dir, HF_CONFIG)}: field bos_token_id`)?.[0] ??
    byName(bosToken, `${tcPath}: field bos_token`)?.[0] ??
    tok.meta.bos;
  const addBos = typeof tc.add_bos_token === "boolean" ? tc.add_bos_token : tok.meta.addBos;
  if (addBos && bos === null) fail("E_FORMAT", `${tcPath}: field add_bos_token is true, but neither config.json nor tokenizer_config.json names a BOS token.`);
  const stop =
    ids(gen.eos_token_id, `${genPath}: field eos_token_id`) ??
    ids(config.eos_token_id, `${join(dir, HF_CONFIG)}: field eos_token_id`) ??
    byName(eosToken, `${tcPath}: field eos_token`) ??
    tok.meta.stop;
  let chatTemplate: string | null = null;
  const t = tc.chat_template;
  if (typeof t === "string") chatTemplate = t;
  else if (Array.isArray(t)) {
    const named = t.find((x) => isObject(x) && x.name === "default" && typeof x.template === "string") as { template: string } | undefined;
    chatTemplate = named?.template ?? null;
  } else if (existsSync(join(dir, "chat_template.jinja"))) {
    chatTemplate = new TextDecoder().decode(readWholeFile(join(dir, "chat_template.jinja"), "chat template"));
  }
  const meta: TokenizerMeta = { bos, addBos, stop: [...new Set(stop)], chatTemplate, bosToken: bosToken ?? (bos !== null ? tok.tokenName(bos) : undefined), eosToken: eosToken ?? (stop.length > 0 ? tok.tokenName(stop[0]) : undefined) };
  return writeBundle("hf-json", bytes, meta);
}
