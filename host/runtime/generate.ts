/**
 * Text generation on the decoder: prefill the prompt, then sample and stream tokens, and measure what the
 * summary line reports. The CLI is a thin layer over this; tests call it directly.
 */
import { planArena, type ArenaPlan, type CacheDtype } from "../core/plan.ts";
import { type LoweredModel, planOptionsFor } from "../core/lowered.ts";
import { Decoder, type Build } from "./decoder.ts";
import { Tokenizer, Utf8Stream, BOS, EOS } from "../core/tokenizer.ts";
import { Sampler, type SamplerOptions } from "./sampler.ts";
import { fail } from "../core/errors.ts";
import { formatBytes } from "../core/format.ts";


export interface GenerateOptions {
  prompt: string;
  steps: number; // tokens to generate after the prompt
  ctx: number;
  build: Build;
  kCache?: CacheDtype; // cache rows, default f32
  sampler: SamplerOptions;
  keepGoing?: boolean; // on <s>, start a new line and continue (run.c stops there)
  onText?: (text: string) => void; // streamed output
  checkPlan?: (plan: ArenaPlan) => void; // e.g. a simulated board's budget: throws before anything is loaded
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
  plan: ArenaPlan;
  memoryBytes: number; // the module's linear memory, which never changes after init
}

const now = () => Number(process.hrtime.bigint()) / 1e9;

/** Generates from a lowered model (host/core/lowered.ts): its layer modes and weight dtype are the plan's. */
export async function generate(lowered: LoweredModel, tokenizer: Tokenizer, o: GenerateOptions): Promise<GenerateResult> {
  if (!Number.isInteger(o.steps) || o.steps < 0) fail("E_FLAG", `-n/--steps: expected a whole number ≥ 0, got ${o.steps}`);
  const prompt = tokenizer.encode(o.prompt, { bos: true });
  if (prompt.length > o.ctx)
    fail("E_FLAG", `-p/--prompt: the prompt is ${prompt.length} tokens, longer than the context (--ctx ${o.ctx})`);
  const sampler = new Sampler(o.sampler);
  const plan = planArena(lowered.config, o.ctx, lowered.modes, { ...planOptionsFor(lowered), kCache: o.kCache ?? "f32" });
  o.checkPlan?.(plan);
  const decoder = await Decoder.create(lowered, plan, o.build);

  const stream = new Utf8Stream();
  let text = "";
  const emit = (s: string) => {
    text += s;
    if (s) o.onText?.(s);
  };
  const promptText = tokenizer.decodeAll(prompt);
  emit(promptText);

  let t0 = now();
  let logits = decoder.prefill(prompt);
  const prefillSeconds = now() - t0;
  const tokens = [...prompt];
  let stoppedBy: GenerateResult["stoppedBy"] = "steps";
  let stepped = 0; // decoder steps taken, the denominator of decode speed
  t0 = now();
  for (let i = 0; i < o.steps; i++) {
    const next = sampler.sample(logits);
    if (next === EOS || (next === BOS && !o.keepGoing)) {
      stoppedBy = "eos";
      break;
    }
    // <s> separates training sequences: with keepGoing it starts a new line and generation goes on
    emit(next === BOS ? stream.end() + "\n" : stream.write(tokenizer.decode(tokens[tokens.length - 1], next)));
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
    plan,
    memoryBytes: decoder.memoryBytes,
  };
}


/** The one summary line after a run. */
export function summaryLine(r: GenerateResult, build: Build): string {
  const rate = (n: number, s: number) => (s > 0 ? (n / s).toFixed(1) : "–");
  const slimLayers = r.plan.modes.filter((m) => m === "slim").length;
  const mode = slimLayers === r.plan.modes.length ? "slim" : slimLayers === 0 ? "vanilla" : `hybrid ${slimLayers}/${r.plan.modes.length} slim`;
  const stop = r.stoppedBy === "context" ? " · stopped: context full" : r.stoppedBy === "eos" ? " · stopped at </s>" : "";
  return (
    `prefill ${r.promptTokens} tok at ${rate(r.promptTokens, r.prefillSeconds)} tok/s · ` +
    `decode ${r.generated} tok at ${rate(r.decodeSteps, r.decodeSeconds)} tok/s · ` +
    `context memory ${formatBytes(r.plan.contextBytes)} (${mode}; vanilla would need ${formatBytes(r.plan.vanillaContextBytes)}) for ${r.plan.ctx} tokens · ` +
    `arena ${r.plan.totalBytes} bytes (${formatBytes(r.memoryBytes)} linear memory) · ${build}, ${r.plan.weights} weights, ${r.plan.kCache} cache rows${stop}`
  );
}
