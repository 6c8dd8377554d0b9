/** This machine, running the module under Node (the simulated board of `slimedge run`). */
import { arch, availableParallelism, cpus, totalmem } from "node:os";
import { type BoardProfile, WASM32_MAX_BYTES, WASM_PAGE_BYTES } from "./profile.ts";

const ISA: Record<string, string> = { x64: "x86_64", arm64: "aarch64", arm: "arm", riscv64: "riscv64" };

/** The host profile, read from the OS now: RAM from os.totalmem(), the CPU from os.cpus(). */
export function hostProfile(): BoardProfile {
  const ram = totalmem();
  const cpu = cpus()[0];
  // Half of RAM, whole pages, at most what a wasm32 memory addresses.
  const linear = Math.min(WASM32_MAX_BYTES, Math.floor(ram / 2 / WASM_PAGE_BYTES) * WASM_PAGE_BYTES);
  const simd = arch() === "x64" || arch() === "arm64";
  return {
    name: "host",
    title: `this machine (${arch()}, Node ${process.versions.node})`,
    cpu: {
      core: cpu?.model.trim() || "unknown",
      isa: ISA[arch()] ?? arch(),
      clockMHz: cpu && cpu.speed > 0 ? cpu.speed : null,
      cores: availableParallelism(),
      fpu: "f32+f64",
    },
    ramBytes: ram,
    psramBytes: 0,
    arenaMemory: "DRAM",
    linearMemoryBytes: linear,
    linearMemoryBasis:
      "A development machine shares its RAM with everything else it runs: half of os.totalmem(), in whole " +
      "pages, capped at the 4 GiB a wasm32 memory addresses (V8 allows the full 65536 pages on 64-bit hosts).",
    flashBytes: null,
    runtime: "node",
    simd,
    throughput: {
      memoryBytesPerSecond: 10e9,
      f32MacsPerSecond: { scalar: 2e9, simd: simd ? 8e9 : null },
      basis:
        "Rough figures for a recent x86-64 or arm64 core under V8's optimizing compiler; `npm run bench` " +
        "measures the real ones on this machine.",
    },
    sources: [
      "Node.js API, os.totalmem(), os.cpus(), os.availableParallelism(), os.arch()",
      "V8 / Node.js: WebAssembly SIMD enabled by default since Node 16.4 on x64 and arm64",
      "WebAssembly Core Specification 2.0, §2.3.8 Memory Types (wasm32 memories up to 65536 pages of 64 KiB)",
      "estimate: memoryBytesPerSecond and f32MacsPerSecond are generic guesses, not measured here",
    ],
  };
}
