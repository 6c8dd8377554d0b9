// Projections by the weights' precision: the layer loop names an input once (`input`), then projects it
// through one or more matrices (`project`), so a Q8_0 model quantizes each activation vector only once
// (q, k and v share the normed input; w1 and w3 share theirs).

import { matmul } from "./kernels";
import { quantizeQ8, matmulQ8, matmulQ4 } from "./quant";
import { matmulF16 } from "./f16";
import { WeightCode } from "./abi.generated";

export const F32: i32 = WeightCode.F32;
export const Q8_0: i32 = WeightCode.Q8_0;
export const Q4_0: i32 = WeightCode.Q4_0;
export const F16: i32 = WeightCode.F16;

let dtype: i32 = F32; // weight matrices' storage
let group: i32 = 32; // Q8_0 values per scale
let xq: usize = 0; // (max(dim, hidden),) int8: the quantized input
let xs: usize = 0; // (max(dim, hidden) / group,) f32: its scales
let inX: usize = 0; // the current input (f32)
let inCols: i32 = 0;

/** Set once by init from the plan. */
export function configureProjections(weights: i32, groupSize: i32, quantized: usize, scales: usize): void {
  dtype = weights;
  group = groupSize;
  xq = quantized;
  xs = scales;
}

/** The vector (cols,) the following projections read. */
export function input(x: usize, cols: i32): void {
  inX = x;
  inCols = cols;
  if (dtype == Q8_0 || dtype == Q4_0) quantizeQ8(xq, xs, x, cols, group);
}

/** Rows [row0, row0 + count) of W (totalRows, cols) @ the current input -> out (count,). */
export function project(out: usize, w: usize, totalRows: i32, row0: i32, count: i32): void {
  if (dtype == Q8_0) matmulQ8(out, w, totalRows, row0, count, xq, xs, inCols, group);
  else if (dtype == Q4_0) matmulQ4(out, w, totalRows, row0, count, xq, xs, inCols);
  else if (dtype == F16) matmulF16(out, w, row0, count, inX, inCols);
  else matmul(out, w + ((<usize>row0 * <usize>inCols) << 2), inX, count, inCols);
}
