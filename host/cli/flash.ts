/** `slimedge flash`: an ESP32 board's flash. */
import { Command } from "commander";
import { addTerms } from "../core/vocabulary.ts";
import { DEFAULT_APP_BYTES } from "../ship/flash/partitions.ts";
import { parseBytes, type FlashFlags } from "../ship/flash/command.ts";
import { flash } from "../api/ship.ts";

export function register(cli: Command): void {
  const cmd = cli
    .command("flash")
    .description("write a `slimedge build` folder to an ESP32 board's flash with esptool-js (partition table, model, reactor + plan), each image MD5-verified; or, with --out, the images and flash_args for esptool.py")
    .argument("<artifact-dir>", "folder written by slimedge build: <name>.cmd.wasm, <name>.wasm, plan.json")
    ;
  addTerms(cmd, [
    ["board", { description: "board profile (see `slimedge boards`); default: the board plan.json was planned for" }],
    ["port"],
    ["baud", { default: 460800 }],
    ["out", { description: "write partition-table.bin, model.bin, artifact.bin, flash_args and partitions.csv into this folder instead of flashing", placeholder: "<dir>" }],
    ["firmware", { description: "board firmware to write into the factory app partition (default: the partition is reserved, not written)", placeholder: "<app.bin>" }],
    ["appSize", { default: DEFAULT_APP_BYTES }],
    ["before", { default: "default_reset" }],
    ["after", { default: "hard_reset" }],
    ["verbose", { description: "print esptool-js's own messages" }],
  ]);
  cmd.options.find((o) => o.long === "--app-size")!.argParser(parseBytes("--app-size"));
  cmd
    .action((dir: string, flags: FlashFlags) => flash({ ...flags, dir, stdout: process.stdout, stderr: process.stderr }));
}
