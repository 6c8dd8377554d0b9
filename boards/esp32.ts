/** ESP32 without PSRAM (ESP32-WROOM-32E): the whole arena must fit in internal DRAM. */
import { type BoardProfile, KiB, MiB, pages } from "./profile.ts";

export const esp32: BoardProfile = {
  name: "esp32",
  title: "ESP32 (ESP32-WROOM-32E module, 4 MB flash, no PSRAM)",
  cpu: { core: "Xtensa LX6", isa: "xtensa", clockMHz: 240, cores: 2, fpu: "f32" },
  ramBytes: 520 * KiB,
  psramBytes: 0,
  arenaMemory: "internal SRAM",
  linearMemoryBytes: pages(2),
  linearMemoryBasis:
    "Of the 520 KiB SRAM only about 320 KiB is data RAM (DRAM): SRAM0 serves as instruction RAM and the two " +
    "CPUs' flash caches, and ROM keeps a few KiB. ESP-IDF's .data/.bss, FreeRTOS task stacks and WAMR (the " +
    "loaded module, its classic interpreter's 49 KB and its stacks — the fast interpreter's 120 KB would not " +
    "leave two pages) take roughly half of that. Linear memory is whole 64 KiB pages in one contiguous block, " +
    "and the largest free DRAM block on an ESP32 is typically 110-160 KiB: 2 pages (128 KiB) with Bluetooth " +
    "off (its controller otherwise reserves 64 KiB of DRAM) and Wi-Fi off. Check heap_caps_get_largest_free_block " +
    "on the real firmware before relying on the second page.",
  flashBytes: 4 * MiB,
  runtime: "wamr-classic",
  simd: false,
  throughput: {
    memoryBytesPerSecond: 400e6,
    f32MacsPerSecond: { scalar: 2.5e6, simd: null },
    basis:
      "SRAM: 32-bit loads at 240 MHz are 960 MB/s peak; ~400 MB/s sustained assumed. Compute: the LX6 FPU's " +
      "madd.s in a load-load-multiply-add loop is ~3 cycles per MAC natively (~80 M MAC/s); WAMR's fast " +
      "interpreter runs such loops roughly 15x slower than native code and the classic one about half as fast " +
      "again. WAMR's interpreters have no WASM SIMD.",
  },
  sources: [
    "ESP32 Series Datasheet v4.x, §1 Overview and §3.1 CPU (dual-core Xtensa LX6, up to 240 MHz, single-precision FPU)",
    "ESP32 Series Datasheet v4.x, §3.3 Internal Memory (520 KB SRAM, 448 KB ROM)",
    "ESP32 Technical Reference Manual, §1 System and Memory (SRAM0 192 KB incl. cache, SRAM1 128 KB, SRAM2 200 KB)",
    "ESP-IDF Programming Guide, API Guides › Memory Types (DRAM about 320 KB; static DRAM at most 160 KB; Bluetooth reserves 64 KB)",
    "ESP-IDF Programming Guide, API Reference › Heap Memory Allocation (heap_caps_get_largest_free_block)",
    "ESP32-WROOM-32E Datasheet v1.x, §1 Module Overview (4/8/16 MB flash variants)",
    "WAMR doc/build_wamr.md (XTENSA target; 128-bit SIMD only for x86-64 and aarch64 AOT/JIT)",
    "WAMR blog 'Introduction to WAMR running modes' (fast interpreter about 2x the classic interpreter)",
    "estimate: linearMemoryBytes 2 pages, from the typical largest free DRAM block, not measured on a board",
    "estimate: memoryBytesPerSecond and f32MacsPerSecond, from clock x bus width and interpreter overhead, not measured",
  ],
};
