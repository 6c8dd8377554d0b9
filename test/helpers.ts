/**
 * Small helpers shared by the decoder, plan and wasm suites: module inspection through binaryen, the raw
 * reactor ABI (for status codes the host wrapper turns into exceptions), checkpoints written by the
 * llama2.c fixture writer, and the logits comparison the decoder suite states its tolerance with.
 */
import { expect } from "vitest";
import { SlimError, type ErrorCode } from "../host/core/errors.ts";
import { readLlama2c } from "../tools/convert/llama2c.ts";
import type { Model } from "../host/core/model.ts";
import type { ArenaPlan } from "../host/core/plan.ts";
import { Decoder, type Build, type DecoderExports, loadDecoderBytes } from "../host/runtime/decoder.ts";
import { lowerModel } from "../tools/convert/lower.ts";
import { withFixedMemory } from "../host/runtime/wasm.ts";
import { randomLlamaWeights, writeV0, writeV1, type Llama2cDims } from "./fixtures/llama2c-writer.ts";

// ---------------------------------------------------------------------------------------------------------
// module inspection: the artifact verifier's own functions (tools/verify.ts)

export {
  DECODER_FEATURES,
  FEATURES_WITHOUT_SIMD,
  readModule,
  moduleText,
  findMemoryGrow,
  usesSimd,
  importsOf,
  exportsOf,
  memoryLimits,
  validates,
} from "../tools/package/verify.ts";
import { readModule } from "../tools/package/verify.ts";

// ---------------------------------------------------------------------------------------------------------
// raw reactor ABI

/** A decoder module instantiated with exactly `pages` of memory and nothing written into it yet. */
export async function rawDecoder(build: Build, pages: number): Promise<DecoderExports> {
  const bytes = withFixedMemory(loadDecoderBytes(build), pages);
  const instance = await WebAssembly.instantiate(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), {});
  return instance.exports as unknown as DecoderExports;
}

/**
 * The decoder for a canonical model: lowered (tools/convert/lower.ts) to the plan's layer modes, weight
 * dtype and group size, then loaded; `wkv[l]` is layer l's W_KV where the plan runs it slim.
 */
export function decoderFor(model: Model, plan: ArenaPlan, wkv: (Float32Array | null)[], build: Build = "simd", module?: Uint8Array): Promise<Decoder> {
  const lowered = lowerModel(model, { modes: plan.modes, wkv }, { weights: plan.weights, groupSize: plan.groupSize });
  return Decoder.create(lowered, plan, build, module);
}

// ---------------------------------------------------------------------------------------------------------
// checkpoints

export interface Checkpoint {
  dims: Llama2cDims;
  version: 0 | 1;
  shared: boolean;
  seed: number;
}

/** Writes the checkpoint with the llama2.c fixture writer and reads it back through readLlama2c. */
export function checkpointModel(c: Checkpoint): { model: Model; bytes: Uint8Array } {
  const w = randomLlamaWeights(c.dims, c.seed);
  const write = c.version === 0 ? writeV0 : writeV1;
  const bytes = write(c.dims, w, { sharedClassifier: c.shared });
  return { model: readLlama2c(bytes, `checkpoint-v${c.version}-d${c.dims.dim}.bin`), bytes };
}

/** n token ids in [0, vocab), the same for a seed on every run (mulberry32). */
export function fixedTokens(vocab: number, n: number, seed = 7): number[] {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return Array.from({ length: n }, () => Math.floor(next() * vocab));
}

// ---------------------------------------------------------------------------------------------------------
// comparisons

/** max |got − want| / max |want| over one logits vector. */
export function logitsRatio(got: ArrayLike<number>, want: ArrayLike<number>): number {
  expect(got.length).toBe(want.length);
  let maxDiff = 0;
  let maxRef = 0;
  for (let i = 0; i < want.length; i++) {
    maxDiff = Math.max(maxDiff, Math.abs(got[i] - want[i]));
    maxRef = Math.max(maxRef, Math.abs(want[i]));
  }
  if (Number.isNaN(maxDiff)) return Infinity;
  return maxRef > 0 ? maxDiff / maxRef : maxDiff === 0 ? 0 : Infinity;
}

/** The SlimError `fn` throws, checked for its code; fails the test on any other outcome. */
export function slimError(fn: () => unknown, code: ErrorCode): SlimError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SlimError);
    expect((e as SlimError).code).toBe(code);
    return e as SlimError;
  }
  throw new Error(`expected a SlimError ${code}, but nothing was thrown`);
}
