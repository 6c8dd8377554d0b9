/**
 * Q8_0 quantization of weight matrices, as the decoder stores them (assembly/quant.ts): int8 values
 * row-major, then one f32 scale per group of `group` values; scale = max|x| / 127 over the group and
 * q = round-half-to-even(x / scale), the same rounding the module applies to its activations.
 */

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
