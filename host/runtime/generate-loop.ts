/**
 * The generation loop on a started decoder: prefill the prompt, then sample and stream tokens, and measure
 * what the summary line reports. No Node imports: the CLI (host/runtime/generate.ts) and the web page run
 * this one loop, with the same tokenizer and sampler.
 */
import type { ArenaPlan, CacheDtype } from "../core/plan.ts";
import type { Decoder, Build } from "./reactor.ts";
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
  tick?: () => Promise<void>; // awaited after each token (the web page lets the browser paint)
  checkPlan?: (plan: ArenaPlan) => void; // e.g. a simulated board's budget: throws before anything is loaded
  signal?: AbortSignal; // checked between tokens (the event loop gets a turn before each one); aborting rejects with its reason
}

/** One turn of the event loop: setImmediate in Node, a zero timeout in a browser. */
const yieldTurn = (): Promise<void> =>
  new Promise<void>((r) => (typeof setImmediate === "function" ? setImmediate(r) : setTimeout(r, 0)));

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

const now = () => performance.now() / 1000;
const utf8Bytes = (s: string) => new TextEncoder().encode(s).length;

/** The prompt's ids, refused in one line when -n is not a count or the prompt cannot fit the context. */
export function promptIds(tokenizer: TextTokenizer, o: Pick<GenerateOptions, "prompt" | "steps" | "ctx" | "promptIds">): number[] {
  if (!Number.isInteger(o.steps) || o.steps < 0) fail("E_FLAG", `-n/--steps: expected a whole number ≥ 0, got ${o.steps}`);
  // Refused before encoding: a long prompt costs time to encode, and the context bounds it anyway.
  const least = o.promptIds ? 0 : tokenizer.minPromptTokens(o.prompt);
  if (least > o.ctx)
    fail("E_FLAG", `-p/--prompt: the prompt is at least ${least} tokens (${utf8Bytes(o.prompt)} bytes), longer than the context (--ctx ${o.ctx})`);
  const prompt = o.promptIds ?? tokenizer.prompt(o.prompt);
  if (prompt.length > o.ctx)
    fail("E_FLAG", `-p/--prompt: the prompt is ${prompt.length} tokens, longer than the context (--ctx ${o.ctx})`);
  return prompt;
}

/** Generates on a started decoder from `prompt` (promptIds): streams text through o.onText. */
export async function generateOn(decoder: Decoder, tokenizer: TextTokenizer, prompt: number[], o: GenerateOptions): Promise<GenerateResult> {
  o.signal?.throwIfAborted();
  const sampler = new Sampler(o.sampler);
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
  let paused = 0; // seconds spent in o.tick, not decoding
  t0 = now();
  for (let i = 0; i < o.steps; i++) {
    if (o.signal) {
      await yieldTurn(); // lets a timer or an I/O callback abort between tokens
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
    if (o.tick) {
      const t = now();
      await o.tick();
      paused += now() - t;
    }
    if (i === o.steps - 1) break;
    if (decoder.position >= o.ctx) {
      stoppedBy = "context";
      break;
    }
    logits = decoder.step(next);
    stepped++;
  }
  emit(stream.end());
  const decodeSeconds = now() - t0 - paused;
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
    plan: decoder.plan,
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
