/**
 * The slimedge library: `import { … } from "slimedge"`. Every command of the CLI is one of these functions
 * with its flags as one options object (host/cli/ prints what they return); progress and streamed text come
 * through callbacks; every refusal is a SlimedgeError whose `code` says what kind and whose message is the
 * one line the CLI prints.
 *
 *   import { generate, plan, build } from "slimedge";
 *   const r = await generate({ prompt: "Once upon a time", steps: 32, temperature: 0, onToken: (t) => process.stdout.write(t) });
 */
import { allBoards } from "../../boards/index.ts";
import type { BoardProfile } from "../../boards/profile.ts";

export { SlimError as SlimedgeError, type ErrorCode } from "../core/errors.ts";
export { open, convert, type OpenOptions, type OpenedModel, type ConvertOptions, type Converted } from "./convert.ts";
export { generate, DEFAULT_PROMPT, type GenerateOptions, type Generated } from "./generate.ts";
export { plan, build, type PlanOptions, type PlanReport, type BuildOptions, type Built } from "./build.ts";
export { deploy, rollback, flash, type DeployOptions, type RollbackOptions, type FlashOptions, type BoardTarget, type TextSinks } from "./ship.ts";
export { DEFAULT_MODEL_DIR } from "./model.ts";
export type { ArenaPlan, AttentionMode, CacheDtype, WeightDtype } from "../core/plan.ts";
export type { ModelConfig } from "../core/model.ts";
export type { BoardProfile };

/** The board profiles `plan`, `build`, `generate` and `deploy` take by name. */
export function boards(): BoardProfile[] {
  return allBoards();
}
