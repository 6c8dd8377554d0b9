// The W_K conditioning penalty of tools/train (model.key_conditioning_penalty): a seconds-long training run
// of a tiny model of the shipped architecture, same seed and data with and without the penalty
// (tools/train/check_conditioning.py). Needs Debian's python3-torch at /usr/bin/python3; without it the test
// is skipped and says why (test/skips.ts).
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { skipNote } from "./skips.ts";

const PY = "/usr/bin/python3";
const noTorch = spawnSync(PY, ["-c", "import torch"], { encoding: "utf8" }).status === 0 ? null : "/usr/bin/python3 has no torch (apt-get install python3-torch)";
const script = join(import.meta.dirname, "..", "tools", "train", "check_conditioning.py");

interface Run { cond_wk: number[]; final_loss: number }

describe("W_K conditioning penalty", () => {
  for (const kind of ["logsv", "gram"]) {
    it.skipIf(noTorch !== null)(`${kind}: lowers cond(W_K) in every layer of an 80-step run, at no more than 2 % of the loss${skipNote(noTorch)}`, () => {
      const r = spawnSync(PY, [script, "--steps", "80", "--penalty", "1", "--kind", kind], { encoding: "utf8" });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout) as { without: Run; with: Run };
      // Unpenalised, the random-initialised 32×32 W_K stay badly conditioned (hundreds); penalised, below 2.
      for (let l = 0; l < out.with.cond_wk.length; l++) {
        expect(out.with.cond_wk[l]).toBeLessThan(2);
        expect(out.without.cond_wk[l]).toBeGreaterThan(10 * out.with.cond_wk[l]);
      }
      expect(out.with.final_loss).toBeLessThan(out.without.final_loss * 1.02);
    }, 120_000);
  }
});
