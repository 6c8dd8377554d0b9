/**
 * The RoPE table every rotation in the decoder reads (ARCHITECTURE.md, "Arena" and "Numerics").
 *
 * Per position t a row of 2·headDim f32: [cos θ0, cos θ0, cos θ1, cos θ1, … | −sin θ0, sin θ0, −sin θ1,
 * sin θ1, …] with θi = t·base^(−2i/rotary) formed in float64 (the base as the plan block holds it, an f32) and rounded once to f32, so a rotation is
 * k ⊙ cos + swap_pairs(k) ⊙ sin with plain vector ops. Dims past the rotary part keep angle 0 (cos 1, sin 0),
 * so the same rotation code leaves them alone.
 *
 * The host computes it, once, and writes it into the arena as it writes the weights: the module has no
 * transcendental function in it at all, so no board pays a soft-float pow/cos/sin per token, and every
 * build of the module (SIMD, scalar, the command at binaryen's shrink level 1, whose libm is another
 * implementation) rotates by the same bits.
 */
import { type ModelConfig, archOf, headDim } from "./model.ts";

const F32 = 4;

/** Bytes of the table for `ctx` positions. */
export const ropeTableBytes = (c: ModelConfig, ctx: number): number => ctx * 2 * headDim(c) * F32;

/** The table's values for `ctx` positions. */
export function ropeTable(c: ModelConfig, ctx: number): Float32Array {
  const hd = headDim(c);
  const rotary = archOf(c).rotaryDims;
  const out = new Float32Array(ctx * 2 * hd);
  const inv: number[] = [];
  for (let i = 0; i < hd; i += 2) inv.push(i < rotary ? Math.pow(Math.fround(c.ropeTheta), -i / rotary) : 0);
  for (let t = 0; t < ctx; t++) {
    const row = t * 2 * hd;
    for (let i = 0; i < hd; i += 2) {
      const angle = t * inv[i >> 1];
      const cos = Math.cos(angle);
      const sin = Math.sin(angle);
      out[row + i] = cos;
      out[row + i + 1] = cos;
      out[row + hd + i] = -sin;
      out[row + hd + i + 1] = sin;
    }
  }
  return out;
}
