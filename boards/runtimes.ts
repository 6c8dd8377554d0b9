/**
 * What each way of running the module costs in RAM besides its linear memory (ARCHITECTURE.md, "Memory that
 * fits"): the module bytes the runtime keeps, the runtime's own memory, the wasm and native stacks, and the
 * firmware's own state; and what the board's system software keeps. The planner adds these to the linear
 * memory and holds the sum to the board's RAM, so a build that does not fit fails with these numbers.
 */
import type { BoardProfile, Runtime } from "./profile.ts";

const KiB = 1024;

export interface RuntimeMemory {
  runtime: Runtime;
  /** WAMR keeps the loaded .wasm in RAM (writable) until unload; native code lives in flash. */
  keepsModule: boolean;
  /** The runtime's own peak memory outside linear memory. */
  runtimeBytes: number;
  wasmStackBytes: number;
  nativeStackBytes: number;
  /** The firmware's own .data and .bss (glue, instance, buffers). */
  firmwareBytes: number;
  basis: string;
}

/** Per runtime kind; null for runtimes on an OS (wasmtime, node), whose share the profile's linearMemoryBasis already leaves. */
export const RUNTIME_MEMORY: Partial<Record<Runtime, RuntimeMemory>> = {
  "wamr-interp": {
    runtime: "wamr-interp",
    keepsModule: true,
    runtimeBytes: 119_832,
    wasmStackBytes: 8 * KiB,
    nativeStackBytes: 8 * KiB,
    firmwareBytes: 16 * KiB,
    basis:
      "measured: WAMR's fast interpreter (iwasm built from source) holds 119,832 B outside linear memory at peak for the " +
      "25 KB reactor, app heap 0, and keeps the module itself; the command needs at least 2.7 KiB of wasm stack (8 KiB " +
      "planned). estimate: 8 KiB for the task's native stack and 16 KiB for the glue's state",
  },
  "wamr-classic": {
    runtime: "wamr-classic",
    keepsModule: true,
    runtimeBytes: 49_048,
    wasmStackBytes: 8 * KiB,
    nativeStackBytes: 8 * KiB,
    firmwareBytes: 16 * KiB,
    basis:
      "measured: WAMR's classic interpreter holds 49,048 B outside linear memory at peak for the 25 KB reactor, app heap 0, " +
      "and keeps the module; stacks and glue as for the fast interpreter",
  },
  "wasm2c-native": {
    runtime: "wasm2c-native",
    keepsModule: false,
    runtimeBytes: 0,
    wasmStackBytes: 0,
    nativeStackBytes: 8 * KiB,
    firmwareBytes: 13_336,
    basis:
      "measured on the emulated boards: the native firmware's .data + .bss is 13,332 B (rv32) and 13,112 B (Cortex-M33); " +
      "its code and the module's static data are in flash; wasm locals are C locals, and the native stack peaked at " +
      "1,132 B of the 8 KiB planned; no runtime, no module copy",
  },
  wasm3: {
    runtime: "wasm3",
    keepsModule: true,
    runtimeBytes: 160 * KiB,
    wasmStackBytes: 64 * KiB,
    nativeStackBytes: 8 * KiB,
    firmwareBytes: 16 * KiB,
    basis: "estimate: wasm3 compiles the module to threaded code a few times its size (~4x) plus its environment; its value stack is 64 KiB by default",
  },
};

/** What the board's system software (SDK, RTOS, caches) keeps of its RAM; estimates, with their basis. */
const SYSTEM: Record<string, { bytes: number; basis: string }> = {
  esp32: { bytes: 264 * KiB, basis: "estimate: SRAM0 (192 KiB) is instruction RAM and flash cache, ROM keeps 8 KiB, ESP-IDF and FreeRTOS ~64 KiB" },
  "esp32-psram": { bytes: 264 * KiB, basis: "estimate: as esp32" },
  "esp32-s3": { bytes: 128 * KiB, basis: "estimate: 32 KiB of caches, ESP-IDF and FreeRTOS ~96 KiB of the 512 KiB SRAM" },
  "esp32-c3": { bytes: 80 * KiB, basis: "estimate: 16 KiB flash cache, ESP-IDF and FreeRTOS ~64 KiB" },
  "esp32-p4": { bytes: 128 * KiB, basis: "estimate: caches and ESP-IDF with FreeRTOS ~128 KiB of the 768 KiB L2MEM" },
  rp2350: { bytes: 8 * KiB, basis: "estimate: the pico-sdk's runtime state and the two 4 KiB core-stack banks" },
  "rp2350-psram": { bytes: 8 * KiB, basis: "estimate: as rp2350" },
};

export interface BoardMemory {
  runtime: Runtime;
  linearMemory: number;
  module: number;
  runtimeBytes: number;
  wasmStack: number;
  nativeStack: number;
  firmware: number;
  system: number;
  total: number;
  ram: number;
  basis: string;
}

/**
 * Everything the board holds for a module of `moduleBytes` with `linearMemory` bytes of linear memory: null
 * on boards with an OS (the profile's linear memory figure already leaves its share).
 */
export function boardMemory(board: BoardProfile, linearMemory: number, moduleBytes: number): BoardMemory | null {
  const r = RUNTIME_MEMORY[board.runtime];
  const system = SYSTEM[board.name];
  if (!r || !system) return null;
  const module = r.keepsModule ? moduleBytes : 0;
  const total = linearMemory + module + r.runtimeBytes + r.wasmStackBytes + r.nativeStackBytes + r.firmwareBytes + system.bytes;
  return {
    runtime: board.runtime,
    linearMemory,
    module,
    runtimeBytes: r.runtimeBytes,
    wasmStack: r.wasmStackBytes,
    nativeStack: r.nativeStackBytes,
    firmware: r.firmwareBytes,
    system: system.bytes,
    total,
    ram: board.ramBytes,
    basis: `${r.basis}; system: ${system.basis}`,
  };
}

/** "linear memory 196608 + module 0 + runtime 0 + wasm stack 0 + native stack 8192 + firmware 13336 + system 81920 = 300056 of 409600 bytes" */
export function formatBoardMemory(m: BoardMemory): string {
  return (
    `linear memory ${m.linearMemory} + module kept ${m.module} + ${m.runtime} runtime ${m.runtimeBytes} + wasm stack ${m.wasmStack} + ` +
    `native stack ${m.nativeStack} + firmware ${m.firmware} + system ${m.system} = ${m.total} of ${m.ram} bytes of RAM`
  );
}

/**
 * Whether the board's firmware reads the read-only part of the arena (weights, RoPE table) in place from
 * flash instead of copying it into RAM (ARCHITECTURE.md, "Weights in flash"): the native firmware on a board
 * whose SPI flash is memory-mapped (the ESP32 family through its cache MMU, the RP2350 through XIP). WAMR
 * allocates the whole linear memory itself, and boards without flash boot from an SD card.
 */
export const weightsInFlash = (board: BoardProfile): boolean => board.runtime === "wasm2c-native" && board.flashBytes !== null;
