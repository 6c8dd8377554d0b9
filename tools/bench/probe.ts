/**
 * The bench's memory probe: how fast this machine streams memory into WebAssembly — a sequential read
 * of as many bytes as one decode step's weights (where those bytes come from, L3 or DRAM, depends on the
 * machine exactly as the decode's do) — and how fast the decoder's own kernel streams the largest matrix,
 * the stories15M classifier (32000 × 288 f32 in the streaming layout), against a read of its own size.
 * Where the weights are int8 the limit can be arithmetic instead: `dotPeak` measures the multiply-adds per
 * second of the one integer dot product WebAssembly SIMD has (i32x4.dot_i16x8_s, no loads), and `q8Matmul`
 * what the decoder's Q8_0 kernel does with it on a matrix that stays in cache (the FFN's 768 × 288, one
 * input as in decode or a block of inputs as in prefill).
 * Measured in the same process and rounds as the decode timings.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { withFixedMemory } from "../../host/runtime/wasm.ts";
import { f32Stream, toStream } from "../../host/core/layout.ts";
import { mulberry32 } from "../../host/core/synthetic.ts";
import { q8Bytes } from "../../host/core/quant.ts";

interface ProbeExports {
  memory: WebAssembly.Memory;
  streamRead(p: number, bytes: number): bigint;
  matmul(out: number, w: number, x: number, rows: number, cols: number, n: number): void;
  quantizeQ8(q: number, scales: number, x: number, n: number, group: number): void;
  matmulQ8(out: number, w: number, rows: number, xq: number, xs: number, cols: number, group: number, n: number, pk: number): void;
  dotPeak(iterations: number, seed: number): number;
}

export interface Probe {
  /** GB/s of one sequential read of `bytes` (≤ readBytes), median of `passes`. */
  read(bytes: number, passes: number): number;
  /** GB/s of the classifier matvec (weight bytes / time), median of `passes`. */
  matvec(passes: number): number;
  /** GMAC/s of i32x4.dot_i16x8_s alone (8 multiply-adds each), median of `passes`. */
  dotPeak(passes: number): number;
  /** GMAC/s of the SIMD Q8_0 matmul on the in-cache Q8 matrix with n ≤ Q8_MAX_INPUTS inputs, median of `passes`. */
  q8Matmul(n: number, passes: number): number;
  readBytes: number;
  matvecBytes: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const now = () => Number(process.hrtime.bigint()) / 1e9;

/** The in-cache Q8_0 matrix: the stories15M FFN's w1 (hidden × dim), groups of 32. */
const Q8 = { rows: 768, cols: 288, group: 32 };
export const Q8_MAX_INPUTS = 64;

export async function createProbe(rows: number, cols: number, weightBytes: number): Promise<Probe> {
  const matvecBytes = rows * cols * 4;
  const readBytes = Math.ceil(Math.max(weightBytes, matvecBytes) / 65536) * 65536;
  const base = 65536;
  const w = base + readBytes; // the classifier after the read buffer
  const x = w + matvecBytes;
  const out = x + cols * 4;
  // the Q8_0 matrix and its inputs (f32, then int8 and scales) after the classifier's output
  const q8w = Math.ceil((out + rows * 4) / 64) * 64;
  const q8rand = mulberry32(7);
  const q8Stream = toStream(q8Bytes(Float32Array.from({ length: Q8.rows * Q8.cols }, () => q8rand() - 0.5), Q8.group), "q8_0", Q8.rows, Q8.cols, Q8.group);
  const q8x = q8w + Math.ceil(q8Stream.length / 64) * 64;
  const q8xq = q8x + Q8_MAX_INPUTS * Q8.cols * 4;
  const q8xs = q8xq + Q8_MAX_INPUTS * Q8.cols;
  const q8out = q8xs + (Q8_MAX_INPUTS * Q8.cols / Q8.group) * 4;
  const pages = Math.ceil((q8out + Q8_MAX_INPUTS * Q8.rows * 4) / 65536) + 1;
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
  mem.set(q8Stream, q8w);
  new Float32Array(ex.memory.buffer, q8x, Q8_MAX_INPUTS * Q8.cols).set(Float32Array.from({ length: Q8_MAX_INPUTS * Q8.cols }, () => rand() - 0.5));
  for (let t = 0; t < Q8_MAX_INPUTS; t++) ex.quantizeQ8(q8xq + t * Q8.cols, q8xs + (t * Q8.cols / Q8.group) * 4, q8x + t * Q8.cols * 4, Q8.cols, Q8.group);
  const q8Matmul = (n: number) => ex.matmulQ8(q8out, q8w, Q8.rows, q8xq, q8xs, Q8.cols, Q8.group, n, 0);
  const time = (f: () => void) => {
    const t0 = now();
    f();
    return now() - t0;
  };
  ex.streamRead(base, readBytes); // compile and warm
  ex.matmul(out, w, x, rows, cols, 1);
  for (let i = 0; i < 200; i++) q8Matmul(16);
  ex.dotPeak(1_000_000, 3);
  // about 5 ms a measurement: 2^24 dot instructions; the matmul repeated to ~1.3 G multiply-adds
  const dotIterations = 1 << 21;
  return {
    readBytes,
    matvecBytes,
    read: (bytes, passes) => {
      const n = Math.min(readBytes, Math.floor(bytes / 64) * 64);
      return median(Array.from({ length: passes }, () => n / 1e9 / time(() => ex.streamRead(base, n))));
    },
    matvec: (passes) => median(Array.from({ length: passes }, () => matvecBytes / 1e9 / time(() => ex.matmul(out, w, x, rows, cols, 1)))),
    dotPeak: (passes) => median(Array.from({ length: passes }, () => (dotIterations * 64) / 1e9 / time(() => ex.dotPeak(dotIterations, 3)))),
    q8Matmul: (n, passes) => {
      if (!Number.isInteger(n) || n < 1 || n > Q8_MAX_INPUTS) throw new Error(`q8Matmul: n ${n} outside 1 … ${Q8_MAX_INPUTS}`);
      const reps = Math.max(1, Math.round(1.3e8 / (Q8.rows * Q8.cols * n)));
      const macs = reps * Q8.rows * Q8.cols * n;
      return median(Array.from({ length: passes }, () => macs / 1e9 / time(() => { for (let i = 0; i < reps; i++) q8Matmul(n); })));
    },
  };
}
