/**
 * Picks the next token from logits the way llama2.c's run.c does: argmax at temperature 0, otherwise
 * softmax(logits / temperature) sampled with a xorshift64* coin, restricted to the top-p nucleus when
 * top-p < 1. Arithmetic is rounded to f32 at each step as in run.c (and the on-device sampler), and exp is
 * the decoder's f32 expf (host/core/expf.ts), so one seed gives one token sequence everywhere.
 */
import { fail } from "../core/errors.ts";
import { expf } from "../core/expf.ts";

export interface SamplerOptions {
  temperature?: number; // ≥ 0; 0 means greedy
  topP?: number; // in (0, 1]; 1 means sample the full distribution
  seed?: number | bigint; // 64-bit integer; 0 starts from SEED_ZERO_STATE, since xorshift never leaves the all-zero state
}

/** run.c's defaults for temperature and top-p; a fixed seed so runs repeat unless the caller picks one. */
export const SAMPLER_DEFAULTS = { temperature: 1.0, topP: 0.9, seed: 42 } as const;

const f32 = Math.fround;
const U64 = (1n << 64n) - 1n;

/** The state seed 0 starts from (2^64 / golden ratio): run.c's xorshift would stay 0 forever; the command does the same. */
export const SEED_ZERO_STATE = 0x9e3779b97f4a7c15n;

/** xorshift64* (run.c random_u32): 64-bit state, the upper 32 bits of state × constant as output. */
export class Rng {
  private state: bigint;

  constructor(seed: number | bigint) {
    this.state = BigInt(seed) & U64;
    if (this.state === 0n) this.state = SEED_ZERO_STATE;
  }

  nextU32(): number {
    let s = this.state;
    s ^= s >> 12n;
    s ^= (s << 25n) & U64;
    s ^= s >> 27n;
    this.state = s;
    return Number(((s * 0x2545f4914f6cdd1dn) & U64) >> 32n);
  }

  /** Uniform in [0, 1) from the top 24 bits, exactly representable as f32. */
  nextF32(): number {
    return (this.nextU32() >>> 8) / 16777216;
  }
}

/** Index of the largest value; the first one on ties. */
export function argmax(x: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < x.length; i++) if (x[i] > x[best]) best = i;
  return best;
}

export class Sampler {
  readonly temperature: number;
  readonly topP: number;
  private readonly rng: Rng;
  private probs = new Float32Array(0); // (vocab,) reused across calls
  private order = new Uint32Array(0); // (vocab,) nucleus candidates, reused across calls

  constructor(opts: SamplerOptions = {}) {
    this.temperature = checkTemperature(opts.temperature ?? SAMPLER_DEFAULTS.temperature);
    this.topP = checkTopP(opts.topP ?? SAMPLER_DEFAULTS.topP);
    this.rng = new Rng(checkSeed(opts.seed ?? SAMPLER_DEFAULTS.seed));
  }

  /** Next token id for logits (vocab,). The logits are left untouched. */
  sample(logits: Float32Array): number {
    if (logits.length === 0) fail("E_MODEL", "The sampler was given an empty logits vector; the vocabulary must hold at least one token.");
    for (let i = 0; i < logits.length; i++) {
      const v = logits[i];
      if (v - v !== 0) fail("E_RUNTIME", `the logits are not finite (${v} for token ${i}); check the weights and the prompt`);
    }
    if (this.temperature === 0) return argmax(logits);
    const probs = this.softmax(logits);
    const coin = this.rng.nextF32();
    return this.topP >= 1 ? sampleFull(probs, coin) : this.sampleNucleus(probs, coin);
  }

  /** softmax(logits / temperature) into the reused buffer (vocab,). */
  private softmax(logits: Float32Array): Float32Array {
    if (this.probs.length !== logits.length) this.probs = new Float32Array(logits.length);
    const p = this.probs;
    const t = f32(this.temperature);
    for (let i = 0; i < p.length; i++) p[i] = f32(logits[i] / t);
    const max = p[argmax(p)];
    if (!Number.isFinite(max))
      fail("E_FLAG", `--temp ${this.temperature}: the logits divided by it overflow float32 (logit ${logits[argmax(logits)]} / ${t}); use a larger --temp, or --temp 0 for greedy`);
    let sum = 0;
    for (let i = 0; i < p.length; i++) {
      p[i] = expf(p[i] - max); // the command's f32 exp, bit for bit
      sum = f32(sum + p[i]);
    }
    for (let i = 0; i < p.length; i++) p[i] = p[i] / sum;
    return p;
  }

  /**
   * run.c sample_topp: sample among the most likely tokens whose mass first exceeds top-p. Tokens below
   * (1 - top-p) / (n - 1) cannot be in the nucleus, so they are dropped before the sort.
   */
  private sampleNucleus(p: Float32Array, coin: number): number {
    const n = p.length;
    if (n === 1) return 0;
    if (this.order.length !== n) this.order = new Uint32Array(n);
    const cutoff = f32(f32(1 - f32(this.topP)) / (n - 1));
    let n0 = 0;
    for (let i = 0; i < n; i++) if (p[i] >= cutoff) this.order[n0++] = i;
    // Index breaks ties so the order, and with it the pick, does not depend on the sort's stability.
    const cand = this.order.subarray(0, n0).sort((a, b) => p[b] - p[a] || a - b);
    let mass = 0;
    let last = n0 - 1;
    for (let i = 0; i < n0; i++) {
      mass = f32(mass + p[cand[i]]);
      if (mass > f32(this.topP)) {
        last = i;
        break;
      }
    }
    const r = f32(coin * mass);
    let cdf = 0;
    for (let i = 0; i <= last; i++) {
      cdf = f32(cdf + p[cand[i]]);
      if (r < cdf) return cand[i];
    }
    return cand[last]; // rounding left r at or past the final cdf
  }
}

/** run.c sample_mult: walk the cumulative distribution until it passes the coin. */
function sampleFull(p: Float32Array, coin: number): number {
  let cdf = 0;
  for (let i = 0; i < p.length; i++) {
    cdf = f32(cdf + p[i]);
    if (coin < cdf) return i;
  }
  return p.length - 1; // rounding left the total just under the coin
}

// ---------------------------------------------------------------------------------------------
// flags: rejected, never clamped

const FLT_MIN_NORMAL = 2 ** -126;
const FLT_MAX = (2 - 2 ** -23) * 2 ** 127;

function checkTemperature(t: number): number {
  if (!Number.isFinite(t) || t < 0) fail("E_FLAG", `--temp must be a number ≥ 0 (0 means greedy), got ${t}.`);
  if (!Number.isFinite(f32(t)))
    fail("E_FLAG", `--temp ${t} overflows: the sampler divides in float32, whose largest number is ${FLT_MAX}; --temp inf is refused, and so is this.`);
  if (t > 0 && f32(t) < FLT_MIN_NORMAL)
    fail("E_FLAG", `--temp ${t} underflows: the sampler divides in float32, whose smallest normal number is ${FLT_MIN_NORMAL}; use --temp 0 for greedy.`);
  return t;
}

function checkTopP(p: number): number {
  if (!Number.isFinite(p) || p <= 0 || p > 1) fail("E_FLAG", `--top-p must be a number in (0, 1] (1 samples the full distribution), got ${p}.`);
  return p;
}

function checkSeed(seed: number | bigint): bigint {
  const ok = typeof seed === "bigint" || Number.isSafeInteger(seed);
  const big = ok ? BigInt(seed) : -1n;
  if (big < 0n || big > U64) fail("E_FLAG", `--seed must be a whole number from 0 to 2^64-1, got ${seed}`);
  return big;
}
