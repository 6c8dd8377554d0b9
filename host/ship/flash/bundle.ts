/**
 * The artifact bundle: several named files in one flash partition, so the firmware finds the reactor module
 * and its plan without a filesystem.
 *
 * Little-endian:
 *   0   magic "SLAB" (slimedge artifact bundle)
 *   4   version u16 (1)
 *   6   count u16: number of files
 *   8   total u32: bytes of header, entries and data (the partition is 0xFF after it)
 *   12  reserved u32 (0)
 *   16  count × 48-byte entries: name (32 bytes UTF-8, NUL-padded), offset u32 (from the bundle start), size u32,
 *       8 reserved bytes (0)
 *   then each file's bytes at a 16-byte aligned offset (memory-mapped flash reads stay aligned for v128 loads).
 */
import { fail } from "../../core/errors.ts";

export const BUNDLE_MAGIC = "SLAB";
export const BUNDLE_VERSION = 1;
const HEADER_BYTES = 16;
const ENTRY_BYTES = 48;
const NAME_BYTES = 32;
const DATA_ALIGN = 16;

export interface BundleFile {
  name: string;
  bytes: Uint8Array;
}

const align = (n: number) => Math.ceil(n / DATA_ALIGN) * DATA_ALIGN;

export function bundleFiles(files: readonly BundleFile[]): Uint8Array {
  if (files.length > 0xffff) fail("E_FORMAT", `artifact bundle: ${files.length} files, at most 65535`);
  let at = align(HEADER_BYTES + files.length * ENTRY_BYTES);
  const placed = files.map((f) => {
    const name = new TextEncoder().encode(f.name);
    if (name.length === 0 || name.length > NAME_BYTES) fail("E_FORMAT", `artifact bundle: file name "${f.name}" must be 1 to ${NAME_BYTES} bytes`);
    const offset = at;
    at = align(at + f.bytes.length);
    return { name, offset, file: f };
  });
  const total = placed.length ? placed.at(-1)!.offset + placed.at(-1)!.file.bytes.length : HEADER_BYTES;
  const out = new Uint8Array(total);
  const view = new DataView(out.buffer);
  out.set(new TextEncoder().encode(BUNDLE_MAGIC), 0);
  view.setUint16(4, BUNDLE_VERSION, true);
  view.setUint16(6, files.length, true);
  view.setUint32(8, total, true);
  placed.forEach((p, i) => {
    const e = HEADER_BYTES + i * ENTRY_BYTES;
    out.set(p.name, e);
    view.setUint32(e + NAME_BYTES, p.offset, true);
    view.setUint32(e + NAME_BYTES + 4, p.file.bytes.length, true);
    out.set(p.file.bytes, p.offset);
  });
  return out;
}

/** The files of a bundle (trailing 0xFF of the partition allowed), naming what is broken. */
export function readBundle(bytes: Uint8Array): BundleFile[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length < HEADER_BYTES) fail("E_FORMAT", `artifact bundle: ${bytes.length} bytes, shorter than its ${HEADER_BYTES}-byte header`);
  const magic = new TextDecoder().decode(bytes.subarray(0, 4));
  if (magic !== BUNDLE_MAGIC) fail("E_FORMAT", `artifact bundle: magic "${magic}", expected "${BUNDLE_MAGIC}"`);
  const version = view.getUint16(4, true);
  if (version !== BUNDLE_VERSION) fail("E_FORMAT", `artifact bundle: version ${version}, this reader knows ${BUNDLE_VERSION}`);
  const count = view.getUint16(6, true);
  const total = view.getUint32(8, true);
  if (total > bytes.length) fail("E_FORMAT", `artifact bundle: header says ${total} bytes, only ${bytes.length} present`);
  if (HEADER_BYTES + count * ENTRY_BYTES > total) fail("E_FORMAT", `artifact bundle: ${count} entries do not fit its ${total} bytes`);
  return Array.from({ length: count }, (_, i) => {
    const e = HEADER_BYTES + i * ENTRY_BYTES;
    const raw = bytes.subarray(e, e + NAME_BYTES);
    const end = raw.indexOf(0);
    const name = new TextDecoder().decode(end < 0 ? raw : raw.subarray(0, end));
    const offset = view.getUint32(e + NAME_BYTES, true);
    const size = view.getUint32(e + NAME_BYTES + 4, true);
    if (offset + size > total) fail("E_FORMAT", `artifact bundle: entry ${i} (${name}) runs to byte ${offset + size}, past the bundle's ${total}`);
    return { name, bytes: bytes.slice(offset, offset + size) };
  });
}
