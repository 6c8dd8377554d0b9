/**
 * Runs a board's flash image in QEMU (ARCHITECTURE.md, "Board side"): every image `slimedge flash --out`
 * wrote is loaded at its flash_args offset into the emulated flash window — the firmware in the factory app
 * partition included — the CPU starts at the app as the board's boot ROM would start it, the prompt goes in
 * over the console UART, and the command's text comes back over it. The firmware reports over semihosting
 * how many instructions each generated token took; QEMU runs with -icount shift=0, so the counters it reads
 * advance exactly once per retired instruction.
 */
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fail } from "../core/errors.ts";
import type { BoardProfile } from "../../boards/profile.ts";
import type { EmulatedBoard } from "../../boards/emulated.ts";

export interface EmulatorRun {
  stdout: string; // the command's text, as the UART carried it
  stderr: string; // the command's summary line and the firmware's report, over semihosting
  code: number; // the command's exit code (semihosting exit)
  /** The decode loop's instructions over its decoder steps (each: sample, detokenize, one step); null without a step. */
  instructionsPerToken: number | null;
  decodeSteps: number | null; // decoder steps in the decode loop, from the command's summary
  generated: number | null; // tokens generated
  decodeInstructions: number | null; // between the command's clock reads around the decode loop
  prefillInstructions: number | null;
  totalInstructions: number | null;
  stackPeak: number | null;
  /** Instructions the firmware spent checking the model partition's CRC-32 at boot, and the bytes it covered. */
  modelCheckInstructions: number | null;
  modelCheckBytes: number | null;
}

export interface EmulateOptions {
  flashDir: string; // what `slimedge flash --out` wrote, app.bin included
  entry: number; // the firmware's entry address
  stackTop: number; // its initial stack pointer (Cortex-M boot vector)
  args: string; // one line: "prompt" -n 8 --temp 0
  timeoutMs?: number; // default 10 minutes; emulated runs in the tests take seconds
}

/** The -device loader arguments for each image of flash_args, at flash base + offset; E_FIT past the window. */
export function flashLoaders(e: EmulatedBoard, flashDir: string): string[] {
  const argsPath = join(flashDir, "flash_args");
  if (!existsSync(argsPath)) fail("E_FILE", `${argsPath}: missing; write the images with slimedge flash --out`);
  const loaders: string[] = [];
  for (const line of readFileSync(argsPath, "utf8").split("\n")) {
    const m = /^0x([0-9a-f]+)\s+(\S+)$/i.exec(line.trim());
    if (!m) continue;
    const offset = parseInt(m[1], 16);
    const file = join(flashDir, m[2]);
    if (!existsSync(file)) fail("E_FILE", `${file}: named in flash_args but missing`);
    const size = readFileSync(file).length;
    if (offset + size > e.qemu.flashWindow)
      fail("E_FIT", `${file}: ends at flash offset 0x${(offset + size).toString(16)}, past the ${e.qemu.flashWindow >> 20} MiB flash window of the emulated ${e.qemu.machine}`);
    loaders.push("-device", `loader,file=${file},addr=0x${(e.qemu.flashBase + offset).toString(16)},force-raw=on`);
  }
  if (!loaders.some((a) => a.includes("app.bin"))) fail("E_FILE", `${argsPath}: no app.bin; pass the firmware with slimedge flash --firmware`);
  return loaders;
}

/**
 * The qemu command line. A Cortex-M reads its first stack pointer and entry from flash offset 0 at reset,
 * where the boot ROM's image header would be: `bootVector` is a file holding those two words.
 */
export function qemuArgs(e: EmulatedBoard, board: BoardProfile, o: EmulateOptions, bootVector: string): string[] {
  // QEMU's generic loader refuses a raw image larger than the machine's RAM, even one it loads into flash
  // (f32 stories260K's 1.07 MB model partition on esp32-c3's 400 KiB); the firmware's linker script, not -m,
  // bounds the RAM the firmware uses, so a larger -m changes nothing it counts.
  const loaders = flashLoaders(e, o.flashDir);
  const largest = Math.max(0, ...loaders.filter((a) => a.startsWith("loader,file=")).map((a) => statSync(/^loader,file=([^,]+),/.exec(a)![1]).size));
  const ramMiB = Math.max(Math.ceil(board.ramBytes / (1 << 20)), Math.ceil(largest / (1 << 20)));
  const boot =
    e.qemu.boot === "pc"
      ? ["-device", `loader,addr=0x${o.entry.toString(16)},cpu-num=0`]
      : ["-device", `loader,file=${bootVector},addr=0x${e.qemu.flashBase.toString(16)},force-raw=on`];
  return [
    "-M", e.qemu.machine,
    ...(e.qemu.cpu ? ["-cpu", e.qemu.cpu] : []),
    ...(e.qemu.machine === "virt" ? ["-m", `${ramMiB}M`, "-bios", "none"] : []),
    "-nographic", "-monitor", "none", "-serial", "stdio",
    "-semihosting-config", "enable=on,target=native",
    "-icount", "shift=0",
    ...loaders,
    ...boot,
  ];
}

const number = (re: RegExp, text: string): number | null => {
  const m = re.exec(text);
  return m ? Number(m[1]) : null;
};

/** Runs the emulator to the firmware's exit; E_RUNTIME when QEMU is missing or the run does not end in time. */
export function emulate(e: EmulatedBoard, board: BoardProfile, o: EmulateOptions): Promise<EmulatorRun> {
  const tmp = mkdtempSync(join(tmpdir(), "slimedge-qemu-"));
  const bootVector = join(tmp, "boot-vector.bin");
  writeFileSync(bootVector, new Uint8Array(new Uint32Array([o.stackTop >>> 0, (o.entry | 1) >>> 0]).buffer));
  const args = qemuArgs(e, board, o, bootVector);
  return new Promise<EmulatorRun>((resolve, reject) => {
    const child = spawn(e.qemu.binary, args, { stdio: ["pipe", "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => (stdout += d.toString("utf8")));
    child.stderr.on("data", (d: Buffer) => (stderr += d.toString("utf8")));
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${e.qemu.binary}: no exit within ${(o.timeoutMs ?? 600_000) / 1000} s`));
    }, o.timeoutMs ?? 600_000);
    child.on("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(err.code === "ENOENT" ? new Error(`${e.qemu.binary} not found; apt-get install ${e.packages.at(-1)}`) : err);
    });
    child.on("close", (code) => {
      clearTimeout(timer);
      // QEMU's own warnings (missing GUI modules) are not the firmware's
      const report = stderr.split("\n").filter((l) => !/^qemu(-system-\w+)?: /.test(l)).join("\n");
      const generated = number(/ · decode (\d+) tok at /, report);
      const decode = number(/decode loop (\d+)/, report);
      // The decode loop steps the decoder after every token but the last, and once more when </s> or <s> ends it
      // (the command's loop in assembly/command.ts); a full context ends it before that step.
      const steps = generated === null ? null : /stopped at </.test(report) ? generated : generated - 1;
      resolve({
        stdout,
        stderr: report,
        code: code ?? 1,
        instructionsPerToken: decode !== null && steps ? Math.round(decode / steps) : null,
        decodeSteps: steps,
        generated,
        decodeInstructions: decode,
        prefillInstructions: number(/: prefill (\d+), decode loop/, report),
        totalInstructions: number(/(\d+) instructions in all/, report),
        stackPeak: number(/native stack peak (\d+)/, report),
        modelCheckInstructions: number(/model check (\d+) over/, report),
        modelCheckBytes: number(/model check \d+ over (\d+) bytes/, report),
      });
    });
    child.stdin.end(o.args.replace(/\n/g, " ") + "\n");
  })
    .catch((err: Error) => fail("E_RUNTIME", `emulated ${board.name}: ${err.message}`))
    .finally(() => rmSync(tmp, { recursive: true, force: true }));
}

/**
 * Tokens/s on the real board from the counted instructions: clock / (instructions × CPI), capped by the
 * memory floor (the bytes one token streams at the profile's bandwidth) when that is slower.
 */
export function measuredEstimate(e: EmulatedBoard, board: BoardProfile, instructionsPerToken: number, bytesPerToken: number) {
  const clock = (board.cpu.clockMHz ?? 0) * 1e6;
  const compute = clock / (instructionsPerToken * e.cpi);
  const memory = board.throughput.memoryBytesPerSecond / bytesPerToken;
  return { tokensPerSecond: Math.min(compute, memory), compute, memory, boundBy: compute <= memory ? "instructions" : "memory" };
}
