/** Reading and writing the files a command is given or produces. */
import { readFileSync, statSync } from "node:fs";
import { constants as bufferConstants } from "node:buffer";
import { fail } from "./errors.ts";

/** Reads a file for a loader, turning fs failures into one sentence naming the path. */
export function readWholeFile(path: string, what: string): Uint8Array {
  let size: number;
  try {
    size = statSync(path).size;
  } catch (err) {
    return fail("E_FILE", `${path}: cannot read the ${what} (${describeFsError(err)}).`);
  }
  if (size > bufferConstants.MAX_LENGTH) {
    fail("E_MODEL", `${path}: the ${what} is ${size} bytes, more than the ${bufferConstants.MAX_LENGTH} bytes Node can load at once.`);
  }
  try {
    // A plain Uint8Array view: Buffer's own slice() shares memory, which readers must not stumble on.
    const buf = readFileSync(path);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  } catch (err) {
    return fail("E_FILE", `${path}: cannot read the ${what} (${describeFsError(err)}).`);
  }
}

export const describeFsError = (err: unknown): string =>
  err instanceof Error ? ((err as NodeJS.ErrnoException).code ?? err.message) : String(err);
