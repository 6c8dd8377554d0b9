/**
 * Drives a decoder module through the reactor ABI (ARCHITECTURE.md, "Reactor ABI and the standalone command"):
 * writes the plan block and the lowered weights at their planned addresses, or starts a module whose memory a
 * caller filled. No Node imports: the web page runs this file as the CLI does (host/runtime/decoder.ts adds
 * the generic builds read from build/).
 */
import type { LoweredModel } from "../core/lowered.ts";
import { headDim } from "../core/model.ts";
import { ropeTable } from "../core/rope.ts";
import { arenaBytes } from "../core/layout.ts";
import { type ArenaPlan, type Span, encodePlanBlock } from "../core/plan.ts";
import { SlimError, fail } from "../core/errors.ts";
import { DECODER_STATUS_SENTENCES, DecoderStatus } from "../core/abi.generated.ts";

export type Build = "simd" | "scalar";

/** What a module status means, in the user's words (DecoderStatus and its sentences: host/core/abi.ts). */
export const statusMessage = (code: number): string => DECODER_STATUS_SENTENCES[code] ?? `unknown decoder status ${code}`;

/** The decoder module's exports (the reactor ABI, assembly/index.ts). */
export interface DecoderExports {
  memory: WebAssembly.Memory;
  init(plan: number): number;
  reset(): void;
  truncate(n: number): number;
  position(): number;
  lastError(): number;
  step(token: number): number;
  prefill(tokens: number, n: number): number;
}

/** Every span of the plan's weight region with the tensor it holds (size 0: the architecture has none). */
function weightSpans(plan: ArenaPlan): Span[] {
  const spans: Span[] = [plan.embedding];
  for (const l of plan.layers) {
    spans.push(l.attnNorm, l.wq, l.wk, l.wvOrWkv, l.wo, l.ffnNorm, l.w1, l.w2, l.w3);
    if (l.biases) spans.push(...Object.values(l.biases));
  }
  if (plan.positionEmbedding) spans.push(plan.positionEmbedding);
  spans.push(plan.finalNorm);
  if (plan.finalNormBias) spans.push(plan.finalNormBias);
  if (!plan.config.sharedClassifier) spans.push(plan.classifier);
  if (plan.classifierBias) spans.push(plan.classifierBias);
  return spans;
}

/**
 * Copies each tensor of the lowered model (host/core/lowered.ts) into its planned span: vectors and the
 * position embedding byte for byte (the span holds its first plan.ctx rows), matrices reordered into the
 * streaming layout (host/core/layout.ts arenaBytes) — values and scales are the lowered bytes, only their
 * order changes; then the RoPE table (host/core/rope.ts), read-only like them. Refuses (E_MODEL)
 * a lowered model that does not fill the plan exactly: other modes, dtypes, group size or a missing tensor.
 */
export function writeWeights(mem: ArrayBuffer, lowered: LoweredModel, plan: ArenaPlan): void {
  const c = plan.config;
  if (lowered.config.dim !== c.dim || lowered.config.nLayers !== c.nLayers || lowered.config.vocabSize !== c.vocabSize)
    fail("E_MODEL", "the plan was made for another model configuration");
  if (lowered.modes.join() !== plan.modes.join())
    fail("E_MODEL", `the model's layers are ${modeLetters(lowered.modes)}, the plan's ${modeLetters(plan.modes)} (S = slim, V = vanilla)`);
  if (lowered.weights !== plan.weights) fail("E_MODEL", `the model's weights are ${lowered.weights}, the plan's ${plan.weights}`);
  const byName = new Map(lowered.tensors.map((t) => [t.name, t]));
  const used = new Set<string>();
  for (const span of weightSpans(plan)) {
    if (span.size === 0) continue;
    const t = byName.get(span.name);
    if (!t) return fail("E_MODEL", `the model has no tensor ${span.name}, which the plan places at ${span.offset}`);
    const partial = span.name === "position_embedding"; // the planned positions only
    if (partial ? t.bytes.length < span.size : t.bytes.length !== span.size)
      fail("E_MODEL", `tensor ${t.name} is ${t.bytes.length} bytes of ${t.dtype}, but the plan's span for it is ${span.size} bytes (${plan.weights} weights)`);
    if (t.layout !== "rows") fail("E_MODEL", `tensor ${t.name} has layout ${t.layout}; the decoder is handed rows and lays them out itself`);
    if ((t.dtype === "q8_0" || t.dtype === "q4_0") && t.groupSize !== plan.groupSize)
      fail("E_MODEL", `tensor ${t.name} has ${t.dtype} groups of ${t.groupSize}, the plan groups of ${plan.groupSize}`);
    new Uint8Array(mem, span.offset, span.size).set(partial ? t.bytes.subarray(0, span.size) : arenaBytes(t, headDim(c)));
    used.add(t.name);
  }
  const left = lowered.tensors.filter((t) => !used.has(t.name)).map((t) => t.name);
  if (left.length > 0) fail("E_MODEL", `the plan has no place for tensor${left.length > 1 ? "s" : ""} ${left.join(", ")}`);
  // the RoPE table is read-only like the weights, and written with them (host/core/rope.ts)
  if (plan.ropeTable) new Float32Array(mem, plan.ropeTable.offset, plan.ropeTable.size / 4).set(ropeTable(c, plan.ctx));
}

const modeLetters = (modes: readonly string[]): string => modes.map((m) => (m === "slim" ? "S" : "V")).join("");

/** Pages of the largest wasm32 memory: 4 GiB. */
const WASM32_MAX_PAGES = 65536;

export class Decoder {
  protected constructor(
    private readonly ex: DecoderExports,
    readonly plan: ArenaPlan,
    readonly build: Build,
  ) {}

  /**
   * Instantiates the module with exactly plan.pages of memory, copies in the lowered weights and initialises it.
   * `module`: a reactor built for this plan (slimedge build), or a function giving one (decoder.ts: the generic
   * build, fixed to the plan's pages).
   */
  static async create(lowered: LoweredModel, plan: ArenaPlan, build: Build, module: Uint8Array | (() => Uint8Array)): Promise<Decoder> {
    if (plan.pages > WASM32_MAX_PAGES)
      fail("E_FIT", `--ctx ${plan.ctx}: the plan needs ${plan.totalBytes} bytes, more than the 4 GiB (${WASM32_MAX_PAGES} pages) a wasm32 memory can address; lower --ctx`);
    const bytes = typeof module === "function" ? module() : module;
    const instance = await WebAssembly.instantiate(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), {});
    const ex = instance.exports as unknown as DecoderExports;
    const mem = ex.memory.buffer;
    new Int32Array(mem, plan.planBlock.offset, plan.planBlock.size / 4).set(encodePlanBlock(plan));
    writeWeights(mem, lowered, plan);
    return Decoder.start(ex, plan, build);
  }

  /**
   * A reactor whose memory already holds the plan block and the weights at their planned addresses (the page
   * copies them from the standalone command's data segments, as the board firmware does): init and drive it.
   */
  static start(ex: DecoderExports, plan: ArenaPlan, build: Build): Decoder {
    const status = ex.init(plan.planBlock.offset);
    if (status !== DecoderStatus.OK) fail("E_RUNTIME", `decoder init: ${statusMessage(status)}`);
    return new Decoder(ex, plan, build);
  }

  /** The module's weight region as it holds the weights now (a view, valid until the next call). */
  weightRegion(): Uint8Array {
    const r = this.plan.regions.find((s) => s.name === "weights")!;
    return new Uint8Array(this.ex.memory.buffer, r.offset, r.size);
  }

  get memoryBytes(): number {
    return this.ex.memory.buffer.byteLength;
  }

  get position(): number {
    return this.ex.position();
  }

  reset(): void {
    this.ex.reset();
  }

  /** Keeps the first n cached tokens. */
  truncate(n: number): void {
    if (this.ex.truncate(n) !== DecoderStatus.OK) fail("E_FLAG", `truncate: ${n} is not between 0 and the position ${this.position}`);
  }

  private logits(ptr: number, what: string): Float32Array {
    if (ptr === 0) throw new SlimError("E_RUNTIME", `${what}: ${statusMessage(this.ex.lastError())}`);
    // Addresses are wasm32 u32: above 2 GiB the i32 an export returns is negative in JavaScript.
    return new Float32Array(this.ex.memory.buffer, ptr >>> 0, this.plan.config.vocabSize);
  }

  /** Appends one token; returns a view of the next-token logits (valid until the next call). */
  step(token: number): Float32Array {
    return this.logits(this.ex.step(token), "step");
  }

  /** Appends a prompt; returns the logits after its last token. */
  prefill(tokens: ArrayLike<number>): Float32Array {
    if (this.position + tokens.length > this.plan.ctx)
      fail("E_FLAG", `prompt of ${tokens.length} tokens does not fit the remaining context (${this.plan.ctx - this.position} of --ctx ${this.plan.ctx})`);
    new Int32Array(this.ex.memory.buffer, this.plan.tokens.offset, tokens.length).set(Array.from(tokens));
    return this.logits(this.ex.prefill(this.plan.tokens.offset, tokens.length), "prefill");
  }
}
