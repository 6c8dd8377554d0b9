/** ESP32-S3 N16R8 (ESP32-S3-WROOM-1-N16R8 / DevKitC-1 N16R8): 8 MB octal PSRAM holds the arena. */
import { type BoardProfile, KiB, MiB } from "./profile.ts";

export const esp32S3: BoardProfile = {
  name: "esp32-s3",
  title: "ESP32-S3 N16R8 (ESP32-S3-WROOM-1-N16R8: 16 MB flash, 8 MB octal PSRAM)",
  cpu: { core: "Xtensa LX7", isa: "xtensa", clockMHz: 240, cores: 2, fpu: "f32" },
  ramBytes: 512 * KiB + 8 * MiB,
  psramBytes: 8 * MiB,
  arenaMemory: "PSRAM",
  linearMemoryBytes: 7.5 * MiB, // 120 pages
  linearMemoryBasis:
    "The 8 MiB PSRAM is mapped whole (the S3 has 32 MB of virtual address space for external RAM) and " +
    "ESP-IDF's malloc hands allocations above 16 KiB to PSRAM, so the linear memory lands there while ESP-IDF, " +
    "FreeRTOS stacks and WAMR itself stay in the 512 KiB internal SRAM. 512 KiB of PSRAM is kept back for the " +
    "firmware's buffers, Wi-Fi/lwIP buffers that spill into PSRAM and heap fragmentation: 120 pages.",
  flashBytes: 16 * MiB,
  runtime: "wasm2c-native",
  simd: false,
  throughput: {
    memoryBytesPerSecond: 40e6,
    f32MacsPerSecond: { scalar: 60e6, simd: null },
    basis:
      "PSRAM: octal SPI, DTR at 80 MHz, is 160 MB/s raw; through the data cache with line fills ~40 MB/s " +
      "sustained read is assumed. Compute: LX7 madd.s loop ~2-3 cycles per MAC natively (~100 M MAC/s); the " +
      "wasm2c-native firmware keeps software bounds checks on a 32-bit target, ~60 % of native assumed. wasm2c " +
      "translates the scalar build only, and the S3's own 128-bit PIE vector instructions are not used.",
  },
  sources: [
    "ESP32-S3 Series Datasheet v1.x, §1 Overview and §4.1.1 CPU (dual-core Xtensa LX7 up to 240 MHz, single-precision FPU)",
    "ESP32-S3 Series Datasheet v1.x, §4.1.3 Memory (512 KB SRAM, 384 KB ROM; external flash and RAM through cache)",
    "ESP32-S3-WROOM-1 Datasheet v1.x, Table 1-1 Ordering Information (N16R8: 16 MB quad SPI flash, 8 MB octal SPI PSRAM)",
    "ESP-IDF Programming Guide (ESP32-S3), API Guides › Support for External RAM (32 MB virtual address space, malloc from PSRAM, CONFIG_SPIRAM_MALLOC_ALWAYSINTERNAL)",
    "ESP-IDF Kconfig SPIRAM_SPEED for ESP32-S3 (80 MHz octal PSRAM; 120 MHz experimental)",
    "WAMR doc/build_wamr.md (XTENSA target for wamrc and the AOT runtime; 128-bit SIMD only for x86-64 and aarch64)",
    "estimate: linearMemoryBytes (512 KiB reserve in PSRAM), not measured on a board",
    "estimate: memoryBytesPerSecond (from the octal DTR clock) and f32MacsPerSecond, not measured",
  ],
};
