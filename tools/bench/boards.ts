/**
 * `npm run bench -- --boards`: slimedge's native firmware against llama2.c on the emulated boards
 * (boards/emulated.ts), counted the same way.
 *
 * llama2.c's run.c (f32) and runq.c (Q8_0) are built at bench time, in a temporary folder, bare metal for
 * each emulated board with the board's compiler, its flags and the flags slimedge's firmware is compiled with
 * (tools/package/firmware.ts), picolibc, and slimedge's own startup, board support and linker script
 * (boards/firmware/qemu). A shim (tools/bench/board-peer/peer.c) stands in for the operating system: the
 * checkpoint and tokenizer are linked into flash and `mmap` returns their flash address, so llama2.c reads its
 * weights in place as it does from a memory-mapped file; malloc's heap is counted to its high-water mark.
 * One line is added to a copy of generate(): after each printed token, a call that reads the instruction
 * counter. The decode loop is from the first sampled token to the last — forward, sample, decode, print
 * per token — as slimedge's command brackets its own decode loop; QEMU runs with -icount shift=0, so the
 * counts do not depend on the host's load (one run each, no medians): exact on rv32 (minstret), to a tick
 * of the 20 MHz timer (50 instructions) per reading on the M33, so ±1 in a per-token figure there.
 *
 * slimedge runs through `slimedge run --board <b> --emulate` (the artifact, the wasm2c firmware, the flash
 * images, QEMU), and its report is read from that command's own lines.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import { EMULATED, emulatedBoard, type EmulatedBoard } from "../../boards/emulated.ts";
import { getBoard } from "../../boards/index.ts";
import type { BoardProfile } from "../../boards/profile.ts";
import { emulate } from "../../host/ship/emulate.ts";
import { writeFileAtomic } from "../../host/core/files.ts";
import { APP_OFFSET, NATIVE_STACK_BYTES } from "../package/firmware.ts";
import { writeLlama2cV0, writeLlama2cV2 } from "../convert/llama2c-export.ts";
import { importModel } from "../convert/import.ts";
import type { CacheDtype } from "../../host/core/plan.ts";
import { isMultiHead } from "../../host/core/model.ts";
import { loadTextTokenizer } from "../../host/core/tokenizers.ts";
import { calibrationTokens } from "../convert/calibrate.ts";
import { commandTokenizerBytes } from "../package/command-tokenizer.ts";
import { type FitReport, fitReport, slimDecisions } from "../package/fit.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const QEMU_DIR = join(ROOT, "boards", "firmware", "qemu");
const SHIM_DIR = fileURLToPath(new URL("./board-peer", import.meta.url));
const PICOLIBC = "/usr/lib/picolibc";
/** RAM the peer is linked and run with, whatever the board has: enough to count any row; "fits" is judged after. */
export const PEER_RAM_BYTES = 16 << 20;
/** The flags slimedge's bare-metal firmware is compiled with besides the board's (tools/package/firmware.ts). */
export const FIRMWARE_CFLAGS = ["-O2", "-ffp-contract=off", "-ffunction-sections", "-fdata-sections"];
/**
 * llama2.c as it is usually built, -O2 alone: gcc then fuses a*b+c into one multiply-add where the core has
 * one (fmadd.s, vfma.f32), which the firmware does not allow itself. Counted beside, as a second column.
 */
export const PLAIN_CFLAGS = ["-O2", "-ffunction-sections", "-fdata-sections"];

export type PeerWeights = "f32" | "q8_0";
export const PEER_PROGRAM: Record<PeerWeights, string> = { f32: "run.c", q8_0: "runq.c" };

export interface BoardModel {
  name: string; // "stories260K"
  checkpoint: string; // llama2.c v0 (legacy) checkpoint
  tokenizer: string; // llama2.c tokenizer.bin
}

function exec(cmd: string, args: string[], what: string): string {
  const r = spawnSync(cmd, args, { encoding: "utf8", maxBuffer: 64 << 20 });
  if (r.error) throw new Error(`${what}: ${cmd} not found`);
  if (r.status !== 0) {
    const lines = `${r.stderr}\n${r.stdout}`.split("\n").filter((l) => /overflow|not fit|larger than|undefined reference|error/i.test(l) && !/^collect2/.test(l));
    throw new Error(`${what} failed: ${(lines[0] ?? r.stderr.trim().split("\n").at(-1) ?? `exit ${r.status}`).trim()}`);
  }
  return r.stdout;
}

/** Why the peer cannot be built for this board here, or null: the sources, the compiler, picolibc, QEMU. */
export function peerMissing(peersDir: string | null, e: EmulatedBoard): string | null {
  if (peersDir === null || !existsSync(join(peersDir, "run.c")) || !existsSync(join(peersDir, "runq.c"))) return "llama2.c's run.c/runq.c not found (shared/peers/llama2c beside the repository)";
  for (const tool of [e.cc, e.qemu.binary]) if (spawnSync(tool, ["--version"]).error) return `${tool} not installed (apt-get install ${e.packages.join(" ")})`;
  if (!existsSync(join(PICOLIBC, e.picolibc, "libc.a"))) return `picolibc for ${e.isa} not installed (apt-get install ${e.packages.join(" ")})`;
  return null;
}

/**
 * run.c / runq.c with one call added to generate(): after a token is printed, peer_token(pos, number of
 * prompt tokens, its id). Refuses a source whose generate() does not have the line it expects.
 */
export function instrumentGenerate(source: string, file: string): string {
  const at = source.indexOf("void generate(");
  const anchor = "fflush(stdout);\n        token = next;";
  const i = at < 0 ? -1 : source.indexOf(anchor, at);
  if (i < 0) throw new Error(`${file}: generate() does not print each token with "fflush(stdout); token = next;" as this bench expects`);
  const call = "fflush(stdout); peer_token(pos, num_prompt_tokens, next);";
  return `void peer_token(int pos, int num_prompt_tokens, int next);\n${source.slice(0, i)}${call}${source.slice(i + "fflush(stdout);".length)}`;
}

/**
 * The legacy (v0) checkpoint run.c reads: the model's own file when it is one, else (a v1 file with its magic
 * and version, as the shipped model is) the same f32 weights written by tools/convert/llama2c-export.ts.
 */
export function peerV0Checkpoint(m: BoardModel, out: string): { path: string; note: string | null } {
  const head = readFileSync(m.checkpoint).subarray(0, 4);
  if (head.length < 4 || new DataView(head.buffer, head.byteOffset, 4).getUint32(0, true) !== 0x616b3432) return { path: m.checkpoint, note: null };
  writeFileSync(out, writeLlama2cV0(importModel(m.checkpoint).model));
  return { path: out, note: `${m.name}: a versioned llama2.c file; run.c reads legacy (v0) files, so the same f32 weights were written as v0 by tools/convert/llama2c-export.ts` };
}

/** The v2 (Q8_0) checkpoint runq.c reads: the peers folder's v0_to_v2.py (python3 + numpy), else the project's writer with the same group rule. */
export function peerQ8Checkpoint(peersDir: string, m: BoardModel, out: string): { path: string; note: string } {
  const script = join(peersDir, "v0_to_v2.py");
  if (existsSync(script)) {
    const r = spawnSync("python3", [script, m.checkpoint, out], { encoding: "utf8" });
    if (!r.error && r.status === 0) return { path: out, note: `${m.name} q8_0: v0_to_v2.py (python3)` };
    const why = r.error ? "python3 not found" : (r.stderr.trim().split("\n").at(-1) ?? `exit ${r.status}`);
    const model = importModel(m.checkpoint).model;
    const group = groupSize(model.config.dim, model.config.hiddenDim);
    writeFileSync(out, writeLlama2cV2(model, group));
    return { path: out, note: `${m.name} q8_0: v0_to_v2.py could not run (${why}); written by tools/convert/llama2c-export.ts at group ${group} instead` };
  }
  throw new Error(`${script}: missing`);
}

/** v0_to_v2.py's group: 64, halved until it divides both dim and hidden_dim. */
export function groupSize(dim: number, hidden: number): number {
  let gs = 64;
  while (dim % gs || hidden % gs) gs /= 2;
  return gs;
}

/** The plan a row runs: its context and cache rows, and why (full seq_len, or the largest that fits). */
export interface BenchPlan {
  ctx: number;
  cache: CacheDtype;
  /** The rows slimedge holds per position: "K" (every layer slim), "K+V" (every layer vanilla), or K with V in some layers. */
  rows: string;
}

/** What a plan's layers keep per position: K alone where slim, K and V where vanilla. */
export function heldRows(modes: readonly string[]): string {
  const vanilla = modes.filter((m) => m === "vanilla").length;
  return vanilla === 0 ? "K" : vanilla === modes.length ? "K+V" : `K, +V in ${vanilla} of ${modes.length} layers`;
}

/** The cache rows a row may run, in order of preference: f32 (as llama2.c holds them), then q8. */
export const BENCH_CACHES: readonly CacheDtype[] = ["f32", "q8"];

/**
 * The plan a bench row runs on a board, from `plan`'s fit table (slim column: slimify's per-layer decision, as
 * `run` makes it): f32 cache rows at the model's whole seq_len, else q8 cache rows at it, else the largest
 * context either fits (f32 on a tie). Null when not even ctx 1 fits (the row then runs the whole seq_len, to
 * say why not).
 */
export function chooseBenchPlan(report: FitReport, weights: PeerWeights): BenchPlan | null {
  const full = report.config.seqLen;
  const row = (cache: CacheDtype) => report.rows.find((r) => r.weights === weights && r.kCache === cache);
  const ctxOf = (cache: CacheDtype) => row(cache)?.slim ?? 0;
  const at = (ctx: number, cache: CacheDtype): BenchPlan => ({ ctx, cache, rows: heldRows(row(cache)!.slimModes) });
  for (const cache of BENCH_CACHES) if (ctxOf(cache) >= full) return at(full, cache);
  let best: BenchPlan | null = null;
  for (const cache of BENCH_CACHES) if (ctxOf(cache) > (best?.ctx ?? 0)) best = at(ctxOf(cache), cache);
  return best;
}

/**
 * `slimedge plan`'s fit table for a bench row (host/api/build.ts plan() from the same pieces: slimify's decision
 * per cache precision on the model's calibration set at the default threshold, the standalone command's
 * tokenizer bytes planned beside the decoder), as `run --board <b> --emulate` builds it.
 */
export function benchFitReport(m: BoardModel, board: string): FitReport {
  const model = importModel(m.checkpoint).model;
  const text = loadTextTokenizer(m.tokenizer, model.config.vocabSize);
  const decisions = isMultiHead(model.config) ? slimDecisions(model, 1e-3, calibrationTokens(model.config, text)) : undefined;
  return fitReport(model.config, getBoard(board), { slimLayers: decisions, tokenizerBytes: commandTokenizerBytes(text, model.config.vocabSize).length });
}

/** The plan a bench row runs (chooseBenchPlan over benchFitReport). */
export function benchPlan(m: BoardModel, board: string, weights: PeerWeights): BenchPlan | null {
  return chooseBenchPlan(benchFitReport(m, board), weights);
}

/**
 * A legacy (v0) checkpoint whose header says seq_len = ctx, so that run.c (and runq.c, through v0_to_v2.py)
 * allocates its KV cache and scores for the same context as slimedge's plan: the header's seq_len patched and
 * the two RoPE tables v0 carries (seq_len × head_size/2 floats each, skipped by run.c) cut to ctx rows.
 */
export function peerCheckpointAtCtx(v0: string, ctx: number, out: string): string {
  const buf = readFileSync(v0);
  const h = new DataView(buf.buffer, buf.byteOffset, 28);
  const [dim, hidden, layers, heads, kvHeads, vocab, seqLen] = Array.from({ length: 7 }, (_, i) => h.getInt32(i * 4, true));
  if (!Number.isInteger(ctx) || ctx < 1 || ctx > seqLen) throw new Error(`${v0}: ctx ${ctx} is not in 1..seq_len ${seqLen}`);
  if (ctx === seqLen) return v0;
  const kvDim = (dim * kvHeads) / heads;
  const half = dim / heads / 2;
  const beforeRope = 28 + 4 * (Math.abs(vocab) * dim + layers * (2 * dim + 2 * dim * dim + 2 * dim * kvDim + 3 * dim * hidden) + dim);
  const expected = beforeRope + 4 * 2 * seqLen * half + (vocab < 0 ? 4 * -vocab * dim : 0);
  if (buf.length !== expected) throw new Error(`${v0}: ${buf.length} bytes, a legacy llama2.c checkpoint of this header has ${expected}`);
  const header = Buffer.from(buf.subarray(0, 28));
  header.writeInt32LE(ctx, 24);
  const table = 4 * seqLen * half;
  const keep = 4 * ctx * half;
  writeFileSync(out, Buffer.concat([header, buf.subarray(28, beforeRope), buf.subarray(beforeRope, beforeRope + keep), buf.subarray(beforeRope + table, beforeRope + table + keep), buf.subarray(beforeRope + 2 * table)]));
  return out;
}

export interface PeerBuild {
  elf: string;
  flashDir: string; // flash_args + app.bin, for host/ship/emulate.ts
  entry: number;
  stackTop: number;
  flashBytes: number; // app.bin: code, read-only data, the checkpoint and the tokenizer, .data's image
  data: number;
  bss: number;
}

/** Builds llama2.c's program for weights `w` bare metal for `e` with `checkpoint` and `tokenizer` in flash. */
export function buildPeer(e: EmulatedBoard, peersDir: string, w: PeerWeights, checkpoint: string, tokenizer: string, prompt: string, tokens: number, out: string, cflags = FIRMWARE_CFLAGS): PeerBuild {
  const board = getBoard(e.board);
  mkdirSync(out, { recursive: true });
  const program = PEER_PROGRAM[w];
  const src = join(out, program);
  writeFileSync(src, instrumentGenerate(readFileSync(join(peersDir, program), "utf8"), program));
  writeFileSync(join(out, "args.c"), `char peer_prompt[] = ${JSON.stringify(prompt)};\nconst int peer_tokens = ${tokens};\n`);
  writeFileSync(
    join(out, "blobs.S"),
    `/* ${basename(checkpoint)} and ${basename(tokenizer)} in flash, read in place. */\n` +
      `  .section .rodata.peer_blobs, "a"\n  .balign 64\n  .globl peer_model, peer_model_end, peer_tokenizer, peer_tokenizer_end\n` +
      `peer_model:\n  .incbin ${JSON.stringify(checkpoint)}\npeer_model_end:\n  .balign 4\n` +
      `peer_tokenizer:\n  .incbin ${JSON.stringify(tokenizer)}\npeer_tokenizer_end:\n`,
  );
  const flashBytes = Math.min(e.qemu.flashWindow, board.flashBytes ?? e.qemu.flashWindow);
  const blobBytes = statSync(checkpoint).size + statSync(tokenizer).size;
  if (blobBytes > flashBytes - APP_OFFSET)
    throw new Error(
      `does not fit: checkpoint and tokenizer ${blobBytes.toLocaleString("en-US")} bytes, the app partition at most ${(flashBytes - APP_OFFSET).toLocaleString("en-US")} of ` +
        (flashBytes < (board.flashBytes ?? 0) ? `the emulated ${e.qemu.machine}'s ${flashBytes >> 20} MiB flash window (${e.board} has ${board.flashBytes! >> 20} MiB)` : `${e.board}'s ${flashBytes >> 20} MiB flash`),
    );
  const ld = readFileSync(join(QEMU_DIR, "link.ld.in"), "utf8")
    .replaceAll("@FLASH_ORIGIN@", `0x${e.qemu.flashBase.toString(16)}`)
    .replaceAll("@FLASH_BYTES@", `0x${flashBytes.toString(16)}`)
    .replaceAll("@RAM_ORIGIN@", `0x${e.qemu.ramBase.toString(16)}`)
    .replaceAll("@RAM_BYTES@", String(PEER_RAM_BYTES))
    .replaceAll("@APP_OFFSET@", `0x${APP_OFFSET.toString(16)}`)
    .replaceAll("@APP_BYTES@", `0x${(flashBytes - APP_OFFSET).toString(16)}`)
    .replaceAll("@STACK_BYTES@", String(NATIVE_STACK_BYTES));
  writeFileSync(join(out, "link.ld"), ld);
  const lib = join(PICOLIBC, e.picolibc);
  const libgcc = exec(e.cc, [...e.libgccFlags, "-print-libgcc-file-name"], e.cc).trim();
  const elf = join(out, "peer.elf");
  const common = [...e.cflags, ...cflags, "-isystem", join(PICOLIBC, e.picolibc.split("/")[0], "include")];
  const objects: string[] = [];
  const compile = (file: string, extra: string[] = []) => {
    const o = join(out, `${basename(file)}.o`);
    exec(e.cc, [...common, "-w", ...extra, "-I", join(SHIM_DIR, "include"), "-I", QEMU_DIR, "-I", join(ROOT, "boards", "firmware", "core"), "-c", file, "-o", o], `compiling ${basename(file)} for ${e.board}`);
    objects.push(o);
  };
  compile(src, ["-Dmain=peer_main"]);
  compile(join(SHIM_DIR, "peer.c"));
  compile(join(out, "args.c"));
  compile(join(out, "blobs.S"));
  for (const f of e.platform) compile(join(QEMU_DIR, f));
  exec(
    e.cc,
    [...common, "-nostdlib", "-nostartfiles", "-T", join(out, "link.ld"), "-Wl,--gc-sections", `-Wl,--defsym=__peer_ram_end=0x${(e.qemu.ramBase + PEER_RAM_BYTES).toString(16)}`,
      "-o", elf, ...objects, join(lib, "libc.a"), join(lib, "libm.a"), join(lib, "libc.a"), libgcc],
    `linking llama2.c's ${program} for ${e.board} (${basename(checkpoint)} in ${flashBytes >> 20} MiB of flash)`,
  );
  const prefix = e.cc.replace(/gcc$/, "");
  const flashDir = join(out, "flash");
  mkdirSync(flashDir, { recursive: true });
  const app = join(flashDir, "app.bin");
  exec(`${prefix}objcopy`, ["-O", "binary", "-R", ".bss", "-R", ".arena", "-R", ".stack", elf, app], "objcopy");
  writeFileSync(join(flashDir, "flash_args"), `0x${APP_OFFSET.toString(16)} app.bin\n`);
  const sections = new Map<string, number>();
  for (const line of exec(`${prefix}size`, ["-A", elf], "size").split("\n")) {
    const m = /^(\.\S+)\s+(\d+)\s+(\d+)/.exec(line);
    if (m) sections.set(m[1], Number(m[2]));
  }
  const symbols = new Map<string, number>();
  for (const line of exec(`${prefix}nm`, [elf], "nm").split("\n")) {
    const m = /^([0-9a-f]+)\s+\S\s+(\S+)$/.exec(line);
    if (m) symbols.set(m[2], parseInt(m[1], 16));
  }
  return {
    elf, flashDir, entry: symbols.get("_start")!, stackTop: symbols.get("__stack_top")!, flashBytes: statSync(app).size,
    data: sections.get(".data") ?? 0, bss: sections.get(".bss") ?? 0,
  };
}

export interface PeerRun {
  stdout: string;
  ids: number[];
  sampled: number;
  decodeInstructions: number;
  instructionsPerToken: number | null; // decode loop / (sampled − 1)
  heapPeak: number;
  stackPeak: number;
  modelBytesRead: number; // bytes of the checkpoint read() copied to RAM (its header); the rest is read in place

  /** .data + .bss + heap high-water mark + the native stack reserved (as slimedge's firmware reserves it). */
  ram: number;
  flashBytes: number; // the peer's app.bin
  stderr: string;
}

export function parsePeerReport(stderr: string): Omit<PeerRun, "stdout" | "ram" | "stderr" | "flashBytes"> & { dataBss: number } {
  const m = /peer-report: sampled (\d+) decode-instructions (\d+) total-instructions \d+ heap-peak (\d+) stack-peak (\d+) data-bss (\d+) model-bytes-read (\d+)/.exec(stderr);
  if (!m) throw new Error(`the peer printed no report: ${stderr.trim().split("\n").slice(-2).join(" / ") || "nothing"}`);
  const ids = (/peer-ids:([ \d]*)/.exec(stderr)?.[1] ?? "").trim().split(/\s+/).filter(Boolean).map(Number);
  const sampled = Number(m[1]);
  const decode = Number(m[2]);
  return { sampled, decodeInstructions: decode, instructionsPerToken: sampled > 1 ? Math.round(decode / (sampled - 1)) : null, heapPeak: Number(m[3]), stackPeak: Number(m[4]), dataBss: Number(m[5]), modelBytesRead: Number(m[6]), ids };
}

/** Runs a peer build in QEMU (host/ship/emulate.ts, -icount shift=0) with PEER_RAM_BYTES of RAM. */
export async function runPeer(e: EmulatedBoard, b: PeerBuild, timeoutMs = 1_800_000): Promise<PeerRun> {
  const board: BoardProfile = { ...getBoard(e.board), ramBytes: PEER_RAM_BYTES };
  const r = await emulate(e, board, { flashDir: b.flashDir, entry: b.entry, stackTop: b.stackTop, args: "", timeoutMs });
  const p = parsePeerReport(r.stderr);
  if (r.code !== 0) throw new Error(`llama2.c on the emulated ${e.board} exited with code ${r.code}: ${r.stderr.trim().split("\n").filter((l) => !l.startsWith("peer-")).slice(-1)[0] ?? ""}`);
  return { stdout: r.stdout, ...p, ram: p.dataBss + p.heapPeak + NATIVE_STACK_BYTES, flashBytes: b.flashBytes, stderr: r.stderr };
}

export interface SlimedgeRun {
  stdout: string;
  ctx: number;
  cache: CacheDtype;
  rows: string;
  instructionsPerToken: number;
  ram: number; // linear memory + .data/.bss + native stack, as `run --emulate` reports it
  ramBoard: number;
  flash: number; // firmware code + the model partition
}

/** `slimedge run <checkpoint> --board <b> --emulate`, greedy; its text and the numbers its report lines give. */
export function runSlimedge(m: BoardModel, board: string, w: PeerWeights, prompt: string, tokens: number, at: BenchPlan, timeoutMs = 3_600_000): Promise<SlimedgeRun> {
  const args = [join(ROOT, "bin", "slimedge.js"), "run", m.checkpoint, "--tokenizer", m.tokenizer, "-p", prompt, "-n", String(tokens), "--temp", "0", "--weights", w,
    "--ctx", String(at.ctx), "--cache", at.cache, "--board", board, "--emulate"];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { stdio: ["ignore", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code) => {
      clearTimeout(timer);
      const perToken = /(\d+) instructions per token/.exec(stderr);
      const ram = /= (\d+) of (\d+) bytes .*?; code (\d+) bytes in flash/.exec(stderr);
      const model = /model check \d+ over (\d+) bytes/.exec(stderr);
      if (code !== 0 || !perToken || !ram) {
        const last = stderr.split("\n").filter((l) => l.trim() !== "" && !l.startsWith("[emulate]")).at(-1) ?? `exit ${code}`;
        return reject(new Error(last.replace(/^slimedge: /, "").trim()));
      }
      resolve({ stdout, ctx: at.ctx, cache: at.cache, rows: at.rows, instructionsPerToken: Number(perToken[1]), ram: Number(ram[1]), ramBoard: Number(ram[2]), flash: Number(ram[3]) + (model ? Number(model[1]) : 0) });
    });
  });
}

export interface Row {
  board: string;
  model: string;
  weights: PeerWeights;
  /** The plan both sides run: slimedge's context and cache rows; llama2.c's checkpoint says seq_len = ctx (f32 K and V). */
  ctx: number;
  cache: CacheDtype;
  /** What slimedge holds per position at that precision ("K", "K+V", …); llama2.c holds f32 K and V. */
  rows: string;
  slimedge: SlimedgeRun | { error: string };
  peer: PeerRun | { error: string };
  /** llama2.c at PLAIN_CFLAGS: instructions per token, or why not. */
  peerPlain: PeerRun | { error: string };
  boardRam: number;
  sameText: boolean | null;
}

/** A refusal short enough for a table cell (the JSON keeps it whole): "does not fit: needs N of M bytes …". */
export function shortReason(error: string): string {
  const fit = /does not fit \S+: (ctx \d+ \([^)]*\)) needs (\d+) bytes.*? of (\d+) bytes = [\d.]+ \S+ linear memory/.exec(error);
  if (fit) return `does not fit: ${fit[1]} needs ${n(Number(fit[2]))} of ${n(Number(fit[3]))} bytes of linear memory`;
  return error.length > 140 ? `${error.slice(0, 137)}…` : error;
}

const ok = <T extends object>(x: T | { error: string }): x is T => !("error" in x);
const n = (x: number) => x.toLocaleString("en-US");
const kib = (x: number) => `${(x / 1024).toFixed(0)} KiB`;

/** The text both print: the prompt echoed and the generated pieces; trailing newlines dropped. */
export const sameText = (a: string, b: string): boolean => a.replace(/\s+$/, "") === b.replace(/\s+$/, "");

export function tableOf(rows: Row[]): string {
  const head =
    "| board | model | weights | ctx | cache rows (slimedge / llama2.c) | slimedge instr/token | llama2.c instr/token | ratio | llama2.c -O2 with FMA | ratio to it | " +
    "slimedge RAM | llama2.c RAM (heap peak + .data/.bss + 8 KiB stack) | RAM ratio | board RAM | slimedge flash | llama2.c flash | same text (ids) |";
  const out = [head, "| --- | --- | --- | ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |"];
  for (const r of rows) {
    const s = r.slimedge;
    const p = r.peer;
    const q = r.peerPlain;
    const fits = (ram: number) => (ram > r.boardRam ? " (over)" : "");
    const ratio = (x: PeerRun | { error: string }) => (ok(s) && ok(x) && x.instructionsPerToken ? `**${(s.instructionsPerToken / x.instructionsPerToken).toFixed(2)}**` : "—");
    out.push(
      `| ${r.board} | ${r.model} | ${r.weights} | ${n(r.ctx)} | ${r.cache} ${r.rows} / f32 K+V | ${ok(s) ? n(s.instructionsPerToken) : `— ${shortReason(s.error)}`} | ${ok(p) ? (p.instructionsPerToken === null ? "—" : n(p.instructionsPerToken)) : `— ${shortReason(p.error)}`} | ` +
        `${ratio(p)} | ${ok(q) ? (q.instructionsPerToken === null ? "—" : n(q.instructionsPerToken)) : "—"} | ${ratio(q)} | ` +
        `${ok(s) ? kib(s.ram) : "—"} | ${ok(p) ? kib(p.ram) + fits(p.ram) : "—"} | ${ok(s) && ok(p) ? `**${(s.ram / p.ram).toFixed(2)}**` : "—"} | ${kib(r.boardRam)} | ${ok(s) ? kib(s.flash) : "—"} | ${ok(p) ? kib(p.flashBytes) : "—"} | ` +
        `${r.sameText === null ? "—" : r.sameText ? "yes" : "**no**"} |`,
    );
  }
  return out.join("\n");
}

export interface BoardsBenchOptions {
  boards: string[];
  weights: PeerWeights[];
  models: BoardModel[];
  peersDir: string | null;
  prompt: string;
  tokens: number;
  out: string; // JSON
  chart: string | null; // PNG of the table
  log: (s: string) => void;
}

/** The default model rows: stories260K from shared/models (when present) and the shipped default model. */
export function defaultModels(peersDir: string | null): BoardModel[] {
  const models: BoardModel[] = [];
  const shared = peersDir ? join(peersDir, "..", "..", "models") : null;
  if (shared && existsSync(join(shared, "stories260K.bin")) && existsSync(join(shared, "tok512.bin")))
    models.push({ name: "stories260K", checkpoint: join(shared, "stories260K.bin"), tokenizer: join(shared, "tok512.bin") });
  const tiny = join(ROOT, "models", "slimedge-tiny-v2");
  models.push({ name: "slimedge-tiny-v2", checkpoint: join(tiny, "model.bin"), tokenizer: join(tiny, "tokenizer.bin") });
  return models;
}

export async function boardsBench(o: BoardsBenchOptions): Promise<Row[]> {
  for (const board of o.boards)
    if (!emulatedBoard(board)) throw new Error(`--boards ${board}: no emulated board of that name; emulated boards are ${EMULATED.map((x) => x.board).join(", ")}`);
  const cpu = cpus()[0]?.model ?? "unknown CPU";
  o.log(`host: ${cpu}, ${cpus().length} logical CPUs; QEMU -icount shift=0 counts do not depend on the host's load (one run each, no medians; the M33's are to 50 instructions per reading)\n`);
  const work = mkdtempSync(join(tmpdir(), "slimedge-bench-boards-"));
  const rows: Row[] = [];
  const notes: string[] = [];
  try {
    const q8 = new Map<string, string>();
    const v0 = new Map<string, string>();
    for (const board of o.boards) {
      const e = emulatedBoard(board)!;
      const missing = peerMissing(o.peersDir, e);
      for (const m of o.models)
        for (const w of o.weights) {
          // the plan slimedge runs (as `plan` would choose it), and llama2.c at the same context
          let at: BenchPlan = { ctx: 0, cache: "f32", rows: "—" };
          let planError: string | null = null;
          try {
            const report = benchFitReport(m, board);
            at = chooseBenchPlan(report, w) ?? { ctx: report.config.seqLen, cache: "f32", rows: "—" };
          } catch (err) {
            planError = (err as Error).message;
          }
          const label = `${board} ${m.name} ${w} ctx ${at.ctx} ${at.cache} cache rows`;
          o.log(`${label}: chosen from \`plan\`'s fit table\n`);
          let peer: PeerRun | { error: string };
          let peerPlain: PeerRun | { error: string } = { error: "not built" };
          if (missing) peer = peerPlain = { error: missing };
          else if (planError) peer = peerPlain = { error: planError };
          else {
            try {
              if (!v0.has(m.name)) {
                const r = peerV0Checkpoint(m, join(work, `${m.name}-v0.bin`));
                if (r.note) notes.push(r.note), o.log(`  ${r.note}\n`);
                v0.set(m.name, r.path);
              }
              let checkpoint = peerCheckpointAtCtx(v0.get(m.name)!, at.ctx, join(work, `${m.name}-v0-ctx${at.ctx}.bin`));
              if (w === "q8_0") {
                const key = `${m.name}@${at.ctx}`;
                if (!q8.has(key)) {
                  const r = peerQ8Checkpoint(o.peersDir!, { ...m, checkpoint }, join(work, `${m.name}-v2-q80-ctx${at.ctx}.bin`));
                  if (!notes.includes(r.note)) notes.push(r.note), o.log(`  ${r.note}\n`);
                  q8.set(key, r.path);
                }
                checkpoint = q8.get(key)!;
              }
              o.log(`${label}: building llama2.c's ${PEER_PROGRAM[w]} bare metal…\n`);
              const b = buildPeer(e, o.peersDir!, w, checkpoint, m.tokenizer, o.prompt, o.tokens, join(work, `${board}-${m.name}-${w}`));
              o.log(`${label}: running it in ${e.qemu.binary} -M ${e.qemu.machine}…\n`);
              peer = await runPeer(e, b);
              o.log(`${label}: again at ${PLAIN_CFLAGS.join(" ")}…\n`);
              try {
                peerPlain = await runPeer(e, buildPeer(e, o.peersDir!, w, checkpoint, m.tokenizer, o.prompt, o.tokens, join(work, `${board}-${m.name}-${w}-plain`), PLAIN_CFLAGS));
              } catch (err) {
                peerPlain = { error: (err as Error).message };
              }
            } catch (err) {
              peer = { error: (err as Error).message };
            }
          }
          o.log(`${label}: slimedge run --emulate…\n`);
          let slim: SlimedgeRun | { error: string };
          try {
            slim = planError ? { error: planError } : await runSlimedge(m, board, w, o.prompt, o.tokens, at);
          } catch (err) {
            slim = { error: (err as Error).message };
          }
          const row: Row = { board, model: m.name, weights: w, ctx: at.ctx, cache: at.cache, rows: at.rows, slimedge: slim, peer, peerPlain, boardRam: getBoard(board).ramBytes, sameText: ok(slim) && ok(peer) ? sameText(slim.stdout, peer.stdout) : null };
          rows.push(row);
          o.log(`${tableOf([row]).split("\n")[2]}\n`);
        }
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const table = tableOf(rows);
  console.log(`\nOn-board bench (host ${cpu}; prompt ${JSON.stringify(o.prompt)}, ${o.tokens} tokens, greedy; llama2.c with the firmware's flags ${FIRMWARE_CFLAGS.join(" ")}, and beside at ${PLAIN_CFLAGS.join(" ")})\n`);
  console.log(table);
  for (const note of notes) console.log(`\n- ${note}`);
  writeFileAtomic(o.out, JSON.stringify({ host: { cpu, logicalCpus: cpus().length }, prompt: o.prompt, tokens: o.tokens, cflags: FIRMWARE_CFLAGS, plainCflags: PLAIN_CFLAGS, peerRamBytes: PEER_RAM_BYTES, notes, rows: rows.map(strip) }, null, 2), "benchmark results");
  console.log(`wrote ${o.out}`);
  if (o.chart) {
    const { writeChart } = await import("./chart.ts");
    console.log(writeChart(o.chart, tableSvg(`instructions per decode token, slimedge vs llama2.c same flags (QEMU -icount; bars per row; host ${cpu})`, rows)));
  }
  return rows;
}

const strip = (r: Row) => ({
  ...r,
  slimedge: ok(r.slimedge) ? { ...r.slimedge, stdout: undefined } : r.slimedge,
  peer: ok(r.peer) ? { ...r.peer, stdout: undefined, stderr: undefined } : r.peer,
  peerPlain: ok(r.peerPlain) ? { ...r.peerPlain, stdout: undefined, stderr: undefined } : r.peerPlain,
});

/**
 * The table as a bar chart: slimedge's and llama2.c's instructions per token for every row with either;
 * each row's bars are scaled to that row's larger count (soft-float rows are ~20× the others), the numbers printed.
 */
export function tableSvg(title: string, rows: Row[]): string {
  const bars = rows.filter((r) => ok(r.slimedge) || ok(r.peer));
  const W = 980;
  const rowH = 34;
  const left = 300;
  const H = 70 + bars.length * rowH + 40;
  const rowMax = (r: Row) => Math.max(1, ok(r.slimedge) ? r.slimedge.instructionsPerToken : 0, ok(r.peer) ? r.peer.instructionsPerToken ?? 0 : 0);
  let max = 1;
  const px = (v: number) => ((W - left - 140) * v) / max;
  const esc = (s: string) => s.replace(/&/g, "&amp;").replace(/</g, "&lt;");
  const out = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="DejaVu Sans, Helvetica, Arial, sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="20" y="28" font-size="15" font-weight="bold">${esc(title)}</text>`,
    `<rect x="${left}" y="40" width="12" height="10" fill="#4e79a7"/><text x="${left + 18}" y="50">slimedge</text>`,
    `<rect x="${left + 100}" y="40" width="12" height="10" fill="#f28e2b"/><text x="${left + 118}" y="50">llama2.c</text>`,
  ];
  bars.forEach((r, i) => {
    const y = 70 + i * rowH;
    max = rowMax(r);
    out.push(`<text x="${left - 8}" y="${y + 18}" text-anchor="end">${esc(`${r.board} · ${r.model} · ${r.weights}`)}</text>`);
    const s = ok(r.slimedge) ? r.slimedge.instructionsPerToken : null;
    const p = ok(r.peer) ? r.peer.instructionsPerToken : null;
    if (s !== null) out.push(`<rect x="${left}" y="${y + 2}" width="${px(s).toFixed(1)}" height="13" fill="#4e79a7"/><text x="${left + px(s) + 4}" y="${y + 13}">${n(s)}${p ? ` (${(s / p).toFixed(2)}×)` : ""}</text>`);
    else out.push(`<text x="${left}" y="${y + 13}" fill="#888">slimedge: ${esc(ok(r.slimedge) ? "" : shortReason(r.slimedge.error).slice(0, 100))}</text>`);
    if (p !== null) out.push(`<rect x="${left}" y="${y + 16}" width="${px(p).toFixed(1)}" height="13" fill="#f28e2b"/><text x="${left + px(p) + 4}" y="${y + 27}">${n(p)}</text>`);
    else out.push(`<text x="${left}" y="${y + 27}" fill="#888">llama2.c: ${esc(ok(r.peer) ? "" : shortReason(r.peer.error).slice(0, 100))}</text>`);
  });
  out.push("</svg>");
  return out.join("\n");
}
