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
  const inv = ropeInverseFrequencies(c);
  while (inv.length < hd / 2) inv.push(0); // dims past the rotary part: angle 0
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

/**
 * The angle per position of each rotary pair i < rotaryDims/2: base^(−2i/rotary) / fᵢ, fᵢ from
 * `ropeFreqFactors` (1 when absent). The one place every RoPE of the host (the table above, the calibration
 * pass of tools/convert/calibrate.ts) takes its frequencies from.
 */
export function ropeInverseFrequencies(c: ModelConfig): number[] {
  const rotary = archOf(c).rotaryDims;
  const f = c.ropeFreqFactors;
  const inv: number[] = [];
  for (let i = 0; i < rotary; i += 2) inv.push(Math.pow(Math.fround(c.ropeTheta), -i / rotary) / (f ? f[i >> 1] : 1));
  return inv;
}

/** Llama 3.x's rope_scaling of type "llama3" (config.json), its four numbers. */
export interface Llama3RopeScaling {
  factor: number;
  lowFreqFactor: number;
  highFreqFactor: number;
  originalMaxPositions: number; // original_max_position_embeddings
}

/**
 * The per-pair frequency divisors of Llama 3.x's RoPE scaling, as Hugging Face transformers defines it
 * (modeling_rope_utils, the "llama3" rope type) and llama.cpp stores it (rope_freqs.weight): a pair whose
 * wavelength 2π/ω is shorter than originalMaxPositions/highFreqFactor keeps its frequency (1); one longer
 * than originalMaxPositions/lowFreqFactor turns `factor` times slower; in between, its frequency is the
 * blend (1 − s)·ω/factor + s·ω with s = (originalMaxPositions/wavelength − lowFreqFactor)/(highFreqFactor −
 * lowFreqFactor), i.e. the divisor 1/((1 − s)/factor + s). Computed in float64 from the base as given.
 */
export function llama3RopeFactors(base: number, rotaryDims: number, s: Llama3RopeScaling): number[] {
  const lowWavelen = s.originalMaxPositions / s.lowFreqFactor;
  const highWavelen = s.originalMaxPositions / s.highFreqFactor;
  const out: number[] = [];
  for (let i = 0; i < rotaryDims; i += 2) {
    const wavelen = (2 * Math.PI) / Math.pow(base, -i / rotaryDims);
    if (wavelen < highWavelen) out.push(1);
    else if (wavelen > lowWavelen) out.push(s.factor);
    else {
      const smooth = (s.originalMaxPositions / wavelen - s.lowFreqFactor) / (s.highFreqFactor - s.lowFreqFactor);
      out.push(1 / ((1 - smooth) / s.factor + smooth));
    }
  }
  return out;
}
