// Projections by the weights' precision: the layer loop names an input once (`input`), then projects it
// through one or more matrices (`project`), so a Q8_0 model quantizes each activation vector only once
// (q, k and v share the normed input; w1 and w3 share theirs).

import { matmul } from "./kernels";
import { quantizeQ8, packQ8, matmulQ8, matmulQ4 } from "./quant";
import { matmulF16 } from "./f16";
import { WeightCode } from "./abi.generated";

export const F32: i32 = WeightCode.F32;
export const Q8_0: i32 = WeightCode.Q8_0;
export const Q4_0: i32 = WeightCode.Q4_0;
export const F16: i32 = WeightCode.F16;

let dtype: i32 = F32; // weight matrices' storage
let group: i32 = 32; // Q8_0 / Q4_0 values per scale
let xq: usize = 0; // (block, max(dim, hidden)) int8: the quantized inputs
let xs: usize = 0; // (block, max(dim, hidden) / group) f32: their scales
let packs: bool = false; // the scalar build's Q8_0 kernel at groups of 8k: inputs packed over their f32 rows
let inX: usize = 0; // the current input (f32)
let inCols: i32 = 0;
let inN: i32 = 1; // inputs in the current block

/** Set once by init from the plan. */
export function configureProjections(weights: i32, groupSize: i32, quantized: usize, scales: usize): void {
  dtype = weights;
  group = groupSize;
  xq = quantized;
  xs = scales;
  packs = !ASC_FEATURE_SIMD && weights == Q8_0 && (groupSize & 7) == 0;
}

/**
 * The inputs X (n, cols), row-major, that the following projections read: n = 1 while decoding, a block of
 * prompt tokens while prefilling. Quantized weights quantize each row once here (xq (n, cols), xs (n, cols/group)),
 * and the scalar build's Q8_0 kernel then packs each over its own f32 row (assembly/quant.ts, packQ8: 4 bytes
 * a value, the row's size), so after `input` the rows of x are no longer read as f32 in that build.
 */
export function input(x: usize, cols: i32, n: i32): void {
  inX = x;
  inCols = cols;
  inN = n;
  if (dtype == Q8_0 || dtype == Q4_0) {
    const sRow = <usize>(cols / group) << 2;
    for (let t = 0; t < n; t++) quantizeQ8(xq + <usize>t * <usize>cols, xs + <usize>t * sRow, x + (<usize>t * <usize>cols << 2), cols, group);
    if (packs) for (let t = 0; t < n; t++) packQ8(x + (<usize>t * <usize>cols << 2), xq + <usize>t * <usize>cols, cols);
  }
}

/** W (rows, cols), in the plan's storage and the streaming layout, @ the current inputs -> out (n, rows). */
export function project(out: usize, w: usize, rows: i32): void {
  if (dtype == Q8_0) matmulQ8(out, w, rows, xq, xs, inCols, group, inN, packs ? inX : 0);
  else if (dtype == Q4_0) matmulQ4(out, w, rows, xq, xs, inCols, group, inN);
  else if (dtype == F16) matmulF16(out, w, inX, rows, inCols, inN);
  else matmul(out, w, inX, rows, inCols, inN);
}
