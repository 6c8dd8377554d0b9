/** Raspberry Pi Pico 2 (RP2350A, 4 MB flash): the arena must fit in on-chip SRAM. */
import { type BoardProfile, KiB, MiB, pages } from "./profile.ts";

export const rp2350: BoardProfile = {
  name: "rp2350",
  title: "Raspberry Pi Pico 2 (RP2350A: two Cortex-M33 or Hazard3 RISC-V cores, 520 KB SRAM, 4 MB flash)",
  cpu: { core: "Arm Cortex-M33", isa: "armv8-m", clockMHz: 150, cores: 2, fpu: "f32" },
  ramBytes: 520 * KiB,
  psramBytes: 0,
  arenaMemory: "internal SRAM",
  linearMemoryBytes: pages(4),
  linearMemoryBasis:
    "520 KiB SRAM (eight striped 64 KiB banks plus two 4 KiB banks that the pico-sdk uses for the core " +
    "stacks). Code runs from flash (XIP), and so does the wasm2c-native firmware's translated module, so RAM " +
    "holds only the SDK's and the firmware's .data/.bss (13 KiB) and an 8 KiB stack; the rest is kept for the " +
    "application around the model. Linear memory is whole 64 KiB pages in one block: 4 pages (256 KiB).",
  flashBytes: 4 * MiB,
  runtime: "wasm2c-native",
  simd: false,
  throughput: {
    memoryBytesPerSecond: 400e6,
    f32MacsPerSecond: { scalar: 30e6, simd: null },
    basis:
      "SRAM: one 32-bit access per cycle per bank port at 150 MHz is 600 MB/s per core; ~400 MB/s sustained " +
      "assumed. Compute: the M33's single-precision FPU with loads runs a MAC in ~3 cycles natively (~50 M " +
      "MAC/s); the wasm2c-native firmware keeps software bounds checks, ~60 % of native assumed; no WASM SIMD. " +
      "`slimedge run --board rp2350 --emulate` counts its instructions per token in QEMU.",
  },
  sources: [
    "RP2350 Datasheet, §1 Introduction (dual Cortex-M33 or Hazard3 at 150 MHz; 520 kB SRAM in 10 banks)",
    "RP2350 Datasheet, §2.2.3 SRAM (SRAM0-7 striped 64 kB banks, SRAM8-9 4 kB banks)",
    "RP2350 Datasheet, §3.6 Cortex-M33 Coprocessors and §3.7 Cortex-M33 processor (single-precision FPU, DCP for double)",
    "Raspberry Pi Pico 2 Datasheet, §1 About Pico 2 (RP2350A, 4 MB QSPI flash)",
    "measured: the wasm2c-native firmware on the emulated Cortex-M33 (QEMU mps2-an505): .data+.bss 13,112 B, stack peak 1,132 B",
    "estimate: linearMemoryBytes 4 pages, from the SDK and firmware footprint, not measured on a board",
    "estimate: memoryBytesPerSecond and f32MacsPerSecond, not measured",
  ],
};
