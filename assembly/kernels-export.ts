// The kernels on their own, for tests that check them against scalar references bit for bit and for the
// bench's bandwidth probe (build/kernels.{simd,scalar}.wasm; not part of any artifact).
export { quantizeQ8, packQ8, matmulQ8, dequantizeRowQ8, matmulQ4, dequantizeRowQ4, dotPeak } from "./quant";
export { matmul, rowF32, dot, streamRead, expf, geluOne } from "./kernels";
export { matmulF16, rowF16 } from "./f16";
export { ropeFromTable } from "./attention";
