/**
 * Text generation on the decoder: plan the arena, start the generic build, and run the generation loop
 * (host/runtime/generate-loop.ts, which the web page shares). The CLI is a thin layer over this; tests call
 * it directly.
 */
import { planArena } from "../core/plan.ts";
import { type LoweredModel, planOptionsFor } from "../core/lowered.ts";
import { Decoder } from "./decoder.ts";
import type { TextTokenizer } from "../core/tokenizers.ts";
import { DEFAULT_PREFILL_BLOCK, generateOn, promptIds, type GenerateOptions, type GenerateResult } from "./generate-loop.ts";

export { DEFAULT_PREFILL_BLOCK, summaryLine, type GenerateOptions, type GenerateResult } from "./generate-loop.ts";

/** Generates from a lowered model (host/core/lowered.ts): its layer modes and weight dtype are the plan's. */
export async function generate(lowered: LoweredModel, tokenizer: TextTokenizer, o: GenerateOptions): Promise<GenerateResult> {
  const prompt = promptIds(tokenizer, o);
  const prefillBlock = Math.min(o.prefillBlock ?? DEFAULT_PREFILL_BLOCK, o.ctx);
  const plan = planArena(lowered.config, o.ctx, lowered.modes, { ...planOptionsFor(lowered), kCache: o.kCache ?? "f32", prefillBlock });
  o.checkPlan?.(plan);
  const decoder = await Decoder.create(lowered, plan, o.build);
  return generateOn(decoder, tokenizer, prompt, o);
}
