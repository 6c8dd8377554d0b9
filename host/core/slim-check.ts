/**
 * The checks of a .slim file, in the order host/core/slim-format.ts lists them; test/assembly/container.ts
 * runs the same checks and reports the same status codes.
 */
import { crc32, hex32 } from "./crc32.ts";
import { type ModelConfig, shapeProblem } from "./model.ts";
import { type AttentionMode, matrixBytes } from "./plan.ts";
import { storedDtype } from "./lowered.ts";
import { slimTensorList } from "./tensors.ts";
import {
  ACTIVATION_CODES, ARCH_CODES, ContainerError, DATA_ALIGN, DTYPE_CODES, ENTRY, FIXED_HEADER_BYTES, FLAG, HEADER, LAYER,
  LAYER_RECORD_BYTES, LAYER_VALUES, MAX_DIMS, NORM_CODES, SLIM_MAGIC, SLIM_OLDEST_VERSION, SLIM_STATUS, SLIM_VERSION, TENSOR_ENTRY_BYTES,
  TENSOR_NAME_BYTES, TOKENIZER_CODES, align16, archWords, reasonSentence,
  type LayerRecord, type ReasonCode, type SlimHeader, type SlimStatus, type TensorEntry,
} from "./slim-format.ts";

/** Field reader that never reads past the end: every caller has checked the length first. */
class Bytes {
  readonly view: DataView;
  constructor(readonly bytes: Uint8Array) {
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }
  u32 = (at: number): number => this.view.getUint32(at, true);
  u64 = (at: number): number => Number(this.view.getBigUint64(at, true)); // > 2^53 only ever fails a comparison
  f64 = (at: number): number => this.view.getFloat64(at, true);
}

const sayShape = (s: readonly number[]): string => s.join("×");
const ascii = (b: Uint8Array): string => JSON.stringify(String.fromCharCode(...b));

/**
 * Runs every check of the format on `bytes` and returns the header, layer records and tensor table;
 * tensors are not decoded. `name` is the file named in messages. Throws ContainerError (E_FORMAT) naming
 * the broken part.
 */
export function checkSlim(bytes: Uint8Array, name: string): SlimHeader {
  const len = bytes.length;
  const b = new Bytes(bytes);
  const broken = (status: SlimStatus, message: string, index = -1): never => {
    throw new ContainerError(status, index, `${name}: ${message}`);
  };
  const S = SLIM_STATUS;
  const H = HEADER;

  // 1. magic and version
  if (len < 4) broken(S.TRUNCATED_HEADER, `file is ${len} bytes, too short for the 4-byte "SLIM" magic (truncated, or not a .slim file).`);
  if (!startsWith(bytes, SLIM_MAGIC)) {
    const hint = startsWith(bytes, "ak42") ? ' (it starts like a llama2.c checkpoint; convert it with "slimedge convert")' : startsWith(bytes, "GGUF") ? " (it is a GGUF file)" : "";
    broken(S.BAD_MAGIC, `magic is ${ascii(bytes.subarray(0, 4))}, not "SLIM", so this is not a .slim file${hint}.`);
  }
  if (len < 8) broken(S.TRUNCATED_HEADER, `truncated header: file is ${len} bytes, ending before the format version field at byte 4.`);
  const version = b.u32(H.version);
  if (version < SLIM_OLDEST_VERSION || version > SLIM_VERSION)
    broken(S.BAD_VERSION, `format version is ${version}, but this reader knows .slim versions ${SLIM_OLDEST_VERSION}..${SLIM_VERSION} only${version < SLIM_OLDEST_VERSION ? "; convert the checkpoint again with this slimedge" : ""}.`);
  if (len < FIXED_HEADER_BYTES) broken(S.TRUNCATED_HEADER, `truncated header: file is ${len} bytes, shorter than the ${FIXED_HEADER_BYTES}-byte fixed header.`);

  // 2–3. header length and its CRC
  const headerBytes = b.u32(H.headerBytes);
  if (headerBytes < FIXED_HEADER_BYTES || headerBytes % DATA_ALIGN !== 0)
    broken(S.BAD_HEADER_LENGTH, `header field header_bytes is ${headerBytes}, expected a multiple of ${DATA_ALIGN} of at least ${FIXED_HEADER_BYTES}.`);
  if (headerBytes > len) broken(S.TRUNCATED_HEADER, `truncated header: header field header_bytes says the header is ${headerBytes} bytes, but the file has ${len}.`);
  const headerCrc = b.u32(H.headerCrc);
  const headerComputed = crc32(bytes.subarray(16, headerBytes));
  if (headerCrc !== headerComputed)
    broken(S.HEADER_CRC, `header CRC mismatch (stored ${hex32(headerCrc)}, computed ${hex32(headerComputed)} over bytes 16..${headerBytes}): the header, layer records or tensor table are corrupt.`);

  // 4. header fields
  const field = (f: string, v: number | string, expected: string): never => broken(S.BAD_FIELD, `header field ${f} is ${v}, expected ${expected}.`);
  const code = <T>(f: string, table: readonly T[]): T => {
    const v = b.u32((H as Record<string, number>)[camel(f)]);
    if (v >= table.length) field(f, v, table.map((t, i) => `${i} (${t ?? "none"})`).join(", "));
    return table[v];
  };
  const arch = code("arch", ARCH_CODES);
  const dims: Record<string, number> = {};
  for (const f of ["dim", "hidden_dim", "n_layers", "n_heads", "n_kv_heads", "vocab_size", "seq_len"]) dims[f] = b.u32((H as Record<string, number>)[camel(f)]);
  const { dim, n_layers: nLayers, n_heads: nHeads, n_kv_heads: nKvHeads } = dims;
  // The ranges every reader and the writer share (host/core/model.ts shapeProblem): n_layers at most
  // MAX_LAYERS, the others MAX_DIM; checked before a layer record is read.
  const outOfRange = shapeProblem({ dim, hiddenDim: dims.hidden_dim, nLayers, nHeads, nKvHeads, vocabSize: dims.vocab_size, seqLen: dims.seq_len });
  if (outOfRange) broken(S.BAD_FIELD, `${outOfRange}.`);
  if (dim % nHeads !== 0) field("dim", dim, `a multiple of n_heads=${nHeads}`);
  if (nHeads % nKvHeads !== 0) field("n_heads", nHeads, `a multiple of n_kv_heads=${nKvHeads}`);
  const rotaryDims = b.u32(H.rotaryDims);
  if (rotaryDims % 2 !== 0 || rotaryDims > dim / nHeads) field("rotary_dims", rotaryDims, `an even number ≤ the head size ${dim / nHeads}`);
  const norm = code("norm", NORM_CODES);
  const activation = code("activation", ACTIVATION_CODES);
  const flags = b.u32(H.flags);
  // version 3 is version 2 with bit 4 (classifier bias) and/or bit 5 (RoPE frequency factors): a file of a model
  // with neither is version 2, so no flip of the version field passes unnoticed
  if (flags > (version >= 3 ? 0x3f : 0xf))
    field("flags", hex32(flags), version >= 3 ? "only bits 0..5 (shared classifier, learned positions, parallel residual, biases, classifier bias, RoPE frequency factors)" : "only bits 0..3 (shared classifier, learned positions, parallel residual, biases) in a version 2 file");
  if (version >= 3 && (flags & (FLAG.classifierBias | FLAG.ropeFreqFactors)) === 0)
    field("flags", hex32(flags), "bit 4 (classifier bias) or bit 5 (RoPE frequency factors) set in a version 3 file; a model with neither is stored as version 2");
  const nFactors = flags & FLAG.ropeFreqFactors ? rotaryDims / 2 : 0;
  if (flags & FLAG.ropeFreqFactors && rotaryDims === 0) field("flags", hex32(flags), "bit 5 (RoPE frequency factors) only with rotary_dims > 0");
  const normEps = b.f64(H.normEps);
  if (!(Number.isFinite(normEps) && normEps > 0)) field("norm_eps", normEps, "a finite number > 0");
  const ropeTheta = b.f64(H.ropeTheta);
  if (!(Number.isFinite(ropeTheta) && (rotaryDims > 0 ? ropeTheta > 0 : ropeTheta >= 0)))
    field("rope_theta", ropeTheta, rotaryDims > 0 ? "a finite number > 0" : "a finite number ≥ 0");
  const groupSize = b.u32(H.groupSize);
  if (groupSize !== 0 && (groupSize < 2 || groupSize % 2 !== 0)) field("group_size", groupSize, "0, or an even number ≥ 2");
  const tokenizerKind = code("tokenizer_kind", TOKENIZER_CODES);
  const threshold = b.f64(H.slimThreshold);
  if (!(Number.isFinite(threshold) && threshold >= 0)) field("slim_threshold", threshold, "a finite number ≥ 0");
  const nTensors = b.u32(H.nTensors);
  if (nTensors < 1) field("n_tensors", nTensors, "at least 1");
  const tableEnd = FIXED_HEADER_BYTES + LAYER_RECORD_BYTES * nLayers + TENSOR_ENTRY_BYTES * nTensors;
  const needed = align16(tableEnd + 8 * nFactors);
  if (headerBytes !== needed)
    broken(S.BAD_HEADER_LENGTH, `header field header_bytes is ${headerBytes}, but ${nLayers} layer records and ${nTensors} tensor entries${nFactors ? ` and ${nFactors} RoPE frequency factors` : ""} need ${needed}.`);
  const ropeFreqFactors: number[] = [];
  for (let i = 0; i < nFactors; i++) {
    const f = b.f64(tableEnd + 8 * i);
    if (!(Number.isFinite(f) && f > 0)) broken(S.BAD_FIELD, `header field rope_freq_factors is ${f} at pair ${i}, expected a finite number > 0.`);
    ropeFreqFactors.push(f);
  }

  // 5–6. file length and the data CRC
  const fileBytes = b.u64(H.fileBytes);
  if (fileBytes !== len)
    broken(S.FILE_LENGTH, len < fileBytes ? `truncated: file is ${len} bytes, but header field file_bytes says ${fileBytes}.` : `file is ${len} bytes, ${len - fileBytes} more than header field file_bytes (${fileBytes}) declares: trailing bytes.`);
  const dataCrc = b.u32(H.dataCrc);
  const dataComputed = crc32(bytes.subarray(headerBytes, len));
  if (dataCrc !== dataComputed)
    broken(S.DATA_CRC, `data CRC mismatch (stored ${hex32(dataCrc)}, computed ${hex32(dataComputed)} over bytes ${headerBytes}..${len}): tensor data or the tokenizer is corrupt.`);

  const config: ModelConfig = {
    arch,
    dim,
    hiddenDim: dims.hidden_dim,
    nLayers,
    nHeads,
    nKvHeads,
    vocabSize: dims.vocab_size,
    seqLen: dims.seq_len,
    normEps,
    ropeTheta,
    ...(nFactors > 0 ? { ropeFreqFactors } : {}),
    sharedClassifier: (flags & FLAG.sharedClassifier) !== 0,
    norm,
    activation,
    rotaryDims,
    learnedPositions: (flags & FLAG.learnedPositions) !== 0,
    parallelResidual: (flags & FLAG.parallelResidual) !== 0,
    biases: (flags & FLAG.biases) !== 0,
    classifierBias: (flags & FLAG.classifierBias) !== 0,
  };

  // 7. layer records
  const layers: LayerRecord[] = [];
  for (let l = 0; l < nLayers; l++) {
    const at = FIXED_HEADER_BYTES + LAYER_RECORD_BYTES * l;
    const bad = (what: string): never => broken(S.BAD_LAYER, `layer record ${l}: ${what}.`, l);
    const mode = b.u32(at + LAYER.mode);
    const reason = b.u32(at + LAYER.reason);
    const measured = b.u32(at + LAYER.measured);
    if (mode > 1) bad(`mode is ${mode}, expected 0 (vanilla) or 1 (slim)`);
    if (reason > 4) bad(`reason is ${reason}, expected 0..4`);
    if ((mode === 1) !== (reason === 0)) bad(`mode ${mode} (${mode === 1 ? "slim" : "vanilla"}) with reason ${reason}; a layer is slim exactly when its reason is 0`);
    if (mode === 1 && nKvHeads !== nHeads) bad(`slim, but the model has grouped K/V (n_kv_heads ${nKvHeads} < n_heads ${nHeads}), which slim attention does not apply to`);
    if (measured > 0x1f) bad(`measured is ${hex32(measured)}, expected only bits 0..4`);
    if (b.u32(at + LAYER.reserved) !== 0) bad(`reserved field is ${b.u32(at + LAYER.reserved)}, expected 0`);
    const values = LAYER_VALUES.map((v, k) => {
      const x = b.f64(at + LAYER.values + 8 * k);
      if (measured & (1 << k)) return x;
      if (!Object.is(x, 0)) bad(`${v} is marked unmeasured but holds ${x}, expected 0`);
      return null;
    });
    const [cond, maxAbsWkv, errRandom, errActivations, errFloat64] = values;
    const rec: LayerRecord = { layer: l, mode: mode === 1 ? "slim" : "vanilla", reasonCode: reason as ReasonCode, cond, maxAbsWkv, errRandom, errActivations, errFloat64 };
    if (mode === 0) rec.reason = reasonSentence(rec, config, threshold);
    layers.push(rec);
  }
  const modes = layers.map((r) => r.mode);

  // 8. tensor table
  const expected = new Map(slimTensorList(config, modes).map((t) => [t.name, t]));
  const seen = new Map<string, number>();
  const dataBytes = len - headerBytes;
  const tableAt = FIXED_HEADER_BYTES + LAYER_RECORD_BYTES * nLayers;
  const tensors: TensorEntry[] = [];
  let prevEnd = 0;
  for (let i = 0; i < nTensors; i++) {
    const at = tableAt + TENSOR_ENTRY_BYTES * i;
    const tname = entryName(bytes.subarray(at, at + TENSOR_NAME_BYTES));
    const label = `tensor table entry ${i}${tname === null ? "" : ` (${tname})`}`;
    const entryBroken = (status: SlimStatus, what: string): never => broken(status, `${label}: ${what}.`, i);
    if (tname === null) entryBroken(S.BAD_TENSOR_ENTRY, `name field is not 1..${TENSOR_NAME_BYTES} bytes of [a-z0-9._] padded with NUL bytes`);
    const dcode = b.u32(at + ENTRY.dtype);
    if (dcode >= DTYPE_CODES.length) entryBroken(S.BAD_TENSOR_ENTRY, `dtype code ${dcode} is unknown (0 f32, 1 f16, 2 q8_0, 3 q4_0)`);
    const dtype = DTYPE_CODES[dcode];
    const nDims = b.u32(at + ENTRY.nDims);
    if (nDims < 1 || nDims > MAX_DIMS) entryBroken(S.BAD_TENSOR_ENTRY, `n_dims is ${nDims}, expected 1..${MAX_DIMS}`);
    const shapeField = [0, 1, 2, 3].map((k) => b.u32(at + ENTRY.shape + 4 * k));
    const shape = shapeField.slice(0, nDims);
    if (shape.some((s) => s < 1) || shapeField.slice(nDims).some((s) => s !== 0))
      entryBroken(S.BAD_TENSOR_ENTRY, `shape field is ${shapeField.join(", ")} with n_dims ${nDims}; used dims must be ≥ 1 and unused ones 0`);
    const spec = expected.get(tname!);
    if (!spec) entryBroken(S.UNEXPECTED_TENSOR, `not a tensor of this model (${unexpectedWhy(tname!, config, modes)})`);
    const first = seen.get(tname!);
    if (first !== undefined) entryBroken(S.DUPLICATE_TENSOR, `duplicate of entry ${first}`);
    seen.set(tname!, i);
    if (sayShape(shape) !== sayShape(spec!.shape))
      broken(S.TENSOR_SHAPE, `tensor ${tname} (table entry ${i}): shape ${sayShape(shape)} does not match the config (${spec!.shapeText} = ${sayShape(spec!.shape)}).`, i);
    const n = shape.reduce((p, s) => p * s, 1);
    if (nDims === 1 && dtype !== "f32") entryBroken(S.TENSOR_DTYPE, `dtype ${dtype}, but vectors (norms, biases) are stored as f32`);
    if (dtype !== "f32" && storedDtype(tname!, shape, modes, dtype) === "f32")
      entryBroken(S.TENSOR_DTYPE, `dtype ${dtype}, but W_KV, slim layers' W_K and the position embedding are stored as f32 (the decoder keeps them f32)`);
    if (dtype === "q8_0" || dtype === "q4_0") {
      if (groupSize === 0) entryBroken(S.TENSOR_DTYPE, `dtype ${dtype}, but header field group_size is 0`);
      if (shape[nDims - 1] % groupSize !== 0) entryBroken(S.TENSOR_DTYPE, `rows of ${shape[nDims - 1]} values do not split into ${dtype} groups of group_size ${groupSize}`);
    }
    const want = matrixBytes(n, dtype, groupSize);
    const byteLength = b.u64(at + ENTRY.byteLength);
    if (byteLength !== want) entryBroken(S.TENSOR_DTYPE, `byte_length is ${byteLength}, but ${sayShape(shape)} ${dtype} values take ${want}`);
    const offset = b.u64(at + ENTRY.offset);
    if (offset % DATA_ALIGN !== 0) entryBroken(S.TENSOR_BOUNDS, `offset ${offset} is not a multiple of ${DATA_ALIGN}`);
    if (offset < prevEnd) entryBroken(S.TENSOR_BOUNDS, `offset ${offset} starts before the end (${prevEnd}) of entry ${i - 1}; tensor data must follow the table order without overlap`);
    if (offset > dataBytes || byteLength > dataBytes - offset)
      entryBroken(S.TENSOR_BOUNDS, `offset ${offset} + length ${byteLength} is beyond the data section (${dataBytes} bytes)`);
    prevEnd = offset + byteLength;
    tensors.push({ name: tname!, dtype, shape, offset, byteLength });
  }

  // 9. missing tensors
  for (const t of expected.values()) {
    if (!seen.has(t.name)) broken(S.MISSING_TENSOR, `tensor ${t.name} (${t.shapeText}) is missing from the tensor table; ${missingWhy(t.name, config, modes)}.`);
  }

  // 10. tokenizer
  const tokenizerOffset = b.u64(H.tokenizerOffset);
  const tokenizerBytes = b.u64(H.tokenizerBytes);
  const tok = (what: string): never => broken(S.BAD_TOKENIZER, `tokenizer: ${what}.`);
  if (tokenizerKind === null) {
    if (tokenizerOffset !== 0 || tokenizerBytes !== 0) tok(`kind 0 (none) with offset ${tokenizerOffset} and length ${tokenizerBytes}, expected 0 and 0`);
  } else {
    if (tokenizerBytes < 1) tok(`kind ${tokenizerKind} with length 0`);
    if (tokenizerOffset % DATA_ALIGN !== 0) tok(`offset ${tokenizerOffset} is not a multiple of ${DATA_ALIGN}`);
    if (tokenizerOffset < prevEnd) tok(`offset ${tokenizerOffset} starts before the end (${prevEnd}) of the last tensor`);
    if (tokenizerOffset > dataBytes || tokenizerBytes > dataBytes - tokenizerOffset)
      tok(`offset ${tokenizerOffset} + length ${tokenizerBytes} is beyond the data section (${dataBytes} bytes)`);
  }

  // 11. nothing after the last item but its padding
  const end = tokenizerKind === null ? prevEnd : tokenizerOffset + tokenizerBytes;
  if (dataBytes !== align16(end))
    broken(S.DATA_LENGTH, `the data section is ${dataBytes} bytes, but its last ${tokenizerKind === null ? "tensor" : "item (the tokenizer)"} ends at ${end}, so it should be ${align16(end)} (padded to ${DATA_ALIGN}).`);

  return { version, config, layers, threshold, groupSize, tensors, tokenizerKind, tokenizerOffset, tokenizerBytes, headerBytes, fileBytes, headerCrc, dataCrc };
}

const camel = (f: string): string => f.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());

/** Whether `bytes` begins with the ASCII `text`. */
export function startsWith(bytes: Uint8Array, text: string): boolean {
  return bytes.length >= text.length && [...text].every((ch, i) => bytes[i] === ch.charCodeAt(0));
}

/** The name in a 48-byte field, or null when it is not 1..48 bytes of [a-z0-9._] followed only by NULs. */
function entryName(field: Uint8Array): string | null {
  let n = 0;
  while (n < field.length && field[n] !== 0) n++;
  if (n === 0) return null;
  for (let i = n; i < field.length; i++) if (field[i] !== 0) return null;
  for (let i = 0; i < n; i++) {
    const c = field[i];
    const ok = (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c === 0x2e || c === 0x5f;
    if (!ok) return null;
  }
  return String.fromCharCode(...field.subarray(0, n));
}

/** Why a well-formed name is not expected, in the words most likely to help. */
function unexpectedWhy(tname: string, c: ModelConfig, modes: readonly AttentionMode[]): string {
  const m = /^layers\.(\d+)\.(.+)$/.exec(tname);
  if (m) {
    const l = Number(m[1]);
    if (String(l) !== m[1]) return "layer numbers are written without leading zeros";
    if (l >= c.nLayers) return `the model has layers 0..${c.nLayers - 1}`;
    if (m[2] === "wv" && modes[l] === "slim") return `layer ${l} is slim, which stores layers.${l}.wkv instead`;
    if (m[2] === "wkv" && modes[l] === "vanilla") return `layer ${l} is vanilla, which stores layers.${l}.wv instead`;
    if (m[2] === "bv" && modes[l] === "slim") return `layer ${l} is slim, which folds b_V into layers.${l}.bo`;
  }
  return `a ${c.arch} model with ${archWords(c)} has no such tensor`;
}

function missingWhy(tname: string, c: ModelConfig, modes: readonly AttentionMode[]): string {
  const m = /^layers\.(\d+)\.(wv|wkv)$/.exec(tname);
  if (m) return `layer ${m[1]} is ${modes[Number(m[1])]}`;
  return `a ${c.arch} model with ${archWords(c)} needs it`;
}

