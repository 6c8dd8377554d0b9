/** RP2350B with 8 MB QSPI PSRAM (Pimoroni Pico Plus 2): the arena lives in PSRAM behind the XIP cache. */
import { type BoardProfile, KiB, MiB } from "./profile.ts";

export const rp2350Psram: BoardProfile = {
  name: "rp2350-psram",
  title: "Pimoroni Pico Plus 2 (RP2350B, 16 MB flash, 8 MB QSPI PSRAM)",
  cpu: { core: "Arm Cortex-M33", isa: "armv8-m", clockMHz: 150, cores: 2, fpu: "f32" },
  ramBytes: 520 * KiB + 8 * MiB,
  psramBytes: 8 * MiB,
  arenaMemory: "PSRAM",
  linearMemoryBytes: 7.5 * MiB, // 120 pages
  linearMemoryBasis:
    "The PSRAM sits on the QSPI memory interface's second chip select and is memory-mapped through the XIP " +
    "cache, so the linear memory can live there once the firmware's linker script (or the heap) points it at " +
    "the PSRAM window; the firmware's state and stack stay in SRAM. 512 KiB of PSRAM is kept back for other " +
    "buffers and fragmentation: 120 pages.",
  flashBytes: 16 * MiB,
  runtime: "wasm2c-native",
  simd: false,
  throughput: {
    memoryBytesPerSecond: 20e6,
    f32MacsPerSecond: { scalar: 30e6, simd: null },
    basis:
      "PSRAM: QSPI at ~75 MHz (150 MHz system clock / 2) is 37.5 MB/s raw, sharing the 16 KiB XIP cache with " +
      "flash; ~20 MB/s sustained read assumed. Compute as for the rp2350 profile (~50 M MAC/s native, the " +
      "wasm2c-native firmware with bounds checks ~60 % of that, no SIMD).",
  },
  sources: [
    "Pimoroni Pico Plus 2 product page (RP2350B, 16 MB QSPI flash, 8 MB QSPI PSRAM)",
    "RP2350 Datasheet, §12.14 QSPI Memory Interface (QMI) (two chip selects; PSRAM on CS1, memory-mapped)",
    "RP2350 Datasheet, §4.4 XIP (16 kB cache shared by both chip selects)",
    "APS6404L-3SQR QSPI PSRAM Datasheet (64 Mbit, up to 133 MHz)",
    "measured: the wasm2c-native firmware on the emulated Cortex-M33 (QEMU mps2-an505): .data+.bss 13,112 B, stack peak 1,132 B",
    "estimate: linearMemoryBytes (512 KiB reserve in PSRAM), not measured on a board",
    "estimate: memoryBytesPerSecond (from the QSPI clock) and f32MacsPerSecond, not measured",
  ],
};
