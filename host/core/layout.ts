/**
 * The streaming weight layout (ARCHITECTURE.md, "Weight layout"): how the decoder's weight region orders
 * the bytes of every matrix, so that each matvec reads its weights as one forward stream.
 *
 * A matrix (rows, cols) is cut into blocks of STREAM_ROWS rows (the last block holds the k ≤ 4 rows that
 * remain). Inside a block the rows are interleaved by chunks:
 *   f32   chunks of 4 values (16 bytes): for each chunk, row 0's, row 1's, …, row k−1's; then each row's
 *         cols mod 4 leftover values, row after row;
 *   f16   the same with chunks of 8 halves (16 bytes), leftovers cols mod 8;
 *   q8_0  per group: the k rows' `group` int8 values, then the k rows' f32 scales;
 *   q4_0  per group: the k rows' group/2 packed bytes, then the k rows' f32 scales.
 * Sizes are those of the row-major storage (plan.ts matrixBytes): the layout only reorders bytes, and
 * block b starts at b·4 rows' worth of bytes, so any multiple-of-4 row range is itself a laid-out matrix.
 * The decoder's kernels (assembly/kernels.ts, f16.ts, quant.ts) read exactly this; the embedding lookup
 * gathers one row back out of its block.
 */
/** plan.ts WeightDtype (repeated here so the planner can import this file without a cycle). */
type WeightDtype = "f32" | "f16" | "q8_0" | "q4_0";
import { fail } from "./errors.ts";

/** Rows per interleaved block (assembly/kernels.ts STREAM_ROWS). */
export const STREAM_ROWS = 4;
export type WeightLayout = "rows4";
export const STREAM_LAYOUT: WeightLayout = "rows4";
/** One line for plan, inspect and the memory map. */
export const LAYOUT_DESCRIPTION = `${STREAM_ROWS} rows interleaved per block (16-byte chunks; Q8_0/Q4_0 per group with the block's scales), one forward stream per matvec`;

/** Bytes of one row's pieces: `chunk` bytes repeated, then `rest` bytes (f32/f16), or per group (quantized). */
interface RowShape {
  units: number; // pieces per row, in reading order
  unitBytes: number; // bytes of each piece
  rest: number; // bytes per row after the pieces (f32/f16 leftovers)
  scales: boolean; // quantized: each unit is a group, followed in the block by the k rows' scales
}

function shapeOf(dtype: WeightDtype, cols: number, group: number): RowShape {
  switch (dtype) {
    case "f32":
      return { units: Math.floor(cols / 4), unitBytes: 16, rest: (cols % 4) * 4, scales: false };
    case "f16":
      return { units: Math.floor(cols / 8), unitBytes: 16, rest: (cols % 8) * 2, scales: false };
    case "q8_0":
      return { units: cols / group, unitBytes: group, rest: 0, scales: true };
    case "q4_0":
      return { units: cols / group, unitBytes: group / 2, rest: 0, scales: true };
  }
}

/**
 * Byte offset, in the row-major storage (values row by row, then for quantized matrices all scales),
 * of each piece; `toStream` and `fromStream` walk the same order.
 */
function* pieces(rows: number, cols: number, dtype: WeightDtype, group: number): Generator<[number, number]> {
  const s = shapeOf(dtype, cols, group);
  if (!Number.isInteger(s.units)) fail("E_MODEL", `layout: ${cols} columns are not whole groups of ${group}`);
  const rowBytes = s.units * s.unitBytes + s.rest;
  const scaleStart = rows * rowBytes;
  const groups = s.units;
  for (let first = 0; first < rows; first += STREAM_ROWS) {
    const k = Math.min(STREAM_ROWS, rows - first);
    for (let u = 0; u < s.units; u++) {
      for (let r = first; r < first + k; r++) yield [r * rowBytes + u * s.unitBytes, s.unitBytes];
      if (s.scales) for (let r = first; r < first + k; r++) yield [scaleStart + (r * groups + u) * 4, 4];
    }
    if (s.rest > 0) for (let r = first; r < first + k; r++) yield [r * rowBytes + s.units * s.unitBytes, s.rest];
  }
}

/**
 * The stored bytes of a matrix (rows, cols) in row-major order — f32/f16 values, or host/core/quant.ts's
 * q8Bytes/q4Bytes (values, then scales) — reordered into the streaming layout.
 */
export function toStream(rowMajor: Uint8Array, dtype: WeightDtype, rows: number, cols: number, group: number): Uint8Array {
  const out = new Uint8Array(rowMajor.length);
  let at = 0;
  for (const [from, n] of pieces(rows, cols, dtype, group)) {
    out.set(rowMajor.subarray(from, from + n), at);
    at += n;
  }
  if (at !== rowMajor.length) fail("E_MODEL", `layout: a ${rows}×${cols} ${dtype} matrix has ${rowMajor.length} bytes, expected ${at}`);
  return out;
}

/** The inverse of toStream: streaming layout back to row-major storage (for readers and tests). */
export function fromStream(stream: Uint8Array, dtype: WeightDtype, rows: number, cols: number, group: number): Uint8Array {
  const out = new Uint8Array(stream.length);
  let at = 0;
  for (const [to, n] of pieces(rows, cols, dtype, group)) {
    out.set(stream.subarray(at, at + n), to);
    at += n;
  }
  return out;
}

/** f32 values (rows, cols) as streaming-layout bytes. */
export const f32Stream = (values: Float32Array, rows: number, cols: number): Uint8Array =>
  toStream(new Uint8Array(values.buffer, values.byteOffset, values.byteLength), "f32", rows, cols, 1);

/**
 * The bytes a lowered tensor (host/core/lowered.ts, row-major) takes in the decoder's weight region: a
 * matrix in the streaming layout — W_KV head by head, `headDim` rows each, since slim attention reads one
 * head's rows at a time — and a vector as it is. The one place the layout is applied.
 */
export function arenaBytes(t: { name: string; dtype: WeightDtype; shape: number[]; groupSize: number; bytes: Uint8Array }, headDim: number): Uint8Array {
  if (t.shape.length !== 2 || t.name === "position_embedding") return t.bytes;
  const [rows, cols] = t.shape;
  if (!t.name.endsWith(".wkv")) return toStream(t.bytes, t.dtype, rows, cols, t.groupSize);
  const out = new Uint8Array(t.bytes.length);
  const part = headDim * cols * 4; // W_KV is f32
  for (let at = 0; at < t.bytes.length; at += part) out.set(toStream(t.bytes.subarray(at, at + part), "f32", headDim, cols, 1), at);
  return out;
}
