/**
 * The decoder module's f32 `expf` (assembly/kernels.ts) in TypeScript, every operation rounded to f32 as the
 * module rounds it (an f64 sum, difference or product of two f32 values rounded once to f32 is the f32
 * operation's result), so host and module get the same bits for every input (test/stream.test.ts checks it).
 * The host's sampler uses it where the command's sampler does (ARCHITECTURE.md, "Numerics").
 */
const f32 = Math.fround;
const bits = new DataView(new ArrayBuffer(4));
const fromBits = (u: number): number => {
  bits.setUint32(0, u >>> 0);
  return bits.getFloat32(0);
};
const LOG2E = fromBits(0x3fb8aa3b);
const LN2_HI = fromBits(0x3f317200);
const LN2_LO = fromBits(0x35bfbe8e);
const C = [1, 1, 0.5, 1 / 6, 1 / 24, 1 / 120, 1 / 720, 1 / 5040].map(f32);
const TWO_M100 = fromBits(0x0d800000);
const SHIFT = 12582912; // 1.5·2²³

/** e^x for an f32 x, as an f32; the module's function, bit for bit. */
export function expf(xIn: number): number {
  const x = f32(xIn);
  if (x !== x) return x;
  if (x > f32(88.72283)) return Infinity;
  if (x < f32(-103.98)) return 0;
  const k = f32(f32(f32(x * LOG2E) + SHIFT) - SHIFT);
  const r = f32(f32(x - f32(k * LN2_HI)) - f32(k * LN2_LO));
  let p = C[7];
  for (let i = 6; i >= 0; i--) p = f32(C[i] + f32(r * p));
  let ki = k;
  if (ki > 127) {
    p = f32(p * 2);
    ki--;
  } else if (ki < -126) {
    p = f32(p * TWO_M100);
    ki += 100;
  }
  return f32(p * fromBits((ki + 127) << 23));
}
