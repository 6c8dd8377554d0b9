/**
 * Verifies a compiled artifact with binaryen before anyone ships it (ARCHITECTURE.md, "Arena" and "Reactor
 * ABI and the standalone command"): it validates, holds no `memory.grow`, its memory limits are exactly the
 * planned pages (min == max), and it imports nothing but the allowed WASI preview-1 calls.
 */
import binaryen from "binaryen";

/**
 * The standard features asc emits for the decoder (the SIMD build adds SIMD128). Deliberately not
 * binaryen's `Features.All`: with it binaryen writes non-standard binaries (compact imports) and would
 * validate instructions no board runtime has.
 */
export const DECODER_FEATURES =
  binaryen.Features.MutableGlobals |
  binaryen.Features.NontrappingFPToInt |
  binaryen.Features.SignExt |
  binaryen.Features.BulkMemory |
  binaryen.Features.BulkMemoryOpt |
  binaryen.Features.SIMD128;

/** The same without 128-bit SIMD: what a board without WASM SIMD offers. */
export const FEATURES_WITHOUT_SIMD = DECODER_FEATURES & ~binaryen.Features.SIMD128;

/** Parses wasm bytes and sets the features later validation (and emitting) uses; the caller disposes it. */
export function readModule(bytes: Uint8Array, features: number = DECODER_FEATURES): binaryen.Module {
  const m = binaryen.readBinary(bytes);
  m.setFeatures(features);
  return m;
}

/** The module as folded wasm text, every instruction as `(name …`. */
export function moduleText(bytes: Uint8Array): string {
  const m = readModule(bytes);
  try {
    return m.emitText();
  } finally {
    m.dispose();
  }
}

/** True when any function body holds a `memory.grow` instruction (there must be none: ARCHITECTURE.md, "Arena"). */
export function findMemoryGrow(bytes: Uint8Array): boolean {
  return /\(memory\.grow\b/.test(moduleText(bytes));
}

/** True when the module uses any 128-bit SIMD type or instruction. */
export function usesSimd(bytes: Uint8Array): boolean {
  return /\bv128\b|\b[if](8x16|16x8|32x4|64x2)\./.test(moduleText(bytes));
}

/** `module.name` of every import (functions, globals, memories, tables, tags), from the wasm text. */
export function importsOf(bytes: Uint8Array): string[] {
  return [...moduleText(bytes).matchAll(/\(import "([^"]*)" "([^"]*)"/g)].map((m) => `${m[1]}.${m[2]}`);
}

/** Export names with binaryen's external kind (0 function, 2 memory). */
export function exportsOf(bytes: Uint8Array): { name: string; kind: number }[] {
  const m = readModule(bytes);
  try {
    return Array.from({ length: m.getNumExports() }, (_, i) => {
      const info = binaryen.getExportInfo(m.getExportByIndex(i));
      return { name: info.name, kind: info.kind };
    });
  } finally {
    m.dispose();
  }
}

/** The defined memory's limits in pages; max is undefined when the module declares none. */
export function memoryLimits(bytes: Uint8Array): { initial: number; max: number | undefined } {
  const m = readModule(bytes);
  try {
    const info = m.getMemoryInfo();
    return { initial: info.initial, max: info.max };
  } finally {
    m.dispose();
  }
}

/** binaryen's validator on the module with the given features; errors go to stderr. */
export function validates(bytes: Uint8Array, features: number = DECODER_FEATURES): boolean {
  const m = readModule(bytes, features);
  try {
    return m.validate() !== 0;
  } finally {
    m.dispose();
  }
}


/** The WASI preview-1 calls a standalone command may import (ARCHITECTURE.md, "Reactor ABI and the standalone command"). */
export const ALLOWED_WASI = [
  "fd_write",
  "args_sizes_get",
  "args_get",
  "environ_sizes_get",
  "environ_get",
  "random_get",
  "clock_time_get",
  "proc_exit",
].map((f) => `wasi_snapshot_preview1.${f}`);

export interface VerifyExpectations {
  pages: number; // planned memory pages: the module's minimum and maximum must both be this
  allowedImports: readonly string[]; // "module.name"; a reactor allows none
  simd: boolean; // whether the build may use 128-bit SIMD
}

/** Every way the artifact breaks the rules, as sentences; empty when it passes. */
export function verifyArtifact(bytes: Uint8Array, want: VerifyExpectations): string[] {
  const problems: string[] = [];
  const features = want.simd ? DECODER_FEATURES : FEATURES_WITHOUT_SIMD;
  if (!validates(bytes, features)) return [`the module does not validate${want.simd ? "" : " without SIMD"}`];
  if (findMemoryGrow(bytes)) problems.push("the module contains a memory.grow instruction");
  const { initial, max } = memoryLimits(bytes);
  if (initial !== want.pages || max !== want.pages)
    problems.push(`memory limits are ${initial}..${max ?? "unbounded"} pages; the plan needs exactly ${want.pages}..${want.pages}`);
  const unexpected = importsOf(bytes).filter((i) => !want.allowedImports.includes(i));
  if (unexpected.length > 0) problems.push(`unexpected imports: ${unexpected.join(", ")}`);
  if (!want.simd && usesSimd(bytes)) problems.push("the module uses SIMD, which the board's runtime does not have");
  return problems;
}
