// Dense kernels on raw f32 pointers. Each has a vector body (compiled only into the SIMD build, where
// ASC_FEATURE_SIMD is true) and a scalar loop that finishes what the vector body left — in the scalar
// build that loop does all of the work, so both builds share one source and one set of edge cases.

/** Horizontal sum of the four lanes. */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
}

/**
 * p with its two low bits cleared. Every f32 region the plan hands out is 4-aligned (16 for weights), so
 * this changes no address; it tells the native compiler of the wasm2c translation (ARCHITECTURE.md, "Memory
 * access in the native firmware") that the loads from p are aligned, so the hot loops carry no
 * unaligned-access path (on the Cortex-M33 that path was a third of the matvec's instructions).
 */
// @ts-ignore: decorator
@inline export function aligned4(p: usize): usize {
  return p & ~(<usize>3);
}

/** x (n,) · y (n,) -> scalar */
export function dot(x: usize, y: usize, n: i32): f32 {
  let j = 0;
  let sum: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    let a = f32x4.splat(0);
    let b = f32x4.splat(0);
    for (; j + 8 <= n; j += 8) {
      const o = <usize>j << 2;
      a = f32x4.add(a, f32x4.mul(v128.load(x + o), v128.load(y + o)));
      b = f32x4.add(b, f32x4.mul(v128.load(x + o, 16), v128.load(y + o, 16)));
    }
    for (; j + 4 <= n; j += 4) {
      const o = <usize>j << 2;
      a = f32x4.add(a, f32x4.mul(v128.load(x + o), v128.load(y + o)));
    }
    sum = hsum(f32x4.add(a, b));
  }
  x = aligned4(x);
  y = aligned4(y);
  // four at a time, the same sums in the same order as one at a time
  for (; j + 4 <= n; j += 4) {
    const o = <usize>j << 2;
    sum += load<f32>(x + o) * load<f32>(y + o);
    sum += load<f32>(x + o, 4) * load<f32>(y + o, 4);
    sum += load<f32>(x + o, 8) * load<f32>(y + o, 8);
    sum += load<f32>(x + o, 12) * load<f32>(y + o, 12);
  }
  for (; j < n; j++) sum += load<f32>(x + (<usize>j << 2)) * load<f32>(y + (<usize>j << 2));
  return sum;
}

/**
 * Rows per block of the streaming weight layout (ARCHITECTURE.md, "Weight layout"): every matrix is
 * stored in blocks of STREAM_ROWS rows (the last block may hold fewer, k), and inside a block the rows'
 * values are interleaved in 16-byte chunks — for each chunk position, row 0's chunk, row 1's, …, row k−1's
 * (then, where a row does not fill whole chunks, each row's leftover values in row order). A matvec then
 * reads its weights as one forward stream while each x chunk is loaded once for k rows.
 * The host writes this layout (host/core/layout.ts); each precision below defines its chunk.
 */
export const STREAM_ROWS: i32 = 4;


/** Four interleaved f32 rows @ x: o[0..4) = the four dot products; chunks of 4 values (16 bytes). */
// @ts-ignore: decorator
@inline function block4(o: usize, p: usize, x: usize, chunks: i32, tail: i32): void {
  p = aligned4(p);
  x = aligned4(x);
  o = aligned4(o);
  let s0: f32 = 0;
  let s1: f32 = 0;
  let s2: f32 = 0;
  let s3: f32 = 0;
  if (ASC_FEATURE_SIMD) {
    let a0 = f32x4.splat(0);
    let a1 = f32x4.splat(0);
    let a2 = f32x4.splat(0);
    let a3 = f32x4.splat(0);
    let xp = x;
    const end = p + (<usize>chunks << 6);
    for (; p < end; p += 64) {
      const xv = v128.load(xp);
      a0 = f32x4.add(a0, f32x4.mul(v128.load(p), xv));
      a1 = f32x4.add(a1, f32x4.mul(v128.load(p, 16), xv));
      a2 = f32x4.add(a2, f32x4.mul(v128.load(p, 32), xv));
      a3 = f32x4.add(a3, f32x4.mul(v128.load(p, 48), xv));
      xp += 16;
    }
    s0 = hsum(a0);
    s1 = hsum(a1);
    s2 = hsum(a2);
    s3 = hsum(a3);
  } else {
    let xp = x;
    const end = p + (<usize>chunks << 6);
    for (; p < end; p += 64) {
      const x0 = load<f32>(xp);
      const x1 = load<f32>(xp, 4);
      const x2 = load<f32>(xp, 8);
      const x3 = load<f32>(xp, 12);
      s0 += load<f32>(p) * x0; s0 += load<f32>(p, 4) * x1; s0 += load<f32>(p, 8) * x2; s0 += load<f32>(p, 12) * x3;
      s1 += load<f32>(p, 16) * x0; s1 += load<f32>(p, 20) * x1; s1 += load<f32>(p, 24) * x2; s1 += load<f32>(p, 28) * x3;
      s2 += load<f32>(p, 32) * x0; s2 += load<f32>(p, 36) * x1; s2 += load<f32>(p, 40) * x2; s2 += load<f32>(p, 44) * x3;
      s3 += load<f32>(p, 48) * x0; s3 += load<f32>(p, 52) * x1; s3 += load<f32>(p, 56) * x2; s3 += load<f32>(p, 60) * x3;
      xp += 16;
    }
  }
  const tx = x + (<usize>chunks << 4);
  const tb = <usize>tail << 2;
  for (let t = 0; t < tail; t++) {
    const xs = load<f32>(tx + (<usize>t << 2));
    const q = p + (<usize>t << 2);
    s0 += load<f32>(q) * xs;
    s1 += load<f32>(q + tb) * xs;
    s2 += load<f32>(q + 2 * tb) * xs;
    s3 += load<f32>(q + 3 * tb) * xs;
  }
  store<f32>(o, s0);
  store<f32>(o, s1, 4);
  store<f32>(o, s2, 8);
  store<f32>(o, s3, 12);
}

/** The last block of k < 4 interleaved f32 rows @ x. */
function blockK(o: usize, p: usize, x: usize, k: i32, chunks: i32, tail: i32): void {
  const stride = <usize>k << 4;
  for (let r = 0; r < k; r++) {
    let s: f32 = 0;
    let q = p + (<usize>r << 4);
    for (let c = 0; c < chunks; c++) {
      const xp = x + (<usize>c << 4);
      s += load<f32>(q) * load<f32>(xp);
      s += load<f32>(q, 4) * load<f32>(xp, 4);
      s += load<f32>(q, 8) * load<f32>(xp, 8);
      s += load<f32>(q, 12) * load<f32>(xp, 12);
      q += stride;
    }
    const tq = p + <usize>chunks * stride + (<usize>(r * tail) << 2);
    for (let t = 0; t < tail; t++) s += load<f32>(tq + (<usize>t << 2)) * load<f32>(x + (<usize>((chunks << 2) + t) << 2));
    store<f32>(o + (<usize>r << 2), s);
  }
}

/**
 * W (rows, cols), f32 in the streaming layout, @ X (n, cols) -> out (n, rows), row-major. Each block of four
 * rows is read from memory once and then serves all n inputs from L1 (n > 1: a block of prompt tokens).
 */
export function matmul(out: usize, w: usize, x: usize, rows: i32, cols: i32, n: i32): void {
  matmulStrided(out, <usize>rows << 2, w, x, <usize>cols << 2, rows, cols, n);
}

/** matmul with the n inputs xRow bytes apart and the n outputs outRow bytes apart (a slice of wider rows). */
export function matmulStrided(out: usize, outRow: usize, w: usize, x: usize, xRow: usize, rows: i32, cols: i32, n: i32): void {
  const chunks = cols >> 2;
  const tail = cols & 3;
  const blockBytes = <usize>cols << 4;
  let p = w;
  let i = 0;
  for (; i + 4 <= rows; i += 4) {
    for (let t = 0; t < n; t++) block4(out + <usize>t * outRow + (<usize>i << 2), p, x + <usize>t * xRow, chunks, tail);
    p += blockBytes;
  }
  if (i < rows) for (let t = 0; t < n; t++) blockK(out + <usize>t * outRow + (<usize>i << 2), p, x + <usize>t * xRow, rows - i, chunks, tail);
}

/** Row r of an f32 matrix (rows, cols) in the streaming layout, copied to out (cols,): the embedding lookup. */
export function rowF32(out: usize, w: usize, r: i32, rows: i32, cols: i32): void {
  const first = r & ~3;
  const k = min(4, rows - first);
  const lane = r & 3;
  const chunks = cols >> 2;
  const tail = cols & 3;
  const base = w + <usize>first * (<usize>cols << 2);
  const stride = <usize>k << 4;
  for (let c = 0; c < chunks; c++) memory.copy(out + (<usize>c << 4), base + <usize>c * stride + (<usize>lane << 4), 16);
  const tq = base + <usize>chunks * stride + (<usize>(lane * tail) << 2);
  memory.copy(out + (<usize>chunks << 4), tq, <usize>tail << 2);
}

/** out (n,) = w ⊙ x / sqrt(mean(x²) + eps) */
export function rmsnorm(out: usize, x: usize, w: usize, n: i32, eps: f32): void {
  const ss = dot(x, x, n) / <f32>n + eps;
  const inv: f32 = 1.0 / Mathf.sqrt(ss);
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    const s = f32x4.splat(inv);
    for (; j + 4 <= n; j += 4) {
      const o = <usize>j << 2;
      v128.store(out + o, f32x4.mul(f32x4.mul(v128.load(x + o), s), v128.load(w + o)));
    }
  }
  for (; j < n; j++) {
    const o = <usize>j << 2;
    store<f32>(out + o, load<f32>(x + o) * inv * load<f32>(w + o));
  }
}

/** x (n,) += y (n,) */
export function addInPlace(x: usize, y: usize, n: i32): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    for (; j + 4 <= n; j += 4) {
      const o = <usize>j << 2;
      v128.store(x + o, f32x4.add(v128.load(x + o), v128.load(y + o)));
    }
  }
  for (; j < n; j++) {
    const o = <usize>j << 2;
    store<f32>(x + o, load<f32>(x + o) + load<f32>(y + o));
  }
}

/**
 * e^x in f32 arithmetic only, the same function in every build (ARCHITECTURE.md, "Numerics"). The standard
 * library's Mathf.exp is two implementations chosen by the compiler's shrink level (a table-driven one that
 * computes in f64 at level 0, an f32 one at level 1), so the scalar command (level 1) and the scalar reactor
 * (level 0) softmaxed to different bits, and the level-0 one costs a board soft-float doubles.
 * x = k·ln2 + r with |r| ≤ ln2/2 (ln2 split in two, its high part short enough that k·ln2hi is exact),
 * e^r by its Taylor polynomial to r⁷ (the next term is below 2⁻²⁷), times 2^k built from its bits.
 * Within 2 ulp of e^x (test/stream.test.ts); 0 below −103.98 (under the smallest subnormal), ∞ above 88.73.
 */
export function expf(x: f32): f32 {
  if (x != x) return x;
  if (x > <f32>88.72283) return Infinity;
  if (x < <f32>-103.98) return 0;
  // round to nearest by adding 1.5·2²³: f32.nearest would be a libm call on some boards
  const k = (x * reinterpret<f32>(0x3fb8aa3b) + <f32>12582912.0) - <f32>12582912.0;
  const r = x - k * reinterpret<f32>(0x3f317200) - k * reinterpret<f32>(0x35bfbe8e);
  let p: f32 = <f32>1.0 + r * (<f32>1.0 + r * (<f32>0.5 + r * (<f32>(1.0 / 6.0) + r * (<f32>(1.0 / 24.0) + r * (<f32>(1.0 / 120.0) + r * (<f32>(1.0 / 720.0) + r * <f32>(1.0 / 5040.0)))))));
  let ki = <i32>k;
  if (ki > 127) {
    p *= 2;
    ki--;
  } else if (ki < -126) {
    p *= reinterpret<f32>(0x0d800000); // 2^-100
    ki += 100;
  }
  return p * reinterpret<f32>((ki + 127) << 23);
}

/** x (n,) <- softmax(x), numerically stable (max subtracted). */
export function softmax(x: usize, n: i32): void {
  x = aligned4(x);
  let max = load<f32>(x);
  for (let j = 1; j < n; j++) max = Mathf.max(max, load<f32>(x + (<usize>j << 2)));
  let sum: f32 = 0;
  for (let j = 0; j < n; j++) {
    const o = x + (<usize>j << 2);
    const e = expf(load<f32>(o) - max);
    store<f32>(o, e);
    sum += e;
  }
  const inv: f32 = 1.0 / sum;
  for (let j = 0; j < n; j++) {
    const o = x + (<usize>j << 2);
    store<f32>(o, load<f32>(o) * inv);
  }
}

/** SwiGLU gate: h1 (n,) <- silu(h1) ⊙ h3 */
export function swiglu(h1: usize, h3: usize, n: i32): void {
  for (let j = 0; j < n; j++) {
    const o = <usize>j << 2;
    const g = load<f32>(h1 + o);
    store<f32>(h1 + o, (g / (1.0 + expf(-g))) * load<f32>(h3 + o));
  }
}


/** out (n,) = w ⊙ (x − mean) / sqrt(var + eps) + b: LayerNorm (GPT-2, NeoX). */
export function layerNorm(out: usize, x: usize, w: usize, b: usize, n: i32, eps: f32): void {
  let mean: f32 = 0;
  for (let j = 0; j < n; j++) mean += load<f32>(x + (<usize>j << 2));
  mean /= <f32>n;
  let v: f32 = 0;
  for (let j = 0; j < n; j++) {
    const c = load<f32>(x + (<usize>j << 2)) - mean;
    v += c * c;
  }
  const inv: f32 = 1.0 / Mathf.sqrt(v / <f32>n + eps);
  for (let j = 0; j < n; j++) {
    const o = <usize>j << 2;
    store<f32>(out + o, (load<f32>(x + o) - mean) * inv * load<f32>(w + o) + load<f32>(b + o));
  }
}

/** x (n,) += b (n,) when the layer has that bias (b != 0). */
export function addBias(x: usize, b: usize, n: i32): void {
  if (b != 0) addInPlace(x, b, n);
}

/**
 * GELU of one f32, in f32 with the module's expf: no f64 and no standard-library transcendental, so every
 * build and every board computes the same bits (ARCHITECTURE.md, "Numerics").
 * tanh form (GPT-2): 0.5·x·(1 + tanh z), z = √(2/π)·(x + 0.044715·x³), computed as x / (1 + e^(−2z)) — the same
 * function (0.5·(1 + tanh z) is the logistic of 2z), without tanh's cancellation at x < 0.
 * exact form (NeoX): 0.5·x·(1 + erf(x/√2)), erf by Abramowitz–Stegun 7.1.26 (|error| ≤ 1.5e-7) in the form it
 * is built on, erfc(a) ≈ t·P(t)·e^(−a²) for a = |x|/√2: 1 + erf = erfc(a) for x < 0, 2 − erfc(a) otherwise.
 */
// @ts-ignore: decorator
@inline export function gelu1(x: f32, tanhForm: bool): f32 {
  if (tanhForm) {
    const z = <f32>0.7978845608028654 * (x + <f32>0.044715 * x * x * x);
    return x / (<f32>1.0 + expf(<f32>-2.0 * z));
  }
  const a = Mathf.abs(x) * <f32>0.7071067811865476;
  const t = <f32>1.0 / (<f32>1.0 + <f32>0.3275911 * a);
  const q = ((((<f32>1.061405429 * t - <f32>1.453152027) * t + <f32>1.421413741) * t - <f32>0.284496736) * t + <f32>0.254829592) * t * expf(-a * a);
  return <f32>0.5 * x * (x < 0 ? q : <f32>2.0 - q);
}

/** h (n,) <- gelu(h): exact (erf) for NeoX, or the tanh form GPT-2 uses (gelu1). */
export function gelu(h: usize, n: i32, tanhForm: bool): void {
  h = aligned4(h);
  for (let j = 0; j < n; j++) {
    const o = h + (<usize>j << 2);
    store<f32>(o, gelu1(load<f32>(o), tanhForm));
  }
}

/** gelu1 for the tests (build/kernels.*.wasm). */
export function geluOne(x: f32, tanhForm: bool): f32 {
  return gelu1(x, tanhForm);
}

/**
 * Reads [p, p + bytes) once, front to back, 64 bytes per iteration into four independent accumulators
 * (bytes a multiple of 64), and returns a checksum so the reads cannot be dropped: the bench's
 * measure of how fast this machine streams memory into WebAssembly.
 */
export function streamRead(p: usize, bytes: usize): i64 {
  const end = p + bytes;
  if (ASC_FEATURE_SIMD) {
    let a = i64x2.splat(0);
    let b = i64x2.splat(0);
    let c = i64x2.splat(0);
    let d = i64x2.splat(0);
    for (; p < end; p += 64) {
      a = v128.xor(a, v128.load(p));
      b = v128.xor(b, v128.load(p, 16));
      c = v128.xor(c, v128.load(p, 32));
      d = v128.xor(d, v128.load(p, 48));
    }
    const s = v128.xor(v128.xor(a, b), v128.xor(c, d));
    return i64x2.extract_lane(s, 0) ^ i64x2.extract_lane(s, 1);
  }
  let a: i64 = 0;
  let b: i64 = 0;
  for (; p < end; p += 16) {
    a ^= load<i64>(p);
    b ^= load<i64>(p, 8);
  }
  return a ^ b;
}
