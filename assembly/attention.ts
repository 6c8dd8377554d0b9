// Attention for one new position, both modes, and RoPE.
//
// RoPE rotates adjacent pairs (2i, 2i+1) inside each head by angle pos·θ^(−2i/headDim), read from the RoPE
// table the host writes (host/core/rope.ts; angles formed there in f64: at pos 4000 an f32 angle is already
// off by ~2e-4 rad, more than the logit tolerance allows). The module computes no transcendental of its own.
//
// vanilla: the K-cache holds rotated keys, the V-cache values; out_h = Σ_t a_h[t] · v_t,h.
// slim:    the K-cache holds keys *before* rotation, so V = K·W_KV holds row by row; scores rotate each
//          cached key on read (a table of cos/sin per position, shared by every layer and head), and the
//          value path needs no rotation at all:
//            U (heads, dim) = A (heads, n) · K (n, dim)        — one pass over K, all heads per block
//            out_h (headDim,) = W_KV[h·headDim .. (h+1)·headDim, :] (headDim, dim) @ U_h (dim,)
// The other choice — caching rotated keys and rotating each block back before the mix — is kept behind
// a plan option so the bench can measure it: it needs a (BLOCK, dim) scratch buffer and ran 4–8 % slower
// at 1,024–4,096 positions (README, "RoPE").

import { aligned4, dot, expf, hsum, matmulStrided, softmax } from "./kernels";
import { dotQ8, rotatedDotQ8, mixBlock1Q8, mixBlock4Q8 } from "./cache-q8";
import { dotF16, rotatedDotF16, mixBlock1F16, mixBlock4F16 } from "./f16";
import { CacheCode, ROW_BLOCK } from "./abi.generated";

/** Cache row storage codes (plan block): f32, Q8 (int8 values, then an f32 scale), f16. */
export const CACHE_F32: i32 = CacheCode.F32;
export const CACHE_Q8: i32 = CacheCode.Q8;
export const CACHE_F16: i32 = CacheCode.F16;

/** Bytes of one cache row of `width` values. */
// @ts-ignore: decorator
@inline export function rowBytesOf(cache: i32, width: i32): usize {
  return cache == CACHE_Q8 ? <usize>width + 4 : cache == CACHE_F16 ? <usize>width << 1 : <usize>width << 2;
}

/**
 * Rotates pairs of v (n,) by a row of the RoPE table (host/core/rope.ts: per position, [cos θ0, cos θ0, … |
 * −sin θ0, sin θ0, …], written by the host with the weights); headDim is the period, and only the first
 * `rotary` dims of each head turn (all of them for Llama, a fraction for NeoX). No transcendental per call.
 */
export function ropeFromTable(v: usize, n: i32, headDim: i32, rotary: i32, row: usize): void {
  const sinOff = <usize>headDim << 2;
  for (let h = 0; h < n; h += headDim) {
    const b = v + (<usize>h << 2);
    rotatePairs(b, b, row, sinOff, rotary, false);
  }
}

/**
 * d[0..n) = the pairs of s[0..n) rotated by a row of the slim RoPE table (cos at row, sin at row + sinOff),
 * or by its inverse; d may be s. One loop for both directions, so they stay bit for bit each other's undo.
 */
// @ts-ignore: decorator
@inline function rotatePairs(d: usize, s: usize, row: usize, sinOff: usize, n: i32, inverse: bool): void {
  let j = 0;
  if (ASC_FEATURE_SIMD) {
    for (; j + 4 <= n; j += 4) {
      const o = <usize>j << 2;
      const kv = v128.load(s + o);
      const cosPart = f32x4.mul(kv, v128.load(row + o));
      const sinPart = f32x4.mul(v128.shuffle<f32>(kv, kv, 1, 0, 3, 2), v128.load(row + sinOff + o));
      v128.store(d + o, inverse ? f32x4.sub(cosPart, sinPart) : f32x4.add(cosPart, sinPart));
    }
  }
  for (; j < n; j += 2) {
    const o = <usize>j << 2;
    const x0 = load<f32>(s + o);
    const x1 = load<f32>(s + o, 4);
    const c = load<f32>(row + o);
    const sn = load<f32>(row + sinOff + o, 4);
    if (inverse) {
      store<f32>(d + o, x0 * c + x1 * sn);
      store<f32>(d + o, x1 * c - x0 * sn, 4);
    } else {
      store<f32>(d + o, x0 * c - x1 * sn);
      store<f32>(d + o, x0 * sn + x1 * c, 4);
    }
  }
}

/** q_h (hd,) · rotate(k (hd,), tableRow) — the score of one cached pre-rotation key. */
// @ts-ignore: decorator
@inline function rotatedDot(q: usize, k: usize, row: usize, hd: i32): f32 {
  let j = 0;
  let sum: f32 = 0;
  const sinOff = <usize>hd << 2;
  if (ASC_FEATURE_SIMD) {
    let acc = f32x4.splat(0);
    for (; j + 4 <= hd; j += 4) {
      const o = <usize>j << 2;
      const kv = v128.load(k + o);
      const swapped = v128.shuffle<f32>(kv, kv, 1, 0, 3, 2);
      const kr = f32x4.add(f32x4.mul(kv, v128.load(row + o)), f32x4.mul(swapped, v128.load(row + sinOff + o)));
      acc = f32x4.add(acc, f32x4.mul(v128.load(q + o), kr));
    }
    sum = hsum(acc);
  }
  for (; j < hd; j += 2) {
    const o = <usize>j << 2;
    const k0 = load<f32>(k + o);
    const k1 = load<f32>(k + o, 4);
    const c = load<f32>(row + o);
    const s = load<f32>(row + sinOff + o, 4);
    sum += load<f32>(q + o) * (k0 * c - k1 * s) + load<f32>(q + o, 4) * (k0 * s + k1 * c);
  }
  return sum;
}

/**
 * Cached rows are mixed in blocks of BLOCK positions: a block (BLOCK × row bytes, 72 KiB at d = 288) stays
 * in L2 while every column chunk walks it, so each cached row comes from memory once per block loop rather
 * than once per chunk. `first` starts the sums; later blocks add to what `out` holds.
 */
export const BLOCK: i32 = ROW_BLOCK;

/**
 * U (4 heads, dim) (+)= A (4 rows aRow apart, count) · R (count, dim): one walk over R serves four heads
 * (the scalar build's loop too, so a board reads its cache rows once for four heads), then mixBlock1.
 */
function mixBlock4(u: usize, a0: usize, aRow: usize, rows: usize, rowBytes: usize, dim: i32, count: i32, first: bool): void {
  const uRow = <usize>dim << 2;
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    // eight columns at a time: each head's weight is splatted once for two column chunks
    for (; c + 8 <= dim; c += 8) {
      const o = u + (<usize>c << 2);
      let s0 = first ? f32x4.splat(0) : v128.load(o);
      let s1 = first ? f32x4.splat(0) : v128.load(o + uRow);
      let s2 = first ? f32x4.splat(0) : v128.load(o + 2 * uRow);
      let s3 = first ? f32x4.splat(0) : v128.load(o + 3 * uRow);
      let e0 = first ? f32x4.splat(0) : v128.load(o, 16);
      let e1 = first ? f32x4.splat(0) : v128.load(o + uRow, 16);
      let e2 = first ? f32x4.splat(0) : v128.load(o + 2 * uRow, 16);
      let e3 = first ? f32x4.splat(0) : v128.load(o + 3 * uRow, 16);
      let r = rows + (<usize>c << 2);
      let a = a0;
      for (let t = 0; t < count; t++) {
        const kv = v128.load(r);
        const kw = v128.load(r, 16);
        const w0 = f32x4.splat(load<f32>(a));
        const w1 = f32x4.splat(load<f32>(a + aRow));
        const w2 = f32x4.splat(load<f32>(a + 2 * aRow));
        const w3 = f32x4.splat(load<f32>(a + 3 * aRow));
        s0 = f32x4.add(s0, f32x4.mul(w0, kv));
        e0 = f32x4.add(e0, f32x4.mul(w0, kw));
        s1 = f32x4.add(s1, f32x4.mul(w1, kv));
        e1 = f32x4.add(e1, f32x4.mul(w1, kw));
        s2 = f32x4.add(s2, f32x4.mul(w2, kv));
        e2 = f32x4.add(e2, f32x4.mul(w2, kw));
        s3 = f32x4.add(s3, f32x4.mul(w3, kv));
        e3 = f32x4.add(e3, f32x4.mul(w3, kw));
        r += rowBytes;
        a += 4;
      }
      v128.store(o, s0);
      v128.store(o + uRow, s1);
      v128.store(o + 2 * uRow, s2);
      v128.store(o + 3 * uRow, s3);
      v128.store(o, e0, 16);
      v128.store(o + uRow, e1, 16);
      v128.store(o + 2 * uRow, e2, 16);
      v128.store(o + 3 * uRow, e3, 16);
    }
    // the columns left over (dim not a multiple of 8): head by head, the same sums in the same order
    if (c < dim) {
      const off = <usize>c << 2;
      for (let h = 0; h < 4; h++) mixBlock1(u + <usize>h * uRow + off, a0 + <usize>h * aRow, rows + off, rowBytes, dim - c, count, first);
    }
    return;
  }
  for (; c < dim; c++) {
    const o = u + (<usize>c << 2);
    let s0: f32 = first ? 0 : load<f32>(o);
    let s1: f32 = first ? 0 : load<f32>(o + uRow);
    let s2: f32 = first ? 0 : load<f32>(o + 2 * uRow);
    let s3: f32 = first ? 0 : load<f32>(o + 3 * uRow);
    let r = rows + (<usize>c << 2);
    let a = a0;
    for (let t = 0; t < count; t++) {
      const kv = load<f32>(r);
      s0 += load<f32>(a) * kv;
      s1 += load<f32>(a + aRow) * kv;
      s2 += load<f32>(a + 2 * aRow) * kv;
      s3 += load<f32>(a + 3 * aRow) * kv;
      r += rowBytes;
      a += 4;
    }
    store<f32>(o, s0);
    store<f32>(o + uRow, s1);
    store<f32>(o + 2 * uRow, s2);
    store<f32>(o + 3 * uRow, s3);
  }
}

/** U (2 heads, dim) (+)= A (2 rows aRow apart, count) · R (count, dim), SIMD: sixteen columns per walk, then mixBlock1. */
function mixBlock2(u: usize, a0: usize, aRow: usize, rows: usize, rowBytes: usize, dim: i32, count: i32, first: bool): void {
  const uRow = <usize>dim << 2;
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    for (; c + 16 <= dim; c += 16) {
      const o = u + (<usize>c << 2);
      const z = f32x4.splat(0);
      let s0 = first ? z : v128.load(o);
      let s1 = first ? z : v128.load(o, 16);
      let s2 = first ? z : v128.load(o, 32);
      let s3 = first ? z : v128.load(o, 48);
      let e0 = first ? z : v128.load(o + uRow);
      let e1 = first ? z : v128.load(o + uRow, 16);
      let e2 = first ? z : v128.load(o + uRow, 32);
      let e3 = first ? z : v128.load(o + uRow, 48);
      let r = rows + (<usize>c << 2);
      let a = a0;
      for (let t = 0; t < count; t++) {
        const k0 = v128.load(r);
        const k1 = v128.load(r, 16);
        const k2 = v128.load(r, 32);
        const k3 = v128.load(r, 48);
        const w = f32x4.splat(load<f32>(a));
        const x = f32x4.splat(load<f32>(a + aRow));
        s0 = f32x4.add(s0, f32x4.mul(w, k0));
        s1 = f32x4.add(s1, f32x4.mul(w, k1));
        s2 = f32x4.add(s2, f32x4.mul(w, k2));
        s3 = f32x4.add(s3, f32x4.mul(w, k3));
        e0 = f32x4.add(e0, f32x4.mul(x, k0));
        e1 = f32x4.add(e1, f32x4.mul(x, k1));
        e2 = f32x4.add(e2, f32x4.mul(x, k2));
        e3 = f32x4.add(e3, f32x4.mul(x, k3));
        r += rowBytes;
        a += 4;
      }
      v128.store(o, s0);
      v128.store(o, s1, 16);
      v128.store(o, s2, 32);
      v128.store(o, s3, 48);
      v128.store(o + uRow, e0);
      v128.store(o + uRow, e1, 16);
      v128.store(o + uRow, e2, 32);
      v128.store(o + uRow, e3, 48);
    }
  }
  if (c < dim) {
    const off = <usize>c << 2;
    mixBlock1(u + off, a0, rows + off, rowBytes, dim - c, count, first);
    mixBlock1(u + uRow + off, a0 + aRow, rows + off, rowBytes, dim - c, count, first);
  }
}

/** out (cols,) (+)= Σ_t a[t] · rows_t (cols,) over count rows strided by rowBytes. */
function mixBlock1(out: usize, a: usize, rows: usize, rowBytes: usize, cols: i32, count: i32, first: bool): void {
  let c = 0;
  if (ASC_FEATURE_SIMD) {
    for (; c + 8 <= cols; c += 8) {
      const o = out + (<usize>c << 2);
      let s0 = first ? f32x4.splat(0) : v128.load(o);
      let s1 = first ? f32x4.splat(0) : v128.load(o, 16);
      let r = rows + (<usize>c << 2);
      for (let t = 0; t < count; t++) {
        const w = f32x4.splat(load<f32>(a + (<usize>t << 2)));
        s0 = f32x4.add(s0, f32x4.mul(w, v128.load(r)));
        s1 = f32x4.add(s1, f32x4.mul(w, v128.load(r, 16)));
        r += rowBytes;
      }
      v128.store(o, s0);
      v128.store(o, s1, 16);
    }
    for (; c + 4 <= cols; c += 4) {
      const o = out + (<usize>c << 2);
      let s0 = first ? f32x4.splat(0) : v128.load(o);
      let r = rows + (<usize>c << 2);
      for (let t = 0; t < count; t++) {
        s0 = f32x4.add(s0, f32x4.mul(f32x4.splat(load<f32>(a + (<usize>t << 2))), v128.load(r)));
        r += rowBytes;
      }
      v128.store(o, s0);
    }
  }
  out = aligned4(out);
  a = aligned4(a);
  rows = aligned4(rows);
  rowBytes = aligned4(rowBytes); // f32 rows: a multiple of 4 already
  if (!ASC_FEATURE_SIMD) {
    // four columns per walk (a head of 8 is two): each weight loaded once for four sums, every column's
    // sum in the same order as one column at a time
    for (; c + 4 <= cols; c += 4) {
      const o = out + (<usize>c << 2);
      let s0: f32 = first ? 0 : load<f32>(o);
      let s1: f32 = first ? 0 : load<f32>(o, 4);
      let s2: f32 = first ? 0 : load<f32>(o, 8);
      let s3: f32 = first ? 0 : load<f32>(o, 12);
      let r = rows + (<usize>c << 2);
      let w = a;
      const end = a + (<usize>count << 2);
      for (; w < end; w += 4) {
        const x = load<f32>(w);
        s0 += x * load<f32>(r);
        s1 += x * load<f32>(r, 4);
        s2 += x * load<f32>(r, 8);
        s3 += x * load<f32>(r, 12);
        r += rowBytes;
      }
      store<f32>(o, s0);
      store<f32>(o, s1, 4);
      store<f32>(o, s2, 8);
      store<f32>(o, s3, 12);
    }
  }
  for (; c < cols; c++) {
    const o = out + (<usize>c << 2);
    let s: f32 = first ? 0 : load<f32>(o);
    let r = rows + (<usize>c << 2);
    for (let t = 0; t < count; t++) {
      s += load<f32>(a + (<usize>t << 2)) * load<f32>(r);
      r += rowBytes;
    }
    store<f32>(o, s);
  }
}

/** U (heads, dim) (+)= A[:, t0..t0+count) · R (count, dim) for all heads: groups of four, then singles. */
// @ts-ignore: decorator
@inline function mixBlock(u: usize, att: usize, rows: usize, cache: i32, heads: i32, dim: i32, ctx: i32, t0: i32, count: i32): void {
  const uRow = <usize>dim << 2;
  const rowBytes = rowBytesOf(cache, dim);
  const aRow = <usize>ctx << 2;
  const a = att + (<usize>t0 << 2);
  const first = t0 == 0;
  let h = 0;
  for (; h + 4 <= heads; h += 4) {
    if (cache == CACHE_Q8) mixBlock4Q8(u + <usize>h * uRow, a + <usize>h * aRow, aRow, rows, rowBytes, dim, count, first);
    else if (cache == CACHE_F16) mixBlock4F16(u + <usize>h * uRow, a + <usize>h * aRow, aRow, rows, rowBytes, dim, count, first);
    else mixBlock4(u + <usize>h * uRow, a + <usize>h * aRow, aRow, rows, rowBytes, dim, count, first);
  }
  if (ASC_FEATURE_SIMD && cache == CACHE_F32) for (; h + 2 <= heads; h += 2) mixBlock2(u + <usize>h * uRow, a + <usize>h * aRow, aRow, rows, rowBytes, dim, count, first);
  for (; h < heads; h++) {
    if (cache == CACHE_Q8) mixBlock1Q8(u + <usize>h * uRow, a + <usize>h * aRow, rows, rowBytes, <usize>dim, dim, count, first);
    else if (cache == CACHE_F16) mixBlock1F16(u + <usize>h * uRow, a + <usize>h * aRow, rows, rowBytes, dim, count, first);
    else mixBlock1(u + <usize>h * uRow, a + <usize>h * aRow, rows, rowBytes, dim, count, first);
  }
}

/** Rows t0..t0+count of a rotated-key cache, rotated back to pre-RoPE keys: out (count, dim). */
function unrotateBlock(out: usize, kCache: usize, table: usize, hd: i32, dim: i32, t0: i32, count: i32): void {
  const kRow = <usize>dim << 2;
  const tRow = <usize>hd << 3;
  const sinOff = <usize>hd << 2;
  for (let t = 0; t < count; t++) {
    const src = kCache + <usize>(t0 + t) * kRow;
    const dst = out + <usize>t * kRow;
    const row = table + <usize>(t0 + t) * tRow;
    for (let h = 0; h < dim; h += hd) rotatePairs(dst + (<usize>h << 2), src + (<usize>h << 2), row, sinOff, hd, true);
  }
}

/** out (cols,) = Σ_t a[t] · rows_t (cols,), rows strided by rowBytes: one head's weighted sum of cached rows. */
export function weightedRowSum(out: usize, a: usize, rows: usize, rowBytes: usize, cols: i32, n: i32): void {
  for (let t0 = 0; t0 < n; t0 += BLOCK) {
    mixBlock1(out, a + (<usize>t0 << 2), rows + <usize>t0 * rowBytes, rowBytes, cols, min(BLOCK, n - t0), t0 == 0);
  }
}

/** The same over f16 rows. */
function weightedRowSumF16(out: usize, a: usize, rows: usize, rowBytes: usize, cols: i32, n: i32): void {
  for (let t0 = 0; t0 < n; t0 += BLOCK) {
    mixBlock1F16(out, a + (<usize>t0 << 2), rows + <usize>t0 * rowBytes, rowBytes, cols, min(BLOCK, n - t0), t0 == 0);
  }
}

/** The same over Q8 rows whose scale sits at byte `scaleAt` of each row. */
function weightedRowSumQ8(out: usize, a: usize, rows: usize, rowBytes: usize, scaleAt: usize, cols: i32, n: i32): void {
  for (let t0 = 0; t0 < n; t0 += BLOCK) {
    mixBlock1Q8(out, a + (<usize>t0 << 2), rows + <usize>t0 * rowBytes, rowBytes, scaleAt, cols, min(BLOCK, n - t0), t0 == 0);
  }
}

/** att (heads, ctx) rows 0..n-1 <- softmax(q_h · k_t / √hd) over keys that are already rotated. */
function plainScores(att: usize, q: usize, kCache: usize, cache: i32, heads: i32, kvHeads: i32, hd: i32, ctx: i32, n: i32): void {
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>hd);
  const kvDim = kvHeads * hd;
  const kvRow = rowBytesOf(cache, kvDim);
  const group = heads / kvHeads;
  for (let h = 0; h < heads; h++) {
    const qh = q + (<usize>(h * hd) << 2);
    const ah = att + (<usize>(h * ctx) << 2);
    const off = (h / group) * hd;
    let r = kCache;
    for (let t = 0; t < n; t++) {
      const s =
        cache == CACHE_Q8 ? dotQ8(qh, r + <usize>off, hd) * load<f32>(r + <usize>kvDim)
        : cache == CACHE_F16 ? dotF16(qh, r + (<usize>off << 1), hd)
        : dot(qh, r + (<usize>off << 2), hd);
      store<f32>(ah + (<usize>t << 2), s * scale);
      r += kvRow;
    }
    softmax(ah, n);
  }
}

/**
 * att[h][t0..t0+count) <- q_h · k_t / √hd for every head, from pre-rotation keys (rotated on read) or
 * rotated ones; f32 rows, or Q8 rows (int8 values, then the row's scale) whose scale multiplies the score.
 * Rows outside, heads inside: each cached row is read front to back once, as one stream, while q (all
 * heads) stays in L1 — the same access the weights get from their layout (ARCHITECTURE.md, "Weight layout").
 */
// @ts-ignore: decorator
@inline function blockScores(att: usize, q: usize, kCache: usize, table: usize, rotatedKeys: bool, cache: i32, heads: i32, hd: i32, dim: i32, ctx: i32, t0: i32, count: i32): void {
  const scale: f32 = 1.0 / Mathf.sqrt(<f32>hd);
  const kRow = rowBytesOf(cache, dim);
  const tRow = <usize>hd << 3;
  const aRow = <usize>ctx << 2;
  let r = kCache + <usize>t0 * kRow;
  let row = table + <usize>t0 * tRow;
  let a = att + (<usize>t0 << 2);
  for (let t = 0; t < count; t++) {
    const rowScale: f32 = cache == CACHE_Q8 ? load<f32>(r + <usize>dim) : 1;
    for (let h = 0; h < heads; h++) {
      const qh = q + (<usize>(h * hd) << 2);
      let s: f32;
      if (cache == CACHE_Q8) s = rotatedDotQ8(qh, r + <usize>(h * hd), row, hd) * rowScale;
      else if (cache == CACHE_F16) s = rotatedDotF16(qh, r + (<usize>(h * hd) << 1), row, hd);
      else s = rotatedKeys ? dot(qh, r + (<usize>(h * hd) << 2), hd) : rotatedDot(qh, r + (<usize>(h * hd) << 2), row, hd);
      store<f32>(a + <usize>h * aRow, s * scale);
    }
    r += kRow;
    row += tRow;
    a += 4;
  }
}

/**
 * Slim attention for the newest position (its key already in kCache row n-1, q already rotated), first half:
 * U_h (dim,) <- Σ_t exp(q_h·rot(k_t)/√hd − m_h) · k_t for every head into u (heads, dim), and (m_h, s_h) into
 * state (heads, 2), s_h the sum of those weights. `slimValues` then makes ao = concat_h W_KV,h · U_h / s_h
 * for a whole block of tokens at once.
 *
 * One pass over the cache: each block of BLOCK rows is scored and then mixed while it is still in cache,
 * with the softmax kept online — per head a running max m and sum s; when a block raises m, the partial
 * U_h and s are scaled by exp(m_old − m_new), and the block's weights are exp(score − m_new). Dividing U_h
 * by s at the end gives exactly softmax·K. So every cached K row leaves memory once per step: half of what
 * vanilla's K and V passes move.
 *
 * `rotatedKeys` selects the other RoPE arrangement, kept to measure it (npm run bench): the cache holds
 * rotated keys, scores are plain dot products, and each block is rotated back into `scratch` (BLOCK, dim)
 * before the mix, since V = K·W_KV holds only for pre-rotation keys. `state` holds (max, sum) per head.
 */
export function slimAttention(
  q: usize, att: usize, u: usize, state: usize, kCache: usize, table: usize, scratch: usize, rotatedKeys: bool,
  cache: i32, heads: i32, hd: i32, dim: i32, ctx: i32, n: i32,
): void {
  const kRow = <usize>dim << 2;
  const cacheRow = rowBytesOf(cache, dim);
  const aRow = <usize>ctx << 2;
  for (let t0 = 0; t0 < n; t0 += BLOCK) {
    const count = min(BLOCK, n - t0);
    blockScores(att, q, kCache, table, rotatedKeys, cache, heads, hd, dim, ctx, t0, count);
    for (let h = 0; h < heads; h++) {
      const a = att + <usize>h * aRow + (<usize>t0 << 2);
      let m = load<f32>(a);
      for (let t = 1; t < count; t++) m = Mathf.max(m, load<f32>(a + (<usize>t << 2)));
      const st = state + (<usize>h << 3);
      let sum: f32 = 0;
      if (t0 > 0) {
        const old = load<f32>(st);
        if (m > old) {
          const shrink = expf(old - m);
          const uh = u + <usize>h * kRow;
          for (let c = 0; c < dim; c++) store<f32>(uh + (<usize>c << 2), load<f32>(uh + (<usize>c << 2)) * shrink);
          sum = load<f32>(st, 4) * shrink;
        } else {
          m = old;
          sum = load<f32>(st, 4);
        }
      }
      for (let t = 0; t < count; t++) {
        const o = a + (<usize>t << 2);
        const e = expf(load<f32>(o) - m);
        store<f32>(o, e);
        sum += e;
      }
      store<f32>(st, m);
      store<f32>(st, sum, 4);
    }
    let rows = kCache + <usize>t0 * cacheRow;
    if (rotatedKeys) {
      unrotateBlock(scratch, kCache, table, hd, dim, t0, count);
      rows = scratch;
    }
    mixBlock(u, att, rows, cache, heads, dim, ctx, t0, count);
  }
}

/**
 * Slim attention, second half, for n tokens (u (n, heads, dim) and state (n, heads, 2) from slimAttention):
 * ao (n, dim) <- per head h, W_KV rows of head h (hd, dim) @ U_h, then ÷ s_h. One pass over each head's
 * W_KV rows serves all n tokens of a prefill block (ARCHITECTURE.md, "Prefill").
 */
export function slimValues(ao: usize, u: usize, state: usize, wkv: usize, heads: i32, hd: i32, dim: i32, n: i32): void {
  const kRow = <usize>dim << 2;
  const uRow = <usize>heads * kRow;
  const sRow = <usize>heads << 3;
  for (let h = 0; h < heads; h++) {
    // W_KV is f32 in every plan: quantizing it (or U) would amplify into V; each head's hd rows are laid out as a matrix of their own
    const out = ao + (<usize>(h * hd) << 2);
    matmulStrided(out, kRow, wkv + <usize>(h * hd) * kRow, u + <usize>h * kRow, uRow, hd, dim, n);
    for (let t = 0; t < n; t++) {
      const inv: f32 = 1.0 / load<f32>(state + <usize>t * sRow + (<usize>h << 3), 4);
      const o = out + <usize>t * kRow;
      for (let i = 0; i < hd; i++) store<f32>(o + (<usize>i << 2), load<f32>(o + (<usize>i << 2)) * inv);
    }
  }
}

/**
 * Standard attention for the newest position (rotated key and value already in their caches, q rotated).
 * Grouped-query models share one K/V head among `heads / kvHeads` query heads.
 */
export function vanillaAttention(
  ao: usize, q: usize, att: usize, kCache: usize, vCache: usize, cache: i32,
  heads: i32, kvHeads: i32, hd: i32, ctx: i32, n: i32,
): void {
  plainScores(att, q, kCache, cache, heads, kvHeads, hd, ctx, n);
  const kvDim = kvHeads * hd;
  const group = heads / kvHeads;
  for (let h = 0; h < heads; h++) {
    const off = (h / group) * hd;
    const out = ao + (<usize>(h * hd) << 2);
    const a = att + (<usize>(h * ctx) << 2);
    if (cache == CACHE_Q8) weightedRowSumQ8(out, a, vCache + <usize>off, <usize>kvDim + 4, <usize>(kvDim - off), hd, n);
    else if (cache == CACHE_F16) weightedRowSumF16(out, a, vCache + (<usize>off << 1), <usize>kvDim << 1, hd, n);
    else weightedRowSum(out, a, vCache + (<usize>off << 2), <usize>kvDim << 2, hd, n);
  }
}
