/** ESP32 with 4 MB of quad-SPI PSRAM (ESP32-WROVER class): the arena lives in PSRAM. */
import { type BoardProfile, KiB, MiB } from "./profile.ts";

export const esp32Psram: BoardProfile = {
  name: "esp32-psram",
  title: "ESP32 + 4 MB PSRAM (ESP32-WROVER class module, 4 MB flash)",
  cpu: { core: "Xtensa LX6", isa: "xtensa", clockMHz: 240, cores: 2, fpu: "f32" },
  ramBytes: 520 * KiB + 4 * MiB,
  psramBytes: 4 * MiB,
  arenaMemory: "PSRAM",
  linearMemoryBytes: 3.5 * MiB, // 56 pages
  linearMemoryBasis:
    "The ESP32 maps at most 4 MiB of PSRAM into its data address space (0x3F800000-0x3FBFFFFF; an 8 MB " +
    "WROVER-E reaches the rest only by bank switching, which a linear memory cannot use). With " +
    "CONFIG_SPIRAM_USE_MALLOC, allocations above 16 KiB go to PSRAM, so the linear memory lands there; 512 KiB " +
    "is kept back for what else ESP-IDF and WAMR place in PSRAM (the module and its pre-compiled code, Wi-Fi " +
    "and lwIP buffers when enabled) and for heap fragmentation: 56 pages.",
  flashBytes: 4 * MiB,
  runtime: "wamr-interp",
  simd: false,
  throughput: {
    memoryBytesPerSecond: 12e6,
    f32MacsPerSecond: { scalar: 5e6, simd: null },
    basis:
      "PSRAM: quad SPI at ESP-IDF's default 40 MHz is 20 MB/s raw (80 MHz: 40 MB/s); with 32-byte cache-line " +
      "fills and command overhead ~12 MB/s sustained read is assumed, so streaming the weights, not arithmetic, " +
      "bounds tokens/s. Compute as for the esp32 profile: ~80 M MAC/s native, fast interpreter ~15x slower, " +
      "no WASM SIMD on Xtensa.",
  },
  sources: [
    "ESP32 Series Datasheet v4.x, §3.1 CPU and §3.3 Internal Memory (dual-core LX6 at 240 MHz, 520 KB SRAM)",
    "ESP32 Technical Reference Manual, §1.3.2 External Memory (4 MB of external SRAM mapped at 0x3F800000)",
    "ESP-IDF Programming Guide (ESP32), API Guides › Support for External RAM (CONFIG_SPIRAM_USE_MALLOC, CONFIG_SPIRAM_MALLOC_ALWAYSINTERNAL = 16 KB, himem for memory above 4 MB)",
    "ESP32-WROVER-E Datasheet v1.x, §1 Module Overview (flash and PSRAM variants)",
    "WAMR doc/build_wamr.md (XTENSA target; 128-bit SIMD only for x86-64 and aarch64 AOT/JIT)",
    "estimate: linearMemoryBytes (512 KiB reserve in PSRAM), not measured on a board",
    "estimate: memoryBytesPerSecond (from the SPI clock and bus width) and f32MacsPerSecond, not measured",
  ],
};
