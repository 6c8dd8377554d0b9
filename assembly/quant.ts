// Q8_0 weights: int8 values with one f32 scale per group of `group` values along a row, value ≈ q · scale,
// stored in the streaming layout (assembly/kernels.ts STREAM_ROWS): per block of k ≤ 4 rows and per group,
// the k rows' group values one after another, then the k rows' scales — k·(group + 4) bytes read in order. The input vector is
// quantized the same way, so each group's dot product is an exact integer: int8 × int8 widened to i16 and
// summed in i32 (i32x4.dot_i16x8_s in the SIMD build), then scaled once per group in f32. No tensor is
// ever dequantized as a whole.
//
// The scalar build (no SIMD, what microcontrollers run) has one more form of the input, `packQ8`: it
// reads eight weights as one i64, turns them unsigned (u = q + 128, one xor), masks out two of them 32
// bits apart, and multiplies that by two input values packed the other way round, so one i64 multiply
// yields the sum of two products in its high half; Σ q·x = Σ u·x − 128·Σ x, Σ x summed from the packs as
// they are read. The packs take 4 bytes a value, so they are written over the f32 input row itself: no
// buffer of their own. The integers are the same as the plain loop's, so the results are bit for bit
// equal (ARCHITECTURE.md, "Weight layout").

import { aligned4 } from "./kernels";

/**
 * nearest<f32>(v) as an i32, rounding half to even, for |v| < 2^22 (a quantizer's |v| ≤ 127): adding
 * 1.5·2^23 moves v where f32 values are one apart, so the addition itself rounds (half to even, the
 * offset being even) and the integer is the sum's bits minus the offset's. The same integers as
 * nearest and a conversion, without either: a rounding instruction and a saturating conversion cost
 * several instructions in some engines and a libm call in others.
 */
// @ts-ignore: decorator
@inline export function roundToInt(v: f32): i32 {
  return reinterpret<i32>(v + 12582912.0) - 0x4b400000;
}

/** roundToInt on four f32 lanes. */
// @ts-ignore: decorator
@inline function roundToInt4(v: v128): v128 {
  const offset = f32x4.splat(12582912.0);
  return i32x4.sub(f32x4.add(v, offset), offset);
}

/** Quantizes x (n,) to int8 groups: q (n,) and scales (n/group,), scale = max|x| / 127 per group, rounding half to even. */
export function quantizeQ8(q: usize, scales: usize, x: usize, n: i32, group: i32): void {
  if (ASC_FEATURE_SIMD && (group & 15) == 0) {
    // the same values: max is exact in any order, and roundToInt4 rounds each lane as roundToInt does
    for (let g = 0; g < n; g += group) {
      const xg = x + (<usize>g << 2);
      const end = xg + (<usize>group << 2);
      let m = f32x4.splat(0);
      for (let p = xg; p < end; p += 16) m = f32x4.max(m, f32x4.abs(v128.load(p)));
      const amax = Mathf.max(Mathf.max(f32x4.extract_lane(m, 0), f32x4.extract_lane(m, 1)), Mathf.max(f32x4.extract_lane(m, 2), f32x4.extract_lane(m, 3)));
      const scale: f32 = amax / 127.0;
      const inv = f32x4.splat(scale != 0 ? 1.0 / scale : 0);
      store<f32>(scales + (<usize>(g / group) << 2), scale);
      let d = q + <usize>g;
      for (let p = xg; p < end; p += 64) {
        const a = roundToInt4(f32x4.mul(v128.load(p), inv));
        const b = roundToInt4(f32x4.mul(v128.load(p, 16), inv));
        const c = roundToInt4(f32x4.mul(v128.load(p, 32), inv));
        const e = roundToInt4(f32x4.mul(v128.load(p, 48), inv));
        v128.store(d, i8x16.narrow_i16x8_s(i16x8.narrow_i32x4_s(a, b), i16x8.narrow_i32x4_s(c, e)));
        d += 16;
      }
    }
    return;
  }
  for (let g = 0; g < n; g += group) {
    let amax: f32 = 0;
    for (let j = g; j < g + group; j++) amax = Mathf.max(amax, Mathf.abs(load<f32>(x + (<usize>j << 2))));
    const scale: f32 = amax / 127.0;
    const inv: f32 = scale != 0 ? 1.0 / scale : 0;
    store<f32>(scales + (<usize>(g / group) << 2), scale);
    for (let j = g; j < g + group; j++) store<i8>(q + <usize>j, <i8>roundToInt(load<f32>(x + (<usize>j << 2)) * inv));
  }
}

/**
 * The scalar kernel's form of one quantized input row xq (cols,), cols % 8 == 0, written to pk (cols · 4 bytes,
 * the size of the f32 row it may overwrite): per 8 values j..j+7, X_k = x[j+k+4] + x[j+k]·2^32 for k = 0..3.
 */
export function packQ8(pk: usize, xq: usize, cols: i32): void {
  for (let j = 0; j < cols; j += 8) {
    const s = xq + <usize>j;
    const d = pk + (<usize>j << 2);
    store<i64>(d, i64.load8_s(s, 4) + (i64.load8_s(s) << 32));
    store<i64>(d, i64.load8_s(s, 5) + (i64.load8_s(s, 1) << 32), 8);
    store<i64>(d, i64.load8_s(s, 6) + (i64.load8_s(s, 2) << 32), 16);
    store<i64>(d, i64.load8_s(s, 7) + (i64.load8_s(s, 3) << 32), 24);
  }
}

/**
 * Four interleaved Q8_0 rows @ a packed input (packQ8) -> o[0..4), scalar: per 8 weights of a row one i64
 * load, and four i64 multiplies of two products each. Accumulators start at 2^31 so that the high half,
 * taken by an arithmetic shift, is exact whatever the sign of the low half's sum (|low| < group·2^15 < 2^31).
 * The packs themselves are summed on the way (their halves add up to Σ x of the group) for the −128·Σ x term.
 */
// @ts-ignore: decorator
@inline function block4Q8Packed(o: usize, p: usize, pk: usize, xs: usize, groups: i32, group: i32): void {
  // No aligned4 here, unlike the other kernels: with the alignment known, the native build's loop body is one
  // block and gcc's rv32 schedule hoists all four rows' 64-bit loads, masks and products ahead of their sums,
  // about 40 live 32-bit halves, so the loop spilled to the stack (esp32-p4, slimedge-tiny-v2 q8_0: 23.7 M
  // instructions per token, 14.6 M without). The per-load alignment test (one and/branch per 8 weights) keeps
  // each row's work together in registers (ARCHITECTURE.md, "Memory access in the native firmware").
  const gb = <usize>group;
  const g4 = gb << 2;
  const lanes: i64 = 0x000000ff000000ff;
  const flip: i64 = 0x8080808080808080;
  const half: i64 = 0x80000000;
  let s0: f32 = 0;
  let s1: f32 = 0;
  let s2: f32 = 0;
  let s3: f32 = 0;
  let xp = pk;
  for (let g = 0; g < groups; g++) {
    let a0 = half;
    let a1 = half;
    let a2 = half;
    let a3 = half;
    let xsum = half;
    const end = p + gb;
    for (let q = p; q < end; q += 8) {
      const x0 = load<i64>(xp);
      const x1 = load<i64>(xp, 8);
      const x2 = load<i64>(xp, 16);
      const x3 = load<i64>(xp, 24);
      xsum += (x0 + x1) + (x2 + x3);
      let u = load<i64>(q) ^ flip;
      a0 += (u & lanes) * x0 + ((u >> 8) & lanes) * x1 + ((u >> 16) & lanes) * x2 + ((u >> 24) & lanes) * x3;
      u = load<i64>(q + gb) ^ flip;
      a1 += (u & lanes) * x0 + ((u >> 8) & lanes) * x1 + ((u >> 16) & lanes) * x2 + ((u >> 24) & lanes) * x3;
      u = load<i64>(q + 2 * gb) ^ flip;
      a2 += (u & lanes) * x0 + ((u >> 8) & lanes) * x1 + ((u >> 16) & lanes) * x2 + ((u >> 24) & lanes) * x3;
      u = load<i64>(q + 3 * gb) ^ flip;
      a3 += (u & lanes) * x0 + ((u >> 8) & lanes) * x1 + ((u >> 16) & lanes) * x2 + ((u >> 24) & lanes) * x3;
      xp += 32;
    }
    const hi = xsum >> 32;
    const corr = (<i32>hi + <i32>(xsum - (hi << 32) - half)) << 7; // 128 · Σ x: the high halves' sum plus the low halves'

    const sc = p + g4;
    const xsg = load<f32>(xs + (<usize>g << 2));
    s0 += <f32>(<i32>(a0 >> 32) - corr) * load<f32>(sc) * xsg;
    s1 += <f32>(<i32>(a1 >> 32) - corr) * load<f32>(sc, 4) * xsg;
    s2 += <f32>(<i32>(a2 >> 32) - corr) * load<f32>(sc, 8) * xsg;
    s3 += <f32>(<i32>(a3 >> 32) - corr) * load<f32>(sc, 12) * xsg;
    p += g4 + 16;
  }
  store<f32>(o, s0);
  store<f32>(o, s1, 4);
  store<f32>(o, s2, 8);
  store<f32>(o, s3, 12);
}

/** Σ a[j]·b[j] over n int8 values, exact in i32. */
// @ts-ignore: decorator
@inline function dotI8(a: usize, b: usize, n: i32): i32 {
  let j = 0;
  let sum: i32 = 0;
  if (ASC_FEATURE_SIMD) {
    let acc = i32x4.splat(0);
    for (; j + 16 <= n; j += 16) {
      const av = v128.load(a + <usize>j);
      const bv = v128.load(b + <usize>j);
      acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(av), i16x8.extend_low_i8x16_s(bv)));
      acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(av), i16x8.extend_high_i8x16_s(bv)));
    }
    sum = i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
  }
  for (; j < n; j++) sum += <i32>load<i8>(a + <usize>j) * <i32>load<i8>(b + <usize>j);
  return sum;
}

/** Σ_i (i32x4 lanes of d0..d3) as one i32x4: lane r holds the sum of dr's four lanes. */
// @ts-ignore: decorator
@inline function sum4(d0: v128, d1: v128, d2: v128, d3: v128): v128 {
  const t0 = i32x4.add(v128.shuffle<i32>(d0, d1, 0, 4, 1, 5), v128.shuffle<i32>(d0, d1, 2, 6, 3, 7));
  const t1 = i32x4.add(v128.shuffle<i32>(d2, d3, 0, 4, 1, 5), v128.shuffle<i32>(d2, d3, 2, 6, 3, 7));
  return i32x4.add(v128.shuffle<i32>(t0, t1, 0, 1, 4, 5), v128.shuffle<i32>(t0, t1, 2, 3, 6, 7));
}

/**
 * block4Q8 for groups of 4 values (stories260K's 172 columns get them): a group block is the four rows' 4
 * values (16 bytes) and then their four scales, so every load is at a constant offset from one pointer and
 * the loop keeps its sums in registers (the general loop, with the group size unknown, spilled on the M33).
 * The same integers and the same f32 operations in the same order as block4Q8.
 */
// @ts-ignore: decorator
@inline function block4Q8G4(o: usize, p: usize, xq: usize, xs: usize, groups: i32): void {
  o = aligned4(o);
  p = aligned4(p); // the block's scales are f32 at p + 16 … p + 28
  xs = aligned4(xs);
  let s0: f32 = 0;
  let s1: f32 = 0;
  let s2: f32 = 0;
  let s3: f32 = 0;
  let xg = xq;
  const end = xs + (<usize>groups << 2);
  for (; xs < end; xs += 4) {
    const x0 = <i32>load<i8>(xg);
    const x1 = <i32>load<i8>(xg, 1);
    const x2 = <i32>load<i8>(xg, 2);
    const x3 = <i32>load<i8>(xg, 3);
    const a0 = <i32>load<i8>(p) * x0 + <i32>load<i8>(p, 1) * x1 + <i32>load<i8>(p, 2) * x2 + <i32>load<i8>(p, 3) * x3;
    const a1 = <i32>load<i8>(p, 4) * x0 + <i32>load<i8>(p, 5) * x1 + <i32>load<i8>(p, 6) * x2 + <i32>load<i8>(p, 7) * x3;
    const a2 = <i32>load<i8>(p, 8) * x0 + <i32>load<i8>(p, 9) * x1 + <i32>load<i8>(p, 10) * x2 + <i32>load<i8>(p, 11) * x3;
    const a3 = <i32>load<i8>(p, 12) * x0 + <i32>load<i8>(p, 13) * x1 + <i32>load<i8>(p, 14) * x2 + <i32>load<i8>(p, 15) * x3;
    const xsg = load<f32>(xs);
    s0 += <f32>a0 * load<f32>(p, 16) * xsg;
    s1 += <f32>a1 * load<f32>(p, 20) * xsg;
    s2 += <f32>a2 * load<f32>(p, 24) * xsg;
    s3 += <f32>a3 * load<f32>(p, 28) * xsg;
    p += 32;
    xg += 4;
  }
  store<f32>(o, s0);
  store<f32>(o, s1, 4);
  store<f32>(o, s2, 8);
  store<f32>(o, s3, 12);
}

/** Four interleaved Q8_0 rows @ quantized x -> o[0..4): per group the exact integer dots, then f32(acc)·ws·xs. */
// @ts-ignore: decorator
@inline function block4Q8(o: usize, p: usize, xq: usize, xs: usize, groups: i32, group: i32): void {
  const g4 = <usize>group << 2;
  if (group == 4) {
    block4Q8G4(o, p, xq, xs, groups);
    return;
  }
  if (ASC_FEATURE_SIMD && (group & 7) == 0) {
    let acc = f32x4.splat(0);
    let xg = xq;
    for (let g = 0; g < groups; g++) {
      let d0 = i32x4.splat(0);
      let d1 = i32x4.splat(0);
      let d2 = i32x4.splat(0);
      let d3 = i32x4.splat(0);
      for (let j: usize = 0; j < <usize>group; j += 8) {
        const xv = v128.load8x8_s(xg + j);
        const q = p + j;
        d0 = i32x4.add(d0, i32x4.dot_i16x8_s(v128.load8x8_s(q), xv));
        d1 = i32x4.add(d1, i32x4.dot_i16x8_s(v128.load8x8_s(q + <usize>group), xv));
        d2 = i32x4.add(d2, i32x4.dot_i16x8_s(v128.load8x8_s(q + 2 * <usize>group), xv));
        d3 = i32x4.add(d3, i32x4.dot_i16x8_s(v128.load8x8_s(q + 3 * <usize>group), xv));
      }
      const prod = f32x4.mul(f32x4.convert_i32x4_s(sum4(d0, d1, d2, d3)), v128.load(p + g4));
      acc = f32x4.add(acc, f32x4.mul(prod, f32x4.splat(load<f32>(xs + (<usize>g << 2)))));
      p += g4 + 16;
      xg += <usize>group;
    }
    v128.store(o, acc);
    return;
  }
  let s0: f32 = 0;
  let s1: f32 = 0;
  let s2: f32 = 0;
  let s3: f32 = 0;
  let xg = xq;
  for (let g = 0; g < groups; g++) {
    let a0: i32 = 0;
    let a1: i32 = 0;
    let a2: i32 = 0;
    let a3: i32 = 0;
    const r1 = p + <usize>group;
    const r2 = r1 + <usize>group;
    const r3 = r2 + <usize>group;
    let j: usize = 0;
    for (; j + 4 <= <usize>group; j += 4) {
      const x0 = <i32>load<i8>(xg + j);
      const x1 = <i32>load<i8>(xg + j, 1);
      const x2 = <i32>load<i8>(xg + j, 2);
      const x3 = <i32>load<i8>(xg + j, 3);
      a0 += <i32>load<i8>(p + j) * x0 + <i32>load<i8>(p + j, 1) * x1 + <i32>load<i8>(p + j, 2) * x2 + <i32>load<i8>(p + j, 3) * x3;
      a1 += <i32>load<i8>(r1 + j) * x0 + <i32>load<i8>(r1 + j, 1) * x1 + <i32>load<i8>(r1 + j, 2) * x2 + <i32>load<i8>(r1 + j, 3) * x3;
      a2 += <i32>load<i8>(r2 + j) * x0 + <i32>load<i8>(r2 + j, 1) * x1 + <i32>load<i8>(r2 + j, 2) * x2 + <i32>load<i8>(r2 + j, 3) * x3;
      a3 += <i32>load<i8>(r3 + j) * x0 + <i32>load<i8>(r3 + j, 1) * x1 + <i32>load<i8>(r3 + j, 2) * x2 + <i32>load<i8>(r3 + j, 3) * x3;
    }
    for (; j < <usize>group; j++) {
      const xv = <i32>load<i8>(xg + j);
      a0 += <i32>load<i8>(p + j) * xv;
      a1 += <i32>load<i8>(r1 + j) * xv;
      a2 += <i32>load<i8>(r2 + j) * xv;
      a3 += <i32>load<i8>(r3 + j) * xv;
    }
    const sc = p + g4;
    const xsg = load<f32>(xs + (<usize>g << 2));
    s0 += <f32>a0 * load<f32>(sc) * xsg;
    s1 += <f32>a1 * load<f32>(sc, 4) * xsg;
    s2 += <f32>a2 * load<f32>(sc, 8) * xsg;
    s3 += <f32>a3 * load<f32>(sc, 12) * xsg;
    p += g4 + 16;
    xg += <usize>group;
  }
  store<f32>(o, s0);
  store<f32>(o, s1, 4);
  store<f32>(o, s2, 8);
  store<f32>(o, s3, 12);
}

/**
 * block4Q8 for two inputs at once (SIMD, group % 8 == 0): each weight vector is loaded and widened once for
 * both, which a prefill block's tokens share. Per input the same operations in the same order as block4Q8.
 */
// @ts-ignore: decorator
@inline function block4Q8Pair(o: usize, oB: usize, p: usize, xq: usize, xqB: usize, xs: usize, xsB: usize, groups: i32, group: i32): void {
  const g4 = <usize>group << 2;
  let acc = f32x4.splat(0);
  let accB = f32x4.splat(0);
  let xg = xq;
  let xgB = xqB;
  for (let g = 0; g < groups; g++) {
    let d0 = i32x4.splat(0);
    let d1 = i32x4.splat(0);
    let d2 = i32x4.splat(0);
    let d3 = i32x4.splat(0);
    let e0 = i32x4.splat(0);
    let e1 = i32x4.splat(0);
    let e2 = i32x4.splat(0);
    let e3 = i32x4.splat(0);
    for (let j: usize = 0; j < <usize>group; j += 8) {
      const xv = v128.load8x8_s(xg + j);
      const xw = v128.load8x8_s(xgB + j);
      const q = p + j;
      let w = v128.load8x8_s(q);
      d0 = i32x4.add(d0, i32x4.dot_i16x8_s(w, xv));
      e0 = i32x4.add(e0, i32x4.dot_i16x8_s(w, xw));
      w = v128.load8x8_s(q + <usize>group);
      d1 = i32x4.add(d1, i32x4.dot_i16x8_s(w, xv));
      e1 = i32x4.add(e1, i32x4.dot_i16x8_s(w, xw));
      w = v128.load8x8_s(q + 2 * <usize>group);
      d2 = i32x4.add(d2, i32x4.dot_i16x8_s(w, xv));
      e2 = i32x4.add(e2, i32x4.dot_i16x8_s(w, xw));
      w = v128.load8x8_s(q + 3 * <usize>group);
      d3 = i32x4.add(d3, i32x4.dot_i16x8_s(w, xv));
      e3 = i32x4.add(e3, i32x4.dot_i16x8_s(w, xw));
    }
    const sc = v128.load(p + g4);
    acc = f32x4.add(acc, f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(sum4(d0, d1, d2, d3)), sc), f32x4.splat(load<f32>(xs + (<usize>g << 2)))));
    accB = f32x4.add(accB, f32x4.mul(f32x4.mul(f32x4.convert_i32x4_s(sum4(e0, e1, e2, e3)), sc), f32x4.splat(load<f32>(xsB + (<usize>g << 2)))));
    p += g4 + 16;
    xg += <usize>group;
    xgB += <usize>group;
  }
  v128.store(o, acc);
  v128.store(oB, accB);
}

/** The last block of k < 4 interleaved Q8_0 rows @ quantized x. */
function blockKQ8(o: usize, p: usize, xq: usize, xs: usize, k: i32, groups: i32, group: i32): void {
  const per = <usize>k * (<usize>group + 4);
  for (let r = 0; r < k; r++) {
    let sum: f32 = 0;
    for (let g = 0; g < groups; g++) {
      const blk = p + <usize>g * per;
      const acc = dotI8(blk + <usize>(r * group), xq + <usize>(g * group), group);
      sum += <f32>acc * load<f32>(blk + <usize>(k * group) + (<usize>r << 2)) * load<f32>(xs + (<usize>g << 2));
    }
    store<f32>(o + (<usize>r << 2), sum);
  }
}

/**
 * W (rows, cols), Q8_0 in the streaming layout, @ quantized X (n inputs: xq (n, cols) int8, xs (n, cols/group)
 * f32) -> out (n, rows). out[i] = Σ_g f32(Σ_j Wq[i, j]·xq[j]) · Ws[i, g] · xs[g], groups in order.
 * `pk`: the inputs' packed form (packQ8, rows cols · 4 bytes apart) for the scalar build's kernel, or 0.
 */
export function matmulQ8(out: usize, w: usize, rows: i32, xq: usize, xs: usize, cols: i32, group: i32, n: i32, pk: usize): void {
  const groups = cols / group;
  const blockBytes = <usize>(cols + (groups << 2)) << 2;
  const xsRow = <usize>groups << 2;
  const outRow = <usize>rows << 2;
  const packed = !ASC_FEATURE_SIMD && pk != 0 && (group & 7) == 0;
  const pkRow = <usize>cols << 2;
  let p = w;
  let i = 0;
  for (; i + 4 <= rows; i += 4) {
    if (packed) for (let t = 0; t < n; t++) block4Q8Packed(out + <usize>t * outRow + (<usize>i << 2), p, pk + <usize>t * pkRow, xs + <usize>t * xsRow, groups, group);
    else {
      let t = 0;
      if (ASC_FEATURE_SIMD && (group & 7) == 0) {
        for (; t + 2 <= n; t += 2) {
          const o = out + <usize>t * outRow + (<usize>i << 2);
          const x0 = xq + <usize>t * <usize>cols;
          const s0 = xs + <usize>t * xsRow;
          block4Q8Pair(o, o + outRow, p, x0, x0 + <usize>cols, s0, s0 + xsRow, groups, group);
        }
      }
      for (; t < n; t++) block4Q8(out + <usize>t * outRow + (<usize>i << 2), p, xq + <usize>t * <usize>cols, xs + <usize>t * xsRow, groups, group);
    }
    p += blockBytes;
  }
  if (i < rows) for (let t = 0; t < n; t++) blockKQ8(out + <usize>t * outRow + (<usize>i << 2), p, xq + <usize>t * <usize>cols, xs + <usize>t * xsRow, rows - i, groups, group);
}

/** Row r of a Q8_0 matrix (rows, cols) in the streaming layout, dequantized into out (cols,): the embedding lookup. */
export function dequantizeRowQ8(out: usize, w: usize, rows: i32, r: i32, cols: i32, group: i32): void {
  const first = r & ~3;
  const k = min(4, rows - first);
  const lane = r & 3;
  const groups = cols / group;
  const per = <usize>k * (<usize>group + 4);
  const base = w + <usize>first * <usize>(cols + (groups << 2));
  for (let g = 0; g < groups; g++) {
    const blk = base + <usize>g * per;
    const vals = blk + <usize>(lane * group);
    const scale = load<f32>(blk + <usize>(k * group) + (<usize>lane << 2));
    for (let j = 0; j < group; j++) store<f32>(out + (<usize>(g * group + j) << 2), <f32>load<i8>(vals + <usize>j) * scale);
  }
}

// Q4_0 weights: per group of `group` values (even), group/2 bytes of packed 4-bit values (byte j holds
// value j in its low nibble and value j + group/2 in its high nibble, each stored as q + 8 for q in −8..7)
// and one f32 scale, in the streaming layout: per block of k ≤ 4 rows and per group, the k rows' group/2
// bytes, then their k scales. At groups of 32 that is ggml's Q4_0 block. The input is quantized to Q8_0
// with the same group; each group's dot is an exact integer (ARCHITECTURE.md, "Numerics").

/** Σ over one group of 2·half values: unpacked 4-bit weights · int8 inputs, exact in i32 (scalar). */
// @ts-ignore: decorator
@inline function dotQ4(w: usize, x: usize, half: i32): i32 {
  let sum: i32 = 0;
  for (let j = 0; j < half; j++) {
    const b = <i32>load<u8>(w + <usize>j);
    sum += ((b & 15) - 8) * <i32>load<i8>(x + <usize>j) + ((b >> 4) - 8) * <i32>load<i8>(x + <usize>(j + half));
  }
  return sum;
}

/** The four i32 partial sums of one packed Q4 group against x widened to i16 (xl0, xh0: values 0..15; xl1, xh1: 16..31). */
// @ts-ignore: decorator
@inline function dotQ4x(w: usize, xl0: v128, xh0: v128, xl1: v128, xh1: v128): v128 {
  const packed = v128.load(w);
  const eight = i8x16.splat(8);
  const lo = i8x16.sub(v128.and(packed, i8x16.splat(0x0f)), eight);
  const hi = i8x16.sub(i8x16.shr_u(packed, 4), eight);
  let acc = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(lo), xl0);
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(lo), xh0));
  acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(hi), xl1));
  return i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(hi), xh1));
}

/** Four interleaved Q4_0 rows @ quantized x, scalar: per group the exact integer dots, then f32(acc)·ws·xs. */
// @ts-ignore: decorator
@inline function block4Q4Scalar(o: usize, p: usize, xq: usize, xs: usize, groups: i32, half: i32): void {
  const h4 = <usize>half << 2; // the four rows' packed bytes of one group
  let s0: f32 = 0;
  let s1: f32 = 0;
  let s2: f32 = 0;
  let s3: f32 = 0;
  let xg = xq;
  for (let g = 0; g < groups; g++) {
    const xsg = load<f32>(xs + (<usize>g << 2));
    const sc = p + h4;
    s0 += <f32>dotQ4(p, xg, half) * load<f32>(sc) * xsg;
    s1 += <f32>dotQ4(p + <usize>half, xg, half) * load<f32>(sc, 4) * xsg;
    s2 += <f32>dotQ4(p + 2 * <usize>half, xg, half) * load<f32>(sc, 8) * xsg;
    s3 += <f32>dotQ4(p + 3 * <usize>half, xg, half) * load<f32>(sc, 12) * xsg;
    p += h4 + 16;
    xg += <usize>half << 1;
  }
  store<f32>(o, s0);
  store<f32>(o, s1, 4);
  store<f32>(o, s2, 8);
  store<f32>(o, s3, 12);
}

/** Four interleaved Q4_0 rows @ quantized x -> o[0..4); 2·group + 16 bytes per group. */
// @ts-ignore: decorator
@inline function block4Q4(o: usize, p: usize, xq: usize, xs: usize, groups: i32, group: i32): void {
  if (ASC_FEATURE_SIMD && group == 32) {
    let acc = f32x4.splat(0);
    let xg = xq;
    for (let g = 0; g < groups; g++) {
      const x0 = v128.load(xg);
      const x1 = v128.load(xg, 16);
      const xl0 = i16x8.extend_low_i8x16_s(x0);
      const xh0 = i16x8.extend_high_i8x16_s(x0);
      const xl1 = i16x8.extend_low_i8x16_s(x1);
      const xh1 = i16x8.extend_high_i8x16_s(x1);
      const d = sum4(dotQ4x(p, xl0, xh0, xl1, xh1), dotQ4x(p + 16, xl0, xh0, xl1, xh1), dotQ4x(p + 32, xl0, xh0, xl1, xh1), dotQ4x(p + 48, xl0, xh0, xl1, xh1));
      const prod = f32x4.mul(f32x4.convert_i32x4_s(d), v128.load(p, 64));
      acc = f32x4.add(acc, f32x4.mul(prod, f32x4.splat(load<f32>(xs + (<usize>g << 2)))));
      p += 80;
      xg += 32;
    }
    v128.store(o, acc);
    return;
  }
  // the same f32 operations in the same order as the SIMD path, so both builds agree bit for bit
  if (group == 32) block4Q4Scalar(o, p, xq, xs, groups, 16);
  else block4Q4Scalar(o, p, xq, xs, groups, group >> 1);
}

/** The last block of k < 4 interleaved Q4_0 rows @ quantized x. */
function blockKQ4(o: usize, p: usize, xq: usize, xs: usize, k: i32, groups: i32, group: i32): void {
  const half = group >> 1;
  const per = <usize>k * <usize>(half + 4);
  for (let r = 0; r < k; r++) {
    let sum: f32 = 0;
    for (let g = 0; g < groups; g++) {
      const blk = p + <usize>g * per;
      sum += <f32>dotQ4(blk + <usize>(r * half), xq + <usize>(g * group), half) * load<f32>(blk + <usize>(k * half) + (<usize>r << 2)) * load<f32>(xs + (<usize>g << 2));
    }
    store<f32>(o + (<usize>r << 2), sum);
  }
}

/**
 * W (rows, cols), Q4_0 in the streaming layout, @ quantized X (n inputs: xq (n, cols) int8, xs (n, cols/group)
 * f32) -> out (n, rows); `group` even and dividing cols.
 */
export function matmulQ4(out: usize, w: usize, rows: i32, xq: usize, xs: usize, cols: i32, group: i32, n: i32): void {
  const groups = cols / group;
  const blockBytes = <usize>groups * <usize>((group << 1) + 16);
  const xsRow = <usize>groups << 2;
  const outRow = <usize>rows << 2;
  let p = w;
  let i = 0;
  for (; i + 4 <= rows; i += 4) {
    for (let t = 0; t < n; t++) block4Q4(out + <usize>t * outRow + (<usize>i << 2), p, xq + <usize>t * <usize>cols, xs + <usize>t * xsRow, groups, group);
    p += blockBytes;
  }
  if (i < rows) for (let t = 0; t < n; t++) blockKQ4(out + <usize>t * outRow + (<usize>i << 2), p, xq + <usize>t * <usize>cols, xs + <usize>t * xsRow, rows - i, groups, group);
}

/** Row r of a Q4_0 matrix (rows, cols) in the streaming layout, dequantized into out (cols,). */
export function dequantizeRowQ4(out: usize, w: usize, rows: i32, r: i32, cols: i32, group: i32): void {
  const first = r & ~3;
  const k = min(4, rows - first);
  const lane = r & 3;
  const half = group >> 1;
  const groups = cols / group;
  const per = <usize>k * <usize>(half + 4);
  const base = w + <usize>first * <usize>((cols >> 1) + (groups << 2));
  for (let g = 0; g < groups; g++) {
    const blk = base + <usize>g * per;
    const vals = blk + <usize>(lane * half);
    const scale = load<f32>(blk + <usize>(k * half) + (<usize>lane << 2));
    for (let j = 0; j < group; j++) {
      const b = <i32>load<u8>(vals + <usize>(j < half ? j : j - half));
      const q = (j < half ? b & 15 : b >> 4) - 8;
      store<f32>(out + (<usize>(g * group + j) << 2), <f32>q * scale);
    }
  }
}

/**
 * The bench's integer probe: `iterations` rounds of eight independent i32x4.dot_i16x8_s, each added into
 * its own accumulator — the multiply and add every SIMD Q8_0/Q4_0 kernel here is made of, with no loads —
 * so the bench can set the kernels' multiply-adds per second against what this engine and CPU give at most
 * (8 per dot). One operand changes every round so nothing can be hoisted; the checksum keeps the work.
 */
export function dotPeak(iterations: i32, seed: i32): i32 {
  if (!ASC_FEATURE_SIMD) return 0; // the scalar build has no dot product to measure
  else {
    let w = i16x8.splat(<i16>seed);
    const one = i16x8.splat(1);
    const x0 = i16x8.splat(<i16>(seed + 1));
    const x1 = i16x8.splat(<i16>(seed + 2));
    const x2 = i16x8.splat(<i16>(seed + 3));
    const x3 = i16x8.splat(<i16>(seed + 4));
    let a0 = i32x4.splat(0);
    let a1 = a0;
    let a2 = a0;
    let a3 = a0;
    let a4 = a0;
    let a5 = a0;
    let a6 = a0;
    let a7 = a0;
    for (let i = 0; i < iterations; i++) {
      const v = i16x8.add(w, one);
      a0 = i32x4.add(a0, i32x4.dot_i16x8_s(w, x0));
      a1 = i32x4.add(a1, i32x4.dot_i16x8_s(w, x1));
      a2 = i32x4.add(a2, i32x4.dot_i16x8_s(w, x2));
      a3 = i32x4.add(a3, i32x4.dot_i16x8_s(w, x3));
      a4 = i32x4.add(a4, i32x4.dot_i16x8_s(v, x0));
      a5 = i32x4.add(a5, i32x4.dot_i16x8_s(v, x1));
      a6 = i32x4.add(a6, i32x4.dot_i16x8_s(v, x2));
      a7 = i32x4.add(a7, i32x4.dot_i16x8_s(v, x3));
      w = i16x8.add(v, one);
    }
    const s = i32x4.add(i32x4.add(i32x4.add(a0, a1), i32x4.add(a2, a3)), i32x4.add(i32x4.add(a4, a5), i32x4.add(a6, a7)));
    return i32x4.extract_lane(s, 0); // the lanes are equal: every operand is a splat
  }
}
