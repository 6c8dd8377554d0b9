/**
 * Packaging the standalone WASI command (assembly/command.ts → build/command.{simd,scalar}.wasm) into one
 * self-contained `<name>.cmd.wasm`: the plan block, the weights and tokenizer.bin become data segments at
 * their planned addresses, and the memory is fixed to exactly plan.pages (min == max). The result runs on
 * any WASI preview-1 runtime, and — scalar build only — as plain C through wasm2c (buildNative).
 *
 *   const plan = planArena(lowered.config, ctx, lowered.modes, { ...planOptionsFor(lowered), tokenizerBytes: tok.length });
 *   const wasm = buildCommand(lowered, tok, plan, { build: "scalar" });
 *   buildNative("model.cmd.wasm", "model-native");           // needs wasm2c (wabt) and a C compiler
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { packagePath } from "../../host/core/package-root.ts";
import binaryen from "binaryen";
import type { LoweredModel } from "../../host/core/lowered.ts";
import { type ArenaPlan, type Span, STATIC_BYTES, encodeCommandBlock, encodePlanBlock } from "../../host/core/plan.ts";
import { type Build, writeWeights } from "../../host/runtime/decoder.ts";
import { checkCommandTokenizer } from "./command-tokenizer.ts";
import { fail } from "../../host/core/errors.ts";
import { DECODER_FEATURES } from "./verify.ts";

export interface CommandOptions {
  build?: Build; // default "simd"; wasm2c (buildNative) needs "scalar"
}

/** The only imports the command may have (ARCHITECTURE.md, "Reactor ABI and the standalone command"), as "module.name". */
export const WASI_IMPORTS = ["fd_write", "args_sizes_get", "args_get", "clock_time_get", "proc_exit"].map((n) => `wasi_snapshot_preview1.${n}`);

export const commandPath = (build: Build): string => packagePath("build", `command.${build}.wasm`);

export function loadCommandBytes(build: Build): Uint8Array {
  try {
    return readFileSync(commandPath(build));
  } catch {
    return fail("E_FILE", `${commandPath(build)}: command module missing; run \`npm install\` (it compiles assembly/)`);
  }
}

/** binaryen.js has these at runtime; its index.d.ts (132) still names older ones. */
interface DataSegments {
  getNumDataSegments(): number;
  getDataSegmentByIndex(i: number): number;
  getDataSegmentInfo(ref: number): { name: string; offset: number | null; data: ArrayBuffer; passive: boolean };
}

/** One active data segment. */
interface Segment {
  offset: number;
  data: Uint8Array;
}

/**
 * The command module for a lowered model (host/core/lowered.ts) with `tokenizerBytes` (tokenizer.bin, or
 * commandTokenizerBytes of any tokenizer) embedded. The plan must have been made with `{ tokenizerBytes: tokenizerBytes.length }`; the weights go
 * into the image exactly as host/runtime/decoder.ts loads the reactor (writeWeights).
 */
export function buildCommand(lowered: LoweredModel, tokenizerBytes: Uint8Array, plan: ArenaPlan, opts: CommandOptions = {}): Uint8Array {
  const build = opts.build ?? "simd";
  const c = lowered.config;
  if (plan.config.dim !== c.dim || plan.config.vocabSize !== c.vocabSize || plan.config.nLayers !== c.nLayers)
    fail("E_MODEL", "command: the plan was made for another model configuration");
  if (!plan.tokenizer || !plan.command || plan.command.tokenizerBytes !== tokenizerBytes.length)
    fail("E_MODEL", `command: plan the arena with { tokenizerBytes: ${tokenizerBytes.length} } so the tokenizer and the command's buffers have their regions`);
  checkCommandTokenizer(tokenizerBytes, c.vocabSize, "the tokenizer to embed"); // the module trusts what it embeds

  // The memory image of everything the host would write before init, then only its non-zero regions.
  const image = new ArrayBuffer(plan.totalBytes);
  const bytes = new Uint8Array(image);
  new Int32Array(image, plan.planBlock.offset, plan.planBlock.size / 4).set(encodePlanBlock(plan));
  new Int32Array(image, plan.command!.block.offset, plan.command!.block.size / 4).set(encodeCommandBlock(plan));
  writeWeights(image, lowered, plan);
  bytes.set(tokenizerBytes, plan.tokenizer!.offset);
  const weights = plan.regions.find((r) => r.name === "weights")!;
  const slice = (s: Span): Segment => ({ offset: s.offset, data: bytes.subarray(s.offset, s.offset + s.size) });
  // With the weights in flash (plan.flash) the read-only tail (weights, RoPE table, tokenizer) is one segment, last, whose bytes start on a
  // 16-byte boundary of the file: the native firmware reads it in place at the address it has in flash
  // (ARCHITECTURE.md, "Weights in flash"), so aligned loads stay aligned.
  const readOnly = plan.flash ? [slice(plan.flash)] : [slice(weights), ...(plan.ropeTable ? [slice(plan.ropeTable)] : [])];
  const planned = [slice(plan.planBlock), ...(plan.flash ? [] : [slice(plan.tokenizer!)]), slice(plan.command!.block), ...readOnly];

  const wasm = packageCommand(build, plan.pages, planned);
  return plan.flash ? alignLastSegment(wasm, FLASH_DATA_ALIGN) : wasm;
}

/** Where the read-only segment's bytes start in the model image, modulo this. */
export const FLASH_DATA_ALIGN = 16;

const leb = (b: Uint8Array, at: number): [number, number] => {
  let v = 0;
  let shift = 0;
  for (;;) {
    const byte = b[at++];
    v += (byte & 0x7f) * 2 ** shift;
    shift += 7;
    if (!(byte & 0x80)) return [v, at];
  }
};

/**
 * The module with a custom section ("slimedge.pad", filler bytes) before its data section, sized so the
 * data section's last segment's bytes start at a multiple of `align` in the file. Custom sections may stand
 * between any two sections; every reader skips them.
 */
export function alignLastSegment(wasm: Uint8Array, align: number): Uint8Array {
  let at = 8;
  let dataAt = -1;
  let payload = -1;
  while (at < wasm.length) {
    const id = wasm[at];
    const [size, body] = leb(wasm, at + 1);
    if (id === 11) {
      dataAt = at;
      let [count, p] = leb(wasm, body);
      for (let i = 0; i < count; i++) {
        const [kind, q] = leb(wasm, p);
        if (kind !== 0 || wasm[q] !== 0x41) fail("E_FORMAT", "command: a data segment is not active at an i32.const offset");
        let r = q + 1;
        while (wasm[r] & 0x80) r++;
        r += 2; // the offset's last LEB byte and `end`
        const [n, bytesAt] = leb(wasm, r);
        payload = bytesAt;
        p = bytesAt + n;
      }
    }
    at = body + size;
  }
  if (dataAt < 0 || payload < 0) return fail("E_FORMAT", "command: no data section to align");
  const name = new TextEncoder().encode("slimedge.pad");
  const fixed = 1 + 1 + 1 + name.length; // id, size (one LEB byte), name length, name
  const filler = (((align - ((payload + fixed) % align)) % align) + align) % align;
  const section = new Uint8Array(fixed + filler);
  section.set([0, 1 + name.length + filler, name.length], 0);
  section.set(name, 3);
  const out = new Uint8Array(wasm.length + section.length);
  out.set(wasm.subarray(0, dataAt), 0);
  out.set(section, dataAt);
  out.set(wasm.subarray(dataAt), dataAt + section.length);
  return out;
}

/**
 * The command module for boards whose firmware places the model itself (boards/firmware): the same module
 * with its memory fixed to the plan's pages and only its own static data — no plan block, weights or
 * tokenizer, which the firmware copies from the model partition (the full .cmd.wasm) into their planned
 * places. This is what wasm2c translates for the native firmware and what WAMR loads.
 */
export function buildCoreCommand(plan: ArenaPlan, build: Build = "scalar"): Uint8Array {
  return packageCommand(build, plan.pages, []);
}

/** build/command.<build>.wasm with memory min == max == pages and `planned` as data segments after its statics. */
function packageCommand(build: Build, pages: number, planned: Segment[]): Uint8Array {
  const m = binaryen.readBinary(loadCommandBytes(build));
  try {
    m.setFeatures(DECODER_FEATURES); // the standard set asc emits, SIMD included
    const seg = m as unknown as DataSegments;
    const statics: Segment[] = [];
    for (let i = 0; i < seg.getNumDataSegments(); i++) {
      const { passive, offset, data } = seg.getDataSegmentInfo(seg.getDataSegmentByIndex(i));
      if (passive || offset === null) return fail("E_FORMAT", `command: ${commandPath(build)} has a passive data segment`);
      if (offset + data.byteLength > STATIC_BYTES)
        fail("E_FIT", `command: the module's static data ends at ${offset + data.byteLength}, past the ${STATIC_BYTES} bytes the plan reserves`);
      statics.push({ offset, data: new Uint8Array(data) });
    }
    const segments = [...statics, ...planned].map((s) => ({ offset: m.i32.const(s.offset), data: s.data, passive: false }));
    m.removeExport("memory");
    m.setMemory(pages, pages, "memory", segments);
    if (!m.validate()) fail("E_FORMAT", `command: the packaged ${build} module does not validate`);
    return m.emitBinary();
  } finally {
    m.dispose();
  }
}

// ---------------------------------------------------------------------------------------------------------
// native: wasm2c + a C compiler

export const NATIVE_SCRIPT = packagePath("boards", "wasi", "build-native.sh");

/** What buildNative needs on PATH, with the package that provides it (Debian/Ubuntu names). */
export function nativeToolsMissing(): string[] {
  const has = (tool: string) => spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;
  const missing: string[] = [];
  if (!has("wasm2c") || !has("wasm-validate")) missing.push("wasm2c and wasm-validate (apt-get install wabt)");
  if (!has(process.env.CC ?? "cc")) missing.push(`a C compiler ${process.env.CC ?? "cc"} (apt-get install gcc)`);
  return missing;
}

/**
 * Translates a packaged scalar command with wasm2c and compiles it with the WASI shim in boards/wasi into a
 * native executable (boards/wasi/build-native.sh does the work; this gives its failures one sentence).
 */
export function buildNative(wasmPath: string, outPath: string): void {
  const missing = nativeToolsMissing();
  if (missing.length > 0) fail("E_FILE", `native build needs ${missing.join(" and ")}`);
  const r = spawnSync("sh", [NATIVE_SCRIPT, wasmPath, outPath], { encoding: "utf8" });
  if (r.status !== 0) {
    const why = r.stderr.trim().split("\n").filter(Boolean).at(-1) ?? `exit code ${r.status}`;
    fail("E_RUNTIME", `native build of ${wasmPath} failed: ${why}`);
  }
}
