/**
 * ESP-IDF partition tables: the binary the second-stage bootloader reads at 0x8000, and the layout slimedge
 * gives an ESP32 board's flash.
 *
 * Binary format (ESP-IDF components/partition_table/gen_esp32part.py, and the "Partition Tables" API guide):
 * 32-byte little-endian entries
 *
 *   0..1   magic 0x50AA as a u16, i.e. the bytes 0xAA 0x50
 *   2      type (0x00 app, 0x01 data)
 *   3      subtype
 *   4..7   offset u32
 *   8..11  size u32
 *   12..27 label, 16 bytes, NUL-padded
 *   28..31 flags u32 (bit 0: encrypted)
 *
 * then one MD5 row (0xEB 0xEB, 14 × 0xFF, the 16-byte MD5 of all entries before it), then 0xFF up to 0xC00
 * bytes: the table fills most of its 4 KiB sector (the rest is left for a secure-boot signature), and an
 * all-0xFF row ends it.
 *
 * Layout, in flash order (the ESP-IDF "Single factory app, no OTA" table plus two data partitions):
 *
 *   nvs       data nvs      0x9000   24 KiB   Wi-Fi / settings storage the firmware expects
 *   phy_init  data phy      0xf000    4 KiB   RF calibration
 *   factory   app  factory  0x10000  ≥ 1 MiB  the board firmware (boards/firmware: WAMR or native); 64 KiB aligned
 *   model     data 0x40     4 KiB aligned     the standalone command <name>.cmd.wasm: weights, tokenizer and
 *                                             plan are its data segments, so this one file is the model
 *   artifact  data 0x41     4 KiB aligned     the reactor <name>.wasm, plan.json and <name>.core.wasm (the
 *                                             command without weights, which the WAMR firmware loads), bundled
 *                                             (host/ship/flash/bundle.ts)
 *
 * 0x40 and above are the data subtypes ESP-IDF leaves to applications (its own run 0x00–0x06 and 0x80–0x84);
 * the firmware finds the partitions with esp_partition_find_first(ESP_PARTITION_TYPE_DATA, 0x40, "model").
 */
import { createHash } from "node:crypto";
import { fail } from "../../core/errors.ts";
import type { BoardProfile } from "../../../boards/profile.ts";

/** Where the bootloader looks for the table (CONFIG_PARTITION_TABLE_OFFSET's default). */
export const PARTITION_TABLE_OFFSET = 0x8000;
/** Bytes of the table binary: entries, the MD5 row and 0xFF padding (gen_esp32part MAX_PARTITION_LENGTH). */
export const PARTITION_TABLE_BYTES = 0xc00;
/** The table owns one whole flash sector; the first partition starts after it. */
export const PARTITION_TABLE_SECTOR = 0x1000;
export const ENTRY_BYTES = 32;
/** 0x50AA read as a little-endian u16: the bytes 0xAA 0x50. */
export const ENTRY_MAGIC = 0x50aa;
/** The MD5 row starts with these two bytes, then 14 × 0xFF, then the digest. */
export const MD5_ROW_MAGIC = 0xebeb;
export const LABEL_BYTES = 16;

/** App partitions start on 64 KiB boundaries (the MMU maps code in 64 KiB pages); data on 4 KiB sectors. */
export const APP_ALIGN = 0x10000;
export const DATA_ALIGN = 0x1000;

export const TYPE = { app: 0x00, data: 0x01 } as const;
export const SUBTYPE = {
  factory: 0x00, // app
  phy: 0x01, // data
  nvs: 0x02, // data
  model: 0x40, // data, ours: the standalone command with the weights
  artifact: 0x41, // data, ours: reactor + plan.json bundle
} as const;

/** Flags bit 0: the partition is flash-encrypted. */
export const FLAG_ENCRYPTED = 1;

export interface Partition {
  label: string; // at most 16 bytes of UTF-8
  type: number; // TYPE.app or TYPE.data (or a custom 0x40–0xFE)
  subtype: number;
  offset: number; // bytes from the start of flash
  size: number; // bytes
  flags: number;
}

const u32 = (v: number, what: string): number => {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) fail("E_FORMAT", `partition table: ${what} ${v} is not a u32`);
  return v;
};

/** The 0xC00-byte table: one 32-byte entry per partition, the MD5 row, 0xFF padding. */
export function partitionTableBinary(partitions: readonly Partition[]): Uint8Array {
  if ((partitions.length + 1) * ENTRY_BYTES >= PARTITION_TABLE_BYTES)
    fail("E_FIT", `partition table: ${partitions.length} entries and the MD5 row need ${(partitions.length + 1) * ENTRY_BYTES} bytes, the table holds fewer than ${PARTITION_TABLE_BYTES}`);
  const out = new Uint8Array(PARTITION_TABLE_BYTES).fill(0xff);
  const view = new DataView(out.buffer);
  partitions.forEach((p, i) => {
    const at = i * ENTRY_BYTES;
    const label = new TextEncoder().encode(p.label);
    if (label.length === 0 || label.length > LABEL_BYTES) fail("E_FORMAT", `partition table: label "${p.label}" must be 1 to ${LABEL_BYTES} bytes`);
    view.setUint16(at, ENTRY_MAGIC, true);
    out[at + 2] = p.type;
    out[at + 3] = p.subtype;
    view.setUint32(at + 4, u32(p.offset, `${p.label} offset`), true);
    view.setUint32(at + 8, u32(p.size, `${p.label} size`), true);
    out.fill(0, at + 12, at + 12 + LABEL_BYTES);
    out.set(label, at + 12);
    view.setUint32(at + 28, u32(p.flags, `${p.label} flags`), true);
  });
  const entries = partitions.length * ENTRY_BYTES;
  view.setUint16(entries, MD5_ROW_MAGIC, true); // 0xEB 0xEB; bytes 2..15 stay 0xFF
  out.set(createHash("md5").update(out.subarray(0, entries)).digest(), entries + 16);
  return out;
}

const hex = (n: number) => `0x${n.toString(16)}`;

/**
 * Reads a table binary back, as the bootloader does: entries until an all-0xFF row, the MD5 row checked
 * against the entries before it. Names the row and field that is wrong.
 */
export function parsePartitionTable(bytes: Uint8Array): Partition[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const partitions: Partition[] = [];
  let md5Seen = false;
  for (let at = 0; at + ENTRY_BYTES <= bytes.length; at += ENTRY_BYTES) {
    const row = bytes.subarray(at, at + ENTRY_BYTES);
    const n = at / ENTRY_BYTES;
    if (row.every((b) => b === 0xff)) {
      if (!md5Seen) fail("E_FORMAT", `partition table: no MD5 row before the end marker at row ${n}`);
      return partitions;
    }
    if (md5Seen) fail("E_FORMAT", `partition table: row ${n} follows the MD5 row; expected the all-0xFF end marker`);
    const magic = view.getUint16(at, true);
    if (magic === MD5_ROW_MAGIC) {
      if (!row.subarray(2, 16).every((b) => b === 0xff)) fail("E_FORMAT", `partition table: MD5 row ${n}: bytes 2..15 must be 0xFF`);
      const want = createHash("md5").update(bytes.subarray(0, at)).digest();
      if (!want.equals(row.subarray(16))) fail("E_FORMAT", `partition table: MD5 row ${n} says ${Buffer.from(row.subarray(16)).toString("hex")}, the entries hash to ${want.toString("hex")}`);
      md5Seen = true;
      continue;
    }
    if (magic !== ENTRY_MAGIC) fail("E_FORMAT", `partition table: row ${n} magic ${hex(magic)}, expected ${hex(ENTRY_MAGIC)} (bytes 0xAA 0x50)`);
    const rawLabel = row.subarray(12, 12 + LABEL_BYTES);
    const end = rawLabel.indexOf(0);
    partitions.push({
      label: new TextDecoder().decode(end < 0 ? rawLabel : rawLabel.subarray(0, end)),
      type: row[2],
      subtype: row[3],
      offset: view.getUint32(at + 4, true),
      size: view.getUint32(at + 8, true),
      flags: view.getUint32(at + 28, true),
    });
  }
  return fail("E_FORMAT", `partition table: no all-0xFF end marker within ${bytes.length} bytes`);
}

/** The same table as ESP-IDF CSV, for the firmware project (CONFIG_PARTITION_TABLE_CUSTOM_FILENAME). */
export function partitionsCsv(partitions: readonly Partition[]): string {
  const typeName = (t: number) => (t === TYPE.app ? "app" : t === TYPE.data ? "data" : hex(t));
  const subtypeName = (p: Partition) =>
    p.type === TYPE.app && p.subtype === SUBTYPE.factory ? "factory"
    : p.type === TYPE.data && p.subtype === SUBTYPE.nvs ? "nvs"
    : p.type === TYPE.data && p.subtype === SUBTYPE.phy ? "phy"
    : hex(p.subtype);
  const rows = partitions.map((p) => [p.label, typeName(p.type), subtypeName(p), hex(p.offset), hex(p.size), p.flags & FLAG_ENCRYPTED ? "encrypted" : ""].join(", ").replace(/, $/, ","));
  return ["# ESP-IDF Partition Table (written by slimedge flash)", "# Name, Type, SubType, Offset, Size, Flags", ...rows].join("\n") + "\n";
}

export const alignUp = (n: number, to: number): number => Math.ceil(n / to) * to;

/** What the layout is sized from: bytes of each image, and the app partition the firmware gets. */
export interface LayoutSizes {
  modelBytes: number; // the model image (the .cmd.wasm)
  artifactBytes: number; // the artifact bundle
  appBytes: number; // the factory app partition before rounding: max(--app-size, firmware image)
  tableOffset?: number; // default PARTITION_TABLE_OFFSET
}

/** Bytes the ESP-IDF default table gives NVS and PHY calibration data. */
export const NVS_BYTES = 0x6000;
export const PHY_BYTES = 0x1000;
/** The factory app partition when no bigger firmware is given (ESP-IDF's single-app default). */
export const DEFAULT_APP_BYTES = 0x100000;

/**
 * The partitions for one artifact on one board, each placed after the one before at its alignment and
 * sized up to it; E_FIT, naming what is needed and what the board has, when they pass the end of flash.
 */
export function planPartitions(board: BoardProfile, sizes: LayoutSizes): Partition[] {
  const tableOffset = sizes.tableOffset ?? PARTITION_TABLE_OFFSET;
  if (tableOffset % DATA_ALIGN !== 0) fail("E_FLAG", `partition table offset ${hex(tableOffset)} is not 4 KiB aligned`);
  if (board.flashBytes === null) fail("E_FLAG", `--board ${board.name}: boots from an SD card, it has no SPI flash to partition`);
  let next = tableOffset + PARTITION_TABLE_SECTOR;
  const place = (label: string, type: number, subtype: number, bytes: number): Partition => {
    const align = type === TYPE.app ? APP_ALIGN : DATA_ALIGN;
    const offset = alignUp(next, align);
    const size = alignUp(Math.max(bytes, 1), align);
    next = offset + size;
    return { label, type, subtype, offset, size, flags: 0 };
  };
  const partitions = [
    place("nvs", TYPE.data, SUBTYPE.nvs, NVS_BYTES),
    place("phy_init", TYPE.data, SUBTYPE.phy, PHY_BYTES),
    place("factory", TYPE.app, SUBTYPE.factory, sizes.appBytes),
    place("model", TYPE.data, SUBTYPE.model, sizes.modelBytes),
    place("artifact", TYPE.data, SUBTYPE.artifact, sizes.artifactBytes),
  ];
  const flash = board.flashBytes!;
  if (next > flash) {
    const parts = partitions.map((p) => `${p.label} ${p.size}`).join(", ");
    fail("E_FIT", `flash: the partitions need ${next} bytes (table at ${hex(tableOffset)}; ${parts}) but ${board.name} has ${flash} bytes of flash, ${next - flash} short`);
  }
  return partitions;
}
