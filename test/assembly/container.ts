// A second .slim reader, in AssemblyScript, kept as a cross-check of host/core/slim-check.ts (host/core/slim-format.ts
// is the format spec): the header, layer records and tensor table checked in the same order, with
// the same status codes, by code that shares nothing with the TypeScript reader but the ABI constants
// (assembly/abi.generated.ts). test/container.test.ts compiles it with test/assembly/asconfig.json and runs
// both readers on the same bytes. Nothing allocated: the test copies the file into this module's memory at
// inputAt() and calls check(); memory must hold memoryFor(len) bytes (the tensor-set bitmap sits right after
// the file).
//
//   inputAt() -> address for the file     memoryFor(len) -> bytes of memory needed     check(ptr, len) -> status
//   after check: version(), dim(), nLayers(), tensorCount(), tensorOffset(i), tensorBytes(i), tensorDtype(i), …,
//   headerCrcStored()/headerCrcComputed(), dataCrcStored()/dataCrcComputed(), failedIndex()
// Accessors read the checked file; before check() or after a failure they return what the bytes say, or 0
// where the bytes are not there.

import {
  SlimStatus as S, SlimHeader as H, SlimLayer as R, SlimEntry as E, SlimFlag, SLIM_MAGIC_WORD as MAGIC, SLIM_VERSION as VERSION, SLIM_OLDEST_VERSION as OLDEST,
  SLIM_FIXED_HEADER_BYTES, SLIM_LAYER_RECORD_BYTES, SLIM_TENSOR_ENTRY_BYTES, SLIM_TENSOR_NAME_BYTES as NAME_BYTES, SLIM_DATA_ALIGN,
  SLIM_MAX_DIM as MAX_DIM, SLIM_MAX_LAYERS, SLIM_MAX_DIMS, SLIM_LAYER_VALUES, SLIM_TOP_TENSORS_COUNT, SLIM_LAYER_TENSORS_COUNT, slimTopTensor, slimLayerTensor,
} from "../../assembly/abi.generated";

// Layout (the ABI schema, host/core/abi.ts), widened for 64-bit offset arithmetic.
const FIXED: u64 = SLIM_FIXED_HEADER_BYTES;
const LAYER_BYTES: u64 = SLIM_LAYER_RECORD_BYTES;
const ENTRY_BYTES: u64 = SLIM_TENSOR_ENTRY_BYTES;
const ALIGN: u64 = SLIM_DATA_ALIGN;
const TOP_SLOTS: u32 = SLIM_TOP_TENSORS_COUNT; // token_embedding, position_embedding, final_norm, final_norm_bias, classifier, classifier_bias
const KINDS: u32 = SLIM_LAYER_TENSORS_COUNT; // tensors a layer can have (slimLayerTensor)

// ---------------------------------------------------------------------------------------------------------
// CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320), as host/crc32.ts

const crcTable: usize = memory.data(1024, 16);
let crcReady: bool = false;

function buildCrcTable(): void {
  for (let n: u32 = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    store<u32>(crcTable + (<usize>n << 2), c);
  }
  crcReady = true;
}

/** CRC-32 of n bytes at ptr. */
function crc32(ptr: usize, n: usize): u32 {
  if (!crcReady) buildCrcTable();
  let c: u32 = 0xffffffff;
  for (let i: usize = 0; i < n; i++) c = load<u32>(crcTable + (<usize>((c ^ load<u8>(ptr + i)) & 0xff) << 2)) ^ (c >>> 8);
  return ~c;
}

// ---------------------------------------------------------------------------------------------------------
// state of the last check

let file: usize = 0; // where the file starts in memory
let fileLen: u64 = 0;
let headerCrcValue: u32 = 0; // computed over [16, header_bytes), 0 until computed
let dataCrcValue: u32 = 0; // computed over [header_bytes, file_bytes), 0 until computed
let failed: i32 = -1; // the table entry or layer record a failure names; -1 = none
let bitmap: usize = 0; // one bit per tensor slot, right after the file

// @ts-ignore: decorator
@inline function has(off: u64, n: u64): bool {
  return off + n <= fileLen;
}
// @ts-ignore: decorator
@inline function u32At(off: usize): u32 {
  return has(<u64>off, 4) ? load<u32>(file + off) : 0;
}
// @ts-ignore: decorator
@inline function u64At(off: usize): u64 {
  return has(<u64>off, 8) ? load<u64>(file + off) : 0;
}
// @ts-ignore: decorator
@inline function f64At(off: usize): f64 {
  return has(<u64>off, 8) ? load<f64>(file + off) : 0;
}
// @ts-ignore: decorator
@inline function align16(n: u64): u64 {
  return (n + ALIGN - 1) & ~(ALIGN - 1);
}
function layerAt(l: u32): usize {
  return <usize>(FIXED + LAYER_BYTES * <u64>l);
}
function entryAt(i: u32): usize {
  return <usize>(FIXED + LAYER_BYTES * <u64>u32At(<usize>H.nLayers) + ENTRY_BYTES * <u64>i);
}
function scratchFor(len: u64): u64 {
  return (len >> 4) + 16; // ≥ (5 + 18·n_layers + 7) / 8 bytes, since every layer record takes 56 file bytes
}

// ---------------------------------------------------------------------------------------------------------
// tensor names

/** Whether a model with this header has top-level slot s. */
function topPresent(s: u32): bool {
  const flags = u32At(<usize>H.flags);
  if (s == 1) return (flags & SlimFlag.learnedPositions) != 0;
  if (s == 3) return u32At(<usize>H.norm) == 1;
  if (s == 4) return (flags & SlimFlag.sharedClassifier) == 0;
  if (s == 5) return (flags & SlimFlag.classifierBias) != 0;
  return true;
}

/** Whether layer kind k exists in a layer of the given mode (1 slim, 0 vanilla). */
function kindPresent(k: u32, slim: bool): bool {
  const biases = (u32At(<usize>H.flags) & SlimFlag.biases) != 0;
  const layerNorm = u32At(<usize>H.norm) == 1;
  if (k == 1 || k == 12) return layerNorm;
  if (k == 8) return biases && !slim; // a slim layer folds b_V into b_O
  if (k == 3 || k == 5 || k == 10 || k == 14 || k == 16) return biases;
  if (k == 6) return !slim;
  if (k == 7) return slim;
  if (k == 17) return u32At(<usize>H.activation) == 0;
  return true;
}

/** Whether slot's tensor is f32 under every dtype: the position embedding, W_KV, and W_K of a slim layer. */
function mustBeF32(slot: u32): bool {
  if (slot < TOP_SLOTS) return slot == 1;
  const k = (slot - TOP_SLOTS) % KINDS;
  return k == 7 || (k == 4 && u32At(layerAt((slot - TOP_SLOTS) / KINDS)) == 1);
}

function slotPresent(slot: u32): bool {
  if (slot < TOP_SLOTS) return topPresent(slot);
  const l = (slot - TOP_SLOTS) / KINDS;
  return kindPresent((slot - TOP_SLOTS) % KINDS, u32At(layerAt(l)) == 1);
}

/** Whether the n name bytes at p spell s. */
function nameIs(p: usize, n: u32, s: string): bool {
  if (<u32>s.length != n) return false;
  for (let i: u32 = 0; i < n; i++) if (<i32>load<u8>(p + i) != s.charCodeAt(i)) return false;
  return true;
}

/** Length of a well-formed name field (1..48 bytes of [a-z0-9._], then only NULs), or 0. */
function nameLength(p: usize): u32 {
  let n: u32 = 0;
  while (n < NAME_BYTES && load<u8>(p + n) != 0) n++;
  if (n == 0) return 0;
  for (let i = n; i < NAME_BYTES; i++) if (load<u8>(p + i) != 0) return 0;
  for (let i: u32 = 0; i < n; i++) {
    const c = load<u8>(p + i);
    if (!((c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2e || c == 0x5f)) return 0;
  }
  return n;
}

/** The slot a name stands for in this model, or -1 when the model has no such tensor. */
function slotOf(p: usize, n: u32): i64 {
  for (let s: u32 = 0; s < TOP_SLOTS; s++) {
    if (nameIs(p, n, slimTopTensor(<i32>s))) return topPresent(s) ? <i64>s : -1;
  }
  if (n < 9 || !nameIs(p, 7, "layers.")) return -1;
  let i: u32 = 7;
  let layer: u64 = 0;
  const first = i;
  while (i < n && load<u8>(p + i) >= 0x30 && load<u8>(p + i) <= 0x39) {
    if (i - first >= 8) return -1; // more digits than any layer count
    layer = layer * 10 + <u64>(load<u8>(p + i) - 0x30);
    i++;
  }
  const digits = i - first;
  if (digits == 0 || (digits > 1 && load<u8>(p + first) == 0x30)) return -1; // none, or a leading zero
  if (layer >= <u64>u32At(<usize>H.nLayers) || i >= n || load<u8>(p + i) != 0x2e) return -1;
  const rest = p + i + 1;
  const restLen = n - i - 1;
  for (let k: u32 = 0; k < KINDS; k++) {
    if (nameIs(rest, restLen, slimLayerTensor(<i32>k))) {
      if (!kindPresent(k, u32At(layerAt(<u32>layer)) == 1)) return -1;
      return <i64>TOP_SLOTS + <i64>layer * <i64>KINDS + <i64>k;
    }
  }
  return -1;
}

let expDims: u32 = 0;
let expRows: u64 = 0;
let expCols: u64 = 0;

/** Sets expDims/expRows/expCols to the shape the config gives slot s. */
function expectShape(slot: u32): void {
  const dim = <u64>u32At(<usize>H.dim);
  const hidden = <u64>u32At(<usize>H.hiddenDim);
  const vocab = <u64>u32At(<usize>H.vocabSize);
  const kv = (dim * <u64>u32At(<usize>H.nKvHeads)) / <u64>u32At(<usize>H.nHeads);
  expCols = 0;
  if (slot < TOP_SLOTS) {
    if (slot == 0 || slot == 4) vec2(vocab, dim);
    else if (slot == 1) vec2(<u64>u32At(<usize>H.seqLen), dim);
    else if (slot == 5) vec1(vocab);
    else vec1(dim);
    return;
  }
  const k = (slot - TOP_SLOTS) % KINDS;
  if (k == 2 || k == 7 || k == 9) vec2(dim, dim);
  else if (k == 4 || k == 6) vec2(kv, dim);
  else if (k == 5 || k == 8) vec1(kv);
  else if (k == 13 || k == 17) vec2(hidden, dim);
  else if (k == 15) vec2(dim, hidden);
  else if (k == 14) vec1(hidden);
  else vec1(dim);
}
function vec1(n: u64): void {
  expDims = 1;
  expRows = n;
}
function vec2(rows: u64, cols: u64): void {
  expDims = 2;
  expRows = rows;
  expCols = cols;
}

// @ts-ignore: decorator
@inline function bitSet(slot: u32): bool {
  return (load<u8>(bitmap + (slot >> 3)) & (1 << (slot & 7))) != 0;
}
// @ts-ignore: decorator
@inline function setBit(slot: u32): void {
  store<u8>(bitmap + (slot >> 3), <u32>load<u8>(bitmap + (slot >> 3)) | (<u32>1 << (slot & 7)));
}

// ---------------------------------------------------------------------------------------------------------
// the check

/** Where the host should copy a file: the first 16-byte boundary after this module's static data. */
export function inputAt(): usize {
  return (__heap_base + 15) & ~15;
}

/** Bytes of memory check() needs for a file of len bytes copied to inputAt(). */
export function memoryFor(len: u32): f64 {
  return <f64>(align16(<u64>inputAt() + <u64>len) + scratchFor(<u64>len));
}

/** Checks the .slim file of len bytes at ptr; returns a status code (0 = a sound file). */
export function check(ptr: usize, len: u32): i32 {
  file = ptr;
  fileLen = <u64>len;
  headerCrcValue = 0;
  dataCrcValue = 0;
  failed = -1;
  const end = align16(<u64>ptr + fileLen);
  if (end + scratchFor(fileLen) > (<u64>memory.size() << 16)) return S.NO_MEMORY;
  bitmap = <usize>end;

  // 1. magic and version
  if (fileLen < 4) return S.TRUNCATED_HEADER;
  if (load<u32>(file) != MAGIC) return S.BAD_MAGIC;
  if (fileLen < 8) return S.TRUNCATED_HEADER;
  const version = u32At(<usize>H.version);
  if (version < OLDEST || version > VERSION) return S.BAD_VERSION;
  if (fileLen < FIXED) return S.TRUNCATED_HEADER;

  // 2–3. header length and its CRC
  const headerBytes = <u64>u32At(<usize>H.headerBytes);
  if (headerBytes < FIXED || headerBytes % ALIGN != 0) return S.BAD_HEADER_LENGTH;
  if (headerBytes > fileLen) return S.TRUNCATED_HEADER;
  headerCrcValue = crc32(file + 16, <usize>(headerBytes - 16));
  if (headerCrcValue != u32At(<usize>H.headerCrc)) return S.HEADER_CRC;

  // 4. header fields
  if (u32At(<usize>H.arch) > 2) return S.BAD_FIELD;
  for (let f = <usize>H.dim; f <= <usize>H.seqLen; f += 4) {
    const v = u32At(f);
    if (v < 1 || v > (f == <usize>H.nLayers ? SLIM_MAX_LAYERS : MAX_DIM)) return S.BAD_FIELD;
  }
  const dim = u32At(<usize>H.dim);
  const nLayers = u32At(<usize>H.nLayers);
  const nHeads = u32At(<usize>H.nHeads);
  const nKvHeads = u32At(<usize>H.nKvHeads);
  if (dim % nHeads != 0) return S.BAD_FIELD;
  if (nHeads % nKvHeads != 0) return S.BAD_FIELD;
  const rotary = u32At(<usize>H.rotaryDims);
  if (rotary % 2 != 0 || rotary > dim / nHeads) return S.BAD_FIELD;
  if (u32At(<usize>H.norm) > 1) return S.BAD_FIELD;
  if (u32At(<usize>H.activation) > 2) return S.BAD_FIELD;
  const flags = u32At(<usize>H.flags);
  if (flags > (version >= 3 ? <u32>0x3f : <u32>0xf)) return S.BAD_FIELD; // bits 4 (classifier bias) and 5 (RoPE factors) from version 3
  if (version >= 3 && (flags & (SlimFlag.classifierBias | SlimFlag.ropeFreqFactors)) == 0) return S.BAD_FIELD; // and only there
  const factors = (flags & SlimFlag.ropeFreqFactors) != 0 ? <u64>(rotary / 2) : 0;
  if ((flags & SlimFlag.ropeFreqFactors) != 0 && rotary == 0) return S.BAD_FIELD;
  const eps = f64At(<usize>H.normEps);
  if (!(isFinite<f64>(eps) && eps > 0)) return S.BAD_FIELD;
  const theta = f64At(<usize>H.ropeTheta);
  if (!(isFinite<f64>(theta) && (rotary > 0 ? theta > 0 : theta >= 0))) return S.BAD_FIELD;
  const group = u32At(<usize>H.groupSize);
  if (group != 0 && (group < 2 || group % 2 != 0)) return S.BAD_FIELD;
  const tokKind = u32At(<usize>H.tokenizerKind);
  if (tokKind > 3) return S.BAD_FIELD; // 3: a bundle (host/core/tokenizers.ts)
  const threshold = f64At(<usize>H.slimThreshold);
  if (!(isFinite<f64>(threshold) && threshold >= 0)) return S.BAD_FIELD;
  const nTensors = u32At(<usize>H.nTensors);
  if (nTensors < 1) return S.BAD_FIELD;
  const tableEnd = FIXED + LAYER_BYTES * <u64>nLayers + ENTRY_BYTES * <u64>nTensors;
  if (headerBytes != align16(tableEnd + 8 * factors)) return S.BAD_HEADER_LENGTH;
  for (let i: u64 = 0; i < factors; i++) {
    const f = f64At(<usize>(tableEnd + 8 * i)); // the RoPE frequency factors after the tensor table (version 3)
    if (!(isFinite<f64>(f) && f > 0)) return S.BAD_FIELD;
  }

  // 5–6. file length and the data CRC
  if (u64At(<usize>H.fileBytes) != fileLen) return S.FILE_LENGTH;
  dataCrcValue = crc32(file + <usize>headerBytes, <usize>(fileLen - headerBytes));
  if (dataCrcValue != u32At(<usize>H.dataCrc)) return S.DATA_CRC;

  // 7. layer records
  for (let l: u32 = 0; l < nLayers; l++) {
    const at = layerAt(l);
    const mode = u32At(at + <usize>R.mode);
    const reason = u32At(at + <usize>R.reason);
    const measured = u32At(at + <usize>R.measured);
    failed = <i32>l;
    if (mode > 1 || reason > 4) return S.BAD_LAYER;
    if ((mode == 1) != (reason == 0)) return S.BAD_LAYER;
    if (mode == 1 && nKvHeads != nHeads) return S.BAD_LAYER;
    if (measured >= <u32>(1 << SLIM_LAYER_VALUES) || u32At(at + <usize>R.reserved) != 0) return S.BAD_LAYER;
    for (let k: u32 = 0; k < SLIM_LAYER_VALUES; k++) {
      if ((measured & (1 << k)) == 0 && u64At(at + <usize>R.values + 8 * k) != 0) return S.BAD_LAYER;
    }
  }
  failed = -1;

  // 8. tensor table
  const slots = TOP_SLOTS + KINDS * nLayers;
  for (let i: u32 = 0; i < (slots + 7) >> 3; i++) store<u8>(bitmap + i, 0);
  const dataBytes = fileLen - headerBytes;
  let prevEnd: u64 = 0;
  for (let i: u32 = 0; i < nTensors; i++) {
    const at = entryAt(i);
    failed = <i32>i;
    const n = nameLength(file + at);
    if (n == 0) return S.BAD_TENSOR_ENTRY;
    const dtype = u32At(at + <usize>E.dtype);
    if (dtype > 3) return S.BAD_TENSOR_ENTRY;
    const nDims = u32At(at + <usize>E.nDims);
    if (nDims < 1 || nDims > SLIM_MAX_DIMS) return S.BAD_TENSOR_ENTRY;
    for (let k: u32 = 0; k < SLIM_MAX_DIMS; k++) {
      const s = u32At(at + <usize>E.shape + 4 * k);
      if (k < nDims ? s < 1 : s != 0) return S.BAD_TENSOR_ENTRY;
    }
    const slot = slotOf(file + at, n);
    if (slot < 0) return S.UNEXPECTED_TENSOR;
    if (bitSet(<u32>slot)) return S.DUPLICATE_TENSOR;
    setBit(<u32>slot);
    expectShape(<u32>slot);
    if (nDims != expDims || <u64>u32At(at + <usize>E.shape) != expRows || (nDims == 2 && <u64>u32At(at + <usize>E.shape + 4) != expCols)) return S.TENSOR_SHAPE;
    const count = nDims == 1 ? expRows : expRows * expCols;
    const last = nDims == 1 ? expRows : expCols;
    if (nDims == 1 && dtype != 0) return S.TENSOR_DTYPE;
    if (dtype != 0 && mustBeF32(<u32>slot)) return S.TENSOR_DTYPE;
    if (dtype >= 2) {
      if (group == 0) return S.TENSOR_DTYPE;
      if (last % <u64>group != 0) return S.TENSOR_DTYPE;
    }
    let want: u64 = 0;
    if (dtype == 0) want = 4 * count;
    else if (dtype == 1) want = 2 * count;
    else if (dtype == 2) want = count + 4 * (count / <u64>group);
    else want = count / 2 + 4 * (count / <u64>group);
    const bytes = u64At(at + <usize>E.byteLength);
    if (bytes != want) return S.TENSOR_DTYPE;
    const offset = u64At(at + <usize>E.offset);
    if (offset % ALIGN != 0) return S.TENSOR_BOUNDS;
    if (offset < prevEnd) return S.TENSOR_BOUNDS;
    if (offset > dataBytes || bytes > dataBytes - offset) return S.TENSOR_BOUNDS;
    prevEnd = offset + bytes;
  }
  failed = -1;

  // 9. missing tensors, in file order: top slots 0 and 1, the layers, then 2, 3, 4
  if (!allPresent(0, 2)) return S.MISSING_TENSOR;
  for (let l: u32 = 0; l < nLayers; l++) {
    if (!allPresent(TOP_SLOTS + KINDS * l, TOP_SLOTS + KINDS * (l + 1))) return S.MISSING_TENSOR;
  }
  if (!allPresent(2, TOP_SLOTS)) return S.MISSING_TENSOR;

  // 10. tokenizer
  const tokOffset = u64At(<usize>H.tokenizerOffset);
  const tokBytes = u64At(<usize>H.tokenizerBytes);
  if (tokKind == 0) {
    if (tokOffset != 0 || tokBytes != 0) return S.BAD_TOKENIZER;
  } else {
    if (tokBytes < 1) return S.BAD_TOKENIZER;
    if (tokOffset % ALIGN != 0) return S.BAD_TOKENIZER;
    if (tokOffset < prevEnd) return S.BAD_TOKENIZER;
    if (tokOffset > dataBytes || tokBytes > dataBytes - tokOffset) return S.BAD_TOKENIZER;
  }

  // 11. nothing after the last item but its padding
  const last = tokKind == 0 ? prevEnd : tokOffset + tokBytes;
  if (dataBytes != align16(last)) return S.DATA_LENGTH;
  return S.OK;
}

/** Whether every slot in [from, to) that this model has was seen in the table. */
function allPresent(from: u32, to: u32): bool {
  for (let s = from; s < to; s++) if (slotPresent(s) && !bitSet(s)) return false;
  return true;
}

// ---------------------------------------------------------------------------------------------------------
// accessors

export function failedIndex(): i32 { return failed; }
export function headerCrcStored(): u32 { return u32At(<usize>H.headerCrc); }
export function headerCrcComputed(): u32 { return headerCrcValue; }
export function dataCrcStored(): u32 { return u32At(<usize>H.dataCrc); }
export function dataCrcComputed(): u32 { return dataCrcValue; }
export function version(): u32 { return u32At(<usize>H.version); }
export function headerBytes(): u32 { return u32At(<usize>H.headerBytes); }
export function fileBytes(): f64 { return <f64>u64At(<usize>H.fileBytes); }
export function arch(): u32 { return u32At(<usize>H.arch); }
export function dim(): u32 { return u32At(<usize>H.dim); }
export function hiddenDim(): u32 { return u32At(<usize>H.hiddenDim); }
export function nLayers(): u32 { return u32At(<usize>H.nLayers); }
export function nHeads(): u32 { return u32At(<usize>H.nHeads); }
export function nKvHeads(): u32 { return u32At(<usize>H.nKvHeads); }
export function vocabSize(): u32 { return u32At(<usize>H.vocabSize); }
export function seqLen(): u32 { return u32At(<usize>H.seqLen); }
export function rotaryDims(): u32 { return u32At(<usize>H.rotaryDims); }
export function norm(): u32 { return u32At(<usize>H.norm); }
export function activation(): u32 { return u32At(<usize>H.activation); }
export function flags(): u32 { return u32At(<usize>H.flags); }
export function normEps(): f64 { return f64At(<usize>H.normEps); }
export function ropeTheta(): f64 { return f64At(<usize>H.ropeTheta); }
export function groupSize(): u32 { return u32At(<usize>H.groupSize); }
export function slimThreshold(): f64 { return f64At(<usize>H.slimThreshold); }
export function tokenizerKind(): u32 { return u32At(<usize>H.tokenizerKind); }
export function tokenizerOffset(): f64 { return <f64>u64At(<usize>H.tokenizerOffset); }
export function tokenizerBytes(): f64 { return <f64>u64At(<usize>H.tokenizerBytes); }
/** Address of the data section in memory (tensor offsets count from here). */
export function dataAt(): usize { return file + <usize>u32At(<usize>H.headerBytes); }

export function layerMode(l: u32): u32 { return u32At(layerAt(l) + <usize>R.mode); }
export function layerReason(l: u32): u32 { return u32At(layerAt(l) + <usize>R.reason); }
export function layerMeasured(l: u32): u32 { return u32At(layerAt(l) + <usize>R.measured); }
/** Measured value k (0 cond, 1 max|W_KV|, 2 err random, 3 err prompt, 4 err f64) of layer l. */
export function layerValue(l: u32, k: u32): f64 { return f64At(layerAt(l) + <usize>R.values + 8 * k); }

export function tensorCount(): u32 { return u32At(<usize>H.nTensors); }
/** Address of entry i's name bytes (NUL-padded, 48 bytes). */
export function tensorName(i: u32): usize { return file + entryAt(i); }
export function tensorNameLength(i: u32): u32 { return has(<u64>entryAt(i), NAME_BYTES) ? nameLength(file + entryAt(i)) : 0; }
export function tensorDtype(i: u32): u32 { return u32At(entryAt(i) + <usize>E.dtype); }
export function tensorDims(i: u32): u32 { return u32At(entryAt(i) + <usize>E.nDims); }
export function tensorShape(i: u32, k: u32): u32 { return u32At(entryAt(i) + <usize>E.shape + 4 * k); }
export function tensorOffset(i: u32): f64 { return <f64>u64At(entryAt(i) + <usize>E.offset); }
export function tensorBytes(i: u32): f64 { return <f64>u64At(entryAt(i) + <usize>E.byteLength); }
