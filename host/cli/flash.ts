/** `slimedge flash`: an ESP32 board's flash. */
import { Command, Option } from "commander";
import { DEFAULT_APP_BYTES } from "../ship/flash/partitions.ts";
import { parseBytes, type FlashFlags } from "../ship/flash/command.ts";
import { flash } from "../api/ship.ts";
import { wholeNumber } from "./options.ts";

export function register(cli: Command): void {
  cli
    .command("flash")
    .description("write a `slimedge build` folder to an ESP32 board's flash with esptool-js (partition table, model, reactor + plan), each image MD5-verified; or, with --out, the images and flash_args for esptool.py")
    .argument("<artifact-dir>", "folder written by slimedge build: <name>.cmd.wasm, <name>.wasm, plan.json")
    .option("--board <name>", "board profile (see `slimedge boards`); default: the board plan.json was planned for")
    .option("--port <device>", "the board's serial port, e.g. /dev/ttyUSB0 or /dev/ttyACM0")
    .option("--baud <n>", "baud rate after connecting at 115200", wholeNumber("--baud", 9600), 460800)
    .option("--out <dir>", "write partition-table.bin, model.bin, artifact.bin, flash_args and partitions.csv here instead of flashing")
    .option("--firmware <app.bin>", "board firmware to write into the factory app partition (default: the partition is reserved, not written)")
    .option("--app-size <bytes>", "size of the factory app partition, e.g. 1M or 0x180000 (grown to fit --firmware)", parseBytes("--app-size"), DEFAULT_APP_BYTES)
    .addOption(new Option("--before <how>", "default_reset: DTR/RTS put the board into its bootloader; no_reset: it is there already").choices(["default_reset", "no_reset"]).default("default_reset"))
    .addOption(new Option("--after <how>", "hard_reset: RTS pulse; soft_reset: the ROM jumps to the app; no_reset: stay in the bootloader").choices(["hard_reset", "soft_reset", "no_reset"]).default("hard_reset"))
    .option("--verbose", "print esptool-js's own messages")
    .action((dir: string, flags: FlashFlags) => flash({ ...flags, dir, stdout: process.stdout, stderr: process.stderr }));
}
