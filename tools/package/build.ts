/**
 * `slimedge build`: from a lowered model (a .slim file's stored bytes, or a checkpoint slimified and
 * lowered in memory: tools/convert/prepare.ts) and a board to a board-ready artifact folder.
 *
 *   1 plan the arena for the model's layer modes and weight dtype   2 check it fits the board — before
 *   compiling   3 the prebuilt reactor with its memory fixed to minimum == maximum == planned pages
 *   (compileReactor)   4 package the standalone WASI command (weights, plan and tokenizer as data
 *   segments)   5 verify both with binaryen   6 write plan.json, the memory map (text and SVG) and the
 *   artifacts, each to a temporary name and then renamed.
 */
import { writeOutputDir } from "../../host/core/files.ts";
import { withFixedMemory } from "../../host/runtime/wasm.ts";
import type { Model } from "../../host/core/model.ts";
import { type ArenaPlan, type AttentionMode, type CacheDtype, type WeightDtype, formatMemoryMap, DECODER_WEIGHTS } from "../../host/core/plan.ts";
import type { LoweredModel } from "../../host/core/lowered.ts";
import type { LayerRecord } from "../../host/core/slim-format.ts";
import { type Build, loadDecoderBytes } from "../../host/runtime/decoder.ts";
import { fail } from "../../host/core/errors.ts";
import { estimateTokensPerSecond } from "../../host/core/estimate.ts";
import type { BoardProfile } from "../../boards/profile.ts";
import type { LayerReport } from "../convert/slimify.ts";
import { prepareModel } from "../convert/prepare.ts";
import { boardThroughput, buildPlan, flashUse, formatFlashUse, overBudget, ramArenaBytes, ramUse } from "./fit.ts";
import { formatBoardMemory } from "../../boards/runtimes.ts";
import { buildCommand, buildCoreCommand } from "./command.ts";
import { memoryMapSvg } from "./memory-map.ts";
import { verifyArtifact, ALLOWED_WASI } from "./verify.ts";

export interface BuildOptions {
  name: string; // artifact base name
  board: BoardProfile;
  ctx: number;
  simd: "on" | "off" | "auto"; // auto: what the board's runtime has
  kCache?: CacheDtype; // cache row storage (default f32)
  out: string;
  onStep?: (step: number, total: number, what: string) => void;
}

/** How a checkpoint is made ready first (buildArtifact). */
export interface CheckpointOptions {
  mode: AttentionMode | "auto"; // slim and auto: slimify decides per layer where W_K is square; vanilla: none
  quant: WeightDtype;
  threshold: number; // V-reconstruction error above which a layer keeps its V-cache
  calibration?: readonly number[]; // token ids slimify measures on (tools/convert/calibrate.ts calibrationTokens); none: random inputs
}

/** What decided the layer modes, for plan.json: slimify's report, a .slim file's stored records, or null. */
export type LayerDecision = LayerReport[] | LayerRecord[] | null;

export interface BuildResult {
  plan: ArenaPlan;
  build: Build;
  layers: LayerDecision;
  files: string[];
}

const STEPS = 6;

/**
 * The reactor for a plan: the prebuilt build/decoder.<build>.wasm (compiled once by `npm run asbuild`, shipped
 * in the package) with its memory section rewritten to minimum == maximum == pages. Only the memory limits
 * depend on the plan, so nothing is compiled per build and no compiler is needed at run time; the suite checks
 * the result equals asc's own compile with --initialMemory/--maximumMemory (test/package.test.ts).
 */
export function compileReactor(build: Build, pages: number): Uint8Array {
  return withFixedMemory(loadDecoderBytes(build), pages);
}

/** plan.json: every region, tensor, cache and buffer with its offset and size, plus what chose them. */
function planJson(plan: ArenaPlan, board: BoardProfile, build: Build, layers: LayerDecision, coreBytes: number, commandBytes: number): string {
  const estimate = (n: number) => Number(estimateTokensPerSecond(plan, n, boardThroughput(board)).toPrecision(3));
  return JSON.stringify(
    {
      board: board.name,
      build,
      ctx: plan.ctx,
      pages: plan.pages,
      totalBytes: plan.totalBytes,
      contextBytes: plan.contextBytes,
      vanillaContextBytes: plan.vanillaContextBytes,
      modes: plan.modes,
      weights: plan.weights,
      ...(plan.weights === "q8_0" || plan.weights === "q4_0" ? { groupSize: plan.groupSize } : {}),
      kCache: plan.kCache,
      config: plan.config,
      regions: plan.regions,
      layers: plan.layers,
      activations: plan.activations,
      slimify: layers,
      memory: ramUse(plan, board, coreBytes) ?? { note: `${board.runtime} on an OS: the profile's linear memory leaves the OS and runtime their share` },
      // the RAM budget and the flash budget, each against the board's (ARCHITECTURE.md, "Weights in flash")
      ram: { arenaBytes: ramArenaBytes(plan, board), linearMemoryBytes: board.linearMemoryBytes, total: ramUse(plan, board, coreBytes)?.total ?? null, ramBytes: board.ramBytes },
      flash: {
        readInPlace: plan.flash, // [offset, offset + size) of the module's memory: weights and RoPE table, read from the model partition
        use: flashOf(plan, board, coreBytes, commandBytes),
      },
      estimatedTokensPerSecond: {
        runtime: board.runtime,
        note: `host/core/estimate.ts: counted bytes and MACs against the board profile's figures for ${board.runtime}; not measured`,
        at64: estimate(Math.min(64, plan.ctx)),
        atCtx: estimate(plan.ctx),
      },
    },
    null,
    2,
  );
}

/** The flash the images take, with the model image at its built size (null: the board has no SPI flash). */
function flashOf(plan: ArenaPlan, board: BoardProfile, coreBytes: number, commandBytes: number) {
  const f = flashUse(plan, board, coreBytes);
  if (!f) return null;
  const model = Math.ceil((commandBytes + 36) / 4096) * 4096; // the module, ≥ 4 bytes of 0xFF and the 16-byte check
  return { ...f, model, total: f.total - f.model + model };
}

/** The board's whole RAM and flash for this plan, as lines under the memory map (none on boards with an OS). */
function boardRamLine(plan: ArenaPlan, board: BoardProfile, coreBytes: number, commandBytes: number): string {
  const ram = ramUse(plan, board, coreBytes);
  const flash = flashOf(plan, board, coreBytes, commandBytes);
  return (ram ? `board RAM (${board.name}, ${board.runtime}): ${formatBoardMemory(ram)}\n` : "") + (flash ? `board flash (${board.name}): ${formatFlashUse(flash)}\n` : "");
}

/** A checkpoint slimified and lowered in memory (tools/convert/prepare.ts), then built as buildLowered does. */
export async function buildArtifact(model: Model, tokenizerBytes: Uint8Array, o: BuildOptions & CheckpointOptions): Promise<BuildResult> {
  if (!DECODER_WEIGHTS.includes(o.quant))
    fail("E_FLAG", `--weights ${o.quant}: the decoder runs ${DECODER_WEIGHTS.join(" and ")} weights; \`slimedge plan\` sizes ${o.quant}`);
  const { lowered, layers } = prepareModel(model, { mode: o.mode, weights: o.quant, slimify: { threshold: o.threshold, prompt: o.calibration, kCache: o.kCache } });
  return buildLowered(lowered, layers, tokenizerBytes, o);
}

/** The artifact folder for a lowered model, its layer modes and bytes used as they are. */
export async function buildLowered(lowered: LoweredModel, layers: LayerDecision, tokenizerBytes: Uint8Array, o: BuildOptions): Promise<BuildResult> {
  const step = (i: number, what: string) => o.onStep?.(i, STEPS, what);
  const build: Build = o.simd === "on" ? "simd" : o.simd === "off" ? "scalar" : o.board.simd ? "simd" : "scalar";
  if (build === "simd" && !o.board.simd) fail("E_FLAG", `--simd on: ${o.board.name} runs ${o.board.runtime} without WASM SIMD; use --simd off or auto`);

  step(1, "plan");
  const plan = buildPlan(lowered, o.ctx, { kCache: o.kCache, tokenizerBytes: tokenizerBytes.length, board: o.board });
  step(2, `fit ${o.board.name}`);
  const over = overBudget(plan, o.board);
  if (over) throw over;

  step(3, `${build} reactor (${plan.pages} pages)`);
  const reactor = compileReactor(build, plan.pages);
  step(4, "package standalone command");
  const command = buildCommand(lowered, tokenizerBytes, plan, { build });
  const core = buildCoreCommand(plan, "scalar"); // the board firmware's module: the model comes from flash
  // the estimate fit() used bounds the model image; the image now has its exact size
  const flash = flashOf(plan, o.board, core.length, command.length);
  if (flash && flash.total > flash.flash)
    fail("E_FIT", `does not fit ${o.board.name}: the images need ${flash.total} bytes of flash, ${flash.total - flash.flash} more than the board's ${flash.flash} (${formatFlashUse(flash)}); RAM: ${ramArenaBytes(plan, o.board)} bytes for the arena of ${o.board.linearMemoryBytes}`);

  // one step line per module: verifying all three takes seconds, and each line says what is being checked
  step(5, `verify ${o.name}.wasm (1/3)`);
  const problems = verifyArtifact(reactor, { pages: plan.pages, allowedImports: [], simd: build === "simd" }).map((p) => `${o.name}.wasm: ${p}`);
  step(5, `verify ${o.name}.cmd.wasm (2/3)`);
  problems.push(...verifyArtifact(command, { pages: plan.pages, allowedImports: ALLOWED_WASI, simd: build === "simd" }).map((p) => `${o.name}.cmd.wasm: ${p}`));
  step(5, `verify ${o.name}.core.wasm (3/3)`);
  problems.push(...verifyArtifact(core, { pages: plan.pages, allowedImports: ALLOWED_WASI, simd: false }).map((p) => `${o.name}.core.wasm: ${p}`));
  if (problems.length > 0) fail("E_RUNTIME", `artifact verification failed: ${problems.join("; ")}`);

  step(6, `write ${o.out}`);
  // One output: every file written whole, or none of them (host/core/files.ts writeOutputDir).
  const files = writeOutputDir(o.out, "--out", [
    { name: `${o.name}.wasm`, data: reactor },
    { name: `${o.name}.cmd.wasm`, data: command },
    { name: `${o.name}.core.wasm`, data: core },
    { name: "plan.json", data: planJson(plan, o.board, build, layers, core.length, command.length) },
    { name: "memory-map.txt", data: formatMemoryMap(plan) + "\n" + boardRamLine(plan, o.board, core.length, command.length) },
    { name: "memory-map.svg", data: memoryMapSvg(plan, o.board) },
  ]);
  return { plan, build, layers, files };
}
