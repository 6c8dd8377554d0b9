// The kernels on their own, for tests that check them against scalar references bit for bit
// (build/kernels.{simd,scalar}.wasm; not part of any artifact).
export { quantizeQ8, matmulQ8, dequantizeRowQ8, matmulQ4, dequantizeRowQ4 } from "./quant";
export { matmul, dot } from "./kernels";
