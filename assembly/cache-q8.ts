// Q8 cache rows: a row of `width` values is stored as int8 values followed by one f32 scale
// (width + 4 bytes), value ≈ q · scale. Readers fold the row's scale into the score or the mixing weight,
// so a row is never dequantized into memory: rotation, dot products and mixes run on the int8 values
// converted four at a time.

import { roundToInt } from "./quant";

/** Stores x (n,) as a Q8 row at dst: n int8 values, then the f32 scale max|x| / 127 (round half to even). */
export function storeRowQ8(dst: usize, x: usize, n: i32): void {
  let amax: f32 = 0;
  for (let j = 0; j < n; j++) amax = Mathf.max(amax, Mathf.abs(load<f32>(x + (<usize>j << 2))));
  const scale: f32 = amax / 127.0;
  const inv: f32 = scale != 0 ? 1.0 / scale : 0;
  for (let j = 0; j < n; j++) store<i8>(dst + <usize>j, <i8>roundToInt(load<f32>(x + (<usize>j << 2)) * inv));
  store<f32>(dst + <usize>n, scale);
}

/** Four int8 values at p as f32x4. */
// @ts-ignore: decorator
@inline function i8x4(p: usize): v128 {
  return f32x4.convert_i32x4_s(i32x4.extend_low_i16x8_s(i16x8.extend_low_i8x16_s(v128.load32_zero(p))));
}

/** q (n,) f32 · k (n,) int8, unscaled. */
export function dotQ8(q: usize, k: usize, n: i32): f32 {
  let j = 0;
  let sum: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    let acc = f32x4.splat(0);
    for (; j + 4 <= n; j += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(q + (<usize>j << 2)), i8x4(k + <usize>j)));
    sum = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
  }
  for (; j < n; j++) sum += load<f32>(q + (<usize>j << 2)) * <f32>load<i8>(k + <usize>j);
  return sum;
}

/** q_h (hd,) · rotate(k (hd,) int8, tableRow), unscaled (rotation is linear, so the row scale applies after). */
export function rotatedDotQ8(q: usize, k: usize, row: usize, hd: i32): f32 {
  let j = 0;
  let sum: f32 = 0;
  const sinOff = <usize>hd << 2;
  if (ASC_FEATURE_SIMD) {
    let acc = f32x4.splat(0);
    for (; j + 4 <= hd; j += 4) {
      const o = <usize>j << 2;
      const kv = i8x4(k + <usize>j);
      const swapped = v128.shuffle<f32>(kv, kv, 1, 0, 3, 2);
      const kr = f32x4.add(f32x4.mul(kv, v128.load(row + o)), f32x4.mul(swapped, v128.load(row + sinOff + o)));
      acc = f32x4.add(acc, f32x4.mul(v128.load(q + o), kr));
    }
    sum = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
  }
  for (; j < hd; j += 2) {
    const o = <usize>j << 2;
    const k0 = <f32>load<i8>(k + <usize>j);
    const k1 = <f32>load<i8>(k + <usize>j, 1);
    const c = load<f32>(row + o);
    const s = load<f32>(row + sinOff + o, 4);
    sum += load<f32>(q + o) * (k0 * c - k1 * s) + load<f32>(q + o, 4) * (k0 * s + k1 * c);
  }
  return sum;
}

/**
 * out (cols,) (+)= Σ_t a[t] · scale_t · rows_t (cols,) over count Q8 rows (row t at rows + t·rowBytes,
 * its scale at byte `scaleAt` of the row).
 */
export function mixBlock1Q8(out: usize, a: usize, rows: usize, rowBytes: usize, scaleAt: usize, cols: i32, count: i32, first: bool): void {
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    for (; c + 4 <= cols; c += 4) {
      const o = out + (<usize>c << 2);
      let s0 = first ? f32x4.splat(0) : v128.load(o);
      let r = rows;
      for (let t = 0; t < count; t++) {
        const w = load<f32>(a + (<usize>t << 2)) * load<f32>(r + scaleAt);
        s0 = f32x4.add(s0, f32x4.mul(f32x4.splat(w), i8x4(r + <usize>c)));
        r += rowBytes;
      }
      v128.store(o, s0);
    }
  }
  mixBlock1Q8Tail(out, a, rows, rowBytes, scaleAt, c, cols, count, first);
}

/** U (4 heads, dim) (+)= A (4 rows aRow apart, count) · scaled Q8 rows: one walk over the rows for four heads. */
export function mixBlock4Q8(u: usize, a0: usize, aRow: usize, rows: usize, rowBytes: usize, dim: i32, count: i32, first: bool): void {
  const uRow = <usize>dim << 2;
  const scaleAt = <usize>dim;
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    for (; c + 4 <= dim; c += 4) {
      const o = u + (<usize>c << 2);
      let s0 = first ? f32x4.splat(0) : v128.load(o);
      let s1 = first ? f32x4.splat(0) : v128.load(o + uRow);
      let s2 = first ? f32x4.splat(0) : v128.load(o + 2 * uRow);
      let s3 = first ? f32x4.splat(0) : v128.load(o + 3 * uRow);
      let r = rows;
      let a = a0;
      for (let t = 0; t < count; t++) {
        const kv = i8x4(r + <usize>c);
        const sc = load<f32>(r + scaleAt);
        s0 = f32x4.add(s0, f32x4.mul(f32x4.splat(load<f32>(a) * sc), kv));
        s1 = f32x4.add(s1, f32x4.mul(f32x4.splat(load<f32>(a + aRow) * sc), kv));
        s2 = f32x4.add(s2, f32x4.mul(f32x4.splat(load<f32>(a + 2 * aRow) * sc), kv));
        s3 = f32x4.add(s3, f32x4.mul(f32x4.splat(load<f32>(a + 3 * aRow) * sc), kv));
        r += rowBytes;
        a += 4;
      }
      v128.store(o, s0);
      v128.store(o + uRow, s1);
      v128.store(o + 2 * uRow, s2);
      v128.store(o + 3 * uRow, s3);
    }
  }
  for (let h = 0; h < 4; h++) mixBlock1Q8Tail(u + <usize>h * uRow, a0 + <usize>h * aRow, rows, rowBytes, scaleAt, c, dim, count, first);
}

/** Columns c0..cols of one head's Q8 mix, scalar: the part mixBlock4Q8's vectors did not cover. */
function mixBlock1Q8Tail(out: usize, a: usize, rows: usize, rowBytes: usize, scaleAt: usize, c0: i32, cols: i32, count: i32, first: bool): void {
  for (let c = c0; c < cols; c++) {
    const o = out + (<usize>c << 2);
    let s: f32 = first ? 0 : load<f32>(o);
    let r = rows;
    for (let t = 0; t < count; t++) {
      s += load<f32>(a + (<usize>t << 2)) * load<f32>(r + scaleAt) * <f32>load<i8>(r + <usize>c);
      r += rowBytes;
    }
    store<f32>(o, s);
  }
}
