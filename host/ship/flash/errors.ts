/**
 * Flashing failures as SlimErrors: one sentence naming the port, the image and its offset, plus a `reason`
 * that says which part failed. esptool-js reports most failures as a plain ESPError whose message is the only
 * clue (its TimeoutError is declared but never thrown: a read that times out throws ESPError "Serial data
 * stream stopped" or "No serial data received"), so `fromEsptool` sorts them by class and message.
 */
import { SlimError, type ErrorCode } from "../../core/errors.ts";

export type FlashFailure =
  | "port" // the serial device cannot be opened
  | "connect" // the port opened but no ROM bootloader answered SYNC
  | "chip" // a different chip answered than the board profile carries
  | "timeout" // the board stopped answering mid-session
  | "protocol" // the board answered with an error status or bytes that are not the protocol
  | "verify"; // an image's MD5 in flash differs from the image

/**
 * The SlimError code each failure travels under. host/errors.ts has no device codes yet (E_DEVICE,
 * E_TIMEOUT, E_VERIFY would fit); until it does, the cause is in `reason` and in the message.
 */
const CODE: Record<FlashFailure, ErrorCode> = {
  port: "E_FILE",
  connect: "E_RUNTIME",
  chip: "E_FLAG",
  timeout: "E_RUNTIME",
  protocol: "E_RUNTIME",
  verify: "E_RUNTIME",
};

export class FlashError extends SlimError {
  constructor(
    readonly reason: FlashFailure,
    message: string,
  ) {
    super(CODE[reason], `flash: ${message}`);
    this.name = "FlashError";
  }
}

/** The ROM loader's error codes (esptool "Serial Protocol" docs, ROM Loader Errors). */
const ROM_ERRORS: Record<number, string> = {
  0x05: "received message is invalid",
  0x06: "failed to act on received message",
  0x07: "invalid CRC in message",
  0x08: "flash write error",
  0x09: "flash read error",
  0x0a: "flash read length error",
  0x0b: "deflate error",
};

/** "error 0x06, failed to act on received message" */
export const romError = (code: number): string => `error 0x${code.toString(16).padStart(2, "0")}, ${ROM_ERRORS[code] ?? "not a ROM loader error code"}`;

/** Messages esptool-js throws when a read waits out its timeout. */
const TIMEOUT_MESSAGES = /Serial data stream stopped|No serial data received|timed? ?out/i;

/**
 * Messages of a serial port that went away mid-session: Web Serial's NetworkError "The device has been lost",
 * and the writer lock a failed write leaves behind in esptool-js's Transport (the next write cannot start).
 */
const LOST_MESSAGES = /device has been lost|device (was )?disconnected|Cannot create writer when WritableStream is locked/i;

/** An esptool-js (or serial) error as a FlashError, `context` saying what was under way ("writing model.bin at 0x110000"). */
export function fromEsptool(e: unknown, context: string, port: string): FlashError {
  if (e instanceof FlashError) return e;
  const message = e instanceof Error ? e.message.replace(/\s+/g, " ").trim() : String(e);
  const name = e instanceof Error ? e.name : "";
  if (name === "NetworkError" || LOST_MESSAGES.test(message))
    return new FlashError("timeout", `the connection to the board on ${port} was lost while ${context} (${message}); plug it in again and flash again`);
  if (name === "TimeoutError" || TIMEOUT_MESSAGES.test(message))
    return new FlashError("timeout", `timed out: the board on ${port} stopped answering while ${context} (esptool-js: ${message})`);
  if (/Failed to connect/i.test(message))
    return new FlashError("connect", `no ROM bootloader answered on ${port} (${message}); hold BOOT, tap RESET, and try again`);
  const status = /Failed to (.*?) failed with status (\d+),(\d+)/.exec(message);
  if (status) {
    return new FlashError("protocol", `the board on ${port} refused to ${status[1]} while ${context}: ${romError(Number(status[3]))}`);
  }
  return new FlashError("protocol", `${context} on ${port} failed: ${message}`);
}
