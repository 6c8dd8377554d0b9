/**
 * Q8_0 quantization of weight matrices, as the decoder stores them (assembly/quant.ts): int8 values
 * row-major, then one f32 scale per group of `group` values; scale = max|x| / 127 over the group and
 * q = round-half-to-even(x / scale), the same rounding the module applies to its activations.
 */
import type { WeightDtype } from "./plan.ts";

/** Rounds to the nearest integer, ties to even (WebAssembly's f32.nearest). */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

export interface Q8 {
  values: Int8Array; // (n,)
  scales: Float32Array; // (n / group,)
}

/** x (n,) -> Q8_0 groups. Scales and the division are f32, as in the module. */
export function quantizeQ8(x: Float32Array, group: number): Q8 {
  const f = Math.fround;
  const values = new Int8Array(x.length);
  const scales = new Float32Array(x.length / group);
  for (let g = 0; g < x.length; g += group) {
    let amax = 0;
    for (let j = g; j < g + group; j++) amax = Math.max(amax, Math.abs(x[j]));
    const scale = f(f(amax) / 127);
    const inv = scale !== 0 ? f(1 / scale) : 0;
    scales[g / group] = scale;
    for (let j = g; j < g + group; j++) values[j] = roundHalfEven(f(x[j] * inv));
  }
  return { values, scales };
}

/** The stored bytes of a Q8_0 matrix: values, then scales (what the plan's span holds). */
export function q8Bytes(x: Float32Array, group: number): Uint8Array {
  const { values, scales } = quantizeQ8(x, group);
  const out = new Uint8Array(values.length + scales.length * 4);
  out.set(new Uint8Array(values.buffer), 0);
  out.set(new Uint8Array(scales.buffer), values.length);
  return out;
}

/** Dequantized values of a Q8_0 matrix: what the decoder effectively multiplies with. */
export function dequantizeQ8({ values, scales }: Q8, group: number): Float32Array {
  return Float32Array.from(values, (q, j) => Math.fround(q * scales[Math.floor(j / group)]));
}

/**
 * x rounded to the nearest IEEE binary16 value, ties to even, returned as a number: normals keep 11
 * significant bits, subnormals are multiples of 2⁻²⁴, and |x| ≥ 65520 (halfway past the largest finite
 * half, 65504) becomes ±Infinity. Exact for any finite double: the quotient by the spacing is exact.
 */
export function roundF16(x: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  if (a >= 65520) return x > 0 ? Infinity : -Infinity;
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--; // log2 may be off by one ulp at powers of two
  else if (2 ** (e + 1) <= a) e++;
  const spacing = 2 ** (Math.max(e, -14) - 10);
  return Math.sign(x) * roundHalfEven(a / spacing) * spacing;
}

/**
 * Q4_0 with ggml's scale: per group, m is the value of largest magnitude WITH its sign and scale = m / −8,
 * so m itself maps to −8 and the whole range −8..7 is used; q = clamp(round(x / scale), −8, 7). Rounding
 * is half to even like Q8_0 here (ggml truncates x/scale + 8.5, i.e. rounds half up; they differ at ties).
 * Values are kept one per Int8 (the stored form packs two per byte, see matrixBytes).
 */
export function quantizeQ4(x: Float32Array, group: number): Q8 {
  const f = Math.fround;
  const values = new Int8Array(x.length);
  const scales = new Float32Array(x.length / group);
  for (let g = 0; g < x.length; g += group) {
    let m = 0;
    for (let j = g; j < g + group; j++) if (Math.abs(x[j]) > Math.abs(m)) m = x[j];
    const scale = m === 0 ? 0 : f(m / -8); // not −0 for an all-zero group
    const inv = scale !== 0 ? f(1 / scale) : 0;
    scales[g / group] = scale;
    for (let j = g; j < g + group; j++) values[j] = Math.min(7, Math.max(-8, roundHalfEven(f(x[j] * inv))));
  }
  return { values, scales };
}

/** Dequantized values of a Q4_0 matrix (same layout as Q8_0 once unpacked). */
export const dequantizeQ4 = dequantizeQ8;

/** What a matrix stored as `dtype` holds once read back: x (n,) -> deq(q(x)) (n,), f32 values. */
export function roundTrip(x: Float32Array, dtype: WeightDtype, group: number): Float32Array {
  switch (dtype) {
    case "f32":
      return x.slice();
    case "f16":
      return Float32Array.from(x, roundF16);
    case "q8_0":
      return dequantizeQ8(quantizeQ8(x, group), group);
    case "q4_0":
      return dequantizeQ4(quantizeQ4(x, group), group);
  }
}

/**
 * The stored bytes of a Q4_0 matrix as the decoder reads it (assembly/quant.ts): per group of `group` values
 * (even), group/2 bytes with value j in the low nibble and value j + group/2 in the high nibble of byte j
 * (each as q + 8) — ggml's block at groups of 32; then the scales.
 */
export function q4Bytes(x: Float32Array, group: number): Uint8Array {
  if (!Number.isInteger(group) || group < 2 || group % 2 !== 0) throw new Error(`Q4_0 packs even groups, not ${group}`);
  const { values, scales } = quantizeQ4(x, group);
  const half = group / 2;
  const out = new Uint8Array(values.length / 2 + scales.length * 4);
  for (let g = 0; g < values.length; g += group)
    for (let j = 0; j < half; j++) out[g / 2 + j] = (values[g + j] + 8) | ((values[g + j + half] + 8) << 4);
  out.set(new Uint8Array(scales.buffer), values.length / 2);
  return out;
}

/**
 * Bits of x as an IEEE binary16, rounded to nearest even (as assembly/f16.ts writes cache rows): the one
 * f16 encoder; roundF16 does the rounding, f16Value is the inverse. NaN becomes a quiet NaN (0x7e00).
 */
export function f16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const v = roundF16(x);
  const sign = v < 0 || Object.is(v, -0) ? 0x8000 : 0;
  const a = Math.abs(v);
  if (a === Infinity) return sign | 0x7c00;
  if (a < 2 ** -14) return sign | (a / 2 ** -24); // subnormal: an exact multiple of 2^-24
  const bits = new Uint32Array(new Float32Array([a]).buffer)[0];
  return sign | ((((bits >>> 23) - 112) << 10) | ((bits >>> 13) & 0x3ff));
}

/** The stored bytes of an f16 matrix: binary16 values, little-endian. */
export function f16Bytes(x: Float32Array): Uint8Array {
  return new Uint8Array(Uint16Array.from(x, f16Bits).buffer);
}

let f16Table: Float32Array | null = null;

/** The value of binary16 bits h (0..65535), exact in an f32. */
export function f16Value(h: number): number {
  if (!f16Table) {
    const t = new Float32Array(65536);
    for (let b = 0; b < 65536; b++) {
      const sign = b & 0x8000 ? -1 : 1;
      const e = (b >>> 10) & 0x1f;
      const m = b & 0x3ff;
      t[b] = e === 0 ? sign * m * 2 ** -24 : e === 31 ? (m ? NaN : sign * Infinity) : sign * (1 + m / 1024) * 2 ** (e - 15);
    }
    f16Table = t;
  }
  return f16Table[h];
}

/**
 * The values stored bytes of `dtype` hold, n of them (the inverse of f16Bytes, q8Bytes and q4Bytes): what
 * the decoder effectively multiplies with. `bytes` need not be aligned. q8_0 / q4_0 decode bit for bit as
 * dequantizeQ8 / dequantizeQ4 of the quantization that was stored.
 *
 * Quantizing these values again at the same dtype and group size (converting a .slim file again) gives the
 * same bytes back:
 * - q4_0: the group's −8 value decodes to −8·s exactly, so quantizeQ4 finds m = −8·s, the same scale and the
 *   same nibbles (every other |q·s| is smaller).
 * - q8_0: the group's ±127 value decodes to y = fround(127·s), and quantizeQ8's new scale is fround(y / 127).
 *   That is s again for every scale quantizeQ8 makes, s = fround(amax / 127) — checked exhaustively over all
 *   2^23 mantissas of amax in a binade (test/container.test.ts); it is NOT true of an arbitrary f32 s. With
 *   the same scale, each fround(fround(q·s) · fround(1/s)) is within 3 rounding errors of q (|q| ≤ 127), so
 *   rounds back to q. (Scales in the subnormal range, groups with max |x| < ~1.5e-36, were not checked.)
 */
export function storedValues(bytes: Uint8Array, n: number, dtype: WeightDtype, group: number): Float32Array {
  if (dtype === "f32") {
    const out = new Float32Array(n);
    new Uint8Array(out.buffer).set(bytes.subarray(0, 4 * n));
    return out;
  }
  if (dtype === "f16") return Float32Array.from({ length: n }, (_, i) => f16Value(bytes[2 * i] | (bytes[2 * i + 1] << 8)));
  const packed = dtype === "q8_0" ? n : n / 2;
  const scales = new Float32Array(n / group);
  new Uint8Array(scales.buffer).set(bytes.subarray(packed, packed + 4 * scales.length));
  if (dtype === "q8_0") return dequantizeQ8({ values: new Int8Array(bytes.buffer, bytes.byteOffset, n).slice(), scales }, group);
  if (!Number.isInteger(group) || group < 2 || group % 2 !== 0) throw new Error(`Q4_0 packs even groups, not ${group}`);
  const half = group / 2;
  const values = new Int8Array(n);
  for (let b = 0; b < n; b += group)
    for (let j = 0; j < half; j++) {
      const byte = bytes[b / 2 + j];
      values[b + j] = (byte & 0x0f) - 8;
      values[b + j + half] = (byte >>> 4) - 8;
    }
  return dequantizeQ4({ values, scales }, group);
}
