// One calibration set for every per-layer slim decision (ARCHITECTURE.md, "Numerics"): `plan`, `build`,
// `convert` and `run` without -p measure slimify's V error on the model's calibration prompt, so the plan's
// slim/vanilla layers are the ones `run` runs; `run -p` measures its own prompt and says where that decides
// otherwise. On slimedge-tiny-v2 with q8 cache rows the calibration prompt keeps layer 5's V-cache (random
// inputs, which `plan` used before, kept every layer slim), and at --threshold 5e-4 the prompt below also
// keeps layers 0 and 2's (their slim error over a vanilla V-cache on it: 5.9e-4 and 5.0e-4).
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { loadLlama2c } from "../tools/convert/llama2c.ts";
import { readFileSync } from "node:fs";
import { readTextTokenizer } from "../host/core/tokenizers.ts";
import { slimify } from "../tools/convert/slimify.ts";
import { CALIBRATION_PROMPT, calibrationTokens } from "../tools/convert/calibrate.ts";
import { slimDecisions } from "../tools/package/fit.ts";
import { SlimError } from "../host/core/errors.ts";

const bin = join(import.meta.dirname, "..", "bin", "slimedge.js");
const dir = join(import.meta.dirname, "..", "models", "slimedge-tiny-v2");
const checkpoint = join(dir, "model.bin");
const PROMPT = "The committee noted with concern that";

function slimedge(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 120_000 });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The layers a run's notes say keep their V-cache. */
const vanillaLayers = (stderr: string) => [...stderr.matchAll(/^note: layer (\d+) keeps its V-cache/gm)].map((m) => Number(m[1]));

/** The "slim layers" column of the plan table's rows at one cache precision: S/V per layer, or "slim" for all. */
const planColumn = (stdout: string, kCache: string) =>
  stdout
    .split("\n")
    .filter((l) => new RegExp(`^(f32|f16|q8_0|q4_0)\\s+${kCache}\\s`).test(l))
    .map((l) => (/hybrid ([SV]+)/.exec(l)?.[1] ?? (/\sslim\s/.test(l) ? "slim" : "?")));

describe("plan and run decide each layer on one calibration set", () => {
  const model = loadLlama2c(checkpoint);
  const tokenizer = readTextTokenizer("llama2c", readFileSync(join(dir, "tokenizer.bin")), "tokenizer.bin", model.config.vocabSize);
  const calibration = calibrationTokens(model.config, tokenizer);

  it("is the calibration prompt's first 64 ids through the model's tokenizer", () => {
    expect(calibration).toEqual(tokenizer.prompt(CALIBRATION_PROMPT).slice(0, 64));
    expect(calibration![0]).toBe(1); // <s> first
    expect(calibrationTokens({ ...model.config, norm: "layer", biases: true }, tokenizer)).toBeUndefined(); // no calibration pass: random inputs
    const unencodable = { prompt: (): number[] => { throw new SlimError("E_MODEL", "tokenizer.bin cannot encode it"); } };
    expect(calibrationTokens(model.config, unencodable)).toBeUndefined(); // a tokenizer without the letters: random inputs
  });

  it("plan's slim column at q8 is slimify's decision on it (layer 5 keeps its V-cache; random inputs would keep none)", () => {
    const decisions = slimDecisions(model, 5e-4, calibration);
    expect(decisions.q8.map((m) => (m === "slim" ? "S" : "V")).join("")).toBe("SSSSSV");
    expect(slimify(model, { threshold: 5e-4, kCache: "q8" }).layers.every((l) => l.mode === "slim")).toBe(true);
    const r = slimedge("plan", checkpoint, "--board", "esp32-s3", "--threshold", "5e-4");
    expect(r.code, r.stderr).toBe(0);
    expect(planColumn(r.stdout, "q8")).toEqual(Array(4).fill("SSSSSV"));
    expect(planColumn(r.stdout, "f16")).toEqual(Array(4).fill("slim"));
  });

  it.each([
    { kCache: "q8", want: [5] },
    { kCache: "f16", want: [] },
  ])("run --cache $kCache without -p keeps the V-caches the plan shows, and says nothing more", ({ kCache, want }) => {
    const r = slimedge("run", checkpoint, "--cache", kCache, "--threshold", "5e-4", "--ctx", "64", "-n", "1");
    expect(r.code, r.stderr).toBe(0);
    expect(vanillaLayers(r.stderr)).toEqual(want);
    expect(r.stderr).not.toMatch(/slimify measured this prompt/);
  });

  it("run -p decides on the prompt's activations and names the layers where that differs from the plan", () => {
    const r = slimedge("run", checkpoint, "--cache", "q8", "--threshold", "5e-4", "--ctx", "64", "-n", "1", "-p", PROMPT);
    expect(r.code, r.stderr).toBe(0);
    expect(vanillaLayers(r.stderr)).toEqual([0, 2, 5]);
    const notes = r.stderr.split("\n").filter((l) => /slimify measured this prompt/.test(l));
    expect(notes).toEqual([
      "note: slimify measured this prompt's activations and runs layers 0, 2 with a V-cache where `slimedge plan` runs slim " +
        "(plan measures the model's calibration prompt); without -p, run decides as the plan does",
    ]);
  });
});
