/**
 * safetensors files (https://github.com/huggingface/safetensors, "Format" in its README) and the Hugging Face
 * checkpoint folder built on them: `config.json` plus `model.safetensors`, or shards listed by
 * `model.safetensors.index.json`.
 *
 * Layout, little-endian: u64 N; N bytes of UTF-8 JSON `{name: {dtype, shape, data_offsets: [begin, end]},
 * "__metadata__"?: {string: string}}`; then the byte buffer, offsets relative to its start. The buffer must
 * be indexed entirely: tensors back to back, no overlap, no hole, nothing after the last one.
 *
 * Every way a file can be wrong ends in SlimError("E_FORMAT") naming the file and the field; a valid file
 * holding something we cannot convert (an integer dtype) is "E_MODEL".
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fail } from "../../host/core/errors.ts";
import { readWholeFile } from "../../host/core/files.ts";
import { type ModelConfig, type ShapeField, checkShapeFields } from "../../host/core/model.ts";

/** Bytes per element of every dtype the format defines; only F32, F16 and BF16 are converted to f32. */
const DTYPE_BYTES: Record<string, number> = {
  BOOL: 1,
  U8: 1,
  I8: 1,
  F8_E5M2: 1,
  F8_E4M3: 1,
  I16: 2,
  U16: 2,
  F16: 2,
  BF16: 2,
  I32: 4,
  U32: 4,
  F32: 4,
  F64: 8,
  I64: 8,
  U64: 8,
};
const FLOAT_DTYPES = ["F32", "F16", "BF16"];

/** One tensor's entry in the header, offsets already made absolute within the file. */
export interface SafetensorsEntry {
  dtype: string;
  shape: number[];
  start: number; // first byte in the file
  end: number; // one past the last byte
}

export class SafetensorsFile {
  constructor(
    readonly name: string, // path used in messages
    readonly metadata: Readonly<Record<string, string>>,
    readonly entries: ReadonlyMap<string, SafetensorsEntry>,
    private readonly bytes: Uint8Array,
  ) {}

  has(tensor: string): boolean {
    return this.entries.has(tensor);
  }

  /** The entry of `tensor`; a missing tensor is a broken checkpoint. */
  entry(tensor: string): SafetensorsEntry {
    return this.entries.get(tensor) ?? fail("E_FORMAT", `${this.name}: tensor ${tensor} is missing.`);
  }

  /** Values of `tensor` converted to f32, row-major in its stored shape. */
  f32(tensor: string): Float32Array {
    const e = this.entry(tensor);
    const raw = this.bytes.subarray(e.start, e.end);
    switch (e.dtype) {
      case "F32":
        return f32FromBytes(raw);
      case "F16":
        return f16FromBytes(raw);
      case "BF16":
        return bf16FromBytes(raw);
    }
    return fail("E_MODEL", `${this.name}: tensor ${tensor} has dtype ${e.dtype}, but only float tensors (${FLOAT_DTYPES.join(", ")}) can be imported.`);
  }
}

/** Reads a safetensors file from memory; `name` is the path used in error messages. */
export function readSafetensors(bytes: Uint8Array, name: string): SafetensorsFile {
  if (bytes.length < 8) {
    fail("E_FORMAT", `${name}: file is ${bytes.length} bytes, too short for the 8-byte header length of a safetensors file.`);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = view.getBigUint64(0, true);
  if (n > BigInt(bytes.length - 8)) {
    fail("E_FORMAT", `${name}: header length field says ${n} bytes of JSON, but only ${bytes.length - 8} bytes follow it (truncated, or not a safetensors file).`);
  }
  const headerEnd = 8 + Number(n);
  const header = parseHeader(bytes.subarray(8, headerEnd), name);
  const bufferBytes = bytes.length - headerEnd;
  const metadata = readMetadata(header.__metadata__, name);
  const entries = new Map<string, SafetensorsEntry>();
  const spans: { tensor: string; begin: number; end: number }[] = [];
  for (const [tensor, value] of Object.entries(header)) {
    if (tensor === "__metadata__") continue;
    const { dtype, shape, begin, end } = readEntry(tensor, value, name);
    if (end > bufferBytes) {
      fail("E_FORMAT", `${name}: tensor ${tensor} has data_offsets [${begin}, ${end}], past the ${bufferBytes}-byte data buffer (truncated file or wrong offsets).`);
    }
    const count = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * DTYPE_BYTES[dtype]) {
      fail("E_FORMAT", `${name}: tensor ${tensor} has data_offsets [${begin}, ${end}] (${end - begin} bytes), but dtype ${dtype} and shape [${shape.join(", ")}] need ${count * DTYPE_BYTES[dtype]} bytes.`);
    }
    entries.set(tensor, { dtype, shape, start: headerEnd + begin, end: headerEnd + end });
    spans.push({ tensor, begin, end });
  }
  checkBufferIndexed(spans, bufferBytes, name);
  return new SafetensorsFile(name, metadata, entries, bytes);
}

/** Reads a safetensors file from disk. */
export function loadSafetensors(path: string): SafetensorsFile {
  return readSafetensors(readWholeFile(path, "safetensors file"), path);
}

function parseHeader(raw: Uint8Array, name: string): Record<string, unknown> {
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(raw);
  } catch {
    return fail("E_FORMAT", `${name}: the JSON header is not valid UTF-8.`);
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    return fail("E_FORMAT", `${name}: the ${raw.length}-byte JSON header does not parse (${(err as Error).message}).`);
  }
  if (!isObject(header)) {
    fail("E_FORMAT", `${name}: the JSON header is ${describeJson(header)}, expected an object of tensors.`);
  }
  return header as Record<string, unknown>;
}

function readMetadata(value: unknown, name: string): Record<string, string> {
  if (value === undefined) return {};
  if (!isObject(value) || !Object.values(value).every((v) => typeof v === "string")) {
    fail("E_FORMAT", `${name}: header field __metadata__ must map strings to strings.`);
  }
  return value as Record<string, string>;
}

function readEntry(tensor: string, value: unknown, name: string): { dtype: string; shape: number[]; begin: number; end: number } {
  if (!isObject(value)) fail("E_FORMAT", `${name}: header entry ${tensor} is ${describeJson(value)}, expected {dtype, shape, data_offsets}.`);
  const v = value as Record<string, unknown>;
  const dtype = v.dtype;
  if (typeof dtype !== "string" || !(dtype in DTYPE_BYTES)) {
    fail("E_FORMAT", `${name}: tensor ${tensor} has dtype ${JSON.stringify(dtype)}, not one the format defines (${Object.keys(DTYPE_BYTES).join(", ")}).`);
  }
  const shape = v.shape;
  if (!Array.isArray(shape) || !shape.every(isCount)) {
    fail("E_FORMAT", `${name}: tensor ${tensor} has shape ${JSON.stringify(shape)}, expected a list of non-negative integers.`);
  }
  const offsets = v.data_offsets;
  if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every(isCount) || offsets[0] > offsets[1]) {
    fail("E_FORMAT", `${name}: tensor ${tensor} has data_offsets ${JSON.stringify(offsets)}, expected [begin, end] with 0 <= begin <= end.`);
  }
  const [begin, end] = offsets as number[];
  return { dtype: dtype as string, shape: shape as number[], begin, end };
}

/** Sorted by begin, each tensor must start where the one before it ended, from 0 to the end of the buffer. */
function checkBufferIndexed(spans: { tensor: string; begin: number; end: number }[], bufferBytes: number, name: string): void {
  spans.sort((a, b) => a.begin - b.begin || a.end - b.end);
  let at = 0;
  let prev = "the start of the data buffer";
  for (const s of spans) {
    if (s.begin < at) {
      fail("E_FORMAT", `${name}: tensor ${s.tensor} has data_offsets [${s.begin}, ${s.end}], overlapping ${prev}, which ends at ${at}.`);
    }
    if (s.begin > at) {
      fail("E_FORMAT", `${name}: tensor ${s.tensor} has data_offsets [${s.begin}, ${s.end}], leaving a hole of ${s.begin - at} bytes after ${prev} (the buffer must be indexed entirely).`);
    }
    at = s.end;
    prev = `tensor ${s.tensor}`;
  }
  if (at !== bufferBytes) {
    fail("E_FORMAT", `${name}: the tensors end at data offset ${at}, but the data buffer holds ${bufferBytes} bytes (trailing bytes no tensor claims).`);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
const isCount = (v: unknown): v is number => typeof v === "number" && Number.isSafeInteger(v) && v >= 0;
const describeJson = (v: unknown): string => (Array.isArray(v) ? "an array" : v === null ? "null" : typeof v === "object" ? "an object" : `a ${typeof v}`);

// ---------------------------------------------------------------------------------------------
// float conversions (shared with the GGUF reader)

/** Little-endian f32 bytes copied into a fresh array (the file promises no 4-byte alignment). */
export function f32FromBytes(raw: Uint8Array): Float32Array {
  const out = new Float32Array(raw.length / 4);
  new Uint8Array(out.buffer).set(raw);
  return out;
}

let halfTable: Float32Array | undefined;

/** f32 value of every IEEE half bit pattern: subnormals, infinities and NaN included. */
function halfToFloatTable(): Float32Array {
  if (halfTable) return halfTable;
  halfTable = new Float32Array(65536);
  for (let h = 0; h < 65536; h++) {
    const sign = h & 0x8000 ? -1 : 1;
    const exp = (h >> 10) & 0x1f;
    const frac = h & 0x3ff;
    if (exp === 0) halfTable[h] = sign * frac * 2 ** -24;
    else if (exp === 31) halfTable[h] = frac ? NaN : sign * Infinity;
    else halfTable[h] = sign * (1 + frac / 1024) * 2 ** (exp - 15);
  }
  return halfTable;
}

/** One IEEE half (bits) as a number; exact, since every half is an f32. */
export const halfToFloat = (bits: number): number => halfToFloatTable()[bits & 0xffff];

/** Little-endian f16 bytes -> f32 values. */
export function f16FromBytes(raw: Uint8Array): Float32Array {
  const table = halfToFloatTable();
  const out = new Float32Array(raw.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = table[raw[2 * i] | (raw[2 * i + 1] << 8)];
  return out;
}

/** Little-endian bf16 bytes -> f32 values: a bf16 is the top half of an f32. */
export function bf16FromBytes(raw: Uint8Array): Float32Array {
  const bits = new Uint32Array(raw.length / 2);
  for (let i = 0; i < bits.length; i++) bits[i] = ((raw[2 * i] | (raw[2 * i + 1] << 8)) << 16) >>> 0;
  return new Float32Array(bits.buffer);
}

// ---------------------------------------------------------------------------------------------
// Hugging Face checkpoint folders

export const HF_CONFIG = "config.json";
export const HF_WEIGHTS = "model.safetensors";
export const HF_INDEX = "model.safetensors.index.json";

/** A checkpoint folder: its parsed config.json and the tensors of all its safetensors files. */
export class HfCheckpoint {
  constructor(
    readonly dir: string,
    readonly configPath: string,
    readonly config: Readonly<Record<string, unknown>>,
    private readonly files: ReadonlyMap<string, SafetensorsFile>, // tensor name -> file holding it
    readonly weightsName: string, // model.safetensors, or the index naming the shards, for messages
  ) {}

  has(tensor: string): boolean {
    return this.files.has(tensor);
  }

  /** Names of every tensor in the checkpoint. */
  tensorNames(): string[] {
    return [...this.files.keys()];
  }

  /** The header entry of a tensor (dtype, shape, byte range). */
  entry(tensor: string): SafetensorsEntry {
    return this.files.get(tensor)?.entry(tensor) ?? fail("E_FORMAT", `${this.weightsName}: tensor ${tensor} is missing.`);
  }

  /**
   * Values of `tensor` as f32, after checking its shape; `role` says in user words what it is, and
   * `implied` which config fields gave the expected shape.
   */
  tensor(tensor: string, shape: readonly number[], role: string, implied: string): Float32Array {
    const file = this.files.get(tensor);
    if (!file) return fail("E_FORMAT", `${this.weightsName}: tensor ${tensor} (${role}) is missing.`);
    const got = file.entry(tensor).shape;
    if (got.length !== shape.length || got.some((d, i) => d !== shape[i])) {
      fail("E_FORMAT", `${file.name}: tensor ${tensor} (${role}) has shape [${got.join(", ")}], but ${this.configPath} (${implied}) implies [${shape.join(", ")}].`);
    }
    return file.f32(tensor);
  }

  /**
   * The shape ranges every reader shares and a tensor for each claimed layer (host/core/model.ts
   * checkShapeFields), before any tensor is converted: `names` are config.json's names for the fields, and
   * `layerPrefix` starts the names of a layer's tensors (then the layer index and a dot).
   */
  checkShape(config: ModelConfig, names: Partial<Record<ShapeField, string>>, layerPrefix: string): void {
    checkShapeFields(config, { source: this.configPath, noun: "field", names, tensorNames: this.files.keys(), layerPrefix });
  }

  // -- config.json fields, each named in messages ---------------------------------------------

  /** A positive integer field; `fallback` when the field is absent (or null), else it is required. */
  int(field: string, fallback?: number): number {
    const v = this.config[field] ?? fallback;
    if (typeof v !== "number" || !Number.isSafeInteger(v) || v <= 0) {
      return fail("E_FORMAT", `${this.configPath}: field ${field} is ${v === undefined ? "missing" : JSON.stringify(v)}, expected a positive integer.`);
    }
    return v;
  }

  /** A positive finite number field. */
  positive(field: string, fallback?: number): number {
    const v = this.config[field] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v) || v <= 0) {
      return fail("E_FORMAT", `${this.configPath}: field ${field} is ${v === undefined ? "missing" : JSON.stringify(v)}, expected a positive number.`);
    }
    return v;
  }

  bool(field: string, fallback: boolean): boolean {
    const v = this.config[field] ?? fallback;
    if (typeof v !== "boolean") return fail("E_FORMAT", `${this.configPath}: field ${field} is ${JSON.stringify(v)}, expected true or false.`);
    return v;
  }

  string(field: string, fallback: string): string {
    const v = this.config[field] ?? fallback;
    if (typeof v !== "string") return fail("E_FORMAT", `${this.configPath}: field ${field} is ${JSON.stringify(v)}, expected a string.`);
    return v;
  }

  /** Refuses a field whose value changes the architecture in a way the importer does not map. */
  refuse(field: string, ok: (v: unknown) => boolean, why: string): void {
    const v = this.config[field];
    if (v !== undefined && v !== null && !ok(v)) {
      fail("E_MODEL", `${this.configPath}: field ${field} is ${JSON.stringify(v)}, which is not supported: ${why}.`);
    }
  }

  /** Fails with one sentence when a config-derived fact does not hold. */
  check(ok: boolean, message: string): void {
    if (!ok) fail("E_FORMAT", `${this.configPath}: ${message}`);
  }
}

/**
 * Opens a Hugging Face checkpoint folder: config.json, then model.safetensors, or the shards that
 * model.safetensors.index.json's weight_map names.
 */
export function loadHfCheckpoint(dir: string): HfCheckpoint {
  const configPath = join(dir, HF_CONFIG);
  const config = readJsonFile(configPath, "model config");
  if (!isObject(config)) fail("E_FORMAT", `${configPath}: holds ${describeJson(config)}, expected a JSON object of config fields.`);
  const files = new Map<string, SafetensorsFile>();
  const single = join(dir, HF_WEIGHTS);
  const indexPath = join(dir, HF_INDEX);
  if (!existsSync(single) && !existsSync(indexPath) && existsSync(join(dir, "pytorch_model.bin"))) {
    fail("E_MODEL", `${dir}: holds pytorch_model.bin (a pickle) but no ${HF_WEIGHTS}; only safetensors checkpoints are read (save with safe_serialization=True).`);
  }
  if (existsSync(single) || !existsSync(indexPath)) {
    const file = loadSafetensors(single);
    for (const tensor of file.entries.keys()) files.set(tensor, file);
    return new HfCheckpoint(dir, configPath, config as Record<string, unknown>, files, single);
  }
  const index = readJsonFile(indexPath, "safetensors index");
  const weightMap = isObject(index) ? index.weight_map : undefined;
  if (!isObject(weightMap) || !Object.values(weightMap).every((v) => typeof v === "string")) {
    fail("E_FORMAT", `${indexPath}: field weight_map is missing or not an object mapping tensor names to shard file names.`);
  }
  const shards = new Map<string, SafetensorsFile>();
  for (const [tensor, shard] of Object.entries(weightMap as Record<string, string>)) {
    if (shard.includes("/") || shard.includes("\\")) fail("E_FORMAT", `${indexPath}: weight_map sends ${tensor} to ${JSON.stringify(shard)}, expected a file name inside ${dir}.`);
    let file = shards.get(shard);
    if (!file) shards.set(shard, (file = loadSafetensors(join(dir, shard))));
    if (!file.has(tensor)) fail("E_FORMAT", `${indexPath}: weight_map puts tensor ${tensor} in ${shard}, but that file does not hold it.`);
    files.set(tensor, file);
  }
  return new HfCheckpoint(dir, configPath, config as Record<string, unknown>, files, indexPath);
}

function readJsonFile(path: string, what: string): unknown {
  const bytes = readWholeFile(path, what);
  try {
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch (err) {
    return fail("E_FORMAT", `${path}: the ${what} is not valid JSON (${(err as Error).message}).`);
  }
}
