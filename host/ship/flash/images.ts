/**
 * From a `slimedge build` folder to the flash images of one board: the partition table, the firmware (when
 * given), the model and the artifact bundle, each with the offset it is written at, and the `flash_args` file
 * that esptool.py (`esptool.py --chip esp32s3 write_flash @flash_args`) and ESP-IDF's tools read.
 */
import { existsSync } from "node:fs";
import { readWholeFile, writeOutputDir } from "../../core/files.ts";
import { join } from "node:path";
import { fail } from "../../core/errors.ts";
import { crc32 } from "../../core/crc32.ts";
import type { BoardProfile } from "../../../boards/profile.ts";
import { bundleFiles } from "./bundle.ts";
import { locateBuild } from "../artifact.ts";
import {
  DEFAULT_APP_BYTES, PARTITION_TABLE_OFFSET, partitionTableBinary, partitionsCsv, planPartitions, type Partition,
} from "./partitions.ts";

/** The chip each ESP32 board profile carries, as esptool-js names it (ROM.CHIP_NAME). */
const CHIP_OF_BOARD: Record<string, string> = {
  esp32: "ESP32",
  "esp32-psram": "ESP32",
  "esp32-s3": "ESP32-S3",
  "esp32-c3": "ESP32-C3",
  "esp32-p4": "ESP32-P4",
};

/** esptool.py's --chip spelling of a chip name ("ESP32-S3" -> "esp32s3"). */
export const esptoolChipArg = (chip: string): string => chip.toLowerCase().replace("-", "");

export function chipOfBoard(board: BoardProfile): string {
  return CHIP_OF_BOARD[board.name] ?? fail("E_FLAG", `--board ${board.name}: not an Espressif board; flash --port takes ${Object.keys(CHIP_OF_BOARD).join(", ")} (--out writes the images for any board with flash)`);
}

export interface Artifact {
  dir: string;
  name: string; // <name>.wasm, <name>.cmd.wasm
  reactor: Uint8Array;
  command: Uint8Array;
  planJson: Uint8Array;
  core: Uint8Array | null; // <name>.core.wasm: the command without weights, which the WAMR firmware loads
  board: string | null; // plan.json "board": what the artifact was planned for
}

/** Reads what `slimedge build` wrote: <name>.cmd.wasm, <name>.wasm and plan.json. */
export function readArtifactDir(dir: string): Artifact {
  const { name, board } = locateBuild(dir);
  const need = (file: string) => {
    const path = join(dir, file);
    if (!existsSync(path)) fail("E_FILE", `${path}: missing; \`slimedge build\` writes it next to ${name}.cmd.wasm`);
    return readWholeFile(path, `build file ${file}`, { noFollow: true });
  };
  const corePath = join(dir, `${name}.core.wasm`); // builds before the board firmware have none
  const core = existsSync(corePath) ? readWholeFile(corePath, `build file ${name}.core.wasm`, { noFollow: true }) : null;
  return { dir, name, reactor: need(`${name}.wasm`), command: need(`${name}.cmd.wasm`), planJson: need("plan.json"), core, board };
}

/** One image to write: the file name it gets in --out and the flash offset it is written at. */
export interface FlashImage {
  file: string; // partition-table.bin, app.bin, model.bin, artifact.bin
  offset: number;
  bytes: Uint8Array; // padded with 0xFF to a multiple of 4, as esptool pads what it writes
}

export interface FlashPlan {
  board: BoardProfile;
  chip: string | null; // esptool-js CHIP_NAME the board carries; null: not an Espressif board (images for --out only)
  partitions: Partition[];
  images: FlashImage[];
  flashSize: string; // "4MB", "16MB": esptool's --flash_size
}

export interface FlashPlanOptions {
  firmware?: Uint8Array; // the board firmware for the factory app partition
  appBytes?: number; // the factory partition when no bigger firmware is given
}

const pad4 = (b: Uint8Array): Uint8Array => {
  if (b.length % 4 === 0) return b;
  const out = new Uint8Array(b.length + (4 - (b.length % 4))).fill(0xff);
  out.set(b);
  return out;
};

/** The check at the end of the model partition (boards/firmware/core/slim_fw.h, SLIM_MODEL_CHECK_BYTES). */
export const MODEL_CHECK_BYTES = 16;
/** 0xFF bytes at least between the module and the check: the firmware's module walk stops at the first 0xFF. */
const MODEL_CHECK_GAP = 4;

/** The model partition's bytes needed for `command`: the module, the gap, the check. */
export const modelPartitionBytes = (command: Uint8Array): number => pad4(command).length + MODEL_CHECK_GAP + MODEL_CHECK_BYTES;

/**
 * model.bin: the whole model partition (`size` bytes), the module first, 0xFF after it, and the check in the
 * last 16 bytes: "SLMC", u32 1, u32 the bytes before the check, u32 their CRC-32, little-endian. The firmware
 * computes the same CRC at boot and refuses to start on a mismatch (slim_model_verify).
 */
export function modelImage(command: Uint8Array, size: number): Uint8Array {
  if (size < modelPartitionBytes(command)) fail("E_FIT", `model partition: ${size} bytes, the model and its check need ${modelPartitionBytes(command)}`);
  const out = new Uint8Array(size).fill(0xff);
  out.set(command);
  const covered = size - MODEL_CHECK_BYTES;
  const check = new DataView(out.buffer, covered, MODEL_CHECK_BYTES);
  out.set([0x53, 0x4c, 0x4d, 0x43], covered); // "SLMC"
  check.setUint32(4, 1, true);
  check.setUint32(8, covered, true);
  check.setUint32(12, crc32(out.subarray(0, covered)), true);
  return out;
}

export function flashSizeName(bytes: number): string {
  const MiB = 1024 * 1024;
  if (bytes % MiB !== 0) fail("E_FLAG", `flash of ${bytes} bytes is not a whole number of MB; esptool takes 1MB, 2MB, 4MB, …`);
  return `${bytes / MiB}MB`;
}

/** The images for `artifact` on `board`: E_FLAG when the artifact was planned for another board, E_FIT when it does not fit the flash. */
export function planFlash(artifact: Artifact, board: BoardProfile, o: FlashPlanOptions = {}): FlashPlan {
  const chip = CHIP_OF_BOARD[board.name] ?? null; // the images are the same on any board the firmware runs on
  if (artifact.board !== null && artifact.board !== board.name)
    fail("E_FLAG", `--board ${board.name}: ${join(artifact.dir, "plan.json")} was planned for ${artifact.board}; rebuild with \`slimedge build --board ${board.name}\``);
  const bundle = bundleFiles([
    { name: `${artifact.name}.wasm`, bytes: artifact.reactor },
    { name: "plan.json", bytes: artifact.planJson },
    ...(artifact.core ? [{ name: `${artifact.name}.core.wasm`, bytes: artifact.core }] : []),
  ]);
  const partitions = planPartitions(board, {
    appBytes: Math.max(o.appBytes ?? DEFAULT_APP_BYTES, o.firmware?.length ?? 0),
    modelBytes: modelPartitionBytes(artifact.command),
    artifactBytes: bundle.length,
  });
  const at = (label: string) => partitions.find((p) => p.label === label)!.offset;
  const model = partitions.find((p) => p.label === "model")!;
  const images: FlashImage[] = [
    { file: "partition-table.bin", offset: PARTITION_TABLE_OFFSET, bytes: partitionTableBinary(partitions) },
    ...(o.firmware ? [{ file: "app.bin", offset: at("factory"), bytes: pad4(o.firmware) }] : []),
    { file: "model.bin", offset: model.offset, bytes: modelImage(artifact.command, model.size) },
    { file: "artifact.bin", offset: at("artifact"), bytes: pad4(bundle) },
  ];
  return { board, chip, partitions, images, flashSize: flashSizeName(board.flashBytes!) };
}

/** `flash_args` as ESP-IDF writes it: the flash options, then one "offset file" line per image. */
export function flashArgs(plan: FlashPlan): string {
  return [`--flash_mode dio --flash_freq 80m --flash_size ${plan.flashSize}`, ...plan.images.map((i) => `0x${i.offset.toString(16)} ${i.file}`)].join("\n") + "\n";
}

/** Writes the images, flash_args and partitions.csv into `out`, all of them or none; returns the paths written. */
export function writeFlashFiles(plan: FlashPlan, out: string): string[] {
  return writeOutputDir(out, "--out", [
    ...plan.images.map((i) => ({ name: i.file, data: i.bytes })),
    { name: "flash_args", data: flashArgs(plan) },
    { name: "partitions.csv", data: partitionsCsv(plan.partitions) },
  ]);
}
