// `plan` promises what `build` builds: for every board profile × weight storage × cache precision (the
// shipped model, and a small random one that has real edges on the 192 KiB ESP32-C3 too), the
// largest context `plan` lists (slim and vanilla columns) is one `build` places — the model lowered as build
// lowers it (slimify at that cache precision on the calibration set), planned with the standalone command's
// regions (tools/package/fit.ts buildPlan, what buildLowered plans) and checked against the board as build
// checks it (overBudget) — and one more context is refused. `slimedge plan` itself prints the same numbers,
// and the README's headline (q8_0 weights, f16 cache rows, ctx 2048 on the ESP32-S3) builds and runs.
import { describe, it, expect, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { byteFallbackVocab, randomLlamaWeights, writeTokenizerBin, writeV1, type Llama2cDims } from "./fixtures/llama2c-writer.ts";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadLlama2c } from "../tools/convert/llama2c.ts";
import { readTextTokenizer } from "../host/core/tokenizers.ts";
import { calibrationTokens } from "../tools/convert/calibrate.ts";
import { commandTokenizerBytes } from "../tools/package/command-tokenizer.ts";
import { prepareModel } from "../tools/convert/prepare.ts";
import { allBoards, getBoard } from "../boards/index.ts";
import { CACHE_DTYPES, WEIGHT_DTYPES, buildPlan, fitReport, overBudget, refusedBeforeSlimify, slimDecisions } from "../tools/package/fit.ts";
import type { CacheDtype, WeightDtype } from "../host/core/plan.ts";
import type { LoweredModel } from "../host/core/lowered.ts";
import type { Model } from "../host/core/model.ts";
import { RUNNER_PATH } from "../host/ship/deploy/release.ts";

const dir = join(import.meta.dirname, "..", "models", "slimedge-tiny-v2");
const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");
const scratch = mkdtempSync(join(tmpdir(), "slimedge-plan-build-"));

/** A model as `plan` and `build` see it: the checkpoint, its command tokenizer's size, its calibration set. */
interface Case {
  path: string;
  model: Model;
  tokBytes: number;
  calibration: number[] | undefined;
  lowered: Map<string, LoweredModel>;
}
const cases: Case[] = [];

function open(path: string, tokenizerPath: string): Case {
  const model = loadLlama2c(path);
  const tok = readTextTokenizer("llama2c", readFileSync(tokenizerPath), tokenizerPath, model.config.vocabSize);
  return { path, model, tokBytes: commandTokenizerBytes(tok, model.config.vocabSize).length, calibration: calibrationTokens(model.config, tok), lowered: new Map() };
}

beforeAll(() => {
  cases.push(open(join(dir, "model.bin"), join(dir, "tokenizer.bin")));
  // small enough that f16, q8_0 and q4_0 weights leave the ESP32-C3 some context
  const vocab = byteFallbackVocab(["e", "t", "a", " ", "th", "the", " the", "he", "in", "an", "on", "ce", "up", "Once", " upon", " a", " time"]);
  const dims: Llama2cDims = { dim: 32, hiddenDim: 96, nLayers: 4, nHeads: 4, nKvHeads: 4, vocabSize: vocab.pieces.length, seqLen: 1024 };
  writeFileSync(join(scratch, "small.bin"), writeV1(dims, randomLlamaWeights(dims, 11)));
  writeFileSync(join(scratch, "tokenizer.bin"), writeTokenizerBin(vocab.pieces, vocab.scores));
  cases.push(open(join(scratch, "small.bin"), join(scratch, "tokenizer.bin")));
});

/** The model as `build` lowers it for these precisions (host/cli/build.ts: lowerSource → prepareModel). */
function asBuilt(k: Case, weights: WeightDtype, kCache: CacheDtype, mode: "auto" | "vanilla"): LoweredModel {
  const key = `${weights} ${kCache} ${mode}`;
  if (!k.lowered.has(key)) k.lowered.set(key, prepareModel(k.model, { mode, weights, slimify: { threshold: 1e-3, prompt: k.calibration, kCache } }).lowered);
  return k.lowered.get(key)!;
}

describe("plan = build", () => {
  it.each([0, 1])("every board × weights × cache: plan's largest context builds, one more does not (model %i)", (i) => {
    const k = cases[i];
    const c = k.model.config;
    const tokBytes = k.tokBytes;
    const decisions = slimDecisions(k.model, 1e-3, k.calibration); // what `plan` decides the slim column with
    let checked = 0;
    let edges = 0;
    for (const board of allBoards()) {
      const report = fitReport(c, board, { slimLayers: decisions, tokenizerBytes: tokBytes });
      expect(report.rows).toHaveLength(WEIGHT_DTYPES.length * CACHE_DTYPES.length);
      for (const row of report.rows) {
        for (const [mode, ctx] of [["auto", row.slim], ["vanilla", row.vanilla]] as const) {
          if (ctx === null) continue;
          const l = asBuilt(k, row.weights, row.kCache, mode);
          const what = `${board.name} ${row.weights}/${row.kCache} ${mode}: plan says ctx ${ctx}`;
          if (mode === "auto") expect(l.modes, what).toEqual(row.slimModes); // the same layers slim as the plan's column
          if (ctx > 0) {
            // build's check before slimify (host/cli/build.ts), then its plan of the lowered model
            expect(refusedBeforeSlimify(c, ctx, board, mode, { weights: row.weights, kCache: row.kCache, tokenizerBytes: tokBytes }), what).toBeNull();
            expect(overBudget(buildPlan(l, ctx, { kCache: row.kCache, tokenizerBytes: tokBytes, board }), board), what).toBeNull();
          }
          if (ctx < c.seqLen) {
            const e = overBudget(buildPlan(l, ctx + 1, { kCache: row.kCache, tokenizerBytes: tokBytes, board }), board);
            expect(e, `${what}, yet ctx ${ctx + 1} builds`).not.toBeNull();
            expect(e!.message).toContain(ctx > 0 ? `fits up to ctx ${ctx}` : "not even ctx 1 fits");
            edges++;
          }
          checked++;
        }
      }
    }
    expect(checked).toBe(allBoards().length * WEIGHT_DTYPES.length * CACHE_DTYPES.length * 2);
    expect(edges).toBeGreaterThan(20); // the small boards have real edges, not only "all"
    if (i === 1) expect(fitReport(c, getBoard("esp32-c3"), { slimLayers: decisions, tokenizerBytes: tokBytes }).rows.filter((r) => (r.slim ?? 0) > 0).length).toBeGreaterThan(3);
  });

  it.each([["esp32-s3", 0], ["esp32-c3", 1]] as const)("`slimedge plan --board %s` prints those contexts", (name, i) => {
    const k = cases[i];
    {
      const r = spawnSync(process.execPath, [bin, "plan", k.path, "--board", name], { encoding: "utf8", timeout: 120_000 });
      expect(r.status, r.stderr).toBe(0);
      const report = fitReport(k.model.config, getBoard(name), { slimLayers: slimDecisions(k.model, 1e-3, k.calibration), tokenizerBytes: k.tokBytes });
      for (const row of report.rows) {
        const line = r.stdout.split("\n").find((l) => new RegExp(`^${row.weights}\\s+${row.kCache}\\s`).test(l));
        expect(line, `${name} ${row.weights}/${row.kCache}`).toBeDefined();
        const ctxs = [...line!.matchAll(/\s(\d+)(?: \(all\))?(?=\s{2}|\s*$)/g)].map((m) => Number(m[1]));
        expect(ctxs.slice(-2), line).toEqual([row.slim, row.vanilla]);
      }
      expect(r.stdout).toContain("planned as `slimedge build` places it");
    }
  });

  it("on the ESP32-C3, `build` succeeds at plan's largest f16 / f16 context and refuses one more", () => {
    const k = cases[1];
    const row = fitReport(k.model.config, getBoard("esp32-c3"), { slimLayers: slimDecisions(k.model, 1e-3, k.calibration), tokenizerBytes: k.tokBytes }).rows.find((r) => r.weights === "f16" && r.kCache === "f16")!; // slimify keeps every layer vanilla here: more context than all slim
    expect(row.slim).toBeGreaterThan(0);
    const build = (ctx: number) =>
      spawnSync(process.execPath, [bin, "build", k.path, "--board", "esp32-c3", "--ctx", String(ctx), "--weights", "f16", "--cache", "f16", "--out", join(scratch, `c3-${ctx}`), "--quiet"], { encoding: "utf8", timeout: 300_000 });
    const ok = build(row.slim!);
    expect(ok.status, ok.stderr).toBe(0);
    expect(ok.stdout).toContain(`ctx ${row.slim}`);
    const over = build(row.slim! + 1);
    expect(over.status).toBe(1);
    const lines = over.stderr.trim().split("\n");
    expect(lines.filter((l) => !l.startsWith("note: ")), over.stderr).toHaveLength(1); // notes name the layers that keep a V-cache
    expect(lines.at(-1)).toMatch(new RegExp(`^slimedge: does not fit esp32-c3: ctx ${row.slim! + 1} .*fits up to ctx ${row.slim}$`));
    expect(row.slimModes.every((m) => m === "vanilla")).toBe(true); // the case where all slim would be the larger plan
  }, 600_000);

  it("the headline builds: q8_0 weights, f16 cache rows, ctx 2048 on the ESP32-S3, and the command runs", () => {
    const out = mkdtempSync(join(tmpdir(), "slimedge-headline-"));
    const r = spawnSync(process.execPath, [bin, "build", "--board", "esp32-s3", "--ctx", "2048", "--weights", "q8_0", "--cache", "f16", "--out", out], { encoding: "utf8", timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ctx 2048, layers SSSSSS, q8_0 weights, f16 cache rows/);
    const plan = JSON.parse(readFileSync(join(out, "plan.json"), "utf8"));
    expect([plan.weights, plan.kCache, plan.ctx]).toEqual(["q8_0", "f16", 2048]);
    const run = spawnSync(process.execPath, ["--no-warnings", RUNNER_PATH, join(out, "slimedge-tiny-v2.cmd.wasm"), "Once upon a time", "-n", "16", "--temp", "0"], { encoding: "utf8", timeout: 120_000 });
    expect(run.status, run.stderr).toBe(0);
    expect(run.stdout.trim().length).toBeGreaterThan("Once upon a time".length);
    // the same greedy text as the host's decoder on the simulated board (scalar build, token by token, the same precisions)
    const host = spawnSync(process.execPath, [bin, "run", "--board", "esp32-s3", "--weights", "q8_0", "--cache", "f16", "--temp", "0", "-n", "16", "-p", "Once upon a time"], { encoding: "utf8", timeout: 120_000 });
    expect(host.status, host.stderr).toBe(0);
    expect(run.stdout).toBe(host.stdout);
  }, 600_000);
});
