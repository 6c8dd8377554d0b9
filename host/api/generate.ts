/**
 * generate(): text from a model on the host's decoder, streamed piece by piece — what `slimedge run` does
 * (host/cli/run.ts prints what this returns and reports).
 */
import { generate as runDecoder, type GenerateResult, DEFAULT_PREFILL_BLOCK } from "../runtime/generate.ts";
import { SAMPLER_DEFAULTS } from "../runtime/sampler.ts";
import type { Build } from "../runtime/decoder.ts";
import type { AttentionMode, CacheDtype, WeightDtype } from "../core/plan.ts";
import { fail } from "../core/errors.ts";
import { isMultiHead } from "../core/model.ts";
import { chatPrompt } from "../core/chat.ts";
import { getBoard } from "../../boards/index.ts";
import { overBudget } from "../../tools/package/fit.ts";
import { calibrationTokens } from "../../tools/convert/calibrate.ts";
import { slimify } from "../../tools/convert/slimify.ts";
import { openModel, loadModelTokenizer, lowerSource } from "./model.ts";

export type { GenerateResult };

/** The prompt when none is given. */
export const DEFAULT_PROMPT = "Once upon a time";

export interface GenerateOptions {
  /** A .slim file, a llama2.c .bin, a GGUF file or a Hugging Face folder; default: the shipped model. */
  checkpoint?: string;
  /** Prompt text (default "Once upon a time"). With a prompt of its own, slimify decides on its activations. */
  prompt?: string;
  /** Tokens to generate after the prompt (default 64). */
  steps?: number;
  /** Sampling temperature; 0 is greedy (default 1). */
  temperature?: number;
  /** Nucleus sampling threshold in (0, 1] (default 0.9). */
  topP?: number;
  /** Random seed, ≥ 1. */
  seed?: number;
  /** Context length to plan for (default: the model's seq_len). */
  ctx?: number;
  /** Attention: slim (K-cache only, default) or vanilla (K and V cache). */
  mode?: AttentionMode | "auto";
  /** Weight storage of a checkpoint (default f32); a .slim runs the dtype it stores. */
  weights?: WeightDtype;
  /** Cache rows: f32 (default), f16 or q8. */
  cache?: CacheDtype;
  /** The SIMD build (default: true, or the board's runtime's with `board`). */
  simd?: boolean;
  /** Simulate a board profile: its memory budget is enforced before anything loads. */
  board?: string;
  /** Largest V-reconstruction error a slim layer may have (default 1e-3). */
  threshold?: number;
  /** tokenizer.json or tokenizer.bin (default: the model's own). */
  tokenizer?: string;
  /** Prompt tokens per pass over the weights (default 16, or 1 with `board`). */
  prefillBlock?: number;
  /** Put the prompt in the model's chat template as a user message. */
  chat?: boolean;
  /** At the end-of-sequence token start a new line and go on instead of stopping. */
  keepGoing?: boolean;
  /** Stops generation between two tokens; the promise rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Each piece of text as it is decoded: first the prompt, then every generated token's text. */
  onToken?: (text: string) => void;
  /** Things the caller should know (random weights, layers kept vanilla and why), one sentence each. */
  onNote?: (note: string) => void;
}

/** What generate() returns: the text, tokens, timings and the plan the decoder ran. */
export interface Generated extends GenerateResult {
  /** The decoder build that ran. */
  build: Build;
}

/** Generates text from a model with the decoder, streaming it through `onToken`. */
export async function generate(o: GenerateOptions = {}): Promise<Generated> {
  const promptText = o.prompt ?? DEFAULT_PROMPT;
  const note = (s: string) => o.onNote?.(s);
  const mode = o.mode ?? "auto";
  const cache = o.cache ?? "f32";
  const threshold = o.threshold ?? 1e-3;
  o.signal?.throwIfAborted();
  const src = openModel(o.checkpoint, { random: true });
  const tokenizer = loadModelTokenizer(src, o.tokenizer);
  if (src.notice) note(src.notice);
  const seqLen = src.config.seqLen;
  const ctx = o.ctx ?? seqLen;
  if (ctx > seqLen) fail("E_FLAG", `--ctx ${ctx} exceeds the model's seq_len ${seqLen}`);
  const least = tokenizer.minPromptTokens(promptText);
  if (least > ctx) fail("E_FLAG", `-p/--prompt: the prompt is at least ${least} tokens (${Buffer.byteLength(promptText)} bytes), longer than the context (--ctx ${ctx})`);
  const prompt = o.chat ? chatPrompt(tokenizer, promptText) : tokenizer.prompt(promptText);
  // A .slim file runs its stored bytes and layer modes; a checkpoint is slimified and lowered: without a
  // prompt of its own on the model's calibration set, as `plan` and `build` decide (ARCHITECTURE.md,
  // "Numerics"); with one on the prompt's own activations, saying where that decides otherwise than the plan.
  const calibration = calibrationTokens(src.config, tokenizer);
  const ownPrompt = promptText !== DEFAULT_PROMPT || o.chat === true;
  const slimifyOptions = { threshold, kCache: cache };
  const { lowered, notes } = lowerSource(src, {
    mode,
    weights: o.weights,
    slimify: { ...slimifyOptions, prompt: ownPrompt ? prompt.slice(0, 64) : calibration },
  });
  for (const n of notes) note(n);
  if (ownPrompt && src.model && mode !== "vanilla" && isMultiHead(src.config)) {
    const planned = slimify(src.model, { ...slimifyOptions, prompt: calibration }).layers.map((l) => l.mode);
    const differ = lowered.modes.flatMap((m, l) => (m !== planned[l] ? [l] : []));
    if (differ.length > 0) note(planDifference(differ, lowered.modes, calibration !== undefined));
  }
  // A simulated board: its memory budget is enforced before anything loads, and its runtime's SIMD decides the build.
  const board = o.board === undefined ? undefined : getBoard(o.board);
  const build: Build = o.simd === undefined ? (board && !board.simd ? "scalar" : "simd") : o.simd ? "simd" : "scalar";
  if (board && !board.simd && build === "simd") fail("E_FLAG", `--simd on: ${board.name} runs ${board.runtime} without WASM SIMD`);
  const result = await runDecoder(lowered, tokenizer, {
    prompt: promptText,
    steps: o.steps ?? 64,
    ctx,
    build,
    kCache: cache,
    keepGoing: o.keepGoing,
    // a simulated board keeps the smallest arena unless asked; the host takes prompts 16 tokens per weight pass
    prefillBlock: o.prefillBlock ?? (board ? 1 : DEFAULT_PREFILL_BLOCK),
    promptIds: prompt,
    sampler: { temperature: o.temperature ?? SAMPLER_DEFAULTS.temperature, topP: o.topP ?? SAMPLER_DEFAULTS.topP, seed: o.seed ?? SAMPLER_DEFAULTS.seed },
    onText: o.onToken,
    signal: o.signal,
    checkPlan: (plan) => {
      const over = board && overBudget(plan, board);
      if (over) throw over;
    },
  });
  return { ...result, build };
}

/** One line: the layers whose mode the prompt decided otherwise than `plan` does, and how. */
export function planDifference(layers: number[], modes: readonly AttentionMode[], calibrated: boolean): string {
  const say = (ls: number[]) => `layer${ls.length > 1 ? "s" : ""} ${ls.join(", ")}`;
  const slim = layers.filter((l) => modes[l] === "slim");
  const vanilla = layers.filter((l) => modes[l] === "vanilla");
  const parts = [
    ...(slim.length > 0 ? [`${say(slim)} slim where \`slimedge plan\` keeps a V-cache`] : []),
    ...(vanilla.length > 0 ? [`${say(vanilla)} with a V-cache where \`slimedge plan\` runs slim`] : []),
  ];
  return (
    `slimify measured this prompt's activations and runs ${parts.join(", and ")} ` +
    `(plan measures ${calibrated ? "the model's calibration prompt" : "random inputs"}); without -p, run decides as the plan does`
  );
}
