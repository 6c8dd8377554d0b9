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

const DATA_SECTION = 11;

/** One active data segment of a module: the bytes it copies to `offset` of memory 0 when instantiated. */
export interface DataSegment {
  offset: number;
  bytes: Uint8Array;
}

/**
 * The active data segments of `wasm` (data section, id 11), in order: what a loader copies into linear memory.
 * The web page reads a standalone command's segments (plan block, weights, tokenizer) into the reactor's memory
 * as the board firmware does (boards/firmware/core/slim_fw.c); passive segments are skipped.
 */
export function activeDataSegments(wasm: Uint8Array): DataSegment[] {
  if (wasm.length < 8 || wasm[0] !== 0 || wasm[1] !== 0x61 || wasm[2] !== 0x73 || wasm[3] !== 0x6d) fail("E_FORMAT", "wasm: not a WebAssembly module");
  const out: DataSegment[] = [];
  let at = 8;
  while (at < wasm.length) {
    const id = wasm[at];
    const { value: size, next } = readLeb(wasm, at + 1);
    const end = next + size;
    if (end > wasm.length) fail("E_FORMAT", `wasm: section ${id} runs past the end of the module`);
    if (id === DATA_SECTION) {
      let p = next;
      const count = readLeb(wasm, p);
      p = count.next;
      for (let i = 0; i < count.value; i++) {
        const flags = readLeb(wasm, p);
        p = flags.next;
        if (flags.value === 1) {
          const len = readLeb(wasm, p); // passive: bytes only
          p = len.next + len.value;
          continue;
        }
        if (flags.value === 2) p = readLeb(wasm, p).next; // memory index
        if (flags.value > 2 || wasm[p] !== 0x41) fail("E_FORMAT", `wasm: data segment ${i} has no i32.const offset`);
        const offset = readSleb32(wasm, p + 1);
        p = offset.next;
        if (wasm[p] !== 0x0b) fail("E_FORMAT", `wasm: data segment ${i}'s offset is not a constant expression`);
        const len = readLeb(wasm, p + 1);
        if (len.next + len.value > end) fail("E_FORMAT", `wasm: data segment ${i} runs past its section`);
        out.push({ offset: offset.value >>> 0, bytes: wasm.subarray(len.next, len.next + len.value) });
        p = len.next + len.value;
      }
    }
    at = end;
  }
  return out;
}

function readSleb32(bytes: Uint8Array, at: number): { value: number; next: number } {
  let value = 0;
  let shift = 0;
  let i = at;
  let b: number;
  do {
    if (i >= bytes.length) fail("E_FORMAT", "wasm: truncated LEB128 number");
    b = bytes[i++];
    value |= (b & 0x7f) << shift;
    shift += 7;
  } while (b & 0x80 && shift < 35);
  if (shift < 32 && b & 0x40) value |= -1 << shift;
  return { value, next: i };
}
