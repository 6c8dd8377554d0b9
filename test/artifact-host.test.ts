// The built artifact's standalone command against `slimedge run`, id for id, as a user compares them: the
// same checkpoint at q8_0, greedy, on several prompts (the empty one included: only BOS, so every token after
// it is the decoder's own), in both builds — `run --build B` against `build --simd on|off` run under
// node:wasi. The scalar command is compiled at another shrink level than the scalar reactor, and the standard
// library's pow and exp are other implementations there; with those in the decoder the two parted after
// about 56 tokens of the empty prompt on stories260K (ARCHITECTURE.md, "Numerics": the module computes no
// transcendental but its own f32 exp, and the host writes the RoPE table).
import { describe, it, expect, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomLlamaWeights, writeV1, writeTokenizerBin, type Llama2cDims } from "./fixtures/llama2c-writer.ts";
import { RUNNER_PATH } from "../host/ship/deploy/release.ts";
import { skipNote } from "./skips.ts";

const root = join(import.meta.dirname, "..");
const bin = join(root, "bin", "slimedge.js");
const dir = mkdtempSync(join(tmpdir(), "slimedge-artifact-host-"));
const SHARED = join(root, "..", "shared", "models");
const STEPS = 80;
const PROMPTS = ["", "Once upon a time", "The", "a b c"];

function slimedge(...args: string[]) {
  const r = spawnSync(process.execPath, [bin, ...args], { encoding: "utf8", timeout: 300_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

function command(wasm: string, ...args: string[]) {
  const r = spawnSync(process.execPath, ["--no-warnings", RUNNER_PATH, wasm, ...args], { encoding: "utf8", timeout: 120_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

// Single characters, no merges: a run's text gives back the ids it chose (stories260K's tok512 pieces are
// placeholders that name their id).
const PIECES = ["<unk>", "<s>", "</s>", " ", ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ", ".", ","];
const DIMS: Llama2cDims = { dim: 64, hiddenDim: 172, nLayers: 2, nHeads: 8, nKvHeads: 4, vocabSize: PIECES.length, seqLen: 256 };

const synthetic = { ckpt: join(dir, "shaped.bin"), tok: join(dir, "tokenizer.bin"), ctx: 256 };
const stories = { ckpt: join(SHARED, "stories260K.bin"), tok: join(SHARED, "tok512.bin"), ctx: 512 };
const noStories = existsSync(stories.ckpt) && existsSync(stories.tok) ? null : `${SHARED}/stories260K.bin and tok512.bin not present`;

beforeAll(() => {
  writeFileSync(synthetic.ckpt, writeV1(DIMS, randomLlamaWeights(DIMS, 20), { sharedClassifier: false }));
  writeFileSync(synthetic.tok, writeTokenizerBin(PIECES, PIECES.map((_, i) => -i)));
});

describe.each([
  ["a stories260K-shaped random checkpoint", synthetic, null],
  ["stories260K", stories, noStories],
] as const)("artifact and host agree at q8_0: %s", (_name, m, why) => {
  it.skipIf(why !== null).each(["simd", "scalar"] as const)(`%s build, prompts ${PROMPTS.map((p) => JSON.stringify(p)).join(", ")}${skipNote(why)}`, (build) => {
    const out = join(dir, `${build}-${m.ctx}`);
    slimedge("build", m.ckpt, "--tokenizer", m.tok, "--board", "rpi-5", "--ctx", String(m.ctx), "--weights", "q8_0", "--simd", build === "simd" ? "on" : "off", "--out", out);
    const wasm = join(out, `${m.ckpt.split("/").at(-1)!.replace(/\.bin$/, "")}.cmd.wasm`);
    for (const p of PROMPTS) {
      const host = slimedge("run", m.ckpt, "--tokenizer", m.tok, "-p", p, "-n", String(STEPS), "--temp", "0", "--weights", "q8_0", "--simd", build === "simd" ? "on" : "off", "--ctx", String(m.ctx));
      const artifact = command(wasm, p, "-n", String(STEPS), "--temp", "0");
      expect(artifact, `prompt ${JSON.stringify(p)}`).toBe(host);
      expect(host.length).toBeGreaterThan(STEPS);
    }
  }, 600_000);
});
