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

/**
 * Every int8 value as f32, indexed by its byte (0..127, then -128..-1): the scalar build's conversion.
 * It is exact, so it gives the bits `<f32>load<i8>` gives; on a core without an FPU that conversion is a
 * software call per cached value, the table one load. The SIMD build converts four at a time and has no table.
 */
const I8_F32: usize = ASC_FEATURE_SIMD ? 0 : memory.data<f32>([
  0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15,
  16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,
  32, 33, 34, 35, 36, 37, 38, 39, 40, 41, 42, 43, 44, 45, 46, 47,
  48, 49, 50, 51, 52, 53, 54, 55, 56, 57, 58, 59, 60, 61, 62, 63,
  64, 65, 66, 67, 68, 69, 70, 71, 72, 73, 74, 75, 76, 77, 78, 79,
  80, 81, 82, 83, 84, 85, 86, 87, 88, 89, 90, 91, 92, 93, 94, 95,
  96, 97, 98, 99, 100, 101, 102, 103, 104, 105, 106, 107, 108, 109, 110, 111,
  112, 113, 114, 115, 116, 117, 118, 119, 120, 121, 122, 123, 124, 125, 126, 127,
  -128, -127, -126, -125, -124, -123, -122, -121, -120, -119, -118, -117, -116, -115, -114, -113,
  -112, -111, -110, -109, -108, -107, -106, -105, -104, -103, -102, -101, -100, -99, -98, -97,
  -96, -95, -94, -93, -92, -91, -90, -89, -88, -87, -86, -85, -84, -83, -82, -81,
  -80, -79, -78, -77, -76, -75, -74, -73, -72, -71, -70, -69, -68, -67, -66, -65,
  -64, -63, -62, -61, -60, -59, -58, -57, -56, -55, -54, -53, -52, -51, -50, -49,
  -48, -47, -46, -45, -44, -43, -42, -41, -40, -39, -38, -37, -36, -35, -34, -33,
  -32, -31, -30, -29, -28, -27, -26, -25, -24, -23, -22, -21, -20, -19, -18, -17,
  -16, -15, -14, -13, -12, -11, -10, -9, -8, -7, -6, -5, -4, -3, -2, -1,
], 16);

/** The int8 value at p as f32 (exact either way). */
// @ts-ignore: decorator
@inline function i8f(p: usize): f32 {
  if (ASC_FEATURE_SIMD) return <f32>load<i8>(p);
  return load<f32>(I8_F32 + (<usize>load<u8>(p) << 2));
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
  for (; j < n; j++) sum += load<f32>(q + (<usize>j << 2)) * i8f(k + <usize>j);
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
    const k0 = i8f(k + <usize>j);
    const k1 = i8f(k + <usize>j + 1);
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

/**
 * Columns c0..cols of one head's Q8 mix, scalar: the part mixBlock4Q8's vectors did not cover (all of it
 * in the scalar build). The scalar build walks rows outside, so each row's weight a[t] · scale_t is one
 * multiply, not one per column; every column still sums its terms in the order t = 0, 1, …, from 0 or from
 * out, so the bits are those of the columns-outside loop the SIMD build keeps for its few leftover columns.
 */
function mixBlock1Q8Tail(out: usize, a: usize, rows: usize, rowBytes: usize, scaleAt: usize, c0: i32, cols: i32, count: i32, first: bool): void {
  if (ASC_FEATURE_SIMD) {
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
    return;
  }
  if (first) for (let c = c0; c < cols; c++) store<f32>(out + (<usize>c << 2), 0);
  let r = rows;
  for (let t = 0; t < count; t++) {
    const w = load<f32>(a + (<usize>t << 2)) * load<f32>(r + scaleAt);
    for (let c = c0; c < cols; c++) {
      const o = out + (<usize>c << 2);
      store<f32>(o, load<f32>(o) + w * i8f(r + <usize>c));
    }
    r += rowBytes;
  }
}
