// Next-token choice exactly as host/sampler.ts (llama2.c run.c): argmax at temperature 0 (first maximum on
// ties), else softmax(logits / temperature) and a xorshift64* coin, over the top-p nucleus when top-p < 1.
// Every step is rounded to f32 where run.c (and the host) round, so one seed gives one token sequence on
// every runtime. exp is the decoder's own f32 expf (assembly/kernels.ts), which the host's sampler computes
// bit for bit (host/core/expf.ts): no f64 and no standard-library exp, whose bits depend on the build.

import { expf } from "./kernels";

let state: u64 = 0; // xorshift64* state; never 0 (the seed is checked ≥ 1)

export function seed(s: u64): void {
  state = s == 0 ? SEED_ZERO_STATE : s; // xorshift never leaves the all-zero state (host/runtime/sampler.ts Rng)
}

/** The state seed 0 starts from (2^64 / golden ratio), as the host's sampler does. */
const SEED_ZERO_STATE: u64 = 0x9e3779b97f4a7c15;

/** run.c random_u32: the upper 32 bits of state × constant. */
function nextU32(): u32 {
  let s = state;
  s ^= s >> 12;
  s ^= s << 25;
  s ^= s >> 27;
  state = s;
  return <u32>((s * 0x2545f4914f6cdd1d) >> 32);
}

/** Uniform in [0, 1) from the top 24 bits, exactly representable as f32. */
function nextF32(): f32 {
  return <f32>(nextU32() >> 8) / <f32>16777216.0;
}

/** Index of the largest of x (n,) f32; the first one on ties. */
export function argmax(x: usize, n: i32): i32 {
  let best = 0;
  let max = load<f32>(x);
  for (let i = 1; i < n; i++) {
    const v = load<f32>(x + (<usize>i << 2));
    if (v > max) {
      best = i;
      max = v;
    }
  }
  return best;
}

// sample() failures, as host/runtime/sampler.ts refuses them (ids are ≥ 0)
export const SAMPLE_NOT_FINITE: i32 = -1; // a logit is NaN or ±Infinity: notFiniteAt names the first
export const SAMPLE_TEMP_OVERFLOW: i32 = -2; // the logits divided by the temperature overflow f32
export let notFiniteAt: i32 = -1;

/**
 * Next token for logits (n,), or a SAMPLE_ failure. probs (n,) f32 and candidates (n,) i32 are planned
 * scratch; the logits are left untouched. temperature ≥ 0 and topP in (0, 1] were checked by the caller.
 */
export function sample(logits: usize, n: i32, temperature: f64, topP: f64, probs: usize, candidates: usize): i32 {
  for (let i = 0; i < n; i++) {
    const v = load<f32>(logits + (<usize>i << 2));
    if (v - v != 0) {
      notFiniteAt = i;
      return SAMPLE_NOT_FINITE;
    }
  }
  if (temperature == 0) return argmax(logits, n);
  if (!softmax(probs, logits, n, <f32>temperature)) return SAMPLE_TEMP_OVERFLOW;
  const coin = nextF32();
  return topP >= 1 ? sampleFull(probs, n, coin) : sampleNucleus(probs, candidates, n, <f32>topP, coin);
}

/** p (n,) <- softmax(logits (n,) / t); false when the divided logits overflow f32. */
function softmax(p: usize, logits: usize, n: i32, t: f32): bool {
  for (let i = 0; i < n; i++) store<f32>(p + (<usize>i << 2), load<f32>(logits + (<usize>i << 2)) / t);
  const max = load<f32>(p + (<usize>argmax(p, n) << 2));
  if (!isFinite<f32>(max)) return false;
  let sum: f32 = 0;
  for (let i = 0; i < n; i++) {
    const o = p + (<usize>i << 2);
    const e = expf(load<f32>(o) - max);
    store<f32>(o, e);
    sum += e;
  }
  for (let i = 0; i < n; i++) {
    const o = p + (<usize>i << 2);
    store<f32>(o, load<f32>(o) / sum);
  }
  return true;
}

/** run.c sample_mult: walk the cumulative distribution until it passes the coin. */
function sampleFull(p: usize, n: i32, coin: f32): i32 {
  let cdf: f32 = 0;
  for (let i = 0; i < n; i++) {
    cdf += load<f32>(p + (<usize>i << 2));
    if (coin < cdf) return i;
  }
  return n - 1; // rounding left the total just under the coin
}

/**
 * run.c sample_topp: sample among the most likely tokens whose mass first exceeds top-p. Tokens below
 * (1 - top-p) / (n - 1) cannot be in the nucleus, so they are dropped before the sort.
 */
function sampleNucleus(p: usize, cand: usize, n: i32, topP: f32, coin: f32): i32 {
  if (n == 1) return 0;
  const cutoff: f32 = (<f32>1.0 - topP) / <f32>(n - 1);
  let n0 = 0;
  for (let i = 0; i < n; i++) {
    if (load<f32>(p + (<usize>i << 2)) >= cutoff) {
      store<i32>(cand + (<usize>n0 << 2), i);
      n0++;
    }
  }
  sortByProbability(cand, n0, p);
  let mass: f32 = 0;
  let last = n0 - 1;
  for (let i = 0; i < n0; i++) {
    mass += prob(p, cand, i);
    if (mass > topP) {
      last = i;
      break;
    }
  }
  const r = coin * mass;
  let cdf: f32 = 0;
  for (let i = 0; i <= last; i++) {
    cdf += prob(p, cand, i);
    if (r < cdf) return load<i32>(cand + (<usize>i << 2));
  }
  return load<i32>(cand + (<usize>last << 2)); // rounding left r at or past the final cdf
}

// @ts-ignore: decorator
@inline function prob(p: usize, cand: usize, i: i32): f32 {
  return load<f32>(p + (<usize>load<i32>(cand + (<usize>i << 2)) << 2));
}

/** True when token a sorts after token b: lower probability, or equal probability and a higher id. */
// @ts-ignore: decorator
@inline function after(p: usize, a: i32, b: i32): bool {
  const pa = load<f32>(p + (<usize>a << 2));
  const pb = load<f32>(p + (<usize>b << 2));
  return pa < pb || (pa == pb && a > b);
}

/**
 * Heapsort of ids cand (n,) by descending probability, ascending id on ties: a total order, so the result
 * is the host's whatever the algorithm, in place and without recursion.
 */
function sortByProbability(cand: usize, n: i32, p: usize): void {
  for (let start = (n >> 1) - 1; start >= 0; start--) siftDown(cand, start, n, p);
  for (let end = n - 1; end > 0; end--) {
    swap(cand, 0, end);
    siftDown(cand, 0, end, p);
  }
}

function siftDown(cand: usize, root: i32, end: i32, p: usize): void {
  for (;;) {
    let child = 2 * root + 1;
    if (child >= end) return;
    if (child + 1 < end && after(p, load<i32>(cand + (<usize>(child + 1) << 2)), load<i32>(cand + (<usize>child << 2)))) child++;
    if (!after(p, load<i32>(cand + (<usize>child << 2)), load<i32>(cand + (<usize>root << 2)))) return;
    swap(cand, root, child);
    root = child;
  }
}

// @ts-ignore: decorator
@inline function swap(cand: usize, i: i32, j: i32): void {
  const a = cand + (<usize>i << 2);
  const b = cand + (<usize>j << 2);
  const t = load<i32>(a);
  store<i32>(a, load<i32>(b));
  store<i32>(b, t);
}
