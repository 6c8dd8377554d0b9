// Dense kernels on raw f32 pointers. Each has a vector body (compiled only into the SIMD build, where
// ASC_FEATURE_SIMD is true) and a scalar loop that finishes what the vector body left — in the scalar
// build that loop does all of the work, so both builds share one source and one set of edge cases.

/** Horizontal sum of the four lanes. */
// @ts-ignore: decorator
@inline export function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + (f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3));
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
  for (; j < n; j++) sum += load<f32>(x + (<usize>j << 2)) * load<f32>(y + (<usize>j << 2));
  return sum;
}

/**
 * W (rows, cols) @ x (cols,) -> out (rows,). Four rows at a time so each x vector is loaded once per four
 * weight rows; weights stream from memory exactly once, which is what bounds decode speed.
 */
export function matmul(out: usize, w: usize, x: usize, rows: i32, cols: i32): void {
  const rowBytes = <usize>cols << 2;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const cols4 = cols & ~3;
    for (; i + 4 <= rows; i += 4) {
      const r0 = w + <usize>i * rowBytes;
      const r1 = r0 + rowBytes;
      const r2 = r1 + rowBytes;
      const r3 = r2 + rowBytes;
      let a0 = f32x4.splat(0);
      let a1 = f32x4.splat(0);
      let a2 = f32x4.splat(0);
      let a3 = f32x4.splat(0);
      for (let j = 0; j < cols4; j += 4) {
        const o = <usize>j << 2;
        const xv = v128.load(x + o);
        a0 = f32x4.add(a0, f32x4.mul(v128.load(r0 + o), xv));
        a1 = f32x4.add(a1, f32x4.mul(v128.load(r1 + o), xv));
        a2 = f32x4.add(a2, f32x4.mul(v128.load(r2 + o), xv));
        a3 = f32x4.add(a3, f32x4.mul(v128.load(r3 + o), xv));
      }
      let s0 = hsum(a0);
      let s1 = hsum(a1);
      let s2 = hsum(a2);
      let s3 = hsum(a3);
      for (let j = cols4; j < cols; j++) {
        const o = <usize>j << 2;
        const xs = load<f32>(x + o);
        s0 += load<f32>(r0 + o) * xs;
        s1 += load<f32>(r1 + o) * xs;
        s2 += load<f32>(r2 + o) * xs;
        s3 += load<f32>(r3 + o) * xs;
      }
      const oo = out + (<usize>i << 2);
      store<f32>(oo, s0);
      store<f32>(oo, s1, 4);
      store<f32>(oo, s2, 8);
      store<f32>(oo, s3, 12);
    }
  }
  for (; i < rows; i++) {
    store<f32>(out + (<usize>i << 2), dot(w + <usize>i * rowBytes, x, cols));
  }
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

/** x (n,) <- softmax(x), numerically stable (max subtracted). */
export function softmax(x: usize, n: i32): void {
  let max = load<f32>(x);
  for (let j = 1; j < n; j++) max = Mathf.max(max, load<f32>(x + (<usize>j << 2)));
  let sum: f32 = 0;
  for (let j = 0; j < n; j++) {
    const o = x + (<usize>j << 2);
    const e = Mathf.exp(load<f32>(o) - max);
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
    store<f32>(h1 + o, (g / (1.0 + Mathf.exp(-g))) * load<f32>(h3 + o));
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

/** erf(x), Abramowitz–Stegun 7.1.26 in f64: |error| ≤ 1.5e-7. */
function erf(x: f64): f64 {
  const s = x < 0 ? -1.0 : 1.0;
  const a = Math.abs(x);
  const t = 1.0 / (1.0 + 0.3275911 * a);
  const y = 1.0 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

/** h (n,) <- gelu(h): exact (erf) for NeoX, or the tanh form GPT-2 uses. */
export function gelu(h: usize, n: i32, tanhForm: bool): void {
  for (let j = 0; j < n; j++) {
    const o = h + (<usize>j << 2);
    const x = <f64>load<f32>(o);
    const g = tanhForm ? 0.5 * x * (1.0 + Math.tanh(0.7978845608028654 * (x + 0.044715 * x * x * x))) : 0.5 * x * (1.0 + erf(x * 0.7071067811865476));
    store<f32>(o, <f32>g);
  }
}
