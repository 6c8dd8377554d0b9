/**
 * An estimate of on-board decode speed from counted work: for one token at a given cache length, the bytes
 * the decoder must move from the memory the arena lives in, and the multiply-accumulates it must do, set
 * against a board's sustained bandwidth and MAC rate. Each phase (weight matmuls, attention) costs
 * max(bytes / bandwidth, MACs / rate) — a roofline per phase — and the phases add up.
 *
 * It is a model, not a measurement: it ignores caches (a board whose arena fits in SRAM does better than
 * its PSRAM bandwidth says), interpreter dispatch beyond what the MAC rate already includes, and the
 * softmax's exponentials. The counts themselves are exact for the decoder in assembly/.
 */
import type { ArenaPlan } from "./plan.ts";
import { headDim, kvDim } from "./model.ts";

export interface Throughput {
  memoryBytesPerSecond: number; // sustained reads from the memory holding the arena
  macsPerSecond: number; // f32 multiply-accumulates per second on that board's runtime (SIMD or not)
}

export interface TokenWork {
  weightBytes: number; // weight bytes streamed once per token
  weightMacs: number;
  attentionBytes: number; // cache (and RoPE table) bytes read per token at this cache length
  attentionMacs: number;
}

/** Exact counts of one decode step at cache length n (the new token included) for this plan. */
export function tokenWork(plan: ArenaPlan, n: number): TokenWork {
  const c = plan.config;
  const d = c.dim;
  const kv = kvDim(c);
  const hd = headDim(c);
  let weightBytes = plan.finalNorm.size + plan.embedding.size / c.vocabSize; // one embedding row
  weightBytes += plan.config.sharedClassifier ? plan.embedding.size : plan.classifier.size;
  weightBytes += plan.classifierBias?.size ?? 0;
  let weightMacs = c.vocabSize * d;
  let attentionBytes = 0;
  let attentionMacs = 0;
  const cacheRow = plan.layers[0].kCache.size / plan.ctx;
  plan.layers.forEach((l) => {
    for (const t of [l.attnNorm, l.wq, l.wk, l.wvOrWkv, l.wo, l.ffnNorm, l.w1, l.w2, l.w3]) weightBytes += t.size;
    weightMacs += d * d + kv * d + d * d + 3 * c.hiddenDim * d; // q, k, o, FFN
    if (l.mode === "slim") {
      weightMacs += d * d; // head_i = W_KV,i · U_i over all heads
      attentionBytes += n * cacheRow + n * 2 * hd * 4; // K rows and the RoPE table rows
      attentionMacs += n * d * 2 + c.nHeads * n * d; // rotated scores (rotation ≈ one more MAC per value), U = A·K
    } else {
      weightMacs += kv * d; // v
      attentionBytes += 2 * n * cacheRow; // K and V rows
      attentionMacs += c.nHeads * n * hd * 2; // scores and the value mix
    }
  });
  return { weightBytes, weightMacs, attentionBytes, attentionMacs };
}

/** Estimated decode tokens/s at cache length n on a board with this throughput. */
export function estimateTokensPerSecond(plan: ArenaPlan, n: number, board: Throughput): number {
  const w = tokenWork(plan, n);
  const phase = (bytes: number, macs: number) => Math.max(bytes / board.memoryBytesPerSecond, macs / board.macsPerSecond);
  return 1 / (phase(w.weightBytes, w.weightMacs) + phase(w.attentionBytes, w.attentionMacs));
}
