/**
 * The on-board bench's llama2.c side (tools/bench/boards.ts): run.c / runq.c built bare metal for emulated
 * boards with stories260K in flash print, in QEMU, the ids llama2.c prints for the same checkpoint on this
 * machine (built with the host's gcc, the same one-line instrumentation reporting each id), and read their
 * weights in place. A few tokens per board keep it short; the counts themselves are the bench's.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { afterAll, describe, expect, it } from "vitest";
import { emulatedBoard } from "../boards/emulated.ts";
import { getBoard } from "../boards/index.ts";
import { qemuArgs } from "../host/ship/emulate.ts";
import {
  FIRMWARE_CFLAGS, PEER_PROGRAM, benchPlan, buildPeer, chooseBenchPlan, groupSize, heldRows, peerCheckpointAtCtx, instrumentGenerate, parsePeerReport, peerMissing, peerQ8Checkpoint, peerV0Checkpoint, runPeer, sameText, shortReason, tableOf, type Row,
} from "../tools/bench/boards.ts";
import { findPeersDir } from "../tools/bench/peers.ts";
import { importModel } from "../tools/convert/import.ts";
import type { FitReport, FitRow } from "../tools/package/fit.ts";
import { skipNote, toolMissing } from "./skips.ts";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const peersDir = findPeersDir(ROOT);
const models = peersDir ? join(peersDir, "..", "..", "models") : null;
const checkpoint = models ? join(models, "stories260K.bin") : "";
const tokenizer = models ? join(models, "tok512.bin") : "";
const sharedMissing =
  peersDir === null ? "shared/peers/llama2c not found beside the repository" : !existsSync(checkpoint) || !existsSync(tokenizer) ? "shared/models/stories260K.bin and tok512.bin not found" : null;
const PROMPT = "Once upon a time";
const TOKENS = 6;
const work = mkdtempSync(join(tmpdir(), "slimedge-bench-boards-test-"));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** llama2.c on this machine: the same instrumented source, peer_token printing each sampled id to stderr. */
function hostIds(program: string, model: string, tokens: number): number[] {
  const src = join(work, `host-${program}`);
  writeFileSync(src, instrumentGenerate(readFileSync(join(peersDir!, program), "utf8"), program));
  const hook = join(work, "host-hook.c");
  writeFileSync(
    hook,
    `#include <stdio.h>\n#include <stdlib.h>\nstatic int sampled;\n` +
      `void peer_token(int pos, int n, int next) { if (pos < n) return; fprintf(stderr, "id %d\\n", next); if (++sampled == ${tokens}) exit(0); }\n`,
  );
  const exe = join(work, `host-${program}.exe`);
  const cc = spawnSync("gcc", ["-O2", "-o", exe, src, hook, "-lm"], { encoding: "utf8" });
  expect(cc.status, cc.stderr).toBe(0);
  const r = spawnSync(exe, [model, "-z", tokenizer, "-t", "0", "-s", "1", "-n", "0", "-i", PROMPT], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  return [...r.stderr.matchAll(/^id (\d+)$/gm)].map((m) => Number(m[1]));
}

describe("the on-board bench's pieces", () => {
  it("adds one call to generate() and none to chat(), and refuses a generate() it does not recognise", () => {
    const src = "void generate(int x) {\n        fflush(stdout);\n        token = next;\n}\nvoid chat() {\n        fflush(stdout);\n        token = next;\n}\n";
    const out = instrumentGenerate(src, "run.c");
    expect(out.match(/peer_token\(pos, num_prompt_tokens, next\);/g)).toHaveLength(1);
    expect(out.indexOf("peer_token(pos")).toBeLessThan(out.indexOf("void chat"));
    expect(() => instrumentGenerate("void generate(int x) { printf(piece); }", "run.c")).toThrow(/run\.c: generate\(\) does not print/);
  });

  it("picks v0_to_v2.py's group size (divides dim and hidden_dim)", () => {
    expect(groupSize(64, 172)).toBe(4); // stories260K
    expect(groupSize(128, 384)).toBe(64);
    expect(groupSize(288, 768)).toBe(32);
  });

  const numpy = spawnSync("python3", ["-c", "import numpy"]).status === 0 ? null : "python3 with numpy not installed (apt-get install python3-numpy)";
  const why = sharedMissing ?? numpy;
  it.skipIf(why !== null)(`writes runq.c's checkpoint without python3 byte for byte as v0_to_v2.py does${skipNote(why)}`, () => {
    const m = { name: "stories260K", checkpoint, tokenizer };
    const viaPython = peerQ8Checkpoint(peersDir!, m, join(work, "q8-python.bin"));
    expect(viaPython.note).toContain("v0_to_v2.py (python3)");
    const fake = join(work, "no-numpy");
    mkdirSync(fake, { recursive: true });
    writeFileSync(join(fake, "v0_to_v2.py"), "import a_module_that_is_not_there\n");
    const fallback = peerQ8Checkpoint(fake, m, join(work, "q8-fallback.bin"));
    expect(fallback.note).toMatch(/could not run \(ModuleNotFoundError.*\); written by tools\/convert\/llama2c-export\.ts at group 4/);
    expect(Buffer.compare(readFileSync(fallback.path), readFileSync(viaPython.path))).toBe(0);
  });

  it("gives run.c a legacy (v0) file of the same weights for a versioned checkpoint, and a v0 file as it is", () => {
    const shipped = { name: "slimedge-tiny-v2", checkpoint: join(ROOT, "models", "slimedge-tiny-v2", "model.bin"), tokenizer: "" };
    const r = peerV0Checkpoint(shipped, join(work, "tiny-v0.bin"));
    expect(r.note).toMatch(/versioned llama2\.c file/);
    expect(readFileSync(r.path).readInt32LE(0)).toBe(importModel(shipped.checkpoint).model.config.dim); // v0: the header starts with dim
    const a = importModel(shipped.checkpoint).model;
    const b = importModel(r.path).model;
    expect(b.config).toEqual(a.config);
    expect(Buffer.compare(Buffer.from(b.weights.layers[3].w2!.buffer), Buffer.from(a.weights.layers[3].w2!.buffer))).toBe(0);
    expect(Buffer.compare(Buffer.from(b.weights.tokenEmbedding.buffer), Buffer.from(a.weights.tokenEmbedding.buffer))).toBe(0);
    const v0 = join(work, "tiny-v0.bin");
    expect(peerV0Checkpoint({ ...shipped, checkpoint: v0 }, join(work, "unused.bin"))).toEqual({ path: v0, note: null });
  });

  it("refuses an unknown board in one line before building anything", () => {
    const r = spawnSync(process.execPath, ["--import", "tsx", join(ROOT, "tools", "bench.ts"), "--boards", "esp32-p4,esp99"], { encoding: "utf8", cwd: ROOT });
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split("\n").at(-1)).toBe("bench: --boards esp99: no emulated board of that name; emulated boards are esp32-c3, esp32-p4, rp2350, rp2350-psram");
    expect(r.stderr).not.toContain("building");
  });

  it("reads the peer's report, and says so when there is none", () => {
    const p = parsePeerReport("x\npeer-report: sampled 3 decode-instructions 200 total-instructions 900 heap-peak 70 stack-peak 12 data-bss 8 model-bytes-read 4\npeer-ids: 5 6 7\n");
    expect(p).toEqual({ sampled: 3, decodeInstructions: 200, instructionsPerToken: 100, heapPeak: 70, stackPeak: 12, dataBss: 8, modelBytesRead: 4, ids: [5, 6, 7] });
    expect(() => parsePeerReport("slimedge-fw: the CPU faulted\n")).toThrow(/no report: slimedge-fw: the CPU faulted/);
  });

  it("writes a row per board × model × weights, with the reason where a side could not run", () => {
    const row = (slimedge: Row["slimedge"], peer: Row["peer"]): Row => ({ board: "esp32-c3", model: "m", weights: "q8_0", ctx: 300, cache: "q8", rows: "K", slimedge, peer, peerPlain: peer, boardRam: 1000, sameText: null });
    const peer = { stdout: "", ids: [], sampled: 9, decodeInstructions: 800, instructionsPerToken: 100, heapPeak: 900, stackPeak: 10, modelBytesRead: 0, ram: 2000, flashBytes: 4096, stderr: "" };
    const t = tableOf([row({ error: "not even ctx 1 fits" }, peer), row({ stdout: "", ctx: 300, cache: "q8", rows: "K", instructionsPerToken: 150, ram: 900, ramBoard: 1000, flash: 2048 }, { error: "gcc not installed" }),
      row({ stdout: "", ctx: 300, cache: "q8", rows: "K", instructionsPerToken: 150, ram: 1100, ramBoard: 1000, flash: 2048 }, peer)]);
    const lines = t.split("\n");
    expect(lines).toHaveLength(5);
    expect(lines[0].split("|")).toHaveLength(lines[1].split("|").length);
    expect(lines[2]).toContain("| 300 | q8 K / f32 K+V |");
    expect(heldRows(["vanilla", "vanilla"])).toBe("K+V");
    expect(lines[2]).toContain("— not even ctx 1 fits");
    expect(lines[4]).toContain("| **1.50** |"); // instructions 150 / 100
    expect(lines[4]).toContain("| **0.55** |"); // RAM 1100 / 2000
    expect(lines[2]).toContain("2 KiB (over)");
    expect(lines[3]).toContain("— gcc not installed");
    const refusal =
      "does not fit esp32-c3: ctx 512 (vanilla, f32 weights, f32 K-cache) needs 1835008 bytes = 28 pages = 1.8 MiB (static 16.0 KiB, weights 1015.8 KiB) of 196608 bytes = 192.0 KiB linear memory; not even ctx 1 fits";
    expect(shortReason(refusal)).toBe("does not fit: ctx 512 (vanilla, f32 weights, f32 K-cache) needs 1,835,008 of 196,608 bytes of linear memory");
    expect(shortReason("x".repeat(200))).toHaveLength(138);
    expect(sameText("a b\n", "a b")).toBe(true);
    expect(sameText("a b", "a c")).toBe(false);
  });

  it("runs f32 cache rows at the whole seq_len, else q8 ones, else the largest context either fits", () => {
    const report = (ctx: Record<string, number>): FitReport =>
      ({ config: { seqLen: 512 }, rows: ["f32", "f16", "q8"].map((kCache) => ({ weights: "q8_0", kCache, slim: ctx[kCache] ?? 0, slimModes: kCache === "q8" ? ["slim", "vanilla"] : ["slim", "slim"] }) as FitRow) }) as FitReport;
    expect(chooseBenchPlan(report({ f32: 512, q8: 512 }), "q8_0")).toEqual({ ctx: 512, cache: "f32", rows: "K" });
    expect(chooseBenchPlan(report({ f32: 300, q8: 512 }), "q8_0")).toEqual({ ctx: 512, cache: "q8", rows: "K, +V in 1 of 2 layers" });
    expect(chooseBenchPlan(report({ f32: 200, f16: 400, q8: 362 }), "q8_0")).toEqual({ ctx: 362, cache: "q8", rows: "K, +V in 1 of 2 layers" }); // f16 rows are not a bench choice
    expect(chooseBenchPlan(report({ f32: 300, q8: 300 }), "q8_0")).toEqual({ ctx: 300, cache: "f32", rows: "K" });
    expect(chooseBenchPlan(report({}), "q8_0")).toBeNull();
    expect(chooseBenchPlan(report({ f32: 512 }), "f32")).toBeNull(); // no f32-weights rows in this report
  });

  it.skipIf(sharedMissing !== null)(`chooses stories260K's plan on the unmodified boards as \`plan\` does: q8 cache rows, ≥ 256 positions on esp32-c3, all 512 on rp2350${skipNote(sharedMissing)}`, () => {
    const m = { name: "stories260K", checkpoint, tokenizer };
    const c3 = benchPlan(m, "esp32-c3", "q8_0")!;
    expect(c3.cache).toBe("q8");
    expect(c3.ctx).toBeGreaterThanOrEqual(256);
    expect(c3.ctx).toBeLessThan(512);
    expect(benchPlan(m, "rp2350", "q8_0")).toEqual({ ctx: 512, cache: "q8", rows: "K+V" });
    expect(benchPlan(m, "esp32-p4", "q8_0")).toEqual({ ctx: 512, cache: "f32", rows: "K+V" }); // grouped-query attention: every layer keeps V
  });

  it.skipIf(sharedMissing !== null)(`gives llama2.c a legacy checkpoint whose seq_len is the plan's ctx, the same weights, RoPE tables cut to it${skipNote(sharedMissing)}`, () => {
    const full = importModel(checkpoint).model;
    const out = join(work, "ctx300.bin");
    expect(peerCheckpointAtCtx(checkpoint, 300, out)).toBe(out);
    const cut = readFileSync(out);
    expect(cut.readInt32LE(24)).toBe(300);
    const c = full.config;
    const headHalf = c.dim / c.nHeads / 2;
    expect(readFileSync(checkpoint).length - cut.length).toBe(4 * 2 * (c.seqLen - 300) * headHalf);
    const m = importModel(out).model;
    expect(m.config).toEqual({ ...c, seqLen: 300 });
    for (const k of ["wq", "wk", "wv", "wo", "w1", "w2", "w3"] as const)
      expect(Buffer.compare(Buffer.from(m.weights.layers[c.nLayers - 1][k]!.buffer), Buffer.from(full.weights.layers[c.nLayers - 1][k]!.buffer)), k).toBe(0);
    expect(Buffer.compare(Buffer.from(m.weights.tokenEmbedding.buffer), Buffer.from(full.weights.tokenEmbedding.buffer))).toBe(0);
    expect(peerCheckpointAtCtx(checkpoint, c.seqLen, join(work, "unused.bin"))).toBe(checkpoint);
    expect(() => peerCheckpointAtCtx(checkpoint, c.seqLen + 1, join(work, "unused.bin"))).toThrow(/ctx 513 is not in 1\.\.seq_len 512/);
  });

  it("sizes the virt machine's RAM (-m) to hold the largest flash image, which QEMU's loader refuses past -m", () => {
    const e = emulatedBoard("esp32-c3")!;
    const dir = join(work, "virt-flash");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "flash_args"), "0x10000 app.bin\n0x110000 model.bin\n");
    writeFileSync(join(dir, "app.bin"), Buffer.alloc(4096));
    const m = (modelBytes: number) => {
      writeFileSync(join(dir, "model.bin"), Buffer.alloc(modelBytes));
      const args = qemuArgs(e, getBoard("esp32-c3"), { flashDir: dir, entry: 0x20010000, stackTop: 0x80000000, args: "" }, join(work, "boot.bin"));
      return args[args.indexOf("-m") + 1];
    };
    expect(m(100_000)).toBe("1M"); // the board's 400 KiB
    expect(m(1_500_000)).toBe("2M"); // f32 stories260K's model partition
  });

  it("compiles the peer with the flags the firmware is compiled with", () => {
    const firmware = readFileSync(join(ROOT, "tools", "package", "firmware.ts"), "utf8");
    expect(firmware).toContain(FIRMWARE_CFLAGS.map((f) => JSON.stringify(f)).join(", "));
  });

  // run.c (f32, hard float) on the rv32imafc board; runq.c on the Cortex-M33 and on the soft-float rv32imc board
  const cases: [string, "f32" | "q8_0"][] = [["esp32-p4", "f32"], ["rp2350-psram", "q8_0"], ["esp32-c3", "q8_0"]];
  for (const [board, weights] of cases) {
    const e = emulatedBoard(board)!;
    const why = sharedMissing ?? peerMissing(peersDir, e) ?? toolMissing("gcc", "gcc");
    it.skipIf(why !== null)(`${PEER_PROGRAM[weights]} bare metal on the emulated ${board}, stories260K in flash, prints llama2.c's own ids${skipNote(why)}`, async () => {
      const ckpt = weights === "f32" ? checkpoint : peerQ8Checkpoint(peersDir!, { name: "stories260K", checkpoint, tokenizer }, join(work, `q8-${board}.bin`)).path;
      const b = buildPeer(e, peersDir!, weights, ckpt, tokenizer, PROMPT, TOKENS, join(work, `${board}-${weights}`));
      const r = await runPeer(e, b, 300_000);
      const expected = hostIds(PEER_PROGRAM[weights], ckpt, TOKENS);
      expect(expected).toHaveLength(TOKENS);
      expect(r.ids).toEqual(expected);
      expect(r.sampled).toBe(TOKENS);
      expect(r.stdout.startsWith(PROMPT)).toBe(true);
      expect(r.instructionsPerToken).toBeGreaterThan(0);
      // weights read in place: the checkpoint is in the flash image and only its header was copied out
      const size = readFileSync(ckpt).length;
      expect(b.flashBytes).toBeGreaterThan(size);
      expect(r.modelBytesRead).toBeGreaterThan(0);
      expect(r.modelBytesRead).toBeLessThanOrEqual(4096);
      expect(r.heapPeak).toBeGreaterThan(0);
    }, 600_000);
  }
});
