/** ESP32-P4 with 32 MB in-package PSRAM (ESP32-P4NRW32, e.g. ESP32-P4-Function-EV-Board). */
import { type BoardProfile, KiB, MiB } from "./profile.ts";

export const esp32P4: BoardProfile = {
  name: "esp32-p4",
  title: "ESP32-P4 (ESP32-P4NRW32: 32 MB in-package PSRAM; 16 MB flash on the Function EV board)",
  cpu: { core: "RISC-V RV32IMAFC", isa: "riscv32", clockMHz: 400, cores: 2, fpu: "f32" },
  ramBytes: 768 * KiB + 32 * MiB,
  psramBytes: 32 * MiB,
  arenaMemory: "PSRAM",
  linearMemoryBytes: 31 * MiB, // 496 pages
  linearMemoryBasis:
    "The 32 MiB PSRAM is mapped whole and large allocations go there; ESP-IDF, stacks and the firmware stay in the " +
    "768 KiB HP L2 memory. 1 MiB of PSRAM is kept back for driver buffers and heap " +
    "fragmentation: 496 pages. A display or camera frame buffer also lives in PSRAM: subtract it when the " +
    "firmware uses one.",
  flashBytes: 16 * MiB,
  runtime: "wasm2c-native",
  simd: false,
  throughput: {
    memoryBytesPerSecond: 200e6,
    f32MacsPerSecond: { scalar: 150e6, simd: null },
    basis:
      "PSRAM: 16-line (hex) interface at 200 MHz DTR is 800 MB/s raw; ~200 MB/s sustained through the L2 " +
      "cache assumed. Compute: the F extension's fmadd.s at 400 MHz, ~2 cycles per MAC with loads natively " +
      "(~200 M MAC/s), the wasm2c-native firmware with software bounds checks ~75 % of that. wasm2c translates " +
      "the scalar build, and the P4's own vector (PIE/AI) instructions are not used. `slimedge run --board " +
      "esp32-p4 --emulate` counts the firmware's instructions per token in QEMU.",
  },
  sources: [
    "ESP32-P4 Series Datasheet v1.x, §1 Overview (dual-core RISC-V HP CPU up to 400 MHz with single-precision FPU and AI extensions; 768 KB HP L2MEM; in-package PSRAM)",
    "ESP32-P4 Technical Reference Manual, System and Memory (HP L2 memory, PSRAM through the L2 cache)",
    "ESP-IDF Programming Guide (ESP32-P4), API Guides › Support for External RAM (hex PSRAM at 200 MHz)",
    "ESP32-P4-Function-EV-Board User Guide (ESP32-P4NRW32 with 32 MB PSRAM, 16 MB SPI flash)",
    "WAMR doc/build_wamr.md (RISCV32 targets, e.g. riscv32 ilp32f; 128-bit SIMD only for x86-64 and aarch64)",
    "assumption: WAMR's ESP-IDF component builds for the P4 as for the other RISC-V ESP targets",
    "estimate: linearMemoryBytes (1 MiB reserve in PSRAM), not measured on a board",
    "estimate: memoryBytesPerSecond and f32MacsPerSecond, not measured",
  ],
};
