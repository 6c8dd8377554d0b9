/**
 * The board registry: every profile by its `--board` name. Each board is one file beside this one; the host
 * profile is read from the OS when asked for.
 */
import { fail } from "../host/core/errors.ts";
import type { BoardProfile } from "./profile.ts";
import { esp32 } from "./esp32.ts";
import { esp32Psram } from "./esp32-psram.ts";
import { esp32S3 } from "./esp32-s3.ts";
import { esp32C3 } from "./esp32-c3.ts";
import { esp32P4 } from "./esp32-p4.ts";
import { rp2350 } from "./rp2350.ts";
import { rp2350Psram } from "./rp2350-psram.ts";
import { rpiZero2w } from "./rpi-zero-2w.ts";
import { rpi4 } from "./rpi-4.ts";
import { rpi5 } from "./rpi-5.ts";
import { hostProfile } from "./host.ts";

export type { BoardProfile, Cpu, Runtime, Throughput } from "./profile.ts";
export { WASM_PAGE_BYTES, WASM32_MAX_BYTES } from "./profile.ts";

/** The fixed boards in table order: Espressif, then Raspberry Pi microcontrollers, then single-board computers. */
const FIXED: BoardProfile[] = [esp32, esp32Psram, esp32S3, esp32C3, esp32P4, rp2350, rp2350Psram, rpiZero2w, rpi4, rpi5];

/** Every board name, in table order (host last). */
export const boardNames = (): string[] => [...FIXED.map((b) => b.name), "host"];

/** Every profile, in table order (host last, read from the OS now). */
export const allBoards = (): BoardProfile[] => [...FIXED, hostProfile()];

/** The profile named by `--board`; an unknown name is a flag error that lists the known ones. */
export function getBoard(name: string): BoardProfile {
  if (name === "host") return hostProfile();
  const board = FIXED.find((b) => b.name === name);
  return board ?? fail("E_FLAG", `--board ${name}: unknown board; known: ${boardNames().join(", ")}`);
}
