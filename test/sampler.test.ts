import { describe, expect, it } from "vitest";
import { SlimError } from "../host/core/errors.ts";
import { argmax, Rng, Sampler, SEED_ZERO_STATE } from "../host/runtime/sampler.ts";

/** logits (50,) = 3·sin(1.3·i) in f32: distinct values, no ties to sort ambiguously. */
const WAVE = Float32Array.from({ length: 50 }, (_, i) => Math.fround(3 * Math.fround(Math.sin(i * 1.3))));

const draws = (s: Sampler, logits: Float32Array, n: number) => Array.from({ length: n }, () => s.sample(logits));

/** Logits whose softmax is exactly `probs` (up to normalisation). */
const logitsOf = (probs: number[]) => Float32Array.from(probs, Math.log);

describe("Rng", () => {
  it("seed 0 starts from SEED_ZERO_STATE instead of xorshift's fixed point 0", () => {
    const zero = new Rng(0);
    const same = new Rng(SEED_ZERO_STATE);
    const draws = Array.from({ length: 8 }, () => zero.nextU32());
    expect(draws).toEqual(Array.from({ length: 8 }, () => same.nextU32()));
    expect(new Set(draws).size).toBeGreaterThan(1); // not stuck at 0
  });

  // Reference values printed by run.c's random_u32 / random_f32 compiled with gcc.
  it("matches run.c's xorshift64* bit for bit", () => {
    const a = new Rng(42);
    expect(Array.from({ length: 5 }, () => a.nextU32())).toEqual([1456360119, 3359763283, 3393612768, 4054632243, 3283045847]);
    const b = new Rng(0xffffffffffffffffn);
    expect(Array.from({ length: 3 }, () => b.nextU32())).toEqual([4180462053, 2415166680, 879531507]);
    const c = new Rng(1234);
    expect(Array.from({ length: 3 }, () => Math.fround(c.nextF32()))).toEqual([0.735688448, 0.304114759, 0.410872042].map(Math.fround));
  });

  it("stays in [0, 1)", () => {
    const r = new Rng(9);
    for (let i = 0; i < 10_000; i++) {
      const x = r.nextF32();
      expect(x >= 0 && x < 1).toBe(true);
    }
  });
});

describe("argmax", () => {
  it("returns the index of the largest value, the first on ties", () => {
    expect(argmax([0.1, 3, -2, 3])).toBe(1);
    expect(argmax(WAVE)).toBe(Array.from(WAVE).indexOf(Math.max(...WAVE)));
  });
});

describe("Sampler", () => {
  it("at temperature 0 is greedy: argmax every time, whatever the seed", () => {
    for (const seed of [1, 2, 3]) {
      const s = new Sampler({ temperature: 0, seed });
      expect(draws(s, WAVE, 20)).toEqual(Array(20).fill(argmax(WAVE)));
    }
  });

  it("leaves the caller's logits untouched", () => {
    const logits = WAVE.slice();
    draws(new Sampler({ temperature: 0.7, topP: 0.8, seed: 5 }), logits, 10);
    expect(logits).toEqual(WAVE);
  });

  // Expected picks come from run.c's sample() (softmax, sample_mult, sample_topp) compiled with gcc.
  it("picks the same tokens as run.c for a given seed, temperature and top-p", () => {
    const topP = new Sampler({ temperature: 0.8, topP: 0.9, seed: 7 });
    expect(draws(topP, WAVE, 40)).toEqual([
      21, 26, 35, 6, 40, 30, 49, 6, 40, 21, 45, 25, 45, 20, 6, 40, 15, 49, 30, 25, 40, 11, 30, 1, 45, 35, 1, 26, 16, 16, 6, 6, 16, 35, 25,
      21, 16, 15, 26, 20,
    ]);
    const full = new Sampler({ temperature: 1, topP: 1, seed: 7 });
    expect(draws(full, WAVE, 40)).toEqual([
      40, 45, 2, 6, 16, 20, 40, 6, 16, 40, 35, 35, 31, 45, 6, 16, 49, 40, 21, 35, 15, 11, 21, 26, 34, 1, 25, 45, 30, 30, 6, 6, 30, 0, 36,
      40, 30, 49, 45, 44,
    ]);
    const narrow = new Sampler({ temperature: 1.3, topP: 0.5, seed: 123456789n });
    expect(draws(narrow, WAVE, 40)).toEqual([
      45, 40, 11, 35, 30, 40, 40, 30, 40, 45, 16, 40, 30, 11, 45, 11, 35, 45, 40, 6, 45, 45, 40, 11, 1, 30, 16, 11, 40, 30, 6, 1, 40, 40,
      35, 35, 35, 40, 40, 30,
    ]);
  });

  it("repeats its sequence for the same seed and changes it for another", () => {
    const run = (seed: number) => draws(new Sampler({ temperature: 1, topP: 0.95, seed }), WAVE, 50);
    expect(run(11)).toEqual(run(11));
    expect(run(11)).not.toEqual(run(12));
  });

  it("samples in proportion to the softmax when top-p is 1", () => {
    const s = new Sampler({ temperature: 1, topP: 1, seed: 3 });
    const counts = [0, 0, 0];
    for (const t of draws(s, logitsOf([0.5, 0.3, 0.2]), 20_000)) counts[t]++;
    expect(counts[0] / 20_000).toBeCloseTo(0.5, 1);
    expect(counts[1] / 20_000).toBeCloseTo(0.3, 1);
    expect(counts[2] / 20_000).toBeCloseTo(0.2, 1);
  });

  it("restricts top-p draws to the nucleus and renormalises inside it", () => {
    // Sorted mass: 0.4, 0.7, 0.85 > 0.8, so the nucleus is tokens {0, 1, 2}; 3..5 never appear.
    const probs = [0.4, 0.3, 0.15, 0.08, 0.05, 0.02];
    const s = new Sampler({ temperature: 1, topP: 0.8, seed: 99 });
    const counts = new Array(probs.length).fill(0);
    const n = 30_000;
    for (const t of draws(s, logitsOf(probs), n)) counts[t]++;
    expect(counts.slice(3)).toEqual([0, 0, 0]);
    expect(counts[0] / n).toBeCloseTo(0.4 / 0.85, 1);
    expect(counts[1] / n).toBeCloseTo(0.3 / 0.85, 1);
    expect(counts[2] / n).toBeCloseTo(0.15 / 0.85, 1);
  });

  it("sharpens the distribution as temperature falls", () => {
    const share = (temperature: number) => draws(new Sampler({ temperature, topP: 1, seed: 4 }), logitsOf([0.6, 0.4]), 5000).filter((t) => t === 0).length;
    expect(share(0.25)).toBeGreaterThan(share(1));
  });

  it("handles a one-token vocabulary", () => {
    expect(new Sampler({ temperature: 1, topP: 0.5, seed: 1 }).sample(Float32Array.of(2))).toBe(0);
  });

  it("rejects bad flags with E_FLAG naming the flag", () => {
    const bad: [object, string][] = [
      [{ temperature: -0.1 }, "--temp"],
      [{ temperature: Number.NaN }, "--temp"],
      [{ temperature: Number.POSITIVE_INFINITY }, "--temp"],
      [{ topP: 0 }, "--top-p"],
      [{ topP: -0.5 }, "--top-p"],
      [{ topP: 1.01 }, "--top-p"],
      [{ topP: Number.NaN }, "--top-p"],
      [{ seed: -3 }, "--seed"],
      [{ seed: 1.5 }, "--seed"],
      [{ seed: 1n << 64n }, "--seed"],
    ];
    for (const [opts, flag] of bad) {
      let caught: unknown;
      try {
        new Sampler(opts);
      } catch (err) {
        caught = err;
      }
      expect(caught, JSON.stringify(opts, (_, v) => (typeof v === "bigint" ? String(v) : v))).toBeInstanceOf(SlimError);
      expect((caught as SlimError).code).toBe("E_FLAG");
      expect((caught as SlimError).message).toContain(flag);
    }
  });

  it("accepts the edges of the valid ranges", () => {
    expect(() => new Sampler({ temperature: 0, topP: 1, seed: 1 })).not.toThrow();
    expect(() => new Sampler({ temperature: 2, topP: 1e-6, seed: (1n << 64n) - 1n })).not.toThrow();
  });
});
