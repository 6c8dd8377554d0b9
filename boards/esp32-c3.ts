/** ESP32-C3 (ESP32-C3-MINI-1): single RISC-V core without an FPU, no PSRAM. */
import { type BoardProfile, KiB, MiB, pages } from "./profile.ts";

export const esp32C3: BoardProfile = {
  name: "esp32-c3",
  title: "ESP32-C3 (ESP32-C3-MINI-1 module, 4 MB in-package flash, no PSRAM)",
  cpu: { core: "RISC-V RV32IMC", isa: "riscv32", clockMHz: 160, cores: 1, fpu: "none" },
  ramBytes: 400 * KiB,
  psramBytes: 0,
  arenaMemory: "internal SRAM",
  linearMemoryBytes: pages(3),
  linearMemoryBasis:
    "400 KiB SRAM, of which 16 KiB is the flash cache. ESP-IDF's code that must run from RAM plus its " +
    ".data/.bss take about 60-80 KiB and FreeRTOS stacks some more; Wi-Fi, when on, another 50-70 KiB. The " +
    "wasm2c-native firmware keeps no module and no runtime (13 KiB of state, an 8 KiB stack), where WAMR's fast " +
    "interpreter would need ~160 KiB besides the module. What remains is one mostly contiguous DRAM region of " +
    "about 200-250 KiB with Wi-Fi off: 3 pages (192 KiB).",
  flashBytes: 4 * MiB,
  runtime: "wasm2c-native",
  simd: false,
  throughput: {
    memoryBytesPerSecond: 300e6,
    f32MacsPerSecond: { scalar: 2e6, simd: null },
    basis:
      "SRAM: 32-bit loads at 160 MHz are 640 MB/s peak; ~300 MB/s sustained assumed. Compute: RV32IMC has no " +
      "FPU, so every f32 multiply and add is a soft-float library call (~30-40 instructions each); natively " +
      "compiled a MAC costs ~80 cycles. `slimedge run --board esp32-c3 --emulate` counts the firmware's " +
      "instructions per token in QEMU. This board is for sizing, not for speed.",
  },
  sources: [
    "ESP32-C3 Series Datasheet v1.x, §1 Overview and §3.1 CPU (32-bit RISC-V single core up to 160 MHz, RV32IMC, no FPU)",
    "ESP32-C3 Series Datasheet v1.x, §3.2 Memory (400 KB SRAM of which 16 KB cache, 384 KB ROM)",
    "ESP32-C3-MINI-1 Datasheet v1.x, §1 Module Overview (4 MB in-package flash)",
    "ESP-IDF Programming Guide (ESP32-C3), API Guides › Memory Types",
    "WAMR doc/build_wamr.md (RISCV32 target; 128-bit SIMD only for x86-64 and aarch64 AOT/JIT)",
    "estimate: linearMemoryBytes 3 pages, from typical free heap with Wi-Fi off, not measured on a board",
    "estimate: memoryBytesPerSecond and f32MacsPerSecond (soft-float cost), not measured",
  ],
};
