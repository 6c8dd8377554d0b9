// Q8_0 weights: a matrix (rows, cols) is stored as int8 values (rows·cols bytes, row-major) followed by one
// f32 scale per group of `group` values (rows·cols/group floats), value ≈ q · scale. The input vector is
// quantized the same way, so each group's dot product is an exact integer: int8 × int8 widened to i16 and
// summed in i32 (i32x4.dot_i16x8_s in the SIMD build), then scaled once per group in f32. No tensor is
// ever dequantized as a whole.

/** Quantizes x (n,) to int8 groups: q (n,) and scales (n/group,), scale = max|x| / 127 per group, rounding half to even. */
export function quantizeQ8(q: usize, scales: usize, x: usize, n: i32, group: i32): void {
  for (let g = 0; g < n; g += group) {
    let amax: f32 = 0;
    for (let j = g; j < g + group; j++) amax = Mathf.max(amax, Mathf.abs(load<f32>(x + (<usize>j << 2))));
    const scale: f32 = amax / 127.0;
    const inv: f32 = scale != 0 ? 1.0 / scale : 0;
    store<f32>(scales + (<usize>(g / group) << 2), scale);
    for (let j = g; j < g + group; j++) store<i8>(q + <usize>j, <i8><i32>nearest<f32>(load<f32>(x + (<usize>j << 2)) * inv));
  }
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

/**
 * Rows [row0, row0 + count) of a Q8_0 matrix W (totalRows, cols) @ quantized x -> out (count,).
 * out[i] = Σ_g f32(Σ_j Wq[i, j]·xq[j]) · Ws[i, g] · xs[g], groups in order.
 */
export function matmulQ8(out: usize, w: usize, totalRows: i32, row0: i32, count: i32, xq: usize, xs: usize, cols: i32, group: i32): void {
  const groups = cols / group;
  const scales = w + <usize>totalRows * <usize>cols;
  for (let i = 0; i < count; i++) {
    const r = row0 + i;
    const vals = w + <usize>r * <usize>cols;
    const ws = scales + (<usize>(r * groups) << 2);
    let sum: f32 = 0;
    for (let g = 0; g < groups; g++) {
      const acc = dotI8(vals + <usize>(g * group), xq + <usize>(g * group), group);
      sum += <f32>acc * load<f32>(ws + (<usize>g << 2)) * load<f32>(xs + (<usize>g << 2));
    }
    store<f32>(out + (<usize>i << 2), sum);
  }
}

/** Row `r` of a Q8_0 matrix (totalRows, cols), dequantized into out (cols,): the embedding lookup. */
export function dequantizeRowQ8(out: usize, w: usize, totalRows: i32, r: i32, cols: i32, group: i32): void {
  const vals = w + <usize>r * <usize>cols;
  const ws = w + <usize>totalRows * <usize>cols + (<usize>(r * (cols / group)) << 2);
  for (let j = 0; j < cols; j++) {
    store<f32>(out + (<usize>j << 2), <f32>load<i8>(vals + <usize>j) * load<f32>(ws + (<usize>(j / group) << 2)));
  }
}

// Q4_0 weights: per group of 32 values, 16 bytes of packed 4-bit values (byte j holds value j in its low
// nibble and value j + 16 in its high nibble, each stored as q + 8 for q in −8..7), after all groups one
// f32 scale per group, as for Q8_0. The input is quantized to Q8_0; each group's dot is an exact integer.

/** Σ over one group of 32: unpacked 4-bit weights · int8 inputs, exact in i32. */
// @ts-ignore: decorator
@inline function dotQ4(w: usize, x: usize): i32 {
  if (ASC_FEATURE_SIMD) {
    const packed = v128.load(w);
    const eight = i8x16.splat(8);
    const lo = i8x16.sub(v128.and(packed, i8x16.splat(0x0f)), eight);
    const hi = i8x16.sub(i8x16.shr_u(packed, 4), eight);
    const x0 = v128.load(x);
    const x1 = v128.load(x, 16);
    let acc = i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(lo), i16x8.extend_low_i8x16_s(x0));
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(lo), i16x8.extend_high_i8x16_s(x0)));
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_low_i8x16_s(hi), i16x8.extend_low_i8x16_s(x1)));
    acc = i32x4.add(acc, i32x4.dot_i16x8_s(i16x8.extend_high_i8x16_s(hi), i16x8.extend_high_i8x16_s(x1)));
    return i32x4.extract_lane(acc, 0) + i32x4.extract_lane(acc, 1) + i32x4.extract_lane(acc, 2) + i32x4.extract_lane(acc, 3);
  }
  let sum: i32 = 0;
  for (let j = 0; j < 16; j++) {
    const b = <i32>load<u8>(w + <usize>j);
    sum += ((b & 15) - 8) * <i32>load<i8>(x + <usize>j) + ((b >> 4) - 8) * <i32>load<i8>(x + <usize>(j + 16));
  }
  return sum;
}

/** Rows [row0, row0 + count) of a Q4_0 matrix W (totalRows, cols) @ quantized x -> out (count,); groups of 32. */
export function matmulQ4(out: usize, w: usize, totalRows: i32, row0: i32, count: i32, xq: usize, xs: usize, cols: i32): void {
  const groups = cols >> 5;
  const scales = w + ((<usize>totalRows * <usize>cols) >> 1);
  for (let i = 0; i < count; i++) {
    const r = row0 + i;
    const vals = w + ((<usize>r * <usize>cols) >> 1);
    const ws = scales + (<usize>(r * groups) << 2);
    let sum: f32 = 0;
    for (let g = 0; g < groups; g++) {
      const acc = dotQ4(vals + (<usize>g << 4), xq + (<usize>g << 5));
      sum += <f32>acc * load<f32>(ws + (<usize>g << 2)) * load<f32>(xs + (<usize>g << 2));
    }
    store<f32>(out + (<usize>i << 2), sum);
  }
}

/** Row `r` of a Q4_0 matrix (totalRows, cols), dequantized into out (cols,). */
export function dequantizeRowQ4(out: usize, w: usize, totalRows: i32, r: i32, cols: i32): void {
  const vals = w + ((<usize>r * <usize>cols) >> 1);
  const ws = w + ((<usize>totalRows * <usize>cols) >> 1) + (<usize>(r * (cols >> 5)) << 2);
  for (let j = 0; j < cols; j++) {
    const g = j >> 5;
    const k = j & 31;
    const b = <i32>load<u8>(vals + (<usize>g << 4) + <usize>(k & 15));
    const q = (k < 16 ? b & 15 : b >> 4) - 8;
    store<f32>(out + (<usize>j << 2), <f32>q * load<f32>(ws + (<usize>g << 2)));
  }
}
