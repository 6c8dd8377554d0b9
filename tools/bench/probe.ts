/**
 * The bench's memory probe: how fast this machine streams memory into WebAssembly — a sequential read
 * of as many bytes as one decode step's weights (where those bytes come from, L3 or DRAM, depends on the
 * machine exactly as the decode's do) — and how fast the decoder's own kernel streams the largest matrix,
 * the stories15M classifier (32000 × 288 f32 in the streaming layout), against a read of its own size.
 * Measured in the same process and rounds as the decode timings.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { withFixedMemory } from "../../host/runtime/wasm.ts";
import { f32Stream } from "../../host/core/layout.ts";
import { mulberry32 } from "../../host/core/synthetic.ts";

interface ProbeExports {
  memory: WebAssembly.Memory;
  streamRead(p: number, bytes: number): bigint;
  matmul(out: number, w: number, x: number, rows: number, cols: number, n: number): void;
}

export interface Probe {
  /** GB/s of one sequential read of `bytes` (≤ readBytes), median of `passes`. */
  read(bytes: number, passes: number): number;
  /** GB/s of the classifier matvec (weight bytes / time), median of `passes`. */
  matvec(passes: number): number;
  readBytes: number;
  matvecBytes: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const now = () => Number(process.hrtime.bigint()) / 1e9;

export async function createProbe(rows: number, cols: number, weightBytes: number): Promise<Probe> {
  const matvecBytes = rows * cols * 4;
  const readBytes = Math.ceil(Math.max(weightBytes, matvecBytes) / 65536) * 65536;
  const base = 65536;
  const w = base + readBytes; // the classifier after the read buffer
  const x = w + matvecBytes;
  const out = x + cols * 4;
  const pages = Math.ceil((out + rows * 4) / 65536) + 1;
  const path = fileURLToPath(new URL("../../build/kernels.simd.wasm", import.meta.url));
  const bytes = withFixedMemory(readFileSync(path), pages);
  const { exports } = await WebAssembly.instantiate(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>), {});
  const ex = exports as unknown as ProbeExports;
  const mem = new Uint8Array(ex.memory.buffer);
  const rand = mulberry32(5);
  const weights = Float32Array.from({ length: rows * cols }, () => rand() - 0.5);
  mem.set(f32Stream(weights, rows, cols), w);
  new Float32Array(ex.memory.buffer, x, cols).set(Float32Array.from({ length: cols }, () => rand() - 0.5));
  for (let i = 0; i < readBytes; i += 4096) mem[base + i] = i & 255; // touch every page once
  const time = (f: () => void) => {
    const t0 = now();
    f();
    return now() - t0;
  };
  ex.streamRead(base, readBytes); // compile and warm
  ex.matmul(out, w, x, rows, cols, 1);
  return {
    readBytes,
    matvecBytes,
    read: (bytes, passes) => {
      const n = Math.min(readBytes, Math.floor(bytes / 64) * 64);
      return median(Array.from({ length: passes }, () => n / 1e9 / time(() => ex.streamRead(base, n))));
    },
    matvec: (passes) => median(Array.from({ length: passes }, () => matvecBytes / 1e9 / time(() => ex.matmul(out, w, x, rows, cols, 1)))),
  };
}
