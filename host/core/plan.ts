/**
 * The arena plan: the one function that places every byte of the decoder's linear memory.
 *
 * Layout, in order (ARCHITECTURE.md, "Arena"):
 *   static │ plan block │ weights │ K-cache │ V-cache │ RoPE table │ activations │ logits │ scratch
 *
 * Activations are placed by lifetime within one layer step (buffers whose live ranges do not overlap share
 * bytes), greedily by size as in TFLite Micro's planner; the layer loop reuses them for every layer.
 * Nothing here depends on the compiled module except STATIC_BYTES, which the module checks at init.
 */
import { type ModelConfig, archOf, headDim, kvDim, isMultiHead } from "./model.ts";
import { fail } from "./errors.ts";
import {
  STATIC_BYTES, PLAN_MAGIC, PLAN_VERSION, PLAN_HEADER_SLOTS, PLAN_LAYER_SLOTS, COMMAND_MAGIC, COMMAND_BLOCK_SLOTS, COMMAND_ARG_BYTES_PER_TOKEN, COMMAND_MERGE_SLOT_BYTES, ROW_BLOCK,
  PlanSlot, LayerSlot, CommandSlot, WeightCode, CacheCode, ActivationCode,
} from "./abi.generated.ts";
import { formatBytes } from "./format.ts";

// The block layouts and codes the module reads are declared once in host/core/abi.ts.
export { STATIC_BYTES, PLAN_MAGIC, PLAN_VERSION, PLAN_HEADER_SLOTS, PLAN_LAYER_SLOTS, COMMAND_MAGIC, COMMAND_BLOCK_SLOTS, COMMAND_ARG_BYTES_PER_TOKEN, COMMAND_MERGE_SLOT_BYTES, ROW_BLOCK };
import { ropeTableBytes } from "./rope.ts";
import { LAYOUT_DESCRIPTION, STREAM_LAYOUT, type WeightLayout } from "./layout.ts";

export type AttentionMode = "slim" | "vanilla";

export const PAGE_BYTES = 65536;
/** Tensors and regions start on 16-byte boundaries: v128 loads and flash execute-in-place on ESP32. */
export const ALIGN = 16;
/** Weight storages the decoder in assembly/ runs; the others are for sizing (`slimedge plan`). */
export const DECODER_WEIGHTS: readonly string[] = ["f32", "q8_0", "q4_0", "f16"];
/** Cache row storages the decoder runs. */
export const DECODER_CACHES: readonly string[] = ["f32", "q8", "f16"];

/**
 * Where slim layers apply RoPE to cached keys. "pre": the cache holds keys before rotation and scores rotate
 * them on read (the default). "post": the cache holds rotated keys and the value path rotates each block
 * back into a (ROW_BLOCK, dim) scratch buffer — kept to measure the choice.
 */
export type SlimKeys = "pre" | "post";

/** The header slot holding the address of the standalone command's block (encodeCommandBlock), 0 without one. */
export const PLAN_COMMAND_SLOT = PlanSlot.command;

export interface Span {
  name: string;
  offset: number;
  size: number;
}

export interface LayerPlan {
  mode: AttentionMode;
  attnNorm: Span;
  wq: Span;
  wk: Span;
  /** Slim layers store W_KV (d×d) here instead of W_V; vanilla layers store W_V (kvDim×d). */
  wvOrWkv: Span;
  wo: Span;
  ffnNorm: Span;
  w1: Span;
  w2: Span;
  w3: Span; // SwiGLU's up projection; size 0 for GELU models, which have none
  /** LayerNorm and projection biases where the architecture has them (f32). bo of a slim layer holds the folded bias. */
  biases: { attnNorm: Span; ffnNorm: Span; bq: Span; bk: Span; bv: Span; bo: Span; b1: Span; b2: Span } | null;
  kCache: Span; // (ctx, kvDim) f32; slim layers cache keys before RoPE, vanilla after
  vCache: Span | null; // (ctx, kvDim) f32, vanilla layers only
}

export interface ArenaPlan {
  config: ModelConfig;
  ctx: number;
  modes: AttentionMode[];
  /** Top-level regions in address order; they tile [0, totalBytes) exactly. */
  regions: Span[];
  planBlock: Span;
  embedding: Span;
  positionEmbedding: Span | null; // (ctx, dim) f32, learned positions only
  finalNorm: Span;
  finalNormBias: Span | null; // LayerNorm only
  classifier: Span; // same offset as embedding when shared
  classifierBias: Span | null; // (vocab,) f32 added to the logits; only models whose classifier has a bias (Phi-2)
  layers: LayerPlan[];
  ropeTable: Span | null; // (ctx, 2·headDim) f32: duplicated cos, signed sin, written by the host; null only without RoPE and slim layers
  slimKeys: SlimKeys;
  weights: WeightDtype;
  groupSize: number;
  /** How every weight matrix is stored: rows in blocks of STREAM_ROWS, interleaved (host/core/layout.ts). */
  layout: WeightLayout;
  /** Prompt tokens per prefill block: the per-token activation buffers hold this many rows. */
  prefillBlock: number;
  kCache: CacheDtype;
  activations: Span[]; // each buffer's place inside the activations region
  logits: Span;
  tokens: Span; // (ctx,) i32 prompt buffer for prefill
  tokenizer: Span | null; // embedded tokenizer.bin bytes, standalone command only
  command: CommandPlan | null; // the standalone command's own buffers, planned with the tokenizer
  totalBytes: number;
  pages: number;
  /**
   * With `readOnlyInFlash`: the read-only tail [offset, totalBytes) — the weights, the RoPE table and the tokenizer, which
   * the host writes and the module only reads — that the native firmware reads in place from the board's
   * flash (ARCHITECTURE.md, "Weights in flash"); everything below `offset` is what the board's RAM holds.
   * null: the whole arena is RAM.
   */
  flash: Span | null;
  /** K+V cache bytes as planned, and what an all-vanilla plan of the same model and ctx would need. */
  contextBytes: number;
  vanillaContextBytes: number;
}

/**
 * The standalone WASI command's buffers (assembly/command.ts), planned only when a tokenizer is embedded.
 * Four regions after "tokenizer": "command" (its block), "piece_index" (pieces, pieceHash), "sampler"
 * (probs, candidates) and "io" (args, promptTokens, output); mergeTables lie over the K/V caches or the sampler.
 */
export interface CommandPlan {
  block: Span; // (COMMAND_BLOCK_SLOTS,) i32 the addresses below, as encodeCommandBlock writes them
  tokenizerBytes: number; // exact length of the embedded tokenizer.bin (the region is rounded up to ALIGN)
  pieces: Span; // (vocab,) i32 address of each token's tokenizer.bin record: f32 score, i32 len, len bytes
  pieceHash: Span; // (hashSlots,) i32 open-addressing table of piece bytes -> first token id + 1; 0 = empty
  hashSlots: number; // a power of two ≥ 2·vocab, so probes stay short
  probs: Span; // (vocab,) f32 softmax(logits / temperature)
  candidates: Span; // (vocab,) i32 token ids of the top-p nucleus, sorted in place
  args: Span; // argv pointer array followed by the argument bytes (WASI args_get); the prompt lives here
  promptTokens: Span; // (args bytes + 2,) i32 the prompt before BPE merges: <s>, dummy prefix, ≤ one token per byte
  mergeTables: Span; // 5 × (mergeSlots,) i32 BPE merge state (next, prev, pair, heap, heap slot) then (mergeSlots,) bytes of normal-form text, over the K/V caches or the sampler
  output: Span; // bytes staged for fd_write
}

/** Argument bytes the command plans for flags, on top of COMMAND_ARG_BYTES_PER_TOKEN per context token. */
export const COMMAND_ARG_BYTES_EXTRA = 1024;
/** Bytes the command stages before each fd_write. */
export const COMMAND_OUTPUT_BYTES = 4096;

const align = (n: number): number => Math.ceil(n / ALIGN) * ALIGN;
const F32 = 4;

/** One activation buffer with its live range [first, last] over the steps of one layer. */
interface Buffer {
  name: string;
  size: number;
  first: number;
  last: number;
}

/**
 * Steps of one decode step, in order: 0 attn norm · 1 q/k/v · 2 scores+softmax · 3 mix · 4 per-head W_KV ·
 * 5 Wo · 6 residual · 7 ffn norm · 8 w1/w3 · 9 w2 · 10 residual · 11 final norm+classifier.
 */
function activationBuffers(c: ModelConfig, ctx: number, anySlim: boolean, slimKeys: SlimKeys, weights: WeightDtype, group: number, cache: CacheDtype, block: number): Buffer[] {
  // per-token buffers hold `block` rows: a prefill block goes through each weight matrix together
  const d = block * c.dim * F32;
  const bufs: Buffer[] = [
    { name: "x", size: d, first: 0, last: 11 }, // residual stream, lives the whole step
    { name: "xn", size: d, first: 0, last: 1 }, // normed input to q/k/v
    { name: "q", size: d, first: 1, last: 3 },
    { name: "att", size: c.nHeads * ctx * F32, first: 2, last: 3 },
    { name: "ao", size: d, first: 3, last: 5 }, // concatenated head outputs
    { name: "xo", size: d, first: 5, last: archOf(c).parallelResidual ? 10 : 6 }, // parallel: added with the FFN's output
    { name: "fn", size: d, first: 7, last: 8 },
    { name: "h1", size: block * c.hiddenDim * F32, first: 8, last: 9 },
    { name: "h3", size: block * c.hiddenDim * F32, first: 8, last: 9 },
    { name: "fo", size: d, first: 9, last: 10 },
  ];
  // U = A·K (heads, dim) and the running (max, sum) per head, for each token of the block: W_KV then serves them all at once
  if (anySlim) bufs.push({ name: "u", size: block * c.nHeads * c.dim * F32, first: 3, last: 4 });
  if (anySlim) bufs.push({ name: "softmax_state", size: block * c.nHeads * 2 * F32, first: 2, last: 4 });
  if (anySlim && slimKeys === "post") bufs.push({ name: "k_block", size: ROW_BLOCK * c.dim * F32, first: 3, last: 3 });
  if (cache !== "f32") {
    // this position's key and value in f32 until they are quantized into their cache rows
    bufs.push({ name: "k_new", size: block * kvDim(c) * F32, first: 1, last: 1 }, { name: "v_new", size: block * kvDim(c) * F32, first: 1, last: 1 });
  }
  if (weights === "q8_0" || weights === "q4_0") {
    // the current projection input, quantized once and shared by the projections that read it
    const widest = Math.max(c.dim, c.hiddenDim);
    bufs.push({ name: "x_q8", size: block * widest, first: 0, last: 11 }, { name: "x_scales", size: block * (widest / group) * F32, first: 0, last: 11 });
  }
  // Keys and values are written straight into their cache rows, so they need no buffer of their own.
  return bufs;
}

/** Greedy lifetime placement: biggest first, lowest offset that overlaps no live neighbour. */
function placeActivations(bufs: Buffer[]): { spans: Span[]; size: number } {
  const order = [...bufs].sort((a, b) => b.size - a.size || a.first - b.first);
  const placed: { buf: Buffer; offset: number }[] = [];
  for (const buf of order) {
    const size = align(buf.size);
    const clashes = placed
      .filter((p) => p.buf.first <= buf.last && buf.first <= p.buf.last)
      .sort((a, b) => a.offset - b.offset);
    let offset = 0;
    for (const p of clashes) {
      if (offset + size <= p.offset) break;
      offset = Math.max(offset, p.offset + align(p.buf.size));
    }
    placed.push({ buf, offset });
  }
  const spans = bufs.map((b) => ({ name: b.name, offset: placed.find((p) => p.buf === b)!.offset, size: b.size }));
  const size = Math.max(...placed.map((p) => p.offset + align(p.buf.size)));
  return { spans, size };
}

/** Which attention mode each layer runs, given the requested mode. GQA/MQA always runs vanilla. */
export function layerModes(c: ModelConfig, mode: AttentionMode, perLayer?: AttentionMode[]): AttentionMode[] {
  if (mode === "vanilla" || !isMultiHead(c)) return Array(c.nLayers).fill("vanilla");
  return perLayer ? [...perLayer] : Array(c.nLayers).fill("slim");
}

/** Storage of weight matrices (norms always stay f32). Q8_0/Q4_0: int8 / packed int4 values, then one f32 scale per group. */
export type WeightDtype = "f32" | "f16" | "q8_0" | "q4_0";
/** Storage of K/V cache rows. q8: int8 values plus one f32 scale per row. */
export type CacheDtype = "f32" | "f16" | "q8";

/** Bytes of a matrix of n values stored as `dtype` with `group` values per scale. */
export function matrixBytes(n: number, dtype: WeightDtype, group: number): number {
  switch (dtype) {
    case "f32":
      return n * 4;
    case "f16":
      return n * 2;
    case "q8_0":
      return n + (n / group) * 4;
    case "q4_0":
      return n / 2 + (n / group) * 4;
  }
}

/** Bytes of one cache row of `width` values. */
export function cacheRowBytes(width: number, dtype: CacheDtype): number {
  return dtype === "f32" ? width * 4 : dtype === "f16" ? width * 2 : width + 4;
}

/** The group size q8_0 / q4_0 use when none is given. */
export const PREFERRED_GROUP = 32;

/**
 * The group size for q8_0 / q4_0 matrices of a model: 32 halved until it divides dim and hidden_dim (as
 * llama2.c's exporter does), so stories260K (dim 64, hidden_dim 172) gets groups of 4 — the same rule for
 * both dtypes (ARCHITECTURE.md, "Weight layout"). The container stores the group size. Rows of an odd
 * length cannot be grouped at all (q4_0 also packs two values per byte).
 */
export function groupSizeFor(rows: { dim: number; hiddenDim: number }, weights: WeightDtype = "q8_0", preferred = PREFERRED_GROUP): number {
  const divides = (g: number) => rows.dim % g === 0 && rows.hiddenDim % g === 0;
  let g = preferred;
  while (g > 2 && !divides(g)) g /= 2;
  if (!divides(g))
    fail("E_MODEL", `${weights} needs matrix rows of an even length; the model has dim ${rows.dim} and hidden_dim ${rows.hiddenDim} (f16 and f32 weights take any)`);
  return g;
}

export interface PlanOptions {
  slimKeys?: SlimKeys; // default "pre"
  weights?: WeightDtype; // default "f32"; the decoder runs f32 today, other dtypes are for sizing
  groupSize?: number; // values per scale for q8_0 / q4_0 (default: groupSizeFor the model: 32 halved until it divides)
  kCache?: CacheDtype; // default "f32"; applies to V-cache rows too
  /** Bytes of an embedded tokenizer (the standalone command carries its own); 0 = none. */
  tokenizerBytes?: number;
  /** Prompt tokens per prefill block (default 1: token by token, the smallest arena). */
  prefillBlock?: number;
  /**
   * Place the read-only regions (weights, RoPE table, tokenizer) last, after every region that changes, so a native
   * firmware can read them in place from memory-mapped flash and hold only the rest in RAM (plan.flash).
   * Any other runtime runs such a plan as it runs any other: the whole arena is its linear memory.
   */
  readOnlyInFlash?: boolean;
}

/** Plans the whole arena for (model config, context length, per-layer attention mode). */
export function planArena(c: ModelConfig, ctx: number, modes: AttentionMode[], opts: PlanOptions = {}): ArenaPlan {
  const slimKeys = opts.slimKeys ?? "pre";
  const tokenizerBytes = opts.tokenizerBytes ?? 0;
  const wtype = opts.weights ?? "f32";
  const group = opts.groupSize ?? (wtype.startsWith("q") ? groupSizeFor(c, wtype) : PREFERRED_GROUP);
  const ctype = opts.kCache ?? "f32";
  const block = opts.prefillBlock ?? 1;
  if (!Number.isInteger(block) || block < 1 || block > ctx) fail("E_FLAG", `--prefill-block ${block}: expected a whole number from 1 to the context length ${ctx}`);
  if (wtype.startsWith("q") && (!Number.isInteger(group) || group < 2 || group % 2 !== 0 || [c.dim, c.hiddenDim].some((n) => n % group !== 0)))
    fail("E_MODEL", `${wtype} group size ${group} must be an even whole number ≥ 2 that divides dim ${c.dim} and hidden_dim ${c.hiddenDim}`);
  if (!Number.isInteger(ctx) || ctx < 1) fail("E_FLAG", `--ctx: expected a positive whole number, got ${ctx}`);
  if (ctx > c.seqLen) fail("E_FLAG", `--ctx ${ctx} exceeds the model's seq_len ${c.seqLen}`);
  if (modes.length !== c.nLayers) fail("E_MODEL", `plan: ${modes.length} layer modes for ${c.nLayers} layers`);
  if (modes.includes("slim") && !isMultiHead(c))
    fail("E_MODEL", `plan: slim attention needs n_kv_heads == n_heads (model has ${c.nKvHeads} of ${c.nHeads})`);

  const regions: Span[] = [];
  let cursor = 0;
  const region = (name: string, size: number): Span => {
    const span = { name, offset: cursor, size: align(size) };
    regions.push(span);
    cursor += span.size;
    return span;
  };
  region("static", STATIC_BYTES);
  const planBlock = region("plan", (PLAN_HEADER_SLOTS + PLAN_LAYER_SLOTS * c.nLayers) * 4);

  // Weights: each tensor 16-byte aligned, inside one read-only region.
  const place = (name: string, bytes: number): Span => {
    const span = { name, offset: cursor, size: bytes };
    cursor += align(span.size);
    return span;
  };
  const norm = (name: string, n: number) => place(name, n * F32);
  const matrix = (name: string, n: number) => place(name, matrixBytes(n, wtype, group));
  const d = c.dim;
  const kv = kvDim(c);
  const a = archOf(c);
  const placeWeights = () => {
    const weightsStart = cursor;
    const embedding = matrix("token_embedding", c.vocabSize * d);
    const layerWeights = modes.map((mode, l) => ({
      mode,
      attnNorm: norm(`layers.${l}.attn_norm`, d),
      wq: matrix(`layers.${l}.wq`, d * d),
      wk: mode === "slim" ? norm(`layers.${l}.wk`, kv * d) : matrix(`layers.${l}.wk`, kv * d), // f32 in slim layers: see W_KV
      // Slim layers keep W_K and W_KV in f32 whatever the weights' storage: V = W_KV·K turns relative errors
      // in either into V errors amplified by about cond(W_K). Measured on a random d = 64 model under q8_0
      // (relative to max logit, 100 positions): quantized W_K and W_KV gave a 31 % logit error,
      // quantized W_K alone 15 %, both f32 3.2 % — the same as vanilla q8_0 (3.1 %).
      wvOrWkv: mode === "slim" ? norm(`layers.${l}.wkv`, kv * d) : matrix(`layers.${l}.wv`, kv * d),
      wo: matrix(`layers.${l}.wo`, d * d),
      ffnNorm: norm(`layers.${l}.ffn_norm`, d),
      w1: matrix(`layers.${l}.w1`, c.hiddenDim * d),
      w2: matrix(`layers.${l}.w2`, d * c.hiddenDim),
      w3: a.activation === "swiglu" ? matrix(`layers.${l}.w3`, c.hiddenDim * d) : place(`layers.${l}.w3 (none)`, 0),
      biases: !(a.biases || a.norm === "layer")
        ? null
        : {
            attnNorm: norm(`layers.${l}.attn_norm_bias`, a.norm === "layer" ? d : 0),
            ffnNorm: norm(`layers.${l}.ffn_norm_bias`, a.norm === "layer" ? d : 0),
            bq: norm(`layers.${l}.bq`, a.biases ? d : 0),
            bk: norm(`layers.${l}.bk`, a.biases ? kv : 0),
            bv: norm(`layers.${l}.bv`, a.biases && mode === "vanilla" ? kv : 0), // slim: folded into bo
            bo: norm(`layers.${l}.bo`, a.biases ? d : 0),
            b1: norm(`layers.${l}.b1`, a.biases ? c.hiddenDim : 0),
            b2: norm(`layers.${l}.b2`, a.biases ? d : 0),
          },
    }));
    const positionEmbedding = a.learnedPositions ? norm("position_embedding", ctx * d) : null; // only the planned positions
    const finalNorm = norm("final_norm", d);
    const finalNormBias = a.norm === "layer" ? norm("final_norm_bias", d) : null;
    const classifier = c.sharedClassifier ? { ...embedding, name: "classifier (shared)" } : matrix("classifier", c.vocabSize * d);
    const classifierBias = a.classifierBias ? norm("classifier_bias", c.vocabSize) : null;
    regions.push({ name: "weights", offset: weightsStart, size: cursor - weightsStart });
    return { embedding, layerWeights, positionEmbedding, finalNorm, finalNormBias, classifier, classifierBias };
  };
  const inFlash = opts.readOnlyInFlash ?? false;
  let weights = inFlash ? null : placeWeights();

  const rowBytes = ctx * cacheRowBytes(kv, ctype); // one layer's cache of K (or V)
  const kStart = cursor;
  const kCaches = modes.map((_, l) => place(`layers.${l}.k_cache`, rowBytes));
  regions.push({ name: "k_cache", offset: kStart, size: cursor - kStart });
  const vStart = cursor;
  const vCaches = modes.map((m, l) => (m === "vanilla" ? place(`layers.${l}.v_cache`, rowBytes) : null));
  regions.push({ name: "v_cache", offset: vStart, size: cursor - vStart });
  const caches: Span = { name: "k_cache + v_cache", offset: kStart, size: cursor - kStart }; // idle until prefill

  const anySlim = modes.includes("slim");
  // Every rotation reads this table, which the host writes as it writes the weights (host/core/rope.ts), so
  // no plan computes a transcendental per token and every build of the module rotates by the same f32 values
  // (ARCHITECTURE.md, "Numerics"). Slim layers need it even without RoPE: they rotate cached keys on read.
  const rotates = anySlim || a.rotaryDims > 0;
  let ropeTable = rotates && !inFlash ? region("rope_table", ropeTableBytes(c, ctx)) : null;

  const acts = placeActivations(activationBuffers(c, ctx, anySlim, slimKeys, wtype, group, ctype, block));
  const actRegion = region("activations", acts.size);
  const activations = acts.spans.map((s) => ({ ...s, offset: actRegion.offset + s.offset }));
  const logits = region("logits", c.vocabSize * F32);
  // With the command in flash plans, the reactor's prefill tokens lie over the command's prompt tokens: a
  // module instance is either the reactor (which never touches the command's buffers) or the command (which
  // prefills from its prompt tokens and never reads this slot), so the two never meet.
  const sharedScratch = inFlash && tokenizerBytes > 0;
  let tokens = sharedScratch ? null : region("scratch", ctx * 4);
  let tokenizer = tokenizerBytes > 0 && !inFlash ? region("tokenizer", tokenizerBytes) : null;
  const command = tokenizerBytes > 0 ? planCommand(c.vocabSize, ctx, tokenizerBytes, region, caches) : null;
  if (sharedScratch) tokens = { name: "scratch", offset: command!.promptTokens.offset, size: ctx * 4 };
  // readOnlyInFlash: what only the host writes goes last, the part of the arena the board's flash holds
  const flashStart = cursor;
  if (inFlash) {
    weights = placeWeights();
    ropeTable = rotates ? region("rope_table", ropeTableBytes(c, ctx)) : null;
    tokenizer = tokenizerBytes > 0 ? region("tokenizer", tokenizerBytes) : null;
  }
  const { embedding, layerWeights, positionEmbedding, finalNorm, finalNormBias, classifier, classifierBias } = weights!;

  const totalBytes = cursor;
  const layers: LayerPlan[] = layerWeights.map((w, l) => ({ ...w, kCache: kCaches[l], vCache: vCaches[l] }));
  const contextBytes = modes.reduce((sum, m) => sum + rowBytes * (m === "vanilla" ? 2 : 1), 0);
  return {
    config: c,
    ctx,
    modes,
    regions: regions.sort((a, b) => a.offset - b.offset),
    planBlock,
    embedding,
    positionEmbedding,
    finalNorm,
    finalNormBias,
    classifier,
    classifierBias,
    layers,
    ropeTable,
    slimKeys,
    weights: wtype,
    groupSize: group,
    layout: STREAM_LAYOUT,
    prefillBlock: block,
    kCache: ctype,
    activations,
    logits,
    tokens: tokens!,
    tokenizer,
    command,
    totalBytes,
    pages: Math.ceil(totalBytes / PAGE_BYTES),
    flash: inFlash ? { name: "flash", offset: flashStart, size: totalBytes - flashStart } : null,
    contextBytes,
    vanillaContextBytes: 2 * rowBytes * c.nLayers,
  };
}

/**
 * The command's regions, each split into 16-byte-aligned parts by `parts`. `caches` is the K/V caches' span,
 * idle while the prompt is encoded.
 */
function planCommand(vocab: number, ctx: number, tokenizerBytes: number, region: (name: string, size: number) => Span, caches: Span): CommandPlan {
  const parts = (name: string, sizes: [string, number][]): Span[] => {
    const total = sizes.reduce((n, [, size]) => n + align(size), 0);
    let at = region(name, total).offset;
    return sizes.map(([part, size]) => {
      const span = { name: part, offset: at, size };
      at += align(size);
      return span;
    });
  };
  const block = region("command", COMMAND_BLOCK_SLOTS * 4);
  const hashSlots = 2 ** Math.ceil(Math.log2(Math.max(16, 2 * vocab)));
  const [pieces, pieceHash] = parts("piece_index", [["pieces", vocab * 4], ["piece_hash", hashSlots * 4]]);
  const [probs, candidates] = parts("sampler", [["probs", vocab * F32], ["candidates", vocab * 4]]);
  const argBytes = COMMAND_ARG_BYTES_PER_TOKEN * ctx + COMMAND_ARG_BYTES_EXTRA;
  const [args, promptTokens, output] = parts("io", [["args", argBytes], ["prompt_tokens", (argBytes + 2) * 4], ["output", COMMAND_OUTPUT_BYTES]]);
  // The BPE merge tables live only while the prompt is encoded, before the first position is cached or the
  // first token sampled (ARCHITECTURE.md, "Tokenizers"), so they cost no memory of their own: they lie over
  // the larger of the K/V caches (the command zeroes them again after encoding) and the sampler's bytes, and
  // hold up to one token per argument byte, plus bos and the dummy prefix. The command merges every prompt on
  // them in O(n log n) and refuses, before encoding, one of more bytes than they hold — which a prompt that
  // fits the context only reaches when the caches are tiny (fewer than 20 bytes per token per byte a token
  // covers).
  const samplerBytes = candidates.offset + align(candidates.size) - probs.offset;
  const over = caches.size >= samplerBytes ? caches : { offset: probs.offset, size: samplerBytes };
  // Each slot is five i32 and one byte: a tokenizer with a Unicode normal form writes each section of the
  // prompt in that form to the last mergeSlots bytes, and decomposes it in the i32 before merging.
  const mergeSlots = Math.min(argBytes + 2, Math.floor(over.size / COMMAND_MERGE_SLOT_BYTES));
  const mergeTables = { name: "merge_tables", offset: over.offset, size: COMMAND_MERGE_SLOT_BYTES * mergeSlots };
  return { block, tokenizerBytes, pieces, pieceHash, hashSlots, probs, candidates, args, promptTokens, mergeTables, output };
}

/** The standalone command's block: where its tokenizer, sampler and io buffers are (assembly/command.ts). */
export function encodeCommandBlock(plan: ArenaPlan): Int32Array {
  const cmd = plan.command;
  if (!cmd || !plan.tokenizer) return fail("E_MODEL", "plan: no command block without an embedded tokenizer (PlanOptions.tokenizerBytes)");
  const slots = new Int32Array(COMMAND_BLOCK_SLOTS);
  const C = CommandSlot;
  slots[C.magic] = COMMAND_MAGIC;
  slots[C.tokenizer] = plan.tokenizer.offset;
  slots[C.tokenizerBytes] = cmd.tokenizerBytes;
  slots[C.pieces] = cmd.pieces.offset;
  slots[C.pieceHash] = cmd.pieceHash.offset;
  slots[C.hashSlots] = cmd.hashSlots;
  slots[C.probs] = cmd.probs.offset;
  slots[C.candidates] = cmd.candidates.offset;
  slots[C.args] = cmd.args.offset;
  slots[C.argsBytes] = cmd.args.size;
  slots[C.promptTokens] = cmd.promptTokens.offset;
  slots[C.promptSlots] = cmd.promptTokens.size / 4;
  slots[C.output] = cmd.output.offset;
  slots[C.outputBytes] = cmd.output.size;
  slots[C.mergeTables] = cmd.mergeTables.offset;
  slots[C.mergeSlots] = cmd.mergeTables.size / COMMAND_MERGE_SLOT_BYTES;
  return slots;
}

export const activation = (plan: ArenaPlan, name: string): Span => {
  const span = plan.activations.find((a) => a.name === name);
  if (!span) throw new Error(`plan has no activation buffer ${name}`);
  return span;
};

const WEIGHT_CODE: Record<WeightDtype, number> = { f32: WeightCode.F32, q8_0: WeightCode.Q8_0, q4_0: WeightCode.Q4_0, f16: WeightCode.F16 };
const CACHE_CODE: Record<CacheDtype, number> = { f32: CacheCode.F32, q8: CacheCode.Q8, f16: CacheCode.F16 };
const ACTIVATION_CODE: Record<NonNullable<ModelConfig["activation"]>, number> = { swiglu: ActivationCode.SWIGLU, gelu: ActivationCode.GELU, gelu_tanh: ActivationCode.GELU_TANH };

/** The plan block as the module reads it: i32 slots (PlanSlot, LayerSlot), f32 values stored by their bits. */
export function encodePlanBlock(plan: ArenaPlan): Int32Array {
  if (!DECODER_WEIGHTS.includes(plan.weights) || !DECODER_CACHES.includes(plan.kCache))
    fail("E_MODEL", `the decoder runs ${DECODER_WEIGHTS.join(" or ")} weights and ${DECODER_CACHES.join(" or ")} cache rows; a ${plan.weights} / ${plan.kCache} plan is for sizing only`);
  if (plan.kCache !== "f32" && plan.slimKeys === "post") fail("E_MODEL", `a ${plan.kCache} cache holds keys before rotation only (slimKeys "pre")`);
  const c = plan.config;
  const arch = archOf(c);
  const slots = new Int32Array(PLAN_HEADER_SLOTS + PLAN_LAYER_SLOTS * c.nLayers);
  const f32bits = (v: number) => new Int32Array(new Float32Array([v]).buffer)[0];
  const act = (n: string) => (plan.activations.find((a) => a.name === n)?.offset ?? 0);
  const P = PlanSlot;
  const header: Record<keyof typeof PlanSlot, number> = {
    magic: PLAN_MAGIC, version: PLAN_VERSION, dim: c.dim, hidden: c.hiddenDim, nLayers: c.nLayers, nHeads: c.nHeads,
    nKvHeads: c.nKvHeads, headDim: headDim(c), vocab: c.vocabSize, ctx: plan.ctx, normEps: f32bits(c.normEps),
    ropeTheta: f32bits(c.ropeTheta), totalBytes: plan.totalBytes, staticBytes: STATIC_BYTES,
    embedding: plan.embedding.offset, finalNorm: plan.finalNorm.offset, classifier: plan.classifier.offset,
    ropeTable: plan.ropeTable?.offset ?? 0, x: act("x"), xn: act("xn"), q: act("q"), att: act("att"), ao: act("ao"),
    xo: act("xo"), fn: act("fn"), h1: act("h1"), h3: act("h3"), fo: act("fo"), u: act("u"), logits: plan.logits.offset,
    tokens: plan.tokens.offset, rotatedKeys: plan.slimKeys === "post" ? 1 : 0, kBlock: act("k_block"),
    softmaxState: act("softmax_state"), weights: WEIGHT_CODE[plan.weights], groupSize: plan.groupSize, xQ8: act("x_q8"),
    xScales: act("x_scales"), cache: CACHE_CODE[plan.kCache], kNew: act("k_new"), vNew: act("v_new"),
    layerNorm: arch.norm === "layer" ? 1 : 0, activation: ACTIVATION_CODE[arch.activation], rotaryDims: arch.rotaryDims,
    positionEmbedding: plan.positionEmbedding?.offset ?? 0, parallelResidual: arch.parallelResidual ? 1 : 0,
    finalNormBias: plan.finalNormBias?.offset ?? 0, prefillBlock: plan.prefillBlock, readOnlyDelta: 0, command: plan.command?.block.offset ?? 0,
    classifierBias: plan.classifierBias?.offset ?? 0,
  };
  for (const [name, value] of Object.entries(header)) slots[P[name as keyof typeof P]] = value;
  const L = LayerSlot;
  const present = (s: Span) => (s.size > 0 ? s.offset : 0);
  plan.layers.forEach((l, i) => {
    const at = PLAN_HEADER_SLOTS + i * PLAN_LAYER_SLOTS;
    const b = l.biases;
    const layer: Record<keyof typeof LayerSlot, number> = {
      slim: l.mode === "slim" ? 1 : 0, attnNorm: l.attnNorm.offset, wq: l.wq.offset, wk: l.wk.offset, wvOrWkv: l.wvOrWkv.offset,
      wo: l.wo.offset, ffnNorm: l.ffnNorm.offset, w1: l.w1.offset, w2: l.w2.offset, w3: l.w3.offset, kCache: l.kCache.offset,
      vCache: l.vCache?.offset ?? 0, attnNormBias: b ? present(b.attnNorm) : 0, ffnNormBias: b ? present(b.ffnNorm) : 0,
      bq: b ? present(b.bq) : 0, bk: b ? present(b.bk) : 0, bv: b ? present(b.bv) : 0, bo: b ? present(b.bo) : 0,
      b1: b ? present(b.b1) : 0, b2: b ? present(b.b2) : 0,
    };
    for (const [name, value] of Object.entries(layer)) slots[at + L[name as keyof typeof L]] = value;
  });
  return slots;
}

/** A text memory map: one line per region with offset, size and share of the total. */
export function formatMemoryMap(plan: ArenaPlan): string {
  const lines = plan.regions.map(
    (r) =>
      `  ${r.name.padEnd(12)} 0x${r.offset.toString(16).padStart(8, "0")}  ${formatBytes(r.size).padStart(12)}  ${((100 * r.size) / plan.totalBytes).toFixed(1).padStart(5)} %`,
  );
  const modes = plan.modes.map((m) => (m === "slim" ? "S" : "V")).join("");
  return [
    `arena ${plan.totalBytes} bytes (${plan.pages} pages), ctx ${plan.ctx}, layers ${modes} (S = slim, V = vanilla)`,
    `weights ${plan.weights}, layout: ${LAYOUT_DESCRIPTION}; prefill block ${plan.prefillBlock} token${plan.prefillBlock === 1 ? "" : "s"}`,
    ...(plan.flash
      ? [
          `RAM: 0x00000000..0x${plan.flash.offset.toString(16).padStart(8, "0")} ${plan.flash.offset} bytes; ` +
            `flash, read in place by the native firmware: 0x${plan.flash.offset.toString(16).padStart(8, "0")}..0x${plan.totalBytes.toString(16).padStart(8, "0")} ${plan.flash.size} bytes (weights, rope_table${plan.tokenizer ? ", tokenizer" : ""})`,
        ]
      : []),
    ...lines,
  ].join("\n");
}
