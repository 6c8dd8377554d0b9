/**
 * What `slimedge flash` does with its flags: plan the images of an artifact folder for a board, then either
 * write them to --out for esptool.py, or flash them over --port with esptool-js and report every image's MD5.
 * Progress goes to `err` as a byte bar when it is a terminal; the result to `out`. Failures are SlimErrors
 * (FlashError for the device), so the CLI prints one line.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { readWholeFile } from "../../core/files.ts";
import { progressBar } from "../../core/progress.ts";
import { InvalidArgumentError } from "commander";
import { getBoard } from "../../../boards/index.ts";
import { fail } from "../../core/errors.ts";
import { flashBoard, type After, type Before } from "./flasher.ts";
import { chipOfBoard, esptoolChipArg, planFlash, readArtifactDir, writeFlashFiles, type FlashPlan } from "./images.ts";
import { formatBytes } from "../../core/format.ts";

export interface FlashFlags {
  board?: string; // default: plan.json's board
  port?: string;
  baud: number;
  out?: string;
  firmware?: string;
  appSize: number;
  before: Before;
  after: After;
  verbose?: boolean;
}

/** "1M", "1536K", "0x180000" or plain bytes, for --app-size. */
export function parseBytes(flag: string) {
  return (v: string): number => {
    const m = /^\s*(0x[0-9a-f]+|\d+)\s*([KM]?)i?B?\s*$/i.exec(v);
    if (!m) throw new InvalidArgumentError(`${flag}: expected bytes such as 1M, 1536K or 0x100000, got "${v}"`);
    return Number(m[1]) * (m[2].toUpperCase() === "M" ? 1 << 20 : m[2].toUpperCase() === "K" ? 1 << 10 : 1);
  };
}

const hex = (n: number) => `0x${n.toString(16)}`;

/** The partition layout, one line per partition, with the image written into it. */
function layoutLines(plan: FlashPlan): string[] {
  return plan.partitions.map((p) => {
    const image = plan.images.find((i) => i.offset === p.offset);
    const what = image ? `${image.file} (${image.bytes.length} bytes)` : p.label === "factory" ? "reserved for the firmware (pass --firmware app.bin to write it)" : "left as it is";
    return `  ${p.label.padEnd(9)} ${hex(p.offset).padStart(9)}  ${formatBytes(p.size).padStart(11)}  ${what}`;
  });
}

/** The largest firmware image accepted: the 16 MiB a 24-bit SPI flash address reaches, the most ESP32 boards carry. */
const MAX_FIRMWARE_BYTES = 16 << 20;

export async function flashCommand(dir: string, f: FlashFlags, out: NodeJS.WritableStream, err: NodeJS.WritableStream): Promise<void> {
  if (f.out !== undefined && f.port !== undefined) fail("E_FLAG", "--out writes the images for esptool.py instead of flashing; pass --out or --port, not both");
  if (f.out === undefined && f.port === undefined) fail("E_FLAG", "--port <device> (e.g. /dev/ttyUSB0) to flash the board, or --out <dir> to write the images and flash_args");
  const artifact = readArtifactDir(dir);
  const boardName = f.board ?? artifact.board ?? fail("E_FLAG", `--board: needed, ${dir}/plan.json names no board`);
  const board = getBoard(boardName);
  let firmware: Uint8Array | undefined;
  // the ESP-IDF project `slimedge build --firmware` wrote, once idf.py has built it
  const found = join(dir, "firmware", "build", "slimedge.bin");
  const firmwarePath = f.firmware ?? (existsSync(found) ? found : undefined);
  if (firmwarePath !== undefined) {
    if (!existsSync(firmwarePath)) fail("E_FILE", `--firmware ${firmwarePath}: no such file`);
    firmware = readWholeFile(firmwarePath, "firmware image", { maxBytes: MAX_FIRMWARE_BYTES });
    if (f.firmware === undefined) err.write(`note: writing the firmware ${found} into the factory app partition\n`);
  }
  const plan = planFlash(artifact, board, { firmware, appBytes: f.appSize });
  const chipArg = plan.chip === null ? null : esptoolChipArg(plan.chip);

  if (f.out !== undefined) {
    const files = writeFlashFiles(plan, f.out);
    out.write(
      `${artifact.name} for ${board.name} (${plan.chip ?? board.cpu.core}, ${plan.flashSize} flash):\n` +
        layoutLines(plan).join("\n") + "\n" +
        files.map((p) => `wrote ${p}\n`).join("") +
        (chipArg === null
          ? `run it in the emulator: slimedge run --board ${board.name} --emulate (the flash_args offsets are from the start of flash)\n`
          : `flash it: cd ${f.out} && esptool.py --chip ${chipArg} -p <port> -b ${f.baud} write_flash @flash_args\n`),
    );
    return;
  }

  if (plan.chip === null) chipOfBoard(board); // esptool-js flashes Espressif chips only: the sentence says so
  const bar = progressBar("{file} {bar} {percentage}% · {done} of {size}{again}", { stream: err as NodeJS.WriteStream });
  let barFor = ""; // the image (and attempt) the bar is drawing
  const stopBar = () => {
    bar.stop();
    barFor = "";
  };
  const report = await flashBoard(plan, {
    port: f.port!,
    baud: f.baud,
    before: f.before,
    after: f.after,
    log: f.verbose ? (line) => err.write(`esptool: ${line}\n`) : undefined,
    warn: (line) => {
      stopBar();
      err.write(`note: ${line}\n`);
    },
    onProgress: ({ image, written, total, attempt }) => {
      const key = `${image.file}#${attempt}`;
      if (barFor !== key) stopBar();
      barFor = key;
      bar.update(written, total, { file: image.file.padEnd(19), done: formatBytes(written), size: formatBytes(total), again: attempt > 1 ? ` (write ${attempt})` : "" });
    },
  }).finally(stopBar);
  out.write(
    `${artifact.name} on ${report.chip} at ${report.port} (${report.baud} baud):\n` +
      report.images.map((i) => `  ${i.file.padEnd(19)} ${hex(i.offset).padStart(9)}  ${String(i.bytes).padStart(9)} bytes  MD5 ${i.md5} verified${i.attempts > 1 ? ` (written ${i.attempts} times)` : ""}\n`).join("") +
      `flashed ${report.images.length} images, every MD5 verified in flash; ${report.reset}\n`,
  );
}
