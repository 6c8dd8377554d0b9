// The on-device decoder (reactor ABI). The host writes a plan block and the weights into this module's
// memory, then calls init(planPtr). Nothing is allocated after that: every buffer is an address taken from
// the plan, and the module's memory has minimum == maximum pages.
//
//   init(planPtr) -> status        reset()          position() -> tokens in the cache     truncate(n)
//   step(token) -> logitsPtr       prefill(tokensPtr, n) -> logitsPtr       lastError() -> status
// A pointer result of 0 means failure; lastError() says why (DecoderStatus in assembly/abi.generated.ts).

import { matmul, rmsnorm, layerNorm, addInPlace, addBias, swiglu, gelu } from "./kernels";
import { configureProjections, input, project, F32, Q8_0, Q4_0, F16 } from "./project";
import { dequantizeRowQ8, dequantizeRowQ4 } from "./quant";
import { storeRowQ8 } from "./cache-q8";
import { storeRowF16, rowF16 } from "./f16";
import { ropeInPlace, fillRopeTable, slimAttention, vanillaAttention, BLOCK, CACHE_F32, CACHE_Q8, CACHE_F16, rowBytesOf } from "./attention";
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
let theta: f64 = 0;
let layerBase: usize = 0; // first per-layer slot block

// Weights and buffers (byte addresses).
let embedding: usize = 0; // (vocab, dim)
let finalNorm: usize = 0; // (dim,)
let classifier: usize = 0; // (vocab, dim)
let ropeTable: usize = 0; // (ctx, 2·headDim) when any layer is slim
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
let u: usize = 0; // (heads, dim) slim U = A·K
let logits: usize = 0; // (vocab,)
let rotatedKeys: bool = false; // slim layers cache rotated keys (the measured alternative); see attention.ts
let kBlock: usize = 0; // (BLOCK, dim) keys rotated back, only with rotatedKeys
let softmaxState: usize = 0; // (heads, 2) running max and sum of the slim one-pass softmax
let weightType: i32 = F32; // storage of weight matrices (norms are always f32)
let groupSize: i32 = 32; // Q8_0 values per scale
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
  theta = <f64>reinterpret<f32>(slot(plan, P.ropeTheta));
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
  if (activation < A.SWIGLU || activation > A.GELU_TANH || rotaryDims < 0 || rotaryDims > headDim || rotaryDims & 1) return (status = S.PLAN_BAD_DIMS);
  if (layerNormed && finalNormBias == 0) return (status = S.PLAN_BAD_DIMS);
  layerBase = plan + (<usize>PLAN_HEADER_SLOTS << 2);
  // Every address the plan hands out must leave room for its buffer below `total`.
  if (weightType < F32 || weightType > F16) return (status = S.PLAN_BAD_DIMS);
  if ((weightType == Q8_0 || weightType == Q4_0) && (groupSize <= 0 || dim % groupSize != 0 || hidden % groupSize != 0)) return (status = S.PLAN_BAD_DIMS);
  if (weightType == Q4_0 && groupSize != 32) return (status = S.PLAN_BAD_DIMS); // the packed layout is per 32
  const d4 = <u64>dim << 2;
  const hid4 = <u64>hidden << 2;
  const kvDim = <u64>(nKvHeads * headDim);
  let ok = fits(embedding, mbytes(vocab, dim), total) && fits(classifier, mbytes(vocab, dim), total) && fits(finalNorm, d4, total);
  ok = ok && fits(logits, <u64>vocab << 2, total) && fits(att, (<u64>nHeads * <u64>ctx) << 2, total);
  ok = ok && fits(x, d4, total) && fits(xn, d4, total) && fits(q, d4, total) && fits(ao, d4, total) && fits(xo, d4, total);
  ok = ok && fits(fn, d4, total) && fits(fo, d4, total) && fits(h1, hid4, total) && fits(h3, hid4, total);
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
  if (ok && anySlim) {
    ok = fits(ropeTable, (<u64>ctx * <u64>headDim) << 3, total) && fits(u, <u64>nHeads * d4, total);
    ok = ok && fits(softmaxState, <u64>nHeads << 3, total);
    ok = ok && (!rotatedKeys || fits(kBlock, <u64>BLOCK * d4, total));
  }
  const widest = <u64>max(dim, hidden);
  if (ok && (weightType == Q8_0 || weightType == Q4_0)) ok = fits(xq, widest, total) && fits(xs, (widest / <u64>groupSize) << 2, total);
  if (ok && cache != CACHE_F32) ok = !rotatedKeys && fits(kNew, kvDim << 2, total) && fits(vNew, kvDim << 2, total);
  if (!ok) return (status = S.PLAN_OUT_OF_MEMORY);
  configureProjections(weightType, groupSize, xq, xs);
  if (ok && positionEmbedding != 0) ok = fits(positionEmbedding, <u64>ctx * d4, total);
  if (ok && finalNormBias != 0) ok = fits(finalNormBias, d4, total);
  for (let l = 0; l < nLayers && ok; l++) {
    // optional biases, the slots attnNormBias..b2: 0 = absent; (kvDim,) for bk and bv, (hidden,) for b1, else (dim,)
    for (let i = L.attnNormBias; i <= L.b2 && ok; i++) {
      const b = layerSlot(l, i);
      const bytes: u64 = i == L.bk || i == L.bv ? kvDim << 2 : i == L.b1 ? <u64>hidden << 2 : d4;
      if (b != 0) ok = fits(b, bytes, total);
    }
  }
  if (!ok) return (status = S.PLAN_OUT_OF_MEMORY);
  if (anySlim) fillRopeTable(ropeTable, ctx, headDim, rotaryDims, theta);
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

/** out <- norm(x): RMSNorm (weight) or LayerNorm (weight and bias). */
// @ts-ignore: decorator
@inline function normalize(out: usize, x: usize, w: usize, b: usize): void {
  if (layerNormed) layerNorm(out, x, w, b, dim, eps);
  else rmsnorm(out, x, w, dim, eps);
}

/** One transformer step for `token` at position pos; logits only when asked (prefill skips them). */
function forward(token: i32, wantLogits: bool): void {
  const d = dim;
  const n = pos + 1;
  const kvDim = nKvHeads * headDim;
  if (weightType == Q8_0) dequantizeRowQ8(x, embedding, vocab, token, d, groupSize);
  else if (weightType == Q4_0) dequantizeRowQ4(x, embedding, vocab, token, d);
  else if (weightType == F16) rowF16(x, embedding, token, d);
  else memory.copy(x, embedding + <usize>token * (<usize>d << 2), <usize>d << 2);
  if (positionEmbedding != 0) addInPlace(x, positionEmbedding + <usize>pos * (<usize>d << 2), d);
  for (let l = 0; l < nLayers; l++) {
    const slim = layerSlot(l, L.slim) == 1;
    const wk = layerSlot(l, L.wk);
    const wvOrWkv = layerSlot(l, L.wvOrWkv);
    const kCache = layerSlot(l, L.kCache);
    const rowBytes = rowBytesOf(cache, kvDim);
    const staged = cache != CACHE_F32;
    const kRow = kCache + <usize>pos * rowBytes;
    const kOut = staged ? kNew : kRow; // f32 key: straight into its row, or staged for conversion

    // attention: q and this position's key (and value, vanilla) straight into their cache rows
    normalize(xn, x, layerSlot(l, L.attnNorm), layerSlot(l, L.attnNormBias));
    input(xn, d);
    project(q, layerSlot(l, L.wq), d, 0, d);
    addBias(q, layerSlot(l, L.bq), d);
    if (slim) matmul(kOut, wk, xn, kvDim, d); // f32 in every plan: K errors pass through W_KV into V
    else project(kOut, wk, kvDim, 0, kvDim);
    addBias(kOut, layerSlot(l, L.bk), kvDim); // slim caches keys with b_K; its V side is folded into b_O
    ropeInPlace(q, d, headDim, rotaryDims, pos, theta);
    if (slim) {
      if (rotatedKeys) ropeInPlace(kOut, kvDim, headDim, rotaryDims, pos, theta);
      if (staged) storeRow(kRow, kNew, kvDim);
      slimAttention(ao, q, att, u, softmaxState, kCache, wvOrWkv, ropeTable, kBlock, rotatedKeys, cache, nHeads, headDim, d, ctx, n);
    } else {
      const vCache = layerSlot(l, L.vCache);
      const vRow = vCache + <usize>pos * rowBytes;
      const vOut = staged ? vNew : vRow;
      project(vOut, wvOrWkv, kvDim, 0, kvDim);
      addBias(vOut, layerSlot(l, L.bv), kvDim);
      ropeInPlace(kOut, kvDim, headDim, rotaryDims, pos, theta);
      if (staged) {
        storeRow(kRow, kNew, kvDim);
        storeRow(vRow, vNew, kvDim);
      }
      vanillaAttention(ao, q, att, kCache, vCache, cache, nHeads, nKvHeads, headDim, ctx, n);
    }
    input(ao, d);
    project(xo, layerSlot(l, L.wo), d, 0, d);
    addBias(xo, layerSlot(l, L.bo), d);
    if (!parallelResidual) addInPlace(x, xo, d);

    // feed-forward: x += W2 (silu(W1 xn) ⊙ W3 xn), or W2 gelu(W1 xn + b1) + b2; in parallel with attention for NeoX
    normalize(fn, x, layerSlot(l, L.ffnNorm), layerSlot(l, L.ffnNormBias));
    input(fn, d);
    project(h1, layerSlot(l, L.w1), hidden, 0, hidden);
    addBias(h1, layerSlot(l, L.b1), hidden);
    if (activation == A.SWIGLU) {
      project(h3, layerSlot(l, L.w3), hidden, 0, hidden);
      swiglu(h1, h3, hidden);
    } else gelu(h1, hidden, activation == A.GELU_TANH);
    input(h1, hidden);
    project(fo, layerSlot(l, L.w2), d, 0, d);
    addBias(fo, layerSlot(l, L.b2), d);
    if (parallelResidual) addInPlace(x, xo, d);
    addInPlace(x, fo, d);
  }
  if (wantLogits) {
    normalize(x, x, finalNorm, finalNormBias);
    input(x, d);
    project(logits, classifier, vocab, 0, vocab);
  }
  pos = n;
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
  forward(token, true);
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
  for (let i = 0; i < n; i++) forward(load<i32>(tokens + (<usize>i << 2)), i == n - 1);
  status = S.OK;
  return logits;
}
