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
import {
  FIRMWARE_CFLAGS, PEER_PROGRAM, buildPeer, groupSize, instrumentGenerate, parsePeerReport, peerMissing, peerQ8Checkpoint, peerV0Checkpoint, runPeer, sameText, shortReason, tableOf, type Row,
} from "../tools/bench/boards.ts";
import { findPeersDir } from "../tools/bench/peers.ts";
import { importModel } from "../tools/convert/import.ts";
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
    const row = (slimedge: Row["slimedge"], peer: Row["peer"]): Row => ({ board: "esp32-c3", model: "m", weights: "q8_0", slimedge, peer, peerPlain: peer, boardRam: 1000, sameText: null });
    const peer = { stdout: "", ids: [], sampled: 9, decodeInstructions: 800, instructionsPerToken: 100, heapPeak: 900, stackPeak: 10, modelBytesRead: 0, ram: 2000, flashBytes: 4096, stderr: "" };
    const t = tableOf([row({ error: "not even ctx 1 fits" }, peer), row({ stdout: "", instructionsPerToken: 150, ram: 900, ramBoard: 1000, flash: 2048 }, { error: "gcc not installed" })]);
    const lines = t.split("\n");
    expect(lines).toHaveLength(4);
    expect(lines[2]).toContain("— not even ctx 1 fits");
    expect(lines[2]).toContain("2 KiB (over)");
    expect(lines[3]).toContain("— gcc not installed");
    const refusal =
      "does not fit esp32-c3: ctx 512 (vanilla, f32 weights, f32 K-cache) needs 1835008 bytes = 28 pages = 1.8 MiB (static 16.0 KiB, weights 1015.8 KiB) of 196608 bytes = 192.0 KiB linear memory; not even ctx 1 fits";
    expect(shortReason(refusal)).toBe("does not fit: ctx 512 (vanilla, f32 weights, f32 K-cache) needs 1,835,008 of 196,608 bytes of linear memory");
    expect(shortReason("x".repeat(200))).toHaveLength(138);
    expect(sameText("a b\n", "a b")).toBe(true);
    expect(sameText("a b", "a c")).toBe(false);
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
