// The ESP-IDF partition table, checked against the layout ESP-IDF documents (gen_esp32part.py: struct
// "<2sBBLL16sL", magic bytes 0xAA 0x50, an MD5 row 0xEB 0xEB + 14 × 0xFF + MD5 of the entries, 0xFF to 0xC00),
// decoded here field by field rather than by our own parser; then the layout, the bundle and flash_args.
import { crc32 } from "../host/core/crc32.ts";
import { describe, it, expect } from "vitest";
import { createHash } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SlimError } from "../host/core/errors.ts";
import { getBoard } from "../boards/index.ts";
import {
  PARTITION_TABLE_BYTES, SUBTYPE, TYPE, parsePartitionTable, partitionTableBinary, partitionsCsv, planPartitions, type Partition,
} from "../host/ship/flash/partitions.ts";
import { bundleFiles, readBundle } from "../host/ship/flash/bundle.ts";
import { chipOfBoard, flashArgs, planFlash, readArtifactDir } from "../host/ship/flash/images.ts";

const KiB = 1024;
const MiB = 1024 * KiB;

/** ESP-IDF's "Single factory app, no OTA" table, as its Partition Tables guide prints it. */
const singleFactoryApp: Partition[] = [
  { label: "nvs", type: 0x01, subtype: 0x02, offset: 0x9000, size: 0x6000, flags: 0 },
  { label: "phy_init", type: 0x01, subtype: 0x01, offset: 0xf000, size: 0x1000, flags: 0 },
  { label: "factory", type: 0x00, subtype: 0x00, offset: 0x10000, size: 1 * MiB, flags: 0 },
];

/** One 32-byte entry decoded straight from the documented struct. */
function decodeEntry(b: Uint8Array) {
  const v = new DataView(b.buffer, b.byteOffset, 32);
  return {
    magicBytes: [b[0], b[1]],
    type: b[2],
    subtype: b[3],
    offset: v.getUint32(4, true),
    size: v.getUint32(8, true),
    labelBytes: Array.from(b.subarray(12, 28)),
    flags: v.getUint32(28, true),
  };
}

const labelField = (s: string) => [...Buffer.from(s, "utf8"), ...new Array(16 - s.length).fill(0)];

describe("partitionTableBinary", () => {
  const table = partitionTableBinary(singleFactoryApp);

  it("is 0xC00 bytes", () => {
    expect(table.length).toBe(0xc00);
    expect(PARTITION_TABLE_BYTES).toBe(0xc00);
  });

  it("writes each entry as magic 0xAA 0x50, type, subtype, offset u32 LE, size u32 LE, 16-byte NUL-padded label, flags u32 LE", () => {
    singleFactoryApp.forEach((p, i) => {
      const e = decodeEntry(table.subarray(i * 32, i * 32 + 32));
      expect(e.magicBytes).toEqual([0xaa, 0x50]);
      expect(e.type).toBe(p.type);
      expect(e.subtype).toBe(p.subtype);
      expect(e.offset).toBe(p.offset);
      expect(e.size).toBe(p.size);
      expect(e.labelBytes).toEqual(labelField(p.label));
      expect(e.flags).toBe(0);
    });
    // nvs at 0x9000, little-endian on the wire
    expect(Array.from(table.subarray(4, 8))).toEqual([0x00, 0x90, 0x00, 0x00]);
    expect(Array.from(table.subarray(8, 12))).toEqual([0x00, 0x60, 0x00, 0x00]);
  });

  it("follows the entries with the MD5 row: 0xEB 0xEB, 14 × 0xFF, MD5 of the entries before it", () => {
    const at = singleFactoryApp.length * 32;
    const row = table.subarray(at, at + 32);
    expect(Array.from(row.subarray(0, 2))).toEqual([0xeb, 0xeb]);
    expect(Array.from(row.subarray(2, 16))).toEqual(new Array(14).fill(0xff));
    expect(Buffer.from(row.subarray(16))).toEqual(createHash("md5").update(table.subarray(0, at)).digest());
  });

  it("pads with 0xFF after the MD5 row, so the next row is the all-0xFF end marker", () => {
    expect(table.subarray((singleFactoryApp.length + 1) * 32).every((b) => b === 0xff)).toBe(true);
  });

  it("matches a table assembled by hand from the documented struct", () => {
    const hand = new Uint8Array(0xc00).fill(0xff);
    const v = new DataView(hand.buffer);
    singleFactoryApp.forEach((p, i) => {
      const at = i * 32;
      hand.set([0xaa, 0x50, p.type, p.subtype], at);
      v.setUint32(at + 4, p.offset, true);
      v.setUint32(at + 8, p.size, true);
      hand.set(labelField(p.label), at + 12);
      v.setUint32(at + 28, p.flags, true);
    });
    const md5At = singleFactoryApp.length * 32;
    hand.set([0xeb, 0xeb], md5At);
    hand.set(createHash("md5").update(hand.subarray(0, md5At)).digest(), md5At + 16);
    expect(Buffer.from(table)).toEqual(Buffer.from(hand));
  });

  it("refuses a label longer than 16 bytes", () => {
    expect(() => partitionTableBinary([{ ...singleFactoryApp[0], label: "a-label-of-17-ch" + "x" }])).toThrow(/1 to 16 bytes/);
  });
});

describe("parsePartitionTable", () => {
  const table = partitionTableBinary(singleFactoryApp);

  it("reads back what was written", () => {
    expect(parsePartitionTable(table)).toEqual(singleFactoryApp);
  });

  it("names a wrong MD5", () => {
    const bad = table.slice();
    bad[3 * 32 + 20] ^= 0xff;
    expect(() => parsePartitionTable(bad)).toThrow(/MD5 row 3 says .* the entries hash to/);
  });

  it("names the row whose magic is wrong", () => {
    const bad = table.slice();
    bad[32] = 0x50; // row 1 magic bytes swapped
    bad[33] = 0xaa;
    expect(() => parsePartitionTable(bad)).toThrow(/row 1 magic 0xaa50, expected 0x50aa/);
  });

  it("needs the end marker", () => {
    expect(() => parsePartitionTable(table.subarray(0, 4 * 32))).toThrow(/no all-0xFF end marker/);
  });

  it("gives E_FORMAT", () => {
    const e = (() => {
      try {
        parsePartitionTable(new Uint8Array(64));
      } catch (x) {
        return x;
      }
    })();
    expect(e).toBeInstanceOf(SlimError);
    expect((e as SlimError).code).toBe("E_FORMAT");
  });
});

describe("planPartitions", () => {
  const s3 = getBoard("esp32-s3");

  it("keeps ESP-IDF's default nvs, phy_init and factory, then model and artifact sized from the images", () => {
    const parts = planPartitions(s3, { appBytes: 1 * MiB, modelBytes: 300_001, artifactBytes: 20_000 });
    expect(parts.map((p) => p.label)).toEqual(["nvs", "phy_init", "factory", "model", "artifact"]);
    expect(parts.slice(0, 3)).toEqual(singleFactoryApp);
    const [, , factory, model, artifact] = parts;
    expect(model).toMatchObject({ type: TYPE.data, subtype: SUBTYPE.model, offset: factory.offset + factory.size, size: 300_001 + (4096 - (300_001 % 4096)) });
    expect(artifact).toMatchObject({ type: TYPE.data, subtype: SUBTYPE.artifact, offset: model.offset + model.size, size: 20_480 });
  });

  it("aligns app partitions to 64 KiB and data partitions to 4 KiB, without overlaps", () => {
    const parts = planPartitions(s3, { appBytes: 1_234_567, modelBytes: 77_777, artifactBytes: 5 });
    let end = 0x9000;
    for (const p of parts) {
      expect(p.offset % (p.type === TYPE.app ? 0x10000 : 0x1000), p.label).toBe(0);
      expect(p.size % 0x1000, p.label).toBe(0);
      expect(p.offset).toBeGreaterThanOrEqual(end);
      end = p.offset + p.size;
    }
    expect(parts[2].size).toBe(0x130000); // 1_234_567 up to 64 KiB
  });

  it("refuses, with E_FIT and the numbers, what passes the end of the board's flash", () => {
    const esp32 = getBoard("esp32"); // 4 MB
    const e = (() => {
      try {
        planPartitions(esp32, { appBytes: 1 * MiB, modelBytes: 3 * MiB, artifactBytes: 4096 });
      } catch (x) {
        return x as SlimError;
      }
    })()!;
    expect(e.code).toBe("E_FIT");
    const needed = 0x110000 + 3 * MiB + 4096;
    expect(e.message).toContain(`need ${needed} bytes`);
    expect(e.message).toContain(`esp32 has ${4 * MiB} bytes of flash, ${needed - 4 * MiB} short`);
  });

  it("has nothing to partition on a board without SPI flash", () => {
    expect(() => planPartitions(getBoard("rpi-4"), { appBytes: 1, modelBytes: 1, artifactBytes: 1 })).toThrow(/no SPI flash/);
  });

  it("writes the ESP-IDF CSV of the same table", () => {
    const csv = partitionsCsv(planPartitions(s3, { appBytes: 1 * MiB, modelBytes: 4096, artifactBytes: 4096 }));
    expect(csv.split("\n").slice(2, 7)).toEqual([
      "nvs, data, nvs, 0x9000, 0x6000,",
      "phy_init, data, phy, 0xf000, 0x1000,",
      "factory, app, factory, 0x10000, 0x100000,",
      "model, data, 0x40, 0x110000, 0x1000,",
      "artifact, data, 0x41, 0x111000, 0x1000,",
    ]);
  });
});

describe("the artifact bundle", () => {
  it("holds the reactor and plan.json at 16-byte aligned offsets and reads back", () => {
    const files = [
      { name: "tiny.wasm", bytes: Uint8Array.from({ length: 1001 }, (_, i) => i & 0xff) },
      { name: "plan.json", bytes: new TextEncoder().encode('{"board":"esp32-s3"}') },
    ];
    const b = bundleFiles(files);
    expect(new TextDecoder().decode(b.subarray(0, 4))).toBe("SLAB");
    const v = new DataView(b.buffer);
    expect(v.getUint16(4, true)).toBe(1);
    expect(v.getUint16(6, true)).toBe(2);
    expect(v.getUint32(8, true)).toBe(b.length);
    for (let i = 0; i < 2; i++) expect(v.getUint32(16 + i * 48 + 32, true) % 16).toBe(0);
    const padded = new Uint8Array(b.length + 100).fill(0xff);
    padded.set(b);
    expect(readBundle(padded)).toEqual(files);
  });

  it("names a bad magic", () => {
    expect(() => readBundle(new Uint8Array(64))).toThrow(/magic/);
  });
});

describe("planFlash and flash_args", () => {
  const dir = mkdtempSync(join(tmpdir(), "slimedge-parts-"));
  writeFileSync(join(dir, "tiny.cmd.wasm"), new Uint8Array(70_001).fill(7));
  writeFileSync(join(dir, "tiny.wasm"), new Uint8Array(9_000).fill(9));
  writeFileSync(join(dir, "plan.json"), JSON.stringify({ board: "esp32-s3" }));

  it("lists the flash options, then one offset-file line per image", () => {
    const plan = planFlash(readArtifactDir(dir), getBoard("esp32-s3"));
    const model = plan.partitions.find((p) => p.label === "model")!;
    const artifact = plan.partitions.find((p) => p.label === "artifact")!;
    expect(flashArgs(plan).split("\n")).toEqual([
      "--flash_mode dio --flash_freq 80m --flash_size 16MB",
      "0x8000 partition-table.bin",
      `0x${model.offset.toString(16)} model.bin`,
      `0x${artifact.offset.toString(16)} artifact.bin`,
      "",
    ]);
    // model.bin fills its partition: the module, 0xFF, and the check the firmware verifies at boot in the last 16 bytes
    const image = plan.images.find((i) => i.file === "model.bin")!.bytes;
    expect(image.length).toBe(model.size);
    expect(model.size).toBe(0x12000); // 70,001 bytes + 3 to a multiple of 4 + 4 of 0xFF + 16 of check, to 4 KiB
    expect(image.subarray(0, 70_001).every((b) => b === 7)).toBe(true);
    expect(image.subarray(70_001, model.size - 16).every((b) => b === 0xff)).toBe(true);
    const check = new DataView(image.buffer, image.byteOffset + model.size - 16, 16);
    expect(Buffer.from(image.subarray(model.size - 16, model.size - 12)).toString("latin1")).toBe("SLMC");
    expect([check.getUint32(4, true), check.getUint32(8, true)]).toEqual([1, model.size - 16]);
    expect(check.getUint32(12, true)).toBe(crc32(image.subarray(0, model.size - 16)));
  });

  it("writes --firmware into the factory partition, grown to fit it", () => {
    const plan = planFlash(readArtifactDir(dir), getBoard("esp32-s3"), { firmware: new Uint8Array(1_500_000), appBytes: 1 * MiB });
    const factory = plan.partitions.find((p) => p.label === "factory")!;
    expect(factory.size).toBe(0x170000);
    expect(flashArgs(plan).split("\n")[2]).toBe("0x10000 app.bin");
  });

  it("refuses an artifact planned for another board, and boards esptool cannot flash", () => {
    expect(() => planFlash(readArtifactDir(dir), getBoard("esp32"))).toThrow(/planned for esp32-s3/);
    const other = mkdtempSync(join(tmpdir(), "slimedge-parts-"));
    writeFileSync(join(other, "tiny.cmd.wasm"), new Uint8Array(8));
    writeFileSync(join(other, "tiny.wasm"), new Uint8Array(8));
    writeFileSync(join(other, "plan.json"), JSON.stringify({ board: "rp2350" }));
    // the images are written for any board with flash (the emulated RP2350 reads them); only --port needs an Espressif chip
    expect(planFlash(readArtifactDir(other), getBoard("rp2350")).chip).toBeNull();
    expect(() => chipOfBoard(getBoard("rp2350"))).toThrow(/not an Espressif board/);
  });

  it("names what is missing from the folder", () => {
    const empty = mkdtempSync(join(tmpdir(), "slimedge-parts-"));
    expect(() => readArtifactDir(empty)).toThrow(/no <name>\.cmd\.wasm/);
    writeFileSync(join(empty, "x.cmd.wasm"), new Uint8Array(8));
    expect(() => readArtifactDir(empty)).toThrow(/x\.wasm: missing/);
  });
});
