/**
 * The compiled decoder modules, inspected with binaryen: the fixed-memory promises of ARCHITECTURE.md,
 * "Arena" (no memory.grow, min == max after withFixedMemory), the reactor ABI of "Reactor ABI and the
 * standalone command" (no imports, exactly these exports), and SIMD only where it was asked for. Each
 * detector is also shown a module that has the thing it looks for, so a check cannot pass by never matching
 * anything.
 */
import binaryen from "binaryen";
import { describe, expect, it } from "vitest";
import { type Build, loadDecoderBytes } from "../host/runtime/decoder.ts";
import { withFixedMemory } from "../host/runtime/wasm.ts";
import {
  DECODER_FEATURES,
  FEATURES_WITHOUT_SIMD,
  exportsOf,
  findMemoryGrow,
  importsOf,
  memoryLimits,
  readModule,
  usesSimd,
  validates,
} from "./helpers.ts";
import { verifyArtifact, ALLOWED_WASI } from "../tools/package/verify.ts";

const ABI_EXPORTS = ["init", "reset", "truncate", "position", "lastError", "step", "prefill", "memory"];
const PAGE = 65536;

/** wat text → wasm bytes through binaryen's text parser. */
function fromWat(wat: string): Uint8Array {
  const m = binaryen.parseText(wat);
  m.setFeatures(DECODER_FEATURES);
  try {
    expect(m.validate()).not.toBe(0);
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}

describe.each(["simd", "scalar"] as Build[])("build/decoder.%s.wasm", (build) => {
  const bytes = loadDecoderBytes(build);

  it("validates as built", () => {
    expect(validates(bytes)).toBe(true);
  });

  it("contains no memory.grow instruction", () => {
    expect(findMemoryGrow(bytes)).toBe(false);
  });

  it("imports nothing", () => {
    expect(importsOf(bytes)).toEqual([]);
    expect(WebAssembly.Module.imports(new WebAssembly.Module(bytes as Uint8Array<ArrayBuffer>))).toEqual([]);
  });

  it("exports exactly init/reset/truncate/position/lastError/step/prefill/memory", () => {
    const exports = exportsOf(bytes);
    expect(exports.map((e) => e.name).sort()).toEqual([...ABI_EXPORTS].sort());
    for (const e of exports) {
      expect(e.kind, e.name).toBe(e.name === "memory" ? binaryen.ExternalMemory : binaryen.ExternalFunction);
    }
  });

  if (build === "simd") {
    it("uses v128 instructions", () => {
      expect(usesSimd(bytes)).toBe(true);
    });
  } else {
    it("uses no v128 type or instruction and validates with SIMD disabled", () => {
      expect(usesSimd(bytes)).toBe(false);
      expect(validates(bytes, FEATURES_WITHOUT_SIMD)).toBe(true);
    });
  }

  it("has memory limits initial 37 == maximum 37 after withFixedMemory(bytes, 37), and still validates", async () => {
    const fixed = withFixedMemory(bytes, 37);
    expect(memoryLimits(fixed)).toEqual({ initial: 37, max: 37 });
    expect(validates(fixed)).toBe(true);
    expect(findMemoryGrow(fixed)).toBe(false);
    expect(exportsOf(fixed).map((e) => e.name).sort()).toEqual([...ABI_EXPORTS].sort());

    // The engine agrees: 37 pages, and not even the host can grow the exported memory.
    const { instance } = await WebAssembly.instantiate(fixed as Uint8Array<ArrayBuffer>, {});
    const memory = instance.exports.memory as WebAssembly.Memory;
    expect(memory.buffer.byteLength).toBe(37 * PAGE);
    expect(() => memory.grow(1)).toThrow(RangeError);
    expect(memory.buffer.byteLength).toBe(37 * PAGE);
  });

  it("changes nothing but the memory section under withFixedMemory", () => {
    const fixed = withFixedMemory(bytes, 37);
    const strip = (wasm: Uint8Array) => {
      const m = readModule(wasm);
      try {
        return m.emitText().replace(/\(memory \$\S+ \d+( \d+)?\)/, "(memory)");
      } finally {
        m.dispose();
      }
    };
    expect(strip(fixed)).toBe(strip(bytes));
  });
});

describe("findMemoryGrow", () => {
  it("detects memory.grow in a module parsed from wat text", () => {
    const bad = fromWat(`(module
      (memory (export "memory") 1 2)
      (func (export "more") (result i32) (memory.grow (i32.const 1))))`);
    expect(findMemoryGrow(bad)).toBe(true);
  });

  it("detects memory.grow in an unexported function of a module built with binaryen's API", () => {
    const m = new binaryen.Module();
    try {
      m.setMemory(1, 4, "memory");
      m.addFunction("hidden", binaryen.none, binaryen.none, [], m.drop(m.memory.grow(m.i32.const(1))));
      m.addFunction("visible", binaryen.none, binaryen.i32, [], m.i32.const(0));
      m.addFunctionExport("visible", "visible");
      expect(m.validate()).not.toBe(0);
      expect(findMemoryGrow(m.emitBinary())).toBe(true);
    } finally {
      m.dispose();
    }
  });

  it("finds none where memory.size is the only memory instruction of that kind", () => {
    const good = fromWat(`(module
      (memory (export "memory") 1 1)
      (func (export "pages") (result i32) (memory.size)))`);
    expect(findMemoryGrow(good)).toBe(false);
  });
});

describe("importsOf and usesSimd", () => {
  it("see an imported function, global and memory", () => {
    const wasm = fromWat(`(module
      (import "env" "abort" (func $abort (param i32)))
      (import "env" "g" (global $g i32))
      (import "env" "memory" (memory 1))
      (func (export "f") (call $abort (global.get $g))))`);
    expect(importsOf(wasm).sort()).toEqual(["env.abort", "env.g", "env.memory"]);
  });

  it("see a v128 instruction", () => {
    const wasm = fromWat(`(module
      (memory 1 1)
      (func (export "f") (param i32) (v128.store (local.get 0) (f32x4.add (v128.load (local.get 0)) (v128.load (local.get 0))))))`);
    expect(usesSimd(wasm)).toBe(true);
    expect(validates(wasm, FEATURES_WITHOUT_SIMD)).toBe(false);
  });
});

describe("verifyArtifact", () => {
  const good = withFixedMemory(loadDecoderBytes("scalar"), 3);

  it("passes the decoder with its planned memory and no imports", () => {
    expect(verifyArtifact(good, { pages: 3, allowedImports: [], simd: false })).toEqual([]);
    expect(verifyArtifact(withFixedMemory(loadDecoderBytes("simd"), 3), { pages: 3, allowedImports: [], simd: true })).toEqual([]);
  });

  it("rejects limits other than the plan's, and SIMD where the board has none", () => {
    expect(verifyArtifact(good, { pages: 4, allowedImports: [], simd: false })).toEqual([
      "memory limits are 3..3 pages; the plan needs exactly 4..4",
    ]);
    expect(verifyArtifact(loadDecoderBytes("scalar"), { pages: 1, allowedImports: [], simd: false })[0]).toMatch(/1\.\.unbounded/);
    const simd = withFixedMemory(loadDecoderBytes("simd"), 3);
    expect(verifyArtifact(simd, { pages: 3, allowedImports: [], simd: false }).join()).toMatch(/does not validate without SIMD/);
  });

  it("rejects a deliberately bad module: memory.grow and an import outside the WASI set", () => {
    const bad = fromWat(`(module
      (import "wasi_snapshot_preview1" "fd_write" (func $w (param i32 i32 i32 i32) (result i32)))
      (import "env" "abort" (func $abort))
      (memory 2 2)
      (func $more (result i32) (memory.grow (i32.const 1)))
      (export "memory" (memory 0)) (export "_start" (func $more)))`);
    expect(verifyArtifact(bad, { pages: 2, allowedImports: ALLOWED_WASI, simd: false })).toEqual([
      "the module contains a memory.grow instruction",
      "unexpected imports: env.abort",
    ]);
  });
});
