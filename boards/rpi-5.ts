/** Raspberry Pi 5, 8 GB variant (64-bit Raspberry Pi OS Lite, wasmtime): wasm32 caps the memory at 4 GiB. */
import { type BoardProfile, GiB, WASM32_MAX_BYTES } from "./profile.ts";

export const rpi5: BoardProfile = {
  name: "rpi-5",
  title: "Raspberry Pi 5, 8 GB variant (BCM2712, LPDDR4X-4267)",
  cpu: { core: "Arm Cortex-A76", isa: "aarch64", clockMHz: 2400, cores: 4, fpu: "f32+f64" },
  ramBytes: 8 * GiB,
  psramBytes: 0,
  arenaMemory: "DRAM",
  linearMemoryBytes: WASM32_MAX_BYTES, // 65536 pages
  linearMemoryBasis:
    "8 GiB less the OS, wasmtime and headroom (under 1 GiB) leaves more than a wasm32 memory can address, so " +
    "the 4 GiB wasm32 limit (65536 pages) is the budget.",
  flashBytes: null,
  runtime: "wasmtime",
  simd: true,
  throughput: {
    memoryBytesPerSecond: 8e9,
    f32MacsPerSecond: { scalar: 2.4e9, simd: 8e9 },
    basis:
      "DRAM: 32-bit LPDDR4X-4267 is 17 GB/s raw; single-core sustained read ~8 GB/s assumed. Compute: the A76 " +
      "at 2.4 GHz with two 128-bit FMA pipes; about one scalar MAC per cycle through Cranelift code (~2.4 G " +
      "MAC/s) and WASM SIMD f32x4 mul+add ~8 G MAC/s.",
  },
  sources: [
    "Raspberry Pi 5 Product Brief (BCM2712 quad-core Cortex-A76 64-bit at 2.4 GHz; 2, 4 or 8 GB LPDDR4X-4267; microSD)",
    "Wasmtime documentation, Stability › Platform Support (aarch64 Linux, tier 1) and Cranelift WASM SIMD enabled by default",
    "WebAssembly Core Specification 2.0, §2.3.8 Memory Types (wasm32 memories up to 65536 pages of 64 KiB)",
    "estimate: memoryBytesPerSecond and f32MacsPerSecond, not measured",
  ],
};
