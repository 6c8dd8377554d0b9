/**
 * Fit against boards: the largest context per precision is right at its edge (it fits, one more does not, both
 * checked with planArena directly), slim never gets less context than vanilla, the default model's table on
 * the ESP32-S3 and the Pi Zero 2 W, the over-budget sentence, and `slimedge plan` as a user runs it.
 */
import { beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { ModelConfig } from "../host/core/model.ts";
import { type AttentionMode, PAGE_BYTES, layerModes, planArena } from "../host/core/plan.ts";
import { type BoardProfile, allBoards, getBoard } from "../boards/index.ts";
import { pages } from "../boards/profile.ts";
import {
  type FitReport,
  CACHE_DTYPES,
  WEIGHT_DTYPES,
  arenaBytes,
  boardThroughput,
  fitReport,
  fits,
  formatFitReport,
  maxContext,
  modeLabel,
  overBudget,
  planOnBoard,
  ramUse,
  slimDecisions,
} from "../tools/package/fit.ts";
import { RUNTIME_MEMORY, weightsInFlash } from "../boards/runtimes.ts";
import { loadLlama2c } from "../tools/convert/llama2c.ts";
import { slimify } from "../tools/convert/slimify.ts";
import { syntheticModel } from "../host/core/synthetic.ts";
import { estimateTokensPerSecond } from "../host/core/estimate.ts";
import { formatBytes } from "../host/core/format.ts";
import { randomLlamaWeights, writeV1, type Llama2cDims } from "./fixtures/llama2c-writer.ts";

const base = { arch: "llama", normEps: 1e-5, ropeTheta: 10000, sharedClassifier: true } as const;
/** A small model whose contexts land between 1 and seq_len on the microcontroller boards. */
const SMALL: ModelConfig = { ...base, dim: 64, hiddenDim: 128, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: 256, seqLen: 1024 };
/** The shipped model's shape (models/slimedge-tiny). */
const DEFAULT_SHAPE: ModelConfig = { ...base, dim: 128, hiddenDim: 352, nLayers: 6, nHeads: 8, nKvHeads: 8, vocabSize: 1024, seqLen: 2048 };

/** A board like `b` with another linear-memory budget (for budgets between the real ones). */
const withBudget = (b: BoardProfile, bytes: number): BoardProfile => ({ ...b, name: `${b.name}@${bytes}`, linearMemoryBytes: bytes });

/** Checks one reported max ctx against planArena itself: ctx fits, ctx + 1 does not (or is past seq_len). */
function expectEdge(c: ModelConfig, board: BoardProfile, modes: AttentionMode[], opts: Parameters<typeof planArena>[3], max: number) {
  const budget = board.linearMemoryBytes;
  // the RAM the arena takes: its whole pages, or on a board that reads the weights in place from flash the
  // bytes below them (ARCHITECTURE.md, "Weights in flash")
  const bytes = (ctx: number) => {
    const p = planArena(c, ctx, modes, { ...opts, readOnlyInFlash: weightsInFlash(board) });
    return p.flash ? p.flash.offset : p.pages * PAGE_BYTES;
  };
  if (max === 0) {
    expect(bytes(1)).toBeGreaterThan(budget);
    return;
  }
  expect(bytes(max)).toBeLessThanOrEqual(budget);
  if (max < c.seqLen) expect(bytes(max + 1)).toBeGreaterThan(budget);
  else expect(max).toBe(c.seqLen);
}

const row = (r: FitReport, weights: string, kCache: string) => r.rows.find((x) => x.weights === weights && x.kCache === kCache)!;

describe("maxContext", () => {
  const boards = [
    ...allBoards(),
    withBudget(getBoard("esp32"), pages(8)),
    withBudget(getBoard("esp32"), pages(16)),
    withBudget(getBoard("esp32"), pages(40)),
  ];

  it("returns a context that fits whose successor does not, for every board, mode and precision", () => {
    let interior = 0;
    for (const board of boards)
      for (const mode of ["slim", "vanilla"] as const)
        for (const weights of WEIGHT_DTYPES)
          for (const kCache of CACHE_DTYPES) {
            const modes = layerModes(SMALL, mode);
            const max = maxContext(SMALL, board, modes, { weights, kCache });
            expectEdge(SMALL, board, modes, { weights, kCache }, max);
            if (max > 0 && max < SMALL.seqLen) interior++;
          }
    expect(interior).toBeGreaterThan(20); // the edge was really searched for, not just 0 or seq_len
  });

  it("is 0 when even ctx 1 does not fit, and seq_len when everything does", () => {
    expect(maxContext(SMALL, getBoard("esp32"), layerModes(SMALL, "slim"), { weights: "f32" })).toBe(0);
    expect(maxContext(SMALL, getBoard("rpi-5"), layerModes(SMALL, "vanilla"))).toBe(SMALL.seqLen);
  });

  it("counts whole pages: a budget one byte short of the pages does not fit", () => {
    const plan = planArena(SMALL, 100, layerModes(SMALL, "slim"));
    expect(fits(plan, withBudget(getBoard("host"), arenaBytes(plan)))).toBe(true);
    expect(fits(plan, withBudget(getBoard("host"), arenaBytes(plan) - 1))).toBe(false);
    expect(arenaBytes(plan)).toBeGreaterThanOrEqual(plan.totalBytes);
  });
});

describe("fitReport", () => {
  it("never gives slim less context than vanilla with f32 weights, and more wherever vanilla is cut short", () => {
    // With quantized weights slim layers keep W_K and W_KV in f32 (host/plan.ts), so on a board where the
    // weights decide, vanilla can hold more: the table shows it rather than hiding it.
    for (const board of [...allBoards(), withBudget(getBoard("esp32"), pages(12))]) {
      const r = fitReport(SMALL, board);
      expect(r.rows).toHaveLength(WEIGHT_DTYPES.length * CACHE_DTYPES.length);
      for (const x of r.rows.filter((row) => row.weights === "f32")) {
        expect(x.slim!).toBeGreaterThanOrEqual(x.vanilla!);
        if (x.vanilla! > 0 && x.vanilla! < SMALL.seqLen) expect(x.slim!).toBeGreaterThan(x.vanilla!);
      }
    }
  });

  it("counts cache bytes per position from the shape (K only in slim, K and V in vanilla)", () => {
    const r = fitReport(DEFAULT_SHAPE, getBoard("esp32-s3"));
    // 6 layers × 128 values: f32 4 bytes each, f16 2, q8 1 plus a 4-byte scale per row
    expect(row(r, "f32", "f32").slimBytesPerToken).toBe(6 * 128 * 4);
    expect(row(r, "f32", "f32").vanillaBytesPerToken).toBe(2 * 6 * 128 * 4);
    expect(row(r, "f32", "f16").slimBytesPerToken).toBe(6 * 128 * 2);
    expect(row(r, "f32", "q8").slimBytesPerToken).toBe(6 * (128 + 4));
  });

  it("tables the default model on the ESP32-S3: what slim attention buys there", () => {
    const board = getBoard("esp32-s3");
    const r = fitReport(DEFAULT_SHAPE, board);
    console.log(formatFitReport(r));
    for (const x of r.rows) {
      expectEdge(DEFAULT_SHAPE, board, layerModes(DEFAULT_SHAPE, "slim"), { weights: x.weights, kCache: x.kCache }, x.slim!);
      expectEdge(DEFAULT_SHAPE, board, layerModes(DEFAULT_SHAPE, "vanilla"), { weights: x.weights, kCache: x.kCache }, x.vanilla!);
    }
    // f32 everything: the weights (5.1 MiB) stay in flash (ARCHITECTURE.md, "Weights in flash") and the
    // cache decides; slim holds the whole seq_len, vanilla about 60 % of it.
    const f32 = row(r, "f32", "f32");
    expect(f32.vanilla!).toBeGreaterThan(0);
    expect(f32.slim!).toBe(DEFAULT_SHAPE.seqLen);
    expect(f32.slim! / f32.vanilla!).toBeGreaterThan(1.6);
    // Slim with an f32 cache stores 3 KiB per position, as vanilla does with f16: about the same context.
    expect(Math.abs(f32.slim! / row(r, "f32", "f16").vanilla! - 1)).toBeLessThan(0.1);
    // Smaller weights or cache rows never give less context.
    for (const mode of ["slim", "vanilla"] as const) {
      for (const k of CACHE_DTYPES)
        for (let i = 1; i < WEIGHT_DTYPES.length; i++)
          expect(row(r, WEIGHT_DTYPES[i], k)[mode]!).toBeGreaterThanOrEqual(row(r, WEIGHT_DTYPES[i - 1], k)[mode]!);
      for (const w of WEIGHT_DTYPES)
        for (let i = 1; i < CACHE_DTYPES.length; i++)
          expect(row(r, w, CACHE_DTYPES[i])[mode]!).toBeGreaterThanOrEqual(row(r, w, CACHE_DTYPES[i - 1])[mode]!);
    }
    // q4_0 weights with an f32 cache: the cache decides, and slim holds more than vanilla.
    expect(row(r, "q4_0", "f32").slim!).toBeGreaterThan(row(r, "q4_0", "f32").vanilla!);
    expect(row(r, "q4_0", "f32").vanilla!).toBeLessThan(2048);
  });

  it("tables the default model on the Raspberry Pi Zero 2 W: all of it fits every way", () => {
    const r = fitReport(DEFAULT_SHAPE, getBoard("rpi-zero-2w"));
    console.log(formatFitReport(r));
    for (const x of r.rows) expect([x.slim, x.vanilla]).toEqual([2048, 2048]);
  });

  it("puts a hybrid model (some layers keep their V-cache) between vanilla and all-slim", () => {
    const board = withBudget(getBoard("esp32"), pages(12));
    const all = row(fitReport(SMALL, board), "f32", "f32");
    const hybrid = row(fitReport(SMALL, board, { slimLayers: ["slim", "vanilla"] }), "f32", "f32");
    expect(hybrid.slim!).toBeGreaterThan(all.vanilla!);
    expect(hybrid.slim!).toBeLessThan(all.slim!);
  });

  it("runs grouped-query models vanilla in both columns and says so", () => {
    const gqa = { ...SMALL, nKvHeads: 2 };
    const r = fitReport(gqa, withBudget(getBoard("esp32"), pages(12)));
    expect(r.slimApplies).toBe(false);
    for (const x of r.rows) expect(x.slim).toBe(x.vanilla);
    expect(formatFitReport(r)).toMatch(/grouped-query attention/);
  });

  it("marks quantized rows n/a when a given group size does not divide the widths, and picks one that does by default", () => {
    const odd = { ...SMALL, hiddenDim: 136 }; // 136 = 8 · 17: no group of 32
    const r = fitReport(odd, getBoard("rpi-4"), { groupSize: 32 });
    expect(row(r, "q8_0", "f32").slim).toBeNull();
    expect(row(r, "f16", "f32").slim).toBe(SMALL.seqLen);
    expect(formatFitReport(r)).toMatch(/n\/a = the quantization group size/);
    const auto = fitReport(odd, getBoard("rpi-4"));
    expect(row(auto, "q8_0", "f32").slim).toBe(SMALL.seqLen);
    expect(row(auto, "q4_0", "f32").slim).toBe(SMALL.seqLen); // q4_0 by the same rule (groups of 8)
    expect(row(auto, "q4_0", "f16").weightsBytes!).toBeGreaterThan(row(fitReport(SMALL, getBoard("rpi-4")), "q4_0", "f16").weightsBytes!);
    // groups of 8: the weights region holds n + 4·n/8 bytes per quantized matrix, more than with groups of 32
    expect(row(auto, "q8_0", "f16").weightsBytes!).toBeGreaterThan(row(fitReport(SMALL, getBoard("rpi-4")), "q8_0", "f16").weightsBytes!);
  });
});

describe("the slim column follows slimify's per-layer decisions", () => {
  // The shipped model and a random one: at each cache precision, the rows are planned with exactly the
  // modes slimify gives, and the table says where that is not "all slim".
  const shipped = loadLlama2c(join(import.meta.dirname, "..", "models", "slimedge-tiny", "model.bin"));
  const random = syntheticModel({ ...SMALL, seqLen: 256 }, 5);
  it.each([["shipped", shipped], ["random", random]] as const)("%s model: rows agree with slimify at f32, f16 and q8 cache rows", (_, model) => {
    const c = model.config;
    const board = getBoard("esp32-s3");
    const decisions = slimDecisions(model);
    const r = fitReport(c, board, { slimLayers: decisions });
    for (const k of CACHE_DTYPES) {
      const want = slimify(model, { kCache: k }).layers.map((l) => l.mode);
      for (const w of WEIGHT_DTYPES) {
        const x = row(r, w, k);
        expect(x.slimModes, `${w} ${k}`).toEqual(want);
        expectEdge(c, board, want, { weights: w, kCache: k }, x.slim!);
      }
    }
    const text = formatFitReport(r);
    const someKept = CACHE_DTYPES.some((k) => decisions[k].includes("vanilla"));
    expect(/slim layers/.test(text)).toBe(someKept);
    for (const k of CACHE_DTYPES) {
      if (!decisions[k].includes("vanilla")) continue;
      expect(text).toMatch(new RegExp(`${k} cache rows: (every layer keeps a V-cache|layers? [0-9, ]+ of ${c.nLayers} keeps? a V-cache)`));
      for (const w of WEIGHT_DTYPES) expect(text).toMatch(new RegExp(`^${w}\\s+${k}\\s.*\\s${modeLabel(decisions[k]).replace(/ /g, "\\s")}\\s`, "m"));
    }
    // a --mode slim plan at a cache precision is planned with that precision's decision
    for (const k of CACHE_DTYPES) {
      const { plan } = planOnBoard(c, board, { ctx: 64, mode: "slim", weights: "q8_0", kCache: k }, decisions);
      expect(plan!.modes).toEqual(decisions[k]);
    }
  });
});

describe("boardThroughput", () => {
  it("hands the estimator the SIMD rate where the runtime has SIMD, the scalar one elsewhere", () => {
    const pi = getBoard("rpi-5");
    const s3 = getBoard("esp32-s3");
    expect(boardThroughput(pi).macsPerSecond).toBe(pi.throughput.f32MacsPerSecond.simd);
    expect(boardThroughput(s3)).toEqual({ memoryBytesPerSecond: 40e6, macsPerSecond: s3.throughput.f32MacsPerSecond.scalar });
    const plan = planArena(DEFAULT_SHAPE, 512, layerModes(DEFAULT_SHAPE, "slim"));
    const [onS3, onPi] = [s3, pi].map((b) => estimateTokensPerSecond(plan, 256, boardThroughput(b)));
    expect(onS3).toBeGreaterThan(0);
    expect(onPi).toBeGreaterThan(onS3);
  });
});

describe("overBudget", () => {
  it("is null for a plan that fits", () => {
    expect(overBudget(planArena(DEFAULT_SHAPE, 512, layerModes(DEFAULT_SHAPE, "slim")), getBoard("esp32-s3"))).toBeNull();
  });

  it("names the board, the bytes needed per region against those available, and the largest ctx that fits", () => {
    const board = getBoard("esp32-s3");
    // slim at 2048 fits now that the weights stay in flash; vanilla's two caches do not
    const plan = planArena(DEFAULT_SHAPE, 2048, layerModes(DEFAULT_SHAPE, "vanilla"));
    const e = overBudget(plan, board)!;
    expect(e.code).toBe("E_FIT");
    expect(e.message).not.toContain("\n");
    expect(e.message).toMatch(/^does not fit esp32-s3: ctx 2048 \(vanilla, f32 weights, f32 K-cache\)/);
    // the esp32-s3 reads its weights in place from flash: the RAM is every region but those
    const inFlash = ["weights", "rope_table", "tokenizer"];
    const ram = plan.regions.filter((r) => !inFlash.includes(r.name)).reduce((n, r) => n + r.size, 0);
    expect(e.message).toContain(`needs ${ram} bytes = ${formatBytes(ram)} of RAM for the arena (weights, RoPE table and tokenizer, ${plan.totalBytes - ram} bytes, read in place from flash)`);
    expect(e.message).toContain(`of ${board.linearMemoryBytes} bytes = 7.5 MiB linear memory; flash: `);
    expect(e.message).toMatch(/= \d+ of 16777216 bytes of flash; /);
    for (const r of plan.regions) if (!inFlash.includes(r.name)) expect(e.message).toContain(`${r.name} ${formatBytes(r.size)}`);
    expect(e.message).toContain("k_cache 6.0 MiB");
    expect(e.message).toContain("v_cache 6.0 MiB");
    const best = maxContext(DEFAULT_SHAPE, board, plan.modes, {});
    expect(e.message).toMatch(new RegExp(`; vanilla fits up to ctx ${best}$`));
  });

  it("keeps the mode and precisions when it says what would fit", () => {
    const board = getBoard("esp32-psram");
    const plan = planArena(DEFAULT_SHAPE, 2048, layerModes(DEFAULT_SHAPE, "vanilla"), { weights: "q4_0", kCache: "q8" });
    const best = maxContext(DEFAULT_SHAPE, board, plan.modes, { weights: "q4_0", kCache: "q8" });
    expect(best).toBeGreaterThan(0);
    expect(overBudget(plan, board)!.message).toMatch(new RegExp(`\\(vanilla, q4_0 weights, q8 K-cache\\).*; vanilla fits up to ctx ${best}$`));
  });

  it("counts the board's whole RAM: the module its runtime keeps, the runtime, the stacks, the firmware and the system", () => {
    const one: ModelConfig = { ...SMALL, nLayers: 1 };
    const plan = planArena(one, 16, layerModes(one, "slim"), { weights: "q8_0" });
    const classic = getBoard("esp32"); // WAMR's classic interpreter: 49,048 B measured
    const fast: BoardProfile = { ...classic, runtime: "wamr-interp" }; // the fast one: 119,832 B measured
    expect(arenaBytes(plan)).toBe(classic.linearMemoryBytes); // both pages fit the linear memory either way
    const module = 40_000;
    const ram = ramUse(plan, fast, module)!;
    const r = RUNTIME_MEMORY["wamr-interp"]!;
    expect(r.runtimeBytes).toBe(119_832);
    expect(ram.total).toBe(arenaBytes(plan) + module + 119_832 + r.wasmStackBytes + r.nativeStackBytes + r.firmwareBytes + ram.system);
    expect(ram.total).toBeGreaterThan(classic.ramBytes);
    const e = overBudget(plan, fast)!;
    expect(e.code).toBe("E_FIT");
    expect(e.message).toMatch(/^does not fit esp32: ctx 16 \(slim, q8_0 weights, f32 K-cache\) needs \d+ bytes of RAM with wamr-interp, \d+ more than the board's 532480 \(linear memory 131072 \+ module kept \d+ \+ wamr-interp runtime 119832 \+ wasm stack 8192 \+ native stack 8192 \+ firmware 16384 \+ system 270336 = \d+ of 532480 bytes of RAM\)/);
    // the classic interpreter leaves room for the same plan; the native firmware keeps no module and no runtime
    expect(overBudget(plan, classic)).toBeNull();
    const native = ramUse(plan, { ...classic, runtime: "wasm2c-native" }, module)!;
    expect(native.module + native.runtimeBytes + native.wasmStack).toBe(0);
  });

  it("says when not even ctx 1 fits, and how big the weights alone are", () => {
    const plan = planArena(DEFAULT_SHAPE, 16, layerModes(DEFAULT_SHAPE, "slim"));
    expect(overBudget(plan, getBoard("esp32"))!.message).toMatch(/not even ctx 1 fits \(slim, f32 weights, f32 K-cache; the weights alone are 5\.1 MiB\)$/);
  });
});

// ---------------------------------------------------------------------------------------------------------

const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");
const dir = mkdtempSync(join(tmpdir(), "slimedge-fit-"));
const tiny: Llama2cDims = { dim: 64, hiddenDim: 128, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: 256, seqLen: 1024 };

function slimedge(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 60_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr, lines: r.stderr.split("\n").filter((l) => l.trim() !== "") };
}

describe("slimedge plan", () => {
  const model = () => join(dir, "tiny.bin");
  beforeAll(() => writeFileSync(model(), writeV1(tiny, randomLlamaWeights(tiny, 3))));

  it("prints the fit table for a checkpoint on a board", () => {
    const r = slimedge("plan", model(), "--board", "esp32-s3");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/model: dim 64, hidden 128, 2 layers, 4 heads \(4 K\/V\), vocab 256, seq_len 1024/);
    expect(r.stdout).toMatch(/board: esp32-s3 .*7\.5 MiB of linear memory in PSRAM, wasm2c-native, no SIMD/);
    expect(r.stdout.split("\n").filter((l) => /^(f32|f16|q8_0|q4_0)\s+(f32|f16|q8)\s/.test(l))).toHaveLength(12);
    expect(r.stderr).toBe("");
  });

  it("with --ctx that fits: the memory map and the verdict, exit 0", () => {
    const r = slimedge("plan", model(), "--board", "rp2350-psram", "--ctx", "512", "--mode", "vanilla");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/memory map of ctx 512 \(vanilla, f32 weights, f32 K-cache\):/);
    expect(r.stdout).toMatch(/^ {2}k_cache\s+0x[0-9a-f]{8}/m);
    expect(r.stdout).toMatch(/^fits rp2350-psram: ctx 512 .* of RAM for the arena .* of 7\.5 MiB \(\d+ %\); RAM: linear memory \d+ \+ module kept 0 \+ wasm2c-native runtime 0 \+ .* of 8921088 bytes of RAM; flash: .* of 16777216 bytes of flash$/m);
  });

  it("with --ctx over budget: one E_FIT line with the numbers and what would fit, exit 1", () => {
    const r = slimedge("plan", model(), "--board", "esp32", "--ctx", "1024", "--weights", "q4_0");
    expect(r.code).toBe(1);
    expect(r.lines, r.stderr).toHaveLength(1);
    expect(r.lines[0]).toMatch(/^slimedge: does not fit esp32: ctx 1024 \(slim, q4_0 weights, f32 K-cache\) needs \d+ bytes = \d+ pages/);
    expect(r.lines[0]).toMatch(/of 131072 bytes = 128\.0 KiB linear memory; flash: .* = \d+ of 4194304 bytes of flash; (slim fits up to ctx \d+|not even ctx 1 fits .*)$/);
    expect(r.stdout).toMatch(/memory map of ctx 1024/); // the map is still shown, to see what is too big
  });

  it("refuses an unknown board, a missing --board, --out without --ctx and --ctx beyond seq_len with one line", () => {
    const unknown = slimedge("plan", model(), "--board", "esp8266");
    expect([unknown.code, unknown.lines.length]).toEqual([2, 1]);
    expect(unknown.lines[0]).toMatch(/--board esp8266: unknown board; known: esp32, esp32-psram/);
    const missing = slimedge("plan", model());
    expect([missing.code, missing.lines.length]).toEqual([2, 1]);
    expect(missing.lines[0]).toMatch(/--board/);
    const out = slimedge("plan", model(), "--board", "esp32", "--out", join(dir, "maps"));
    expect([out.code, out.lines.length]).toEqual([2, 1]);
    expect(out.lines[0]).toMatch(/--out: needs --ctx/);
    const long = slimedge("plan", model(), "--board", "esp32", "--ctx", "1025");
    expect([long.code, long.lines.length]).toEqual([2, 1]);
    expect(long.lines[0]).toMatch(/--ctx 1025 exceeds the model's seq_len 1024/);
  });

  it("names a missing checkpoint", () => {
    const r = slimedge("plan", join(dir, "nope.bin"), "--board", "esp32");
    expect([r.code, r.lines.length]).toEqual([1, 1]);
    expect(r.lines[0]).toContain("nope.bin");
  });
});
