/** Raspberry Pi Zero 2 W (512 MB, 64-bit Raspberry Pi OS Lite, wasmtime). */
import { type BoardProfile, MiB } from "./profile.ts";

export const rpiZero2w: BoardProfile = {
  name: "rpi-zero-2w",
  title: "Raspberry Pi Zero 2 W (RP3A0: BCM2710A1 + 512 MB LPDDR2)",
  cpu: { core: "Arm Cortex-A53", isa: "aarch64", clockMHz: 1000, cores: 4, fpu: "f32+f64" },
  ramBytes: 512 * MiB,
  psramBytes: 0,
  arenaMemory: "DRAM",
  linearMemoryBytes: 256 * MiB, // 4096 pages
  linearMemoryBasis:
    "512 MiB less what the GPU firmware reserves (gpu_mem, 64 MiB by default), the kernel and a 64-bit " +
    "Raspberry Pi OS Lite userland at idle (~80 MiB), wasmtime with Cranelift compiling the module (~40 MiB) " +
    "and page-cache headroom so the system does not swap (~70 MiB): 256 MiB. The 4 GiB wasm32 limit is far off.",
  flashBytes: null,
  runtime: "wasmtime",
  simd: true,
  throughput: {
    memoryBytesPerSecond: 1.5e9,
    f32MacsPerSecond: { scalar: 0.4e9, simd: 1.0e9 },
    basis:
      "DRAM: 32-bit LPDDR2, single-core sustained read ~1.5 GB/s assumed. Compute: the A53 issues one scalar " +
      "FMA per cycle at 1 GHz; Cranelift code with loads and separate multiply/add ~0.4 G MAC/s. NEON on the " +
      "A53 processes a 128-bit vector in two 64-bit halves (~2 MAC/cycle peak); WASM SIMD f32x4 mul+add ~1 G MAC/s.",
  },
  sources: [
    "Raspberry Pi Zero 2 W Product Brief (RP3A0 SiP: quad-core 64-bit Cortex-A53 at 1 GHz, 512 MB LPDDR2 SDRAM, microSD)",
    "Raspberry Pi Documentation, Configuration › config.txt › gpu_mem",
    "Wasmtime documentation, Stability › Platform Support (aarch64 Linux, tier 1) and Cranelift WASM SIMD enabled by default",
    "WebAssembly Core Specification 2.0, §2.3.8 Memory Types (wasm32 memories up to 65536 pages of 64 KiB)",
    "estimate: linearMemoryBytes (OS, runtime and headroom shares), not measured on a board",
    "estimate: memoryBytesPerSecond and f32MacsPerSecond, not measured",
  ],
};
