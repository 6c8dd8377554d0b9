// The on-device decoder (reactor ABI). The host writes a plan block and the weights into this module's
// memory, then calls init(planPtr). Nothing is allocated after that: every buffer is an address taken from
// the plan, and the module's memory has minimum == maximum pages.
//
//   init(planPtr) -> status        reset()          position() -> tokens in the cache     truncate(n)
//   step(token) -> logitsPtr       prefill(tokensPtr, n) -> logitsPtr       lastError() -> status
// A pointer result of 0 means failure; lastError() says why (DecoderStatus in assembly/abi.generated.ts).

import { matmul, rowF32, rmsnorm, layerNorm, addInPlace, addBias, swiglu, gelu } from "./kernels";
import { configureProjections, input, project, F32, Q8_0, Q4_0, F16 } from "./project";
import { dequantizeRowQ8, dequantizeRowQ4 } from "./quant";
import { storeRowQ8 } from "./cache-q8";
import { storeRowF16, rowF16 } from "./f16";
import { ropeFromTable, slimAttention, slimValues, vanillaAttention, BLOCK, CACHE_F32, CACHE_Q8, CACHE_F16, rowBytesOf } from "./attention";
import * as readOnly from "./read-only";
import { DecoderStatus as S, PlanSlot as P, LayerSlot as L, ActivationCode as A, PLAN_MAGIC, PLAN_VERSION, PLAN_HEADER_SLOTS, PLAN_LAYER_SLOTS } from "./abi.generated";

// Model and plan, read once by init.
let dim: i32 = 0; // transformer width
let hidden: i32 = 0; // FFN inner width
let nLayers: i32 = 0;
let nHeads: i32 = 0;
let nKvHeads: i32 = 0;
let headDim: i32 = 0;
let vocab: i32 = 0;
let ctx: i32 = 0; // planned context length (cache rows)
let eps: f32 = 0;
let layerBase: usize = 0; // first per-layer slot block

// Weights and buffers (byte addresses).
let embedding: usize = 0; // (vocab, dim)
let finalNorm: usize = 0; // (dim,)
let classifier: usize = 0; // (vocab, dim)
let ropeTable: usize = 0; // (ctx, 2·headDim), written by the host: where RoPE turns any dim or any layer is slim
let x: usize = 0; // (dim,) residual stream
let xn: usize = 0; // (dim,) normed input
let q: usize = 0; // (dim,)
let att: usize = 0; // (heads, ctx)
let ao: usize = 0; // (dim,) attention output, heads concatenated
let xo: usize = 0; // (dim,)
let fn: usize = 0; // (dim,)
let h1: usize = 0; // (hidden,)
let h3: usize = 0; // (hidden,)
let fo: usize = 0; // (dim,)
let u: usize = 0; // (B, heads, dim) slim U = A·K per token of the block
let logits: usize = 0; // (vocab,)
let rotatedKeys: bool = false; // slim layers cache rotated keys (the measured alternative); see attention.ts
let kBlock: usize = 0; // (BLOCK, dim) keys rotated back, only with rotatedKeys
let softmaxState: usize = 0; // (B, heads, 2) running max and sum of the slim one-pass softmax, per token
let weightType: i32 = F32; // storage of weight matrices (norms are always f32)
let groupSize: i32 = 32; // Q8_0 / Q4_0 values per scale
let cache: i32 = CACHE_F32; // cache rows: f32, Q8 (int8 values plus a scale, assembly/cache-q8.ts) or f16
let kNew: usize = 0; // (kvDim,) f32: this position's key before it is quantized into its row (Q8 cache only)
let vNew: usize = 0; // (kvDim,) f32: likewise its value (vanilla layers)
// Architecture (Llama: RMSNorm, SwiGLU, RoPE on every head dim, sequential residual, no biases)
let layerNormed: bool = false; // LayerNorm with bias instead of RMSNorm
let activation: i32 = A.SWIGLU; // SwiGLU, GELU (erf) or GELU (tanh form)
let rotaryDims: i32 = 0; // dims per head that RoPE turns (0: none)
let positionEmbedding: usize = 0; // (ctx, dim) learned positions, or 0
let parallelResidual: bool = false; // x + attn(norm1 x) + ffn(norm2 x)
let finalNormBias: usize = 0; // (dim,) LayerNorm only
let classifierBias: usize = 0; // (vocab,) added to the logits, or 0 (Phi-2's lm_head)
let blockTokens: i32 = 1; // B: prompt tokens per prefill block; x, xn, q, ao, xo, fn, h1, h3, fo, u, softmax_state, k_new, v_new, and x_q8 hold B rows

let pos: i32 = 0; // tokens already in the cache
let initialized: bool = false; // set only by a successful init; a refused plan leaves the module unusable
let status: i32 = S.NOT_INITIALIZED;

// @ts-ignore: decorator
@inline function slot(base: usize, i: i32): i32 {
  return load<i32>(base + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function layerSlot(l: i32, i: i32): usize {
  return <usize>load<i32>(layerBase + (<usize>(l * PLAN_LAYER_SLOTS + i) << 2));
}

// @ts-ignore: decorator
@inline function moved(a: usize): usize {
  return a == 0 ? 0 : a + readOnly.delta;
}

/** Reads and checks the plan; every region must lie inside this module's fixed memory. */
export function init(plan: usize): i32 {
  initialized = false;
  const memBytes = <u64>memory.size() << 16;
  if (<u64>plan + <u64>(PLAN_HEADER_SLOTS << 2) > memBytes) return (status = S.PLAN_OUT_OF_MEMORY);
  if (slot(plan, P.magic) != PLAN_MAGIC) return (status = S.PLAN_BAD_MAGIC);
  if (slot(plan, P.version) != PLAN_VERSION) return (status = S.PLAN_BAD_VERSION);
  dim = slot(plan, P.dim);
  hidden = slot(plan, P.hidden);
  nLayers = slot(plan, P.nLayers);
  nHeads = slot(plan, P.nHeads);
  nKvHeads = slot(plan, P.nKvHeads);
  headDim = slot(plan, P.headDim);
  vocab = slot(plan, P.vocab);
  ctx = slot(plan, P.ctx);
  eps = reinterpret<f32>(slot(plan, P.normEps));
  const total = <u32>slot(plan, P.totalBytes);
  const staticEnd = <usize>slot(plan, P.staticBytes);
  if (dim <= 0 || hidden <= 0 || nLayers <= 0 || nHeads <= 0 || nKvHeads <= 0 || vocab <= 0 || ctx <= 0) return (status = S.PLAN_BAD_DIMS);
  if (headDim * nHeads != dim || headDim & 1 || nHeads % nKvHeads != 0) return (status = S.PLAN_BAD_DIMS);
  if (<u64>total > memBytes) return (status = S.PLAN_OUT_OF_MEMORY);
  if (__heap_base > staticEnd) return (status = S.STATIC_TOO_LARGE);
  if (<u64>plan + <u64>((PLAN_HEADER_SLOTS + nLayers * PLAN_LAYER_SLOTS) << 2) > <u64>total) return (status = S.PLAN_OUT_OF_MEMORY);
  embedding = <usize>slot(plan, P.embedding);
  finalNorm = <usize>slot(plan, P.finalNorm);
  classifier = <usize>slot(plan, P.classifier);
  ropeTable = <usize>slot(plan, P.ropeTable);
  x = <usize>slot(plan, P.x);
  xn = <usize>slot(plan, P.xn);
  q = <usize>slot(plan, P.q);
  att = <usize>slot(plan, P.att);
  ao = <usize>slot(plan, P.ao);
  xo = <usize>slot(plan, P.xo);
  fn = <usize>slot(plan, P.fn);
  h1 = <usize>slot(plan, P.h1);
  h3 = <usize>slot(plan, P.h3);
  fo = <usize>slot(plan, P.fo);
  u = <usize>slot(plan, P.u);
  logits = <usize>slot(plan, P.logits);
  rotatedKeys = slot(plan, P.rotatedKeys) == 1;
  kBlock = <usize>slot(plan, P.kBlock);
  softmaxState = <usize>slot(plan, P.softmaxState);
  weightType = slot(plan, P.weights);
  groupSize = slot(plan, P.groupSize);
  const xq = <usize>slot(plan, P.xQ8);
  const xs = <usize>slot(plan, P.xScales);
  cache = slot(plan, P.cache);
  if (cache < CACHE_F32 || cache > CACHE_F16) return (status = S.PLAN_BAD_DIMS);
  kNew = <usize>slot(plan, P.kNew);
  vNew = <usize>slot(plan, P.vNew);
  layerNormed = slot(plan, P.layerNorm) == 1;
  activation = slot(plan, P.activation);
  rotaryDims = slot(plan, P.rotaryDims);
  positionEmbedding = <usize>slot(plan, P.positionEmbedding);
  parallelResidual = slot(plan, P.parallelResidual) == 1;
  finalNormBias = <usize>slot(plan, P.finalNormBias);
  classifierBias = <usize>slot(plan, P.classifierBias);
  blockTokens = slot(plan, P.prefillBlock);
  if (blockTokens < 1) return (status = S.PLAN_BAD_DIMS);
  if (activation < A.SWIGLU || activation > A.GELU_TANH || rotaryDims < 0 || rotaryDims > headDim || rotaryDims & 1) return (status = S.PLAN_BAD_DIMS);
  if (layerNormed && finalNormBias == 0) return (status = S.PLAN_BAD_DIMS);
  layerBase = plan + (<usize>PLAN_HEADER_SLOTS << 2);
  // Every address the plan hands out must leave room for its buffer below `total`.
  if (weightType < F32 || weightType > F16) return (status = S.PLAN_BAD_DIMS);
  if ((weightType == Q8_0 || weightType == Q4_0) && (groupSize <= 0 || dim % groupSize != 0 || hidden % groupSize != 0)) return (status = S.PLAN_BAD_DIMS);
  if (weightType == Q4_0 && (groupSize & 1) != 0) return (status = S.PLAN_BAD_DIMS); // two values per byte
  const d4 = <u64>dim << 2;
  const hid4 = <u64>hidden << 2;
  const kvDim = <u64>(nKvHeads * headDim);
  const b = <u64>blockTokens;
  let ok = fits(embedding, mbytes(vocab, dim), total) && fits(classifier, mbytes(vocab, dim), total) && fits(finalNorm, d4, total);
  ok = ok && fits(logits, <u64>vocab << 2, total) && fits(att, (<u64>nHeads * <u64>ctx) << 2, total);
  ok = ok && fits(x, b * d4, total) && fits(xn, b * d4, total) && fits(q, b * d4, total) && fits(ao, b * d4, total) && fits(xo, b * d4, total);
  ok = ok && fits(fn, b * d4, total) && fits(fo, b * d4, total) && fits(h1, b * hid4, total) && fits(h3, b * hid4, total);
  let anySlim = false;
  for (let l = 0; l < nLayers && ok; l++) {
    const slim = layerSlot(l, L.slim) == 1;
    if (slim && nKvHeads != nHeads) return (status = S.PLAN_BAD_DIMS);
    anySlim = anySlim || slim;
    const kv = <i32>kvDim;
    ok = fits(layerSlot(l, L.attnNorm), d4, total) && fits(layerSlot(l, L.wq), mbytes(dim, dim), total); // attn norm, wq
    ok = ok && fits(layerSlot(l, L.wk), slim ? (<u64>kv * d4) : mbytes(kv, dim), total); // wk (f32 in slim layers)
    ok = ok && fits(layerSlot(l, L.wvOrWkv), slim ? (<u64>kv * d4) : mbytes(kv, dim), total); // W_KV (always f32) | wv
    ok = ok && fits(layerSlot(l, L.wo), mbytes(dim, dim), total) && fits(layerSlot(l, L.ffnNorm), d4, total); // wo, ffn norm
    ok = ok && fits(layerSlot(l, L.w1), mbytes(hidden, dim), total) && fits(layerSlot(l, L.w2), mbytes(dim, hidden), total); // w1, w2
    ok = ok && (activation != A.SWIGLU || fits(layerSlot(l, L.w3), mbytes(hidden, dim), total)); // w3, SwiGLU only
    const cacheBytes = <u64>ctx * <u64>rowBytesOf(cache, <i32>kvDim);
    ok = ok && fits(layerSlot(l, L.kCache), cacheBytes, total); // K-cache
    ok = ok && (slim || fits(layerSlot(l, L.vCache), cacheBytes, total)); // V-cache
  }
  // the RoPE table, written by the host with the weights (host/core/rope.ts): every rotation reads it
  if (ok && (anySlim || rotaryDims > 0)) ok = fits(ropeTable, (<u64>ctx * <u64>headDim) << 3, total);
  if (ok && anySlim) {
    ok = fits(u, b * <u64>nHeads * d4, total);
    ok = ok && fits(softmaxState, b * (<u64>nHeads << 3), total);
    ok = ok && (!rotatedKeys || fits(kBlock, <u64>BLOCK * d4, total));
  }
  const widest = <u64>max(dim, hidden);
  if (ok && (weightType == Q8_0 || weightType == Q4_0)) ok = fits(xq, b * widest, total) && fits(xs, b * ((widest / <u64>groupSize) << 2), total);
  if (ok && cache != CACHE_F32) ok = !rotatedKeys && fits(kNew, b * (kvDim << 2), total) && fits(vNew, b * (kvDim << 2), total);
  if (!ok) return (status = S.PLAN_OUT_OF_MEMORY);
  configureProjections(weightType, groupSize, xq, xs);
  if (ok && positionEmbedding != 0) ok = fits(positionEmbedding, <u64>ctx * d4, total);
  if (ok && finalNormBias != 0) ok = fits(finalNormBias, d4, total);
  if (ok && classifierBias != 0) ok = fits(classifierBias, <u64>vocab << 2, total);
  for (let l = 0; l < nLayers && ok; l++) {
    // optional biases, the slots attnNormBias..b2: 0 = absent; (kvDim,) for bk and bv, (hidden,) for b1, else (dim,)
    for (let i = L.attnNormBias; i <= L.b2 && ok; i++) {
      const b = layerSlot(l, i);
      const bytes: u64 = i == L.bk || i == L.bv ? kvDim << 2 : i == L.b1 ? <u64>hidden << 2 : d4;
      if (b != 0) ok = fits(b, bytes, total);
    }
  }
  if (!ok) return (status = S.PLAN_OUT_OF_MEMORY);
  // The read-only regions where the firmware reads them (ARCHITECTURE.md, "Weights in flash"): the delta
  // is added once, here, to the checked addresses — the globals and the plan block's layer weight slots, so
  // the layer loop reads its weights exactly as without — and the slot is cleared (a later init would refuse
  // the moved addresses; the firmware calls init once). 0 on every host: nothing moves.
  readOnly.setDelta(<usize>slot(plan, P.readOnlyDelta));
  if (readOnly.delta != 0) {
    for (let l = 0; l < nLayers; l++) {
      for (let i = L.attnNorm; i < PLAN_LAYER_SLOTS; i++) {
        const at = layerBase + (<usize>(l * PLAN_LAYER_SLOTS + i) << 2);
        const a = load<u32>(at);
        if (i != L.kCache && i != L.vCache && a != 0) store<u32>(at, a + <u32>readOnly.delta);
      }
    }
    store<i32>(plan + (<usize>P.readOnlyDelta << 2), 0);
  }
  embedding = moved(embedding);
  finalNorm = moved(finalNorm);
  classifier = moved(classifier);
  ropeTable = moved(ropeTable);
  positionEmbedding = moved(positionEmbedding);
  finalNormBias = moved(finalNormBias);
  classifierBias = moved(classifierBias);
  pos = 0;
  initialized = true;
  return (status = S.OK);
}

/** Bytes of a (rows, cols) weight matrix in this plan's storage. */
function mbytes(rows: i32, cols: i32): u64 {
  const n = <u64>rows * <u64>cols;
  if (weightType == Q8_0) return n + ((n / <u64>groupSize) << 2);
  if (weightType == Q4_0) return (n >> 1) + ((n / <u64>groupSize) << 2);
  if (weightType == F16) return n << 1;
  return n << 2;
}

// @ts-ignore: decorator
@inline function fits(addr: usize, bytes: u64, total: u32): bool {
  return addr != 0 && <u64>addr + bytes <= <u64>total;
}

/** Forgets the cached context; weights and plan stay. */
export function reset(): void {
  pos = 0;
}

/** Keeps only the first n cached tokens (n ≤ position): rewinds a conversation without recomputing it. */
export function truncate(n: i32): i32 {
  if (!initialized) return (status = S.NOT_INITIALIZED);
  if (n < 0 || n > pos) return (status = S.BAD_TOKEN);
  pos = n;
  return S.OK;
}

export function position(): i32 {
  return pos;
}

export function lastError(): i32 {
  return status;
}

/** Writes x (n,) into a cache row in the cache's storage. */
function storeRow(dst: usize, x: usize, n: i32): void {
  if (cache == CACHE_Q8) storeRowQ8(dst, x, n);
  else storeRowF16(dst, x, n);
}

/** Rotates v (n,) for position p by the RoPE table's row p: no transcendental function in the module. */
// @ts-ignore: decorator
@inline function rope(v: usize, n: i32, p: i32): void {
  if (rotaryDims != 0) ropeFromTable(v, n, headDim, rotaryDims, ropeTable + <usize>p * (<usize>headDim << 3));
}

/** out <- norm(x): RMSNorm (weight) or LayerNorm (weight and bias). */
// @ts-ignore: decorator
@inline function normalize(out: usize, x: usize, w: usize, b: usize): void {
  if (layerNormed) layerNorm(out, x, w, b, dim, eps);
  else rmsnorm(out, x, w, dim, eps);
}

/**
 * Layer l for n tokens at positions p … p + n − 1, their residual rows x[0 … n): keys (and values, vanilla)
 * into their cache rows, then, when `full`, attention and the feed-forward into x. Without `full` the
 * layer stops once the rows are cached: the last layer's output is read only by the classifier, so a
 * prompt's tokens other than the last need nothing more from it (forwardBlock).
 */
function layer(l: i32, n: i32, p: i32, full: bool): void {
  const d = dim;
  const kvDim = nKvHeads * headDim;
  const dRow = <usize>d << 2;
  const hRow = <usize>hidden << 2;
  const kvRow = <usize>kvDim << 2;
  const uRow = <usize>nHeads * dRow;
  const stateRow = <usize>nHeads << 3;
  const slim = layerSlot(l, L.slim) == 1;
  const wk = layerSlot(l, L.wk);
  const wvOrWkv = layerSlot(l, L.wvOrWkv);
  const kCache = layerSlot(l, L.kCache);
  const rowBytes = rowBytesOf(cache, kvDim);
  const staged = cache != CACHE_F32;
  // f32 keys go straight into their rows (the block's rows are consecutive), others are staged for conversion
  const kOut = staged ? kNew : kCache + <usize>p * rowBytes;

  // attention: q, and the block's keys (and values, vanilla) into their cache rows
  for (let t = 0; t < n; t++) normalize(xn + <usize>t * dRow, x + <usize>t * dRow, layerSlot(l, L.attnNorm), layerSlot(l, L.attnNormBias));
  // slim W_K is f32 in every plan (K errors pass through W_KV into V), and reads xn before `input` may pack over it
  if (slim) matmul(kOut, wk, xn, kvDim, d, n);
  if (full || !slim) input(xn, d, n);
  if (full) {
    project(q, layerSlot(l, L.wq), d);
    for (let t = 0; t < n; t++) addBias(q + <usize>t * dRow, layerSlot(l, L.bq), d);
  }
  if (!slim) project(kOut, wk, kvDim);
  for (let t = 0; t < n; t++) {
    addBias(kOut + <usize>t * kvRow, layerSlot(l, L.bk), kvDim); // slim caches keys with b_K; its V side is folded into b_O
    if (full) rope(q + <usize>t * dRow, d, p + t);
  }
  if (slim) {
    for (let t = 0; t < n; t++) {
      if (rotatedKeys) rope(kOut + <usize>t * kvRow, kvDim, p + t);
      if (staged) storeRow(kCache + <usize>(p + t) * rowBytes, kNew + <usize>t * kvRow, kvDim);
    }
    if (!full) return;
    for (let t = 0; t < n; t++) {
      slimAttention(q + <usize>t * dRow, att, u + <usize>t * uRow, softmaxState + <usize>t * stateRow, kCache, ropeTable, kBlock, rotatedKeys, cache, nHeads, headDim, d, ctx, p + t + 1);
    }
    slimValues(ao, u, softmaxState, wvOrWkv, nHeads, headDim, d, n);
  } else {
    const vCache = layerSlot(l, L.vCache);
    const vOut = staged ? vNew : vCache + <usize>p * rowBytes;
    project(vOut, wvOrWkv, kvDim);
    for (let t = 0; t < n; t++) {
      addBias(vOut + <usize>t * kvRow, layerSlot(l, L.bv), kvDim);
      rope(kOut + <usize>t * kvRow, kvDim, p + t);
      if (staged) {
        storeRow(kCache + <usize>(p + t) * rowBytes, kNew + <usize>t * kvRow, kvDim);
        storeRow(vCache + <usize>(p + t) * rowBytes, vNew + <usize>t * kvRow, kvDim);
      }
    }
    if (!full) return;
    for (let t = 0; t < n; t++) {
      vanillaAttention(ao + <usize>t * dRow, q + <usize>t * dRow, att, kCache, vCache, cache, nHeads, nKvHeads, headDim, ctx, p + t + 1);
    }
  }
  input(ao, d, n);
  project(xo, layerSlot(l, L.wo), d);
  for (let t = 0; t < n; t++) addBias(xo + <usize>t * dRow, layerSlot(l, L.bo), d);
  if (!parallelResidual) addInPlace(x, xo, n * d);

  // feed-forward: x += W2 (silu(W1 xn) ⊙ W3 xn), or W2 gelu(W1 xn + b1) + b2; in parallel with attention for NeoX
  for (let t = 0; t < n; t++) normalize(fn + <usize>t * dRow, x + <usize>t * dRow, layerSlot(l, L.ffnNorm), layerSlot(l, L.ffnNormBias));
  input(fn, d, n);
  project(h1, layerSlot(l, L.w1), hidden);
  for (let t = 0; t < n; t++) addBias(h1 + <usize>t * hRow, layerSlot(l, L.b1), hidden);
  if (activation == A.SWIGLU) {
    project(h3, layerSlot(l, L.w3), hidden);
    swiglu(h1, h3, n * hidden);
  } else gelu(h1, n * hidden, activation == A.GELU_TANH);
  input(h1, hidden, n);
  project(fo, layerSlot(l, L.w2), d);
  for (let t = 0; t < n; t++) addBias(fo + <usize>t * dRow, layerSlot(l, L.b2), d);
  if (parallelResidual) addInPlace(x, xo, n * d);
  addInPlace(x, fo, n * d);
}

/**
 * n ≤ B tokens at positions pos … pos + n − 1 through every layer (n = 1 while decoding, a block of the
 * prompt while prefilling): each weight matrix is read once for the whole block (the kernels take n
 * inputs), keys and values of the block go into their cache rows first, and then each token attends
 * causally to the rows up to its own. Logits (of the last token) only when asked. `tokens` points at n
 * token ids, or is 0 for the single token `one`.
 */
function forwardBlock(tokens: usize, one: i32, n: i32, wantLogits: bool): void {
  const dRow = <usize>dim << 2;
  for (let t = 0; t < n; t++) {
    const token = tokens == 0 ? one : load<i32>(tokens + (<usize>t << 2));
    const xt = x + <usize>t * dRow;
    if (weightType == Q8_0) dequantizeRowQ8(xt, embedding, vocab, token, dim, groupSize);
    else if (weightType == Q4_0) dequantizeRowQ4(xt, embedding, vocab, token, dim, groupSize);
    else if (weightType == F16) rowF16(xt, embedding, token, vocab, dim);
    else rowF32(xt, embedding, token, vocab, dim);
    if (positionEmbedding != 0) addInPlace(xt, positionEmbedding + <usize>(pos + t) * dRow, dim);
  }
  // The last layer: every token's key (and value) row, but attention and the feed-forward only for the
  // token whose logits are asked for (its row moved to x[0]); the rest would feed only the classifier.
  const keep = wantLogits ? 1 : 0;
  let out = x + <usize>(n - 1) * dRow;
  for (let l = 0; l < nLayers; l++) {
    if (l < nLayers - 1 || keep == n) layer(l, n, pos, true);
    else {
      if (n > keep) layer(l, n - keep, pos, false);
      if (keep > 0) {
        memory.copy(x, out, dRow);
        out = x;
        layer(l, 1, pos + n - 1, true);
      }
    }
  }
  if (wantLogits) {
    normalize(out, out, finalNorm, finalNormBias);
    input(out, dim, 1);
    project(logits, classifier, vocab);
    addBias(logits, classifierBias, vocab); // no-op when 0
  }
  pos += n;
}

// @ts-ignore: decorator
@inline function check(token: i32): bool {
  if (!initialized) {
    status = S.NOT_INITIALIZED;
    return false;
  }
  if (pos >= ctx) {
    status = S.CONTEXT_FULL;
    return false;
  }
  if (token < 0 || token >= vocab) {
    status = S.BAD_TOKEN;
    return false;
  }
  return true;
}

/** Appends one token; returns the address of the next-token logits (vocab f32), or 0. */
export function step(token: i32): usize {
  if (!check(token)) return 0;
  forwardBlock(0, token, 1, true);
  status = S.OK;
  return logits;
}

/** Appends n tokens read from tokens (n,) i32; returns the logits after the last one, or 0. */
export function prefill(tokens: usize, n: i32): usize {
  if (!initialized) return (status = S.NOT_INITIALIZED), 0;
  if (n <= 0) return (status = S.BAD_TOKEN), 0;
  if (pos + n > ctx) return (status = S.CONTEXT_FULL), 0;
  // All tokens are checked before any is consumed, so a refused prompt leaves the cache as it was.
  for (let i = 0; i < n; i++) {
    if (!check(load<i32>(tokens + (<usize>i << 2)))) return 0;
  }
  for (let i = 0; i < n; i += blockTokens) {
    const count = min(blockTokens, n - i);
    forwardBlock(tokens + (<usize>i << 2), 0, count, i + count == n);
  }
  status = S.OK;
  return logits;
}
