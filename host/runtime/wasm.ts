/**
 * Fixing a compiled module's memory to exactly the planned size: the memory section is rewritten to
 * limits { min: pages, max: pages }, so the module can neither start smaller nor ever grow.
 */
import { fail } from "../core/errors.ts";

const MEMORY_SECTION = 5;

function readLeb(bytes: Uint8Array, at: number): { value: number; next: number } {
  let value = 0;
  let shift = 0;
  let i = at;
  for (;;) {
    if (i >= bytes.length) fail("E_FORMAT", "wasm: truncated LEB128 number");
    const b = bytes[i++];
    value += (b & 0x7f) * 2 ** shift;
    shift += 7;
    if ((b & 0x80) === 0) return { value, next: i };
  }
}

function leb(value: number): number[] {
  const out: number[] = [];
  do {
    let b = value % 128;
    value = Math.floor(value / 128);
    if (value > 0) b |= 0x80;
    out.push(b);
  } while (value > 0);
  return out;
}

/** Returns a copy of `wasm` whose single defined memory has min == max == pages. */
export function withFixedMemory(wasm: Uint8Array, pages: number): Uint8Array {
  if (!Number.isInteger(pages) || pages < 1 || pages > 65536) fail("E_FIT", `memory: ${pages} pages is outside 1..65536 (4 GiB)`);
  const parts: Uint8Array[] = [wasm.subarray(0, 8)];
  let at = 8;
  let found = false;
  while (at < wasm.length) {
    const id = wasm[at];
    const { value: size, next } = readLeb(wasm, at + 1);
    const end = next + size;
    if (id === MEMORY_SECTION) {
      found = true;
      const body = [1, 0x01, ...leb(pages), ...leb(pages)]; // one memory, flag 1 = has maximum
      parts.push(new Uint8Array([MEMORY_SECTION, ...leb(body.length), ...body]));
    } else {
      parts.push(wasm.subarray(at, end));
    }
    at = end;
  }
  if (!found) fail("E_FORMAT", "wasm: the decoder module defines no memory");
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
