// IEEE binary16 storage for weights and cache rows, converted in registers: WebAssembly has no f16 type,
// so a half is widened by placing its exponent and mantissa bits into an f32 and scaling by 2^112, which
// is exact for normal and subnormal halves (infinities and NaNs, which weights and caches never hold, come
// out as large finite numbers). Rows are written with round-to-nearest-even.

const TWO_POW_112: f32 = 5.192296858534828e33;

/** One half (low 16 bits of h) as f32. */
// @ts-ignore: decorator
@inline export function h2f(h: u32): f32 {
  const v = reinterpret<f32>((h & 0x7fff) << 13) * TWO_POW_112;
  return (h & 0x8000) != 0 ? -v : v;
}

/** Four halves at p as f32x4. */
// @ts-ignore: decorator
@inline export function h2f4(p: usize): v128 {
  const h = i32x4.extend_low_i16x8_u(v128.load64_zero(p));
  const mag = f32x4.mul(i32x4.shl(v128.and(h, i32x4.splat(0x7fff)), 13), f32x4.splat(TWO_POW_112));
  return v128.or(mag, i32x4.shl(v128.and(h, i32x4.splat(0x8000)), 16));
}

/** x as a half, rounded to nearest even; overflow becomes ±infinity. */
export function f2h(x: f32): u32 {
  const u = reinterpret<u32>(x);
  const sign = (u >> 16) & 0x8000;
  let a = u & 0x7fffffff;
  if (a >= 0x477ff000) return sign | 0x7c00; // rounds to ≥ 65520: infinity (NaN too)
  if (a < 0x38800000) return sign | <u32>nearest<f32>(reinterpret<f32>(a) * 16777216.0); // subnormal: units of 2^-24
  a += 0xfff + ((a >> 13) & 1);
  return sign | ((a - 0x38000000) >> 13);
}

/** Four interleaved f16 rows @ x: chunks of 8 halves (16 bytes) per row. */
// @ts-ignore: decorator
@inline function block4F16(o: usize, p: usize, x: usize, chunks: i32, tail: i32): void {
  let s0: f32 = 0;
  let s1: f32 = 0;
  let s2: f32 = 0;
  let s3: f32 = 0;
  const end = p + (<usize>chunks << 6);
  let xp = x;
  if (ASC_FEATURE_SIMD) {
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    for (; p < end; p += 64) {
      const xl = v128.load(xp);
      const xh = v128.load(xp, 16);
      a0 = f32x4.add(a0, f32x4.add(f32x4.mul(h2f4(p), xl), f32x4.mul(h2f4(p + 8), xh)));
      a1 = f32x4.add(a1, f32x4.add(f32x4.mul(h2f4(p + 16), xl), f32x4.mul(h2f4(p + 24), xh)));
      a2 = f32x4.add(a2, f32x4.add(f32x4.mul(h2f4(p + 32), xl), f32x4.mul(h2f4(p + 40), xh)));
      a3 = f32x4.add(a3, f32x4.add(f32x4.mul(h2f4(p + 48), xl), f32x4.mul(h2f4(p + 56), xh)));
      xp += 32;
    }
    s0 = f32x4.extract_lane(a0, 0) + f32x4.extract_lane(a0, 1) + (f32x4.extract_lane(a0, 2) + f32x4.extract_lane(a0, 3));
    s1 = f32x4.extract_lane(a1, 0) + f32x4.extract_lane(a1, 1) + (f32x4.extract_lane(a1, 2) + f32x4.extract_lane(a1, 3));
    s2 = f32x4.extract_lane(a2, 0) + f32x4.extract_lane(a2, 1) + (f32x4.extract_lane(a2, 2) + f32x4.extract_lane(a2, 3));
    s3 = f32x4.extract_lane(a3, 0) + f32x4.extract_lane(a3, 1) + (f32x4.extract_lane(a3, 2) + f32x4.extract_lane(a3, 3));
  } else {
    for (; p < end; p += 64) {
      for (let v = 0; v < 8; v++) {
        const xs = load<f32>(xp + (<usize>v << 2));
        const q = p + (<usize>v << 1);
        s0 += h2f(load<u16>(q)) * xs;
        s1 += h2f(load<u16>(q, 16)) * xs;
        s2 += h2f(load<u16>(q, 32)) * xs;
        s3 += h2f(load<u16>(q, 48)) * xs;
      }
      xp += 32;
    }
  }
  const tb = <usize>tail << 1;
  for (let t = 0; t < tail; t++) {
    const xs = load<f32>(xp + (<usize>t << 2));
    const q = p + (<usize>t << 1);
    s0 += h2f(load<u16>(q)) * xs;
    s1 += h2f(load<u16>(q + tb)) * xs;
    s2 += h2f(load<u16>(q + 2 * tb)) * xs;
    s3 += h2f(load<u16>(q + 3 * tb)) * xs;
  }
  store<f32>(o, s0);
  store<f32>(o, s1, 4);
  store<f32>(o, s2, 8);
  store<f32>(o, s3, 12);
}

/** The last block of k < 4 interleaved f16 rows @ x. */
function blockKF16(o: usize, p: usize, x: usize, k: i32, chunks: i32, tail: i32): void {
  const stride = <usize>k << 4;
  for (let r = 0; r < k; r++) {
    let s: f32 = 0;
    for (let c = 0; c < chunks; c++) {
      const q = p + <usize>c * stride + (<usize>r << 4);
      for (let v = 0; v < 8; v++) s += h2f(load<u16>(q + (<usize>v << 1))) * load<f32>(x + (<usize>((c << 3) + v) << 2));
    }
    const tq = p + <usize>chunks * stride + (<usize>(r * tail) << 1);
    for (let t = 0; t < tail; t++) s += h2f(load<u16>(tq + (<usize>t << 1))) * load<f32>(x + (<usize>((chunks << 3) + t) << 2));
    store<f32>(o + (<usize>r << 2), s);
  }
}

/** W (rows, cols), f16 in the streaming layout (chunks of 8 halves), @ X (n, cols) f32 -> out (n, rows). */
export function matmulF16(out: usize, w: usize, x: usize, rows: i32, cols: i32, n: i32): void {
  const chunks = cols >> 3;
  const tail = cols & 7;
  const blockBytes = <usize>cols << 3;
  const xRow = <usize>cols << 2;
  const outRow = <usize>rows << 2;
  let p = w;
  let i = 0;
  for (; i + 4 <= rows; i += 4) {
    for (let t = 0; t < n; t++) block4F16(out + <usize>t * outRow + (<usize>i << 2), p, x + <usize>t * xRow, chunks, tail);
    p += blockBytes;
  }
  if (i < rows) for (let t = 0; t < n; t++) blockKF16(out + <usize>t * outRow + (<usize>i << 2), p, x + <usize>t * xRow, rows - i, chunks, tail);
}

/** Row r of an f16 matrix (rows, cols) in the streaming layout, as f32 into out (cols,). */
export function rowF16(out: usize, w: usize, r: i32, rows: i32, cols: i32): void {
  const first = r & ~3;
  const k = min(4, rows - first);
  const lane = r & 3;
  const chunks = cols >> 3;
  const tail = cols & 7;
  const base = w + <usize>first * (<usize>cols << 1);
  const stride = <usize>k << 4;
  for (let c = 0; c < chunks; c++) {
    const q = base + <usize>c * stride + (<usize>lane << 4);
    for (let v = 0; v < 8; v++) store<f32>(out + (<usize>((c << 3) + v) << 2), h2f(load<u16>(q + (<usize>v << 1))));
  }
  const tq = base + <usize>chunks * stride + (<usize>(lane * tail) << 1);
  for (let t = 0; t < tail; t++) store<f32>(out + (<usize>((chunks << 3) + t) << 2), h2f(load<u16>(tq + (<usize>t << 1))));
}

// ---------------------------------------------------------------------------------------------------------
// f16 cache rows: width halves, no scale

/** Stores x (n,) as an f16 row at dst. */
export function storeRowF16(dst: usize, x: usize, n: i32): void {
  for (let j = 0; j < n; j++) store<u16>(dst + (<usize>j << 1), <u16>f2h(load<f32>(x + (<usize>j << 2))));
}

/** q (n,) f32 · k (n,) f16. */
export function dotF16(q: usize, k: usize, n: i32): f32 {
  let j = 0;
  let sum: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    let acc = f32x4.splat(0);
    for (; j + 4 <= n; j += 4) acc = f32x4.add(acc, f32x4.mul(v128.load(q + (<usize>j << 2)), h2f4(k + (<usize>j << 1))));
    sum = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
  }
  for (; j < n; j++) sum += load<f32>(q + (<usize>j << 2)) * h2f(load<u16>(k + (<usize>j << 1)));
  return sum;
}

/** q_h (hd,) · rotate(k (hd,) f16, tableRow). */
export function rotatedDotF16(q: usize, k: usize, row: usize, hd: i32): f32 {
  let j = 0;
  let sum: f32 = 0;
  const sinOff = <usize>hd << 2;
  if (ASC_FEATURE_SIMD) {
    let acc = f32x4.splat(0);
    for (; j + 4 <= hd; j += 4) {
      const o = <usize>j << 2;
      const kv = h2f4(k + (<usize>j << 1));
      const swapped = v128.shuffle<f32>(kv, kv, 1, 0, 3, 2);
      const kr = f32x4.add(f32x4.mul(kv, v128.load(row + o)), f32x4.mul(swapped, v128.load(row + sinOff + o)));
      acc = f32x4.add(acc, f32x4.mul(v128.load(q + o), kr));
    }
    sum = f32x4.extract_lane(acc, 0) + f32x4.extract_lane(acc, 1) + (f32x4.extract_lane(acc, 2) + f32x4.extract_lane(acc, 3));
  }
  for (; j < hd; j += 2) {
    const o = <usize>j << 2;
    const k0 = h2f(load<u16>(k + (<usize>j << 1)));
    const k1 = h2f(load<u16>(k + (<usize>j << 1), 2));
    const c = load<f32>(row + o);
    const s = load<f32>(row + sinOff + o, 4);
    sum += load<f32>(q + o) * (k0 * c - k1 * s) + load<f32>(q + o, 4) * (k0 * s + k1 * c);
  }
  return sum;
}

/** out (cols,) (+)= Σ_t a[t] · rows_t (cols,) over count f16 rows. */
export function mixBlock1F16(out: usize, a: usize, rows: usize, rowBytes: usize, cols: i32, count: i32, first: bool): void {
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    for (; c + 4 <= cols; c += 4) {
      const o = out + (<usize>c << 2);
      let s0 = first ? f32x4.splat(0) : v128.load(o);
      let r = rows + (<usize>c << 1);
      for (let t = 0; t < count; t++) {
        s0 = f32x4.add(s0, f32x4.mul(f32x4.splat(load<f32>(a + (<usize>t << 2))), h2f4(r)));
        r += rowBytes;
      }
      v128.store(o, s0);
    }
  }
  for (; c < cols; c++) {
    const o = out + (<usize>c << 2);
    let s: f32 = first ? 0 : load<f32>(o);
    let r = rows + (<usize>c << 1);
    for (let t = 0; t < count; t++) {
      s += load<f32>(a + (<usize>t << 2)) * h2f(load<u16>(r));
      r += rowBytes;
    }
    store<f32>(o, s);
  }
}

/** U (4 heads, dim) (+)= A (4 rows aRow apart, count) · f16 rows: one walk over the rows for four heads. */
export function mixBlock4F16(u: usize, a0: usize, aRow: usize, rows: usize, rowBytes: usize, dim: i32, count: i32, first: bool): void {
  const uRow = <usize>dim << 2;
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    for (; c + 4 <= dim; c += 4) {
      const o = u + (<usize>c << 2);
      let s0 = first ? f32x4.splat(0) : v128.load(o);
      let s1 = first ? f32x4.splat(0) : v128.load(o + uRow);
      let s2 = first ? f32x4.splat(0) : v128.load(o + 2 * uRow);
      let s3 = first ? f32x4.splat(0) : v128.load(o + 3 * uRow);
      let r = rows + (<usize>c << 1);
      let a = a0;
      for (let t = 0; t < count; t++) {
        const kv = h2f4(r);
        s0 = f32x4.add(s0, f32x4.mul(f32x4.splat(load<f32>(a)), kv));
        s1 = f32x4.add(s1, f32x4.mul(f32x4.splat(load<f32>(a + aRow)), kv));
        s2 = f32x4.add(s2, f32x4.mul(f32x4.splat(load<f32>(a + 2 * aRow)), kv));
        s3 = f32x4.add(s3, f32x4.mul(f32x4.splat(load<f32>(a + 3 * aRow)), kv));
        r += rowBytes;
        a += 4;
      }
      v128.store(o, s0);
      v128.store(o + uRow, s1);
      v128.store(o + 2 * uRow, s2);
      v128.store(o + 3 * uRow, s3);
    }
  }
  if (c < dim) {
    for (let h = 0; h < 4; h++) {
      for (let cc = c; cc < dim; cc++) {
        const o = u + <usize>h * uRow + (<usize>cc << 2);
        let s: f32 = first ? 0 : load<f32>(o);
        let r = rows + (<usize>cc << 1);
        for (let t = 0; t < count; t++) {
          s += load<f32>(a0 + <usize>h * aRow + (<usize>t << 2)) * h2f(load<u16>(r));
          r += rowBytes;
        }
        store<f32>(o, s);
      }
    }
  }
}
