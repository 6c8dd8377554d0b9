/**
 * Weights in flash (ARCHITECTURE.md, "Weights in flash"): on a board whose native firmware reads its
 * memory-mapped flash, the plan puts the read-only regions (weights, RoPE table, tokenizer) last, the
 * firmware's arena holds only the rest, and the module reads the tail in place. Checked here: the plan's
 * layout against the default plan (the same regions, the same bytes), `plan`/`build`'s refusals naming the
 * RAM and the flash budget, plan.json's fields and the memory map, and — on emulated boards with the
 * unmodified esp32-c3 and rp2350 profiles — stories260K at q8_0 with q8 cache rows printing the ids
 * `slimedge run` prints on Node. The oracle for the text is Node (host/runtime), which copies every weight
 * into one linear memory as always.
 *
 * The emulated runs are slow (soft float on the esp32-c3): CI runs 6 tokens; SLIMEDGE_FLASH_LONG=1 runs 64.
 * They need ../shared/models (stories260K.bin, tok512.bin) and the emulated boards' tools (.ci/run).
 */
import { describe, it, expect } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, writeFileSync, mkdirSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type ModelConfig } from "../host/core/model.ts";
import { encodePlanBlock, layerModes, planArena } from "../host/core/plan.ts";
import { PlanSlot } from "../host/core/abi.generated.ts";
import { fits, flashUse, maxContext, overBudget, ramArenaBytes } from "../tools/package/fit.ts";
import { getBoard } from "../boards/index.ts";
import { emulatedBoard } from "../boards/emulated.ts";
import { buildArtifact } from "../tools/package/build.ts";
import { loadLlama2c } from "../tools/convert/llama2c.ts";
import { randomLlamaWeights, writeV0 } from "./fixtures/llama2c-writer.ts";
import { skipNote, toolMissing } from "./skips.ts";
import { rawDecoder } from "./helpers.ts";
import { prepareModel } from "../tools/convert/prepare.ts";
import { planOptionsFor } from "../host/core/lowered.ts";
import { writeWeights } from "../host/runtime/decoder.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "bin", "slimedge.js");
const SHARED = join(root, "..", "shared", "models");
const stories = { ckpt: join(SHARED, "stories260K.bin"), tok: join(SHARED, "tok512.bin") };
const noStories = existsSync(stories.ckpt) && existsSync(stories.tok) ? null : `${SHARED}/stories260K.bin and tok512.bin not present`;
const LONG = process.env.SLIMEDGE_FLASH_LONG === "1";
const work = mkdtempSync(join(tmpdir(), "slimedge-flash-weights-"));

/** stories260K's shape (llama2.c's run of it: 4 K/V heads for 8 query heads, so it runs vanilla). */
const S260K: ModelConfig = {
  dim: 64, hiddenDim: 172, nLayers: 5, nHeads: 8, nKvHeads: 4, vocabSize: 512, seqLen: 512, normEps: 1e-5, ropeTheta: 10000, sharedClassifier: true,
} as ModelConfig;
/** The stories15M shape: dim 288, 6 layers, 6 heads, hidden 768, vocab 32000, seq 256. */
const S15M: ModelConfig = {
  dim: 288, hiddenDim: 768, nLayers: 6, nHeads: 6, nKvHeads: 6, vocabSize: 32000, seqLen: 256, normEps: 1e-5, ropeTheta: 10000, sharedClassifier: true,
} as ModelConfig;
const TOK512_BYTES = 6432; // tok512.bin as the command embeds it

describe("planArena with readOnlyInFlash", () => {
  const modes = layerModes(S260K, "vanilla");
  const o = { weights: "q8_0" as const, kCache: "q8" as const, tokenizerBytes: TOK512_BYTES };
  const ram = planArena(S260K, 256, modes, o);
  const rom = planArena(S260K, 256, modes, { ...o, readOnlyInFlash: true });

  it("puts the weights, the RoPE table and the tokenizer last, one tail the firmware reads in place", () => {
    expect(ram.flash).toBeNull();
    const tail = rom.regions.filter((r) => r.offset >= rom.flash!.offset);
    expect(tail.map((r) => r.name)).toEqual(["weights", "rope_table", "tokenizer"]);
    expect(rom.flash).toEqual({ name: "flash", offset: tail[0].offset, size: rom.totalBytes - tail[0].offset });
    // every weight and the table and the tokenizer lie inside it; no cache or buffer does
    const inTail = (s: { offset: number; size: number }) => s.offset >= rom.flash!.offset && s.offset + s.size <= rom.totalBytes;
    for (const l of rom.layers) for (const w of [l.attnNorm, l.wq, l.wk, l.wvOrWkv, l.wo, l.ffnNorm, l.w1, l.w2, l.w3]) expect(inTail(w)).toBe(true);
    for (const s of [rom.embedding, rom.finalNorm, rom.classifier, rom.ropeTable!, rom.tokenizer!]) expect(inTail(s)).toBe(true);
    for (const s of [...rom.layers.flatMap((l) => [l.kCache, l.vCache!]), ...rom.activations, rom.logits, rom.command!.args, rom.command!.promptTokens]) expect(inTail(s)).toBe(false);
    // the regions still tile the arena
    let at = 0;
    for (const r of rom.regions) {
      expect(r.offset).toBe(at);
      at += r.size;
    }
    expect(at).toBe(rom.totalBytes);
  });

  it("places the same regions with the same bytes as the default plan, less the reactor's prefill tokens, which lie over the command's prompt tokens", () => {
    const sizes = (p: typeof ram) => Object.fromEntries(p.regions.map((r) => [r.name, r.size]));
    const { scratch, ...rest } = sizes(ram);
    expect(scratch).toBe(256 * 4);
    expect(sizes(rom)).toEqual(rest);
    expect(rom.totalBytes).toBe(ram.totalBytes - scratch);
    expect(rom.tokens.offset).toBe(rom.command!.promptTokens.offset);
    expect(rom.tokens.size).toBeLessThanOrEqual(rom.command!.promptTokens.size);
    // the host writes no delta: the firmware does, when it reads the tail in place
    expect(encodePlanBlock(rom)[PlanSlot.readOnlyDelta]).toBe(0);
  });
});

describe("the module reads the read-only tail where readOnlyDelta says (assembly/index.ts init)", () => {
  it.each(["scalar", "simd"] as const)("gives the same logits, bit for bit, with the tail moved elsewhere and its planned place zero (%s)", async (build) => {
    const c = { dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: 64, seqLen: 64 };
    const path = join(work, "relocate.bin");
    writeFileSync(path, writeV0(c, randomLlamaWeights(c, 7)));
    const { lowered } = prepareModel(loadLlama2c(path), { mode: "slim", weights: "q8_0" });
    const plan = planArena(lowered.config, 32, lowered.modes, { ...planOptionsFor(lowered), readOnlyInFlash: true });
    const image = new ArrayBuffer(plan.totalBytes);
    writeWeights(image, lowered, plan);
    const tail = new Uint8Array(image, plan.flash!.offset, plan.flash!.size);
    expect(tail.some((b) => b !== 0)).toBe(true);
    const run = async (moved: boolean) => {
      const ex = await rawDecoder(build, plan.pages * 2);
      const mem = new Uint8Array(ex.memory.buffer);
      const slots = encodePlanBlock(plan);
      const at = plan.pages * 65536; // beyond the plan's memory, where only the delta leads
      if (moved) {
        mem.set(tail, at);
        slots[PlanSlot.readOnlyDelta] = at - plan.flash!.offset;
      } else mem.set(tail, plan.flash!.offset);
      new Int32Array(ex.memory.buffer, plan.planBlock.offset, slots.length).set(slots);
      expect(ex.init(plan.planBlock.offset)).toBe(0);
      const logits: number[] = [];
      for (const t of [1, 5, 9, 2]) logits.push(...new Float32Array(ex.memory.buffer, ex.step(t), c.vocabSize));
      // init applied the delta once and cleared the slot: a second init refuses the moved addresses
      return { logits, again: ex.init(plan.planBlock.offset), slot: new Int32Array(ex.memory.buffer, plan.planBlock.offset, slots.length)[PlanSlot.readOnlyDelta] };
    };
    const here = await run(false);
    const there = await run(true);
    expect(there.logits).toEqual(here.logits);
    expect(here.logits.every(Number.isFinite)).toBe(true);
    expect([here.again, here.slot]).toEqual([0, 0]); // nothing moved: init again is fine
    expect([there.again, there.slot]).toEqual([5, 0]); // PLAN_OUT_OF_MEMORY
  });
});

describe("fit: the RAM budget and the flash budget, each checked and named", () => {
  it("stories260K at q8_0 with q8 cache rows: at least 256 positions on the unmodified esp32-c3, all 512 on rp2350", () => {
    const o = { weights: "q8_0" as const, kCache: "q8" as const, tokenizerBytes: TOK512_BYTES };
    const modes = layerModes(S260K, "vanilla");
    expect(maxContext(S260K, getBoard("esp32-c3"), modes, o)).toBeGreaterThanOrEqual(256);
    expect(maxContext(S260K, getBoard("rp2350"), modes, o)).toBe(512);
    // without the weights in flash neither holds even one position (the weights alone are 509 KiB)
    const copied = planArena(S260K, 1, modes, o);
    expect(copied.pages * 65536).toBeGreaterThan(getBoard("rp2350").linearMemoryBytes);
  });

  it("refuses a context over the RAM budget with RAM needed and available and the flash figures", () => {
    const board = getBoard("esp32-c3");
    const plan = planArena(S260K, 512, layerModes(S260K, "vanilla"), { weights: "q8_0", kCache: "q8", tokenizerBytes: TOK512_BYTES, readOnlyInFlash: true });
    expect(fits(plan, board)).toBe(false);
    const need = ramArenaBytes(plan, board);
    expect(need).toBe(plan.flash!.offset);
    const msg = overBudget(plan, board)!.message;
    expect(msg).toContain(`needs ${need} bytes = `);
    expect(msg).toContain(`of RAM for the arena`);
    expect(msg).toContain(`of ${board.linearMemoryBytes} bytes = 192.0 KiB linear memory`);
    expect(msg).toMatch(new RegExp(`flash: tables 65536 \\+ app 1048576 \\+ model \\d+ \\(weights, RoPE table and tokenizer ${plan.flash!.size} read in place\\) \\+ artifact \\d+ = \\d+ of 4194304 bytes of flash`));
    expect(msg).toMatch(/vanilla fits up to ctx \d+$/);
  });

  it("esp32-s3: the stories15M shape at q4_0 fits with its weights (more than the PSRAM) in flash; at q8_0 it is refused for flash, both budgets named", () => {
    const board = getBoard("esp32-s3");
    const modes = layerModes(S15M, "vanilla");
    const q4 = planArena(S15M, 256, modes, { weights: "q4_0", kCache: "q8", tokenizerBytes: 436888, readOnlyInFlash: true });
    expect(q4.regions.find((r) => r.name === "weights")!.size).toBeGreaterThan(board.psramBytes);
    expect(fits(q4, board)).toBe(true);
    const q8 = planArena(S15M, 256, modes, { weights: "q8_0", kCache: "q8", tokenizerBytes: 436888, readOnlyInFlash: true });
    const f = flashUse(q8, board)!;
    expect(f.total).toBeGreaterThan(board.flashBytes!);
    expect(ramArenaBytes(q8, board)).toBeLessThan(board.linearMemoryBytes); // RAM alone would fit
    const msg = overBudget(q8, board)!.message;
    expect(msg).toContain(`needs ${f.total} bytes of flash, ${f.total - board.flashBytes!} more than the board's ${board.flashBytes}`);
    expect(msg).toMatch(/; RAM: linear memory \d+ \+ .* = \d+ of 8912896 bytes of RAM; not even ctx 1 fits/);
  });
});

describe("build: plan.json and the memory map show RAM and flash separately", () => {
  it("writes the read-only tail, the RAM and the flash use, and draws the split", async () => {
    const c = { dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: 1024, seqLen: 128 }; // the shipped tokenizer's vocab
    const dir = join(work, "tiny");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "model.bin"), writeV0(c, randomLlamaWeights(c, 3)));
    const tok = readFileSync(join(root, "models", "slimedge-tiny", "tokenizer.bin"));
    const board = getBoard("esp32-c3");
    const model = loadLlama2c(join(dir, "model.bin"));
    const out = join(work, "tiny-build");
    const built = await buildArtifact(model, tok, { name: "model", board, ctx: 64, mode: "auto", quant: "q8_0", simd: "auto", out, threshold: 1e-3 });
    const json = JSON.parse(readFileSync(join(out, "plan.json"), "utf8"));
    expect(json.flash.readInPlace).toEqual(built.plan.flash);
    expect(json.ram.arenaBytes).toBe(built.plan.flash!.offset);
    expect(json.ram.linearMemoryBytes).toBe(board.linearMemoryBytes);
    expect(json.ram.total).toBe(json.memory.total);
    expect(json.memory.linearMemory).toBe(built.plan.flash!.offset);
    const cmd = readFileSync(join(out, "model.cmd.wasm"));
    expect(json.flash.use.model).toBe(Math.ceil((cmd.length + 36) / 4096) * 4096);
    expect(json.flash.use.total).toBe(json.flash.use.tables + json.flash.use.app + json.flash.use.model + json.flash.use.artifact);
    expect(json.flash.use.flash).toBe(board.flashBytes);
    // the read-only segment's bytes start on a 16-byte boundary of the image (aligned loads stay aligned)
    const [at, length] = lastSegment(new Uint8Array(cmd));
    expect(at % 16).toBe(0);
    expect(length).toBe(built.plan.flash!.size);
    const txt = readFileSync(join(out, "memory-map.txt"), "utf8");
    expect(txt).toMatch(/^RAM: 0x00000000\.\.0x[0-9a-f]{8} \d+ bytes; flash, read in place by the native firmware: .* \(weights, rope_table, tokenizer\)$/m);
    expect(txt).toMatch(/^board RAM \(esp32-c3, wasm2c-native\): linear memory \d+ .* of 409600 bytes of RAM$/m);
    expect(txt).toMatch(/^board flash \(esp32-c3\): tables 65536 \+ app 1048576 \+ model \d+ .* of 4194304 bytes of flash$/m);
    const svg = readFileSync(join(out, "memory-map.svg"), "utf8");
    expect(svg).toContain("flash (read in place)");
    expect(svg).toMatch(/fits esp32-c3: RAM .* · flash .* of 4\.0 MiB/);
  }, 120_000);
});

/** The last data segment of a module's data section: [start of its bytes in the file, length]. */
function lastSegment(wasm: Uint8Array): [number, number] {
  let p = 8;
  const leb = () => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const b = wasm[p++];
      v += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return v;
    }
  };
  let last: [number, number] = [0, 0];
  while (p < wasm.length) {
    const id = wasm[p++];
    const size = leb();
    const end = p + size;
    if (id === 11) {
      for (let n = leb(); n > 0; n--) {
        leb(); // kind 0
        p++; // i32.const
        while (wasm[p++] & 0x80); // offset
        p++; // end
        const len = leb();
        last = [p, len];
        p += len;
      }
    }
    p = end;
  }
  return last;
}

/** Why an emulated board cannot be built and run here: its cross compiler, picolibc or QEMU missing. */
function boardMissing(board: string): string | null {
  const e = emulatedBoard(board)!;
  const [gcc, picolibc, qemu] = e.packages;
  return (
    noStories ??
    toolMissing("wasm2c", "wabt") ??
    toolMissing(e.cc, gcc) ??
    (existsSync(join("/usr/lib/picolibc", e.picolibc, "libc.a")) ? null : `picolibc for ${e.isa} not found (apt-get install ${picolibc})`) ??
    toolMissing(e.qemu.binary, qemu)
  );
}

describe("emulated boards read stories260K's weights in place and print Node's ids", () => {
  const steps = LONG ? "64" : "6";
  const cases = [
    { board: "esp32-c3", ctx: 256 },
    { board: "rp2350", ctx: 512 },
  ];
  for (const c of cases) {
    const why = boardMissing(c.board);
    it.skipIf(why !== null)(`${c.board}: q8_0 weights, q8 cache rows, ctx ${c.ctx}, ${steps} tokens, the unmodified profile${skipNote(why)}`, () => {
      const args = [bin, "run", stories.ckpt, "--tokenizer", stories.tok, "-p", "Once upon a time", "-n", steps, "--temp", "0", "--quant", "q8_0", "--cache", "q8", "--ctx", String(c.ctx), "--board", c.board];
      const host = spawnSync(process.execPath, args, { encoding: "utf8", timeout: 120_000 });
      expect(host.status, host.stderr).toBe(0);
      const board = spawnSync(process.execPath, [...args, "--emulate"], { encoding: "utf8", timeout: 1_200_000 });
      expect(board.status, board.stderr).toBe(0);
      expect(board.stdout).toBe(host.stdout);
      expect(board.stdout.split(" ").length).toBeGreaterThan(4); // tok512's pieces are ids: the text is the ids
      const m = /RAM of \S+: arena without the weights (\d+) \+ firmware \.data\/\.bss (\d+) \+ native stack (\d+) = (\d+) of (\d+) bytes.*; weights, RoPE table and tokenizer (\d+) bytes read in place/.exec(board.stderr);
      expect(m, board.stderr).not.toBeNull();
      const [arena, , , total, ramBytes, inPlace] = m!.slice(1).map(Number);
      expect(ramBytes).toBe(getBoard(c.board).ramBytes);
      expect(total).toBeLessThanOrEqual(ramBytes);
      expect(arena).toBeLessThanOrEqual(getBoard(c.board).linearMemoryBytes);
      expect(inPlace).toBeGreaterThan(509 * 1024); // the q8_0 weights alone are 509 KiB: more than the arena's budget
    }, 1_500_000);
  }
});
