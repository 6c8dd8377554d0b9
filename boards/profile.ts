/**
 * What a board offers the decoder module: one profile per board, plain data with its sources
 * (ARCHITECTURE.md, "Boards and fit").
 *
 * The number that matters most is `linearMemoryBytes`: the bytes a runtime on that board can hand the module
 * as its one fixed-size linear memory, after the OS, the runtime and their stacks have taken their share.
 * WebAssembly memory comes in whole 64 KiB pages and must be one contiguous block, so every profile states it
 * as whole pages. Speed figures are for an estimator, not a promise: each profile says how it got them, and
 * marks estimates as estimates in `sources`.
 */

/** Bytes of one WebAssembly page (the core spec's fixed page size; host/plan.ts PAGE_BYTES is the same number). */
export const WASM_PAGE_BYTES = 65536;
/** The most a wasm32 memory can hold: 65536 pages. */
export const WASM32_MAX_BYTES = 65536 * WASM_PAGE_BYTES;

export const KiB = 1024;
export const MiB = 1024 * KiB;
export const GiB = 1024 * MiB;
/** `n` wasm pages in bytes. */
export const pages = (n: number): number => n * WASM_PAGE_BYTES;

/**
 * How the module runs on the board, only ways the toolkit builds or deploys to. wamr-interp: WAMR's fast
 * interpreter and wamr-classic its classic one (the WAMR firmware, boards/firmware/esp-idf); wasm2c-native:
 * the module translated to C and compiled into the firmware (boards/firmware/native); wasm3: the wasm3
 * interpreter; wasmtime: Cranelift-compiled code; node: V8. What each costs in RAM: boards/runtimes.ts.
 */
export type Runtime = "wamr-interp" | "wamr-classic" | "wasm2c-native" | "wasm3" | "wasmtime" | "node";

export interface Cpu {
  core: string; // e.g. "Xtensa LX7"
  isa: "xtensa" | "riscv32" | "armv8-m" | "aarch64" | "x86_64" | string;
  clockMHz: number | null; // null only for the host profile when the OS does not report a clock
  cores: number; // the module is single-threaded: one core runs it, the others serve the OS / radio
  fpu: "none" | "f32" | "f32+f64";
}

export interface Throughput {
  /** Sustained read bandwidth in bytes/s from the memory the arena lives in (PSRAM when the profile uses it). */
  memoryBytesPerSecond: number;
  /**
   * f32 multiply-accumulates per second that one thread of the module reaches under `runtime`, in a
   * matrix-vector product whose operands are already in cache/SRAM: the scalar build, and the SIMD build
   * (null when the runtime has no WASM SIMD there).
   */
  f32MacsPerSecond: { scalar: number; simd: number | null };
  /** How the figures were reached. */
  basis: string;
}

export interface BoardProfile {
  /** The `--board` value. */
  name: string;
  /** The board or module a reader can buy, with the variant the numbers are for. */
  title: string;
  cpu: Cpu;
  /** All RAM on the board: on-chip SRAM plus PSRAM, or the SBC's DRAM. */
  ramBytes: number;
  /** PSRAM included in ramBytes (0 when the board has none). */
  psramBytes: number;
  /** Where the module's linear memory (and so the whole arena) lives. */
  arenaMemory: "internal SRAM" | "PSRAM" | "DRAM";
  /** Bytes the runtime can give the module's linear memory on this board: whole pages, one block. */
  linearMemoryBytes: number;
  /** Why linearMemoryBytes is what it is: what the OS, the runtime and their stacks keep. */
  linearMemoryBasis: string;
  /** Flash for the firmware and the model; null for boards that boot from an SD card. */
  flashBytes: number | null;
  runtime: Runtime;
  /** Whether `runtime` runs WASM 128-bit SIMD on this CPU (the decoder's SIMD build needs it). */
  simd: boolean;
  throughput: Throughput;
  /** Where each fact comes from; entries starting with "estimate:" mark figures that are estimates. */
  sources: string[];
}
