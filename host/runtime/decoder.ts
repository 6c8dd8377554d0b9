/**
 * Runs the decoder module in Node: fixes its memory to the planned pages, writes the plan block and the
 * weights at their planned addresses, and drives it through the reactor ABI.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Model } from "../core/model.ts";
import { type ArenaPlan, type Span, encodePlanBlock } from "../core/plan.ts";
import { withFixedMemory } from "./wasm.ts";
import { f16Bytes, q4Bytes, q8Bytes } from "../core/quant.ts";
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

export const decoderPath = (build: Build): string =>
  fileURLToPath(new URL(`../../build/decoder.${build}.wasm`, import.meta.url));

export function loadDecoderBytes(build: Build): Uint8Array {
  try {
    return readFileSync(decoderPath(build));
  } catch {
    return fail("E_FILE", `${decoderPath(build)}: decoder module missing; run \`npm install\` (it compiles assembly/)`);
  }
}

/**
 * Slim layers take W_KV (dim, dim) in place of W_V; `wkv[l]` is null for vanilla layers. A slim layer with
 * biases caches keys with b_K, so V = W_KV·(k − b_K) + b_V; since attention weights sum to one, the constant
 * part passes straight through to the output projection: b_O' = b_O + W_O·(b_V − W_KV·b_K) (float64).
 */
export function writeWeights(mem: ArrayBuffer, model: Model, plan: ArenaPlan, wkv: (Float32Array | null)[]): void {
  const put = (span: Span | null, data: Float32Array | undefined) => {
    if (!span || span.size === 0) return;
    if (!data) throw new Error(`the model has no tensor for ${span.name}`);
    new Float32Array(mem, span.offset, data.length).set(data);
  };
  // Matrices in the plan's storage; norms, biases, and slim layers' W_K and W_KV stay f32.
  const matrix = (span: Span, data: Float32Array | undefined) => {
    if (span.size === 0 || plan.weights === "f32") return put(span, data);
    const bytes = plan.weights === "q8_0" ? q8Bytes(data!, plan.groupSize) : plan.weights === "q4_0" ? q4Bytes(data!, plan.groupSize) : f16Bytes(data!);
    new Uint8Array(mem, span.offset, bytes.length).set(bytes);
  };
  const w = model.weights;
  const d = model.config.dim;
  matrix(plan.embedding, w.tokenEmbedding);
  put(plan.positionEmbedding, w.positionEmbedding?.subarray(0, plan.ctx * d));
  plan.layers.forEach((l, i) => {
    const lw = w.layers[i];
    const slim = l.mode === "slim";
    put(l.attnNorm, lw.attnNorm);
    matrix(l.wq, lw.wq);
    (slim ? put : matrix)(l.wk, lw.wk);
    if (slim) {
      if (!wkv[i]) throw new Error(`layer ${i} is planned slim but has no W_KV`);
      put(l.wvOrWkv, wkv[i]!);
    } else matrix(l.wvOrWkv, lw.wv);
    matrix(l.wo, lw.wo);
    put(l.ffnNorm, lw.ffnNorm);
    matrix(l.w1, lw.w1);
    matrix(l.w2, lw.w2);
    matrix(l.w3, lw.w3);
    if (l.biases) {
      const b = l.biases;
      put(b.attnNorm, lw.attnNormBias);
      put(b.ffnNorm, lw.ffnNormBias);
      put(b.bq, lw.bq);
      put(b.bk, lw.bk);
      put(b.bv, lw.bv);
      put(b.bo, slim && lw.bo ? foldedOutputBias(lw.wo, lw.bo, lw.bv!, lw.bk!, wkv[i]!, d) : lw.bo);
      put(b.b1, lw.b1);
      put(b.b2, lw.b2);
    }
  });
  put(plan.finalNorm, w.finalNorm);
  put(plan.finalNormBias, w.finalNormBias);
  if (!model.config.sharedClassifier) matrix(plan.classifier, w.classifier);
}

/** b_O + W_O·(b_V − W_KV·b_K), all (d,), in float64. */
function foldedOutputBias(wo: Float32Array, bo: Float32Array, bv: Float32Array, bk: Float32Array, wkv: Float32Array, d: number): Float32Array {
  const r = new Float64Array(d);
  for (let i = 0; i < d; i++) {
    let s = bv[i];
    for (let j = 0; j < d; j++) s -= wkv[i * d + j] * bk[j];
    r[i] = s;
  }
  return Float32Array.from({ length: d }, (_, i) => {
    let s = bo[i];
    for (let j = 0; j < d; j++) s += wo[i * d + j] * r[j];
    return s;
  });
}

export class Decoder {
  private constructor(
    private readonly ex: DecoderExports,
    readonly plan: ArenaPlan,
    readonly build: Build,
  ) {}

  /** Instantiates the module with exactly plan.pages of memory, loads the weights and initialises it. */
  static async create(model: Model, plan: ArenaPlan, wkv: (Float32Array | null)[], build: Build = "simd", module?: Uint8Array): Promise<Decoder> {
    // `module`: a reactor built for this plan (slimedge build); by default the generic build, fixed to the plan's pages.
    const bytes = module ?? withFixedMemory(loadDecoderBytes(build), plan.pages);
    const instance = await WebAssembly.instantiate(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), {});
    const ex = instance.exports as unknown as DecoderExports;
    const mem = ex.memory.buffer;
    new Int32Array(mem, plan.planBlock.offset, plan.planBlock.size / 4).set(encodePlanBlock(plan));
    writeWeights(mem, model, plan, wkv);
    const status = ex.init(plan.planBlock.offset);
    if (status !== DecoderStatus.OK) fail("E_RUNTIME", `decoder init: ${statusMessage(status)}`);
    return new Decoder(ex, plan, build);
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
    return new Float32Array(this.ex.memory.buffer, ptr, this.plan.config.vocabSize);
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
