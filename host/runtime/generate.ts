/**
 * Text generation on the decoder: prefill the prompt, then sample and stream tokens, and measure what the
 * summary line reports. The CLI is a thin layer over this; tests call it directly.
 */
import { planArena, type ArenaPlan, type CacheDtype } from "../core/plan.ts";
import { type LoweredModel, planOptionsFor } from "../core/lowered.ts";
import { Decoder, type Build } from "./decoder.ts";
import { Utf8Stream } from "../core/tokenizer.ts";
import { decodeText, type TextTokenizer } from "../core/tokenizers.ts";
import { Sampler, type SamplerOptions } from "./sampler.ts";
import { fail } from "../core/errors.ts";
import { formatBytes } from "../core/format.ts";


export interface GenerateOptions {
  prompt: string;
  steps: number; // tokens to generate after the prompt
  ctx: number;
  build: Build;
  kCache?: CacheDtype; // cache rows, default f32
  prefillBlock?: number; // prompt tokens per pass over the weights (default DEFAULT_PREFILL_BLOCK, at most ctx)
  sampler: SamplerOptions;
  keepGoing?: boolean; // at a stop token (llama2.c: <s>, which run.c stops at) start a new line and continue
  promptIds?: number[]; // ids to start from instead of encoding `prompt` (e.g. a rendered chat template)
  onText?: (text: string) => void; // streamed output
  checkPlan?: (plan: ArenaPlan) => void; // e.g. a simulated board's budget: throws before anything is loaded
  signal?: AbortSignal; // checked between tokens (the event loop gets a turn before each one); aborting rejects with its reason
}

export interface GenerateResult {
  text: string;
  tokens: number[]; // prompt (with BOS) followed by the generated tokens
  promptTokens: number;
  generated: number;
  prefillSeconds: number;
  decodeSeconds: number;
  decodeSteps: number;
  stoppedBy: "steps" | "eos" | "context";
  stopToken?: string; // the stop token generation ended at, as the vocabulary writes it
  plan: ArenaPlan;
  memoryBytes: number; // the module's linear memory, which never changes after init
}

/** Prompt tokens per pass over the weights when running on the host (ARCHITECTURE.md, "Prefill"). */
export const DEFAULT_PREFILL_BLOCK = 16;

const now = () => Number(process.hrtime.bigint()) / 1e9;

/** Generates from a lowered model (host/core/lowered.ts): its layer modes and weight dtype are the plan's. */
export async function generate(lowered: LoweredModel, tokenizer: TextTokenizer, o: GenerateOptions): Promise<GenerateResult> {
  if (!Number.isInteger(o.steps) || o.steps < 0) fail("E_FLAG", `-n/--steps: expected a whole number ≥ 0, got ${o.steps}`);
  // Refused before encoding: a long prompt costs time to encode, and the context bounds it anyway.
  const least = o.promptIds ? 0 : tokenizer.minPromptTokens(o.prompt);
  if (least > o.ctx)
    fail("E_FLAG", `-p/--prompt: the prompt is at least ${least} tokens (${Buffer.byteLength(o.prompt)} bytes), longer than the context (--ctx ${o.ctx})`);
  const prompt = o.promptIds ?? tokenizer.prompt(o.prompt);
  if (prompt.length > o.ctx)
    fail("E_FLAG", `-p/--prompt: the prompt is ${prompt.length} tokens, longer than the context (--ctx ${o.ctx})`);
  const sampler = new Sampler(o.sampler);
  const prefillBlock = Math.min(o.prefillBlock ?? DEFAULT_PREFILL_BLOCK, o.ctx);
  const plan = planArena(lowered.config, o.ctx, lowered.modes, { ...planOptionsFor(lowered), kCache: o.kCache ?? "f32", prefillBlock });
  o.checkPlan?.(plan);
  const decoder = await Decoder.create(lowered, plan, o.build);
  o.signal?.throwIfAborted();

  const stream = new Utf8Stream();
  let text = "";
  const emit = (s: string) => {
    text += s;
    if (s) o.onText?.(s);
  };
  const promptText = decodeText(tokenizer, prompt);
  emit(promptText);

  let t0 = now();
  let logits = decoder.prefill(prompt);
  const prefillSeconds = now() - t0;
  const tokens = [...prompt];
  let stoppedBy: GenerateResult["stoppedBy"] = "steps";
  let stopToken: string | undefined;
  const stops = new Set(tokenizer.meta.stop);
  let stepped = 0; // decoder steps taken, the denominator of decode speed
  t0 = now();
  for (let i = 0; i < o.steps; i++) {
    if (o.signal) {
      await new Promise<void>((r) => setImmediate(r)); // lets a timer or an I/O callback abort between tokens
      o.signal.throwIfAborted();
    }
    const next = sampler.sample(logits);
    if (stops.has(next) && !o.keepGoing) {
      stoppedBy = "eos";
      stopToken = tokenizer.tokenName(next);
      break;
    }
    // a stop token ends a training sequence: with keepGoing it starts a new line and generation goes on
    emit(stops.has(next) ? stream.end() + "\n" : stream.write(tokenizer.decode(tokens[tokens.length - 1], next)));
    tokens.push(next);
    if (i === o.steps - 1) break;
    if (decoder.position >= o.ctx) {
      stoppedBy = "context";
      break;
    }
    logits = decoder.step(next);
    stepped++;
  }
  emit(stream.end());
  const decodeSeconds = now() - t0;
  return {
    text,
    tokens,
    promptTokens: prompt.length,
    generated: tokens.length - prompt.length,
    prefillSeconds,
    decodeSeconds,
    decodeSteps: stepped,
    stoppedBy,
    stopToken,
    plan,
    memoryBytes: decoder.memoryBytes,
  };
}


/** The one summary line after a run. */
export function summaryLine(r: GenerateResult, build: Build): string {
  const rate = (n: number, s: number) => (s > 0 ? (n / s).toFixed(1) : "–");
  const slimLayers = r.plan.modes.filter((m) => m === "slim").length;
  const mode = slimLayers === r.plan.modes.length ? "slim" : slimLayers === 0 ? "vanilla" : `hybrid ${slimLayers}/${r.plan.modes.length} slim`;
  const stop = r.stoppedBy === "context" ? " · stopped: context full" : r.stoppedBy === "eos" ? ` · stopped at ${r.stopToken ?? "the end-of-text token"}` : "";
  return (
    `prefill ${r.promptTokens} tok at ${rate(r.promptTokens, r.prefillSeconds)} tok/s · ` +
    `decode ${r.generated} tok at ${rate(r.decodeSteps, r.decodeSeconds)} tok/s · ` +
    `context memory ${formatBytes(r.plan.contextBytes)} (${mode}; vanilla would need ${formatBytes(r.plan.vanillaContextBytes)}) for ${r.plan.ctx} tokens · ` +
    `arena ${r.plan.totalBytes} bytes (${formatBytes(r.memoryBytes)} linear memory) · ${build}, ${r.plan.weights} weights, ${r.plan.kCache} cache rows${stop}`
  );
}
