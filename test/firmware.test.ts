/**
 * The board side of `slimedge flash`: the native firmware (boards/firmware: wasm2c of the artifact's small
 * command module + the portable C core) reads the very images `flash --out` writes — partition table, model
 * partition, firmware in the app partition — and must print exactly the text Node prints for the same model,
 * plan and sampler. On the host (gcc) and on emulated boards in QEMU: RV32IMC (esp32-c3) and Cortex-M33
 * (rp2350) with a model small enough for a 400 KB SRAM board, and RV32IMAFC (esp32-p4) and Cortex-M33
 * (rp2350-psram) with the shipped model at q8_0. The oracle is `slimedge run` on Node (host/runtime), which
 * shares no code with the firmware's tokenizer, sampler or C.
 *
 * Needs wabt, gcc, gcc-riscv64-unknown-elf, gcc-arm-none-eabi, picolibc-riscv64-unknown-elf,
 * picolibc-arm-none-eabi, qemu-system-misc and qemu-system-arm (.ci/run installs them).
 */
import { describe, it, expect, beforeAll } from "vitest";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { randomLlamaWeights, writeV0 } from "./fixtures/llama2c-writer.ts";
import { loadLlama2c } from "../tools/convert/llama2c.ts";
import { buildArtifact } from "../tools/package/build.ts";
import { buildFirmware, buildWamrHostFirmware, fastAccess, type Firmware } from "../tools/package/firmware.ts";
import { MODEL_CHECK_BYTES, planFlash, readArtifactDir, writeFlashFiles } from "../host/ship/flash/images.ts";
import { crc32 } from "../host/core/crc32.ts";
import { emulate, qemuArgs } from "../host/ship/emulate.ts";
import { emulatedBoard } from "../boards/emulated.ts";
import { getBoard } from "../boards/index.ts";
import { planArena } from "../host/core/plan.ts";
import { maxContext } from "../tools/package/fit.ts";
import { SlimError } from "../host/core/errors.ts";
import { skipNote, toolMissing } from "./skips.ts";
import { BAD_FLASH_ARGS } from "./fixtures/hostile.ts";

const root = fileURLToPath(new URL("..", import.meta.url));
const bin = join(root, "bin", "slimedge.js");
const tokenizerPath = join(root, "models", "slimedge-tiny", "tokenizer.bin");
const defaultModel = join(root, "models", "slimedge-tiny", "model.bin");
const work = mkdtempSync(join(tmpdir(), "slimedge-firmware-"));

/**
 * A random model small enough for the esp32-c3's 3 pages (192 KiB) of linear memory at q8_0 even where the
 * weights are in RAM (the host firmware, WAMR): the weights with their unshared classifier are 107 KiB, and
 * ctx 62 is the largest context whose whole arena (tokenizer and command buffers included) stays within 3
 * pages. On the emulated boards the weights stay in flash and RAM holds the rest.
 */
const SMALL = { dim: 32, hiddenDim: 64, nLayers: 2, nHeads: 4, nKvHeads: 4, vocabSize: 1024, seqLen: 1024 };
const SMALL_CTX = 62;
const smallModel = join(work, "small", "model.bin");

beforeAll(() => {
  const dir = join(work, "small");
  cpSync(tokenizerPath, join(dir, "tokenizer.bin"));
  writeFileSync(smallModel, writeV0(SMALL, randomLlamaWeights(SMALL, 2), { sharedClassifier: false }));
});

/** Node's text: `slimedge run` on the host runtime, with the same plan and sampler. */
function nodeText(model: string, ctx: number, args: string[]): string {
  const r = spawnSync(process.execPath, [bin, "run", model, "--weights", "q8_0", "--ctx", String(ctx), "--simd", "off", ...args], { encoding: "utf8", timeout: 120_000 });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

/** `slimedge build` for the board, then `flash --out` with the firmware (when given) in the app partition. */
async function artifact(model: string, board: string, ctx: number, tag: string): Promise<string> {
  const out = join(work, `artifact-${tag}`);
  await buildArtifact(loadLlama2c(model), readFileSync(join(model, "..", "tokenizer.bin")), {
    name: "model", board: getBoard(board), ctx, mode: "auto", quant: "q8_0", simd: "auto", out, threshold: 1e-3,
  });
  return out;
}

function flashImages(artifactDir: string, board: string, tag: string, firmware?: Firmware): string {
  const out = join(work, `flash-${tag}`);
  const app = firmware?.app ? new Uint8Array(readFileSync(firmware.app)) : undefined;
  writeFlashFiles(planFlash(readArtifactDir(artifactDir), getBoard(board), { firmware: app }), out);
  return out;
}

const hostMissing = toolMissing("wasm2c", "wabt") ?? toolMissing("cc", "gcc");
/** Why an emulated board cannot be built and run here: its cross compiler, picolibc or QEMU missing. */
function boardMissing(board: string): string | null {
  const e = emulatedBoard(board)!;
  const [gcc, picolibc, qemu] = e.packages;
  return (
    hostMissing ??
    toolMissing(e.cc, gcc) ??
    (existsSync(join("/usr/lib/picolibc", e.picolibc, "libc.a")) ? null : `picolibc for ${e.isa} not found (apt-get install ${picolibc})`) ??
    toolMissing(e.qemu.binary, qemu)
  );
}

const GREEDY = ["-p", "Once upon a time", "-n", "12", "--temp", "0"];

/** model.bin with its check recomputed, as if the damage had been there at build time. */
function reseal(model: Uint8Array): Uint8Array {
  const covered = model.length - MODEL_CHECK_BYTES;
  new DataView(model.buffer, model.byteOffset).setUint32(covered + 12, crc32(model.subarray(0, covered)), true);
  return model;
}

/** The largest data segment of a module's data section (the weights): [start, length] in the file. */
function largestSegment(wasm: Uint8Array): [number, number] {
  let p = 8;
  const leb = () => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const b = wasm[p++];
      v += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return v;
    }
  };
  let best: [number, number] = [0, 0];
  while (p < wasm.length && wasm[p] !== 0xff) {
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
        if (len > best[1]) best = [p, len];
        p += len;
      }
    }
    p = end;
  }
  return best;
}

/**
 * Damage to the model partition after the build: the bytes of the reliability report (256 bytes of 0x11,
 * 1 KiB of 0x40 and 4 KiB of 0x7f written into the largest data segment), a single flipped bit, a byte of
 * the 0xFF gap, and the check itself: each must stop the firmware with its one line.
 */
const MISMATCH = "model partition: CRC-32 mismatch, the bytes differ from those written at build time (flash model.bin again)";
const PARTITION_DAMAGE: { name: string; damage: (m: Uint8Array) => Uint8Array; line: string }[] = [
  ...([[256, 0x11], [1024, 0x40], [4096, 0x7f]] as const).map(([n, v]) => ({
    name: `${n} bytes of 0x${v.toString(16)}`,
    damage: (m: Uint8Array) => {
      const [start, len] = largestSegment(m);
      m.fill(v, start + Math.floor((len - n) / 2), start + Math.floor((len - n) / 2) + n);
      return m;
    },
    line: MISMATCH,
  })),
  { name: "one flipped bit", damage: (m) => ((m[Math.floor(m.length / 3)] ^= 0x08), m), line: MISMATCH },
  { name: "a byte after the module", damage: (m) => ((m[m.length - MODEL_CHECK_BYTES - 1] = 0x00), m), line: MISMATCH },
  { name: "the stored CRC", damage: (m) => ((m[m.length - 1] ^= 0x01), m), line: MISMATCH },
  { name: "no check at all", damage: (m) => m.fill(0xff, m.length - MODEL_CHECK_BYTES), line: "model partition: no slimedge check at its end (write model.bin with slimedge flash)" },
  {
    name: "a check for another size",
    damage: (m) => (new DataView(m.buffer, m.byteOffset).setUint32(m.length - 8, m.length - 32, true), m),
    line: "model partition: its check covers another size than the partition (the partition table and model.bin are from different builds)",
  },
];
const GREEDY_LINE = '"Once upon a time" -n 12 --temp 0';

describe("the translated module's memory access (tools/package/firmware.ts fastAccess)", () => {
  const why = toolMissing("wasm2c", "wabt");
  it.skipIf(why !== null)(`replaces wasm2c's access macros: no asm after a load, the bounds check only with SLIM_BOUNDS_CHECK, typed access when aligned${skipNote(why)}`, () => {
    const out = join(work, "fast-access.c");
    const r = spawnSync("wasm2c", [join(root, "build", "command.scalar.wasm"), "-n", "command", "-o", out], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const original = readFileSync(out, "utf8");
    expect(original).toContain('wasm_asm("" ::"r"(result));');
    const fast = fastAccess(original);
    expect(fast).not.toContain('wasm_asm("" ::"r"(result));');
    expect(fast).toMatch(/#if SLIM_BOUNDS_CHECK\n#define SLIM_CHECK\(mem, a, t\) RANGE_CHECK/);
    expect(fast).toContain("__builtin_assume_aligned(p, SLIM_ALIGN(t1))"); // a typed access where aligned
    expect(fast).toContain("DEFINE_LOAD(f32_load, f32, f32, f32)");
    // memory.fill and memory.copy go through the same access (a copy may read weights in flash), checked
    // only with SLIM_BOUNDS_CHECK
    expect(fast).toContain("memset(SLIM_AT(d), val, n);");
    expect(fast).toContain("memmove(SLIM_AT(dest_addr), SLIM_AT(src_addr), n);");
    expect(fast).toMatch(/#if SLIM_BOUNDS_CHECK\n {2}RANGE_CHECK\(dest, dest_addr, n\);\n {2}RANGE_CHECK\(src, src_addr, n\);\n#endif/);
    // the rest of the translation is wasm2c's, untouched
    const rest = (c: string) =>
      c.slice(c.indexOf("DEFINE_LOAD(i32_load, u32, u32, u32)")).replace(/static inline void memory_fill\([\s\S]*?\n}\n/, "").replace(/static inline void memory_copy\([\s\S]*?\n}\n/, "");
    expect(rest(fast)).toBe(rest(original));
    expect(rest(fast)).not.toContain("memory_copy(wasm_rt_memory_t* dest,"); // both were cut out, not left in one of them
    expect(() => fastAccess(original.replaceAll('wasm_asm("" ::"r"(result));', ""))).toThrow(/not the ones this build replaces/);
  });
});

describe.skipIf(hostMissing !== null)(`the firmware core on the host (gcc + wasm2c)${skipNote(hostMissing)}`, () => {
  let flash = "";
  let fw: Firmware;
  const runFw = (dir: string, args: string[]) => spawnSync(fw.elf, [dir, ...args], { encoding: "utf8", timeout: 60_000 });

  beforeAll(async () => {
    const dir = await artifact(smallModel, "esp32-c3", SMALL_CTX, "host");
    flash = flashImages(dir, "esp32-c3", "host");
    fw = buildFirmware(dir, "host", join(work, "fw-host"));
  }, 300_000);

  it("reads a flash --out image and prints Node's greedy text", () => {
    const want = nodeText(smallModel, SMALL_CTX, GREEDY);
    const r = runFw(flash, ["Once upon a time", "-n", "12", "--temp", "0"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(want);
    expect(want.length).toBeGreaterThan("Once upon a time\n".length + 8); // text was generated, not only the prompt
    expect(r.stderr).toMatch(/slimedge-fw: ns: prefill \d+, decode loop \d+\n/);
    expect(r.stderr).toMatch(/slimedge-fw: ns between token writes \d+ \(mean of \d+ intervals/);
  });

  it("prints Node's sampled text as well (temperature, top-p and seed through the command's own sampler)", () => {
    const args = ["-n", "16", "--temp", "0.9", "--top-p", "0.8", "--seed", "7"];
    const want = nodeText(smallModel, SMALL_CTX, ["-p", "The cat", ...args]);
    const r = runFw(flash, ["The cat", ...args]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(want);
  });

  it("reads invalid UTF-8 in the prompt as Node does (each maximal invalid subsequence one U+FFFD)", () => {
    // raw bytes through sh's printf; the oracle is TextDecoder's text, handed over as a valid argument
    const hostile = [[0x4f, 0x6e, 0x80, 0x63, 0x65], [0xc0, 0x80, 0x41], [0xed, 0xa0, 0x80, 0x20, 0x61], [0x54, 0x68, 0xe2, 0x82], [0xf4, 0x90, 0x80, 0x80, 0xff]];
    for (const bytes of hostile) {
      const raw = spawnSync("sh", ["-c", 'exec "$0" "$1" "$(printf "$SLIM_RAW")" -n 0 --ids', fw.elf, flash], {
        encoding: "utf8",
        timeout: 60_000,
        env: { ...process.env, SLIM_RAW: bytes.map((x) => "\\" + x.toString(8).padStart(3, "0")).join("") },
      });
      const text = new TextDecoder().decode(Uint8Array.from(bytes));
      expect(text).toContain("\uFFFD");
      const want = runFw(flash, [text, "-n", "0", "--ids"]);
      expect(raw.status, raw.stderr).toBe(0);
      const ids = (r: { stdout: string; stderr: string }) => (r.stdout + r.stderr).split("\n").filter((l) => l.startsWith("prompt ids:"));
      expect(ids(want)).toHaveLength(1);
      expect(ids(raw), text).toEqual(ids(want));
    }
  });

  it("refuses a partition table whose MD5 row does not match, in one line", () => {
    const bad = join(work, "flash-bad-md5");
    cpSync(flash, bad, { recursive: true });
    const table = readFileSync(join(bad, "partition-table.bin"));
    table[4 * 32 + 12] ^= 0x01; // a letter of the "model" label
    writeFileSync(join(bad, "partition-table.bin"), table);
    const r = runFw(bad, ["x", "-n", "1"]);
    expect(r.status).toBe(70);
    expect(r.stdout).toBe("");
    expect(r.stderr).toBe("slimedge-fw: partition table: the MD5 row does not match the entries before it\n");
  });

  it("refuses a model partition that is not a module, and one planned for another memory", async () => {
    const bad = join(work, "flash-bad-model");
    cpSync(flash, bad, { recursive: true });
    const model = readFileSync(join(bad, "model.bin"));
    model[0] = 0xff;
    writeFileSync(join(bad, "model.bin"), reseal(model)); // past the check: the module reader refuses it itself
    let r = runFw(bad, ["x"]);
    expect(r.status).toBe(70);
    expect(r.stderr).toMatch(/^slimedge-fw: model partition: not a WebAssembly module/);

    // the same model planned for rp2350's 4 pages with a longer context; this firmware's arena is 3 pages
    const other = flashImages(await artifact(smallModel, "rp2350", 120, "ctx120"), "rp2350", "ctx120");
    expect(JSON.parse(readFileSync(join(work, "artifact-ctx120", "plan.json"), "utf8")).pages).toBe(4);
    r = runFw(other, ["x"]);
    expect(r.status).toBe(70);
    expect(r.stderr).toMatch(/^slimedge-fw: model partition: the model plans another number of pages than this firmware's linear memory/);
  });

  it("refuses a model partition whose bytes changed after the build, in one line, before running anything", () => {
    for (const c of PARTITION_DAMAGE) {
      const bad = join(work, `flash-damaged-${c.name.replace(/[^a-z0-9]+/gi, "-")}`);
      cpSync(flash, bad, { recursive: true });
      writeFileSync(join(bad, "model.bin"), c.damage(new Uint8Array(readFileSync(join(flash, "model.bin")))));
      const r = runFw(bad, GREEDY.slice(1)); // the prompt without -p, as the firmware takes it
      expect(r.stderr, c.name).toBe(`slimedge-fw: ${c.line}\n`);
      expect(r.status, c.name).toBe(70);
      expect(r.stdout, c.name).toBe("");
    }
  });
});

const asanMissing = hostMissing ?? (spawnSync("cc", ["-fsanitize=address", "-x", "c", "-o", "/dev/null", "-"], { input: "int main(void){return 0;}" }).status === 0 ? null : "cc has no -fsanitize=address (libasan)");
describe.skipIf(asanMissing !== null)(`the host firmware's flash_args reader under AddressSanitizer${skipNote(asanMissing)}`, () => {
  let flash = "";
  let fw: Firmware;
  beforeAll(async () => {
    const dir = await artifact(smallModel, "esp32-c3", SMALL_CTX, "host");
    flash = flashImages(dir, "esp32-c3", "asan");
    fw = buildFirmware(dir, "host", join(work, "fw-asan"), { sanitize: "address" });
  }, 600_000);

  it("reads the folder as written (the reader is not refusing everything)", () => {
    const r = spawnSync(fw.elf, [flash, "Once", "-n", "2", "--temp", "0"], { encoding: "utf8", timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
  });

  for (const [name, edit, want] of BAD_FLASH_ARGS) {
    it(`refuses ${name} in one line, exit 2`, () => {
      const bad = join(work, `flash-args-${name.replace(/[^a-z0-9]+/gi, "-")}`);
      cpSync(flash, bad, { recursive: true });
      writeFileSync(join(bad, "flash_args"), edit(readFileSync(join(flash, "flash_args"), "utf8")));
      const r = spawnSync(fw.elf, [bad, "x", "-n", "1"], { encoding: "utf8", timeout: 60_000 });
      const lines = r.stderr.trim().split("\n");
      expect(lines, r.stderr.slice(0, 3000)).toHaveLength(1);
      expect(r.status).toBe(2);
      expect(r.stdout).toBe("");
      expect(lines[0]).toMatch(new RegExp(`^slimedge-fw: ${bad.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")}/flash_args: `));
      expect(lines[0]).toMatch(want);
    });
  }
});

/**
 * The WAMR firmware's glue against a WAMR built from its public sources, which no Debian package provides:
 * SLIMEDGE_WAMR=<wasm-micro-runtime checkout> with product-mini/platforms/linux built into build/ (cmake
 * -DWAMR_BUILD_INTERP=1 -DWAMR_BUILD_FAST_INTERP=1 or 0 -DWAMR_BUILD_AOT=0 -DWAMR_BUILD_JIT=0
 * -DWAMR_BUILD_LIBC_WASI=0 -DWAMR_BUILD_LIBC_BUILTIN=0 -DWAMR_BUILD_SIMD=0; make vmlib).
 */
const wamrRoot = process.env.SLIMEDGE_WAMR;
const wamrLib = wamrRoot ? join(wamrRoot, "product-mini", "platforms", "linux", process.env.SLIMEDGE_WAMR_BUILD ?? "build", "libiwasm.a") : "";
const wamrMissing =
  hostMissing ?? (wamrRoot && existsSync(wamrLib) ? null : "SLIMEDGE_WAMR names no WAMR checkout with product-mini/platforms/linux built (WAMR has no Debian package)");

describe("the WAMR firmware's glue on this machine", () => {
  it.skipIf(wamrMissing !== null)(`loads the core module from the artifact partition and prints Node's text${skipNote(wamrMissing)}`, async () => {
    const dir = await artifact(smallModel, "esp32-c3", SMALL_CTX, "wamr");
    const flash = flashImages(dir, "esp32-c3", "wamr");
    const elf = buildWamrHostFirmware(wamrRoot!, wamrLib, join(work, "fw-wamr"));
    const r = spawnSync(elf, [flash, "Once upon a time", "-n", "12", "--temp", "0"], { encoding: "utf8", timeout: 120_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(nodeText(smallModel, SMALL_CTX, GREEDY));
    // proc_exit unwinds WAMR's interpreter with the command's exit code
    const bad = spawnSync(elf, [flash, "x", "-n", "x"], { encoding: "utf8", timeout: 60_000 });
    expect(bad.status).toBe(2);
    expect(bad.stderr).toMatch(/^slimedge: -n\/--steps: expected a whole number/);
  }, 600_000);
});

describe("the emulator's command line (host/ship/emulate.ts qemuArgs)", () => {
  // QEMU's generic loader refuses a raw image larger than the machine's RAM, even one it loads into flash
  it("gives virt at least as much RAM as its largest flash image, and the board's RAM otherwise", () => {
    const e = emulatedBoard("esp32-c3")!;
    const board = getBoard("esp32-c3");
    const ramOf = (modelBytes: number) => {
      const dir = mkdtempSync(join(tmpdir(), "slimedge-qemu-args-"));
      writeFileSync(join(dir, "app.bin"), new Uint8Array(1024));
      writeFileSync(join(dir, "model.bin"), new Uint8Array(modelBytes));
      writeFileSync(join(dir, "flash_args"), "0x10000 app.bin\n0x110000 model.bin\n");
      const args = qemuArgs(e, board, { flashDir: dir, entry: 0x20010000, stackTop: 0x80060000, args: "" }, join(dir, "boot.bin"));
      return args[args.indexOf("-m") + 1];
    };
    expect(ramOf(551_072)).toBe("1M"); // 400 KiB of board RAM
    expect(ramOf(1_069_792)).toBe("2M"); // f32 stories260K's model partition
  });
});

describe("emulated boards print Node's greedy text from the flash image", () => {
  const cases = [
    { board: "esp32-c3", model: () => smallModel, ctx: SMALL_CTX, what: "RV32IMC, the small model in 400 KB SRAM" },
    { board: "rp2350", model: () => smallModel, ctx: SMALL_CTX, what: "Cortex-M33, the small model in 520 KB SRAM" },
    { board: "esp32-p4", model: () => defaultModel, ctx: 64, what: "RV32IMAFC, the shipped model at q8_0 in PSRAM" },
    { board: "rp2350-psram", model: () => defaultModel, ctx: 64, what: "Cortex-M33, the shipped model at q8_0 in PSRAM" },
  ];
  for (const c of cases) {
    const why = boardMissing(c.board);
    it.skipIf(why !== null)(`${c.board} (${c.what})${skipNote(why)}`, async () => {
      const board = getBoard(c.board);
      const e = emulatedBoard(c.board)!;
      const dir = await artifact(c.model(), c.board, c.ctx, c.board);
      const fw = buildFirmware(dir, c.board, join(work, `fw-${c.board}`));
      // the firmware fits the board's RAM, which the linker script holds it to
      expect(fw.ram!.total).toBeLessThanOrEqual(board.ramBytes);
      // and its arena is only what changes: the weights, RoPE table and tokenizer are read in place from flash
      const inFlash = JSON.parse(readFileSync(join(dir, "plan.json"), "utf8")).flash.readInPlace as { offset: number; size: number };
      expect(fw.ram!.linearMemory).toBe(inFlash.offset);
      expect(inFlash.offset + inFlash.size).toBeLessThanOrEqual(fw.pages * 65536);
      const flash = flashImages(dir, c.board, c.board, fw);
      expect(readFileSync(join(flash, "flash_args"), "utf8")).toMatch(/^0x10000 app\.bin$/m);
      const r = await emulate(e, board, { flashDir: flash, entry: fw.entry!, stackTop: fw.stackTop!, args: GREEDY_LINE });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toBe(nodeText(c.model(), c.ctx, GREEDY));
      // 12 tokens (the shipped model may stop at </s> sooner): one decode step between each two token writes
      if (c.model() === smallModel) expect([r.generated, r.decodeSteps]).toEqual([12, 11]); // no </s> in 12 tokens: 11 steps
      else expect(r.decodeSteps).toBeGreaterThanOrEqual(5);
      expect(r.instructionsPerToken).toBe(Math.round(r.decodeInstructions! / r.decodeSteps!));
      expect(r.instructionsPerToken).toBeGreaterThan(100_000);
      expect(r.stackPeak!).toBeLessThan(fw.ram!.stack);
      // the model partition was checked at boot, all of it but its check
      const part = readFileSync(join(flash, "model.bin"));
      expect(r.modelCheckBytes).toBe(part.length - MODEL_CHECK_BYTES);
      expect(r.modelCheckInstructions).toBeGreaterThan(r.modelCheckBytes!);
      console.log(`${c.board}: model partition check at boot: ${r.modelCheckInstructions} instructions over ${r.modelCheckBytes} bytes`);
      // and a partition damaged after the build stops the board in one line
      const bad = join(work, `flash-damaged-${c.board}`);
      cpSync(flash, bad, { recursive: true });
      writeFileSync(join(bad, "model.bin"), PARTITION_DAMAGE[0].damage(new Uint8Array(part)));
      const d = await emulate(e, board, { flashDir: bad, entry: fw.entry!, stackTop: fw.stackTop!, args: GREEDY_LINE });
      const [refusal, ...rest] = d.stderr.trim().split("\n");
      expect(refusal).toBe(`slimedge-fw: ${PARTITION_DAMAGE[0].line}`);
      expect(rest.join("\n")).toMatch(/^slimedge-fw: \d+ instructions in all; native stack peak \d+ of \d+ bytes; linear memory \d+ bytes$/); // the board's own report, nothing ran
      expect(d.code).toBe(70);
      expect(d.stdout).toBe("");
    }, 600_000);
  }

  it("a context one position too large for esp32-c3's RAM fails in the planner, before anything is compiled or emulated", async () => {
    const board = getBoard("esp32-c3");
    const model = loadLlama2c(smallModel);
    const tok = readFileSync(tokenizerPath);
    const o = { weights: "q8_0" as const, tokenizerBytes: tok.length, readOnlyInFlash: true };
    const best = maxContext(model.config, board, ["slim", "slim"], o);
    expect(planArena(model.config, best, ["slim", "slim"], o).flash!.offset).toBeLessThanOrEqual(board.linearMemoryBytes);
    expect(planArena(model.config, best + 1, ["slim", "slim"], o).flash!.offset).toBeGreaterThan(board.linearMemoryBytes);
    const out = join(work, "artifact-too-large");
    const err = await buildArtifact(model, tok, { name: "model", board, ctx: best + 1, mode: "auto", quant: "q8_0", simd: "auto", out, threshold: 1e-3 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SlimError);
    expect((err as SlimError).code).toBe("E_FIT");
    // both budgets, each as needed against available
    expect((err as SlimError).message).toMatch(
      new RegExp(`does not fit esp32-c3: ctx ${best + 1} .* needs \\d+ bytes = .* of RAM for the arena .* of 196608 bytes = 192\\.0 KiB linear memory; flash: .* = \\d+ of 4194304 bytes of flash; slim fits up to ctx ${best}$`),
    );
    expect(existsSync(out)).toBe(false);
  });
});

describe("slimedge build --firmware: the ESP-IDF project", () => {
  it.skipIf(hostMissing !== null)(`writes the core, the wasm2c module or the WAMR glue, and a config with the plan's numbers; flash finds the built app${skipNote(hostMissing)}`, () => {
    const dir = join(work, "artifact-idf");
    const r = spawnSync(process.execPath, [bin, "build", smallModel, "--board", "esp32-psram", "--ctx", String(SMALL_CTX), "--weights", "q8_0", "--out", dir, "--firmware", "native"], { encoding: "utf8", timeout: 300_000 });
    expect(r.status, r.stderr).toBe(0);
    const project = join(dir, "firmware");
    expect(r.stdout).toContain(`build it: cd ${project} && idf.py set-target esp32 build`);
    const mainCmake = readFileSync(join(project, "main", "CMakeLists.txt"), "utf8");
    for (const src of mainCmake.match(/"[^"]+\.c"/g)!.map((q) => q.slice(1, -1))) expect(existsSync(join(project, "main", src)), src).toBe(true);
    expect(mainCmake).toContain('"command.c"'); // the translated module
    const pages = JSON.parse(readFileSync(join(dir, "plan.json"), "utf8")).pages;
    expect(readFileSync(join(project, "main", "arena.c"), "utf8")).toContain(`EXT_RAM_BSS_ATTR uint8_t slim_arena[${pages}u * 65536u]`); // in PSRAM
    const config = readFileSync(join(project, "sdkconfig.defaults"), "utf8");
    expect(config).toMatch(/^CONFIG_SPIRAM=y$/m);
    expect(config).toMatch(/^CONFIG_PARTITION_TABLE_CUSTOM_FILENAME="partitions.csv"$/m);
    expect(readFileSync(join(project, "partitions.csv"), "utf8")).toMatch(/^model, data, 0x40, 0x110000, /m);

    const w = spawnSync(process.execPath, [bin, "build", smallModel, "--board", "esp32-psram", "--ctx", String(SMALL_CTX), "--weights", "q8_0", "--out", dir, "--firmware", "wamr"], { encoding: "utf8", timeout: 300_000 });
    expect(w.status, w.stderr).toBe(0);
    expect(readFileSync(join(project, "main", "slim_config.h"), "utf8")).toMatch(/SLIM_FIRMWARE_WAMR 1[\s\S]*SLIM_WASM_STACK_BYTES 8192u/);
    expect(readFileSync(join(project, "CMakeLists.txt"), "utf8")).toContain("$ENV{WAMR_PATH}/build-scripts/esp-idf");
    const wamrConfig = readFileSync(join(project, "sdkconfig.defaults"), "utf8");
    expect(wamrConfig).toMatch(/^CONFIG_WAMR_INTERP_FAST=y$/m); // esp32-psram runs the fast interpreter
    expect(wamrConfig).toMatch(/^# CONFIG_WAMR_ENABLE_LIBC_WASI is not set$/m);

    // once idf.py has built it, flash writes the app into the factory partition unasked
    mkdirSync(join(project, "build"), { recursive: true });
    writeFileSync(join(project, "build", "slimedge.bin"), new Uint8Array(4096).fill(0xe9)); // stands in for idf.py's output
    const out = join(work, "flash-idf");
    const f = spawnSync(process.execPath, [bin, "flash", dir, "--out", out], { encoding: "utf8", timeout: 120_000 });
    expect(f.status, f.stderr).toBe(0);
    expect(f.stderr).toContain(`note: writing the firmware ${join(project, "build", "slimedge.bin")} into the factory app partition`);
    expect(readFileSync(join(out, "flash_args"), "utf8")).toMatch(/^0x10000 app\.bin$/m);
  }, 600_000);

  it("refuses a board ESP-IDF does not build for, before building", () => {
    const r = spawnSync(process.execPath, [bin, "build", "--board", "rp2350", "--ctx", "8", "--firmware", "native"], { encoding: "utf8", timeout: 60_000 });
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toMatch(/^slimedge: --board rp2350: not an Espressif board/);
  });
});

describe("slimedge run --board X --emulate", () => {
  const why = boardMissing("rp2350");
  it.skipIf(why !== null)(`runs the emulated board for a user and states the estimate with its assumed CPI${skipNote(why)}`, () => {
    const r = spawnSync(process.execPath, [bin, "run", smallModel, "--board", "rp2350", "--emulate", "--weights", "q8_0", "--ctx", String(SMALL_CTX), ...GREEDY], { encoding: "utf8", timeout: 600_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toBe(nodeText(smallModel, SMALL_CTX, GREEDY));
    expect(r.stderr).toMatch(/slimedge-fw: instructions: prefill \d+, decode loop \d+/);
    expect(r.stderr).toMatch(/estimate on rp2350 \(native firmware from wasm2c, 150 MHz\): \d+ instructions per token \(\d+ over 11 decode steps\) counted in the emulator x CPI 1\.5 \(assumed\)/);
  }, 600_000);

  it("refuses a board without an emulated build, in one line", () => {
    const r = spawnSync(process.execPath, [bin, "run", "--board", "esp32-s3", "--emulate"], { encoding: "utf8", timeout: 60_000 });
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim()).toBe("slimedge: --board esp32-s3: no emulated build; --emulate takes esp32-c3, esp32-p4, rp2350, rp2350-psram");
  });
});
