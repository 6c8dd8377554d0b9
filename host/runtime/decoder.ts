/**
 * Runs the decoder module in Node: fixes its memory to the planned pages, writes the plan block and the
 * lowered weights at their planned addresses, and drives it through the reactor ABI (host/runtime/reactor.ts,
 * shared with the web page); this file adds the generic builds compiled into build/.
 */
import { readFileSync } from "node:fs";
import { packagePath } from "../core/package-root.ts";
import type { LoweredModel } from "../core/lowered.ts";
import type { ArenaPlan } from "../core/plan.ts";
import { withFixedMemory } from "./wasm.ts";
import { fail } from "../core/errors.ts";
import { Decoder as Reactor, type Build } from "./reactor.ts";

export { type Build, type DecoderExports, statusMessage, writeWeights } from "./reactor.ts";

export const decoderPath = (build: Build): string => packagePath("build", `decoder.${build}.wasm`);

export function loadDecoderBytes(build: Build): Uint8Array {
  try {
    return readFileSync(decoderPath(build));
  } catch {
    return fail("E_FILE", `${decoderPath(build)}: decoder module missing; run \`npm install\` (it compiles assembly/)`);
  }
}

/** The reactor driver; `create` defaults to the generic build of `build`, fixed to the plan's pages. */
export class Decoder extends Reactor {
  static override async create(lowered: LoweredModel, plan: ArenaPlan, build: Build = "simd", module?: Uint8Array | (() => Uint8Array)): Promise<Reactor> {
    return Reactor.create(lowered, plan, build, module ?? (() => withFixedMemory(loadDecoderBytes(build), plan.pages)));
  }
}
