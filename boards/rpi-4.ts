/** Raspberry Pi 4 Model B, 4 GB variant (64-bit Raspberry Pi OS Lite, wasmtime). */
import { type BoardProfile, GiB, MiB } from "./profile.ts";

export const rpi4: BoardProfile = {
  name: "rpi-4",
  title: "Raspberry Pi 4 Model B, 4 GB variant (BCM2711, LPDDR4-3200)",
  cpu: { core: "Arm Cortex-A72", isa: "aarch64", clockMHz: 1500, cores: 4, fpu: "f32+f64" },
  ramBytes: 4 * GiB,
  psramBytes: 0,
  arenaMemory: "DRAM",
  linearMemoryBytes: 3.5 * GiB, // 57344 pages
  linearMemoryBasis:
    "4 GiB less 512 MiB for the GPU firmware's reservation (~76 MiB), the kernel and a 64-bit Raspberry Pi OS " +
    "Lite userland (~200 MiB), wasmtime (~40 MiB) and page-cache headroom: 3.5 GiB, under the 4 GiB wasm32 " +
    "limit. The 1/2 GB variants leave far less; the 8 GB variant is capped at 4 GiB by wasm32.",
  flashBytes: null,
  runtime: "wasmtime",
  simd: true,
  throughput: {
    memoryBytesPerSecond: 4e9,
    f32MacsPerSecond: { scalar: 1.0e9, simd: 3.0e9 },
    basis:
      "DRAM: 32-bit LPDDR4-3200 is 12.8 GB/s raw; single-core sustained read ~4 GB/s assumed. Compute: the " +
      "out-of-order A72 at 1.5 GHz (1.8 GHz on boards with the C0 stepping) sustains about one scalar MAC per " +
      "cycle through Cranelift code (~1 G MAC/s) and with two 128-bit NEON pipes about 2 f32x4 MAC per cycle " +
      "peak; WASM SIMD mul+add ~3 G MAC/s.",
  },
  sources: [
    "Raspberry Pi 4 Model B Product Brief / Datasheet (BCM2711 quad-core Cortex-A72 64-bit at 1.5 GHz; 1, 2, 4 or 8 GB LPDDR4-3200; microSD)",
    "Raspberry Pi Documentation, Configuration › config.txt › gpu_mem (76 MB default on boards with 1 GB or more)",
    "Wasmtime documentation, Stability › Platform Support (aarch64 Linux, tier 1) and Cranelift WASM SIMD enabled by default",
    "WebAssembly Core Specification 2.0, §2.3.8 Memory Types (wasm32 memories up to 65536 pages of 64 KiB)",
    "estimate: linearMemoryBytes (OS, runtime and headroom shares), not measured on a board",
    "estimate: memoryBytesPerSecond and f32MacsPerSecond, not measured",
  ],
};
